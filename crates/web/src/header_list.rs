//! Headers whose value is a comma-separated list of tokens (`Vary`, `Connection`, `Upgrade`,
//! `Cache-Control`): whether one lists a token, and adding a token to `Vary`.

use http::header::{HeaderMap, HeaderName, HeaderValue, VARY};

/// Whether any line of header `name` lists `token` (ASCII case-insensitively):
/// `Connection: keep-alive, Upgrade` lists `upgrade`.
pub(crate) fn lists(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Adds `token` to the response's `Vary`, unless it lists it already or varies on
/// everything (`*`): a cache must not hand this response to a request that differs in that
/// header.
pub(crate) fn add_vary(headers: &mut HeaderMap, token: &'static str) {
    if !lists(headers, &VARY, token) && !lists(headers, &VARY, "*") {
        headers.append(VARY, HeaderValue::from_static(token));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_any_line_and_case_and_vary_grows_once() {
        let mut headers = HeaderMap::new();
        headers.append(VARY, HeaderValue::from_static("Origin"));
        headers.append(VARY, HeaderValue::from_static("x-a ,Accept-Encoding"));
        assert!(lists(&headers, &VARY, "accept-encoding"));
        assert!(lists(&headers, &VARY, "origin"));
        assert!(!lists(&headers, &VARY, "encoding"));

        add_vary(&mut headers, "accept-encoding");
        add_vary(&mut headers, "cookie");
        add_vary(&mut headers, "Cookie");
        let lines: Vec<_> = headers.get_all(VARY).iter().collect();
        assert_eq!(lines, ["Origin", "x-a ,Accept-Encoding", "cookie"]);

        let mut everything = HeaderMap::new();
        everything.insert(VARY, HeaderValue::from_static("*"));
        add_vary(&mut everything, "cookie");
        assert_eq!(everything.get_all(VARY).iter().count(), 1);
    }
}
