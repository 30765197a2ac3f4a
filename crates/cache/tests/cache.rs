//! The cache over memory and over a real Redis: values, TTLs, namespaces, one loader per key
//! when many miss at once (on one loop and across threads), what is cached of a `None` or a
//! failure, a cancelled loader, and Redis going away and coming back.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use kairos_cache::{Cache, CacheError, Load, LoadError, MemoryOptions};
use kairos_fixtures::Redis;

fn memory() -> Cache {
    Cache::memory(MemoryOptions::default())
}

/// A loader that counts its runs and takes a while, so that concurrent misses overlap.
async fn slow_load(runs: &Cell<usize>, value: u32) -> Result<u32, String> {
    runs.set(runs.get() + 1);
    kairos_rt::sleep(Duration::from_millis(100)).await;
    Ok(value)
}

/// Values, namespaces and deletion, on either backend.
async fn values_and_namespaces(cache: Cache) {
    cache.set("a", &vec![1, 2, 3], None).await.unwrap();
    assert_eq!(cache.get::<Vec<u32>>("a").await.unwrap(), Some(vec![1, 2, 3]));
    let users = cache.namespace("users");
    assert_eq!(users.get::<Vec<u32>>("a").await.unwrap(), None, "namespaces are apart");
    users.set("a", &"ada", None).await.unwrap();
    assert_eq!(users.get::<String>("a").await.unwrap().as_deref(), Some("ada"));
    assert_eq!(cache.get::<Vec<u32>>("a").await.unwrap(), Some(vec![1, 2, 3]));
    // A value read as another type is a miss, not an error.
    assert_eq!(cache.get::<String>("a").await.unwrap(), None);
    assert!(cache.delete("a").await.unwrap());
    assert!(!cache.delete("a").await.unwrap());
    assert_eq!(cache.get::<Vec<u32>>("a").await.unwrap(), None);
}

/// 100 concurrent misses of one key on one loop: one load, 99 shared.
async fn one_load_for_a_stampede(cache: Cache) {
    let runs = Cell::new(0);
    let calls = (0..100).map(|_| cache.get_or_load("hot", Load::default(), || slow_load(&runs, 7)));
    let values: Vec<_> = join_all(calls).await;
    assert!(values.iter().all(|v| matches!(v, Ok(7))));
    assert_eq!(runs.get(), 1);
    let stats = cache.stats();
    assert_eq!((stats.loads, stats.shared_loads), (1, 99));
    // And then it is a hit.
    let hit = cache.get_or_load("hot", Load::default(), || slow_load(&runs, 8)).await;
    assert!(matches!(hit, Ok(7)));
    assert_eq!(runs.get(), 1);
}

#[test]
fn memory_stores_values_in_namespaces() {
    kairos_rt::run(values_and_namespaces(memory()));
}

#[test]
fn memory_runs_one_loader_for_many_misses() {
    kairos_rt::run(one_load_for_a_stampede(memory()));
}

#[test]
fn a_value_expires_after_its_ttl() {
    kairos_rt::run(async {
        let cache = memory();
        cache.set("short", &1, Some(Duration::from_millis(50))).await.unwrap();
        cache.set("long", &2, Some(Duration::from_secs(600))).await.unwrap();
        kairos_rt::sleep(Duration::from_millis(300)).await;
        assert_eq!(cache.get::<u32>("short").await.unwrap(), None);
        assert_eq!(cache.get::<u32>("long").await.unwrap(), Some(2));
    });
}

#[test]
fn workers_on_other_threads_share_one_load() {
    let cache = memory();
    let runs = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (cache, runs) = (cache.clone(), Arc::clone(&runs));
            std::thread::spawn(move || {
                kairos_rt::run(async move {
                    let calls = (0..50).map(|_| {
                        cache.get_or_load("hot", Load::default(), || async {
                            runs.fetch_add(1, Ordering::SeqCst);
                            kairos_rt::sleep(Duration::from_millis(200)).await;
                            Ok::<_, String>("loaded".to_string())
                        })
                    });
                    join_all(calls).await.into_iter().all(|v| v.is_ok_and(|v| v == "loaded"))
                })
            })
        })
        .collect();
    for thread in threads {
        assert!(thread.join().unwrap());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn none_is_cached_only_when_asked() {
    kairos_rt::run(async {
        let cache = memory();
        let runs = Cell::new(0);
        let none = || async {
            runs.set(runs.get() + 1);
            Ok::<Option<u32>, String>(None)
        };
        for _ in 0..2 {
            assert_eq!(cache.get_or_load("missing", Load::default(), none).await.unwrap(), None);
        }
        assert_eq!(runs.get(), 2, "by default a None is not cached");
        let cached = Load::default().cache_none(true);
        for _ in 0..2 {
            assert_eq!(cache.get_or_load("absent", cached, none).await.unwrap(), None);
        }
        assert_eq!(runs.get(), 3, "cache_none(true) caches it");
    });
}

#[test]
fn a_failure_is_shared_with_the_waiters_and_cached_only_when_asked() {
    kairos_rt::run(async {
        let cache = memory();
        let runs = Cell::new(0);
        let failing = || async {
            runs.set(runs.get() + 1);
            kairos_rt::sleep(Duration::from_millis(50)).await;
            Err::<u32, _>("database unavailable")
        };
        let results =
            join_all((0..3).map(|_| cache.get_or_load("k", Load::default(), failing))).await;
        assert!(matches!(results[0], Err(LoadError::Failed("database unavailable"))));
        for waiter in &results[1..] {
            assert!(
                matches!(waiter, Err(LoadError::FailedElsewhere(m)) if &**m == "database unavailable")
            );
        }
        assert_eq!(runs.get(), 1);
        // Not cached: the next call loads again.
        assert!(matches!(
            cache.get_or_load("k", Load::default(), failing).await,
            Err(LoadError::Failed(_))
        ));
        assert_eq!(runs.get(), 2);
        // Cached for a while when asked: the next call does not load.
        let remember = Load::default().cache_failures_for(Duration::from_secs(60));
        assert!(cache.get_or_load("k", remember, failing).await.is_err());
        assert!(matches!(
            cache.get_or_load("k", remember, failing).await,
            Err(LoadError::CachedFailure(_))
        ));
        assert_eq!(runs.get(), 3);
        assert_eq!(cache.stats().failed_loads, 3);
    });
}

#[test]
fn a_cancelled_loader_hands_the_load_to_a_waiter() {
    kairos_rt::run(async {
        let cache = memory();
        let first = {
            let cache = cache.clone();
            kairos_rt::spawn(async move {
                cache
                    .get_or_load("k", Load::default(), || {
                        std::future::pending::<Result<u32, String>>()
                    })
                    .await
            })
        };
        kairos_rt::sleep(Duration::from_millis(20)).await; // it leads, and never finishes
        let loaded = Rc::new(Cell::new(false));
        let second = {
            let (cache, loaded) = (cache.clone(), Rc::clone(&loaded));
            kairos_rt::spawn(async move {
                cache
                    .get_or_load("k", Load::default(), || async move {
                        loaded.set(true);
                        Ok::<_, String>(5)
                    })
                    .await
            })
        };
        kairos_rt::sleep(Duration::from_millis(20)).await; // it waits for the first
        assert!(!loaded.get());
        first.cancel(); // the first request's client left
        assert!(matches!(second.await.unwrap(), Ok(5)));
        assert!(loaded.get());
    });
}

#[test]
fn redis_stores_values_in_namespaces() {
    let redis = Redis::start();
    kairos_rt::run(async {
        values_and_namespaces(Cache::from_url(&redis.url()).await.unwrap()).await;
    });
}

#[test]
fn redis_runs_one_loader_for_many_misses() {
    let redis = Redis::start();
    kairos_rt::run(async {
        one_load_for_a_stampede(Cache::redis(&redis.url()).await.unwrap()).await
    });
}

#[test]
fn redis_values_expire_and_are_seen_by_another_cache() {
    let redis = Redis::start();
    kairos_rt::run(async {
        let (one, other) =
            (Cache::redis(&redis.url()).await.unwrap(), Cache::redis(&redis.url()).await.unwrap());
        one.set("shared", &"across instances", None).await.unwrap();
        assert_eq!(
            other.get::<String>("shared").await.unwrap().as_deref(),
            Some("across instances")
        );
        one.set("short", &1, Some(Duration::from_millis(50))).await.unwrap();
        kairos_rt::sleep(Duration::from_millis(300)).await;
        assert_eq!(other.get::<u32>("short").await.unwrap(), None);
    });
}

/// Redis killed: reads and writes fail at once with an error (no hang), `get_or_load` still
/// answers from its loader, and when Redis is back the same cache works again.
#[test]
fn redis_going_away_degrades_to_the_loader_and_recovers() {
    let mut redis = Redis::start();
    let cache = kairos_rt::run(async { Cache::redis(&redis.url()).await.unwrap() });
    redis.kill();
    kairos_rt::run(async {
        assert!(matches!(cache.get::<u32>("k").await, Err(CacheError::Backend(_))));
        let value = cache.get_or_load("k", Load::default(), || async { Ok::<_, String>(9) }).await;
        assert!(matches!(value, Ok(9)));
        assert!(cache.stats().backend_errors >= 2);
    });
    redis.restart();
    kairos_rt::run(async {
        // The connection manager reconnects on its own; the first command may still see the
        // old connection fail.
        let mut stored = false;
        for _ in 0..50 {
            if cache.set("k", &10, None).await.is_ok() {
                stored = true;
                break;
            }
            kairos_rt::sleep(Duration::from_millis(100)).await;
        }
        assert!(stored, "the cache did not reconnect to the restarted Redis");
        assert_eq!(cache.get::<u32>("k").await.unwrap(), Some(10));
    });
}

#[test]
fn an_unknown_url_says_what_is_supported() {
    kairos_rt::run(async {
        let error = Cache::from_url("memcached://127.0.0.1").await.unwrap_err();
        assert!(error.to_string().contains("use memory:// or redis://"), "{error}");
    });
}

/// A counter, on either backend, shared by `other` (another instance for Redis, the same
/// cache for memory): every concurrent increment counts, the window is not extended by them,
/// `count` reads a counter without counting, and a new window starts from one once it ends.
async fn counts_in_a_fixed_window(one: Cache, other: Cache) {
    let window = Duration::from_millis(300);
    let counts = join_all((0..20).map(|i| {
        let cache = if i % 2 == 0 { one.clone() } else { other.clone() };
        async move { cache.increment("logins:ada", window).await.unwrap() }
    }))
    .await;
    let mut seen: Vec<u64> = counts.iter().map(|(count, _)| *count).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<u64>>(), "each increment counted once");
    assert!(counts.iter().all(|(_, left)| *left <= window), "{counts:?}");
    // Namespaces keep counters apart.
    assert_eq!(one.namespace("other").increment("logins:ada", window).await.unwrap().0, 1);
    // `count` reads a counter without counting (in a long window, so that the checks never
    // race its end).
    let long = Duration::from_secs(60);
    assert_eq!(one.count("logins:grace").await.unwrap(), None, "never counted");
    for _ in 0..3 {
        other.increment("logins:grace", long).await.unwrap();
    }
    for cache in [&one, &other, &one] {
        let (count, left) = cache.count("logins:grace").await.unwrap().expect("counted");
        assert_eq!(count, 3, "looking does not count");
        assert!(!left.is_zero() && left <= long, "{left:?}");
    }
    // Past the window (plenty past it: expiry is not a deadline to the millisecond).
    kairos_rt::sleep(Duration::from_millis(900)).await;
    assert_eq!(other.count("logins:ada").await.unwrap(), None, "its window ended");
    assert_eq!(other.increment("logins:ada", window).await.unwrap().0, 1);
}

#[test]
fn memory_counts_in_a_fixed_window() {
    let cache = memory();
    kairos_rt::run(counts_in_a_fixed_window(cache.clone(), cache));
}

#[test]
fn redis_counts_in_a_fixed_window_across_instances() {
    let redis = Redis::start();
    kairos_rt::run(async {
        let (one, other) =
            (Cache::redis(&redis.url()).await.unwrap(), Cache::redis(&redis.url()).await.unwrap());
        counts_in_a_fixed_window(one, other).await;
    });
}
