//! The hash of the demultiplexing tables (connections by 4-tuple,
//! listeners by port): a keyed folded multiply, the construction of
//! foldhash and wyhash, instead of the standard library's SipHash-1-3.
//!
//! A peer chooses the 4-tuples it sends, so the hash is keyed with a
//! secret drawn from the stack's key (random outside the simulator), as
//! Linux keys `inet_ehashfn` with `net_secret`: without the key a peer
//! cannot aim many tuples at one bucket. It is not a cryptographic MAC;
//! `HashMap`'s probing bounds the damage of the collisions it would take.
//! A 4-tuple is hashed as two words ([`FourTuple`]'s `Hash`), so a lookup
//! costs two multiplications.

use std::hash::{BuildHasher, Hasher};

/// Makes [`TableHasher`]s under one secret key.
#[derive(Debug, Clone, Copy)]
pub struct TableHash {
    k0: u64,
    k1: u64,
}

impl TableHash {
    /// A builder keyed by `key` (two independent 64-bit words).
    pub fn with_key(key: (u64, u64)) -> TableHash {
        // An odd multiplier keeps every input bit in the product.
        TableHash { k0: key.0, k1: key.1 | 1 }
    }
}

impl BuildHasher for TableHash {
    type Hasher = TableHasher;

    fn build_hasher(&self) -> TableHasher {
        TableHasher { acc: self.k0, k1: self.k1 }
    }
}

/// One hash computation; see the module documentation.
#[derive(Debug, Clone)]
pub struct TableHasher {
    acc: u64,
    k1: u64,
}

/// The high and low halves of the 128-bit product, folded together.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl TableHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.acc = folded_multiply(self.acc ^ word, self.k1).rotate_left(23);
    }
}

impl Hasher for TableHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word) ^ ((chunk.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }

    fn write_u16(&mut self, v: u16) {
        self.mix(u64::from(v));
    }

    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }

    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }

    fn finish(&self) -> u64 {
        folded_multiply(self.acc, self.k1 ^ 0x9e37_79b9_7f4a_7c15)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::FourTuple;
    use std::net::{Ipv4Addr, SocketAddr};

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), 80)),
            remote: SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), port)),
        }
    }

    #[test]
    fn equal_tuples_hash_alike_and_keys_matter() {
        let (a, b) = (TableHash::with_key((1, 2)), TableHash::with_key((3, 4)));
        assert_eq!(a.hash_one(tuple(5000)), a.hash_one(tuple(5000)));
        assert_ne!(a.hash_one(tuple(5000)), a.hash_one(tuple(5001)));
        assert_ne!(a.hash_one(tuple(5000)), b.hash_one(tuple(5000)));
    }

    /// Ports in a row (what a scan or a busy client sends) spread over a
    /// power-of-two table's buckets about as a random function would.
    #[test]
    fn sequential_ports_spread_over_buckets() {
        let h = TableHash::with_key((0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210));
        let buckets = 1024u64;
        let mut counts = vec![0u32; buckets as usize];
        for port in 0..(16 * buckets as u16) {
            counts[(h.hash_one(tuple(port)) % buckets) as usize] += 1;
        }
        let max = *counts.iter().max().unwrap();
        // 16 per bucket on average; a random function's maximum over 1024
        // buckets stays near 32.
        assert!(max <= 40, "a bucket got {max} of {} ports", 16 * buckets);
    }
}
