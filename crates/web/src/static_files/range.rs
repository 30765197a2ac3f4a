//! `Range: bytes=...` (RFC 9110 section 14): which slices of a file to send, and the
//! `multipart/byteranges` body that carries several.
//!
//! The grammar is a few lines; what takes thought is the policy, which is this module's: a
//! header that is not valid, or names another unit, is ignored (the whole file is sent);
//! ranges past the end are dropped, and only when none is left is the answer 416; the rest
//! are sorted and merged where they overlap or touch, and more than [`MAX_PARTS`] of them
//! are ignored too — so the answer is never much larger than the file, whatever the header.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::body::Piece;

/// The most parts a multipart answer has; a `Range` with more (after merging) is ignored.
const MAX_PARTS: usize = 16;

/// What a `Range` asks of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ranges {
    /// The whole file: no `Range`, or one that is ignored.
    Full,
    /// These slices (end exclusive), sorted, disjoint, not touching, at least one.
    Partial(Vec<Range<u64>>),
    /// `416`: every range starts past the end.
    Unsatisfiable,
}

/// The ranges `header` asks of a file of `len` bytes.
pub(super) fn ranges(header: &str, len: u64) -> Ranges {
    if len == 0 {
        // Nothing to slice: the (empty) file is the answer, whatever was asked.
        return Ranges::Full;
    }
    let Some((unit, set)) = header.split_once('=') else { return Ranges::Full };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Full;
    }
    let mut wanted = Vec::new();
    let mut specs = 0;
    for spec in set.split(',').map(str::trim).filter(|spec| !spec.is_empty()) {
        specs += 1;
        let Some((first, last)) = spec.split_once('-') else { return Ranges::Full };
        let (first, last) = (first.trim(), last.trim());
        let range = if first.is_empty() {
            // `-n`: the last n bytes.
            let Some(suffix) = number(last) else { return Ranges::Full };
            (suffix > 0).then(|| len.saturating_sub(suffix)..len)
        } else {
            let Some(start) = number(first) else { return Ranges::Full };
            let end = if last.is_empty() {
                len
            } else {
                let Some(last) = number(last) else { return Ranges::Full };
                if last < start {
                    return Ranges::Full;
                }
                last.saturating_add(1).min(len)
            };
            (start < len).then_some(start..end)
        };
        wanted.extend(range);
    }
    if specs == 0 {
        return Ranges::Full;
    }
    if wanted.is_empty() {
        return Ranges::Unsatisfiable;
    }
    wanted.sort_by_key(|range| range.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(wanted.len());
    for range in wanted {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    if merged.len() > MAX_PARTS {
        return Ranges::Full;
    }
    Ranges::Partial(merged)
}

/// Digits as a number; past `u64::MAX`, `u64::MAX` (a range that large is past any end).
fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// A `multipart/byteranges` body: its boundary, what to send, and its length.
#[derive(Debug)]
pub(super) struct Multipart {
    pub(super) boundary: String,
    pub(super) pieces: Vec<Piece>,
    pub(super) length: u64,
}

/// The body carrying `ranges` of a file of `len` bytes and type `content_type`: each part
/// is `--boundary`, its `Content-Type` and `Content-Range`, an empty line and the slice; the
/// last boundary is followed by `--` (RFC 9110 section 14.6).
pub(super) fn multipart(ranges: &[Range<u64>], len: u64, content_type: &str) -> Multipart {
    let boundary = boundary();
    let mut pieces = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut length = 0;
    for (i, range) in ranges.iter().enumerate() {
        let head = format!(
            "{}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            range.start,
            range.end - 1,
        );
        length += head.len() as u64 + (range.end - range.start);
        pieces.push(Piece::Bytes(Bytes::from(head)));
        pieces.push(Piece::File(range.clone()));
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    length += tail.len() as u64;
    pieces.push(Piece::Bytes(Bytes::from(tail)));
    Multipart { boundary, pieces, length }
}

/// A boundary no file is likely to contain: 128 random bits in hex. `RandomState` is the
/// standard library's source of random keys; hashing a counter with two of them needs no
/// random-number crate.
fn boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let (high, low) = (RandomState::new().hash_one(n), RandomState::new().hash_one(!n));
    format!("{high:016x}{low:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    use Ranges::{Full, Partial, Unsatisfiable};

    /// One slice (clippy takes `vec![a..b]` for a mistaken `(a..b).collect()`).
    fn one(start: u64, end: u64) -> Ranges {
        Partial(std::iter::once(start..end).collect())
    }

    #[test]
    fn each_form_of_range_is_read_and_clamped_to_the_file() {
        let cases: &[(&str, Ranges)] = &[
            ("bytes=0-9", one(0, 10)),
            ("bytes=10-", one(10, 100)),
            ("bytes=-10", one(90, 100)),
            ("bytes=-1000", one(0, 100)),
            ("bytes=90-1000", one(90, 100)),
            ("bytes=99-99", one(99, 100)),
            ("bytes=0-99999999999999999999999", one(0, 100)),
            ("BYTES = 5-5", one(5, 6)),
            // Several: sorted, merged when they overlap or touch.
            ("bytes=0-9,20-29", Partial(vec![0..10, 20..30])),
            ("bytes=20-29,0-9", Partial(vec![0..10, 20..30])),
            ("bytes=0-9,5-14", one(0, 15)),
            ("bytes=0-9,10-19", one(0, 20)),
            ("bytes=0-,0-,0-", one(0, 100)),
            ("bytes=0-9, -5", Partial(vec![0..10, 95..100])),
            // Past the end: dropped; none left is 416.
            ("bytes=0-9,200-300", one(0, 10)),
            ("bytes=100-", Unsatisfiable),
            ("bytes=100-200", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=100-,-0", Unsatisfiable),
            // Not valid, or not bytes: ignored.
            ("bytes=9-0", Full),
            ("bytes=a-b", Full),
            ("bytes=-", Full),
            ("bytes=", Full),
            ("bytes=0-9,x", Full),
            ("bytes=+1-2", Full),
            ("items=0-9", Full),
            ("0-9", Full),
        ];
        for (header, expected) in cases {
            assert_eq!(&ranges(header, 100), expected, "{header}");
        }
    }

    #[test]
    fn an_empty_file_and_too_many_parts_are_sent_whole() {
        assert_eq!(ranges("bytes=0-0", 0), Full);
        assert_eq!(ranges("bytes=-5", 0), Full);
        let sixteen: Vec<String> = (0..16).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        let Partial(parts) = ranges(&format!("bytes={}", sixteen.join(",")), 100) else {
            panic!("16 parts are served")
        };
        assert_eq!(parts.len(), 16);
        let seventeen: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert_eq!(ranges(&format!("bytes={}", seventeen.join(",")), 100), Full);
    }

    #[test]
    fn a_multipart_body_is_as_long_as_it_says() {
        let body = multipart(&[0..2, 5..8], 10, "text/plain");
        let mut text = Vec::new();
        for piece in &body.pieces {
            match piece {
                Piece::Bytes(bytes) => text.extend_from_slice(bytes),
                Piece::File(range) => {
                    text.extend(b"0123456789"[range.start as usize..range.end as usize].iter())
                }
            }
        }
        let b = &body.boundary;
        assert_eq!(b.len(), 32);
        let expected = format!(
            "--{b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01\
             \r\n--{b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-7/10\r\n\r\n567\
             \r\n--{b}--\r\n"
        );
        assert_eq!(String::from_utf8(text).unwrap(), expected);
        assert_eq!(body.length, expected.len() as u64);
        assert_ne!(
            multipart(&[0..1, 3..4], 10, "x").boundary,
            *b,
            "each body has its own boundary"
        );
    }
}
