//! `Accept-Encoding`: which precompressed variants a client takes, best first.

use http::header::{HeaderMap, ACCEPT_ENCODING};

/// A content coding whose precompressed files a mount can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// Brotli, `file.br`.
    Br,
    /// gzip, `file.gz`.
    Gzip,
}

impl Encoding {
    /// Its `Content-Encoding` token.
    pub(super) fn token(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// The extension of its precompressed files, after the file's own.
    pub(super) fn extension(self) -> &'static str {
        match self {
            Encoding::Br => ".br",
            Encoding::Gzip => ".gz",
        }
    }
}

/// The codings `headers`' `Accept-Encoding` accepts (`q` above 0), the higher `q` first and
/// `br` before `gzip` at equal `q`. A coding not named takes the `q` of `*`, if given;
/// `x-gzip` is `gzip`. No `Accept-Encoding`: none (the file is sent as it is). An item whose
/// `q` is not a number is refused.
pub(super) fn accepted(headers: &HeaderMap) -> Vec<Encoding> {
    let (mut br, mut gzip, mut any) = (None, None, None);
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .map(str::trim)
                .find_map(|param| param.strip_prefix("q=").or_else(|| param.strip_prefix("Q=")))
                .map_or(Some(1000), qvalue)
                .unwrap_or(0);
            let slot = if coding.eq_ignore_ascii_case("br") {
                &mut br
            } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                &mut gzip
            } else if coding == "*" {
                &mut any
            } else {
                continue;
            };
            slot.get_or_insert(q);
        }
    }
    let br = br.or(any).unwrap_or(0);
    let gzip = gzip.or(any).unwrap_or(0);
    let mut accepted = Vec::with_capacity(2);
    if br > 0 {
        accepted.push((br, Encoding::Br));
    }
    if gzip > 0 {
        accepted.push((gzip, Encoding::Gzip));
    }
    // Stable: `br` stays first on a tie.
    accepted.sort_by_key(|&(q, _)| std::cmp::Reverse(q));
    accepted.into_iter().map(|(_, encoding)| encoding).collect()
}

/// A `qvalue` (`0`, `0.5`, `1.000`) in thousandths, or `None` if it is not one.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let fraction_ok = fraction.len() <= 3 && fraction.bytes().all(|b| b.is_ascii_digit());
    if !fraction_ok {
        return None;
    }
    let thousandths = fraction.bytes().chain(std::iter::repeat(b'0')).take(3);
    let thousandths = thousandths.fold(0u16, |n, digit| n * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    use Encoding::{Br, Gzip};

    fn accepted_for(value: &str) -> Vec<Encoding> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepted(&headers)
    }

    #[test]
    fn br_is_preferred_at_equal_q_and_q_zero_refuses() {
        let cases: &[(&str, &[Encoding])] = &[
            ("gzip, deflate, br", &[Br, Gzip]),
            ("gzip", &[Gzip]),
            ("br", &[Br]),
            ("identity", &[]),
            ("", &[]),
            ("br;q=0, gzip", &[Gzip]),
            ("br;q=0.0, gzip;q=0.000", &[]),
            ("gzip;q=1.0, br;q=0.5", &[Gzip, Br]),
            ("br;q=0.9, gzip;q=0.9", &[Br, Gzip]),
            ("BR, X-GZIP", &[Br, Gzip]),
            ("*", &[Br, Gzip]),
            ("*;q=0", &[]),
            ("gzip, *;q=0", &[Gzip]),
            ("br;q=0.2, *;q=0.5", &[Gzip, Br]),
            ("gzip ; q=0.5 , br ; q=0.7", &[Br, Gzip]),
            // Not a qvalue: refused rather than guessed.
            ("br;q=high, gzip", &[Gzip]),
            ("br;q=1.5, gzip;q=2", &[]),
            ("br;q=0.1234", &[]),
        ];
        for (value, expected) in cases {
            assert_eq!(accepted_for(value), *expected, "{value:?}");
        }
        assert_eq!(accepted(&HeaderMap::new()), [], "no Accept-Encoding: as it is");
    }

    #[test]
    fn qvalues_are_read_in_thousandths() {
        for (text, expected) in [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.25", Some(250)),
            ("0.001", Some(1)),
            ("1", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("2", None),
            ("", None),
            ("0.x", None),
        ] {
            assert_eq!(qvalue(text), expected, "{text:?}");
        }
    }
}
