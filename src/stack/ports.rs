//! Ephemeral port selection: RFC 6056 §3.3.4, algorithm 4 ("double-hash
//! port selection"). Each destination (remote address and port) starts its
//! search at a keyed-hash offset and steps through the range with one of a
//! table of counters, also chosen by a keyed hash. Ports for one
//! destination follow each other, so they are reused as late as possible;
//! ports for different destinations are unrelated, so nobody can learn
//! from the ports of their own connections which ports other connections
//! use or how many there are.

use core::net::SocketAddr;

use crate::tcp::isn::{IsnGenerator, Purpose};

/// Counters in the table (RFC 6056 suggests at least 10).
const TABLE_LEN: usize = 256;

#[derive(Debug)]
pub(super) struct EphemeralPorts {
    table: Box<[u16; TABLE_LEN]>,
}

impl EphemeralPorts {
    /// A table whose counters start at values drawn from `keys` (RFC 6056:
    /// "random() % 65536" at boot), seen from local address `local`.
    pub fn new(keys: &IsnGenerator, local: SocketAddr) -> EphemeralPorts {
        let mut table = Box::new([0u16; TABLE_LEN]);
        for (i, slot) in table.iter_mut().enumerate() {
            *slot = keys.hash(local, local, Purpose::PortTable, 0x8000_0000 | i as u32) as u16;
        }
        EphemeralPorts { table }
    }

    /// The first port of `range` (inclusive) that `usable` accepts, in the
    /// order algorithm 4 tries them for `remote` (`None`: a port to listen
    /// on), or `None` once every port was tried.
    pub fn pick(
        &mut self,
        keys: &IsnGenerator,
        local: SocketAddr,
        remote: Option<SocketAddr>,
        (lo, hi): (u16, u16),
        mut usable: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        let count = u32::from(hi.saturating_sub(lo)) + 1;
        // Listening: the unspecified address of the local family.
        let dest = remote.unwrap_or(SocketAddr::new(local.ip(), 0));
        let offset = keys.hash(local, dest, Purpose::PortOffset, 0) as u32;
        let index = keys.hash(local, dest, Purpose::PortTable, 0) as usize % TABLE_LEN;
        for _ in 0..count {
            let step = u32::from(self.table[index]);
            self.table[index] = self.table[index].wrapping_add(1);
            let port = lo.wrapping_add((offset.wrapping_add(step) % count) as u16);
            if usable(port) {
                return Some(port);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::isn::IsnKey;
    use core::net::Ipv4Addr;

    #[test]
    fn one_destination_steps_others_are_unrelated() {
        let keys = IsnGenerator::new(IsnKey::from_seed(3));
        let local = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 0));
        let mut ports = EphemeralPorts::new(&keys, local);
        let range = (49152, 65535);
        let a = Some(SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), 80)));
        let b = Some(SocketAddr::from((Ipv4Addr::new(10, 0, 0, 3), 80)));
        let a1 = ports.pick(&keys, local, a, range, |_| true).unwrap();
        let a2 = ports.pick(&keys, local, a, range, |_| true).unwrap();
        let b1 = ports.pick(&keys, local, b, range, |_| true).unwrap();
        assert_eq!(a2, a1 + 1);
        assert!(b1.abs_diff(a2) > 100, "{a2} {b1}");
        // Every port of the range is tried once before giving up.
        let mut seen = std::collections::HashSet::new();
        assert_eq!(ports.pick(&keys, local, a, (100, 199), |p| !seen.insert(p)), None);
        assert_eq!(seen.len(), 100);
        assert!(seen.iter().all(|p| (100..=199).contains(p)));
    }
}
