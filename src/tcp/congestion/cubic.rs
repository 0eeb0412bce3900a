//! CUBIC (RFC 9438): a cubic window growth function of the time since the
//! last congestion event, with a Reno-friendly region, multiplicative
//! decrease by β = 0.7 and fast convergence.

use core::time::Duration;

use super::{CongestionControl, SenderState, Window};
use crate::time::Instant;

/// RFC 9438 §4.1: C = 0.4 (segments per second cubed).
const C: f64 = 0.4;
/// RFC 9438 §4.6: β_cubic = 0.7.
const BETA: f64 = 0.7;
/// RFC 9438 §4.3: α_cubic = 3·(1 − β)/(1 + β).
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

#[derive(Debug, Clone)]
pub struct Cubic {
    w: Window,
    /// W_max of RFC 9438 §4.1, in segments.
    w_max: f64,
    /// W_max before the last reduction, for fast convergence (§4.7).
    w_last_max: f64,
    /// K of §4.2, in seconds.
    k: f64,
    /// When the current congestion-avoidance epoch began (§4.2 t = 0).
    epoch: Option<Instant>,
    /// W_est of §4.3, the Reno-friendly estimate, in segments.
    w_est: f64,
    /// Latest RTT sample.
    rtt: Duration,
}

impl Cubic {
    pub fn new(smss: u32, initial_segments: u32) -> Cubic {
        Cubic {
            w: Window::new(smss, initial_segments),
            w_max: 0.0,
            w_last_max: 0.0,
            k: 0.0,
            epoch: None,
            w_est: 0.0,
            rtt: Duration::from_millis(100),
        }
    }

    /// W_cubic(t) of §4.2, in segments.
    fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    /// §4.6-4.7: a congestion event shrinks the window by β and remembers
    /// where it happened.
    fn reduce(&mut self, s: SenderState) {
        let smss = f64::from(s.smss);
        let cwnd_segments = f64::from(self.w.cwnd) / smss;
        self.w_max = if cwnd_segments < self.w_last_max {
            cwnd_segments * (1.0 + BETA) / 2.0 // fast convergence
        } else {
            cwnd_segments
        };
        self.w_last_max = cwnd_segments;
        self.w.ssthresh = ((f64::from(self.w.cwnd) * BETA) as u32).max(2 * s.smss);
        self.epoch = None;
    }
}

impl CongestionControl for Cubic {
    fn state(&self) -> &Window {
        &self.w
    }

    fn state_mut(&mut self) -> &mut Window {
        &mut self.w
    }

    fn on_ack(&mut self, now: Instant, acked: u32, rtt: Option<Duration>, s: SenderState) {
        if let Some(r) = rtt {
            self.rtt = r;
        }
        if self.w.in_slow_start() {
            self.w.slow_start(acked, s.smss);
            return;
        }
        let smss = f64::from(s.smss);
        let cwnd = f64::from(self.w.cwnd) / smss;
        let epoch = *self.epoch.get_or_insert_with(|| {
            self.k = if self.w_max > cwnd { ((self.w_max - cwnd) / C).cbrt() } else { 0.0 };
            self.w_est = cwnd;
            now
        });
        let t = now.saturating_since(epoch).as_secs_f64();
        let target = self.w_cubic(t + self.rtt.as_secs_f64()).clamp(cwnd, 1.5 * cwnd);
        self.w_est += ALPHA * f64::from(acked) / f64::from(self.w.cwnd);
        let next = if self.w_cubic(t) < self.w_est {
            self.w_est // the Reno-friendly region (§4.3)
        } else {
            cwnd + (target - cwnd) * f64::from(acked) / f64::from(self.w.cwnd) // §4.4-4.5
        };
        self.w.cwnd = ((next * smss) as u32).max(self.w.cwnd);
    }

    fn on_fast_retransmit(&mut self, _now: Instant, s: SenderState) {
        self.reduce(s);
        self.w.cwnd = self.w.ssthresh + 3 * s.smss;
    }

    fn on_timeout(&mut self, _now: Instant, s: SenderState) {
        self.reduce(s);
        self.w.cwnd = s.smss;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::congestion::test_support::{SMSS, st};

    #[test]
    fn reduces_by_beta_and_regrows_toward_w_max() {
        let mut c = Cubic::new(SMSS, 10);
        let mut now = Instant::ZERO;
        let rtt = Some(Duration::from_millis(50));
        while c.window() < 100_000 {
            c.on_ack(now, SMSS, rtt, st(c.window()));
        }
        let before = c.window();
        c.on_fast_retransmit(now, st(before));
        c.on_recovery_exit(st(before));
        assert_eq!(c.ssthresh(), (f64::from(before) * BETA) as u32);
        let after = c.window();
        // Congestion avoidance: concave growth back toward W_max.
        let mut last = after;
        for _ in 0..400 {
            now += Duration::from_millis(10);
            c.on_ack(now, SMSS, rtt, st(c.window()));
            assert!(c.window() >= last);
            last = c.window();
        }
        assert!(last > after, "the window grows after a reduction");
        assert!(f64::from(last) < f64::from(before) * 1.3, "growth plateaus near W_max");
    }

    #[test]
    fn timeout_is_one_segment() {
        let mut c = Cubic::new(SMSS, 10);
        c.on_timeout(Instant::ZERO, st(10_000));
        assert_eq!(c.window(), SMSS);
        assert_eq!(c.ssthresh(), 7000);
    }
}
