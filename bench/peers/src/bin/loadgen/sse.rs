//! Counting server-sent events in a body that arrives in arbitrary pieces.
//!
//! An event is a block of lines ended by an empty line, and it counts when the block had a
//! `data` field (as an `EventSource` would dispatch it); comments (`:` lines) and blocks with
//! only `event:`/`id:`/`retry:` do not count. An unfinished block at the end is dropped, as the
//! SSE spec says.

/// Counts events across `feed` calls.
#[derive(Default)]
pub struct SseCounter {
    /// The current line so far (without its line ending).
    line: Vec<u8>,
    /// Whether the current block has a `data` field.
    has_data: bool,
    /// Events completed so far.
    pub events: u64,
}

impl SseCounter {
    /// Feeds the next piece of the body; returns how many events it completed.
    pub fn feed(&mut self, bytes: &[u8]) -> u64 {
        let before = self.events;
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            match piece.split_last() {
                Some((b'\n', line)) => {
                    self.line.extend_from_slice(line);
                    self.end_line();
                }
                _ => self.line.extend_from_slice(piece),
            }
        }
        self.events - before
    }

    fn end_line(&mut self) {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        if line.is_empty() {
            if self.has_data {
                self.events += 1;
            }
            self.has_data = false;
        } else {
            let field = line.split(|&b| b == b':').next().unwrap_or_default();
            if field == b"data" {
                self.has_data = true;
            }
        }
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::SseCounter;

    #[test]
    fn counts_events_split_anywhere() {
        let body = b": hello\n\ndata: 1\n\nevent: x\ndata: 2\r\ndata: more\r\n\r\nid: 3\n\ndata";
        for cut in 0..body.len() {
            let mut counter = SseCounter::default();
            let n = counter.feed(&body[..cut]) + counter.feed(&body[cut..]);
            assert_eq!((n, counter.events), (2, 2), "cut at {cut}");
        }
    }
}
