//! The reactor's clock: `CLOCK_MONOTONIC` in microseconds, the same clock
//! io_uring's absolute timeouts use, so a deadline the engine asks for can
//! be handed to the kernel unchanged.

use nix::time::{ClockId, clock_gettime};

use crate::time::Instant;

/// Now, on `CLOCK_MONOTONIC`.
pub fn now() -> Instant {
    // CLOCK_MONOTONIC cannot fail on Linux; the fallback only keeps the
    // function total.
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => {
            let micros = (ts.tv_sec() as u64).saturating_mul(1_000_000) + ts.tv_nsec() as u64 / 1000;
            Instant::from_micros(micros)
        }
        Err(_) => Instant::ZERO,
    }
}

/// How long until `at` (zero if it has passed).
pub fn until(at: Instant) -> std::time::Duration {
    std::time::Duration::from_micros(at.as_micros().saturating_sub(now().as_micros()))
}

/// `at` as seconds and nanoseconds on `CLOCK_MONOTONIC`.
pub fn to_timespec(at: Instant) -> (u64, u32) {
    let micros = at.as_micros();
    (micros / 1_000_000, ((micros % 1_000_000) * 1000) as u32)
}
