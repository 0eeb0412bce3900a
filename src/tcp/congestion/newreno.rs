//! NewReno: RFC 5681 slow start and congestion avoidance with appropriate
//! byte counting (RFC 3465), and RFC 6582 fast recovery.

use core::time::Duration;

use super::{CongestionControl, SenderState, Window, halved_flight};
use crate::time::Instant;

#[derive(Debug, Clone)]
pub struct NewReno {
    w: Window,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew.
    acked_in_avoidance: u32,
}

impl NewReno {
    pub fn new(smss: u32, initial_segments: u32) -> NewReno {
        NewReno { w: Window::new(smss, initial_segments), acked_in_avoidance: 0 }
    }
}

impl CongestionControl for NewReno {
    fn state(&self) -> &Window {
        &self.w
    }

    fn state_mut(&mut self) -> &mut Window {
        &mut self.w
    }

    fn on_ack(&mut self, _now: Instant, acked: u32, _rtt: Option<Duration>, s: SenderState) {
        if self.w.in_slow_start() {
            self.w.slow_start(acked, s.smss);
            return;
        }
        // RFC 5681 §3.1: about one SMSS per RTT, counted in bytes
        // (RFC 3465 §2.1).
        self.acked_in_avoidance = self.acked_in_avoidance.saturating_add(acked);
        if self.acked_in_avoidance >= self.w.cwnd {
            self.acked_in_avoidance -= self.w.cwnd;
            self.w.cwnd = self.w.cwnd.saturating_add(s.smss);
        }
    }

    fn on_fast_retransmit(&mut self, _now: Instant, s: SenderState) {
        self.w.ssthresh = halved_flight(s);
        self.w.cwnd = self.w.ssthresh + 3 * s.smss;
        self.acked_in_avoidance = 0;
    }

    fn on_timeout(&mut self, _now: Instant, s: SenderState) {
        self.w.ssthresh = halved_flight(s);
        self.w.cwnd = s.smss; // RFC 5681 §3.1: the loss window is one SMSS.
        self.acked_in_avoidance = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::congestion::test_support::{SMSS, st};

    #[test]
    fn slow_start_then_avoidance() {
        let mut c = NewReno::new(SMSS, 10);
        assert_eq!(c.window(), 10_000);
        c.on_ack(Instant::ZERO, 1000, None, st(10_000));
        assert_eq!(c.window(), 11_000);
        c.on_ack(Instant::ZERO, 5000, None, st(10_000));
        assert_eq!(c.window(), 12_000, "RFC 5681 eq. 2: at most one SMSS per ACK");
        c.on_timeout(Instant::ZERO, st(20_000));
        assert_eq!((c.window(), c.ssthresh()), (1000, 10_000));
        for _ in 0..9 {
            c.on_ack(Instant::ZERO, 1000, None, st(1000));
        }
        assert_eq!(c.window(), 10_000);
        // Now in congestion avoidance: one SMSS per cwnd of acked bytes.
        for _ in 0..9 {
            c.on_ack(Instant::ZERO, 1000, None, st(10_000));
        }
        assert_eq!(c.window(), 10_000);
        c.on_ack(Instant::ZERO, 1000, None, st(10_000));
        assert_eq!(c.window(), 11_000);
    }

    #[test]
    fn fast_recovery_inflates_and_deflates() {
        let mut c = NewReno::new(SMSS, 10);
        c.on_fast_retransmit(Instant::ZERO, st(20_000));
        assert_eq!((c.ssthresh(), c.window()), (10_000, 13_000));
        c.on_recovery_dup_ack(st(20_000));
        assert_eq!(c.window(), 14_000);
        c.on_partial_ack(3000, st(17_000));
        assert_eq!(c.window(), 12_000);
        c.on_recovery_exit(st(4000));
        assert_eq!(c.window(), 5000);
    }
}
