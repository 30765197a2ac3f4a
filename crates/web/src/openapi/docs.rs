//! The document and its pages, served by the App itself: `/openapi.json`, Swagger UI at
//! `/docs`, ReDoc at `/redoc`, and the scripts and styles those pages load — shipped in the
//! binary (`assets/`), so the pages work with no internet and send no request elsewhere.

use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::Method;

use super::document::document;
use crate::handler::erase;
use crate::router::{Lookup, Router};
use crate::Response;

/// The document's `info` and where the App serves the document and its pages: FastAPI's
/// `FastAPI(title=..., version=..., openapi_url=..., docs_url=..., redoc_url=...)`, given to
/// [`App::docs`](crate::App::docs). A URL of `None` serves nothing there; without the
/// document (`openapi_url: None`) neither page is served, as they read it.
///
/// ```
/// use kairos_web::openapi::DocsConfig;
/// use kairos_web::App;
///
/// // FastAPI(title="Shop", version="2.1.0", redoc_url=None)
/// let app = App::new().docs(DocsConfig {
///     title: "Shop".into(),
///     version: "2.1.0".into(),
///     redoc_url: None,
///     ..DocsConfig::default()
/// });
/// assert_eq!(app.openapi()["info"]["title"], "Shop");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocsConfig {
    /// The API's name: the document's `info.title` and the pages' titles.
    pub title: String,
    /// The API's version (not OpenAPI's): `info.version`.
    pub version: String,
    /// A description of the API (Markdown): `info.description`.
    pub description: Option<String>,
    /// Where the document is served as JSON (default `/openapi.json`).
    pub openapi_url: Option<String>,
    /// Where Swagger UI is served (default `/docs`); its script and style are served under
    /// it (`/docs/swagger-ui-bundle.js`, `/docs/swagger-ui.css`).
    pub docs_url: Option<String>,
    /// Where ReDoc is served (default `/redoc`); its script under it
    /// (`/redoc/redoc.standalone.js`).
    pub redoc_url: Option<String>,
}

impl Default for DocsConfig {
    /// FastAPI's defaults, with kairos' name: title "kairos", version "0.1.0", the document at
    /// `/openapi.json`, Swagger UI at `/docs`, ReDoc at `/redoc`.
    fn default() -> Self {
        DocsConfig {
            title: "kairos".into(),
            version: "0.1.0".into(),
            description: None,
            openapi_url: Some("/openapi.json".into()),
            docs_url: Some("/docs".into()),
            redoc_url: Some("/redoc".into()),
        }
    }
}

/// The versions of the pages' vendored assets, as `assets/README.md` records them.
pub const SWAGGER_UI_VERSION: &str = "5.35.0";
/// See [`SWAGGER_UI_VERSION`].
pub const REDOC_VERSION: &str = "2.5.4";

const SWAGGER_UI_BUNDLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_UI_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const REDOC_STANDALONE: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";

/// Adds the document's route and its pages' to `router`, after the document is made from
/// the routes before them (so they are not in it, as FastAPI leaves its own out).
///
/// # Panics
///
/// If one of their URLs is a route of the App's already: a programming error, reported at
/// start with what to change.
///
/// Under a root path the pages' own URLs stay as routed (the proxy strips the prefix), while
/// what the browser fetches — the document, the scripts — gets the prefix in front.
pub(crate) fn mount(router: &mut Router, config: &DocsConfig, root_path: Option<&str>) {
    let Some(openapi_url) = &config.openapi_url else { return };
    let document = document(router, config, root_path);
    let root = root_path.unwrap_or("");
    let public_openapi_url = format!("{root}{openapi_url}");
    let body = serde_json::to_vec(&document).expect("a JSON value serializes");
    add(router, openapi_url, JSON, Bytes::from(body), false);
    if let Some(docs_url) = &config.docs_url {
        let base = docs_url.trim_end_matches('/');
        let page = swagger_ui_page(&config.title, &public_openapi_url, &format!("{root}{base}"));
        add(router, docs_url, HTML, Bytes::from(page), false);
        let bundle = Bytes::from_static(SWAGGER_UI_BUNDLE);
        add(router, &format!("{base}/swagger-ui-bundle.js"), JAVASCRIPT, bundle, true);
        let css = Bytes::from_static(SWAGGER_UI_CSS);
        add(router, &format!("{base}/swagger-ui.css"), CSS, css, true);
    }
    if let Some(redoc_url) = &config.redoc_url {
        let base = redoc_url.trim_end_matches('/');
        let page = redoc_page(&config.title, &public_openapi_url, &format!("{root}{base}"));
        add(router, redoc_url, HTML, Bytes::from(page), false);
        add(router, &format!("{base}/redoc.standalone.js"), JAVASCRIPT, redoc_script(), true);
    }
}

/// ReDoc's script as the App serves it: the vendored file with the one URL of another host it
/// loads by itself — the "API docs by Redocly" logo, from cdn.redoc.ly — made an empty
/// image (the file stays as npm ships it; the change is here, made once per process).
fn redoc_script() -> Bytes {
    static SCRIPT: OnceLock<Bytes> = OnceLock::new();
    const LOGO: &str = "https://cdn.redoc.ly/redoc/logo-mini.svg";
    const EMPTY_IMAGE: &str =
        "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
    SCRIPT
        .get_or_init(|| {
            let script = String::from_utf8_lossy(REDOC_STANDALONE);
            Bytes::from(script.replace(LOGO, EMPTY_IMAGE))
        })
        .clone()
}

/// A `GET` route answering `body` as `content_type`; an asset may be cached for a day (it
/// changes only with the binary).
fn add(router: &mut Router, url: &str, content_type: &'static str, body: Bytes, asset: bool) {
    if !matches!(router.lookup(&Method::GET, url), Lookup::NotFound) {
        panic!(
            "GET {url} is where the App serves its API docs, and a route of the App's matches \
             it; move the docs with App::docs(DocsConfig {{ .. }}) (a URL of None serves \
             nothing there) or move the route"
        );
    }
    let handler = move || {
        let body = body.clone();
        async move {
            let mut response = Response::new(body.into());
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            if asset {
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
            }
            response
        }
    };
    router.add(Method::GET, url, erase(handler));
}

/// Swagger UI's page (FastAPI's `get_swagger_ui_html`, with its assets from this App): it
/// loads the document from `openapi_url`. The validator badge is off: it would send the
/// document to validator.swagger.io.
pub(crate) fn swagger_ui_page(title: &str, openapi_url: &str, base: &str) -> String {
    let title = escape_html(title);
    let url = js_string(openapi_url);
    let base = escape_html(base);
    format!(
        r##"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link type="text/css" rel="stylesheet" href="{base}/swagger-ui.css">
<title>{title} - Swagger UI</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{base}/swagger-ui-bundle.js"></script>
<script>
const ui = SwaggerUIBundle({{
    url: {url},
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
}})
</script>
</body>
</html>
"##
    )
}

/// ReDoc's page (FastAPI's `get_redoc_html`, with its script from this App and no web
/// fonts): it loads the document from `openapi_url`.
pub(crate) fn redoc_page(title: &str, openapi_url: &str, base: &str) -> String {
    let title = escape_html(title);
    let url = escape_html(openapi_url);
    let base = escape_html(base);
    format!(
        r##"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title} - ReDoc</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc requires JavaScript to show the documentation.</noscript>
<redoc spec-url="{url}"></redoc>
<script src="{base}/redoc.standalone.js"></script>
</body>
</html>
"##
    )
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `text` as a JavaScript string literal inside a `<script>`: JSON, with `<` escaped so
/// that no `</script>` can end the element.
fn js_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes").replace('<', "\\u003c")
}
