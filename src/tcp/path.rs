//! What the network says about a connection's path: ICMP errors that the
//! stack has matched to this connection (RFC 5927 §4.1: the quoted
//! sequence number must be in flight), turned into one of three signals.
//!
//! - **Packet too big** (RFC 1191 for IPv4, RFC 8201 for IPv6): the path
//!   carries segments of at most some size. The connection re-segments at
//!   once and resends what is in flight from SND.UNA, as after a timeout
//!   but with no back-off and no congestion response (the loss was not
//!   congestion; Linux's `tcp_simple_retransmit` does the same).
//! - **Soft errors** (RFC 1122 §4.2.3.9: destination unreachable codes 0, 1
//!   and 5, time exceeded, parameter problem): never fatal; kept for the
//!   application ([`Connection::take_soft_error`]) and reported in place of
//!   `TimedOut` if the connection later times out.
//! - **Hard errors** (protocol or port unreachable): abort a connection
//!   still in SYN-SENT (RFC 1122 §4.2.3.9, RFC 5461 §4); anywhere else
//!   they are soft.

use super::connection::Connection;
use super::{SeqNum, State};
use crate::error::Error;

/// What an ICMP error means to the connection it quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSignal {
    /// The path carries TCP payloads of at most this many bytes (the path
    /// MTU less the network and TCP headers).
    Mss(u32),
    /// A soft error.
    Soft(Error),
    /// A hard error: fatal in SYN-SENT only.
    Hard(Error),
}

/// The smallest MSS a path signal may set. The stack has already clamped
/// the path MTU to its family's minimum (576 for IPv4, 1280 for IPv6), so
/// this only keeps the arithmetic sane.
const MIN_PATH_MSS: u32 = 88;

impl Connection {
    /// RFC 5927 §4.1: whether `seq`, the sequence number an ICMP error
    /// quotes from one of our segments, lies in SND.UNA..SND.NXT, so that
    /// the error may really be about this connection's data in flight.
    pub fn quotes_in_flight(&self, seq: SeqNum) -> bool {
        match self.state {
            // The SYN is SND.UNA itself.
            State::SynSent | State::SynReceived => seq == self.snd.una,
            _ => seq.in_range(self.snd.una, self.snd.nxt),
        }
    }

    /// Acts on a path signal the stack validated (module docs).
    pub fn handle_path_signal(&mut self, signal: PathSignal) {
        match signal {
            PathSignal::Mss(mss) => self.lower_path_mss(mss.max(MIN_PATH_MSS)),
            PathSignal::Hard(e) if self.state == State::SynSent => self.fail(e),
            PathSignal::Hard(e) | PathSignal::Soft(e) => self.soft_error = Some(e),
        }
    }

    /// The soft error an ICMP message last reported, once (RFC 1122
    /// §4.2.3.9: reported to the application, never fatal).
    pub fn take_soft_error(&mut self) -> Option<Error> {
        self.soft_error.take()
    }

    /// RFC 1191 §6.4-6.5 / RFC 8201 §5.4: segments above `mss` are lost on
    /// this path; send smaller ones from now on and resend what is in
    /// flight at once.
    fn lower_path_mss(&mut self, mss: u32) {
        if mss >= self.snd.path_mss.min(self.snd.smss) {
            return;
        }
        self.snd.path_mss = mss;
        // (Before the handshake completes `negotiate` applies it again.)
        self.snd.smss = self.snd.smss.min(mss);
        self.cc.set_smss(self.cc_smss());
        if self.state.is_synchronized() && self.snd.cursor != self.snd.una {
            // Go back to SND.UNA, as a timeout would, without its back-off
            // or window collapse: the loss was the path's size, not
            // congestion. No RTT sample from the resent data (Karn).
            self.snd.cursor = self.snd.una;
            self.snd.timed = None;
        }
    }
}
