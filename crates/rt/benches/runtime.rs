//! kairos-rt against tokio's current-thread runtime, side by side in one run.
//!
//! `cargo bench -p kairos-rt --bench runtime` — then `python3 bench/rt_report.py` turns
//! criterion's estimates into the ratio table of BENCHMARKS.md.
//!
//! Each group has four entries: `kairos` (stall detector on, the default), `kairos-nodetect`
//! (detector off: the difference is the detector's overhead), `kairos-record` (detector on and
//! every poll recorded into a ring of 2^18 events: the difference is the recording's
//! overhead) and `tokio`. The peak heap of
//! 100,000 concurrent sleeps is measured with a counting allocator and printed, since
//! criterion only measures time.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// Counts live heap bytes and their peak, for the memory figure of the sleep benchmark.
struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, passed through.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, passed through.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const SPAWN_TASKS: u64 = 1_000_000;
const YIELDS: u64 = 100_000;
const SLEEPERS: u64 = 100_000;
const SEMAPHORE_OPS: u64 = 100_000;
const POOL_ROUND_TRIPS: u64 = 10_000;

/// A kairos variant: whether the stall detector runs, and how many events the recording keeps
/// (0: off).
#[derive(Clone, Copy)]
struct Variant {
    detect: bool,
    record: usize,
}

fn kairos(variant: Variant) -> kairos_rt::Runtime {
    let threshold = variant.detect.then_some(kairos_rt::DEFAULT_SLOW_CALLBACK);
    kairos_rt::Builder::new()
        .slow_callback_duration(threshold)
        .debug(false)
        .record(variant.record)
        .build()
        .unwrap()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn kairos_variants() -> [(&'static str, Variant); 3] {
    [
        ("kairos", Variant { detect: true, record: 0 }),
        ("kairos-nodetect", Variant { detect: false, record: 0 }),
        ("kairos-record", Variant { detect: true, record: 1 << 18 }),
    ]
}

fn spawn_and_await(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_1m_tasks");
    group.sample_size(10);
    for (name, variant) in kairos_variants() {
        let rt = kairos(variant);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let tasks: Vec<_> =
                        (0..SPAWN_TASKS).map(|i| kairos_rt::spawn(async move { i })).collect();
                    let mut sum = 0;
                    for t in tasks {
                        sum += t.await.unwrap();
                    }
                    sum
                })
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> =
                    (0..SPAWN_TASKS).map(|i| tokio::spawn(async move { i })).collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.unwrap();
                }
                sum
            })
        })
    });
    group.finish();
}

fn yield_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_ping_pong_2x100k");
    group.sample_size(10);
    for (name, variant) in kairos_variants() {
        let rt = kairos(variant);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let player = || {
                        kairos_rt::spawn(async {
                            for _ in 0..YIELDS {
                                kairos_rt::yield_now().await;
                            }
                        })
                    };
                    let (a, b) = (player(), player());
                    a.await.unwrap();
                    b.await.unwrap();
                })
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let player = || {
                    tokio::spawn(async {
                        for _ in 0..YIELDS {
                            tokio::task::yield_now().await;
                        }
                    })
                };
                let (a, b) = (player(), player());
                a.await.unwrap();
                b.await.unwrap();
            })
        })
    });
    group.finish();
}

fn concurrent_sleeps(c: &mut Criterion) {
    let mut group = c.benchmark_group("sleep_100k_concurrent_10ms");
    group.sample_size(10);
    let mut peaks = Vec::new();
    for (name, variant) in kairos_variants() {
        let rt = kairos(variant);
        let run = || {
            rt.block_on(async {
                let tasks: Vec<_> = (0..SLEEPERS)
                    .map(|_| kairos_rt::spawn(kairos_rt::sleep(Duration::from_millis(10))))
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        };
        peaks.push((name, peak_heap(run)));
        group.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(run));
    }
    let rt = tokio_rt();
    let run = || {
        rt.block_on(async {
            let tasks: Vec<_> = (0..SLEEPERS)
                .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_millis(10))))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        })
    };
    peaks.push(("tokio", peak_heap(run)));
    group.bench_function(BenchmarkId::from_parameter("tokio"), |b| b.iter(run));
    group.finish();
    for (name, bytes) in peaks {
        println!("peak-heap sleep_100k_concurrent_10ms/{name}: {bytes} bytes");
    }
}

/// Heap bytes allocated at the peak of one run, above what was live before it.
fn peak_heap(run: impl FnOnce()) -> usize {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    run();
    PEAK.load(Ordering::SeqCst) - before
}

fn semaphore(c: &mut Criterion) {
    let mut group = c.benchmark_group("semaphore_acquire_release_100k");
    for (name, variant) in kairos_variants() {
        let rt = kairos(variant);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let sem = kairos_sync::Semaphore::new(5);
                    for _ in 0..SEMAPHORE_OPS {
                        drop(sem.acquire().await.unwrap());
                    }
                })
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let sem = tokio::sync::Semaphore::new(5);
                for _ in 0..SEMAPHORE_OPS {
                    drop(sem.acquire().await.unwrap());
                }
            })
        })
    });
    group.finish();

    // Contended: 10 tasks share 2 permits, each holding it across a yield.
    let mut group = c.benchmark_group("semaphore_contended_10_tasks_2_permits");
    group.sample_size(20);
    for (name, variant) in kairos_variants() {
        let rt = kairos(variant);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let sem = kairos_sync::Semaphore::new(2);
                    let tasks: Vec<_> = (0..10)
                        .map(|_| {
                            let sem = sem.clone();
                            kairos_rt::spawn(async move {
                                for _ in 0..1_000 {
                                    let _p = sem.acquire().await.unwrap();
                                    kairos_rt::yield_now().await;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(2));
                let tasks: Vec<_> = (0..10)
                    .map(|_| {
                        let sem = sem.clone();
                        tokio::spawn(async move {
                            for _ in 0..1_000 {
                                let _p = sem.acquire().await.unwrap();
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        })
    });
    group.finish();
}

fn thread_pool_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("thread_pool_round_trip_10k");
    group.sample_size(10);
    for (name, variant) in kairos_variants() {
        let rt = kairos(variant);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                rt.block_on(async {
                    for i in 0..POOL_ROUND_TRIPS {
                        kairos_rt::to_thread(move || i).await.unwrap();
                    }
                })
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            rt.block_on(async {
                for i in 0..POOL_ROUND_TRIPS {
                    tokio::task::spawn_blocking(move || i).await.unwrap();
                }
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    spawn_and_await,
    yield_ping_pong,
    concurrent_sleeps,
    semaphore,
    thread_pool_round_trip
);
criterion_main!(benches);
