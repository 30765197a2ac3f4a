//! [`SignedCookieJar`] and [`PrivateCookieJar`]: cookies the client cannot change, or read.

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;

use http::request::Parts;
use http::HeaderMap;

use super::{with_defaults, Cookie, CookieKeys, Jar, Key};
use crate::extract::{FromRequestParts, RouteContext};
use crate::response::{IntoHeaders, IntoResponse, InvalidHeader};
use crate::{HttpError, Response};

/// The App's [`CookieKeys`], or the 500 of a jar used in an App that has none (`what` names
/// the jar in the log).
fn keys_of(parts: &Parts, what: &str) -> Result<Arc<CookieKeys>, HttpError> {
    RouteContext::of(parts, what)?
        .states
        .0
        .get(&TypeId::of::<CookieKeys>())
        .and_then(|state| Arc::clone(state).downcast::<CookieKeys>().ok())
        .ok_or_else(|| {
            tracing::error!(
                target: "kairos::web",
                "{what} needs the App's cookie keys: register them with \
                 App::with_state(CookieKeys::new(key))"
            );
            HttpError::internal()
        })
}

/// The cookies of the request whose signature holds, and the signed cookies a handler sets
/// and deletes: values a client can read but not change — a user id, a preference that must
/// not be forged.
///
/// Each value is sent after its HMAC-SHA256 signature, made with the current key of the App's
/// [`CookieKeys`] over the cookie's name and value: a value signed for one cookie does not
/// verify under another name. (The cookie crate's own signed jar signs the value alone, so
/// cookies it signed — axum-extra's, Rocket's — do not verify here, even with the same key.)
/// A cookie whose signature does not hold — changed by the client, made with another key, or
/// never signed — reads as absent, as does one signed for another name.
///
/// ```
/// use kairos_web::cookies::{CookieKeys, Key, SignedCookieJar};
/// use kairos_web::{App, HttpError, TestClient};
///
/// async fn login(jar: SignedCookieJar) -> (SignedCookieJar, &'static str) {
///     (jar.add(("user_id", "42")), "welcome")
/// }
///
/// async fn me(jar: SignedCookieJar) -> Result<String, HttpError> {
///     match jar.get("user_id") {
///         Some(cookie) => Ok(format!("user {}", cookie.value())),
///         None => Err(HttpError::unauthorized("Not authenticated")),
///     }
/// }
///
/// let app = App::new()
///     .with_state(CookieKeys::new(Key::generate()))
///     .post("/login", login)
///     .get("/me", me);
/// let client = TestClient::new(app);
/// let set_cookie = client.post("/login").send().header("set-cookie").unwrap().to_owned();
/// let cookie = set_cookie.split(';').next().unwrap(); // "user_id=<signature>42"
/// assert_eq!(client.get("/me").header("cookie", cookie).send().text(), "user 42");
///
/// // The client changes its id: the signature no longer holds, the cookie is absent.
/// let forged = format!("{}7", cookie.strip_suffix('2').unwrap());
/// assert_eq!(client.get("/me").header("cookie", &forged).send().status(), 401);
/// assert_eq!(client.get("/me").header("cookie", "user_id=42").send().status(), 401);
/// ```
///
/// Without [`CookieKeys`] in the App's state, a request to a handler that takes this jar is
/// answered 500, and the log says what to register. Adding, removing and returning work as
/// [`CookieJar`](super::CookieJar)'s, with the same [defaults](super#defaults).
#[derive(Clone)]
pub struct SignedCookieJar {
    jar: Jar,
    keys: Arc<CookieKeys>,
}

impl SignedCookieJar {
    /// An empty jar that signs with `keys` (a [`CookieKeys`], or an `Arc` of one).
    pub fn new(keys: impl Into<Arc<CookieKeys>>) -> SignedCookieJar {
        SignedCookieJar { jar: Jar::default(), keys: keys.into() }
    }

    /// The jar of the cookies in `headers`' `Cookie` headers, read and signed with `keys`:
    /// what the extractor does, for a middleware.
    pub fn from_headers(headers: &HeaderMap, keys: impl Into<Arc<CookieKeys>>) -> SignedCookieJar {
        SignedCookieJar { jar: Jar::from_headers(headers), keys: keys.into() }
    }

    /// The cookie named `name` with its signature checked and removed, or `None` if it is
    /// absent or its signature does not hold with any of the keys.
    pub fn get(&self, name: &str) -> Option<Cookie<'static>> {
        self.jar.inner.get(name).and_then(|cookie| self.verified(cookie))
    }

    /// Sets `cookie` on the response, signed with the current key; as
    /// [`CookieJar::add`](super::CookieJar::add) otherwise.
    #[must_use = "the jar must be returned with the response for its cookies to be sent"]
    // `add`, as the cookie crate's and axum-extra's jars name it: not `+`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, cookie: impl Into<Cookie<'static>>) -> SignedCookieJar {
        self.jar.inner.add(sign(self.keys.current(), with_defaults(cookie.into())));
        self
    }

    /// Deletes the cookie on the client, as [`CookieJar::remove`](super::CookieJar::remove).
    #[must_use = "the jar must be returned with the response for the removal to be sent"]
    pub fn remove(mut self, cookie: impl Into<Cookie<'static>>) -> SignedCookieJar {
        self.jar.remove(cookie.into());
        self
    }

    /// The cookies whose signature holds, as the client will have them after this response
    /// (see [`CookieJar::iter`](super::CookieJar::iter)); the others are left out.
    pub fn iter(&self) -> impl Iterator<Item = Cookie<'static>> + '_ {
        self.jar.inner.iter().filter_map(|cookie| self.verified(cookie))
    }

    fn verified(&self, cookie: &Cookie<'static>) -> Option<Cookie<'static>> {
        self.keys.all().find_map(|key| verify(&self.jar.inner, key, cookie))
    }
}

/// The length of a signature as the cookie crate writes it: an HMAC-SHA256 (32 bytes) in
/// padded base64.
const SIGNATURE_LEN: usize = 44;

/// What is signed for a cookie: its name and value, the name's length first so that no two
/// cookies have the same message (a name may hold `=`, percent-encoded).
fn message(name: &str, value: &str) -> String {
    format!("{}:{name}{value}", name.len())
}

/// `cookie` with its value after the signature of its name and value.
///
/// The cookie crate signs a value alone, so a value signed for one cookie would verify under
/// another name (`admin=<signed value of user>`); it is asked for the signature of
/// [`message`] instead, and the cookie sent is `<signature><value>`, as the crate's own.
fn sign(key: &Key, mut cookie: Cookie<'static>) -> Cookie<'static> {
    let name = cookie.name().to_owned();
    let mut scratch = cookie::CookieJar::new();
    scratch.signed_mut(key).add(Cookie::new(name.clone(), message(&name, cookie.value())));
    let signed = scratch.get(&name).map(Cookie::value).unwrap_or_default();
    let value = format!("{}{}", &signed[..SIGNATURE_LEN.min(signed.len())], cookie.value());
    cookie.set_value(value);
    cookie
}

/// `cookie` with its value alone, if its signature holds for its name and value with `key`.
fn verify(jar: &cookie::CookieJar, key: &Key, cookie: &Cookie<'static>) -> Option<Cookie<'static>> {
    let sent = cookie.value();
    // Too short, or a multi-byte character across the signature's end.
    if !sent.is_char_boundary(SIGNATURE_LEN) {
        return None;
    }
    let (signature, value) = sent.split_at(SIGNATURE_LEN);
    let signed = format!("{signature}{}", message(cookie.name(), value));
    jar.signed(key).verify(Cookie::new(cookie.name().to_owned(), signed))?;
    let mut verified = cookie.clone();
    verified.set_value(value.to_owned());
    Some(verified)
}

impl fmt::Debug for SignedCookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedCookieJar").field("jar", &self.jar).finish_non_exhaustive()
    }
}

impl FromRequestParts for SignedCookieJar {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let keys = keys_of(parts, "SignedCookieJar")?;
        Ok(SignedCookieJar::from_headers(&parts.headers, keys))
    }
}

/// One `Set-Cookie` header per cookie added or removed, appended to the response's.
impl IntoHeaders for SignedCookieJar {
    fn into_headers(self, headers: &mut HeaderMap) -> Result<(), InvalidHeader> {
        self.jar.write(headers)
    }
}

/// An empty `200` with the jar's `Set-Cookie` headers.
impl IntoResponse for SignedCookieJar {
    fn into_response(self) -> Response {
        (self, ()).into_response()
    }
}

/// The cookies of the request that decrypt, and the encrypted cookies a handler sets and
/// deletes: values a client can neither read nor change — what a browser should carry but
/// its user should not see.
///
/// Each value is encrypted and authenticated with AES-256-GCM under the current key of the
/// App's [`CookieKeys`] (a fresh random nonce per cookie, the cookie's name as associated
/// data), then base64-encoded. A cookie that does not decrypt — changed, made with another
/// key or for another name, or never encrypted — reads as absent.
///
/// ```
/// use kairos_web::cookies::{CookieKeys, Key, PrivateCookieJar};
/// use kairos_web::{App, TestClient};
///
/// async fn remember(jar: PrivateCookieJar) -> (PrivateCookieJar, &'static str) {
///     (jar.add(("plan", "gold")), "noted")
/// }
///
/// async fn plan(jar: PrivateCookieJar) -> String {
///     jar.get("plan").map_or("none".to_owned(), |cookie| cookie.value().to_owned())
/// }
///
/// let app = App::new()
///     .with_state(CookieKeys::new(Key::generate()))
///     .post("/remember", remember)
///     .get("/plan", plan);
/// let client = TestClient::new(app);
/// let set_cookie = client.post("/remember").send().header("set-cookie").unwrap().to_owned();
/// assert!(!set_cookie.contains("gold")); // the client cannot read it
/// let cookie = set_cookie.split(';').next().unwrap();
/// assert_eq!(client.get("/plan").header("cookie", cookie).send().text(), "gold");
/// assert_eq!(client.get("/plan").header("cookie", "plan=gold").send().text(), "none");
/// ```
///
/// Without [`CookieKeys`] in the App's state, a request to a handler that takes this jar is
/// answered 500, and the log says what to register. Adding, removing and returning work as
/// [`CookieJar`](super::CookieJar)'s, with the same [defaults](super#defaults). Encryption
/// makes a value about a third longer, plus 40 bytes: mind the 4 KB a browser keeps per
/// cookie.
#[derive(Clone)]
pub struct PrivateCookieJar {
    jar: Jar,
    keys: Arc<CookieKeys>,
}

impl PrivateCookieJar {
    /// An empty jar that encrypts with `keys` (a [`CookieKeys`], or an `Arc` of one).
    pub fn new(keys: impl Into<Arc<CookieKeys>>) -> PrivateCookieJar {
        PrivateCookieJar { jar: Jar::default(), keys: keys.into() }
    }

    /// The jar of the cookies in `headers`' `Cookie` headers, read and encrypted with `keys`:
    /// what the extractor does, for a middleware.
    pub fn from_headers(headers: &HeaderMap, keys: impl Into<Arc<CookieKeys>>) -> PrivateCookieJar {
        PrivateCookieJar { jar: Jar::from_headers(headers), keys: keys.into() }
    }

    /// The cookie named `name`, decrypted, or `None` if it is absent or does not decrypt
    /// with any of the keys.
    pub fn get(&self, name: &str) -> Option<Cookie<'static>> {
        self.jar.inner.get(name).and_then(|cookie| self.decrypted(cookie))
    }

    /// Sets `cookie` on the response, encrypted with the current key; as
    /// [`CookieJar::add`](super::CookieJar::add) otherwise.
    #[must_use = "the jar must be returned with the response for its cookies to be sent"]
    // `add`, as the cookie crate's and axum-extra's jars name it: not `+`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, cookie: impl Into<Cookie<'static>>) -> PrivateCookieJar {
        self.jar.inner.private_mut(self.keys.current()).add(with_defaults(cookie.into()));
        self
    }

    /// Deletes the cookie on the client, as [`CookieJar::remove`](super::CookieJar::remove).
    #[must_use = "the jar must be returned with the response for the removal to be sent"]
    pub fn remove(mut self, cookie: impl Into<Cookie<'static>>) -> PrivateCookieJar {
        self.jar.remove(cookie.into());
        self
    }

    /// The cookies that decrypt, decrypted, as the client will have them after this
    /// response (see [`CookieJar::iter`](super::CookieJar::iter)); the others are left out.
    pub fn iter(&self) -> impl Iterator<Item = Cookie<'static>> + '_ {
        self.jar.inner.iter().filter_map(|cookie| self.decrypted(cookie))
    }

    fn decrypted(&self, cookie: &Cookie<'static>) -> Option<Cookie<'static>> {
        self.keys.all().find_map(|key| self.jar.inner.private(key).decrypt(cookie.clone()))
    }
}

impl fmt::Debug for PrivateCookieJar {
    // The names only: the values are what the client must not read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.jar.inner.iter().map(Cookie::name).collect();
        f.debug_struct("PrivateCookieJar").field("names", &names).finish_non_exhaustive()
    }
}

impl FromRequestParts for PrivateCookieJar {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let keys = keys_of(parts, "PrivateCookieJar")?;
        Ok(PrivateCookieJar::from_headers(&parts.headers, keys))
    }
}

/// One `Set-Cookie` header per cookie added or removed, appended to the response's.
impl IntoHeaders for PrivateCookieJar {
    fn into_headers(self, headers: &mut HeaderMap) -> Result<(), InvalidHeader> {
        self.jar.write(headers)
    }
}

/// An empty `200` with the jar's `Set-Cookie` headers.
impl IntoResponse for PrivateCookieJar {
    fn into_response(self) -> Response {
        (self, ()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_cookie_crate_s_length_and_binds_the_name() {
        let key = Key::generate();
        let jar = cookie::CookieJar::new();
        let signed = sign(&key, Cookie::new("user", "42"));
        assert_eq!(signed.value().len(), SIGNATURE_LEN + 2);
        assert!(signed.value().ends_with("42"));
        assert_eq!(verify(&jar, &key, &signed).map(|c| c.value().to_owned()), Some("42".into()));
        let moved = Cookie::new("admin", signed.value().to_owned());
        assert_eq!(verify(&jar, &key, &moved), None);
        // Name and value cannot trade characters: `a=` + `b=c` is not `a=b` + `c`.
        let one = sign(&key, Cookie::new("a=b", "c"));
        let other = Cookie::new("a", format!("{}b=c", &one.value()[..SIGNATURE_LEN]));
        assert_eq!(verify(&jar, &key, &other), None);
        assert_eq!(verify(&jar, &key, &Cookie::new("user", "short")), None);
        assert_eq!(verify(&jar, &key, &Cookie::new("user", format!("x{}", "é".repeat(30)))), None);
    }
}
