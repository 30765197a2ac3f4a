//! The request's path below the mount, checked before the disk is touched.
//!
//! The router percent-decodes its parameters, which would make `a%2fb` look like `a/b`; so
//! the tail is taken from the path *as sent* and decoded here, one segment at a time. The
//! router's decoded tail only says how many segments to take: once no segment hides a `/`,
//! the raw and decoded tails have as many.

use percent_encoding::percent_decode_str;

/// A checked path below the root: the names to join to it, in order, and whether the path
/// ended with `/` (a directory's index is asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Wanted {
    pub(super) segments: Vec<String>,
    pub(super) trailing_slash: bool,
}

/// The path below the mount of `raw_path` (the request's path, percent-encoded) whose last
/// `tail_segments` segments are the mount's tail (`None`: the mount's bare prefix), or
/// `None` if it is refused: a `.` or `..` segment, an empty one (`a//b`), one that decodes
/// to a separator, a backslash or NUL, one that is not UTF-8 once decoded, or a hidden name
/// (`.env`) unless `allow_hidden`.
pub(super) fn wanted(
    raw_path: &str,
    tail_segments: Option<usize>,
    allow_hidden: bool,
) -> Option<Wanted> {
    let Some(count) = tail_segments else {
        return Some(Wanted { segments: Vec::new(), trailing_slash: false });
    };
    let tail = raw_tail(raw_path, count)?;
    let mut raw_segments: Vec<&str> = tail.split('/').collect();
    let trailing_slash = raw_segments.last() == Some(&"");
    if trailing_slash {
        raw_segments.pop();
    }
    let segments = raw_segments
        .into_iter()
        .map(|raw| segment(raw, allow_hidden))
        .collect::<Option<Vec<String>>>()?;
    Some(Wanted { segments, trailing_slash })
}

/// The last `count` segments of `path` (`"a/b"` for 2 of `"/static/a/b"`), or `None` if it
/// has fewer.
fn raw_tail(path: &str, count: usize) -> Option<&str> {
    let mut start = path.len();
    for _ in 0..count {
        start = path[..start].rfind('/')?;
    }
    Some(&path[start + 1..])
}

/// One segment, decoded and checked.
fn segment(raw: &str, allow_hidden: bool) -> Option<String> {
    let decoded = percent_decode_str(raw).decode_utf8().ok()?;
    let refused = decoded.is_empty()
        || decoded == "."
        || decoded == ".."
        || decoded.contains(['/', '\\', '\0'])
        || (cfg!(windows) && decoded.contains(':'))
        || (!allow_hidden && decoded.starts_with('.'));
    (!refused).then(|| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(segments: &[&str], trailing_slash: bool) -> Option<Wanted> {
        let segments = segments.iter().map(|s| s.to_string()).collect();
        Some(Wanted { segments, trailing_slash })
    }

    /// Each case: the raw path, how many segments the router's tail had once decoded (as
    /// the router counts them), and what is wanted.
    #[test]
    fn paths_below_the_mount_are_decoded_per_segment_and_refused_when_they_could_escape() {
        let cases: &[(&str, Option<usize>, Option<Wanted>)] = &[
            ("/static", None, names(&[], false)),
            ("/static/", Some(1), names(&[], true)),
            ("/static/a.txt", Some(1), names(&["a.txt"], false)),
            ("/static/css/site.css", Some(2), names(&["css", "site.css"], false)),
            ("/static/docs/", Some(2), names(&["docs"], true)),
            ("/static/with%20space.txt", Some(1), names(&["with space.txt"], false)),
            ("/static/caf%C3%A9.txt", Some(1), names(&["café.txt"], false)),
            // A double encoding is decoded once: a file named `%2e%2e`, not a parent.
            ("/static/%252e%252e", Some(1), names(&["%2e%2e"], false)),
            ("/api/static/a/b", Some(2), names(&["a", "b"], false)),
            // Refused.
            ("/static/../secret", Some(2), None),
            ("/static/a/../../secret", Some(4), None),
            ("/static/./a", Some(2), None),
            ("/static/%2e%2e/secret", Some(2), None),
            ("/static/.%2E/secret", Some(2), None),
            ("/static/%2E%2e", Some(1), None),
            // `%2f` decodes to a separator: the router counts 4 segments where 2 were sent.
            ("/static/a/..%2f..%2fsecret", Some(4), None),
            ("/static/..%2Fsecret", Some(2), None),
            ("/static/..%5csecret", Some(1), None),
            ("/static/..\\secret", Some(1), None),
            ("/static/a%00.txt", Some(1), None),
            ("/static//etc/passwd", Some(3), None),
            ("/static/a//b", Some(3), None),
            ("/static/%ff.txt", Some(1), None),
            ("/static/.env", Some(1), None),
            ("/static/.git/config", Some(2), None),
            ("/static/a/.hidden/b", Some(3), None),
            // More segments than the path has.
            ("/a", Some(3), None),
        ];
        for (raw, tail, expected) in cases {
            assert_eq!(&wanted(raw, *tail, false), expected, "{raw}");
        }
    }

    #[test]
    fn hidden_names_are_served_only_when_allowed_and_dot_segments_never() {
        assert_eq!(
            wanted("/static/.well-known/x", Some(2), true),
            names(&[".well-known", "x"], false)
        );
        assert_eq!(wanted("/static/.env", Some(1), true), names(&[".env"], false));
        assert_eq!(wanted("/static/../x", Some(2), true), None);
        assert_eq!(wanted("/static/%2e%2e/x", Some(2), true), None);
        assert_eq!(wanted("/static/./x", Some(2), true), None);
    }
}
