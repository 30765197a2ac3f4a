//! What validation costs a request: a body of ten constrained fields, valid and with three bad
//! fields, and a query of three parameters — against serde alone, which checks no constraint.
//!
//! `cargo bench -p kairos-web --bench validation`. Besides criterion's times it prints the heap
//! allocations each case makes (a counting allocator), since allocations are most of what
//! the per-request cost is made of.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use kairos_web::validation::{from_json, from_pairs};
use schemars::JsonSchema;
use serde::Deserialize;

/// Counts allocation calls.
struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts them.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Size {
    Small,
    Medium,
    Large,
}

/// Ten fields, each constrained, as the planned benchmark against FastAPI posts.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Order {
    #[schemars(length(min = 3, max = 50))]
    name: String,
    #[schemars(length(max = 100))]
    email: String,
    #[schemars(range(min = 1, max = 1000))]
    quantity: u32,
    #[schemars(range(min = 0.01, max = 100000.0))]
    price: f64,
    size: Size,
    #[schemars(regex(pattern = r"^[A-Z]{3}-\d{4}$"))]
    sku: String,
    #[schemars(length(min = 1, max = 5))]
    tags: Vec<String>,
    #[schemars(range(min = 0, max = 100))]
    discount: u8,
    gift: bool,
    #[schemars(length(max = 200))]
    note: Option<String>,
}

/// The same fields with no constraint: serde alone.
#[derive(Deserialize)]
#[allow(dead_code)]
struct PlainOrder {
    name: String,
    email: String,
    quantity: u32,
    price: f64,
    size: Size,
    sku: String,
    tags: Vec<String>,
    discount: u8,
    gift: bool,
    note: Option<String>,
}

const VALID: &[u8] = br#"{"name": "fountain pen", "email": "ana@example.com", "quantity": 3,
    "price": 12.5, "size": "medium", "sku": "PEN-0042", "tags": ["office", "gift"],
    "discount": 10, "gift": true, "note": "wrap it, please"}"#;

const THREE_BAD: &[u8] = br#"{"name": "fp", "email": "ana@example.com", "quantity": 0,
    "price": 12.5, "size": "huge", "sku": "PEN-0042", "tags": ["office", "gift"],
    "discount": 10, "gift": true, "note": "wrap it, please"}"#;

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Page {
    #[schemars(range(max = 10_000))]
    skip: u32,
    #[schemars(range(min = 1, max = 100))]
    limit: u32,
    exact: Option<bool>,
}

fn query() -> Vec<(String, String)> {
    [("skip", "20"), ("limit", "10"), ("exact", "yes")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn allocations(f: impl Fn()) -> usize {
    f(); // the first call compiles the type's validator
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

fn validation(c: &mut Criterion) {
    assert!(from_json::<Order>(VALID).is_ok());
    assert_eq!(from_json::<Order>(THREE_BAD).err().unwrap().detail().as_array().unwrap().len(), 3);
    eprintln!(
        "allocations per call: body valid {} (serde alone {}), body with 3 bad fields {}, \
         query {}",
        allocations(|| drop(black_box(from_json::<Order>(VALID)))),
        allocations(|| drop(black_box(serde_json::from_slice::<PlainOrder>(VALID)))),
        allocations(|| drop(black_box(from_json::<Order>(THREE_BAD)))),
        allocations(|| drop(black_box(from_pairs::<Page>("query", query())))),
    );

    let mut group = c.benchmark_group("body of 10 constrained fields");
    group.bench_function("serde alone (no constraint checked)", |b| {
        b.iter(|| serde_json::from_slice::<PlainOrder>(black_box(VALID)).is_ok())
    });
    group.bench_function("valid", |b| b.iter(|| from_json::<Order>(black_box(VALID)).is_ok()));
    group.bench_function("3 bad fields, 422 items built", |b| {
        b.iter(|| from_json::<Order>(black_box(THREE_BAD)).err().unwrap())
    });
    group.finish();

    c.bench_function("query of 3 parameters", |b| {
        b.iter_batched(
            query,
            |pairs| from_pairs::<Page>("query", pairs).is_ok(),
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, validation);
criterion_main!(benches);
