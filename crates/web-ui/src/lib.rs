//! kairos-web's compile-time messages, pinned.
//!
//! A handler that does not fit a route — a plain `fn` without `sync`, an `async fn` handed to
//! `sync`, a struct returned without `Json`, a body extractor before the others, a documented
//! plain `fn` — is refused by the compiler, and the message it gets is part of kairos-web's
//! interface: it says what to write instead. `tests/handler_errors.rs` compiles each case in
//! `tests/ui/` with trybuild and compares the message with the `.stderr` file beside it.
//!
//! The crate holds no code: it exists so those cases compile against kairos-web alone (see
//! the comment in its `Cargo.toml`). After a deliberate change to a message,
//! `TRYBUILD=overwrite cargo test -p kairos-web-ui` rewrites the files; read the diff.

#![forbid(unsafe_code)]
