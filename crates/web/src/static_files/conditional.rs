//! Validators (`ETag`, `Last-Modified`) and the conditional requests that use them
//! (RFC 9110 section 13): `If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//! `If-Modified-Since`, in that order, and `If-Range`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::encoding::Encoding;
use super::resolve::Found;

/// A file's validators: a strong `ETag` from its modification time and size, and its
/// modification time to the second (the `Last-Modified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Validators {
    /// With its quotes: `"65f1c2a0.1dcd6500-1f4"`.
    etag: Option<String>,
    modified: Option<SystemTime>,
}

/// What the preconditions say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precondition {
    /// Answer the request.
    Proceed,
    /// `304 Not Modified`: the client's copy is current.
    NotModified,
    /// `412 Precondition Failed`: the file is not the one the client expects.
    Failed,
}

impl Validators {
    /// The validators of the file found.
    pub(super) fn of(found: &Found) -> Validators {
        Validators::new(found.len, found.modified, found.encoding)
    }

    /// The validators of a representation of `len` bytes modified at `modified`, with the
    /// content coding `encoding` (which a tag names: another coding, another representation).
    /// A time before 1970 or none gives no validators.
    fn new(len: u64, modified: Option<SystemTime>, encoding: Option<Encoding>) -> Validators {
        let Some(since_epoch) = modified.and_then(|m| m.duration_since(UNIX_EPOCH).ok()) else {
            return Validators { etag: None, modified: None };
        };
        let suffix = match encoding {
            None => "",
            Some(Encoding::Br) => "-br",
            Some(Encoding::Gzip) => "-gz",
        };
        let etag = format!(
            "\"{:x}.{:x}-{len:x}{suffix}\"",
            since_epoch.as_secs(),
            since_epoch.subsec_nanos()
        );
        let seconds = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs());
        Validators { etag: Some(etag), modified: Some(seconds) }
    }

    /// Sets `ETag` and `Last-Modified`.
    pub(super) fn write(&self, headers: &mut HeaderMap) {
        if let Some(etag) = self.etag.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(header::ETAG, etag);
        }
        if let Some(modified) = self.modified
            && let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(modified))
        {
            headers.insert(header::LAST_MODIFIED, date);
        }
    }
}

/// Weighs the request's preconditions against the file's validators, in RFC 9110's order
/// (13.2.2): `If-Match`, else `If-Unmodified-Since` (412 when false); then `If-None-Match`,
/// else `If-Modified-Since` (304 when false, the methods here being `GET` and `HEAD`). A date
/// that cannot be parsed is ignored, as the RFC says.
pub(super) fn evaluate(headers: &HeaderMap, file: &Validators) -> Precondition {
    if let Some(tags) = joined(headers, &header::IF_MATCH) {
        if !matches_any(&tags, file, Comparison::Strong) {
            return Precondition::Failed;
        }
    } else if let Some(since) = date(headers, &header::IF_UNMODIFIED_SINCE)
        && file.modified.is_some_and(|modified| modified > since)
    {
        return Precondition::Failed;
    }
    if let Some(tags) = joined(headers, &header::IF_NONE_MATCH) {
        if matches_any(&tags, file, Comparison::Weak) {
            return Precondition::NotModified;
        }
    } else if let Some(since) = date(headers, &header::IF_MODIFIED_SINCE)
        && file.modified.is_some_and(|modified| modified <= since)
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

/// Whether a `Range` is to be honoured: there is no `If-Range`, or it names the current
/// file — its `ETag` (compared strongly) or its exact `Last-Modified` date.
pub(super) fn if_range_holds(headers: &HeaderMap, file: &Validators) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else { return true };
    let Ok(value) = value.to_str() else { return false };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return matches_any(value, file, Comparison::Strong);
    }
    match httpdate::parse_http_date(value) {
        Ok(date) => file.modified == Some(date),
        Err(_) => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Both tags strong and equal (`If-Match`, `If-Range`).
    Strong,
    /// Equal once `W/` is set aside (`If-None-Match`).
    Weak,
}

/// Whether `list` (`*`, or entity tags separated by commas) names the file's tag. A list
/// that stops making sense is read up to there.
fn matches_any(list: &str, file: &Validators, comparison: Comparison) -> bool {
    let Some(etag) = &file.etag else { return false };
    if list.trim() == "*" {
        return true;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let weak = rest.starts_with("W/");
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(end) = tag.strip_prefix('"').and_then(|t| t.find('"')) else {
            return false;
        };
        let (tag, after) = tag.split_at(end + 2);
        let equal = tag == etag;
        if equal && (comparison == Comparison::Weak || !weak) {
            return true;
        }
        rest = after;
    }
}

/// Every value of a header, joined by commas (a list may come in several lines).
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    Some(values.fold(first.to_owned(), |joined, value| joined + "," + value))
}

fn date(headers: &HeaderMap, name: &HeaderName) -> Option<SystemTime> {
    httpdate::parse_http_date(headers.get(name)?.to_str().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    fn file() -> Validators {
        Validators::new(500, Some(at(1_700_000_000, 123)), None)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (HeaderName::from_static(name), HeaderValue::from_str(value).unwrap())
            })
            .collect()
    }

    #[test]
    fn the_etag_is_strong_and_names_the_time_the_size_and_the_coding() {
        assert_eq!(file().etag.as_deref(), Some("\"6553f100.7b-1f4\""));
        let br = Validators::new(500, Some(at(1_700_000_000, 123)), Some(Encoding::Br));
        assert_eq!(br.etag.as_deref(), Some("\"6553f100.7b-1f4-br\""));
        assert_eq!(Validators::new(1, None, None), Validators { etag: None, modified: None });
        let mut written = HeaderMap::new();
        file().write(&mut written);
        assert_eq!(written[header::LAST_MODIFIED], "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn preconditions_are_weighed_in_the_rfcs_order() {
        let etag = "\"6553f100.7b-1f4\"";
        let date = "Tue, 14 Nov 2023 22:13:20 GMT";
        let before = "Tue, 14 Nov 2023 22:13:19 GMT";
        let after = "Tue, 14 Nov 2023 22:13:21 GMT";
        let weak = format!("W/{etag}");
        let listed = format!("\"other\", {etag}");
        let cases: &[(&[(&'static str, &str)], Precondition)] = &[
            (&[], Precondition::Proceed),
            (&[("if-none-match", etag)], Precondition::NotModified),
            (&[("if-none-match", &weak)], Precondition::NotModified),
            (&[("if-none-match", &listed)], Precondition::NotModified),
            (&[("if-none-match", "*")], Precondition::NotModified),
            (&[("if-none-match", "\"other\"")], Precondition::Proceed),
            (&[("if-none-match", "garbage")], Precondition::Proceed),
            // An etag with a comma inside its quotes is one tag.
            (&[("if-none-match", "\"a,b\"")], Precondition::Proceed),
            (&[("if-modified-since", date)], Precondition::NotModified),
            (&[("if-modified-since", after)], Precondition::NotModified),
            (&[("if-modified-since", before)], Precondition::Proceed),
            (&[("if-modified-since", "yesterday")], Precondition::Proceed),
            // If-None-Match takes precedence over If-Modified-Since.
            (&[("if-none-match", "\"other\""), ("if-modified-since", date)], Precondition::Proceed),
            (&[("if-match", etag)], Precondition::Proceed),
            (&[("if-match", "*")], Precondition::Proceed),
            (&[("if-match", "\"other\"")], Precondition::Failed),
            // If-Match compares strongly.
            (&[("if-match", &weak)], Precondition::Failed),
            (&[("if-unmodified-since", date)], Precondition::Proceed),
            (&[("if-unmodified-since", before)], Precondition::Failed),
            (&[("if-match", etag), ("if-unmodified-since", before)], Precondition::Proceed),
            (&[("if-match", "\"other\""), ("if-none-match", etag)], Precondition::Failed),
        ];
        for (pairs, expected) in cases {
            assert_eq!(evaluate(&headers(pairs), &file()), *expected, "{pairs:?}");
        }
        let mut split = headers(&[("if-none-match", "\"a\"")]);
        split.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"6553f100.7b-1f4\""));
        assert_eq!(evaluate(&split, &file()), Precondition::NotModified, "a list over two lines");
    }

    #[test]
    fn if_range_holds_for_the_current_etag_or_exact_date_only() {
        let cases: &[(&str, bool)] = &[
            ("\"6553f100.7b-1f4\"", true),
            ("W/\"6553f100.7b-1f4\"", false),
            ("\"6553f100.7b-1f3\"", false),
            ("Tue, 14 Nov 2023 22:13:20 GMT", true),
            ("Tue, 14 Nov 2023 22:13:21 GMT", false),
            ("not a date", false),
        ];
        for (value, expected) in cases {
            assert_eq!(
                if_range_holds(&headers(&[("if-range", value)]), &file()),
                *expected,
                "{value}"
            );
        }
        assert!(if_range_holds(&HeaderMap::new(), &file()));
    }
}
