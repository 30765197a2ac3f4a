//! What a person's browser does with the service: headless Chromium (Debian's `chromium`,
//! installed by `scripts/test.sh`) loads a page from one origin that calls `kairos serve` on
//! another. CORS is the browser's rule, so only a browser can show that it holds.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

mod support;
use support::Serve;

/// Chromium's path, or a failure that says how to get it.
fn chromium() -> &'static str {
    const PATH: &str = "/usr/bin/chromium";
    assert!(
        std::path::Path::new(PATH).exists(),
        "{PATH} is missing: run the tests with `bash scripts/test.sh` (it installs Debian's \
         chromium), or `apt-get install chromium`"
    );
    PATH
}

/// A page server on a port of its own (the page's origin is `http://127.0.0.1:PORT`),
/// listening at once and answering, from a thread, with the page set later: the page names
/// the service, whose flags name the page's origin.
struct PageServer {
    addr: SocketAddr,
    page: Arc<OnceLock<String>>,
}

impl PageServer {
    fn start() -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let page = Arc::new(OnceLock::<String>::new());
        let served = Arc::clone(&page);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                // The request head, to its blank line.
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let page = served.get().map_or("no page yet", String::as_str);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
            }
        });
        PageServer { addr, page }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A page that calls the API at `api` twice — a simple GET, and a JSON POST that needs a
/// preflight — and writes what it saw into `#out`.
fn caller_page(api: SocketAddr) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
const api = "http://{api}";
async function attempt(request) {{
  try {{ const r = await request(); return r.status + " " + (await r.text()).length; }}
  catch (e) {{ return "blocked: " + e.name; }}
}}
(async () => {{
  const simple = await attempt(() => fetch(api + "/json"));
  const preflighted = await attempt(() => fetch(api + "/items", {{
    method: "POST",
    headers: {{ "content-type": "application/json" }},
    body: JSON.stringify({{ name: "from the browser", price: 1.5 }}),
  }}));
  document.getElementById("out").textContent = "simple=" + simple + " preflighted=" + preflighted;
}})();
</script></body></html>"#
    )
}

/// What `#out` says once Chromium has run the page at `url`.
fn run_page(url: &str) -> String {
    let profile = tempdir("chromium-profile");
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            // Network requests hold virtual time back: the budget is reached once both
            // fetches have finished and the page is idle.
            "--virtual-time-budget=10000",
            "--timeout=30000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    let start = dom.find("<pre id=\"out\">").map(|at| at + "<pre id=\"out\">".len());
    let text = start.and_then(|start| dom[start..].split("</pre>").next());
    text.unwrap_or_else(|| {
        panic!("no #out in chromium's DOM: {dom}\n{}", String::from_utf8_lossy(&output.stderr))
    })
    .to_owned()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_browser_calls_the_service_from_an_allowed_origin_and_is_refused_from_another() {
    let (allowed, refused) = (PageServer::start(), PageServer::start());
    let serve = Serve::start(&["--cors-origin", &allowed.origin(), "--log-level", "info"]);
    for pages in [&allowed, &refused] {
        pages.page.set(caller_page(serve.addr)).unwrap();
    }

    let seen = run_page(&allowed.origin());
    assert!(seen.starts_with("simple=200 "), "{seen}");
    assert!(seen.contains("preflighted=201 "), "{seen}");

    let seen = run_page(&refused.origin());
    assert_eq!(seen, "simple=blocked: TypeError preflighted=blocked: TypeError");

    // The refused page's POST never left the browser: its preflight was answered without
    // an allowed origin. One POST reached the service, the allowed page's.
    let log = serve.log();
    assert_eq!(log.matches("\"OPTIONS /items\" 200").count(), 2, "{log}");
    assert_eq!(log.matches("\"POST /items\" 201").count(), 1, "{log}");
}
