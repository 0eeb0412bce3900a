//! Initial sequence numbers (RFC 6528) and per-connection timestamp
//! offsets (RFC 7323 §7.1), from a keyed hash of the connection's 4-tuple.

use core::net::{IpAddr, SocketAddr};

use super::seq::SeqNum;
use crate::time::Instant;

/// A 128-bit secret key for [`IsnGenerator`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IsnKey([u8; 16]);

impl core::fmt::Debug for IsnKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IsnKey(..)")
    }
}

impl IsnKey {
    /// A key from the operating system's random source.
    pub fn random() -> std::io::Result<IsnKey> {
        let mut key = [0; 16];
        getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(IsnKey(key))
    }

    /// A key derived from a seed, for deterministic simulation only.
    pub fn from_seed(seed: u64) -> IsnKey {
        let mut key = [0; 16];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..].copy_from_slice(&(!seed).rotate_left(17).to_le_bytes());
        IsnKey(key)
    }
}

/// RFC 6528 §3: `ISN = M + F(localip, localport, remoteip, remoteport,
/// secretkey)`, with `M` a 4 µs clock and `F` SipHash-2-4.
#[derive(Debug, Clone)]
pub struct IsnGenerator {
    k0: u64,
    k1: u64,
}

impl IsnGenerator {
    pub fn new(key: IsnKey) -> IsnGenerator {
        let (a, b) = key.0.split_at(8);
        IsnGenerator {
            k0: u64::from_le_bytes(a.try_into().unwrap_or_default()),
            k1: u64::from_le_bytes(b.try_into().unwrap_or_default()),
        }
    }

    /// The keyed hash of an address pair for one `purpose` (so that the
    /// values made for different purposes are independent), with `extra`
    /// mixed in.
    pub fn hash(&self, local: SocketAddr, remote: SocketAddr, purpose: Purpose, extra: u32) -> u64 {
        // Address, port, address, port, purpose, extra: 17 bytes for IPv4,
        // 41 for IPv6.
        let mut msg = [0u8; 41];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            msg[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        for end in [local, remote] {
            match end.ip() {
                IpAddr::V4(a) => put(&a.octets()),
                IpAddr::V6(a) => put(&a.octets()),
            }
            put(&end.port().to_be_bytes());
        }
        put(&[purpose as u8]);
        put(&extra.to_be_bytes());
        siphash24(self.k0, self.k1, &msg[..at])
    }

    /// The ISN for a connection from `local` to `remote` opened at `now`.
    pub fn isn(&self, local: SocketAddr, remote: SocketAddr, now: Instant) -> SeqNum {
        let m = (now.as_micros() / 4) as u32;
        SeqNum::new(m.wrapping_add(self.hash(local, remote, Purpose::Isn, 0) as u32))
    }

    /// A per-connection offset for the timestamp clock, so that TSval does
    /// not reveal uptime across connections (RFC 7323 §7.1).
    pub fn ts_offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        self.hash(local, remote, Purpose::TsOffset, 0) as u32
    }
}

/// What a keyed hash of [`IsnGenerator::hash`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Purpose {
    /// RFC 6528 ISNs.
    Isn = 0,
    /// RFC 7323 §7.1 timestamp offsets.
    TsOffset = 1,
    /// The 4-tuple part of a SYN cookie (RFC 4987 §3.6).
    CookieTuple = 2,
    /// The time-dependent part of a SYN cookie.
    CookieTime = 3,
    /// RFC 6056 §3.3.4 `F`: where a destination's port search starts.
    PortOffset = 4,
    /// RFC 6056 §3.3.4 `G`: which counter of the table a destination uses.
    PortTable = 5,
    /// The key of the demultiplexing tables' hash.
    TableKey = 6,
}

/// SipHash-2-4 (Aumasson & Bernstein) of `msg` under key `(k0, k1)`.
fn siphash24(k0: u64, k1: u64, msg: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = msg.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn siphash_reference_vectors() {
        // From the SipHash paper's reference implementation: key 00..0f,
        // messages 00..(n-1).
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(siphash24(k0, k1, &[]), 0x726f_db47_dd0e_0e31);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k0, k1, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn isn_depends_on_tuple_key_and_clock() {
        let a = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 80));
        let b = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), 40000));
        let c = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), 40001));
        let g = IsnGenerator::new(IsnKey::from_seed(1));
        let t = Instant::from_micros(1_000_000);
        assert_ne!(g.isn(a, b, t), g.isn(a, c, t));
        assert_eq!(g.isn(a, b, Instant::from_micros(1_000_400)), g.isn(a, b, t).add(100));
        let h = IsnGenerator::new(IsnKey::from_seed(2));
        assert_ne!(g.isn(a, b, t), h.isn(a, b, t));
        assert!(IsnKey::random().is_ok());
    }
}
