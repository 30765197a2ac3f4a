//! The compiler's message for each handler a newcomer gets wrong: the `.stderr` file beside
//! each case in `tests/ui/` is the message, pinned. After a deliberate change to a message,
//! `TRYBUILD=overwrite cargo test -p kairos-web --test handler_errors` rewrites them.

#[test]
fn a_handler_that_does_not_fit_says_why() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/plain_fn_without_sync.rs");
    cases.compile_fail("tests/ui/async_fn_in_sync.rs");
    cases.compile_fail("tests/ui/struct_not_a_response.rs");
    cases.compile_fail("tests/ui/body_extractor_not_last.rs");
    cases.compile_fail("tests/ui/documented_plain_fn.rs");
}
