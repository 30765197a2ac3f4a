//! [`LogLimit`]: at most one log line per interval for an event that can repeat by the
//! hundred — `accept` failing while the process is out of file descriptors, for instance,
//! which fails again for each connection that arrives as soon as a few others close.

use std::time::{Duration, Instant};

/// Decides which occurrences of a repeating event are logged: the first, then at most one per
/// `every`, each saying how many were left out since the previous line. Time is passed in, so
/// that the decision is a pure function of the occurrences' times.
#[derive(Debug)]
pub(crate) struct LogLimit {
    every: Duration,
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    pub(crate) fn new(every: Duration) -> LogLimit {
        LogLimit { every, last_logged: None, suppressed: 0 }
    }

    /// Records an occurrence at `now`. `Some(n)`: log it, mentioning the `n` occurrences left
    /// out since the previous line; `None`: leave it out (it is counted).
    pub(crate) fn occurred(&mut self, now: Instant) -> Option<u64> {
        match self.last_logged {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_logged = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_first_occurrence_is_logged_then_at_most_one_per_interval() {
        let start = Instant::now();
        let mut limit = LogLimit::new(SECOND);
        assert_eq!(limit.occurred(start), Some(0));
        // A batch of 150 in the same second (connections closing, each freeing a descriptor
        // that the next accept takes and the one after fails for): all left out.
        for i in 1..=150 {
            assert_eq!(limit.occurred(start + Duration::from_millis(i * 6)), None);
        }
        // The next second's first occurrence is logged with the count of those left out.
        assert_eq!(limit.occurred(start + SECOND), Some(150));
        assert_eq!(limit.occurred(start + SECOND + Duration::from_millis(1)), None);
        assert_eq!(limit.occurred(start + 2 * SECOND), Some(1));
    }

    #[test]
    fn after_a_quiet_spell_the_next_occurrence_is_logged_at_once_with_nothing_left_out() {
        let start = Instant::now();
        let mut limit = LogLimit::new(SECOND);
        assert_eq!(limit.occurred(start), Some(0));
        assert_eq!(limit.occurred(start + 60 * SECOND), Some(0));
    }

    #[test]
    fn a_clock_that_goes_backwards_leaves_the_occurrence_out_instead_of_panicking() {
        let start = Instant::now() + SECOND;
        let mut limit = LogLimit::new(SECOND);
        assert_eq!(limit.occurred(start), Some(0));
        assert_eq!(limit.occurred(start - Duration::from_millis(500)), None);
    }
}
