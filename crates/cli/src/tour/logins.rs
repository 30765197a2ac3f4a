//! The chapter's next step, async authentication, and its warning about CPU work: a password
//! hash (argon2id, ~20 ms of CPU) checked on the CPU pool by `/token`, and on the loop by
//! `/login/bad`, while a probe asks for `/plaintext` one request after another.
//!
//! The verdict counts the probe's answers during each storm — a count a loaded machine cannot
//! fake by a factor of three: on the pool the loop answers the probe between hashes, on the
//! loop it answers it only when the storm is over (or between its few turns).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::client::Target;
use super::report::{Measured, Report, Row};

/// Logins released at once.
const LOGINS: usize = 20;

const FORM: &str = "application/x-www-form-urlencoded";
const PASSWORD: &str = "the tour's password";

/// One user per login of a storm: a user may try only 5 times in a row, and 20 at once would
/// be a brute force to the service's limit.
fn username(i: usize) -> String {
    format!("tour{i}")
}

/// Every experiment of this group.
pub(crate) fn run(target: Target, report: &mut Report) {
    let storms = register(target)
        .and_then(|()| Ok((storm(target, "/token")?, storm(target, "/login/bad")?)));
    let (good, bad) = match storms {
        Ok(storms) => storms,
        Err(e) => {
            report.push(Row::new("6.2", "logins", "registered".to_owned(), Err(e)));
            return;
        }
    };
    for (route, (probes, worst), expected) in [
        ("/token", good, "the hash on the CPU pool: the probe is answered all along"),
        ("/login/bad", bad, "the hash on the loop: the probe waits for the storm"),
    ] {
        let is_good = route == "/token";
        report.push(Row::new(
            "next steps",
            &format!("{LOGINS} × POST {route} at once, GET /plaintext probing"),
            expected.to_owned(),
            Ok(Measured::new(format!(
                "{probes} probes answered, the slowest in {:.0} ms",
                worst.as_secs_f64() * 1e3
            ))
            .value("probes", probes)
            .value("worst_probe_s", worst.as_secs_f64())
            // Three times as many answers on the pool's side as on the loop's, and enough.
            .verdict(if is_good {
                probes >= 5 && probes >= 3 * bad.0
            } else {
                probes * 3 <= good.0
            })),
        ));
    }
}

/// The storms' users.
fn register(target: Target) -> anyhow::Result<()> {
    for i in 0..LOGINS {
        let user = serde_json::json!({"username": username(i), "password": PASSWORD});
        let answer = target.post("/users", "application/json", &user.to_string())?;
        if answer.status != 201 {
            anyhow::bail!("POST /users: {} {}", answer.status, answer.body);
        }
    }
    Ok(())
}

/// [`LOGINS`] logins at `route` released together, while a probe sends `GET /plaintext` one
/// after another until they are all answered: the probes answered and the slowest.
fn storm(target: Target, route: &str) -> anyhow::Result<(u64, Duration)> {
    let barrier = Arc::new(Barrier::new(LOGINS + 1));
    let done = Arc::new(AtomicBool::new(false));
    let password = PASSWORD.replace(' ', "+");
    let logins: Vec<_> = (0..LOGINS)
        .map(|i| {
            let form = format!("username={}&password={password}", username(i));
            let (barrier, route) = (Arc::clone(&barrier), route.to_owned());
            std::thread::spawn(move || {
                barrier.wait();
                target.post(&route, FORM, &form)
            })
        })
        .collect();
    let prober = {
        let (barrier, done) = (Arc::clone(&barrier), Arc::clone(&done));
        std::thread::spawn(move || -> anyhow::Result<(u64, Duration)> {
            barrier.wait();
            let (mut probes, mut worst) = (0, Duration::ZERO);
            while !done.load(Ordering::SeqCst) {
                let answer = target.get("/plaintext")?;
                probes += 1;
                worst = worst.max(answer.elapsed);
            }
            Ok((probes, worst))
        })
    };
    let mut failed = None;
    for login in logins {
        match login.join().map_err(|_| anyhow::anyhow!("a login thread panicked"))? {
            Ok(answer) if answer.status == 200 => {}
            Ok(answer) => failed = Some(format!("POST {route}: {} {}", answer.status, answer.body)),
            Err(e) => failed = Some(e.to_string()),
        }
    }
    done.store(true, Ordering::SeqCst);
    let probed = prober.join().map_err(|_| anyhow::anyhow!("the probe thread panicked"))??;
    match failed {
        Some(failure) => anyhow::bail!(failure),
        None => Ok(probed),
    }
}
