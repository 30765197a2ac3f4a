//! hyper's executor on a kairos loop: HTTP/2 (server streams, a client connection's
//! background work) asks for one, and the loop's tasks need not be `Send`.

use std::future::Future;

/// Runs what hyper hands it as a task on the current loop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoopExecutor;

impl<F> hyper::rt::Executor<F> for LoopExecutor
where
    F: Future + 'static,
{
    fn execute(&self, future: F) {
        kairos_rt::spawn(future).detach();
    }
}
