//! The bridge's cost, side by side: the same operations awaited on a kairos loop through the
//! bridge and on tokio natively (a current-thread runtime, as one request's task would be),
//! in interleaved rounds, as time per operation and the ratio.
//!
//! `cargo bench -p kairos-tokio --bench bridge -- [SECONDS_PER_ROUND] [ROUNDS]` (5 and 3 by
//! default). Needs `redis-server` (Debian's package): the Redis GET runs against a real one.

use std::future::Future;
use std::time::Instant;

use kairos_http::{Body, Request, Response, Server, ServerConfig};

/// Runs `op` back to back for `seconds`, returns nanoseconds per operation.
async fn time_ops<F, Fut>(seconds: f64, mut op: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..100 {
        op().await; // warm up: connections made, caches filled
    }
    let started = Instant::now();
    let mut ops = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        for _ in 0..64 {
            op().await;
        }
        ops += 64;
    }
    started.elapsed().as_nanos() as f64 / ops as f64
}

/// The three operations, each made by a function of its own (so both sides build theirs
/// inside their own runtime).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    SqlxSelect,
    RedisGet,
    ReqwestGet,
}

async fn measure(op: Op, seconds: f64, redis_url: &str, http_url: &str) -> f64 {
    match op {
        Op::SqlxSelect => {
            let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
            time_ops(seconds, || {
                let pool = pool.clone();
                async move {
                    let _: (i64,) = sqlx::query_as("SELECT 1").fetch_one(&pool).await.unwrap();
                }
            })
            .await
        }
        Op::RedisGet => {
            let client = redis::Client::open(redis_url).unwrap();
            let connection = redis::aio::ConnectionManager::new(client).await.unwrap();
            let mut setter = connection.clone();
            redis::cmd("SET").arg("k").arg("v").query_async::<()>(&mut setter).await.unwrap();
            time_ops(seconds, || {
                let mut connection = connection.clone();
                async move {
                    let _: String =
                        redis::cmd("GET").arg("k").query_async(&mut connection).await.unwrap();
                }
            })
            .await
        }
        Op::ReqwestGet => {
            let client = reqwest::Client::new();
            time_ops(seconds, || {
                let client = client.clone();
                async move {
                    client.get(http_url).send().await.unwrap().bytes().await.unwrap();
                }
            })
            .await
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let seconds: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);

    let redis = kairos_fixtures::Redis::start();
    let server = Server::new(ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        access_log: false,
        ..ServerConfig::default()
    })
    .start(|| |_: Request| async { Response::new(Body::from("ok")) })
    .unwrap();
    let http_url = format!("http://{}/", server.local_addr());
    let redis_url = redis.url();

    println!("{seconds} s per measurement, {rounds} interleaved rounds");
    println!("| operation | round | kairos + bridge (µs/op) | tokio (µs/op) | ratio |");
    println!("|---|---|---|---|---|");
    let mut ratios: Vec<(Op, Vec<f64>)> = Vec::new();
    for op in [Op::SqlxSelect, Op::RedisGet, Op::ReqwestGet] {
        let mut op_ratios = Vec::new();
        for round in 0..rounds {
            // Alternate which side goes first, so that drift favours neither.
            let bridged = || {
                kairos_tokio::configure_loop(kairos_rt::Builder::new())
                    .run(measure(op, seconds, &redis_url, &http_url))
            };
            let native = || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(measure(op, seconds, &redis_url, &http_url))
            };
            let (b, n) = if round % 2 == 0 {
                let b = bridged();
                (b, native())
            } else {
                let n = native();
                (bridged(), n)
            };
            op_ratios.push(b / n);
            println!(
                "| {op:?} | {} | {:.1} | {:.1} | {:.2}x |",
                round + 1,
                b / 1e3,
                n / 1e3,
                b / n
            );
        }
        ratios.push((op, op_ratios));
    }
    println!("\n| operation | ratio (median of rounds) |\n|---|---|");
    for (op, mut r) in ratios {
        r.sort_by(f64::total_cmp);
        println!("| {op:?} | {:.2}x |", r[r.len() / 2]);
    }
    drop(server);
}
