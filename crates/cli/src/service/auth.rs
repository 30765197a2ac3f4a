//! Users and logins — the chapter's next step, asynchronous authentication: `POST /users`
//! registers, `POST /token` trades a username and password for a bearer token (OAuth2's
//! password flow, so `/docs` can log in), `GET /users/me` answers who the token is for. And the
//! chapter's lesson on CPU work: `POST /login/bad` checks the password on the loop, beside
//! `/token`, which checks it on the CPU pool.
//!
//! Logins are limited per user (every attempt counts; a success starts again) and per client
//! address (failures only, so that many users behind one NAT can all sign in), with 429 and
//! `Retry-After`, in the service's cache: in memory by default, in Redis with
//! `--cache-url redis://...`, where the limit holds across every instance sharing it.

use std::net::IpAddr;
use std::time::Duration;

use kairos::web::http::StatusCode;
use kairos::web::security::{
    Claims, JwtKeys, OAuth2Password, OAuth2PasswordBearer, OAuth2PasswordForm, Passwords,
};
use kairos::web::{ClientAddr, Dependency, Depends, Form, HttpError, Json, State};
use kairos_cache::Cache;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::database::{answer, DataError, Database};

/// How long a token lasts (FastAPI's tutorial: 30 minutes).
const TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Logins for one username within [`LOGIN_WINDOW`] before it is refused with 429 (a success
/// starts the count again).
pub(crate) const LOGINS_PER_USER: u64 = 5;

/// Failed logins from one client address within [`LOGIN_WINDOW`], whatever the usernames,
/// before its logins are refused with 429 (a password sprayed over many users). Successes do
/// not count: a whole office behind one NAT signing in at nine is not an attack.
pub(crate) const FAILED_LOGINS_PER_ADDRESS: u64 = 50;

/// The window the login limits count in.
const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The scopes a token may carry.
pub(crate) const SCOPE_ME: &str = "me";
pub(crate) const SCOPE_ITEMS: &str = "items";
pub(crate) const SCOPE_ADMIN: &str = "admin";

/// The service's OAuth2 password flow, as `/docs` shows it.
pub(crate) struct Login;

impl OAuth2Password for Login {
    const TOKEN_URL: &'static str = "/token";
    const SCOPES: &'static [(&'static str, &'static str)] = &[
        (SCOPE_ME, "Read your own profile"),
        (SCOPE_ITEMS, "Read and write your own items"),
        (SCOPE_ADMIN, "Every user's items (admins only)"),
    ];
}

/// What logins need, made once for the App: the token keys, the hasher (on the CPU pool), the
/// login counters and who may be an admin.
#[derive(Clone)]
pub(crate) struct Auth {
    pub(crate) keys: JwtKeys,
    pub(crate) passwords: Passwords,
    pub(crate) limits: Cache,
    /// Usernames that get the admin right when they register (`--admin`).
    pub(crate) admins: std::sync::Arc<[String]>,
}

/// `POST /users`: who registers.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct NewUser {
    /// 3 to 32 characters: lower-case letters, digits, `_`, `.`, `-`.
    #[schemars(length(min = 3, max = 32), regex(pattern = r"^[a-z0-9_.-]+$"))]
    username: String,
    /// 8 to 128 characters.
    #[schemars(length(min = 8, max = 128))]
    password: String,
}

/// A user, as the service shows one (never the hash).
#[derive(Serialize, JsonSchema, Clone)]
pub(crate) struct User {
    id: i64,
    username: String,
    is_admin: bool,
}

/// `POST /token`'s answer (OAuth2's token response).
#[derive(Serialize, JsonSchema)]
pub(crate) struct Token {
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// The scopes granted, space-separated.
    scope: String,
    /// Seconds the token lasts.
    expires_in: u64,
}

fn data(error: sqlx::Error) -> HttpError {
    answer(DataError::Database(error))
}

/// `POST /users`: registers a user (the password hashed on the CPU pool); 409 if the name is
/// taken.
pub(crate) async fn register(
    State(db): State<Database>,
    State(auth): State<Auth>,
    Json(new): Json<NewUser>,
) -> Result<(StatusCode, Json<User>), HttpError> {
    let hash = auth.passwords.hash(&new.password).await.map_err(|error| {
        tracing::error!(target: "kairos::serve", "{error}");
        HttpError::internal()
    })?;
    let is_admin = auth.admins.contains(&new.username);
    let row = sqlx::query(
        "INSERT INTO users (username, password_hash, is_admin) VALUES ($1, $2, $3) \
         RETURNING id",
    )
    .bind(&new.username)
    .bind(hash)
    .bind(i64::from(is_admin))
    .fetch_one(&db.pool)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(refusal) if refusal.is_unique_violation() => {
            HttpError::new(StatusCode::CONFLICT, "that username is taken")
        }
        _ => data(error),
    })?;
    let user = User { id: row.try_get("id").map_err(data)?, username: new.username, is_admin };
    Ok((StatusCode::CREATED, Json(user)))
}

/// A user's row: the user and the stored hash.
async fn find(db: &Database, username: &str) -> Result<Option<(User, String)>, HttpError> {
    let row =
        sqlx::query("SELECT id, username, password_hash, is_admin FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&db.pool)
            .await
            .map_err(data)?;
    row.map(|row| {
        let user = User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        };
        Ok((user, row.try_get("password_hash")?))
    })
    .transpose()
    .map_err(data)
}

/// 429 with `Retry-After` (whole seconds, at least one).
fn too_many(left: Duration) -> HttpError {
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    HttpError::new(StatusCode::TOO_MANY_REQUESTS, "too many login attempts; retry later")
        .with_header("retry-after", &seconds.max(1).to_string())
}

/// Admits a login attempt for `username` from `client`, or refuses it with 429: the
/// address's failures are looked at (not counted: [`count_failure`] does that once the
/// password is known wrong), the user's attempts counted. A cache that fails does not lock
/// everyone out: the attempt goes on (and the failure is logged by the cache).
async fn admit_attempt(
    limits: &Cache,
    username: &str,
    client: Option<IpAddr>,
) -> Result<(), HttpError> {
    // The address first: an attempt it refuses does not use up the user's attempts (or a
    // sprayer locked out of one address would lock its victims out of every other).
    if let Some(ip) = client {
        if let Ok(Some((failed, left))) = limits.count(&address_key(ip)).await {
            if failed >= FAILED_LOGINS_PER_ADDRESS {
                return Err(too_many(left));
            }
        }
    }
    if let Ok((count, left)) = limits.increment(&format!("user:{username}"), LOGIN_WINDOW).await {
        if count > LOGINS_PER_USER {
            return Err(too_many(left));
        }
    }
    Ok(())
}

/// Counts a failed login against `client`'s address. Attempts in flight together were all
/// admitted before any counted, so the limit may be passed by as many as ran at once.
async fn count_failure(limits: &Cache, client: Option<IpAddr>) {
    if let Some(ip) = client {
        let _ = limits.increment(&address_key(ip), LOGIN_WINDOW).await;
    }
}

fn address_key(ip: IpAddr) -> String {
    format!("addr:{ip}")
}

fn incorrect() -> HttpError {
    HttpError::unauthorized("Incorrect username or password")
        .with_header("www-authenticate", "Bearer")
}

/// The scopes a login gets: those asked for that the user may have (all but admin when none
/// are asked for).
fn granted(form: &OAuth2PasswordForm, user: &User) -> Vec<String> {
    let allowed = |scope: &str| scope != SCOPE_ADMIN || user.is_admin;
    let asked: Vec<&str> = form.scopes().collect();
    if asked.is_empty() {
        return vec![SCOPE_ME.to_owned(), SCOPE_ITEMS.to_owned()];
    }
    Login::SCOPES
        .iter()
        .map(|(scope, _)| *scope)
        .filter(|scope| asked.contains(scope) && allowed(scope))
        .map(str::to_owned)
        .collect()
}

fn token_for(auth: &Auth, form: &OAuth2PasswordForm, user: &User) -> Token {
    let scopes = granted(form, user);
    Token {
        access_token: auth.keys.issue(&user.username, &scopes, TOKEN_LIFETIME),
        token_type: "bearer",
        scope: scopes.join(" "),
        expires_in: TOKEN_LIFETIME.as_secs(),
    }
}

/// Where a login checks its password.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// On the CPU pool: the loop serves others meanwhile.
    OnThePool,
    /// On the loop itself: the chapter's mistake.
    OnTheLoop,
}

/// A login, from its form to its token: the attempt counted, the user looked up, the
/// password checked where `check` says (against a decoy for an unknown user).
async fn log_in(
    db: &Database,
    auth: &Auth,
    client: Option<IpAddr>,
    form: &OAuth2PasswordForm,
    check: Check,
) -> Result<Json<Token>, HttpError> {
    admit_attempt(&auth.limits, &form.username, client).await?;
    let found = find(db, &form.username).await?;
    let stored = found.as_ref().map(|(_, hash)| hash.as_str());
    let matched = match check {
        Check::OnThePool => auth.passwords.verify(&form.password, stored).await,
        // The mistake, on purpose: tens of milliseconds of CPU on the loop.
        Check::OnTheLoop => auth.passwords.verify_blocking(&form.password, stored),
    };
    if !matched {
        count_failure(&auth.limits, client).await;
        return Err(incorrect());
    }
    let (user, _) = found.expect("a password matched, so the user exists");
    // A success starts the user's count again (the address's keeps counting).
    let _ = auth.limits.delete(&format!("user:{}", user.username)).await;
    Ok(Json(token_for(auth, form, &user)))
}

/// `POST /token`: the OAuth2 password flow's token endpoint. The password is checked on the
/// CPU pool, against a decoy when the user does not exist (same time, same answer).
pub(crate) async fn token(
    State(db): State<Database>,
    State(auth): State<Auth>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<OAuth2PasswordForm>,
) -> Result<Json<Token>, HttpError> {
    log_in(&db, &auth, client.map(|addr| addr.ip()), &form, Check::OnThePool).await
}

/// `POST /login/bad`: `/token` with the chapter's mistake — the password checked on the loop,
/// so every other request of this worker waits the hash out. One hash is ~20 ms, under
/// asyncio's 100 ms threshold: the stall detector names the route at `--slow-callback-ms 10`;
/// a storm of them keeps the loop from turning for seconds, which the supervisor reports.
pub(crate) async fn login_bad(
    State(db): State<Database>,
    State(auth): State<Auth>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<OAuth2PasswordForm>,
) -> Result<Json<Token>, HttpError> {
    log_in(&db, &auth, client.map(|addr| addr.ip()), &form, Check::OnTheLoop).await
}

/// The user a request's bearer token is for (FastAPI's `get_current_user`): the token
/// verified (401 if it is not valid), the user read from the database (401 if gone).
#[derive(Clone)]
pub(crate) struct CurrentUser {
    pub(crate) user: User,
    pub(crate) claims: Claims,
}

impl CurrentUser {
    /// 403 unless the token carries `scope`.
    pub(crate) fn require(&self, scope: &str) -> Result<(), HttpError> {
        if self.claims.has_scope(scope) {
            Ok(())
        } else {
            Err(kairos::web::security::insufficient_scope(scope))
        }
    }
}

impl Dependency for CurrentUser {
    type Inputs = (OAuth2PasswordBearer<Login>, State<Auth>, State<Database>);

    async fn resolve((bearer, State(auth), State(db)): Self::Inputs) -> Result<Self, HttpError> {
        let claims = auth.keys.verify(&bearer.token)?;
        match find(&db, &claims.sub).await? {
            Some((user, _)) => Ok(CurrentUser { user, claims }),
            None => Err(HttpError::unauthorized("Could not validate credentials")
                .with_header("www-authenticate", "Bearer error=\"invalid_token\"")),
        }
    }
}

/// Whose items a request may touch (the `/items` routes' dependency): from the bearer
/// token alone, without a database read — the user's own with the `items` scope, everyone's
/// with `admin`; 403 with neither.
#[derive(Clone)]
pub(crate) struct ItemsAccess {
    /// The token's user, who owns what it stores.
    pub(crate) owner: String,
    /// Every user's items (the admin scope).
    pub(crate) all: bool,
}

impl Dependency for ItemsAccess {
    type Inputs = (OAuth2PasswordBearer<Login>, State<Auth>);

    async fn resolve((bearer, State(auth)): Self::Inputs) -> Result<Self, HttpError> {
        let claims = auth.keys.verify(&bearer.token)?;
        let all = claims.has_scope(SCOPE_ADMIN);
        if !all && !claims.has_scope(SCOPE_ITEMS) {
            return Err(kairos::web::security::insufficient_scope(SCOPE_ITEMS));
        }
        Ok(ItemsAccess { owner: claims.sub, all })
    }
}

/// `GET /users/me`: who the token is for (scope `me`).
pub(crate) async fn me(Depends(current): Depends<CurrentUser>) -> Result<Json<User>, HttpError> {
    current.require(SCOPE_ME)?;
    Ok(Json(current.user))
}
