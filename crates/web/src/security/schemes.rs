//! The credentials a request carries, as extractors — FastAPI's `fastapi.security` classes —
//! each declaring its security scheme in the OpenAPI document (so `/docs` has its Authorize
//! button) and answering a request without credentials with `401` and the
//! `WWW-Authenticate` challenge its scheme defines.
//!
//! An extractor only *reads* credentials: whether they are good (a token's signature, a
//! password) is for the dependency that takes them (see [the module](super)).

use std::marker::PhantomData;

use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::extract::FromRequestParts;
use crate::openapi::Operation;
use crate::HttpError;

/// `401 Not authenticated` with the scheme's challenge (RFC 9110 §11.6.1).
fn not_authenticated(challenge: &str) -> HttpError {
    HttpError::unauthorized("Not authenticated").with_header("www-authenticate", challenge)
}

/// The credentials of `Authorization: <scheme> <credentials>`, the scheme matched without
/// regard to case (RFC 9110 §11.1); `None` when the header is absent, another scheme's, or
/// not text.
fn authorization<'a>(parts: &'a Parts, scheme: &str) -> Option<&'a str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (given, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    (given.eq_ignore_ascii_case(scheme) && !credentials.is_empty()).then_some(credentials)
}

/// Documents the 401 (and what the scheme is) on the operation.
fn declare(operation: &mut Operation<'_>, name: &str, scheme: Value, scopes: &[&str]) {
    operation.security(name, scheme, scopes);
    operation.error_response(StatusCode::UNAUTHORIZED, "Not authenticated");
}

/// A bearer token from `Authorization: Bearer <token>` (FastAPI's `HTTPBearer`): documented
/// as the HTTP `bearer` scheme. Missing: `401` with `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone)]
pub struct HttpBearer {
    /// The token, as sent.
    pub token: String,
}

impl FromRequestParts for HttpBearer {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        match authorization(parts, "bearer") {
            Some(token) => Ok(HttpBearer { token: token.to_owned() }),
            None => Err(not_authenticated("Bearer")),
        }
    }

    fn openapi(operation: &mut Operation<'_>) {
        declare(operation, "HTTPBearer", json!({"type": "http", "scheme": "bearer"}), &[]);
    }
}

/// An OAuth2 password flow's settings: where tokens are issued and the scopes there are — what
/// FastAPI's `OAuth2PasswordBearer(tokenUrl=..., scopes=...)` is given. Implemented by a
/// unit type of yours, named in [`OAuth2PasswordBearer<F>`].
///
/// ```
/// use kairos_web::security::OAuth2Password;
///
/// struct Login;
/// impl OAuth2Password for Login {
///     const TOKEN_URL: &'static str = "/token";
///     const SCOPES: &'static [(&'static str, &'static str)] = &[("admin", "Every user's items")];
/// }
/// ```
pub trait OAuth2Password: 'static {
    /// Where a client posts the login form for a token (relative to the document's server).
    const TOKEN_URL: &'static str;
    /// The scopes a token may carry, each with what it allows (shown by `/docs`).
    const SCOPES: &'static [(&'static str, &'static str)] = &[];
    /// The scheme's name in the document.
    const NAME: &'static str = "OAuth2PasswordBearer";
}

/// A bearer token for an OAuth2 password flow (FastAPI's `OAuth2PasswordBearer`): read as
/// [`HttpBearer`] is, documented as the flow `F` describes, so `/docs`' Authorize dialog asks
/// for a username and password and fetches the token itself.
pub struct OAuth2PasswordBearer<F> {
    /// The token, as sent.
    pub token: String,
    _flow: PhantomData<fn() -> F>,
}

impl<F> std::fmt::Debug for OAuth2PasswordBearer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2PasswordBearer").finish_non_exhaustive()
    }
}

impl<F> Clone for OAuth2PasswordBearer<F> {
    fn clone(&self) -> Self {
        OAuth2PasswordBearer { token: self.token.clone(), _flow: PhantomData }
    }
}

impl<F: OAuth2Password> OAuth2PasswordBearer<F> {
    /// The scheme as OpenAPI describes it.
    pub fn scheme() -> Value {
        let scopes: Map<String, Value> = F::SCOPES
            .iter()
            .map(|(scope, description)| ((*scope).to_owned(), (*description).into()))
            .collect();
        json!({
            "type": "oauth2",
            "flows": {"password": {"tokenUrl": F::TOKEN_URL, "scopes": scopes}},
        })
    }
}

impl<F: OAuth2Password> FromRequestParts for OAuth2PasswordBearer<F> {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        match authorization(parts, "bearer") {
            Some(token) => Ok(OAuth2PasswordBearer { token: token.to_owned(), _flow: PhantomData }),
            None => Err(not_authenticated("Bearer")),
        }
    }

    fn openapi(operation: &mut Operation<'_>) {
        declare(operation, F::NAME, Self::scheme(), &[]);
    }
}

/// Where an API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyIn {
    /// A request header (FastAPI's `APIKeyHeader`).
    Header,
    /// A query parameter (`APIKeyQuery`).
    Query,
    /// A cookie (`APIKeyCookie`).
    Cookie,
}

impl ApiKeyIn {
    fn as_str(self) -> &'static str {
        match self {
            ApiKeyIn::Header => "header",
            ApiKeyIn::Query => "query",
            ApiKeyIn::Cookie => "cookie",
        }
    }
}

/// An API key's name and place — implemented by a unit type of yours, named in
/// [`ApiKey<K>`].
///
/// ```
/// use kairos_web::security::{ApiKeyIn, ApiKeyName};
///
/// struct ServiceKey;
/// impl ApiKeyName for ServiceKey {
///     const NAME: &'static str = "x-api-key";
///     const IN: ApiKeyIn = ApiKeyIn::Header;
/// }
/// ```
pub trait ApiKeyName: 'static {
    /// The header, query parameter or cookie name.
    const NAME: &'static str;
    /// Where it is sent.
    const IN: ApiKeyIn;
    /// The scheme's name in the document.
    const SCHEME_NAME: &'static str = "APIKey";
}

/// An API key from a header, the query or a cookie, as `K` says (FastAPI's `APIKeyHeader`,
/// `APIKeyQuery`, `APIKeyCookie`). Missing: `401` with `WWW-Authenticate: APIKey` (a
/// challenge of its own: RFC 9110 leaves the scheme name to the application).
pub struct ApiKey<K> {
    /// The key, as sent.
    pub key: String,
    _name: PhantomData<fn() -> K>,
}

impl<K> std::fmt::Debug for ApiKey<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey").finish_non_exhaustive()
    }
}

impl<K> Clone for ApiKey<K> {
    fn clone(&self) -> Self {
        ApiKey { key: self.key.clone(), _name: PhantomData }
    }
}

impl<K: ApiKeyName> FromRequestParts for ApiKey<K> {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let key = match K::IN {
            ApiKeyIn::Header => {
                parts.headers.get(K::NAME).and_then(|value| value.to_str().ok()).map(str::to_owned)
            }
            ApiKeyIn::Query => parts.uri.query().and_then(|query| {
                form_urlencoded::parse(query.as_bytes())
                    .find(|(name, _)| name == K::NAME)
                    .map(|(_, value)| value.into_owned())
            }),
            ApiKeyIn::Cookie => parts
                .headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == K::NAME)
                .map(|(_, value)| value.to_owned()),
        };
        match key.filter(|key| !key.is_empty()) {
            Some(key) => Ok(ApiKey { key, _name: PhantomData }),
            None => Err(not_authenticated("APIKey")),
        }
    }

    fn openapi(operation: &mut Operation<'_>) {
        let scheme = json!({"type": "apiKey", "name": K::NAME, "in": K::IN.as_str()});
        declare(operation, K::SCHEME_NAME, scheme, &[]);
    }
}

/// A username and password from `Authorization: Basic <base64>` (FastAPI's `HTTPBasic`).
/// Missing: `401` with `WWW-Authenticate: Basic` (a browser then asks the user); present but
/// not `user:password` in base64 of UTF-8: `401 Invalid authentication credentials`.
#[derive(Clone)]
pub struct HttpBasic {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for HttpBasic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, even in a debug log.
        f.debug_struct("HttpBasic").field("username", &self.username).finish_non_exhaustive()
    }
}

impl FromRequestParts for HttpBasic {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let Some(encoded) = authorization(parts, "basic") else {
            return Err(not_authenticated("Basic"));
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        match decoded.as_deref().and_then(|text| text.split_once(':')) {
            Some((username, password)) => {
                Ok(HttpBasic { username: username.to_owned(), password: password.to_owned() })
            }
            None => Err(HttpError::unauthorized("Invalid authentication credentials")
                .with_header("www-authenticate", "Basic")),
        }
    }

    fn openapi(operation: &mut Operation<'_>) {
        declare(operation, "HTTPBasic", json!({"type": "http", "scheme": "basic"}), &[]);
    }
}

/// The login form of an OAuth2 password flow (FastAPI's `OAuth2PasswordRequestForm`): `username`,
/// `password`, the `scope`s asked for (one string, space-separated, as OAuth2 sends them) and
/// `grant_type` (`password` if present). Read it with `Form<OAuth2PasswordForm>`.
// (No links in this comment: it is the model's description in the OpenAPI document.)
#[derive(Clone, Deserialize, schemars::JsonSchema)]
pub struct OAuth2PasswordForm {
    /// `password`, if sent.
    #[serde(default)]
    #[schemars(regex(pattern = "^password$"))]
    pub grant_type: Option<String>,
    /// The username.
    #[schemars(length(min = 1))]
    pub username: String,
    /// The password.
    #[schemars(length(min = 1))]
    pub password: String,
    /// The scopes asked for, space-separated.
    #[serde(default)]
    pub scope: String,
}

impl OAuth2PasswordForm {
    /// The scopes asked for, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_ascii_whitespace()
    }
}

impl std::fmt::Debug for OAuth2PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2PasswordForm")
            .field("username", &self.username)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// `403 Not enough permissions` for an authenticated client without the `scope` a route
/// needs, with the challenge RFC 6750 §3.1 defines for it.
pub fn insufficient_scope(scope: &str) -> HttpError {
    HttpError::new(StatusCode::FORBIDDEN, "Not enough permissions").with_header(
        "www-authenticate",
        &format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
    )
}
