//! Settings from the environment. In a test binary of its own: the environment is global to
//! the process, and every `Builder::new()` reads it.

use std::time::Duration;

use kairos_rt::{Builder, Diagnostic};

#[test]
fn environment_settings_are_read_and_bad_values_are_clear_errors() {
    std::env::set_var("KAIROS_SLOW_CALLBACK_MS", "fast");
    let err = Builder::new().build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("whole number of milliseconds"), "{err}");
    // An explicit setting overrides (and so clears) the bad environment value.
    assert!(Builder::new().slow_callback_duration(Some(Duration::from_millis(50))).build().is_ok());

    std::env::set_var("KAIROS_DEBUG", "maybe");
    std::env::set_var("KAIROS_SLOW_CALLBACK_MS", "30");
    let err = Builder::new().build().unwrap_err();
    assert!(err.to_string().contains("KAIROS_DEBUG"), "{err}");

    // KAIROS_DEBUG=1 with a 30 ms threshold: a 60 ms poll is reported with an exact duration.
    std::env::set_var("KAIROS_DEBUG", "1");
    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&reports);
    Builder::new()
        .on_diagnostic(move |d| {
            if let Diagnostic::SlowPoll(r) = d {
                sink.lock().unwrap().push(r.clone());
            }
        })
        .run(async {
            std::thread::sleep(Duration::from_millis(60));
        });
    std::env::remove_var("KAIROS_DEBUG");
    std::env::remove_var("KAIROS_SLOW_CALLBACK_MS");
    let reports = reports.lock().unwrap();
    let end = reports.iter().find(|r| !r.still_running).expect("the slow poll was reported");
    assert!(end.exact, "debug mode measures exactly");
    assert!(end.duration >= Duration::from_millis(60), "{:?}", end.duration);
    assert_eq!(end.threshold, Duration::from_millis(30));
}
