//! Helpers for tests that move a stream of bytes: the peer's bytes and our
//! ACKs of them, and our segments of a 1000-byte SMSS.

use super::{Harness, PeerOpts, Seg, seg, simple, with};

/// The peer's stream bytes `[from, to)`, acknowledging our SYN.
pub fn peer_bytes(h: &Harness, from: usize, to: usize) -> Seg {
    seg().seq(h.r(1 + from as u32)).ack(h.l(1)).data(from, to - from)
}

/// Our bare ACK of the peer's first `upto` bytes.
pub fn our_ack(h: &Harness, upto: usize) -> Seg {
    seg().seq(h.l(1)).ack(h.r(1 + upto as u32))
}

/// Our segment `k` when SMSS is 1000: stream bytes `[1000k, 1000k + 1000)`
/// at L + 1 + 1000k, with PSH on the last of `last` segments written.
pub fn segment_k(h: &Harness, k: u32, last: u32) -> Seg {
    let s = seg().seq(h.l(1 + 1000 * k)).ack(h.r(1)).data(1000 * k as usize, 1000);
    if k + 1 == last { s.psh() } else { s }
}

/// An established passive connection with SMSS 1000 where both SYNs carry
/// SACK-permitted (no timestamps or window scaling).
pub fn sack_established() -> Harness {
    let cfg = with(simple(), |c| c.sack = true);
    Harness::passive(cfg, PeerOpts { mss: Some(1000), sack: true, ..PeerOpts::default() })
}
