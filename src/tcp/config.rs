//! Per-connection tunables, with defaults close to Linux's.

use core::time::Duration;

use super::congestion::Algorithm;
use crate::error::Error;

/// Settings of one TCP connection. The stack hands a copy to every new
/// connection; [`TcpConfig::default`] gives the values documented on each
/// field.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TcpConfig {
    /// Send buffer capacity in bytes (default 256 KiB).
    pub send_buffer: usize,
    /// Receive buffer capacity in bytes (default 256 KiB). It bounds the
    /// advertised window and the out-of-order data held.
    pub recv_buffer: usize,
    /// Offer window scaling (RFC 7323 §2; default on). Used only when both
    /// SYNs carry the option.
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3; default on).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018; default on).
    pub sack: bool,
    /// Initial RTO before any RTT sample (RFC 6298 §2.1: 1 s).
    pub initial_rto: Duration,
    /// Lower bound on the RTO (default 200 ms, as Linux; RFC 6298 §2.4
    /// suggests 1 s).
    pub min_rto: Duration,
    /// Upper bound on the RTO (RFC 6298 §2.5 allows at least 60 s; default
    /// 60 s).
    pub max_rto: Duration,
    /// Consecutive retransmission timeouts (or unanswered zero-window
    /// probes) after which an established connection fails with
    /// `TimedOut` (default 15, as Linux's `tcp_retries2`).
    pub max_retries: u32,
    /// SYN retransmissions of an active open before giving up (default 7:
    /// with a 1 s initial RTO, the handshake is retried for over 3
    /// minutes, as RFC 1122 §4.2.3.5 and RFC 9293 §3.8.3 require; Linux's
    /// 6 gives about 2).
    pub syn_retries: u32,
    /// SYN-ACK retransmissions of a passive open before the half-open
    /// connection is dropped (default 5, about 63 s, as Linux's
    /// `tcp_synack_retries`: the peer that opened it retries on its own
    /// schedule). Fewer while the listener's SYN queue is filling
    /// ([`crate::stack::Limits::synack_retries_under_pressure`]).
    pub synack_retries: u32,
    /// Retransmission timeouts and zero-window probes, answered or not,
    /// after which a connection the application has closed gives up
    /// (default 8, as Linux's `tcp_orphan_retries` = 0): a peer that
    /// keeps answering probes of a closed window cannot hold it forever.
    pub orphan_retries: u32,
    /// Longest an ACK may be delayed (RFC 9293 §3.8.6.3 caps it at 500 ms,
    /// RFC 5681 §4.2 asks for less; default 40 ms).
    pub delayed_ack: Duration,
    /// Disable Nagle's algorithm (RFC 9293 §3.7.4; default false).
    pub nodelay: bool,
    /// Keep-alive probing (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6); default off.
    pub keepalive: Option<Keepalive>,
    /// TIME-WAIT duration, 2·MSL (default 60 s).
    pub time_wait: Duration,
    /// How long an orphaned connection (closed by the application) may sit
    /// in FIN-WAIT-2 (default 60 s, as Linux's `tcp_fin_timeout`).
    pub fin_wait2_timeout: Duration,
    /// Challenge ACKs (RFC 5961 §7) allowed per connection per second
    /// (default 10).
    pub challenge_ack_limit: u32,
    /// Least time between two ACKs to segments without data that are out
    /// of the window, fail PAWS, or repeat the peer's SYN (default 500 ms,
    /// as Linux's `tcp_invalid_ratelimit`). Data segments are always
    /// acknowledged: they are no part of an ACK loop.
    pub invalid_ack_interval: Duration,
    /// Congestion controller (default NewReno).
    pub congestion: Algorithm,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_window: u32,
}

/// Keep-alive timing (RFC 1122 §4.2.3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// Idle time before the first probe (RFC 1122: at least 2 hours by
    /// default).
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes after which the connection fails with `TimedOut`.
    pub probes: u32,
}

impl Keepalive {
    /// The first probe after `idle`, then one every `interval`, failing
    /// after `probes` unanswered ones.
    pub fn new(idle: Duration, interval: Duration, probes: u32) -> Keepalive {
        Keepalive { idle, interval, probes }
    }
}

impl Default for Keepalive {
    /// Linux's defaults: 2 hours, 75 s, 9 probes.
    fn default() -> Self {
        Keepalive::new(Duration::from_secs(7200), Duration::from_secs(75), 9)
    }
}

/// Largest buffer a 16-bit window scaled by 14 can offer (RFC 7323 §2.3).
pub const MAX_BUFFER: usize = 1 << 30;

impl TcpConfig {
    /// Checks the settings are in range: buffers of 1 byte to 1 GiB, RTO
    /// bounds in order, at least one segment of initial window.
    pub fn validate(&self) -> Result<(), Error> {
        let buffers_ok =
            (1..=MAX_BUFFER).contains(&self.send_buffer) && (1..=MAX_BUFFER).contains(&self.recv_buffer);
        let rto_ok = !self.min_rto.is_zero() && self.min_rto <= self.max_rto;
        if buffers_ok && rto_ok && self.initial_window >= 1 { Ok(()) } else { Err(Error::InvalidInput) }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            window_scaling: true,
            timestamps: true,
            sack: true,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            max_retries: 15,
            syn_retries: 7,
            synack_retries: 5,
            orphan_retries: 8,
            delayed_ack: Duration::from_millis(40),
            nodelay: false,
            keepalive: None,
            time_wait: Duration::from_secs(60),
            fin_wait2_timeout: Duration::from_secs(60),
            challenge_ack_limit: 10,
            invalid_ack_interval: Duration::from_millis(500),
            congestion: Algorithm::NewReno,
            initial_window: 10,
        }
    }
}
