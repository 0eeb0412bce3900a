//! Path-MTU discovery (RFC 1191 for IPv4, RFC 8201 for IPv6): what an ICMP
//! "packet too big" may set a destination's path MTU to, and a bounded
//! cache of the lowered values so that new connections to the same
//! destination start at the right size.

use core::net::IpAddr;
use std::collections::HashMap;
use std::time::Duration;

use crate::tcp::{FourTuple, PathSignal};
use crate::time::Instant;

/// The smallest IPv4 path MTU accepted: every IPv4 host takes 576-byte
/// datagrams (RFC 791, RFC 1122 §3.3.3); a router saying less is ignored
/// down to this.
pub const MIN_MTU_V4: usize = 576;
/// The smallest IPv6 link MTU (RFC 8200 §5; RFC 8201 §4: a smaller value
/// in a Packet Too Big is taken as 1280).
pub const MIN_MTU_V6: usize = 1280;
/// How long a lowered path MTU is kept before new connections try the
/// link MTU again (RFC 1191 §6.3, RFC 8201 §5.3: ten minutes).
pub const PMTU_EXPIRY: Duration = Duration::from_secs(600);

/// RFC 1191 §7's plateaus: when a router does not say its next-hop MTU
/// (an old one sends 0), the next plateau below the size of the packet it
/// dropped is a good guess.
const PLATEAUS: [usize; 11] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// The path MTU to use after a "packet too big" that says `reported` for
/// a packet of `dropped_len` bytes (its IPv4 total length, if quoted):
/// the reported value, or a plateau guess when IPv4's value is missing or
/// not below the dropped size, clamped to the family's minimum.
pub fn mtu_from_report(family: IpAddr, reported: u32, dropped_len: Option<usize>) -> usize {
    let reported = usize::try_from(reported).unwrap_or(usize::MAX);
    match family {
        IpAddr::V6(_) => reported.max(MIN_MTU_V6),
        IpAddr::V4(_) => {
            let guess = match dropped_len {
                Some(len) if reported == 0 || reported >= len => {
                    PLATEAUS.iter().copied().find(|&p| p < len).unwrap_or(MIN_MTU_V4)
                }
                _ => reported,
            };
            guess.max(MIN_MTU_V4)
        }
    }
}

/// Lowered path MTUs by destination, each until it expires.
#[derive(Debug, Default)]
pub struct PmtuCache {
    entries: HashMap<IpAddr, (usize, Instant)>,
}

impl PmtuCache {
    /// The path MTU to `dest`, if one was learned and has not expired.
    pub fn get(&self, dest: IpAddr, now: Instant) -> Option<usize> {
        self.entries.get(&dest).filter(|(_, until)| *until > now).map(|&(mtu, _)| mtu)
    }

    /// Remembers `mtu` for `dest` (never raising a live entry); whether
    /// that lowered what was known. With `capacity` entries held, expired
    /// ones go first, then the one closest to expiry.
    pub fn lower(&mut self, dest: IpAddr, mtu: usize, now: Instant, capacity: usize) -> bool {
        let until = now + PMTU_EXPIRY;
        if let Some(e) = self.entries.get_mut(&dest) {
            let live = e.1 > now;
            let lowered = !live || mtu < e.0;
            *e = (if live { e.0.min(mtu) } else { mtu }, until);
            return lowered;
        }
        if capacity == 0 {
            return false;
        }
        if self.entries.len() >= capacity {
            self.entries.retain(|_, (_, u)| *u > now);
        }
        if self.entries.len() >= capacity
            && let Some(oldest) = self.entries.iter().min_by_key(|(_, (_, u))| *u).map(|(k, _)| *k)
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(dest, (mtu, until));
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// For a connection just made on `tuple`: the path signal that starts
    /// it at the path MTU learned for its destination, if any.
    pub fn signal_for(&self, tuple: &FourTuple, now: Instant) -> Option<PathSignal> {
        let mtu = self.get(tuple.remote.ip(), now)?;
        Some(PathSignal::Mss(super::ip::mss_for(mtu, tuple)))
    }
}

#[cfg(test)]
mod tests {
    use core::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    #[test]
    fn reports_are_clamped_to_each_family_minimum_and_missing_ones_guessed() {
        assert_eq!(mtu_from_report(V4, 1400, Some(1500)), 1400);
        assert_eq!(mtu_from_report(V4, 300, Some(1500)), MIN_MTU_V4);
        // An old router says 0: the plateau below 1500.
        assert_eq!(mtu_from_report(V4, 0, Some(1500)), 1492);
        assert_eq!(mtu_from_report(V4, 0, Some(1006)), MIN_MTU_V4);
        // A value not below the dropped packet is nonsense: a plateau.
        assert_eq!(mtu_from_report(V4, 9000, Some(1500)), 1492);
        assert_eq!(mtu_from_report(V6, 1000, None), MIN_MTU_V6);
        assert_eq!(mtu_from_report(V6, 1400, None), 1400);
    }

    #[test]
    fn the_cache_is_bounded_never_raises_and_expires() {
        let t0 = Instant::from_millis(1);
        let mut c = PmtuCache::default();
        c.lower(V4, 1400, t0, 2);
        c.lower(V4, 1450, t0, 2);
        assert_eq!(c.get(V4, t0), Some(1400), "never raised while live");
        assert_eq!(c.get(V4, t0 + PMTU_EXPIRY), None, "expired");
        for i in 0..10u8 {
            c.lower(IpAddr::V4(Ipv4Addr::new(10, 1, 0, i)), 1300, t0 + Duration::from_secs(u64::from(i)), 2);
        }
        assert!(c.len() <= 2);
        c.lower(V6, 1280, t0, 0);
        assert_eq!(c.get(V6, t0), None, "capacity 0 keeps nothing");
    }
}
