//! Bare hyper on one tokio current-thread runtime: `/plaintext` and `/json`, routed by a match.
use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, Request, Response};
use hyper_util::rt::TokioIo;
use kairos_bench_peers::{port, Message, PLAINTEXT};

async fn handle(request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (body, content_type) = match request.uri().path() {
        "/plaintext" => (Bytes::from_static(PLAINTEXT.as_bytes()), "text/plain; charset=utf-8"),
        "/json" => (Bytes::from(serde_json::to_vec(&Message { message: PLAINTEXT }).unwrap()), "application/json"),
        _ => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = hyper::StatusCode::NOT_FOUND;
            return Ok(response);
        }
    };
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    Ok(response)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port())).await.unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
                    .await;
            });
        }
    });
}
