//! Security — FastAPI's `fastapi.security` and what its tutorials build with it: reading
//! credentials, tokens, and passwords, each the way that keeps the loop free and the service
//! honest.
//!
//! | FastAPI | kairos-web |
//! |---|---|
//! | `OAuth2PasswordBearer(tokenUrl="token")` | [`OAuth2PasswordBearer<F>`], `F:` [`OAuth2Password`] |
//! | `OAuth2PasswordRequestForm = Depends()` | [`Form<OAuth2PasswordForm>`](crate::Form) |
//! | `HTTPBearer()` | [`HttpBearer`] |
//! | `APIKeyHeader(name=...)`, `APIKeyQuery`, `APIKeyCookie` | [`ApiKey<K>`], `K:` [`ApiKeyName`] |
//! | `HTTPBasic()` | [`HttpBasic`] |
//! | `jwt.encode` / `jwt.decode` (PyJWT) | [`JwtKeys::issue`] / [`JwtKeys::verify`] |
//! | `passlib`'s `CryptContext(schemes=["argon2"])` | [`Passwords`], hashing on a thread pool |
//! | `HTTPException(403, headers={"WWW-Authenticate": ...})` for a scope | [`insufficient_scope`] |
//!
//! ## The model
//!
//! - **An extractor reads credentials; a dependency decides.** The scheme extractors take a
//!   token, a key or a username and password from the request and answer `401` with their
//!   scheme's `WWW-Authenticate` challenge when there is none — nothing more. A dependency of
//!   yours (FastAPI's `get_current_user`) takes one as its input, verifies it (a token's
//!   signature and expiry with [`JwtKeys`], a password with [`Passwords`], a key against a
//!   table) and returns the user, or `401`; a route needing a scope the user lacks answers
//!   `403` ([`insufficient_scope`]).
//! - **Each extractor declares its scheme** in the OpenAPI document: the scheme under
//!   `components/securitySchemes`, the requirement on the operation, its `401` among the
//!   responses — so `/docs` shows the Authorize button and sends the credentials.
//! - **Hashing never runs on the loop.** A password hash costs tens of milliseconds of CPU on
//!   purpose; [`Passwords`] runs every hash and every check on a thread pool, and checks a
//!   decoy for unknown users so that a login's time does not tell whether the user exists.
//! - **Tokens name their key.** [`JwtKeys`] signs with one key and verifies with any it
//!   holds, each tied to one algorithm: rotation without logging everyone out, and no
//!   algorithm confusion (`alg: none` is refused).
//!
//! ## Layout
//!
//! | module | what it holds |
//! |---|---|
//! | `schemes.rs` | the credential extractors and the login form |
//! | `jwt.rs` | [`JwtKeys`], [`Claims`], [`TokenError`] |
//! | `password.rs` | [`Passwords`], [`PasswordError`] |

mod jwt;
mod password;
mod schemes;

pub use jwt::{Claims, JwtKeys, TokenError};
pub use password::{PasswordError, Passwords};
pub use schemes::{
    insufficient_scope, ApiKey, ApiKeyIn, ApiKeyName, HttpBasic, HttpBearer, OAuth2Password,
    OAuth2PasswordBearer, OAuth2PasswordForm,
};
