//! Counting requests on one worker: by route template, method and status, with a latency
//! histogram per route and method.
//!
//! Each worker counts in its own [`RequestCounts`], plain cells on its loop (a request never
//! leaves its worker, so nothing here is shared between threads, and no atomic is paid per
//! request). The slot a request counts in is found without allocating: the route table's
//! matcher gives the endpoint's index, the method one of ten, and the two make an index into
//! a table made when the worker starts. Statuses are a short list per slot, grown the first
//! time a status is seen there.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Method;

use super::text::{Families, Histogram};
use crate::handler::ResponseFuture;
use crate::Response;

/// The methods with a label of their own; any other is counted as `other` (a client may send
/// any token as a method, and a label's values must stay few).
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::CONNECT,
    Method::TRACE,
];
const METHOD_SLOTS: usize = METHODS.len() + 1;

/// The `route` label of a request whose path matches no route: one value for every such
/// path (a route template always starts with `/`, so it cannot be mistaken for one).
pub const UNMATCHED_ROUTE: &str = "unmatched";

fn method_index(method: &Method) -> usize {
    METHODS.iter().position(|known| known == method).unwrap_or(METHODS.len())
}

fn method_label(index: usize) -> &'static str {
    METHODS.get(index).map_or("other", Method::as_str)
}

/// One worker's request counts.
pub(crate) struct RequestCounts {
    /// The route table's templates by endpoint index; one more slot, last, for unmatched
    /// paths.
    routes: Arc<[Box<str>]>,
    bounds: Arc<[Duration]>,
    /// `routes.len() × METHOD_SLOTS` series, by `route × METHOD_SLOTS + method`.
    series: RefCell<Vec<Series>>,
}

#[derive(Default)]
struct Series {
    /// Per bucket (`bounds.len() + 1`), empty until the first request.
    buckets: Vec<u64>,
    sum: Duration,
    /// Requests per status, in the order first seen.
    statuses: Vec<(u16, u64)>,
}

impl RequestCounts {
    /// Counts for a route table of `routes` (templates by endpoint index), with latency
    /// buckets of upper bounds `bounds`.
    pub(crate) fn new(routes: Arc<[Box<str>]>, bounds: Arc<[Duration]>) -> RequestCounts {
        let slots = (routes.len() + 1) * METHOD_SLOTS;
        let series = std::iter::repeat_with(Series::default).take(slots).collect();
        RequestCounts { routes, bounds, series: RefCell::new(series) }
    }

    /// The slot of a request for `method` whose path matched endpoint `endpoint` (`None`:
    /// no route).
    pub(crate) fn slot(&self, endpoint: Option<usize>, method: &Method) -> usize {
        let route = endpoint.filter(|&e| e < self.routes.len()).unwrap_or(self.routes.len());
        route * METHOD_SLOTS + method_index(method)
    }

    fn record(&self, slot: usize, status: u16, took: Duration) {
        let mut series = self.series.borrow_mut();
        let series = &mut series[slot];
        if series.buckets.is_empty() {
            series.buckets = vec![0; self.bounds.len() + 1];
        }
        series.buckets[self.bounds.partition_point(|&bound| bound < took)] += 1;
        series.sum += took;
        match series.statuses.iter_mut().find(|(known, _)| *known == status) {
            Some((_, count)) => *count += 1,
            None => series.statuses.push((status, 1)),
        }
    }

    /// Adds this worker's series to `families`.
    pub(crate) fn collect(&self, families: &mut Families) {
        let series = self.series.borrow();
        for (slot, series) in series.iter().enumerate() {
            if series.buckets.is_empty() {
                continue;
            }
            let route = self.routes.get(slot / METHOD_SLOTS).map_or(UNMATCHED_ROUTE, |r| r);
            let method = method_label(slot % METHOD_SLOTS);
            for &(status, count) in &series.statuses {
                families.counter(
                    "http_requests_total",
                    "HTTP requests answered, by route template, method and status.",
                    &[("route", route), ("method", method), ("status", &status.to_string())],
                    count,
                );
            }
        }
        for (slot, series) in series.iter().enumerate() {
            if series.buckets.is_empty() {
                continue;
            }
            let route = self.routes.get(slot / METHOD_SLOTS).map_or(UNMATCHED_ROUTE, |r| r);
            let method = method_label(slot % METHOD_SLOTS);
            families.histogram(
                "http_request_duration_seconds",
                "Time from the App receiving a request to its response's head, by route \
                 template and method.",
                &[("route", route), ("method", method)],
                Histogram::of_durations(&self.bounds, &series.buckets, series.sum),
            );
        }
    }
}

/// A worker's response future, counted when it resolves if the App is instrumented.
///
/// Not boxed again: the App's service returns this in place of its boxed future, so the
/// instrumented path costs two clock reads and a table update, no allocation.
pub(crate) struct Counted {
    inner: ResponseFuture,
    counting: Option<Counting>,
}

struct Counting {
    counts: Rc<RequestCounts>,
    slot: usize,
    started: Instant,
}

impl Counted {
    /// `inner`, not counted.
    pub(crate) fn plain(inner: ResponseFuture) -> Counted {
        Counted { inner, counting: None }
    }

    /// `inner`, timed from now and counted in `slot` of `counts` until it resolves. A request whose
    /// future is dropped first (its client went away) is not counted.
    pub(crate) fn timed(inner: ResponseFuture, counts: Rc<RequestCounts>, slot: usize) -> Counted {
        Counted { inner, counting: Some(Counting { counts, slot, started: Instant::now() }) }
    }
}

impl Future for Counted {
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let response = std::task::ready!(self.inner.as_mut().poll(cx));
        if let Some(counting) = self.counting.take() {
            let took = counting.started.elapsed();
            counting.counts.record(counting.slot, response.status().as_u16(), took);
        }
        Poll::Ready(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> RequestCounts {
        let routes: Arc<[Box<str>]> = vec!["/a".into(), "/items/{id}".into()].into();
        RequestCounts::new(routes, vec![Duration::from_millis(10), Duration::from_secs(1)].into())
    }

    #[test]
    fn requests_are_counted_by_template_method_and_status() {
        let counts = counts();
        let item = counts.slot(Some(1), &Method::GET);
        counts.record(item, 200, Duration::from_millis(1));
        counts.record(item, 200, Duration::from_millis(20));
        counts.record(item, 404, Duration::from_secs(2));
        counts.record(counts.slot(None, &Method::GET), 404, Duration::ZERO);
        counts.record(
            counts.slot(Some(0), &Method::from_bytes(b"BREW").unwrap()),
            405,
            Duration::ZERO,
        );
        let mut families = Families::new();
        counts.collect(&mut families);
        let text = families.encode();
        for expected in [
            "http_requests_total{route=\"/items/{id}\",method=\"GET\",status=\"200\"} 2\n",
            "http_requests_total{route=\"/items/{id}\",method=\"GET\",status=\"404\"} 1\n",
            "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n",
            "http_requests_total{route=\"/a\",method=\"other\",status=\"405\"} 1\n",
            "http_request_duration_seconds_bucket{route=\"/items/{id}\",method=\"GET\",le=\"0.01\"} 1\n",
            "http_request_duration_seconds_bucket{route=\"/items/{id}\",method=\"GET\",le=\"1\"} 2\n",
            "http_request_duration_seconds_bucket{route=\"/items/{id}\",method=\"GET\",le=\"+Inf\"} 3\n",
            "http_request_duration_seconds_sum{route=\"/items/{id}\",method=\"GET\"} 2.021\n",
            "http_request_duration_seconds_count{route=\"/items/{id}\",method=\"GET\"} 3\n",
        ] {
            assert!(text.contains(expected), "{expected} is missing from:\n{text}");
        }
        assert!(!text.contains("method=\"POST\""), "a series with no request is not written");
    }
}
