//! Cookie-based sessions: Starlette's `SessionMiddleware` and `request.session`.
//!
//! A [`SessionLayer`] on the App gives every request a [`Session`]: a map of JSON values by
//! string key, read by handlers (and dependencies) that take it as an argument, and kept **in
//! the browser**, in one cookie, encrypted and authenticated (AES-256-GCM, with the keys of a
//! [`CookieKeys`](crate::cookies::CookieKeys)): the client carries its session but can neither
//! read nor change it.
//!
//! | Starlette | kairos-web |
//! |---|---|
//! | `app.add_middleware(SessionMiddleware, secret_key=...)` | `App::new().layer(SessionLayer::new(keys))` |
//! | `request.session["user"] = "ada"` | `session.insert("user", "ada")?` |
//! | `request.session.get("user")` | `session.get::<String>("user")` |
//! | `request.session.pop("user", None)` | `session.remove("user")` |
//! | `request.session.clear()` | `session.clear()` |
//! | `session_cookie`, `max_age`, `path`, `same_site`, `https_only`, `domain` | [`SessionLayer::cookie_name`], [`max_age`](SessionLayer::max_age), [`path`](SessionLayer::path), [`same_site`](SessionLayer::same_site), [`secure`](SessionLayer::secure), [`domain`](SessionLayer::domain) |
//!
//! ```
//! use kairos_web::cookies::{CookieKeys, Key};
//! use kairos_web::session::{Session, SessionLayer};
//! use kairos_web::{App, HttpError, TestClient};
//!
//! async fn login(session: Session) -> Result<&'static str, HttpError> {
//!     session.insert("user", "ada")?;
//!     Ok("signed in")
//! }
//!
//! async fn me(session: Session) -> String {
//!     session.get::<String>("user").unwrap_or_else(|| "anonymous".into())
//! }
//!
//! async fn logout(session: Session) -> &'static str {
//!     session.clear();
//!     "signed out"
//! }
//!
//! let app = App::new()
//!     .layer(SessionLayer::new(CookieKeys::new(Key::generate())))
//!     .post("/login", login)
//!     .get("/me", me)
//!     .post("/logout", logout);
//! let client = TestClient::new(app);
//!
//! let set_cookie = client.post("/login").send().header("set-cookie").unwrap().to_owned();
//! assert!(set_cookie.starts_with("session="));
//! assert!(set_cookie.ends_with("; HttpOnly; SameSite=Lax; Path=/; Max-Age=1209600"));
//! let cookie = set_cookie.split(';').next().unwrap();
//!
//! let me_again = client.get("/me").header("cookie", cookie).send();
//! assert_eq!(me_again.text(), "ada");
//! assert_eq!(me_again.header("set-cookie"), None); // unchanged: nothing to send
//! assert_eq!(client.get("/me").send().text(), "anonymous");
//!
//! let out = client.post("/logout").header("cookie", cookie).send();
//! assert!(out.header("set-cookie").unwrap().starts_with("session=; "));
//! ```
//!
//! ## When the cookie is sent
//!
//! The session is read from its cookie the first time a handler uses it (a request that never
//! uses it pays for neither the decryption nor the JSON), and the cookie is sent back only
//! when it must be:
//!
//! - the session **changed** (an insert of a new value, a remove of a key it had, a clear of
//!   a session that had data): the whole session, encrypted, with a fresh expiry — or, when
//!   the change left it empty, a removal cookie;
//! - it is unchanged but more than **half its `max_age`** has passed since its cookie was
//!   made: the same data with a fresh expiry, so a session in use does not expire (a
//!   rolling session, at the cost of one `Set-Cookie` per half-lifetime rather than one per
//!   request, which is what Starlette sends).
//!
//! A session changed after its response has gone (a clone moved into a spawned task) is not
//! saved.
//!
//! ## Expiry, tampering, keys
//!
//! The cookie holds the time it was made, under the encryption, and the session is empty when
//! that time is more than `max_age` ago — whatever the browser did with the cookie's own
//! `Max-Age` (as Starlette's timestamped signature). A cookie that was changed, made with a
//! key the layer does not have, or that is not a session at all, is an empty session too:
//! never an error. Keys rotate as [`CookieKeys`](crate::cookies::CookieKeys) say: a session
//! made with a previous key is read, and the next change writes it with the current one.
//!
//! ## What it is not
//!
//! Everything lives in the cookie: a browser keeps at most about **4 KB** of it, so keep ids
//! and small values in a session, not records. A session that would not fit (its
//! `Set-Cookie` line past 4096 bytes) fails its request with a `500`, logged with the size
//! and what to do, rather than being silently dropped by the browser — which would lose the
//! change the handler believed it made. There is no server-side store (Redis, a database):
//! so a session cannot be revoked on the server before it expires — a logout clears the
//! browser's copy, but a copy taken earlier stays valid until its `max_age` — and two
//! concurrent requests that change one session each write the whole of it: the last
//! response wins. A server-side store is a different design (a session id in the cookie, the
//! data in the store) and belongs in a crate of its own (tower-sessions' model). There is
//! no `cycle`/regenerate either: session fixation needs a session id a server trusts, and
//! a cookie session has none.

mod layer;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

pub use layer::{SessionLayer, SessionService};

use self::layer::SessionState;
use crate::extract::FromRequestParts;
use crate::response::IntoResponse;
use crate::{HttpError, Response};

/// The request's session: a map of JSON values by string key, kept in an encrypted cookie by
/// the [`SessionLayer`] around the route (Starlette's `request.session`).
///
/// Take it as an argument — of a handler, `async` or [`sync`](crate::sync), or of a
/// [`Dependency`](crate::Dependency) — and read or change it; the layer writes the cookie
/// after the handler, if the session changed (see the [module](self)). A `Session` is a
/// handle: its clones are the same session, and it may cross threads.
///
/// ```
/// use kairos_web::cookies::{CookieKeys, Key};
/// use kairos_web::session::{Session, SessionLayer};
/// use kairos_web::{App, HttpError, TestClient};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Cart { items: Vec<String> }
///
/// async fn add(session: Session, item: String) -> Result<String, HttpError> {
///     let mut cart = session.get::<Cart>("cart").unwrap_or(Cart { items: Vec::new() });
///     cart.items.push(item);
///     session.insert("cart", &cart)?;
///     Ok(cart.items.join(","))
/// }
///
/// let app = App::new()
///     .layer(SessionLayer::new(CookieKeys::new(Key::generate())))
///     .post("/cart", add);
/// let client = TestClient::new(app);
/// let first = client.post("/cart").body("pen").send();
/// let cookie = first.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
/// let second = client.post("/cart").header("cookie", &cookie).body("ink").send();
/// assert_eq!(second.text(), "pen,ink");
/// ```
///
/// Without a [`SessionLayer`] around the route, a request to a handler that takes a `Session`
/// is answered 500, and the log says to add one.
#[derive(Clone)]
pub struct Session {
    state: Arc<Mutex<SessionState>>,
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, SessionState> {
        // No code panics while holding the lock; a poisoned one still holds a valid map.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.load();
        state
    }

    /// The value of `key` read as a `T`, or `None` if there is none — or if it is not a `T`
    /// ([`get_value`](Session::get_value) shows it as it is).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.lock().data.get(key).and_then(|value| T::deserialize(value).ok())
    }

    /// The value of `key` as JSON, or `None` if there is none.
    pub fn get_value(&self, key: &str) -> Option<Value> {
        self.lock().data.get(key).cloned()
    }

    /// Sets `key` to `value` (anything `Serialize`: a string, a number, a struct), replacing
    /// its value. Setting the value a key already has is no change: no cookie is sent for it.
    ///
    /// # Errors
    ///
    /// If `value` is not JSON: a map whose keys are not strings, or a `Serialize` impl that
    /// fails. The session is unchanged then. The error is a `500` when returned from a
    /// handler (with `?` into an [`HttpError`] too), logged with what to fix.
    pub fn insert(
        &self,
        key: impl Into<String>,
        value: impl Serialize,
    ) -> Result<(), SessionError> {
        let key = key.into();
        let value = match serde_json::to_value(value) {
            Ok(value) => value,
            Err(source) => return Err(SessionError::NotJson { key, source }),
        };
        let mut state = self.lock();
        if state.data.get(&key) != Some(&value) {
            state.data.insert(key, value);
            state.changed = true;
        }
        Ok(())
    }

    /// Removes `key` and returns its value, if it had one (Starlette's `session.pop`).
    pub fn remove(&self, key: &str) -> Option<Value> {
        let mut state = self.lock();
        let removed = state.data.remove(key);
        state.changed |= removed.is_some();
        removed
    }

    /// Removes every key: the response deletes the session cookie (a logout). Also when the
    /// session read as empty but the request carried a session cookie — one that had expired
    /// or did not decrypt — so that the browser stops sending it.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.changed |= !state.data.is_empty() || state.carried;
        state.data.clear();
    }

    /// Whether the session has a value for `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.lock().data.contains_key(key)
    }

    /// How many keys the session has.
    pub fn len(&self) -> usize {
        self.lock().data.len()
    }

    /// Whether the session has no keys: a new visitor, an expired or tampered cookie, or a
    /// cleared session.
    pub fn is_empty(&self) -> bool {
        self.lock().data.is_empty()
    }

    /// A copy of the whole session.
    pub fn to_map(&self) -> Map<String, Value> {
        self.lock().data.clone()
    }
}

impl fmt::Debug for Session {
    // Not the values: a session holds what its client must not read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Session")
            .field("loaded", &state.loaded)
            .field("keys", &state.data.len())
            .field("changed", &state.changed)
            .finish()
    }
}

impl FromRequestParts for Session {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        parts.extensions.get::<Session>().cloned().ok_or_else(|| {
            tracing::error!(
                target: "kairos::web",
                "Session used on a route without a SessionLayer around it: add one with \
                 App::layer(SessionLayer::new(keys)) (or on its router)"
            );
            HttpError::internal()
        })
    }
}

/// A value that cannot be stored in a [`Session`], which keeps JSON: a bug of the program,
/// answered `500` with its cause in the log, when a handler returns it or turns it into an
/// [`HttpError`] with `?`.
///
/// ```
/// use std::collections::HashMap;
/// use kairos_web::cookies::Key;
/// use kairos_web::session::{Session, SessionLayer};
/// use kairos_web::{App, HttpError, TestClient};
///
/// async fn store(session: Session) -> Result<&'static str, HttpError> {
///     // JSON objects have string keys: a map keyed by pairs is no JSON.
///     let grid: HashMap<(u8, u8), bool> = HashMap::from([((0, 0), true)]);
///     session.insert("grid", grid)?;
///     Ok("stored")
/// }
///
/// let app = App::new().layer(SessionLayer::new(Key::generate())).post("/", store);
/// let client = TestClient::new(app);
/// let response = client.post("/").send();
/// assert_eq!(response.status(), 500);
/// assert_eq!(response.header("set-cookie"), None);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionError {
    /// `value` did not serialize to JSON.
    NotJson {
        /// The session key it was for.
        key: String,
        /// serde_json's reason.
        source: serde_json::Error,
    },
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::NotJson { key, source } => write!(
                f,
                "the value for session key {key:?} cannot be stored: it is not JSON ({source}); \
                 a session keeps JSON values: a map needs string keys, and the type's \
                 `Serialize` must not fail"
            ),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::NotJson { source, .. } => Some(source),
        }
    }
}

/// A `500`, with the cause in the log: a value the program tried to store is a bug of the
/// program, not of the request.
impl From<SessionError> for HttpError {
    fn from(error: SessionError) -> HttpError {
        tracing::error!(target: "kairos::web", "{error}; answered 500 Internal Server Error");
        HttpError::internal()
    }
}

/// A `500`, as its [`HttpError`].
impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        HttpError::from(self).into_response()
    }
}
