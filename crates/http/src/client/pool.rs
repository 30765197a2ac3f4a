//! The per-origin pool of idle keep-alive connections.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use hyper::client::conn::http1;

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

/// The connections of one [`Client`](super::Client).
pub(crate) struct Pool {
    /// Idle HTTP/1.1 connections, most recently used last (reused first: warm and least
    /// likely closed).
    idle: RefCell<HashMap<Origin, Vec<Idle>>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max_idle_per_host: usize, idle_timeout: Duration) -> Pool {
        Pool { idle: RefCell::default(), max_idle_per_host, idle_timeout }
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

    /// Idle HTTP/1.1 connections held now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
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
        assert_ne!(origin(Scheme::Http), origin(Scheme::Https));
        assert_eq!(origin(Scheme::Https).to_string(), "https://example.com:8443");
    }

    #[test]
    fn bare_host_drops_an_ipv6_address_brackets() {
        let v6 = Origin { scheme: Scheme::Https, host: "[::1]".to_owned(), port: 443 };
        assert_eq!(v6.bare_host(), "::1");
        assert_eq!(origin(Scheme::Http).bare_host(), "example.com");
    }
}
