//! The pages that draw what the loop did: the timeline renderer's script and style, served at
//! `/assets/timeline.js` and `/assets/timeline.css`, and `/debug/timeline`, a live view of
//! `/debug/trace`.
//!
//! The renderer (`assets/timeline.js`) is compiled into the binary rather than read from
//! `--static-dir`: the tour's HTML file inlines the very same text, so the pages and the
//! file cannot draw a trace differently, and a binary moved away from its source tree still
//! serves its debug pages.

use kairos::web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use kairos::web::{Html, IntoResponse, State};

/// The renderer: `KairosTimeline.render(container, trace, options)`; see the file's header.
pub(crate) const TIMELINE_JS: &str = include_str!("assets/timeline.js");
/// The renderer's frame: bar, legend, tooltip.
pub(crate) const TIMELINE_CSS: &str = include_str!("assets/timeline.css");
/// `/debug/timeline`'s page, its script inline; it loads the two assets above.
const LIVE_PAGE: &str = include_str!("assets/live.html");

/// The assets change only with the binary, but a developer rebuilding it wants the new one at
/// the next reload: the browser revalidates instead of trusting a day-old copy.
const REVALIDATE: &str = "no-cache";

/// `GET /assets/timeline.js`.
pub(crate) async fn script() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, REVALIDATE)], TIMELINE_JS)
}

/// `GET /assets/timeline.css`.
pub(crate) async fn style() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, REVALIDATE)], TIMELINE_CSS)
}

/// `GET /debug/timeline`: the last few seconds of every loop, redrawn each second from
/// `/debug/trace`. Its links and requests are relative to a `<base>` that carries the root
/// path (`--root-path`), as the index's are.
pub(crate) async fn live(State(settings): State<super::Settings>) -> Html<String> {
    let base = format!("{}/", settings.root_path).replace('"', "&quot;").replace('<', "&lt;");
    Html(LIVE_PAGE.replace("{{BASE}}", &base))
}
