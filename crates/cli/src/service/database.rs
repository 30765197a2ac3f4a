//! The service's database: sqlx's `Any` driver over SQLite, the embedded default (a file,
//! nothing to install), or PostgreSQL when `--database-url` says `postgres://`. The schema is
//! migrated at startup; what the routes need is in `items.rs`.
//!
//! sqlx is a tokio library: the service's loops enter the tokio runtime beside them
//! (`kairos-tokio`), and its queries are awaited like any other future on the loop.

use std::fmt;
use std::time::Duration;

use kairos::web::http::StatusCode;
use kairos::web::{Exception, HttpError};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

/// Where the data lives by default: `kairos.db` in the working directory (FastAPI's tutorial
/// keeps `./sql_app.db` the same way), created on first start.
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://kairos.db?mode=rwc";

/// How long a request waits for a connection before it gets 503: a database that went away
/// must not hold requests for sqlx's default 30 s.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// The pool of the service's database.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    pub(crate) pool: AnyPool,
}

/// Why the database could not be opened at startup.
#[derive(Debug)]
pub(crate) struct OpenError {
    url: String,
    reason: String,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot open the database at {}: {} (check --database-url; the default, {}, needs \
             only a writable working directory)",
            self.url, self.reason, DEFAULT_DATABASE_URL
        )
    }
}

impl std::error::Error for OpenError {}

impl Database {
    /// Connects with a pool of `size` connections and migrates the schema.
    pub(crate) async fn open(url: &str, size: u32) -> Result<Database, OpenError> {
        let fail = |reason: String| OpenError { url: redact(url), reason };
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !postgres && !url.starts_with("sqlite:") {
            return Err(fail("the URL must start with sqlite: or postgres://".into()));
        }
        let pool = AnyPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !postgres {
            // Readers do not wait for the writer (the mode stays with the file; sqlx's SQLite
            // connections already wait up to 5 s for a lock instead of failing).
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        let migrator = if postgres { &POSTGRES } else { &SQLITE };
        migrator.run(&pool).await.map_err(|e| fail(format!("migrating the schema: {e}")))?;
        Ok(Database { pool })
    }
}

/// A URL without its password, for messages and logs: the one after `user:` and a
/// `password=` in its query.
fn redact(url: &str) -> String {
    let mut redacted = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => {
                    format!("{}{}:***{}", &url[..scheme + 3], &credentials[..colon], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    };
    if let Some(query) = redacted.find('?') {
        let hidden: Vec<String> = redacted[query + 1..]
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        redacted = format!("{}?{}", &redacted[..query], hidden.join("&"));
    }
    redacted
}

/// A failed query: what handlers that read the database return (`?` converts sqlx's
/// errors), answered app-wide by [`answer`] — the service's exception handler.
#[derive(Debug)]
pub(crate) enum DataError {
    /// No row with this id.
    NotFound(u64),
    /// The database failed.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for DataError {
    fn from(error: sqlx::Error) -> Self {
        DataError::Database(error)
    }
}

impl Exception for DataError {}

/// How the client sees a [`DataError`]: 404 for a missing row; 503 (retry shortly) while the
/// database is unreachable or its pool exhausted; 500 for anything else. Logged, except 404.
pub(crate) fn answer(error: DataError) -> HttpError {
    let error = match error {
        DataError::NotFound(id) => return HttpError::not_found(format!("no item {id}")),
        DataError::Database(error) => error,
    };
    let away = match &error {
        // The database answered: a query it refused is ours to fix (500), unless it said it
        // is going away (SQLSTATE class 08, connection exceptions; 57P, shutting down).
        sqlx::Error::Database(refusal) => {
            refusal.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    };
    if away {
        tracing::warn!(target: "kairos::serve", "database unavailable: {error}");
        HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is unavailable; retry shortly",
        )
    } else {
        tracing::error!(target: "kairos::serve", "database error: {error}");
        HttpError::internal()
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://kairos.db?mode=rwc"), "sqlite://kairos.db?mode=rwc");
        assert_eq!(
            redact("postgres://u@h/db?password=secret&x=1"),
            "postgres://u@h/db?password=***&x=1"
        );
    }
}
