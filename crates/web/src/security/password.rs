//! Password hashing off the loop: argon2id (the `argon2` crate, RustCrypto's), run on a
//! thread pool — the chapter's `run_in_executor` around `hashlib.pbkdf2_hmac`, made the only
//! way in.
//!
//! A hash is deliberately slow (tens of milliseconds of CPU: that is what makes guessing
//! expensive), so on the loop it would stall every other request of the worker; here each hash
//! and each check is a job on the pool, and the loop awaits it. A check of a password against
//! no stored hash (an unknown user) still computes a hash of the same cost, so a login for a
//! name that does not exist takes as long as one with a wrong password: no user enumeration
//! by timing. The comparison itself is constant-time (argon2's).

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use kairos_rt::ThreadPool;

/// Hashes and checks passwords on a thread pool. Cheap to clone (shared), `Send + Sync`.
///
/// ```no_run
/// use kairos_web::security::Passwords;
/// use kairos_web::rt::ThreadPool;
///
/// # kairos_web::rt::run(async {
/// let passwords = Passwords::new(ThreadPool::new(2));
/// let stored = passwords.hash("correct horse").await.unwrap(); // a PHC string: $argon2id$...
/// assert!(passwords.verify("correct horse", Some(&stored)).await);
/// assert!(!passwords.verify("wrong", Some(&stored)).await);
/// assert!(!passwords.verify("anything", None).await); // same cost as a wrong password
/// # });
/// ```
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    argon: Argon2<'static>,
    pool: ThreadPool,
    /// A hash of nothing in particular, checked against for unknown users (made on the pool
    /// at the first such check).
    decoy: OnceLock<String>,
}

/// Why a password could not be hashed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PasswordError {
    /// The pool is shut down, or the job panicked.
    Pool(kairos_rt::executor::JobError),
    /// argon2 refused (a password longer than it takes, say).
    Hash(argon2::password_hash::Error),
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordError::Pool(error) => write!(f, "the hashing pool failed: {error}"),
            PasswordError::Hash(error) => write!(f, "the password could not be hashed: {error}"),
        }
    }
}

impl std::error::Error for PasswordError {}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let params = self.inner.argon.params();
        f.debug_struct("Passwords")
            .field("memory_kib", &params.m_cost())
            .field("iterations", &params.t_cost())
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// argon2id with OWASP's first recommended setting (19 MiB of memory, 2 iterations, one
    /// lane), hashing on `pool`.
    pub fn new(pool: ThreadPool) -> Passwords {
        Passwords::with_cost(pool, 19 * 1024, 2)
    }

    /// argon2id with `memory_kib` KiB of memory and `iterations` passes. Stored hashes carry
    /// their own settings, so hashes made with other settings still verify.
    ///
    /// # Panics
    ///
    /// If argon2 refuses the settings (memory under 8 KiB, no iterations).
    pub fn with_cost(pool: ThreadPool, memory_kib: u32, iterations: u32) -> Passwords {
        let params = Params::new(memory_kib, iterations, 1, None).expect("valid argon2 settings");
        let inner = Arc::new(Inner {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            pool,
            decoy: OnceLock::new(),
        });
        // The decoy is made now, off the loop and off the pool, so that the first login of an
        // unknown user does not pay for it (and take longer than a known user's).
        let making = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("kairos-password-decoy".into())
            .spawn(move || {
                making.decoy();
            })
            .expect("a thread for the decoy hash");
        Passwords { inner }
    }

    /// A hash of `password` with a fresh salt, as a PHC string (`$argon2id$v=19$m=...`), made
    /// on the pool.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let inner = Arc::clone(&self.inner);
        let password = password.to_owned();
        kairos_rt::run_in_executor(&self.inner.pool, move || inner.hash(&password))
            .await
            .map_err(PasswordError::Pool)?
    }

    /// Whether `password` matches `stored` (a PHC string), checked on the pool. With no
    /// stored hash (the user does not exist) a decoy is checked instead, at the same cost, and
    /// the answer is `false`. A stored value that is not a hash is `false` too.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let inner = Arc::clone(&self.inner);
        let password = password.to_owned();
        let stored = stored.map(str::to_owned);
        let job = kairos_rt::run_in_executor(&self.inner.pool, move || {
            let (against, real) = match &stored {
                Some(stored) => (stored.as_str(), true),
                None => (inner.decoy().as_str(), false),
            };
            inner.check(&password, against) && real
        });
        job.await.unwrap_or(false)
    }
}

impl Passwords {
    /// [`verify`](Passwords::verify) on the calling thread: for code already off the loop (a
    /// [`sync`](crate::sync) handler, a pool job). From an async handler it blocks the loop
    /// for the whole hash — what the chapter warns against, kept for showing just that.
    pub fn verify_blocking(&self, password: &str, stored: Option<&str>) -> bool {
        match stored {
            Some(stored) => self.inner.check(password, stored),
            None => {
                let decoy = self.inner.decoy().clone();
                let _ = self.inner.check(password, &decoy);
                false
            }
        }
    }
}

impl Inner {
    fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut OsRng);
        let hash = self.argon.hash_password(password.as_bytes(), &salt);
        hash.map(|hash| hash.to_string()).map_err(PasswordError::Hash)
    }

    fn check(&self, password: &str, stored: &str) -> bool {
        match PasswordHash::new(stored) {
            Ok(parsed) => self.argon.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        }
    }

    fn decoy(&self) -> &String {
        self.decoy.get_or_init(|| {
            self.hash("a decoy that no password is checked against on purpose")
                .expect("argon2 hashes a short password")
        })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;

    fn passwords() -> (Passwords, ThreadPool) {
        let pool = ThreadPool::new(1);
        (Passwords::with_cost(pool.clone(), 8 * 1024, 1), pool)
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let (passwords, _) = passwords();
        kairos_rt::run(async {
            let stored = passwords.hash("correct horse").await.unwrap();
            assert!(stored.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{stored}");
            assert!(passwords.verify("correct horse", Some(&stored)).await);
            assert!(!passwords.verify("correct horse!", Some(&stored)).await);
            assert!(!passwords.verify("correct horse", Some("not a hash")).await);
            // Two hashes of one password differ (each has its own salt).
            assert_ne!(passwords.hash("correct horse").await.unwrap(), stored);
        });
    }

    #[test]
    fn every_hash_and_check_is_a_job_on_the_pool_and_the_loop_runs_meanwhile() {
        let (passwords, pool) = passwords();
        kairos_rt::run(async {
            let ticks = Rc::new(Cell::new(0u64));
            let ticker = {
                let ticks = Rc::clone(&ticks);
                kairos_rt::spawn(async move {
                    loop {
                        kairos_rt::sleep(Duration::from_millis(1)).await;
                        ticks.set(ticks.get() + 1);
                    }
                })
            };
            let before = (pool.stats().completed, ticks.get());
            let stored = passwords.hash("pw").await.unwrap();
            assert!(passwords.verify("pw", Some(&stored)).await);
            assert!(!passwords.verify("pw", None).await);
            assert_eq!(pool.stats().completed - before.0, 3, "one pool job per hash or check");
            // The loop was free while the pool hashed: its other task ran.
            assert!(ticks.get() > before.1, "the loop did not run during three hashes");
            ticker.cancel();
        });
    }

    #[test]
    fn an_unknown_user_costs_a_check_against_a_decoy_of_the_same_settings() {
        let (passwords, _) = passwords();
        let decoy = passwords.inner.decoy();
        assert!(decoy.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{decoy}");
    }
}
