//! The recording's clock: the CPU's time-stamp counter, read through `quanta`.
//!
//! A poll of a busy loop lasts a few tens of nanoseconds, and the recording reads the clock
//! once per poll. `Instant::now()` costs about 30 ns here (a vDSO call that reads the same
//! counter and scales it); the raw counter costs about a third of that, and the scaling to
//! nanoseconds happens only when the recording is exported. quanta falls back to the
//! monotonic clock where the counter is not invariant, so the recording stays correct, only
//! dearer.

use std::sync::OnceLock;
use std::time::Duration;

/// The process-wide recording clock and the instant the trace's time axis starts from.
pub(crate) struct TraceClock {
    clock: quanta::Clock,
    /// The raw reading the trace's microseconds count from.
    epoch: u64,
    /// Ticks per microsecond, for turning a duration into a tick count.
    ticks_per_us: f64,
}

impl TraceClock {
    /// The clock, calibrated on first use (a few milliseconds, once per process).
    pub(crate) fn get() -> &'static TraceClock {
        static CLOCK: OnceLock<TraceClock> = OnceLock::new();
        CLOCK.get_or_init(|| {
            let clock = quanta::Clock::new();
            let epoch = clock.raw();
            // How many nanoseconds 10⁹ ticks are: the calibrated scale, read back.
            let ns_per_giga_tick = clock.delta_as_nanos(0, 1_000_000_000).max(1) as f64;
            TraceClock { clock, epoch, ticks_per_us: 1e12 / ns_per_giga_tick }
        })
    }

    /// The raw counter now.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.raw()
    }

    /// A reading as microseconds since the epoch (0 for readings before it).
    pub(crate) fn micros(&self, ticks: u64) -> f64 {
        if ticks <= self.epoch {
            return 0.0;
        }
        self.clock.delta_as_nanos(self.epoch, ticks) as f64 / 1000.0
    }

    /// A tick count as a duration.
    pub(crate) fn duration(&self, ticks: u64) -> Duration {
        Duration::from_nanos(self.clock.delta_as_nanos(0, ticks))
    }

    /// The reading `micros` microseconds after the epoch.
    pub(crate) fn at_micros(&self, micros: f64) -> u64 {
        self.epoch.saturating_add((micros.max(0.0) * self.ticks_per_us) as u64)
    }
}
