//! hyper's timer interface on kairos' timers (header-read timeouts, client timeouts).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A [`hyper::rt::Timer`] whose sleeps are kairos [`Sleep`](kairos_rt::time::Sleep)s on the
/// loop that polls them.
#[derive(Debug, Clone, Copy, Default)]
pub struct KairosTimer;

impl hyper::rt::Timer for KairosTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(kairos_rt::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(kairos_rt::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        // Our own sleeps are reset in place (keeping their waker); a foreign one is replaced.
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mine) => mine.get_mut().0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A kairos sleep, `Send + Sync` as hyper requires (kairos' `Sleep` is both).
struct HyperSleep(kairos_rt::time::Sleep);

impl Future for HyperSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}
