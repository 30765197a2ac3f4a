//! Structured concurrency without a runtime: run several futures at once and collect them.
//!
//! # The model
//!
//! Every combinator here runs its futures *concurrently inside the task that awaits it*. Nothing
//! is spawned: when the awaiting task is polled, the combinator polls the futures that were woken
//! since last time, and when one of them is pending the whole combinator is pending. Because the
//! futures never leave the awaiting task they may borrow from it, hold `Rc`s, and be neither
//! `Send` nor `'static`. Rust futures are lazy, so nothing starts before the combinator is first
//! polled; asyncio's `gather` and `as_completed` instead wrap coroutines in tasks that start on
//! the loop's next turn, awaited or not. For work that must start now and outlive the awaiting
//! code, spawn a task and pass its handle.
//!
//! Ownership is the whole story of cancellation. A combinator owns its futures; dropping the
//! combinator — or the combinator deciding it no longer needs one — drops them, which is Rust's
//! cancellation: each future stops at the `await` it was suspended on and its destructors run,
//! the way `finally` blocks run when an asyncio task is cancelled. Results always come back in
//! input order (or carry their input index), whatever order the futures finish in.
//!
//! The named futures ([`Gather`], [`TryGather`], [`Race`]) are `#[must_use]`, `Unpin` whatever
//! the futures inside them are, implement `FusedFuture`, and panic with a clear message if polled
//! after they completed. [`AsCompleted`] is a fused stream: after its last item it yields `None`
//! for good. The macros return `async` blocks: not `Unpin`, and they panic if polled after
//! completion, as every `async` block does.
//!
//! | asyncio (`await ...`) | kairos (`... .await`) | resolves to |
//! |---|---|---|
//! | `gather(*aws, return_exceptions=True)` | [`gather()`] | every output, in a `Vec` |
//! | `gather(*aws)` | [`try_gather()`] | `Result<Vec<T>, E>`; an error cancels the rest |
//! | `gather(a(), b(), c())` | [`gather!`](crate::gather!) | `(A, B, C)` |
//! | the same, failing fast | [`try_gather!`](crate::try_gather!) | `Result<(A, B, C), E>` |
//! | `wait(aws, return_when=FIRST_COMPLETED)` | [`race()`] | `(index, output)` of the first |
//! | `as_completed(aws)` | [`as_completed()`] | a stream of `(index, output)` |
//!
//! # Where kairos differs from the chapter
//!
//! The chapter (caution 2) says that when one awaitable in `asyncio.gather` fails, the others
//! are cancelled unless `return_exceptions=True`. They are not: asyncio propagates the first
//! exception and leaves the others running, unsupervised. [`try_gather()`] and
//! [`try_gather!`](crate::try_gather!) really do cancel them, because a result nobody can receive
//! is wasted work and a leaked task; [`gather()`] is the choice when everything must run to the
//! end.
//!
//! What gets cancelled is the futures you pass in. A handle to a task spawned on the loop is a
//! future too, and these combinators accept it, but dropping a task handle *detaches* the task
//! (the loop owns it): the handle is dropped, the task runs on. To stop spawned tasks, cancel
//! them through their handles or use a task group.
//!
//! # Cost
//!
//! The engine is [`FuturesUnordered`](futures_util::stream::FuturesUnordered), which keeps a
//! queue of the futures that were woken and polls only those. Gathering 100,000 futures therefore
//! costs each future's own polls and no more: linear, where polling every future on every wake
//! would be quadratic. A future that yields (wakes itself and returns `Pending`) makes the set hand
//! control back to the loop rather than spin on it. The macros, made for a fixed handful of
//! futures of different types, simply poll every unfinished one on each wake.
//!
//! # Layout
//!
//! - `running.rs` — the engine shared by the functions: a set of futures tagged with their input
//!   index, polled through `FuturesUnordered`.
//! - `gather.rs` — [`gather()`] / [`Gather`] and [`try_gather()`] / [`TryGather`].
//! - `race.rs` — [`race()`] / [`Race`].
//! - `as_completed.rs` — [`as_completed()`] / [`AsCompleted`].
//! - `macros.rs` — [`gather!`](crate::gather!) and [`try_gather!`](crate::try_gather!) for a fixed
//!   set of futures of different types, built with `macro_rules!` alone.

mod as_completed;
mod gather;
mod macros;
mod race;
mod running;

pub use as_completed::{as_completed, AsCompleted};
pub use gather::{gather, try_gather, Gather, TryGather};
pub use race::{race, Race};

/// What the expansions of [`gather!`](crate::gather!) and [`try_gather!`](crate::try_gather!)
/// name, reached through `$crate::combinator::__private` so that they work in any crate, with
/// any imports. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use core::future::{poll_fn, Future, IntoFuture};
    pub use core::pin::pin;
    pub use core::result::Result::{Err, Ok};
    pub use core::task::Poll;
    pub use futures_util::future::{maybe_done, try_maybe_done};
}
