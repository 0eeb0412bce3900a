//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the
//! SYN-ACK carries the connection's state in its own sequence number (and,
//! when the peer uses timestamps, in its TSval), so the listener keeps
//! nothing until the handshake's ACK brings that state back.
//!
//! The cookie is the ISN of the SYN-ACK, built much as Linux builds it:
//!
//! ```text
//! ISN = H1(tuple) + SEG.SEQ(SYN) + (t << 24 | mss_index << 21 | H2(tuple, t, mss_index) mod 2^21)
//! ```
//!
//! `t` counts periods of [`PERIOD`] (its low 8 bits survive), `H1` and `H2`
//! are SipHash-2-4 under the stack's secret (the one that makes ISNs), and
//! `mss_index` names the largest entry of [`MSS_TABLE`] not above the
//! peer's MSS. The ACK that completes the handshake carries ISN + 1 and the
//! peer's ISN + 1, so the listener recovers `t` and `mss_index` and checks
//! the MAC over both: a cookie is valid for at most 2 periods, and only for
//! the 4-tuple and peer ISN it was made for. Unlike Linux's layout, where
//! the MSS index is added to the MAC, no small change to the ACK number
//! turns a cookie into another valid one. A guessed ACK passes with a
//! probability of 2^-21.
//!
//! The window scale and SACK-permitted options of the SYN do not fit the
//! sequence number. When the SYN carried timestamps, they ride in the low 6
//! bits of the SYN-ACK's TSval (Linux's layout: the shift in bits 0-3, 15
//! for none; SACK in bit 4), which the peer echoes in TSecr. A SYN without
//! timestamps gets a SYN-ACK that offers neither option, so the connection
//! it makes agrees with what both ends believe was negotiated.

use core::time::Duration;

use super::connection::Connection;
use super::isn::{IsnGenerator, Purpose};
use super::output::SynAck;
use super::window::WindowScale;
use super::{FourTuple, Segment, SeqNum, State, TcpConfig};
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpOptions, Timestamps};

/// How long one value of the cookie clock `t` lasts.
pub const PERIOD: Duration = Duration::from_secs(64);
/// Cookies older than this many whole periods are stale (so a cookie lives
/// between one and two periods).
const MAX_AGE: u32 = 1;
/// The MSS values a cookie can carry; a peer gets the largest not above
/// the MSS its SYN offered.
pub const MSS_TABLE: [u16; 8] = [64, 256, 536, 1220, 1380, 1440, 1460, 8960];
/// Bits of TSval that carry options.
const TS_BITS: u32 = 0x3f;
const TS_NO_WSCALE: u32 = 0xf;
const TS_SACK: u32 = 0x10;

/// The cookie clock at `now`.
fn clock(now: Instant) -> u32 {
    (now.as_micros() / PERIOD.as_micros() as u64) as u32
}

fn tuple_part(keys: &IsnGenerator, tuple: &FourTuple) -> u32 {
    keys.hash(tuple.local, tuple.remote, Purpose::CookieTuple, 0) as u32
}

/// Bits of the cookie that carry the MAC.
const MAC_MASK: u32 = (1 << 21) - 1;

fn mac(keys: &IsnGenerator, tuple: &FourTuple, t: u32, index: u32) -> u32 {
    keys.hash(tuple.local, tuple.remote, Purpose::CookieTime, t << 3 | index) as u32 & MAC_MASK
}

/// The cookie ISN for a SYN from `tuple.remote` with sequence number
/// `peer_isn` and MSS `mss`, made at `now`.
pub fn cookie_isn(
    keys: &IsnGenerator,
    tuple: &FourTuple,
    peer_isn: SeqNum,
    mss: u32,
    now: Instant,
) -> SeqNum {
    let index = MSS_TABLE.iter().rposition(|&m| u32::from(m) <= mss).unwrap_or(0) as u32;
    let t = clock(now);
    let x = t << 24 | index << 21 | mac(keys, tuple, t, index);
    peer_isn.add(tuple_part(keys, tuple)).add(x)
}

/// The MSS a cookie ISN carries, if it is one of ours for this 4-tuple and
/// peer ISN, made no more than `MAX_AGE` whole periods before `now`.
pub fn check_cookie_isn(
    keys: &IsnGenerator,
    tuple: &FourTuple,
    peer_isn: SeqNum,
    cookie: SeqNum,
    now: Instant,
) -> Option<u16> {
    let x = cookie.sub(tuple_part(keys, tuple)).distance_from(peer_isn);
    let t_now = clock(now);
    let age = t_now.wrapping_sub(x >> 24) & 0xff;
    if age > MAX_AGE {
        return None;
    }
    let t = t_now.wrapping_sub(age);
    let index = x >> 21 & 7;
    (x & MAC_MASK == mac(keys, tuple, t, index)).then(|| MSS_TABLE[index as usize])
}

/// TSval for a cookie SYN-ACK at `tsval_now`: the options in the low bits,
/// never ahead of the clock (RFC 7323 §5.4: TSvals must not run ahead).
pub fn cookie_tsval(tsval_now: u32, window_scale: Option<u8>, sack: bool) -> u32 {
    let mut bits = window_scale.map_or(TS_NO_WSCALE, |s| u32::from(s.min(14)));
    if sack {
        bits |= TS_SACK;
    }
    let ts = (tsval_now & !TS_BITS) | bits;
    if SeqNum::new(ts).after(SeqNum::new(tsval_now)) { ts.wrapping_sub(TS_BITS + 1) } else { ts }
}

/// The options a cookie TSval carries: (window scale, SACK-permitted).
fn options_in_tsval(tsval: u32) -> (Option<u8>, bool) {
    let shift = tsval & TS_NO_WSCALE;
    let wscale = (shift != TS_NO_WSCALE).then_some(shift.min(14) as u8);
    (wscale, tsval & TS_SACK != 0)
}

/// The SYN-ACK that answers `syn` with a cookie instead of a half-open
/// connection. `cfg` is what the listener gives its connections, `mss` the
/// MSS to advertise.
pub fn cookie_syn_ack(
    keys: &IsnGenerator,
    now: Instant,
    tuple: FourTuple,
    syn: &Segment<'_>,
    cfg: &TcpConfig,
    mss: u32,
) -> SynAck {
    let opts = &syn.options;
    let ours = mss.clamp(64, 65495);
    let peer_mss = opts.mss.map_or(super::connection::DEFAULT_MSS, u32::from).max(64);
    let mut options = TcpOptions { mss: Some(ours.min(65535) as u16), ..TcpOptions::default() };
    if let (Some(ts), true) = (opts.timestamps, cfg.timestamps) {
        // Window scaling and SACK can be carried only with timestamps.
        let wscale = opts.window_scale.filter(|_| cfg.window_scaling);
        let sack = opts.sack_permitted && cfg.sack;
        let ts_offset = keys.ts_offset(tuple.local, tuple.remote);
        let tsval_now = (now.as_millis() as u32).wrapping_add(ts_offset);
        options.timestamps =
            Some(Timestamps { tsval: cookie_tsval(tsval_now, wscale, sack), tsecr: ts.tsval });
        options.window_scale = wscale.map(|_| WindowScale::for_buffer(cfg.recv_buffer).shift());
        options.sack_permitted = sack;
    }
    SynAck {
        tuple,
        seq: cookie_isn(keys, &tuple, syn.seq, peer_mss.min(ours), now),
        ack: syn.seq.add(1),
        window: syn_ack_window(cfg),
        options,
    }
}

/// The window a SYN-ACK offers (never scaled, RFC 7323 §2.2).
fn syn_ack_window(cfg: &TcpConfig) -> u16 {
    cfg.recv_buffer.min(65535) as u16
}

impl Connection {
    /// The connection a valid cookie ACK opens (RFC 4987 §3.6), in
    /// SYN-RECEIVED with its SYN-ACK counted as sent, or `None` when `ack`
    /// does not carry a valid cookie for `tuple`. Hand it `ack` next: that
    /// completes the handshake and takes whatever data the ACK carries.
    pub fn from_cookie(
        keys: &IsnGenerator,
        now: Instant,
        tuple: FourTuple,
        ack: &Segment<'_>,
        ts_offset: u32,
        mss: u32,
        cfg: &TcpConfig,
    ) -> Option<Connection> {
        if ack.flags & (TcpFlags::ACK | TcpFlags::SYN | TcpFlags::RST) != TcpFlags::ACK {
            return None;
        }
        let peer_isn = ack.seq.sub(1);
        let iss = ack.ack.sub(1);
        let peer_mss = check_cookie_isn(keys, &tuple, peer_isn, iss, now)?;
        let mut options = TcpOptions { mss: Some(peer_mss), ..TcpOptions::default() };
        if let (Some(ts), true) = (ack.options.timestamps, cfg.timestamps) {
            // The echo must be a TSval of a cookie at most MAX_AGE + 1
            // periods old, never one from the future.
            let tsval_now = (now.as_millis() as u32).wrapping_add(ts_offset);
            let age = tsval_now.wrapping_sub(ts.tsecr);
            if u64::from(age) > (u64::from(MAX_AGE) + 1) * PERIOD.as_millis() as u64 + u64::from(TS_BITS) {
                return None;
            }
            let (wscale, sack) = options_in_tsval(ts.tsecr);
            options.window_scale = wscale.filter(|_| cfg.window_scaling);
            options.sack_permitted = sack && cfg.sack;
            options.timestamps = Some(Timestamps { tsval: ts.tsval, tsecr: 0 });
        }
        let syn = Segment {
            seq: peer_isn,
            ack: SeqNum::default(),
            flags: TcpFlags::SYN,
            window: ack.window,
            options,
            payload: &[],
        };
        let mut conn = Connection::accept(now, tuple, iss, ts_offset, mss, cfg, &syn);
        debug_assert_eq!(conn.state, State::SynReceived);
        // The SYN-ACK went out (statelessly), with the window a real one
        // offers: it is not sent again.
        conn.snd.cursor = iss.add(1);
        conn.snd.nxt = conn.snd.cursor;
        conn.rcv.adv_edge = conn.rcv.nxt.add(syn_ack_window(cfg).into());
        Some(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::isn::IsnKey;
    use core::net::{Ipv4Addr, SocketAddr};
    use proptest::prelude::*;

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 80)),
            remote: SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), port)),
        }
    }

    fn keys() -> IsnGenerator {
        IsnGenerator::new(IsnKey::from_seed(7))
    }

    #[test]
    fn mss_is_rounded_down_to_the_table() {
        let (k, t, now) = (keys(), tuple(40000), Instant::from_millis(5000));
        for (offered, carried) in [(1460, 1460), (1459, 1440), (9000, 8960), (536, 536), (100, 64), (64, 64)]
        {
            let isn = cookie_isn(&k, &t, SeqNum::new(99), offered, now);
            assert_eq!(check_cookie_isn(&k, &t, SeqNum::new(99), isn, now), Some(carried), "{offered}");
        }
    }

    #[test]
    fn cookies_live_between_one_and_two_periods() {
        let (k, t) = (keys(), tuple(40000));
        let made = Instant::from_micros(10 * PERIOD.as_micros() as u64 + 5);
        let isn = cookie_isn(&k, &t, SeqNum::new(1), 1460, made);
        let period = PERIOD.as_micros() as u64;
        let at = |us: u64| Instant::from_micros(made.as_micros() + us);
        assert!(check_cookie_isn(&k, &t, SeqNum::new(1), isn, at(period - 10)).is_some());
        assert!(check_cookie_isn(&k, &t, SeqNum::new(1), isn, at(2 * period - 10)).is_some());
        assert!(check_cookie_isn(&k, &t, SeqNum::new(1), isn, at(2 * period)).is_none());
    }

    #[test]
    fn options_survive_in_tsval_without_running_ahead() {
        for now in [0u32, 63, 64, 1000, 0xffff_ffc0, u32::MAX] {
            for (ws, sack) in [(None, false), (Some(0), true), (Some(7), false), (Some(14), true)] {
                let ts = cookie_tsval(now, ws, sack);
                assert!(SeqNum::new(ts).before_or_eq(SeqNum::new(now)), "{ts} after {now}");
                assert!(now.wrapping_sub(ts) < 128);
                assert_eq!(options_in_tsval(ts), (ws, sack));
            }
        }
    }

    #[test]
    fn a_changed_cookie_is_rejected() {
        // Every bit flip, for many keys and 4-tuples: only the odd
        // collision of the 21-bit MAC may pass.
        let mut accepted = 0;
        for seed in 0..2000u64 {
            let k = IsnGenerator::new(IsnKey::from_seed(seed));
            let (tp, peer) = (tuple(1024 + seed as u16), SeqNum::new(seed as u32 * 7919));
            let now = Instant::from_micros(seed * 987_654_321);
            let isn = cookie_isn(&k, &tp, peer, 1460, now);
            assert_eq!(check_cookie_isn(&k, &tp, peer, isn, now), Some(1460));
            for flip in 0..32 {
                let forged = SeqNum::new(isn.get() ^ (1 << flip));
                accepted += usize::from(check_cookie_isn(&k, &tp, peer, forged, now).is_some());
            }
        }
        assert!(accepted <= 1, "{accepted} of 64000 changed cookies passed");
    }

    proptest! {
        /// A cookie is valid for the 4-tuple and peer ISN it was made for,
        /// carrying the MSS; with another 4-tuple or peer ISN it fails (each
        /// passes by chance with a probability of 2^-21).
        #[test]
        fn only_the_right_ack_validates(
            seed in any::<u64>(), peer_isn in any::<u32>(), mss in 64u32..10_000,
            port in 1024u16..65535, t in 0u64..1_000_000_000_000,
        ) {
            let k = IsnGenerator::new(IsnKey::from_seed(seed));
            let (tp, now, peer) = (tuple(port), Instant::from_micros(t), SeqNum::new(peer_isn));
            let isn = cookie_isn(&k, &tp, peer, mss, now);
            let carried = check_cookie_isn(&k, &tp, peer, isn, now);
            prop_assert!(carried.is_some_and(|m| u32::from(m) <= mss.max(64)));
            let wrong_tuple = check_cookie_isn(&k, &tuple(port.wrapping_add(1).max(1)), peer, isn, now);
            let wrong_isn = check_cookie_isn(&k, &tp, peer.add(1), isn, now);
            prop_assert!(wrong_tuple.is_none() || wrong_isn.is_none());
        }
    }
}
