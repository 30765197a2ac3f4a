//! The open-files limit: each client connection is a file descriptor, so 1000 concurrent
//! streams need more than the common default soft limit of 1024.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Raises the soft open-files limit as far as allowed, then checks that `needed` fit under it.
pub fn ensure(needed: u64) -> Result<(), String> {
    let (soft, hard) = raise();
    if needed > soft {
        let fix = if soft < hard {
            format!("run `ulimit -n {}` in the shell first", needed.min(hard))
        } else {
            format!(
                "the hard limit is the ceiling: raise it as root (`ulimit -Hn`, limits.conf) or \
                 use at most {} clients",
                soft.saturating_sub(16)
            )
        };
        return Err(format!(
            "this run needs about {needed} open files but the limit is {soft} (hard limit \
             {hard}); {fix}"
        ));
    }
    Ok(())
}

/// Sets the soft limit to the hard one (no privilege needed); returns `(soft, hard)` after.
/// `None` in a limit means unlimited.
fn raise() -> (u64, u64) {
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        // An unlimited hard limit is still capped by the kernel's `nr_open` (1 Mi by default).
        let current = Some(limit.maximum.unwrap_or(1 << 20));
        let _ = setrlimit(Resource::Nofile, Rlimit { current, maximum: limit.maximum });
    }
    let limit = getrlimit(Resource::Nofile);
    (limit.current.unwrap_or(u64::MAX), limit.maximum.unwrap_or(u64::MAX))
}
