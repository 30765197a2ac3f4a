//! Cookies and cookie sessions over real sockets: reading leniently, `Set-Cookie` lines
//! attribute by attribute, signed and private jars against tampering and foreign keys,
//! `Cookies<T>`'s 422 and OpenAPI, sessions written only when they change — and a client
//! nobody here wrote (Python's `http.cookiejar`) through a login, a read and a logout.

use std::process::Command;
use std::time::Duration;

use http::header::LOCATION;
use http::StatusCode;
use kairos_web::cookies::{
    time, Cookie, CookieJar, CookieKeys, Key, PrivateCookieJar, SameSite, SignedCookieJar,
};
use kairos_web::middleware::Compression;
use kairos_web::session::{Session, SessionLayer};
use kairos_web::{sync, App, Cookies, Dependency, Depends, HttpError, TestClient, TestResponse};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

/// Every `Set-Cookie` line of a response, in order.
fn set_cookies(response: &TestResponse) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// The one `Set-Cookie` line of a response.
fn only_set_cookie(response: &TestResponse) -> String {
    match set_cookies(response).as_slice() {
        [line] => line.clone(),
        lines => panic!("expected one Set-Cookie, got {lines:?}"),
    }
}

/// `name=value` of a `Set-Cookie` line: what a browser sends back.
fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

/// The value of a `Set-Cookie` line, as sent (percent-encoded).
fn value(set_cookie: &str) -> &str {
    pair(set_cookie).split_once('=').unwrap().1
}

/// `value` with one character changed in its middle (a client tampering with it).
fn tampered(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

// ---------------------------------------------------------------------------------------
// CookieJar: reading, setting, deleting

/// Answers the request's cookies as `name=value` lines, sorted.
async fn list(jar: CookieJar) -> String {
    let mut lines: Vec<String> =
        jar.iter().map(|c| format!("{}={}", c.name(), c.value())).collect();
    lines.sort();
    lines.join("\n")
}

#[test]
fn a_request_s_cookies_are_read_leniently_and_percent_decoded() {
    let client = TestClient::new(App::new().get("/", list));
    assert_eq!(client.get("/").send().text(), "");
    let response = client
        .get("/")
        .header("cookie", "a=1; no-value; =nameless; b=x%20y; bad=%FF; c=\"quoted\"; a=2")
        .header("cookie", "d=caf%C3%A9")
        .send();
    assert_eq!(response.status(), 200, "a malformed pair is skipped, not a 400");
    assert_eq!(response.text(), "a=2\nb=x y\nc=\"quoted\"\nd=café");
}

#[test]
fn added_cookies_get_the_defaults_and_their_own_attributes_exactly() {
    async fn set(jar: CookieJar) -> (CookieJar, &'static str) {
        let jar = jar
            .add(("plain", "1"))
            .add(("spaced", "a b;c"))
            .add(
                Cookie::build(("custom", "2"))
                    .path("/docs")
                    .domain("example.test")
                    .max_age(time::Duration::hours(1))
                    .secure(true)
                    .http_only(false)
                    .same_site(SameSite::Strict),
            )
            .add(Cookie::build(("embed", "3")).same_site(SameSite::None));
        (jar, "set")
    }
    let client = TestClient::new(App::new().post("/set", set).get("/", list));
    let response = client.post("/set").send();
    assert_eq!(response.text(), "set");
    assert_eq!(
        set_cookies(&response),
        [
            "custom=2; SameSite=Strict; Secure; Path=/docs; Domain=example.test; Max-Age=3600",
            // SameSite=None is sent Secure: browsers refuse it otherwise.
            "embed=3; HttpOnly; SameSite=None; Secure; Path=/",
            "plain=1; HttpOnly; SameSite=Lax; Path=/",
            "spaced=a%20b%3Bc; HttpOnly; SameSite=Lax; Path=/",
        ]
    );
    // What the client sends back reads as what was set.
    let lines = set_cookies(&response);
    let back: Vec<&str> = lines.iter().map(|line| pair(line)).collect();
    let sent = client.get("/").header("cookie", &back.join("; ")).send();
    assert_eq!(sent.text(), "custom=2\nembed=3\nplain=1\nspaced=a b;c");
}

#[test]
fn removing_a_cookie_sends_an_expired_one_with_its_path_and_domain() {
    async fn logout(jar: CookieJar) -> CookieJar {
        assert!(jar.get("token").is_some());
        let jar = jar
            .remove("token")
            // Not in this request: removed all the same (the browser may hold it elsewhere).
            .remove(Cookie::build("scoped").path("/docs").domain("example.test"));
        assert!(jar.get("token").is_none());
        assert_eq!(jar.iter().count(), 1, "the request's other cookie is left alone");
        jar
    }
    let client = TestClient::new(App::new().post("/logout", logout));
    let response = client.post("/logout").header("cookie", "token=abc; theme=dark").send();
    assert_eq!(response.status(), 200);
    assert_eq!(
        set_cookies(&response),
        [
            "scoped=; Path=/docs; Domain=example.test; Max-Age=0; \
             Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "token=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ]
    );
}

#[test]
fn a_jar_goes_with_a_status_other_headers_and_another_jar() {
    async fn login(jar: CookieJar, private: PrivateCookieJar) -> impl kairos_web::IntoResponse {
        let redirect = (StatusCode::SEE_OTHER, [(LOCATION, "/home")], "see /home");
        (jar.add(("theme", "dark")), (private.add(("secret", "s")), redirect))
    }
    let app = App::new().with_state(CookieKeys::new(Key::generate())).post("/login", login);
    let client = TestClient::new(app);
    let response = client.post("/login").header("cookie", "theme=light").send();
    assert_eq!(response.status(), 303);
    assert_eq!(response.header("location"), Some("/home"));
    assert_eq!(response.text(), "see /home");
    let lines = set_cookies(&response);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().any(|l| l == "theme=dark; HttpOnly; SameSite=Lax; Path=/"), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("secret=")), "{lines:?}");

    // Returned alone, a jar is an empty 200.
    let client =
        TestClient::new(App::new().post("/", |jar: CookieJar| async move { jar.add(("a", "1")) }));
    let response = client.post("/").send();
    assert_eq!((response.status(), response.text()), (StatusCode::OK, String::new()));
    assert_eq!(only_set_cookie(&response), "a=1; HttpOnly; SameSite=Lax; Path=/");
}

// ---------------------------------------------------------------------------------------
// Signed and private jars

fn keyed_app(keys: CookieKeys) -> App {
    async fn sign(jar: SignedCookieJar) -> (SignedCookieJar, &'static str) {
        (jar.add(Cookie::build(("user", "ada")).max_age(time::Duration::days(1))), "signed")
    }
    async fn read_signed(jar: SignedCookieJar) -> String {
        let all: Vec<String> = jar.iter().map(|c| c.name().to_owned()).collect();
        format!("{:?} {:?}", jar.get("user").map(|c| c.value().to_owned()), all)
    }
    async fn seal(jar: PrivateCookieJar) -> (PrivateCookieJar, &'static str) {
        (jar.add(("card", "4111 1111 1111 1111")), "sealed")
    }
    async fn read_private(jar: PrivateCookieJar) -> String {
        format!("{:?}", jar.get("card").map(|c| c.value().to_owned()))
    }
    App::new()
        .with_state(keys)
        .post("/signed", sign)
        .get("/signed", read_signed)
        .post("/private", seal)
        .get("/private", read_private)
}

#[test]
fn a_signed_cookie_reads_back_and_any_change_or_another_key_makes_it_absent() {
    let key = Key::generate();
    let client = TestClient::new(keyed_app(CookieKeys::new(key.clone())));
    let set_cookie = only_set_cookie(&client.post("/signed").send());
    assert!(set_cookie.ends_with("ada; HttpOnly; SameSite=Lax; Path=/; Max-Age=86400"));
    let read = |cookie: &str| client.get("/signed").header("cookie", cookie).send().text();

    assert_eq!(read(pair(&set_cookie)), r#"Some("ada") ["user"]"#);
    // The client changes the value, or the signature, or sends the value unsigned.
    let forged = pair(&set_cookie).replace("ada", "eve");
    assert_eq!(read(&forged), "None []");
    assert_eq!(read(&format!("user={}", tampered(value(&set_cookie)))), "None []");
    assert_eq!(read("user=ada"), "None []");
    // A value signed for another name does not move.
    assert_eq!(read(&format!("admin={}", value(&set_cookie))), "None []");

    // Another App's key: absent. The same key, or the old key kept as previous: present.
    let other = TestClient::new(keyed_app(CookieKeys::new(Key::generate())));
    let read_with = |client: &TestClient| {
        client.get("/signed").header("cookie", pair(&set_cookie)).send().text()
    };
    assert_eq!(read_with(&other), "None []");
    let rotated = TestClient::new(keyed_app(CookieKeys::new(Key::generate()).with_previous(key)));
    assert_eq!(read_with(&rotated), r#"Some("ada") ["user"]"#);
}

#[test]
fn a_private_cookie_is_unreadable_on_the_wire_and_absent_when_changed_or_foreign() {
    let client = TestClient::new(keyed_app(CookieKeys::new(Key::generate())));
    let set_cookie = only_set_cookie(&client.post("/private").send());
    assert!(set_cookie.ends_with("; HttpOnly; SameSite=Lax; Path=/"), "{set_cookie}");
    for plain in ["4111", "1111", "4111%201111"] {
        assert!(!set_cookie.contains(plain), "the value shows in {set_cookie}");
    }
    let read = |cookie: &str| client.get("/private").header("cookie", cookie).send().text();
    assert_eq!(read(pair(&set_cookie)), r#"Some("4111 1111 1111 1111")"#);
    assert_eq!(read(&format!("card={}", tampered(value(&set_cookie)))), "None");
    assert_eq!(read("card=4111%201111%201111%201111"), "None");
    assert_eq!(read("card=%%%not-base64"), "None");
    // Each encryption has its own nonce: the same value twice is two different cookies.
    assert_ne!(only_set_cookie(&client.post("/private").send()), set_cookie);

    let other = TestClient::new(keyed_app(CookieKeys::new(Key::generate())));
    let response = other.get("/private").header("cookie", pair(&set_cookie)).send();
    assert_eq!(response.text(), "None");
}

#[test]
fn a_keyed_jar_without_the_app_s_keys_is_a_500_not_a_panic() {
    async fn read(jar: SignedCookieJar) -> String {
        format!("{:?}", jar.get("a"))
    }
    let client = TestClient::new(App::new().get("/", read));
    let response = client.get("/").header("cookie", "a=1").send();
    assert_eq!(response.status(), 500);
    assert_eq!(response.text(), r#"{"detail":"Internal Server Error"}"#);
}

// ---------------------------------------------------------------------------------------
// Cookies<T>

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
struct Tracking {
    /// The visitor's id.
    #[schemars(length(min = 8))]
    visitor_id: String,
    #[schemars(range(min = 1))]
    visits: Option<u32>,
    #[serde(rename = "ab-group")]
    ab_group: Option<bool>,
}

async fn tracking(Cookies(t): Cookies<Tracking>) -> String {
    format!("{} {:?} {:?}", t.visitor_id, t.visits, t.ab_group)
}

#[test]
fn typed_cookies_are_read_in_lax_mode_and_others_are_ignored() {
    let client = TestClient::new(App::new().get("/", tracking));
    let response = client
        .get("/")
        .header("cookie", "session=xyz; visitor_id=\"v-123456\"; visits=3; ab-group=yes; x=1")
        .send();
    assert_eq!(response.text(), "v-123456 Some(3) Some(true)");
}

#[test]
fn typed_cookies_that_do_not_fit_are_a_422_at_loc_cookie_name() {
    let client = TestClient::new(App::new().get("/", tracking));
    let response = client.get("/").header("cookie", "visits=0; ab-group=maybe").send();
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>(),
        json!({"detail": [
            {"type": "missing", "loc": ["cookie", "visitor_id"], "msg": "Field required",
             "input": null},
            {"type": "greater_than_equal", "loc": ["cookie", "visits"],
             "msg": "Input should be greater than or equal to 1", "input": "0",
             "ctx": {"ge": 1}},
            {"type": "bool_parsing", "loc": ["cookie", "ab-group"],
             "msg": "Input should be a valid boolean, unable to interpret input",
             "input": "maybe"},
        ]})
    );
    let short = client.get("/").header("cookie", "visitor_id=abc").send();
    assert_eq!(short.json::<Value>()["detail"][0]["type"], "string_too_short");
}

#[test]
fn typed_cookies_are_parameters_in_cookie_in_the_openapi_document() {
    let doc = App::new().get("/", tracking).openapi();
    let operation = &doc["paths"]["/"]["get"];
    let parameters = operation["parameters"].as_array().unwrap();
    let names: Vec<(&str, &str, bool)> = parameters
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap(), p["required"] == true))
        .collect();
    assert_eq!(
        names,
        [
            ("visitor_id", "cookie", true),
            ("visits", "cookie", false),
            ("ab-group", "cookie", false)
        ]
    );
    assert_eq!(parameters[0]["description"], "The visitor's id.");
    assert_eq!(parameters[0]["schema"]["minLength"], 8);
    assert!(operation["responses"].get("422").is_some(), "{operation}");
}

// ---------------------------------------------------------------------------------------
// Sessions

fn session_app(layer: SessionLayer) -> App {
    async fn login(session: Session, name: String) -> Result<&'static str, HttpError> {
        session.insert("user", name)?;
        Ok("signed in")
    }
    async fn me(session: Session) -> String {
        session.get::<String>("user").unwrap_or_else(|| "anonymous".to_owned())
    }
    async fn touch(session: Session) -> Result<&'static str, HttpError> {
        // The value it already has: no change.
        let user = session.get_value("user").unwrap_or(Value::Null);
        session.insert("user", user)?;
        Ok("touched")
    }
    async fn logout(session: Session) -> &'static str {
        session.clear();
        "signed out"
    }
    App::new()
        .layer(layer)
        .post("/login", login)
        .get("/me", me)
        .post("/touch", touch)
        .post("/logout", logout)
        .get("/static", || async { "no session here" })
}

fn keys() -> CookieKeys {
    CookieKeys::new(Key::generate())
}

#[test]
fn a_session_set_at_login_is_read_back_and_an_unchanged_one_sends_no_cookie() {
    let client = TestClient::new(session_app(SessionLayer::new(keys())));
    let login = client.post("/login").body("ada").send();
    assert_eq!(login.text(), "signed in");
    let set_cookie = only_set_cookie(&login);
    assert!(set_cookie.starts_with("session="), "{set_cookie}");
    assert!(set_cookie.ends_with("; HttpOnly; SameSite=Lax; Path=/; Max-Age=1209600"));
    assert!(!set_cookie.contains("ada") && !set_cookie.contains("user"), "{set_cookie}");
    let cookie = format!("theme=dark; {}", pair(&set_cookie));

    let me = client.get("/me").header("cookie", &cookie).send();
    assert_eq!(me.text(), "ada");
    assert_eq!(set_cookies(&me), Vec::<String>::new(), "read only: nothing to send");
    let touched = client.post("/touch").header("cookie", &cookie).send();
    assert_eq!(touched.text(), "touched");
    assert_eq!(set_cookies(&touched), Vec::<String>::new(), "the same value: no change");
    let untouched = client.get("/static").header("cookie", &cookie).send();
    assert_eq!(set_cookies(&untouched), Vec::<String>::new());
    assert_eq!(client.get("/me").send().text(), "anonymous");
    assert_eq!(set_cookies(&client.get("/me").send()), Vec::<String>::new());

    // A change sends the whole session again.
    let relogin = client.post("/login").header("cookie", &cookie).body("bob").send();
    let again = only_set_cookie(&relogin);
    assert_ne!(pair(&again), pair(&set_cookie));
    assert_eq!(client.get("/me").header("cookie", pair(&again)).send().text(), "bob");
}

#[test]
fn clearing_a_session_deletes_its_cookie() {
    let client = TestClient::new(session_app(SessionLayer::new(keys())));
    let set_cookie = only_set_cookie(&client.post("/login").body("ada").send());
    let out = client.post("/logout").header("cookie", pair(&set_cookie)).send();
    assert_eq!(out.text(), "signed out");
    assert_eq!(
        only_set_cookie(&out),
        "session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; \
         Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    );
    // Clearing what was never there sends nothing.
    assert_eq!(set_cookies(&client.post("/logout").send()), Vec::<String>::new());
}

#[test]
fn a_tampered_or_foreign_session_cookie_is_an_empty_session() {
    let client = TestClient::new(session_app(SessionLayer::new(keys())));
    let set_cookie = only_set_cookie(&client.post("/login").body("ada").send());
    let me = |cookie: &str| client.get("/me").header("cookie", cookie).send();

    let changed = me(&format!("session={}", tampered(value(&set_cookie))));
    assert_eq!((changed.status(), changed.text()), (StatusCode::OK, "anonymous".to_owned()));
    assert_eq!(me("session=not-a-session").text(), "anonymous");
    assert_eq!(me("session=").text(), "anonymous");
    let other = TestClient::new(session_app(SessionLayer::new(keys())));
    let foreign = other.get("/me").header("cookie", pair(&set_cookie)).send();
    assert_eq!(foreign.text(), "anonymous");
    // Logging out with a bad cookie deletes it, so the browser stops sending it.
    let out = client.post("/logout").header("cookie", "session=junk").send();
    assert!(only_set_cookie(&out).starts_with("session=; "));
}

/// Every `Vary` token of a response, lowercased and sorted (repeats kept).
fn vary(response: &TestResponse) -> Vec<String> {
    let mut tokens: Vec<String> = response
        .headers()
        .get_all("vary")
        .iter()
        .flat_map(|value| value.to_str().unwrap().split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .collect();
    tokens.sort();
    tokens
}

#[test]
fn a_response_made_from_the_session_varies_by_cookie_and_others_do_not() {
    // Compression too: both add to `Vary` (it on every compressible answer), neither twice.
    let app = session_app(SessionLayer::new(keys()))
        .get("/own-vary", |session: Session| async move {
            let user = session.get::<String>("user").unwrap_or_default();
            ([("vary", "Cookie")], user)
        })
        .layer(Compression::new().min_size(1));
    let client = TestClient::new(app);
    let set_cookie = only_set_cookie(&client.post("/login").body("ada").send());
    let cookie = pair(&set_cookie);

    let me = client.get("/me").header("cookie", cookie).send();
    assert_eq!(me.text(), "ada");
    assert_eq!(vary(&me), ["accept-encoding", "cookie"], "read: made from the cookie");
    let anonymous = client.get("/me").send();
    assert_eq!(vary(&anonymous), ["accept-encoding", "cookie"], "made from no cookie");
    let login = client.post("/login").body("bob").send();
    assert_eq!(vary(&login), ["accept-encoding", "cookie"], "written");
    let untouched = client.get("/static").header("cookie", cookie).send();
    assert_eq!(vary(&untouched), ["accept-encoding"], "a route that never took the session");
    let own = client.get("/own-vary").header("cookie", cookie).send();
    assert_eq!(own.text(), "ada");
    assert_eq!(vary(&own), ["accept-encoding", "cookie"], "a handler's own `Vary` not repeated");
}

#[test]
fn a_session_s_cookie_attributes_are_the_layer_s() {
    let layer = SessionLayer::new(keys())
        .cookie_name("sid")
        .max_age(Duration::from_secs(30 * 60))
        .path("/app")
        .domain("example.test")
        .same_site(SameSite::Strict)
        .secure(true);
    let client = TestClient::new(session_app(layer));
    let login = client.post("/login").body("ada").send();
    let set_cookie = only_set_cookie(&login);
    assert!(set_cookie.starts_with("sid="), "{set_cookie}");
    assert!(
        set_cookie.ends_with(
            "; HttpOnly; SameSite=Strict; Secure; Path=/app; Domain=example.test; Max-Age=1800"
        ),
        "{set_cookie}"
    );
    assert_eq!(client.get("/me").header("cookie", pair(&set_cookie)).send().text(), "ada");
    let out = client.post("/logout").header("cookie", pair(&set_cookie)).send();
    assert_eq!(
        only_set_cookie(&out),
        "sid=; HttpOnly; SameSite=Strict; Secure; Path=/app; Domain=example.test; Max-Age=0; \
         Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    );

    // No max_age: a browser-session cookie.
    let client = TestClient::new(session_app(SessionLayer::new(keys()).max_age(None)));
    let set_cookie = only_set_cookie(&client.post("/login").body("ada").send());
    assert!(set_cookie.ends_with("; HttpOnly; SameSite=Lax; Path=/"), "{set_cookie}");
}

#[test]
fn a_session_reaches_sync_handlers_and_dependencies() {
    #[derive(Clone)]
    struct User(String);

    impl Dependency for User {
        type Inputs = Session;

        async fn resolve(session: Session) -> Result<Self, HttpError> {
            session
                .get::<String>("user")
                .map(User)
                .ok_or_else(|| HttpError::unauthorized("Not logged in"))
        }
    }

    fn count(session: Session) -> Result<String, HttpError> {
        let visits = session.get::<u64>("visits").unwrap_or(0) + 1;
        session.insert("visits", visits)?;
        Ok(visits.to_string())
    }

    let app = session_app(SessionLayer::new(keys()))
        .get("/whoami", |Depends(user): Depends<User>| async move { user.0 })
        .post("/count", sync(count));
    let client = TestClient::new(app);
    assert_eq!(client.get("/whoami").send().status(), 401);
    let set_cookie = only_set_cookie(&client.post("/login").body("ada").send());
    assert_eq!(client.get("/whoami").header("cookie", pair(&set_cookie)).send().text(), "ada");

    let counted = client.post("/count").header("cookie", pair(&set_cookie)).send();
    assert_eq!(counted.text(), "1");
    let next = only_set_cookie(&counted);
    assert_eq!(client.post("/count").header("cookie", pair(&next)).send().text(), "2");
    assert_eq!(client.get("/me").header("cookie", pair(&next)).send().text(), "ada");
}

#[test]
fn a_session_too_big_for_a_cookie_is_a_500_and_no_cookie() {
    let app = App::new().layer(SessionLayer::new(keys())).post(
        "/hoard",
        |session: Session, size: String| async move {
            let size: usize = size.parse().unwrap();
            session.insert("blob", "x".repeat(size)).map(|()| "stored")
        },
    );
    let client = TestClient::new(app);
    let small = client.post("/hoard").body("1000").send();
    assert_eq!(small.text(), "stored");
    assert_eq!(set_cookies(&small).len(), 1);
    let big = client.post("/hoard").body("5000").send();
    assert_eq!(big.status(), 500);
    assert_eq!(big.text(), r#"{"detail":"Internal Server Error"}"#);
    assert_eq!(set_cookies(&big), Vec::<String>::new());
}

#[test]
fn a_session_without_its_layer_is_a_500_not_a_panic() {
    let client = TestClient::new(
        App::new().get("/", |session: Session| async move { session.len().to_string() }),
    );
    assert_eq!(client.get("/").send().status(), 500);
}

// ---------------------------------------------------------------------------------------
// A client nobody here wrote

/// A login, a read and a logout by Python's standard library: `urllib` with an
/// `http.cookiejar.CookieJar`, which stores and sends back the cookies as a browser would
/// (paths, expiry, removal cookies).
const PYTHON_CLIENT: &str = r#"
import http.cookiejar, json, sys, urllib.request

base = "http://127.0.0.1:%s" % sys.argv[1]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

def call(method, path, body=None):
    request = urllib.request.Request(base + path, data=body, method=method)
    with opener.open(request, timeout=30) as response:
        return response.read().decode()

steps = []
def step(label, method, path, body=None):
    text = call(method, path, body)
    steps.append([label, text, sorted(cookie.name for cookie in jar)])

step("anonymous", "GET", "/me")
step("login", "POST", "/login", b"ada")
step("read", "GET", "/me")
step("read again", "GET", "/me")
step("logout", "POST", "/logout", b"")
step("after logout", "GET", "/me")
print(json.dumps(steps))
"#;

#[test]
fn python_s_cookie_jar_logs_in_reads_and_logs_out() {
    async fn login(
        session: Session,
        jar: SignedCookieJar,
        name: String,
    ) -> Result<(SignedCookieJar, &'static str), HttpError> {
        session.insert("user", &name)?;
        Ok((jar.add(("remember", name)), "signed in"))
    }
    async fn me(session: Session, jar: SignedCookieJar) -> String {
        let user = session.get::<String>("user").unwrap_or_else(|| "anonymous".into());
        let remembered = jar.get("remember").map(|c| c.value().to_owned());
        format!("{user} / {}", remembered.as_deref().unwrap_or("-"))
    }
    async fn logout(session: Session, jar: SignedCookieJar) -> (SignedCookieJar, &'static str) {
        session.clear();
        (jar.remove("remember"), "signed out")
    }
    let keys = keys();
    let app = App::new()
        .with_state(keys.clone())
        .layer(SessionLayer::new(keys))
        .post("/login", login)
        .get("/me", me)
        .post("/logout", logout);
    let client = TestClient::new(app);

    let output = Command::new("python3")
        .args(["-c", PYTHON_CLIENT, &client.addr().port().to_string()])
        .output()
        .expect("python3 runs (it is part of the test machine)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let steps: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        steps,
        json!([
            ["anonymous", "anonymous / -", []],
            ["login", "signed in", ["remember", "session"]],
            ["read", "ada / ada", ["remember", "session"]],
            ["read again", "ada / ada", ["remember", "session"]],
            ["logout", "signed out", []],
            ["after logout", "anonymous / -", []],
        ])
    );
}
