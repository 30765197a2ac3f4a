//! Cookies: read, set and delete them; signed and private (encrypted) cookies; named cookies
//! as a typed, validated struct.
//!
//! | Starlette / FastAPI | kairos-web |
//! |---|---|
//! | `request.cookies` | [`CookieJar`] argument: [`get`](CookieJar::get), [`iter`](CookieJar::iter) |
//! | `response.set_cookie(key, value, ...)` | return `(jar.add(Cookie::build((key, value))...), body)` |
//! | `response.delete_cookie(key)` | return `(jar.remove(key), body)` |
//! | `Annotated[str, Cookie()]` parameters | [`Cookies<T>`](crate::Cookies): a struct of named cookies, validated like `Query<T>` |
//! | itsdangerous-signed values | [`SignedCookieJar`]: readable by the client, not changeable (HMAC-SHA256) |
//! | (no equivalent) | [`PrivateCookieJar`]: neither readable nor changeable (AES-256-GCM) |
//! | `SessionMiddleware`, `request.session` | [`SessionLayer`](crate::session::SessionLayer), [`Session`](crate::session::Session) |
//!
//! The cookie format, percent-encoding, signing and encryption are the [`cookie`] crate's
//! (the one axum-extra, Rocket and actix use); kairos adds the extractors, the defaults below,
//! and how a jar becomes `Set-Cookie` headers.
//!
//! ## Reading: lenient
//!
//! A request's `Cookie` headers are split at `;` and each pair percent-decoded. A pair that
//! does not parse — no `=`, an empty name, a `%` escape that is not UTF-8 — is skipped, and the
//! others are read: a browser sends every cookie of its domain, some set by other software,
//! and one odd cookie must not make every request a `400`. When a name comes twice, the last
//! value counts (as Starlette's `request.cookies`). A value is given as it was sent, quotes
//! included: [`Cookie::value_trimmed`] drops a pair of surrounding double quotes.
//!
//! ## Writing: a jar is returned
//!
//! A handler takes a jar, changes it with [`add`](CookieJar::add) and
//! [`remove`](CookieJar::remove) (each returns the jar), and returns it with its response:
//! `(jar, body)`, `(StatusCode, jar, body)`, or the jar alone. Each cookie added or removed
//! becomes one `Set-Cookie` header, in the order of their names; the others are not sent
//! back. Jars nest in tuples, so a response can carry two — `(signed, (private, body))` — or
//! a jar and other headers:
//!
//! ```
//! use kairos_web::cookies::CookieJar;
//! use kairos_web::http::{header::LOCATION, StatusCode};
//! use kairos_web::{App, IntoResponse, TestClient};
//!
//! // Starlette: response = RedirectResponse("/", 303); response.set_cookie("seen", "1")
//! async fn welcome(jar: CookieJar) -> impl IntoResponse {
//!     (jar.add(("seen", "1")), (StatusCode::SEE_OTHER, [(LOCATION, "/")], ()))
//! }
//!
//! let client = TestClient::new(App::new().get("/welcome", welcome));
//! let response = client.get("/welcome").send();
//! assert_eq!(response.status(), 303);
//! assert_eq!(response.header("location"), Some("/"));
//! assert_eq!(response.header("set-cookie"), Some("seen=1; HttpOnly; SameSite=Lax; Path=/"));
//! ```
//!
//! ## Defaults
//!
//! A cookie added to a jar gets what it does not say itself:
//!
//! | attribute | default | why |
//! |---|---|---|
//! | `Path` | `/` | without one a browser scopes the cookie to the request's directory (`/account/login` sets it for `/account/` only), which surprises everyone; Starlette's `set_cookie` default too |
//! | `SameSite` | `Lax` | not sent on cross-site subrequests and form posts (CSRF), sent on links to the site; Starlette's and browsers' default |
//! | `HttpOnly` | on | a page's scripts cannot read the cookie, so an XSS bug cannot steal it. **Starlette's default is off**: a cookie meant for scripts says `.http_only(false)` |
//! | `Secure` | off | a `Secure` cookie is not sent over `http://`, which would break local development; behind HTTPS, say `.secure(true)` |
//! | `Max-Age`/`Expires` | none | a session cookie, gone when the browser closes; say `.max_age(Duration::days(30))` to keep it |
//! | `Domain` | none | the cookie goes back to the host that set it only, not its subdomains |
//!
//! Set an attribute explicitly to override its default: `Cookie::build(("theme",
//! "dark")).http_only(false).path("/docs")`.
//!
//! Removing sends a *removal cookie*: the name with an empty value, `Max-Age=0` and `Expires`
//! at 1970-01-01, so that every browser drops it — **with the same `Path` and `Domain`** the
//! cookie was set with, or the browser keeps the original (`Path` defaults to `/` here too).
//! It is sent whether or not the request carried the cookie, as Starlette's `delete_cookie`:
//! a browser may hold it under a path this request did not match.
//!
//! ## Keys
//!
//! [`SignedCookieJar`] and [`PrivateCookieJar`] take their [`Key`]s from the App's state, as
//! [`CookieKeys`]: `App::new().with_state(CookieKeys::new(key))`. A key is 64 bytes (32 to
//! sign, 32 to encrypt): [`Key::try_from`] a secret of at least 64 random bytes kept outside
//! the code (an environment variable, a secret store), or [`Key::generate`] — random, so
//! every cookie signed with it is worthless once the process restarts (all workers of one
//! process share it). To change the key without logging everyone out, keep the old one as a
//! *previous* key: cookies it signed are still read, new ones are signed with the new key
//! ([`CookieKeys::with_previous`]).
//!
//! A cookie that was tampered with, signed with another key, or is not signed at all reads
//! as absent — never as an error: what a client sends is untrusted input, not a fault of the
//! server.

mod jar;
mod keyed;
mod typed;

use std::fmt;

use http::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};

pub use cookie::time;
pub use cookie::{Cookie, CookieBuilder, Expiration, Key, KeyError, SameSite};
pub use jar::CookieJar;
pub use keyed::{PrivateCookieJar, SignedCookieJar};
pub use typed::Cookies;

use crate::response::InvalidHeader;

/// The keys signed and private cookies are made with: the [`current`](CookieKeys::current)
/// one, which signs and encrypts, and previous ones that are still accepted when reading
/// (key rotation). Given to the App as its state, where [`SignedCookieJar`] and
/// [`PrivateCookieJar`] find it.
///
/// ```
/// use kairos_web::cookies::{CookieKeys, Key, SignedCookieJar};
/// use kairos_web::{App, TestClient};
///
/// // In production, from a secret of at least 64 random bytes kept outside the code:
/// // let key = Key::try_from(secret.as_slice())?;
/// let key = Key::generate(); // random: cookies signed with it die with the process
///
/// async fn login(jar: SignedCookieJar) -> (SignedCookieJar, &'static str) {
///     (jar.add(("user", "ada")), "signed in")
/// }
///
/// let app = App::new().with_state(CookieKeys::new(key)).post("/login", login);
/// let client = TestClient::new(app);
/// let set_cookie = client.post("/login").send().header("set-cookie").unwrap().to_owned();
/// // The value is readable (signed, not encrypted), after its signature.
/// assert!(set_cookie.starts_with("user=") && set_cookie.contains("ada; HttpOnly"));
/// ```
///
/// Rotation: make the new key current and keep the old one as previous until every cookie
/// it signed has expired or been re-set.
///
/// ```
/// use kairos_web::cookies::{CookieKeys, Key};
///
/// # let (old, new) = (Key::generate(), Key::generate());
/// let keys = CookieKeys::new(new).with_previous(old);
/// # drop(kairos_web::App::new().with_state(keys));
/// ```
#[derive(Clone)]
pub struct CookieKeys {
    current: Key,
    previous: Vec<Key>,
}

impl CookieKeys {
    /// Cookies signed and encrypted with `current`, and read with it only.
    pub fn new(current: Key) -> CookieKeys {
        CookieKeys { current, previous: Vec::new() }
    }

    /// Also reads cookies made with `previous` (a key being retired); tried after the current
    /// key and the previous keys added before it. New cookies are always made with the
    /// current key: a cookie read with a previous one is upgraded when the handler adds it
    /// again.
    pub fn with_previous(mut self, previous: Key) -> CookieKeys {
        self.previous.push(previous);
        self
    }

    /// The key new cookies are signed and encrypted with.
    pub fn current(&self) -> &Key {
        &self.current
    }

    /// Every key a cookie is read with: the current one first, then the previous ones.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

impl From<Key> for CookieKeys {
    fn from(key: Key) -> CookieKeys {
        CookieKeys::new(key)
    }
}

impl fmt::Debug for CookieKeys {
    // Never the keys' bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieKeys").field("previous", &self.previous.len()).finish_non_exhaustive()
    }
}

/// Every cookie of a request's `Cookie` headers, percent-decoded, in order; pairs that do not
/// parse are skipped (see the [module](self)).
pub(crate) fn request_cookies(headers: &HeaderMap) -> impl Iterator<Item = Cookie<'static>> + '_ {
    headers.get_all(COOKIE).iter().flat_map(|value| {
        // Browsers send UTF-8 in cookies (`document.cookie = "name=é"`), which a header value's
        // `to_str` refuses; bytes that are not UTF-8 spoil only their own pair.
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        Cookie::split_parse_encoded(text).filter_map(Result::ok)
    })
}

/// `cookie` with the defaults of the [module](self) for what it does not say.
pub(crate) fn with_defaults(mut cookie: Cookie<'static>) -> Cookie<'static> {
    if cookie.path().is_none() {
        cookie.set_path("/");
    }
    if cookie.same_site().is_none() {
        cookie.set_same_site(SameSite::Lax);
    }
    if cookie.http_only().is_none() {
        cookie.set_http_only(true);
    }
    cookie
}

/// The cookies of a request and what a handler changed: the core of every jar.
#[derive(Debug, Clone, Default)]
pub(crate) struct Jar {
    inner: cookie::CookieJar,
}

impl Jar {
    /// The jar of a request's cookies, with no changes.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Jar {
        let mut inner = cookie::CookieJar::new();
        for cookie in request_cookies(headers) {
            inner.add_original(cookie);
        }
        Jar { inner }
    }

    /// Removes `cookie` (its name, path and domain): a removal cookie is sent whether or not
    /// the request carried it.
    pub(crate) fn remove(&mut self, cookie: Cookie<'static>) {
        let mut cookie = cookie;
        if cookie.path().is_none() {
            cookie.set_path("/");
        }
        // `cookie::CookieJar` sends a removal only for a cookie the request carried: make it
        // one (its value does not matter, the removal replaces it).
        self.inner.add_original(Cookie::new(cookie.name().to_owned(), ""));
        self.inner.remove(cookie);
    }

    /// Appends one `Set-Cookie` per cookie added or removed, in the order of their names.
    pub(crate) fn write(&self, headers: &mut HeaderMap) -> Result<(), InvalidHeader> {
        let mut changed: Vec<&Cookie<'static>> = self.inner.delta().collect();
        changed.sort_by(|a, b| a.name().cmp(b.name()));
        for cookie in changed {
            let line = if cookie.max_age() == Some(time::Duration::ZERO) {
                // A removal: `Expires` at the epoch, as Starlette's, rather than the cookie
                // crate's "a year before now" (the same to a browser, and the same every day).
                let mut removal = cookie.clone();
                removal.set_expires(time::OffsetDateTime::UNIX_EPOCH);
                removal.encoded().to_string()
            } else {
                cookie.encoded().to_string()
            };
            let value =
                HeaderValue::try_from(line).map_err(|e| InvalidHeader::value(&SET_COOKIE, e))?;
            headers.append(SET_COOKIE, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in cookies {
            headers.append(COOKIE, HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    #[test]
    fn malformed_pairs_are_skipped_and_the_others_read() {
        let headers = headers(&[b"a=1; novalue; =x; b=%FF%FE; c=caf\xc3\xa9", b"d=x%20y;;e=\"q\""]);
        let read: Vec<(String, String)> = request_cookies(&headers)
            .map(|c| (c.name().to_owned(), c.value().to_owned()))
            .collect();
        let expected = [("a", "1"), ("c", "café"), ("d", "x y"), ("e", "\"q\"")];
        assert_eq!(read, expected.map(|(n, v)| (n.to_owned(), v.to_owned())));
    }

    #[test]
    fn the_last_of_a_repeated_name_counts() {
        let jar = Jar::from_headers(&headers(&[b"a=1; a=2"]));
        assert_eq!(jar.inner.get("a").map(Cookie::value), Some("2"));
    }

    #[test]
    fn defaults_fill_only_what_a_cookie_does_not_say() {
        let plain = with_defaults(Cookie::new("a", "1"));
        assert_eq!(plain.to_string(), "a=1; HttpOnly; SameSite=Lax; Path=/");
        let own = Cookie::build(("a", "1"))
            .path("/docs")
            .http_only(false)
            .same_site(SameSite::Strict)
            .secure(true)
            .build();
        assert_eq!(with_defaults(own).to_string(), "a=1; SameSite=Strict; Secure; Path=/docs");
    }
}
