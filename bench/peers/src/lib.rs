//! What the peers share: the routes' answers and the command line.

/// `/plaintext`'s body (TechEmpower's).
pub const PLAINTEXT: &str = "Hello, World!";

/// `/json`'s body.
#[derive(serde::Serialize)]
pub struct Message {
    /// Always "Hello, World!".
    pub message: &'static str,
}

/// The port from the first argument (default 8000).
pub fn port() -> u16 {
    std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8000)
}
