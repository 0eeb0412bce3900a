//! Congestion control (RFC 5681), behind a trait so that controllers plug
//! in. The connection owns loss detection and the recovery state machine
//! (duplicate-ACK counting, RFC 6582's `recover` point, retransmissions);
//! a controller owns only the arithmetic of `cwnd` and `ssthresh`, driven
//! by the events below.

mod newreno;

pub use newreno::NewReno;

use core::time::Duration;

use crate::time::Instant;

/// Which controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// NewReno (RFC 5681 + RFC 6582), the default.
    #[default]
    NewReno,
}

impl Algorithm {
    /// A fresh controller for a connection whose sender MSS is `smss`.
    pub fn build(self, smss: u32, initial_window: u32) -> Box<dyn CongestionControl> {
        match self {
            Algorithm::NewReno => Box::new(NewReno::new(smss, initial_window)),
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

/// The events a controller reacts to, and the window it grants.
pub trait CongestionControl: core::fmt::Debug + Send {
    /// The congestion window, in bytes.
    fn window(&self) -> u32;
    /// The slow-start threshold, in bytes.
    fn ssthresh(&self) -> u32;
    /// The SMSS changed (after the handshake's MSS negotiation, before any
    /// data): rescale the initial window.
    fn set_smss(&mut self, smss: u32);
    /// `acked` bytes of new data were acknowledged outside loss recovery
    /// (RFC 5681 §3.1 slow start and congestion avoidance).
    fn on_ack(&mut self, now: Instant, acked: u32, rtt: Option<Duration>, s: SenderState);
    /// Three duplicate ACKs started fast retransmit (RFC 5681 §3.2 step 2-3).
    fn on_fast_retransmit(&mut self, now: Instant, s: SenderState);
    /// Another duplicate ACK arrived during fast recovery (RFC 5681 §3.2
    /// step 4: window inflation).
    fn on_recovery_dup_ack(&mut self, s: SenderState);
    /// A partial ACK of `acked` bytes arrived during fast recovery
    /// (RFC 6582 §3.2 step 5: deflation).
    fn on_partial_ack(&mut self, acked: u32, s: SenderState);
    /// A full ACK ended fast recovery (RFC 6582 §3.2 step 4).
    fn on_recovery_exit(&mut self, s: SenderState);
    /// The retransmission timer expired (RFC 5681 §3.1 equation 4).
    fn on_timeout(&mut self, now: Instant, s: SenderState);
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
