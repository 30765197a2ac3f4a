//! A server with upload routes, to measure what a large upload costs in memory: start it,
//! send it a 100 MB file, and read its peak RSS — from `GET /rss`, or `VmHWM` in
//! `/proc/PID/status`. Spooled uploads should leave the peak near the idle RSS plus the
//! spool threshold (1 MiB), whatever the file's size.
//!
//! `cargo run --release -p kairos-web --example upload_rss [-- ADDR]` (default
//! `127.0.0.1:8000`; port 0 picks one). It prints `listening on http://ADDR` once it accepts,
//! for a script to wait on, and stops on SIGINT/SIGTERM.
//!
//! | route | reads the upload with | answers |
//! |---|---|---|
//! | `POST /upload` | [`FormData`]: each file spooled to disk past 1 MiB, removed after the answer | each file's field, name, size, and whether it was on disk |
//! | `POST /stream` | [`Multipart`]: each part counted chunk by chunk, nothing kept | each part's size |
//! | `GET /rss` | — | the process's RSS now and at its peak (`VmRSS`, `VmHWM`), in KiB |
//!
//! ```text
//! head -c 100000000 /dev/urandom > /tmp/100mb.bin
//! curl -F doc=@/tmp/100mb.bin http://127.0.0.1:8000/upload
//! curl http://127.0.0.1:8000/rss
//! ```
//!
//! One worker, so the numbers are one loop's; the server takes bodies up to 1 GiB.

use std::net::SocketAddr;

use kairos_http::ServerConfig;
use kairos_web::multipart::Multipart;
use kairos_web::{App, FormData, HttpError, Json};
use serde_json::{json, Value};

async fn upload(form: FormData) -> Json<Value> {
    let files: Vec<Value> = form
        .files()
        .iter()
        .map(|file| {
            json!({"field": file.name(), "filename": file.filename(), "size": file.size(),
                   "on_disk": !file.is_in_memory()})
        })
        .collect();
    Json(json!({"files": files}))
}

async fn stream(mut multipart: Multipart) -> Result<Json<Value>, HttpError> {
    let mut parts = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        let name = field.name().to_owned();
        let mut size = 0u64;
        while let Some(chunk) = field.chunk().await? {
            size += chunk.len() as u64;
        }
        parts.push(json!({"field": name, "size": size}));
    }
    Ok(Json(json!({"parts": parts})))
}

async fn rss() -> Result<Json<Value>, HttpError> {
    let status = kairos_rt::fs::read_to_string("/proc/self/status")
        .await
        .map_err(|e| HttpError::new(http::StatusCode::NOT_IMPLEMENTED, e.to_string()))?;
    let field = |key: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(key))?;
        line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
    };
    Ok(Json(json!({"rss_kib": field("VmRSS:"), "peak_rss_kib": field("VmHWM:")})))
}

fn main() {
    let bind: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".into())
        .parse()
        .expect("the argument is an address to listen on, like 127.0.0.1:8000");
    let app = App::new().post("/upload", upload).post("/stream", stream).get("/rss", rss);
    let config = ServerConfig {
        bind,
        workers: 1,
        max_body_size: Some(1 << 30),
        access_log: false,
        ..ServerConfig::default()
    };
    let running = app.serve(config).unwrap_or_else(|e| panic!("cannot serve: {e}"));
    running.shutdown_handle().on_signals().expect("SIGINT/SIGTERM handlers");
    println!("listening on http://{}", running.local_addr());
    running.wait();
}
