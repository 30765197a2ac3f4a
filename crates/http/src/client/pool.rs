//! The per-host pool of idle keep-alive connections.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

use crate::Body;

/// Host and port: connections are reused only for the same origin.
pub(crate) type Origin = (String, u16);

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

/// Idle connections, most recently used last (reused first: warm and least likely closed).
pub(crate) struct Pool {
    idle: RefCell<HashMap<Origin, Vec<Idle>>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max_idle_per_host: usize, idle_timeout: Duration) -> Pool {
        Pool { idle: RefCell::new(HashMap::new()), max_idle_per_host, idle_timeout }
    }

    /// An idle connection to `origin` that is still open and ready, if any.
    pub(crate) fn take(&self, origin: &Origin) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(origin)?;
        while let Some(conn) = list.pop() {
            if conn.since.elapsed() < self.idle_timeout && conn.sender.is_ready() {
                return Some(conn.sender);
            }
            // Closed by the peer or idle too long: dropping it closes it.
        }
        None
    }

    /// Returns a connection whose last response was read to the end.
    pub(crate) fn put(&self, origin: Origin, sender: SendRequest<Body>) {
        if !sender.is_ready() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(origin).or_default();
        if list.len() < self.max_idle_per_host {
            list.push(Idle { sender, since: Instant::now() });
        }
    }

    /// Idle connections held now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }
}
