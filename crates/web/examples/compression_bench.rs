//! A server for benchmarking [`Compression`]: `GET /json100k` answers the same JSON document
//! of about 100 KB on every request, through `Compression::new()` with its defaults. A load
//! generator that sends `Accept-Encoding: gzip` (or `br`, `zstd`) measures compressing it per
//! request; one that sends none measures the same route uncompressed.
//!
//! ```text
//! cargo run --release -p kairos-web --example compression_bench -- PORT [WORKERS]
//! ```
//!
//! It binds 127.0.0.1:PORT (8000 if none is given) with one worker unless told otherwise,
//! and no access log. Its peer — axum with tower-http's `CompressionLayer` — must answer the
//! bytes of [`document`], so the function is written to be copied as it is.

use std::fmt::Write as _;
use std::net::SocketAddr;

use kairos_web::kairos_http::ServerConfig;
use kairos_web::middleware::Compression;
use kairos_web::{App, Bytes};

/// The document: 450 items of a made-up catalogue, 102,353 bytes (SHA-256 `0eade4f8...`).
/// Names repeat and values vary, as in an API's list: at the default levels gzip makes it
/// about 10 KB, brotli and zstd about 8 KB.
fn document() -> String {
    let mut out = String::from("{\"items\":[");
    for i in 0..450u32 {
        if i > 0 {
            out.push(',');
        }
        write!(
            out,
            "{{\"id\":{i},\"sku\":\"SKU-{:06}\",\"name\":\"Catalogue item {i}\",\
             \"price\":{}.{:02},\"in_stock\":{},\"tags\":[\"tag-{}\",\"tag-{}\"],\
             \"description\":\"Item {i} of the benchmark catalogue, described at length so \
             that the list reads like a real one.\"}}",
            (i * 7919) % 1_000_000,
            (i * 37) % 500,
            (i * 13) % 100,
            i % 3 != 0,
            i % 17,
            i % 29,
        )
        .expect("writing to a String cannot fail");
    }
    out.push_str("]}");
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(8000, |p| p.parse().expect("PORT is a port number"));
    let workers: usize = args.next().map_or(1, |w| w.parse().expect("WORKERS is a number"));

    let body = Bytes::from(document());
    let app = App::new().layer(Compression::new()).get("/json100k", move || {
        let body = body.clone();
        async move { ([("content-type", "application/json")], body) }
    });
    let config = ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        workers,
        access_log: false,
        ..ServerConfig::default()
    };
    match app.serve(config) {
        Ok(server) => server.wait(),
        Err(error) => {
            eprintln!("compression_bench: {error}");
            std::process::exit(1);
        }
    }
}
