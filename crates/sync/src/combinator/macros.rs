//! [`gather!`](crate::gather!) and [`try_gather!`](crate::try_gather!): a fixed set of futures of
//! different types, run concurrently, collected into a tuple.
//!
//! Both are `macro_rules!` only. Each future gets its own hygienic binding: the `@name` rules
//! move one future at a time into a list, pairing it with an identifier `fut` written by that
//! recursion step, and identifiers written by different macro expansions are different
//! variables even though they are spelled alike. The final rule then has one variable per
//! future and no counting is needed. Everything the expansion names goes through
//! `$crate::combinator::__private`, so it works from any crate whatever that crate imports.

/// Runs a fixed set of futures of different types concurrently and resolves to a tuple of their
/// outputs, in argument order.
///
/// asyncio counterpart: `a, b, c = await asyncio.gather(fa(), fb(), fc())` — with every
/// future running to the end, like `return_exceptions=True`: a `Result` output is just a value
/// in its slot. To stop at the first error, use [`try_gather!`](crate::try_gather!); for many
/// futures of one type, [`gather()`](crate::combinator::gather()).
///
/// `gather!(a, b, c)` evaluates its arguments at once (anything `.await` accepts: a `Future` or
/// an `IntoFuture`) and returns a future; await it to run them. Nothing runs until then — unlike
/// `asyncio.gather`, which wraps each coroutine in a task that starts on the loop's next turn.
/// The futures run inside the awaiting task, so they may borrow and need not be `Send`; dropping
/// the returned future cancels those still running. Each unfinished future is
/// polled once per wake of the whole, which is right for a handful of futures; a single argument
/// gives a one-element tuple `(a,)`, and a trailing comma is allowed.
///
/// The returned future is an `async` block: it is not `Unpin` (pin it with `std::pin::pin!` or
/// `Box::pin` to poll it by hand), and polling it after completion panics.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// async fn user(id: u32) -> String { format!("user {id}") }
/// async fn score(id: u32) -> u64 { u64::from(id) * 100 }
/// async fn banned(_id: u32) -> Result<bool, String> { Err("cache is down".into()) }
///
/// let (name, points, ban) = kairos_sync::gather!(user(7), score(7), banned(7)).await;
/// assert_eq!(name, "user 7");
/// assert_eq!(points, 700);
/// assert_eq!(ban, Err("cache is down".to_string())); // the error is just a value
/// # });
/// ```
///
/// At least one future is needed:
///
/// ```compile_fail
/// let nothing = kairos_sync::gather!();
/// ```
#[macro_export]
macro_rules! gather {
    () => {
        ::core::compile_error!("gather!() needs at least one future, as in `gather!(a, b)`")
    };
    // Give the next future a binding of its own (see the module docs).
    (@name [$($named:tt)*] $head:expr, $($rest:expr,)*) => {
        $crate::gather!(@name [$($named)* (fut $head)] $($rest,)*)
    };
    (@name [$(($name:ident $future:expr))+]) => {{
        $(
            let $name = $crate::combinator::__private::maybe_done(
                $crate::combinator::__private::IntoFuture::into_future($future),
            );
        )+
        async move {
            $( let mut $name = $crate::combinator::__private::pin!($name); )+
            $crate::combinator::__private::poll_fn(|cx| {
                let mut all_done = true;
                $(
                    // `MaybeDone` polls its future only until it is done.
                    if $crate::combinator::__private::Future::poll($name.as_mut(), cx).is_pending()
                    {
                        all_done = false;
                    }
                )+
                if all_done {
                    $crate::combinator::__private::Poll::Ready(())
                } else {
                    $crate::combinator::__private::Poll::Pending
                }
            })
            .await;
            ($( $name.as_mut().take_output().expect("gather!: every future is done"), )+)
        }
    }};
    ($($future:expr),+ $(,)?) => {
        $crate::gather!(@name [] $($future,)+)
    };
}

/// Runs a fixed set of fallible futures of different types concurrently and resolves to a tuple
/// of their values, or to the first error after cancelling the rest.
///
/// Every argument is a future whose output is `Result<_, E>` with the same `E` (convert with
/// `map_err` first if they differ). The first `Err` — first in completion order; among futures
/// that fail in the same wake, the earliest argument — is returned at once, and every future
/// still running is dropped before the returned future completes: each stops at its `await` and
/// its destructors run. With no error the result is `Ok((a, b, c))` in argument order.
///
/// asyncio counterpart: `await asyncio.gather(fa(), fb(), fc())` without `return_exceptions` —
/// except that asyncio leaves the other awaitables running after the first exception, and
/// kairos cancels them (see [`try_gather()`](crate::combinator::try_gather()) for why). For many
/// futures of one type, use `try_gather()`; to let every future finish,
/// [`gather!`](crate::gather!).
///
/// Arguments are evaluated at once and the returned future must be awaited, as with
/// [`gather!`](crate::gather!); it is not `Unpin`, and polling it after completion panics.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// async fn user(id: u32) -> Result<String, String> { Ok(format!("user {id}")) }
/// async fn score(id: u32) -> Result<u64, String> { Ok(u64::from(id) * 100) }
///
/// let (name, points) = kairos_sync::try_gather!(user(7), score(7)).await?;
/// assert_eq!((name.as_str(), points), ("user 7", 700));
///
/// // The first failure wins and `std::future::pending()`, which would never finish, is dropped.
/// let failing = async { Err::<u8, String>("boom".into()) };
/// let never = async { std::future::pending::<()>().await; Ok::<u8, String>(0) };
/// assert_eq!(kairos_sync::try_gather!(never, failing).await, Err("boom".to_string()));
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
#[macro_export]
macro_rules! try_gather {
    () => {
        ::core::compile_error!("try_gather!() needs at least one future, as in `try_gather!(a, b)`")
    };
    // Give the next future a binding of its own (see the module docs).
    (@name [$($named:tt)*] $head:expr, $($rest:expr,)*) => {
        $crate::try_gather!(@name [$($named)* (fut $head)] $($rest,)*)
    };
    (@name [$(($name:ident $future:expr))+]) => {{
        $(
            let $name = $crate::combinator::__private::try_maybe_done(
                $crate::combinator::__private::IntoFuture::into_future($future),
            );
        )+
        async move {
            $( let mut $name = $crate::combinator::__private::pin!($name); )+
            let outcome = $crate::combinator::__private::poll_fn(|cx| {
                let mut all_done = true;
                $(
                    // `TryMaybeDone` polls its future only until it is done.
                    match $crate::combinator::__private::Future::poll($name.as_mut(), cx) {
                        $crate::combinator::__private::Poll::Ready(
                            $crate::combinator::__private::Ok(()),
                        ) => {}
                        $crate::combinator::__private::Poll::Ready(
                            $crate::combinator::__private::Err(error),
                        ) => {
                            return $crate::combinator::__private::Poll::Ready(
                                $crate::combinator::__private::Err(error),
                            );
                        }
                        $crate::combinator::__private::Poll::Pending => all_done = false,
                    }
                )+
                if all_done {
                    $crate::combinator::__private::Poll::Ready(
                        $crate::combinator::__private::Ok(()),
                    )
                } else {
                    $crate::combinator::__private::Poll::Pending
                }
            })
            .await;
            // Returning drops the pinned futures, so on an error those still running are
            // cancelled before the caller sees it.
            match outcome {
                $crate::combinator::__private::Ok(()) => $crate::combinator::__private::Ok((
                    $(
                        $name.as_mut().take_output().expect("try_gather!: every future succeeded"),
                    )+
                )),
                $crate::combinator::__private::Err(error) => {
                    $crate::combinator::__private::Err(error)
                }
            }
        }
    }};
    ($($future:expr),+ $(,)?) => {
        $crate::try_gather!(@name [] $($future,)+)
    };
}
