//! [`SessionLayer`]: reads the session cookie into a [`Session`] and writes it back when it
//! must; and the sealed cookie's format.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use http_body::Body as HttpBody;
use kairos_http::{Body, BoxError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tower_layer::Layer;
use tower_service::Service;

use super::Session;
use crate::cookies::{request_cookies, time, Cookie, CookieKeys, SameSite};
use crate::header_list;
use crate::response::{IntoResponse, InvalidHeader};
use crate::{HttpError, Response};

/// Starlette's default `max_age`: two weeks.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// The longest `Set-Cookie` line a session may take: what browsers keep of one cookie
/// (RFC 6265 asks them for at least 4096 bytes, and most keep no more).
pub(crate) const MAX_COOKIE_BYTES: usize = 4096;

/// The middleware that gives each request a [`Session`] kept in an encrypted cookie
/// (Starlette's `SessionMiddleware`): add it with [`App::layer`](crate::App::layer) (every
/// route) or [`ApiRouter::layer`](crate::ApiRouter::layer) (a router's routes).
///
/// | setting | default | Starlette |
/// |---|---|---|
/// | [`cookie_name`](SessionLayer::cookie_name) | `session` | `session_cookie="session"` |
/// | [`max_age`](SessionLayer::max_age) | 14 days | `max_age=1209600` |
/// | [`path`](SessionLayer::path) | `/` | `path="/"` |
/// | [`same_site`](SessionLayer::same_site) | `Lax` | `same_site="lax"` |
/// | [`secure`](SessionLayer::secure) | off | `https_only=False` |
/// | [`http_only`](SessionLayer::http_only) | on | always on |
/// | [`domain`](SessionLayer::domain) | none | `domain=None` |
///
/// ```
/// use std::time::Duration;
/// use kairos_web::cookies::{CookieKeys, Key, SameSite};
/// use kairos_web::session::{Session, SessionLayer};
/// use kairos_web::{App, HttpError, TestClient};
///
/// let sessions = SessionLayer::new(CookieKeys::new(Key::generate()))
///     .cookie_name("sid")
///     .max_age(Duration::from_secs(3600))
///     .same_site(SameSite::Strict)
///     .secure(true); // behind HTTPS
///
/// async fn visit(session: Session) -> Result<String, HttpError> {
///     let visits = session.get::<u32>("visits").unwrap_or(0) + 1;
///     session.insert("visits", visits)?;
///     Ok(visits.to_string())
/// }
///
/// let client = TestClient::new(App::new().layer(sessions).get("/", visit));
/// let set_cookie = client.get("/").send().header("set-cookie").unwrap().to_owned();
/// assert!(set_cookie.starts_with("sid="));
/// assert!(set_cookie.ends_with("; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=3600"));
/// ```
///
/// The layer runs on each request it wraps, before the route's dependencies, so a
/// [`Dependency`](crate::Dependency) can take the [`Session`] (a current-user dependency, say).
/// A route has one session: a `SessionLayer` inside another (an App's and a router's) hides
/// the outer one from its routes.
///
/// A response made by a handler that took the session (read or written) carries
/// `Vary: cookie`, so that a shared cache keeps one copy per visitor, not one for all.
#[derive(Debug, Clone)]
pub struct SessionLayer {
    config: Config,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    keys: CookieKeys,
    name: String,
    max_age: Option<Duration>,
    path: String,
    domain: Option<String>,
    same_site: SameSite,
    secure: bool,
    http_only: bool,
}

impl SessionLayer {
    /// Sessions encrypted with `keys` (a [`CookieKeys`], or a [`Key`](crate::cookies::Key)),
    /// with the defaults above. The keys may be the App's own, given to
    /// [`App::with_state`](crate::App::with_state) for signed and private cookies too.
    pub fn new(keys: impl Into<CookieKeys>) -> SessionLayer {
        SessionLayer {
            config: Config {
                keys: keys.into(),
                name: "session".to_owned(),
                max_age: Some(DEFAULT_MAX_AGE),
                path: "/".to_owned(),
                domain: None,
                same_site: SameSite::Lax,
                secure: false,
                http_only: true,
            },
        }
    }

    /// The cookie's name (`session`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> SessionLayer {
        self.config.name = name.into();
        self
    }

    /// How long a session lives after its last change or refresh (14 days), in whole
    /// seconds: the cookie's `Max-Age`, and the age past which the layer reads the cookie as
    /// an empty session. `None`: a browser-session cookie (no `Max-Age`: gone when the
    /// browser closes), which the layer accepts at any age.
    pub fn max_age(mut self, max_age: impl Into<Option<Duration>>) -> SessionLayer {
        self.config.max_age = max_age.into();
        self
    }

    /// The cookie's `Path` (`/`): the session is sent to the paths under it only.
    pub fn path(mut self, path: impl Into<String>) -> SessionLayer {
        self.config.path = path.into();
        self
    }

    /// The cookie's `Domain` (none: the host that set it only); with one, its subdomains get
    /// the session too.
    pub fn domain(mut self, domain: impl Into<String>) -> SessionLayer {
        self.config.domain = Some(domain.into());
        self
    }

    /// The cookie's `SameSite` (`Lax`). `SameSite::None` (a session sent from other sites'
    /// pages) makes the cookie `Secure`, as browsers require.
    pub fn same_site(mut self, same_site: SameSite) -> SessionLayer {
        self.config.same_site = same_site;
        self
    }

    /// Whether the cookie is `Secure`, sent over HTTPS only (off, so that `http://localhost`
    /// works; Starlette's `https_only`). Turn it on in production behind HTTPS.
    pub fn secure(mut self, secure: bool) -> SessionLayer {
        self.config.secure = secure;
        self
    }

    /// Whether the cookie is `HttpOnly`, out of reach of the page's scripts (on). The
    /// scripts could not read the encrypted session anyway; off only lets them send it.
    pub fn http_only(mut self, http_only: bool) -> SessionLayer {
        self.config.http_only = http_only;
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> SessionService<S> {
        SessionService { config: Arc::new(self.config.clone()), inner }
    }
}

/// The service of a [`SessionLayer`] around `S`.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    config: Arc<Config>,
    inner: S,
}

impl<S, ReqB, B> Service<http::Request<ReqB>> for SessionService<S>
where
    S: Service<http::Request<ReqB>, Response = http::Response<B>>,
    S::Future: 'static,
    B: HttpBody<Data = Bytes> + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqB>) -> Self::Future {
        let session = Session {
            state: Arc::new(Mutex::new(SessionState::new(
                Arc::clone(&self.config),
                request.headers(),
            ))),
        };
        request.extensions_mut().insert(session.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?.map(Body::new);
            Ok(finish(&session, response))
        })
    }
}

/// The response with `Vary: cookie` if the session was used, and the session's `Set-Cookie`
/// if it needs one; or the 500 of a session that does not fit in a cookie.
fn finish(session: &Session, mut response: Response) -> Response {
    let state = session.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if state.loaded {
        // The answer was made from the request's cookie: a shared cache must not hand one
        // visitor's page to another (Django's session middleware says the same).
        header_list::add_vary(response.headers_mut(), "cookie");
    }
    let line = match state.set_cookie(now()) {
        Ok(Some(line)) => line,
        Ok(None) => return response,
        Err(too_big) => {
            tracing::error!(
                target: "kairos::web",
                "the session cookie {:?} would be {too_big} bytes, past the {MAX_COOKIE_BYTES} a \
                 browser keeps, and was not sent; answered 500 Internal Server Error. Keep ids \
                 and small values in a session (a cart's item ids, not the items), or keep the \
                 data on the server",
                state.config.name
            );
            return HttpError::internal().into_response();
        }
    };
    match HeaderValue::try_from(line) {
        Ok(value) => {
            response.headers_mut().append(SET_COOKIE, value);
            response
        }
        // Only a path or domain given to the layer can make the line invalid.
        Err(e) => InvalidHeader::value(&SET_COOKIE, e).into_response(),
    }
}

/// Seconds since the Unix epoch, on the wall clock (cookies expire by it).
fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// What the encrypted cookie holds: the time it was made (`iat`, seconds since the epoch) and
/// the session's data.
#[derive(Serialize, Deserialize)]
struct Sealed<D> {
    iat: u64,
    data: D,
}

/// One request's session: its data once read, and what the layer needs to write it back.
pub(crate) struct SessionState {
    pub(super) config: Arc<Config>,
    /// The request's `Cookie` headers, until the session is first used (they are parsed and
    /// the session decrypted only then).
    cookie_headers: Vec<HeaderValue>,
    pub(super) loaded: bool,
    /// Whether the request carried a cookie of the session's name (valid or not).
    pub(super) carried: bool,
    /// When the cookie the data was read from was made (none: no valid cookie).
    issued: Option<u64>,
    pub(super) data: Map<String, Value>,
    pub(super) changed: bool,
}

impl SessionState {
    fn new(config: Arc<Config>, headers: &HeaderMap) -> SessionState {
        SessionState {
            config,
            // Shared bytes: a clone is a reference count.
            cookie_headers: headers.get_all(COOKIE).iter().cloned().collect(),
            loaded: false,
            carried: false,
            issued: None,
            data: Map::new(),
            changed: false,
        }
    }

    /// Reads the session from the request's cookies, the first time only.
    pub(super) fn load(&mut self) {
        self.load_at(now());
    }

    fn load_at(&mut self, now: u64) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        let mut headers = HeaderMap::new();
        for value in self.cookie_headers.drain(..) {
            headers.append(COOKIE, value);
        }
        // When the name comes twice (a cookie under another path, say), the last that opens
        // counts.
        let name = &self.config.name;
        let found: Vec<Cookie<'static>> =
            request_cookies(&headers).filter(|cookie| cookie.name() == name).collect();
        self.carried = !found.is_empty();
        if let Some(sealed) = found.into_iter().rev().find_map(|c| self.config.open(c, now)) {
            self.issued = Some(sealed.iat);
            self.data = sealed.data;
        }
    }

    /// The `Set-Cookie` line the response needs — the session sealed anew, or its removal —
    /// or none; `Err` with the line's size if the session does not fit in a cookie.
    fn set_cookie(&self, now: u64) -> Result<Option<String>, usize> {
        if !self.loaded {
            return Ok(None);
        }
        let config = &self.config;
        let refresh = match (self.issued, config.max_age) {
            (Some(issued), Some(max_age)) => now >= issued.saturating_add(max_age.as_secs() / 2),
            _ => false,
        };
        if self.data.is_empty() {
            return Ok((self.changed && self.carried).then(|| config.removal()));
        }
        if !self.changed && !refresh {
            return Ok(None);
        }
        let line = config.seal(&self.data, now);
        match line.len() {
            size if size > MAX_COOKIE_BYTES => Err(size),
            _ => Ok(Some(line)),
        }
    }
}

impl Config {
    /// The session cookie with `value` and the layer's attributes.
    fn cookie(&self, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::build((self.name.clone(), value))
            .path(self.path.clone())
            .same_site(self.same_site)
            .secure(self.secure)
            .http_only(self.http_only);
        if let Some(domain) = &self.domain {
            cookie = cookie.domain(domain.clone());
        }
        cookie.build()
    }

    /// The `Set-Cookie` line of `data`, encrypted with the current key, made at `now`.
    fn seal(&self, data: &Map<String, Value>, now: u64) -> String {
        // A map of JSON values with string keys always serializes.
        let payload = serde_json::to_string(&Sealed { iat: now, data }).unwrap_or_default();
        let mut cookie = self.cookie(payload);
        if let Some(max_age) = self.max_age {
            let seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            cookie.set_max_age(time::Duration::seconds(seconds));
        }
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(self.keys.current()).add(cookie);
        jar.delta().map(|sealed| sealed.encoded().to_string()).next().unwrap_or_default()
    }

    /// The `Set-Cookie` line that deletes the session cookie: with the attributes it was set
    /// with (a browser refuses a `SameSite=None` cookie without `Secure`, removals included).
    fn removal(&self) -> String {
        let mut cookie = self.cookie(String::new());
        cookie.set_max_age(time::Duration::ZERO);
        cookie.set_expires(time::OffsetDateTime::UNIX_EPOCH);
        cookie.encoded().to_string()
    }

    /// The session in `cookie`, if it decrypts with one of the keys, holds a session and has
    /// not expired at `now`.
    fn open(&self, cookie: Cookie<'static>, now: u64) -> Option<Sealed<Map<String, Value>>> {
        let jar = cookie::CookieJar::new();
        let plain = self.keys.all().find_map(|key| jar.private(key).decrypt(cookie.clone()))?;
        let sealed: Sealed<Map<String, Value>> = serde_json::from_str(plain.value()).ok()?;
        match self.max_age {
            Some(max_age) if now >= sealed.iat.saturating_add(max_age.as_secs()) => None,
            _ => Some(sealed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookies::Key;

    const DAY: u64 = 24 * 60 * 60;

    fn config(keys: CookieKeys) -> Arc<Config> {
        Arc::new(SessionLayer::new(keys).config)
    }

    /// The state of a request that carries `set_cookie`'s cookie (name=value only).
    fn carrying(config: &Arc<Config>, set_cookie: &str) -> SessionState {
        let pair = set_cookie.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(&format!("other=1; {pair}")).unwrap());
        SessionState::new(Arc::clone(config), &headers)
    }

    fn one(key: &str, value: &str) -> Map<String, Value> {
        Map::from_iter([(key.to_owned(), Value::from(value))])
    }

    #[test]
    fn a_session_expires_max_age_after_it_was_made_and_is_refreshed_past_half_of_it() {
        let config = config(CookieKeys::new(Key::generate()));
        let made = 1_000_000;
        let line = config.seal(&one("user", "ada"), made);

        let mut fresh = carrying(&config, &line);
        fresh.load_at(made + 7 * DAY - 1);
        assert_eq!(fresh.data, one("user", "ada"));
        assert_eq!(fresh.set_cookie(made + 7 * DAY - 1), Ok(None), "less than half: kept");
        let refreshed = fresh.set_cookie(made + 7 * DAY).unwrap().expect("half: sent again");
        let mut later = carrying(&config, &refreshed);
        later.load_at(made + 20 * DAY);
        assert_eq!(later.data, one("user", "ada"), "the refresh restarted its lifetime");

        let mut expired = carrying(&config, &line);
        expired.load_at(made + 14 * DAY);
        assert!(expired.data.is_empty());
        assert!(expired.carried);
        assert_eq!(expired.set_cookie(made + 14 * DAY), Ok(None), "unchanged: nothing sent");
    }

    #[test]
    fn without_max_age_a_session_never_expires_and_is_never_refreshed() {
        let config = Arc::new(SessionLayer::new(Key::generate()).max_age(None).config);
        let line = config.seal(&one("a", "b"), 0);
        assert!(!line.contains("Max-Age"), "{line}");
        let mut state = carrying(&config, &line);
        state.load_at(100 * 365 * DAY);
        assert_eq!(state.data, one("a", "b"));
        assert_eq!(state.set_cookie(100 * 365 * DAY), Ok(None));
    }

    #[test]
    fn a_session_made_with_a_previous_key_is_read_and_rewritten_with_the_current_one() {
        let (old, new) = (Key::generate(), Key::generate());
        let before = config(CookieKeys::new(old.clone()));
        let line = before.seal(&one("a", "b"), 0);
        let after = config(CookieKeys::new(new).with_previous(old));
        let mut state = carrying(&after, &line);
        state.load_at(1);
        assert_eq!(state.data, one("a", "b"));
        state.data.insert("c".into(), "d".into());
        state.changed = true;
        let rewritten = state.set_cookie(1).unwrap().unwrap();
        let without_old = config(CookieKeys::new(after.keys.current().clone()));
        let mut reread = carrying(&without_old, &rewritten);
        reread.load_at(2);
        assert_eq!(reread.data.len(), 2);
    }

    #[test]
    fn a_session_too_big_for_a_cookie_is_refused_with_its_size() {
        let config = config(CookieKeys::new(Key::generate()));
        let mut state = SessionState::new(Arc::clone(&config), &HeaderMap::new());
        state.load_at(0);
        state.data = one("blob", &"x".repeat(3000));
        state.changed = true;
        let size = state.set_cookie(0).unwrap_err();
        assert!(size > MAX_COOKIE_BYTES, "{size}");
        state.data = one("blob", &"x".repeat(2000));
        assert!(state.set_cookie(0).unwrap().is_some());
    }
}
