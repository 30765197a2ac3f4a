//! [`CookieJar`]: the request's cookies, and the ones a handler sets or deletes.

use http::request::Parts;
use http::HeaderMap;

use super::{with_defaults, Cookie, Jar};
use crate::extract::FromRequestParts;
use crate::response::{IntoHeaders, IntoResponse, InvalidHeader};
use crate::{HttpError, Response};

/// The cookies of the request (Starlette's `request.cookies`), and the cookies a handler sets
/// and deletes (`response.set_cookie`, `response.delete_cookie`): take it as an argument,
/// change it, and return it with the response.
///
/// ```
/// use kairos_web::cookies::{Cookie, CookieJar};
/// use kairos_web::{App, TestClient};
///
/// // async def read(request): return request.cookies.get("theme", "light")
/// async fn read(jar: CookieJar) -> String {
///     jar.get("theme").map_or("light", Cookie::value).to_owned()
/// }
///
/// // response.set_cookie("theme", "dark", max_age=3600)
/// async fn set(jar: CookieJar) -> (CookieJar, &'static str) {
///     let cookie = Cookie::build(("theme", "dark")).max_age(kairos_web::cookies::time::Duration::hours(1));
///     (jar.add(cookie), "set")
/// }
///
/// // response.delete_cookie("theme")
/// async fn reset(jar: CookieJar) -> CookieJar {
///     jar.remove("theme")
/// }
///
/// let app = App::new().get("/", read).post("/dark", set).post("/reset", reset);
/// let client = TestClient::new(app);
/// assert_eq!(client.get("/").send().text(), "light");
/// assert_eq!(client.get("/").header("cookie", "theme=dark").send().text(), "dark");
/// assert_eq!(
///     client.post("/dark").send().header("set-cookie"),
///     Some("theme=dark; HttpOnly; SameSite=Lax; Path=/; Max-Age=3600")
/// );
/// assert_eq!(
///     client.post("/reset").send().header("set-cookie"),
///     Some("theme=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
/// );
/// ```
///
/// Reading is lenient (a malformed pair is skipped), a cookie added gets the defaults `Path=/`,
/// `SameSite=Lax` and `HttpOnly` unless it says otherwise, and a removal must name the path
/// and domain the cookie was set with: the [module](super) says why. Only the cookies added
/// or removed are sent back, one `Set-Cookie` header each.
///
/// For values the client must not change or read, use a [`SignedCookieJar`](super::SignedCookieJar)
/// or a [`PrivateCookieJar`](super::PrivateCookieJar); for a few named values read into a
/// typed struct, [`Cookies<T>`](crate::Cookies).
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    jar: Jar,
}

impl CookieJar {
    /// An empty jar: for a response that sets cookies without reading the request's.
    pub fn new() -> CookieJar {
        CookieJar::default()
    }

    /// The jar of the cookies in `headers`' `Cookie` headers (what the extractor does): for a
    /// middleware, which sees the request rather than arguments.
    pub fn from_headers(headers: &HeaderMap) -> CookieJar {
        CookieJar { jar: Jar::from_headers(headers) }
    }

    /// The cookie named `name`: the request's, or the one added since (`None` once removed).
    /// A request's cookie has a name and a value only: browsers do not send the attributes.
    pub fn get(&self, name: &str) -> Option<&Cookie<'static>> {
        self.jar.inner.get(name)
    }

    /// Sets `cookie` on the response, replacing one of the same name in this jar; it gets the
    /// [defaults](super#defaults) for the attributes it does not set. Takes a [`Cookie`], a
    /// [`CookieBuilder`](super::CookieBuilder) (`Cookie::build((name, value)).max_age(..)`)
    /// or a `(name, value)` pair.
    #[must_use = "the jar must be returned with the response for its cookies to be sent"]
    // `add`, as the cookie crate's and axum-extra's jars name it: not `+`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, cookie: impl Into<Cookie<'static>>) -> CookieJar {
        self.jar.inner.add(with_defaults(cookie.into()));
        self
    }

    /// Deletes the cookie on the client: sends a removal cookie for its name, with its path
    /// (`/` if it says none) and domain, which must be those it was set with. Takes a name
    /// (`jar.remove("theme")`) or a [`Cookie`] with a path or domain
    /// (`Cookie::build("theme").path("/docs")`).
    #[must_use = "the jar must be returned with the response for the removal to be sent"]
    pub fn remove(mut self, cookie: impl Into<Cookie<'static>>) -> CookieJar {
        self.jar.remove(cookie.into());
        self
    }

    /// The cookies as the client will have them after this response: the request's, with
    /// those added since and without those removed; in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Cookie<'static>> {
        self.jar.inner.iter()
    }
}

impl<'a> IntoIterator for &'a CookieJar {
    type Item = &'a Cookie<'static>;
    type IntoIter = cookie::Iter<'a>;

    fn into_iter(self) -> cookie::Iter<'a> {
        self.jar.inner.iter()
    }
}

impl FromRequestParts for CookieJar {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        Ok(CookieJar::from_headers(&parts.headers))
    }
}

/// One `Set-Cookie` header per cookie added or removed, *appended* to the response's (a
/// jar never replaces another's cookies).
impl IntoHeaders for CookieJar {
    fn into_headers(self, headers: &mut HeaderMap) -> Result<(), InvalidHeader> {
        self.jar.write(headers)
    }
}

/// An empty `200` with the jar's `Set-Cookie` headers.
impl IntoResponse for CookieJar {
    fn into_response(self) -> Response {
        (self, ()).into_response()
    }
}
