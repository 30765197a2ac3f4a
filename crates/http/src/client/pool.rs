//! Connections kept for reuse, per origin: idle HTTP/1.1 connections, each carrying one
//! request at a time, and at most one HTTP/2 connection, shared by every request at once.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hyper::client::conn::{http1, http2};
use kairos_sync::Lock;

use crate::Body;

/// How an origin is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Scheme, host and port: connections are reused only for the same origin (an `http://` and
/// an `https://` connection to one host and port are not interchangeable).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub(crate) scheme: Scheme,
    /// As the URL spells it: an IPv6 address keeps its brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Origin {
    /// The host without an IPv6 address's brackets: what is resolved and verified.
    pub(crate) fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

struct Idle {
    sender: http1::SendRequest<Body>,
    since: Instant,
}

/// An origin's HTTP/2 connection, and when a request last started or finished on it.
struct Shared {
    sender: http2::SendRequest<Body>,
    last_used: Rc<Cell<Instant>>,
}

/// The connections of one [`Client`](super::Client).
pub(crate) struct Pool {
    /// Idle HTTP/1.1 connections, most recently used last (reused first: warm and least
    /// likely closed).
    idle: RefCell<HashMap<Origin, Vec<Idle>>>,
    shared: RefCell<HashMap<Origin, Shared>>,
    /// Per origin that may speak HTTP/2, a turn to connect: requests that find no connection
    /// at the same moment wait for the first one's rather than opening one each, since an
    /// HTTP/2 connection would serve them all.
    turns: RefCell<HashMap<Origin, Rc<Lock<()>>>>,
    /// Origins whose last TLS handshake chose HTTP/1.1: their requests connect in parallel,
    /// without waiting a turn.
    http1_origins: RefCell<HashSet<Origin>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max_idle_per_host: usize, idle_timeout: Duration) -> Pool {
        Pool {
            idle: RefCell::default(),
            shared: RefCell::default(),
            turns: RefCell::default(),
            http1_origins: RefCell::default(),
            max_idle_per_host,
            idle_timeout,
        }
    }

    /// An idle HTTP/1.1 connection to `origin` that is still open and ready, if any.
    pub(crate) fn take(&self, origin: &Origin) -> Option<http1::SendRequest<Body>> {
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

    /// Returns an HTTP/1.1 connection whose last response was read to the end.
    pub(crate) fn put(&self, origin: Origin, sender: http1::SendRequest<Body>) {
        if !sender.is_ready() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(origin).or_default();
        if list.len() < self.max_idle_per_host {
            list.push(Idle { sender, since: Instant::now() });
        }
    }

    /// The origin's HTTP/2 connection, if it is open and has not idled past the timeout (the
    /// server may be closing it), with its clock of use, touched now.
    pub(crate) fn shared(
        &self,
        origin: &Origin,
    ) -> Option<(http2::SendRequest<Body>, Rc<Cell<Instant>>)> {
        let mut shared = self.shared.borrow_mut();
        let conn = shared.get(origin)?;
        if conn.sender.is_closed() || conn.last_used.get().elapsed() >= self.idle_timeout {
            // Dropping our handle lets the connection end once its requests are done.
            shared.remove(origin);
            return None;
        }
        conn.last_used.set(Instant::now());
        Some((conn.sender.clone(), Rc::clone(&conn.last_used)))
    }

    /// Keeps a new HTTP/2 connection as the origin's, replacing any older one; returns its
    /// clock of use.
    pub(crate) fn share(
        &self,
        origin: Origin,
        sender: http2::SendRequest<Body>,
    ) -> Rc<Cell<Instant>> {
        let last_used = Rc::new(Cell::new(Instant::now()));
        self.http1_origins.borrow_mut().remove(&origin);
        self.shared
            .borrow_mut()
            .insert(origin, Shared { sender, last_used: Rc::clone(&last_used) });
        last_used
    }

    /// The origin's turn to connect (see [`Pool::turns`]).
    pub(crate) fn turn(&self, origin: &Origin) -> Rc<Lock<()>> {
        let mut turns = self.turns.borrow_mut();
        // Turns nobody waits for are dropped here, so the map holds only origins in use.
        turns.retain(|_, turn| Rc::strong_count(turn) > 1);
        Rc::clone(turns.entry(origin.clone()).or_insert_with(|| Rc::new(Lock::new(()))))
    }

    /// Whether the origin's last TLS handshake chose HTTP/1.1.
    pub(crate) fn speaks_http1(&self, origin: &Origin) -> bool {
        self.http1_origins.borrow().contains(origin)
    }

    /// Records that a TLS handshake with the origin chose HTTP/1.1.
    pub(crate) fn note_http1(&self, origin: &Origin) {
        if !self.speaks_http1(origin) {
            self.http1_origins.borrow_mut().insert(origin.clone());
        }
    }

    /// Idle HTTP/1.1 connections held now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }

    /// HTTP/2 connections held now (open or not yet noticed closed).
    pub(crate) fn shared_count(&self) -> usize {
        self.shared.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(scheme: Scheme) -> Origin {
        Origin { scheme, host: "example.com".to_owned(), port: 8443 }
    }

    #[test]
    fn the_scheme_is_part_of_the_origin() {
        let pool = Pool::new(4, Duration::from_secs(4));
        pool.note_http1(&origin(Scheme::Https));
        assert!(pool.speaks_http1(&origin(Scheme::Https)));
        assert!(!pool.speaks_http1(&origin(Scheme::Http)));
        assert_ne!(origin(Scheme::Http), origin(Scheme::Https));
        assert_eq!(origin(Scheme::Https).to_string(), "https://example.com:8443");
    }

    #[test]
    fn a_turn_is_shared_while_held_and_forgotten_after() {
        let pool = Pool::new(4, Duration::from_secs(4));
        let first = pool.turn(&origin(Scheme::Https));
        let second = pool.turn(&origin(Scheme::Https));
        assert!(Rc::ptr_eq(&first, &second), "one turn per origin");
        drop((first, second));
        let _other = pool.turn(&origin(Scheme::Http));
        assert_eq!(pool.turns.borrow().len(), 1, "the unheld turn was dropped");
    }

    #[test]
    fn bare_host_drops_an_ipv6_address_brackets() {
        let v6 = Origin { scheme: Scheme::Https, host: "[::1]".to_owned(), port: 443 };
        assert_eq!(v6.bare_host(), "::1");
        assert_eq!(origin(Scheme::Http).bare_host(), "example.com");
    }
}
