//! The log a served App writes by default: startup, access lines and errors on stderr, as
//! uvicorn's are, unless the program chose where its logs go.
//!
//! kairos logs through `tracing`, which drops every event until a subscriber is installed. A
//! FastAPI newcomer expects `uvicorn main:app` to print "Application startup complete" and a
//! line per request, so [`App::serve`](crate::App::serve) installs a subscriber writing to
//! stderr — at INFO, or what `RUST_LOG` says — when the program has installed none. A program
//! that installed its own keeps it; one that wants no log at all installs
//! `tracing::subscriber::NoSubscriber`. The [`TestClient`](crate::TestClient) installs
//! nothing: test output stays the test harness's.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the stderr log, unless a global subscriber is already set.
pub(crate) fn install_default() {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // `try_init`: another thread may have installed one since the check; theirs stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: escape codes in a file are noise.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
