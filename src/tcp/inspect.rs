//! Read-only views of a connection's sequence variables and negotiated
//! options (RFC 9293 §3.3.1, RFC 7323, RFC 2018), for tests and fuzzers
//! that build segments relative to the live state of a connection.

use super::SeqNum;
use super::connection::Connection;
use crate::time::Instant;

impl Connection {
    /// ISS: our initial sequence number (RFC 9293 §3.4.1).
    pub fn iss(&self) -> SeqNum {
        self.snd.iss
    }

    /// IRS: the peer's initial sequence number. Meaningful once the
    /// peer's SYN has arrived (every synchronized state); zero before.
    pub fn irs(&self) -> SeqNum {
        self.rcv.irs
    }

    /// SND.UNA: the oldest unacknowledged sequence number.
    pub fn snd_una(&self) -> SeqNum {
        self.snd.una
    }

    /// SND.NXT as RFC 9293 means it: one past the highest sequence number
    /// ever sent (`Sender.cursor`, where the next transmission starts, may
    /// lie below after a retransmission timeout).
    pub fn snd_nxt(&self) -> SeqNum {
        self.snd.nxt
    }

    /// SND.WND: the window the peer last offered, scaled.
    pub fn snd_wnd(&self) -> u32 {
        self.snd.wnd
    }

    /// RCV.NXT: the next sequence number expected from the peer.
    pub fn rcv_nxt(&self) -> SeqNum {
        self.rcv.nxt
    }

    /// RCV.WND: what remains of the window last advertised, from RCV.NXT
    /// (RFC 9293 §3.3.1; zero once RCV.NXT has reached its right edge).
    pub fn rcv_wnd(&self) -> u32 {
        self.offered_window()
    }

    /// The shift counts (Snd.Wind.Shift, Rcv.Wind.Shift) once both SYNs
    /// carried the window scale option (RFC 7323 §2.2), else `None`.
    pub fn window_scales(&self) -> Option<(u8, u8)> {
        self.window_scaling.then_some((self.snd.wscale.shift(), self.rcv.wscale.shift()))
    }

    /// Whether both SYNs carried SACK-permitted (RFC 2018 §2).
    pub fn sack_permitted(&self) -> bool {
        self.sack
    }

    /// TS.Recent (RFC 7323 §4.3), the peer's timestamp to echo, once
    /// timestamps are on.
    pub fn ts_recent(&self) -> Option<u32> {
        self.ts.enabled.then_some(self.ts.recent)
    }

    /// Our TSval at `now` (RFC 7323 §5.4), once timestamps are on.
    pub fn ts_val(&self, now: Instant) -> Option<u32> {
        self.ts.enabled.then(|| self.tsval(now))
    }

    /// Capacities of the send and receive buffers, in bytes (what
    /// [`Connection::buffer_memory`] may grow to, the receive side plus
    /// one window-scaling unit: a window rounded up to whole units is
    /// honoured, RFC 7323 §2.4).
    pub fn buffer_capacity(&self) -> (usize, usize) {
        (self.snd.buf.capacity(), self.rcv.buf.capacity())
    }
}
