//! What a person's browser does with the service: headless Chromium (Debian's `chromium`,
//! installed by `scripts/test.sh`) loads a page from one origin that calls `kairos serve` on
//! another (CORS is the browser's rule, so only a browser can show that it holds), sends a
//! file through the index page's form, and logs in through Swagger UI's Authorize dialog at
//! `/docs` — a client nobody here wrote, reading the document's security scheme.

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
  const preflighted = await attempt(() => fetch(api + "/users", {{
    method: "POST",
    headers: {{ "content-type": "application/json" }},
    body: JSON.stringify({{ username: "browser." + Date.now(), password: "from the browser" }}),
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

/// A screenshot of the page at `url` once its scripts have run, kept as
/// `target/tmp/{name}.png` for a person to look at.
fn screenshot(url: &str, name: &str) {
    screenshot_sized(url, name, "900,200");
}

/// [`screenshot`] in a window of `size` (`"W,H"`).
fn screenshot_sized(url: &str, name: &str, size: &str) {
    let profile = tempdir("chromium-shot");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
    let status = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .args(["--virtual-time-budget=10000", "--timeout=30000"])
        .arg(format!("--window-size={size}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&status.stderr));
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
    assert_eq!(log.matches("\"OPTIONS /users\" 200").count(), 2, "{log}");
    assert_eq!(log.matches("\"POST /users\" 201").count(), 1, "{log}");

    // What a person would see on each page (target/tmp/cors-allowed.png, cors-refused.png).
    screenshot(&allowed.origin(), "cors-allowed");
    screenshot(&refused.origin(), "cors-refused");
}

/// Headless Chromium driven over the DevTools protocol: what a test needs to choose a file
/// in a page's form, which `--dump-dom` cannot do.
struct DevTools {
    browser: std::process::Child,
    socket: tungstenite::WebSocket<std::net::TcpStream>,
    next_id: u64,
    profile: std::path::PathBuf,
}

impl DevTools {
    /// Starts Chromium on a blank page and connects to that page.
    fn start() -> DevTools {
        let profile = tempdir("chromium-devtools");
        let mut browser = Command::new(chromium())
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .args(["--remote-debugging-port=0", "--window-size=1100,900"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("chromium runs");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let mut stderr = BufReader::new(browser.stderr.take().unwrap());
        let mut line = String::new();
        let port = loop {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "chromium exited before listening");
            if let Some(rest) = line.trim().strip_prefix("DevTools listening on ws://127.0.0.1:") {
                break rest.split('/').next().unwrap().parse::<u16>().unwrap();
            }
        };
        // Chromium keeps writing to stderr: drain it so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let targets: serde_json::Value =
            serde_json::from_str(&http_get(port, "/json/list")).unwrap();
        let page = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target");
        let url = page["webSocketDebuggerUrl"].as_str().unwrap();
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let (socket, _) = tungstenite::client(url, stream).expect("the DevTools WebSocket");
        DevTools { browser, socket, next_id: 0, profile }
    }

    /// Sends a command and returns its result (events in between are skipped).
    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let command = serde_json::json!({"id": id, "method": method, "params": params});
        self.socket.send(tungstenite::Message::text(command.to_string())).unwrap();
        loop {
            let message = self.socket.read().expect("a DevTools message");
            let Ok(text) = message.to_text() else { continue };
            let reply: serde_json::Value = serde_json::from_str(text).unwrap();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method} failed: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> serde_json::Value {
        let result = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": expression, "returnByValue": true}),
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is true; a generous deadline (the page may load slowly on
    /// a busy machine), no verdict on speed.
    fn wait_for(&mut self, expression: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if self.eval(expression) == serde_json::Value::Bool(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{expression} never held");
    }

    /// Clicks the element `selector` finds the way a person does: scrolled into view, the
    /// mouse pressed and released at its centre (so the page's own handlers run, React's
    /// included, and an element covering it would take the click instead).
    fn click(&mut self, selector: &str) {
        let selector_js = serde_json::to_string(selector).unwrap();
        let centre = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector_js}); if (!e) return null;
               e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
               return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (centre[0].as_f64(), centre[1].as_f64());
        let (Some(x), Some(y)) = (x, y) else { panic!("nothing to click at {selector}") };
        for (kind, button) in
            [("mouseMoved", "none"), ("mousePressed", "left"), ("mouseReleased", "left")]
        {
            self.call(
                "Input.dispatchMouseEvent",
                serde_json::json!({"type": kind, "x": x, "y": y, "button": button, "clickCount": 1}),
            );
        }
    }

    /// Types `text` into the field `selector` finds, as a keyboard would enter it.
    fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.call("Input.insertText", serde_json::json!({"text": text}));
    }

    /// The text of the element `selector` finds ("" if there is none).
    fn text(&mut self, selector: &str) -> String {
        let selector = serde_json::to_string(selector).unwrap();
        let text = self.eval(&format!("document.querySelector({selector})?.innerText ?? ''"));
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Keeps a screenshot as `target/tmp/{name}.png` for a person to look at: the viewport,
    /// or the whole of the element `selector` finds.
    fn screenshot(&mut self, name: &str, selector: Option<&str>) {
        use base64::Engine as _;
        let mut params = serde_json::json!({"format": "png"});
        if let Some(selector) = selector {
            let selector = serde_json::to_string(selector).unwrap();
            let clip = self.eval(&format!(
                "(() => {{ const r = document.querySelector({selector}).getBoundingClientRect();
                   return {{x: r.x + scrollX, y: r.y + scrollY, width: r.width,
                            height: r.height, scale: 1}}; }})()"
            ));
            params =
                serde_json::json!({"format": "png", "clip": clip, "captureBeyondViewport": true});
        }
        let shot = self.call("Page.captureScreenshot", params);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for DevTools {
    fn drop(&mut self) {
        let _ = self.browser.kill();
        let _ = self.browser.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A GET to Chromium's DevTools HTTP endpoint: its body, read to its `Content-Length` (the
/// endpoint keeps the connection open).
fn http_get(port: u16, path: &str) -> String {
    use std::io::Read;
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(&stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 2 {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
        line.clear();
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

#[test]
fn the_index_pages_upload_form_reports_the_files_size_and_sha256() {
    use sha2::Digest as _;

    let serve = Serve::start(&[]);
    // 3 MB: past the 1 MiB the upload is kept in memory, so it is spooled to disk.
    let dir = tempdir("upload");
    let file = dir.join("photo.bin");
    let content: Vec<u8> =
        (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&file, &content).unwrap();
    let expected: String =
        sha2::Sha256::digest(&content).iter().map(|b| format!("{b:02x}")).collect();

    let mut browser = DevTools::start();
    browser.call("Page.navigate", serde_json::json!({"url": format!("http://{}/", serve.addr)}));
    browser.wait_for("document.readyState === 'complete' && !!document.querySelector('#upload')");
    // The page's own stylesheet, served from /static/, is applied.
    assert_eq!(
        browser.eval("getComputedStyle(document.querySelector('button')).borderRadius"),
        "6px"
    );

    let document = browser.call("DOM.getDocument", serde_json::json!({}));
    let root = document["root"]["nodeId"].clone();
    let input = browser.call(
        "DOM.querySelector",
        serde_json::json!({"nodeId": root, "selector": "#upload input[type=file]"}),
    );
    browser.call(
        "DOM.setFileInputFiles",
        serde_json::json!({"nodeId": input["nodeId"], "files": [file.to_str().unwrap()]}),
    );
    browser.eval("document.querySelector('#upload button').click()");
    browser.wait_for("document.getElementById('upload-result').textContent.startsWith('200')");
    let shown = browser.eval("document.getElementById('upload-result').textContent");
    let shown = shown.as_str().unwrap();
    let answer: serde_json::Value = serde_json::from_str(shown.trim_start_matches("200 ")).unwrap();
    assert_eq!(answer["filename"], "photo.bin");
    assert_eq!(answer["size"], 3_000_000);
    assert_eq!(answer["sha256"], expected);
    assert_eq!(answer["spooled_to_disk"], true);

    // What a person would see, for the record (target/tmp/upload-form.png): the panels.
    browser.eval("document.querySelector('.panels').scrollIntoView()");
    browser.screenshot("upload-form", None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_index_pages_websocket_panel_shows_ticks_as_they_come_and_an_echo() {
    let serve = Serve::start(&[]);
    let mut browser = DevTools::start();
    browser.call("Page.navigate", serde_json::json!({"url": format!("http://{}/", serve.addr)}));
    browser.wait_for("document.readyState === 'complete' && !!document.querySelector('#echo')");

    // /ws/ticks: a tick is shown while the socket is still open — the server spaces the 100
    // ticks 100 ms apart, so the first is on the page ~10 s before the close.
    browser.wait_for(
        "(t => /^tick \\d+ \\(\\d+ received\\)$/.test(t))(document.getElementById('ws-ticks').textContent)",
    );

    // /ws/echo: type, send, see the echo.
    browser.wait_for("document.getElementById('echo-result').textContent.startsWith('connected')");
    browser.eval("document.getElementById('echo-text').value = 'from Chromium, over a WebSocket'");
    browser.eval("document.querySelector('#echo button').click()");
    browser.wait_for(
        "document.getElementById('echo-result').textContent === 'echo: from Chromium, over a WebSocket'",
    );

    // /stream's panel lists each event as it arrives, in order, rather than overwriting one.
    browser.wait_for("document.querySelectorAll('#live li').length >= 3");
    let first = browser.text("#live li:first-child");
    assert!(first.starts_with("data: 0"), "{first}");

    // Every tick, then the server's normal close, as the page saw them.
    browser.wait_for("document.getElementById('ws-ticks').textContent.includes('closed:')");
    let ticks = browser.eval("document.getElementById('ws-ticks').textContent");
    assert_eq!(ticks, "tick 99 (100 received)\nclosed: 1000 done");

    // What a person would see (target/tmp/websocket-panel.png): the panels.
    browser.eval("document.querySelector('.panels').scrollIntoView()");
    browser.screenshot("websocket-panel", None);
}

/// Swagger UI's Authorize flow, as a person goes through it at `/docs`: the OAuth2 password
/// dialog the document's scheme makes posts the login form to `/token`, and the token it gets
/// back is sent with a "Try it out" of `GET /users/me`, whose answer names the user.
#[test]
fn swagger_uis_authorize_dialog_logs_in_and_users_me_answers_who() {
    let serve = Serve::start(&[]);
    let (username, password) = ("swagger.user", "correct horse battery");
    let body = serde_json::json!({"username": username, "password": password});
    let (status, answer) = serve.send("POST", "/users", Some(&body));
    assert_eq!(status, 201, "{answer}");

    let mut browser = DevTools::start();
    browser
        .call("Page.navigate", serde_json::json!({"url": format!("http://{}/docs", serve.addr)}));
    // The document is loaded and rendered: the scheme's Authorize button and the operation.
    let op = ".opblock-get:has(.opblock-summary-path[data-path=\"/users/me\"])";
    browser.wait_for(&format!(
        "!!document.querySelector('.auth-wrapper .authorize') && !!document.querySelector('{op}')"
    ));
    assert_eq!(browser.text(&format!("{op} .opblock-summary-method")), "GET");
    assert!(browser.eval("!!document.querySelector('.auth-wrapper .authorize.unlocked')") == true);

    browser.click(".auth-wrapper .authorize");
    browser.wait_for("!!document.querySelector('.modal-ux #oauth_username')");
    let dialog = browser.text(".modal-ux");
    assert!(dialog.contains("OAuth2PasswordBearer (OAuth2, password)"), "{dialog}");
    assert!(dialog.contains("Token URL: /token"), "{dialog}");
    for scope in ["me", "items", "admin"] {
        assert!(dialog.lines().any(|line| line.trim() == scope), "scope {scope}: {dialog}");
    }
    browser.type_into(".modal-ux #oauth_username", username);
    browser.type_into(".modal-ux #oauth_password", password);
    assert_eq!(browser.eval("document.querySelector('#oauth_username').value"), username);
    // The filled dialog, for the record (target/tmp/swagger-authorize.png): the whole of it,
    // its buttons too, which it would otherwise scroll to.
    let content = "document.querySelector('.modal-ux-content').style.maxHeight";
    browser.eval(&format!("{content} = 'none'"));
    browser.screenshot("swagger-authorize", Some(".modal-ux .modal-ux-inner"));
    browser.eval(&format!("{content} = ''"));

    browser.click(".modal-ux .auth-btn-wrapper .authorize");
    // Logged in: the dialog says so and offers to log out; or it shows the error it got.
    browser.wait_for(
        "!!document.querySelector('.modal-ux .errors') || \
         [...document.querySelectorAll('.modal-ux .auth-btn-wrapper button')] \
           .some(b => b.innerText.trim() === 'Logout')",
    );
    let dialog = browser.text(".modal-ux");
    let failed = browser.eval("!!document.querySelector('.modal-ux .errors')") == true;
    assert!(dialog.contains("Authorized") && !failed, "{dialog}");
    browser.click(".modal-ux .btn-done");
    browser.wait_for("!document.querySelector('.modal-ux')");
    assert!(browser.eval("!!document.querySelector('.auth-wrapper .authorize.locked')") == true);

    browser.click(&format!("{op} .opblock-summary-control"));
    browser.wait_for(&format!("!!document.querySelector('{op} .try-out__btn')"));
    browser.click(&format!("{op} .try-out__btn"));
    browser.wait_for(&format!("!!document.querySelector('{op} .btn.execute')"));
    browser.click(&format!("{op} .btn.execute"));
    let response = format!("{op} .live-responses-table .response");
    browser.wait_for(&format!("!!document.querySelector('{response} .response-col_status')"));
    let status = browser.text(&format!("{response} .response-col_status"));
    let shown = browser.text(&format!("{response} .response-col_description pre"));
    // The request Swagger UI made, as its curl line shows it: with the bearer token.
    let curl = browser.text(&format!("{op} .curl-command"));
    browser.screenshot("swagger-users-me", Some(op));
    assert!(status.starts_with("200"), "{status}: {shown}");
    assert!(curl.contains("Authorization: Bearer "), "{curl}");
    let user: serde_json::Value =
        serde_json::from_str(&shown).unwrap_or_else(|_| panic!("{shown}"));
    assert_eq!(user["username"], username, "{shown}");
    assert_eq!(user["is_admin"], false, "{shown}");
}

/// The renderer, inlined as the tour's page inlines it.
const TIMELINE_JS: &str = include_str!("../src/service/assets/timeline.js");
const TIMELINE_CSS: &str = include_str!("../src/service/assets/timeline.css");
/// A trace written by hand to the schema `/debug/trace` exports: two loops, a thread pool, a
/// process pool; a stall, two wake arrows, a request still open at the window's end and one
/// whose begin fell before its start; events out of order, and one poll outside the window.
const FIXTURE: &str = include_str!("fixtures/trace.json");

/// Runs `script` in a page holding the renderer and `#t`, and returns what the script wrote
/// into `#out` (JSON). No live connection on the page, so virtual time ends when it is idle.
fn run_renderer(name: &str, script: &str) -> serde_json::Value {
    let dir = tempdir(name);
    let page = dir.join("page.html");
    std::fs::write(
        &page,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><style>{TIMELINE_CSS}</style>\
             </head><body style=\"margin:10px\"><div id=\"t\" style=\"width:1300px\"></div>\
             <pre id=\"out\">pending</pre><script>{TIMELINE_JS}</script><script>\
             try {{ {script} }} catch (e) {{ document.getElementById('out').textContent = \
             JSON.stringify({{error: String(e && e.stack || e)}}); }}</script></body></html>"
        ),
    )
    .unwrap();
    let seen = run_page(&format!("file://{}", page.display()));
    screenshot_sized(&format!("file://{}", page.display()), name, "1400,1000");
    let _ = std::fs::remove_dir_all(&dir);
    let seen = seen.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    let value: serde_json::Value =
        serde_json::from_str(&seen).unwrap_or_else(|e| panic!("{e}: {seen}"));
    assert!(value.get("error").is_none(), "the page's script failed: {}", value["error"]);
    value
}

#[test]
fn the_timeline_renderer_lays_out_the_fixture_trace_lane_by_lane() {
    let out = run_renderer(
        "timeline-fixture",
        &format!(
            "const view = KairosTimeline.render(document.getElementById('t'), {FIXTURE}, {{}});
             const summary = view.summary();
             // Hover the stall: the tooltip names it, its route and its duration.
             const stall = view.model.lanes.find((l) => l.stalls > 0);
             const canvas = document.querySelector('#t canvas');
             const box = canvas.getBoundingClientRect();
             const m = view.model;
             const s = stall.slices[0];
             const px = 190 + ((s.ts + s.dur / 2 - m.start) / (m.end - m.start)) * (view.width - 190 - 8);
             canvas.dispatchEvent(new MouseEvent('mousemove', {{
               clientX: box.left + px, clientY: box.top + stall.y + 10, bubbles: true }}));
             summary.tip = document.querySelector('#t .kt-tip').innerText;
             summary.tipHidden = document.querySelector('#t .kt-tip').hidden;
             document.getElementById('out').textContent = JSON.stringify(summary);"
        ),
    );
    let lanes: Vec<String> = out["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{} / {}", l["group"].as_str().unwrap(), l["name"].as_str().unwrap()))
        .collect();
    // Loops first, each with the tasks that stalled it, then the others in the order they
    // first did something, and its own work last; then the thread pool, then the process
    // pool. A task that served requests is named by their route, others by their name.
    assert_eq!(
        lanes,
        [
            "worker 0 / #13 GET /bad",
            "worker 0 / #14 GET /gather",
            "worker 0 / #12 GET /async",
            "worker 0 / #15 B",
            "worker 0 / #11 GET /sync",
            "worker 0 / the loop's own work",
            "worker 1 / #5 GET /items/{item_id}",
            "thread pool 'kairos-sync' / kairos-sync-3",
            "thread pool 'kairos-sync' / kairos-sync-4",
            "process pool / process 4242",
        ]
    );
    let counts = &out["counts"];
    assert_eq!(counts["stalls"], 1, "{out}");
    assert_eq!(counts["requests"], 5, "{out}");
    assert_eq!(counts["flows"], 2, "{out}");
    assert_eq!(counts["jobs"], 3, "{out}");
    // The poll at 900 ms ended before the window: not drawn.
    assert_eq!(counts["polls"], 8, "{out}");
    assert_eq!(out["dropped"], 3, "{out}");
    assert!(out["drawn"].as_u64().unwrap() >= 10, "{out}");

    let lane = |name: &str| {
        out["lanes"].as_array().unwrap().iter().find(|l| l["name"] == name).unwrap().clone()
    };
    // The request whose end is past the window is open to the right; the one whose begin fell
    // before the window, to the left, and its status came with its end.
    assert_eq!(lane("#11 GET /sync")["requests"][0]["openRight"], true);
    assert_eq!(lane("#11 GET /sync")["requests"][0]["ms"], 100.0);
    assert_eq!(lane("#14 GET /gather")["requests"][0]["openLeft"], true);
    assert_eq!(lane("#14 GET /gather")["requests"][0]["status"], 500);
    assert_eq!(lane("#13 GET /bad")["stalls"], 1);

    assert_eq!(out["tipHidden"], false, "{out}");
    let tip = out["tip"].as_str().unwrap();
    assert!(tip.contains("stall"), "{tip}");
    assert!(tip.contains("GET /bad"), "{tip}");
    assert!(tip.contains("120 ms"), "{tip}");
    assert!(tip.contains("crates/http/src/server/accept.rs:99:9"), "{tip}");
}

#[test]
fn the_timeline_renderer_draws_fifty_thousand_events_as_a_few_thousand_rectangles() {
    // 50,000 polls on 40 tasks of one loop over 5 s, a stall among them, and 2,000 pool jobs:
    // most polls are far narrower than a pixel, so they are merged where they overlap.
    let out = run_renderer(
        "timeline-50k",
        "const events = [
           {ph:'M', name:'process_name', pid:1, tid:0, args:{name:'worker 0'}},
           {ph:'M', name:'process_name', pid:2, tid:0, args:{name:\"thread pool 'kairos-sync'\"}}];
         let seed = 7;
         const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
         for (let i = 0; i < 48000; i++) {
           const tid = 1 + (i % 40);
           events.push({ph:'X', cat: i === 24000 ? 'stall' : 'poll', name:'poll', pid:1, tid,
             ts: i * 104 + random() * 10, dur: i === 24000 ? 150000 : 3 + random() * 20,
             args:{task: tid, woken_by: ['io', 'timer', 'task'][i % 3]}});
         }
         for (let i = 0; i < 2000; i++) {
           events.push({ph:'X', cat:'job', name:'job', pid:2, tid: 100 + (i % 8),
             ts: i * 2500, dur: 2000, args:{queued_us: 5, label: 'GET /sync'}});
         }
         const trace = {otherData: {start_us: 0, end_us: 5000000, dropped_events: 0},
                        traceEvents: events};
         const view = KairosTimeline.render(document.getElementById('t'), trace, {});
         const summary = view.summary();
         document.getElementById('out').textContent = JSON.stringify({
           counts: summary.counts, drawn: summary.drawn, lanes: summary.lanes.length,
           redStall: view.model.lanes.some((l) => l.stalls === 1)});",
    );
    assert_eq!(out["counts"]["polls"], 48_000, "{out}");
    assert_eq!(out["counts"]["jobs"], 2_000, "{out}");
    assert_eq!(out["counts"]["stalls"], 1, "{out}");
    assert_eq!(out["lanes"], 40 + 8, "{out}");
    let drawn = out["drawn"].as_u64().unwrap();
    // Something on every lane, and far fewer rectangles than events.
    assert!(drawn >= 48, "{out}");
    assert!(drawn < 20_000, "{out}");
    assert_eq!(out["redStall"], true, "{out}");
}

/// The dashboard at `/`: an experiment run from its button shows its answers, its measured
/// durations and the timeline of exactly that run, read from `/debug/trace`. The page keeps
/// an EventSource open, so it never settles: the DevTools protocol waits for the DOM instead.
#[test]
fn the_dashboard_runs_an_experiment_and_draws_the_timeline_of_that_run() {
    let serve = Serve::start(&[]);
    let mut browser = DevTools::start();
    browser.call("Page.navigate", serde_json::json!({"url": format!("http://{}/", serve.addr)}));
    browser.wait_for(
        "document.readyState === 'complete' && !!document.querySelector('#exp-sequential .run')",
    );
    // The shortest durations: /sequential 0.6 s, /concurrent 0.4 s.
    browser.eval("document.getElementById('scale').value = '0.2'");
    browser.eval("document.getElementById('scale').dispatchEvent(new Event('change'))");
    assert!(browser.text("#exp-sequential .predicts").contains("≈ 0.6 s"));
    browser.click("#exp-sequential .run");
    browser.wait_for("document.getElementById('exp-sequential').dataset.state === 'done'");

    let measured = browser.text("#exp-sequential .measured");
    assert!(measured.starts_with("Measured: /sequential "), "{measured}");
    let answers = browser.text("#exp-sequential .answers");
    assert!(answers.contains("/sequential?scale=0.2") && answers.contains("/concurrent?scale=0.2"));
    assert!(answers.contains("\"A result\""), "{answers}");

    // What a person would see (target/tmp/dashboard.png, dashboard-sequential.png).
    browser.eval("window.scrollTo(0, 0)");
    browser.screenshot("dashboard", None);
    browser.screenshot("dashboard-sequential", Some("#exp-sequential"));

    // The timeline of the run: both requests' tasks on the loop, the tasks /concurrent
    // spawned (A and B), and rectangles painted.
    let timeline = "document.querySelector('#exp-sequential .timeline.kt')";
    let shown = browser.text("#exp-sequential .timeline");
    assert!(browser.eval(&format!("!!{timeline}")) == true, "no timeline drawn: {shown}");
    let lanes = browser.eval(&format!("Number({timeline}.dataset.lanes)")).as_u64().unwrap();
    let drawn = browser.eval(&format!("Number({timeline}.dataset.drawn)")).as_u64().unwrap();
    assert!(lanes >= 3, "{lanes} lanes");
    assert!(drawn >= 3, "{drawn} rectangles");
    let requests = browser.eval(
        "JSON.stringify(document.getElementById('exp-sequential').view.model.lanes \
           .flatMap((l) => l.requests.map((r) => r.name + ' ' + r.status)))",
    );
    let requests = requests.as_str().unwrap();
    assert!(requests.contains("/sequential"), "{requests}");
    assert!(requests.contains("/concurrent"), "{requests}");

    // Every other experiment runs too, each to its own timeline (target/tmp/dashboard-*.png).
    for (id, expect) in [
        ("gather", "500"),
        ("wait-for", "cancelled true"),
        ("bad-good", "3 × /good"),
        ("sync-waves", "waves on"),
        ("cpu", "2 × process"),
    ] {
        browser.click(&format!("#exp-{id} .run"));
        browser.wait_for(&format!(
            "['done', 'failed'].includes(document.getElementById('exp-{id}').dataset.state)"
        ));
        let state = browser.text(&format!("#exp-{id} .state"));
        let measured = browser.text(&format!("#exp-{id} .measured"));
        assert_eq!(state, "done", "{id}: {measured}");
        assert!(measured.contains(expect), "{id}: {measured}");
        let drawn = browser.eval(&format!(
            "Number(document.querySelector('#exp-{id} .timeline.kt')?.dataset.drawn ?? 0)"
        ));
        assert!(drawn.as_u64().unwrap() > 0, "{id}: no timeline");
        browser.screenshot(&format!("dashboard-{id}"), Some(&format!("#exp-{id}")));
    }
    // /bad stalled the loop, and its timeline says so; the sync pool's 100 requests came in
    // waves on its threads.
    let stalls = browser.eval("document.getElementById('exp-bad-good').view.model.counts.stalls");
    assert!(stalls.as_u64().unwrap() >= 1, "{stalls}");
    let waves = browser.text("#exp-sync-waves .measured");
    assert!(waves.contains("100 × /sync"), "{waves}");
}

/// `/debug/timeline` under load: it keeps polling `/debug/trace` and redraws the window,
/// stalls included, while requests come and go.
#[test]
fn the_live_timeline_follows_the_server_under_load_and_shows_a_stall() {
    let serve = Serve::start(&[]);
    let addr = serve.addr;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = ["/async?ms=50", "/sync?ms=30", "/json", "/good?ms=40"]
        .into_iter()
        .map(|path| {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = get(addr, path);
                }
            })
        })
        .collect();

    let mut browser = DevTools::start();
    let url = format!("http://{}/debug/timeline", serve.addr);
    browser.call("Page.navigate", serde_json::json!({"url": url}));
    browser.wait_for("!!window.kairosLive && window.kairosLive.fetches >= 2");
    // A stall, made the way the page's text says.
    get(addr, "/bad?ms=300");
    browser.wait_for(
        "window.kairosLive.view && window.kairosLive.view.model.counts.stalls >= 1 && \
         Number(document.querySelector('#timeline.kt').dataset.drawn) > 0",
    );
    let status = browser.text("#status");
    assert!(status.contains("events in the window"), "{status}");
    let lanes = browser.eval("window.kairosLive.view.model.lanes.map((l) => l.kind).join(' ')");
    let lanes = lanes.as_str().unwrap();
    assert!(lanes.contains("task"), "{lanes}");
    assert!(lanes.contains("thread"), "{lanes}");
    // What a person would see (target/tmp/debug-timeline.png): the timeline itself, and the
    // stall's lane in it.
    browser.eval("document.querySelector('details').open = false");
    browser.eval("document.querySelector('.controls').scrollIntoView()");
    browser.screenshot("debug-timeline", None);

    // Paused, it stops asking; resumed, it asks again.
    browser.click("#pause");
    let paused_at = browser.eval("window.kairosLive.fetches").as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(browser.eval("window.kairosLive.fetches").as_u64().unwrap(), paused_at);
    browser.click("#pause");
    browser.wait_for(&format!("window.kairosLive.fetches > {paused_at}"));

    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
}

/// A plain GET over HTTP/1.0, its status.
fn get(addr: SocketAddr, path: &str) -> u16 {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return 0 };
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// `kairos tour --html FILE`: one self-contained page (nothing loaded from anywhere), a row
/// per experiment, and a timeline drawn for each run the tour marked, from the trace it
/// embedded.
#[test]
fn the_tours_html_page_is_self_contained_and_draws_a_timeline_per_marked_run() {
    let dir = tempdir("tour-html");
    let page = dir.join("tour.html");
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["tour", "--scale", "0.2", "--json", "--html"])
        .arg(&page)
        .output()
        .expect("the kairos binary runs");
    let rows = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert!(html.starts_with("<!doctype html>"));
    assert_eq!(html.matches("<article class=\"exp\"").count(), rows);
    assert!(html.contains("root.KairosTimeline = "), "the renderer is inlined");
    // Nothing to fetch: no script, style or image from a URL, local or remote.
    for attribute in ["src=", "href=", "@import", "url("] {
        assert!(!html.contains(attribute), "the page refers to something outside it: {attribute}");
    }
    let traces = html.matches("<script type=\"application/json\"").count();
    assert!(traces >= 10, "{traces} traces embedded");

    // Drawn in a browser: every embedded trace became a timeline with lanes and rectangles.
    let url = format!("file://{}", page.display());
    let dom = {
        let profile = tempdir("chromium-tour");
        let output = Command::new(chromium())
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .args(["--virtual-time-budget=10000", "--timeout=60000", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(&url)
            .output()
            .expect("chromium runs");
        let _ = std::fs::remove_dir_all(&profile);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let drawn: Vec<u64> = dom
        .split("data-drawn=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(drawn.len(), traces, "a timeline per trace");
    assert!(drawn.iter().all(|&n| n > 0), "an empty timeline: {drawn:?}");
    screenshot_sized(&url, "tour-page", "1400,1000");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_timeline_renderer_packs_many_short_tasks_into_shared_lanes() {
    // 120 connections one after another (a probe), 30 at once (a burst) and a long-lived
    // task: the probe's tasks never overlap, so they share a lane; the burst's each need one.
    let out = run_renderer(
        "timeline-packed",
        "const events = [{ph:'M', name:'process_name', pid:1, tid:0, args:{name:'worker 0'}},
           {ph:'M', name:'thread_name', pid:1, tid:1, args:{name:'#1 heartbeat'}}];
         for (let i = 0; i < 120; i++) {
           const tid = 100 + i, ts = i * 8000;
           events.push({ph:'b', cat:'request', name:'GET /plaintext', id:tid, pid:1, tid, ts, args:{status:200}});
           events.push({ph:'X', cat:'poll', name:'poll', pid:1, tid, ts, dur:30, args:{task:tid, woken_by:'io'}});
           events.push({ph:'e', cat:'request', name:'GET /plaintext', id:tid, pid:1, tid, ts: ts + 40});
         }
         for (let i = 0; i < 30; i++) {
           const tid = 500 + i;
           events.push({ph:'b', cat:'request', name:'GET /sync', id:tid, pid:1, tid, ts:100000, args:{status:200}});
           events.push({ph:'e', cat:'request', name:'GET /sync', id:tid, pid:1, tid, ts:400000});
         }
         for (let t = 0; t < 1000000; t += 100000) {
           events.push({ph:'X', cat:'poll', name:'poll', pid:1, tid:1, ts:t, dur:5, args:{task:1, woken_by:'timer'}});
         }
         const view = KairosTimeline.render(document.getElementById('t'),
           {otherData:{start_us:0, end_us:1000000}, traceEvents:events}, {});
         const lanes = view.summary().lanes;
         document.getElementById('out').textContent = JSON.stringify({
           lanes: lanes.length, requests: view.model.counts.requests,
           names: lanes.map((l) => l.name),
           drawn: view.summary().drawn});",
    );
    assert_eq!(out["requests"], 150, "{out}");
    let names: Vec<&str> =
        out["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    // The heartbeat, the burst's 30, and the probe's 120 on one or two shared lanes.
    assert!(names.contains(&"#1 heartbeat"), "{names:?}");
    assert_eq!(names.iter().filter(|n| n.ends_with("GET /sync")).count(), 30, "{names:?}");
    let shared: Vec<&&str> = names.iter().filter(|n| n.contains("tasks in turn")).collect();
    assert!(!shared.is_empty() && shared.len() <= 2, "{names:?}");
    assert!(shared.iter().all(|n| n.ends_with("GET /plaintext")), "{names:?}");
    assert!(names.len() <= 1 + 30 + 2, "{names:?}");
}
