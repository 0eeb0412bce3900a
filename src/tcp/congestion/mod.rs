//! Congestion control (RFC 5681), behind a trait so that controllers plug
//! in. The connection owns loss detection and the recovery state machine
//! (duplicate-ACK counting, RFC 6582's `recover` point, retransmissions);
//! a controller owns only the arithmetic of `cwnd` and `ssthresh`, driven
//! by the events below.

mod cubic;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use core::time::Duration;

use crate::time::Instant;

/// Which controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// NewReno (RFC 5681 + RFC 6582), the default.
    #[default]
    NewReno,
    /// CUBIC (RFC 9438).
    Cubic,
}

impl Algorithm {
    /// A fresh controller for a connection whose sender MSS is `smss`.
    pub fn build(self, smss: u32, initial_window: u32) -> Box<dyn CongestionControl> {
        match self {
            Algorithm::NewReno => Box::new(NewReno::new(smss, initial_window)),
            Algorithm::Cubic => Box::new(Cubic::new(smss, initial_window)),
        }
    }
}

/// Snapshot of the sender passed to every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderState {
    /// Sender maximum segment size in bytes.
    pub smss: u32,
    /// Bytes sent and not yet acknowledged (RFC 5681 "FlightSize").
    pub flight: u32,
}

/// `cwnd` and `ssthresh`, and the arithmetic every loss-based controller
/// shares: slow start with appropriate byte counting, and the window
/// inflation and deflation of a NewReno fast recovery.
#[derive(Debug, Clone)]
pub struct Window {
    /// The congestion window, in bytes.
    pub cwnd: u32,
    /// The slow-start threshold, in bytes.
    pub ssthresh: u32,
    initial_segments: u32,
}

impl Window {
    pub fn new(smss: u32, initial_segments: u32) -> Window {
        Window { cwnd: initial_window(smss, initial_segments), ssthresh: u32::MAX, initial_segments }
    }

    /// Below the threshold (RFC 5681 §3.1).
    pub fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// RFC 5681 §3.1 equation 2: `cwnd += min(N, SMSS)` per ACK.
    pub fn slow_start(&mut self, acked: u32, smss: u32) {
        self.cwnd = self.cwnd.saturating_add(acked.min(smss));
    }
}

/// The events a controller reacts to, and the window it grants. A
/// controller holds a [`Window`]; the NewReno fast-recovery steps have
/// default implementations on it.
pub trait CongestionControl: core::fmt::Debug + Send {
    /// The controller's window state.
    fn state(&self) -> &Window;
    fn state_mut(&mut self) -> &mut Window;
    /// `acked` bytes of new data were acknowledged outside loss recovery
    /// (RFC 5681 §3.1 slow start and congestion avoidance).
    fn on_ack(&mut self, now: Instant, acked: u32, rtt: Option<Duration>, s: SenderState);
    /// Loss detected by duplicate ACKs or SACK: set `ssthresh` and the
    /// window for the recovery (RFC 5681 §3.2 steps 2-3).
    fn on_fast_retransmit(&mut self, now: Instant, s: SenderState);
    /// The retransmission timer expired (RFC 5681 §3.1 equation 4).
    fn on_timeout(&mut self, now: Instant, s: SenderState);

    /// The congestion window, in bytes.
    fn window(&self) -> u32 {
        self.state().cwnd
    }

    /// The slow-start threshold, in bytes.
    fn ssthresh(&self) -> u32 {
        self.state().ssthresh
    }

    /// The SMSS changed (after the handshake's MSS negotiation, before any
    /// data): rescale the initial window.
    fn set_smss(&mut self, smss: u32) {
        let w = self.state_mut();
        w.cwnd = initial_window(smss, w.initial_segments);
    }

    /// The connection was idle for more than an RTO (RFC 5681 §4.1): the
    /// window restarts at `min(IW, cwnd)`.
    fn on_idle_restart(&mut self, smss: u32) {
        let w = self.state_mut();
        w.cwnd = w.cwnd.min(initial_window(smss, w.initial_segments));
    }

    /// Another duplicate ACK arrived during fast recovery (RFC 5681 §3.2
    /// step 4: window inflation).
    fn on_recovery_dup_ack(&mut self, s: SenderState) {
        let w = self.state_mut();
        w.cwnd = w.cwnd.saturating_add(s.smss);
    }

    /// A partial ACK of `acked` bytes arrived during fast recovery
    /// (RFC 6582 §3.2 step 5: deflate by the amount acknowledged, then add
    /// back one SMSS if at least one SMSS was acknowledged).
    fn on_partial_ack(&mut self, acked: u32, s: SenderState) {
        let w = self.state_mut();
        w.cwnd = w.cwnd.saturating_sub(acked).max(s.smss);
        if acked >= s.smss {
            w.cwnd = w.cwnd.saturating_add(s.smss);
        }
    }

    /// A full ACK ended fast recovery (RFC 6582 §3.2 step 4, option 1:
    /// `min(ssthresh, max(FlightSize, SMSS) + SMSS)`).
    fn on_recovery_exit(&mut self, s: SenderState) {
        let w = self.state_mut();
        w.cwnd = w.ssthresh.min(s.flight.max(s.smss) + s.smss);
    }
}

/// RFC 6928 §2: the initial window, `min(IW·SMSS, max(2·SMSS, 14600))`
/// for the default IW of 10.
pub fn initial_window(smss: u32, segments: u32) -> u32 {
    let cap = (2 * smss).max(14600).max(smss.saturating_mul(segments.min(4)));
    smss.saturating_mul(segments.max(1)).min(cap)
}

/// RFC 5681 equation 4: `ssthresh = max(FlightSize / 2, 2·SMSS)`.
pub fn halved_flight(s: SenderState) -> u32 {
    (s.flight / 2).max(2 * s.smss)
}

/// What the controllers' unit tests share: an SMSS of 1000 bytes.
#[cfg(test)]
mod test_support {
    use super::SenderState;

    pub const SMSS: u32 = 1000;

    /// The sender with `flight` bytes outstanding.
    pub fn st(flight: u32) -> SenderState {
        SenderState { smss: SMSS, flight }
    }
}
