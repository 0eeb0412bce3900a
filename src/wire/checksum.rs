//! The Internet checksum (RFC 1071), used by IPv4, TCP and ICMP.

use core::net::Ipv4Addr;

/// Adds `data` to a running one's-complement sum, as big-endian 16-bit
/// words. An odd trailing byte is padded with zero, so only the last slice
/// fed into one sum may have odd length.
///
/// The words are summed in native byte order, 64 bits at a time with
/// end-around carry, and swapped once at the end: the one's-complement sum
/// is independent of byte order (RFC 1071 §2 (B)) and of word width
/// (§2 (C)).
pub fn add_bytes(sum: u64, data: &[u8]) -> u64 {
    let mut acc = [0u64; 4];
    let mut carry = [0u64; 4];
    let mut chunks = data.chunks_exact(32);
    for c in &mut chunks {
        for (i, word) in c.chunks_exact(8).enumerate() {
            let w =
                u64::from_ne_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
            let (s, overflow) = acc[i].overflowing_add(w);
            acc[i] = s;
            carry[i] += u64::from(overflow);
        }
    }
    // Each carry out of 64 bits is worth 2^64 ≡ 1 (mod 2^16 − 1).
    let mut native: u64 = acc.iter().map(|&a| fold_native(a)).sum::<u64>() + carry.iter().sum::<u64>();
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        native += u64::from(u16::from_ne_bytes([c[0], c[1]]));
    }
    if let [last] = rest.remainder() {
        native += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    // Native-order words summed are the big-endian sum byte-swapped on a
    // little-endian machine; `from_be` undoes exactly that.
    sum + u64::from(u16::from_be(fold(native)))
}

/// A 64-bit native-order word reduced to at most 18 bits without changing
/// its one's-complement value.
fn fold_native(w: u64) -> u64 {
    (w & 0xffff) + ((w >> 16) & 0xffff) + ((w >> 32) & 0xffff) + (w >> 48)
}

/// Folds a running sum to 16 bits (not complemented).
pub fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum of `data`: the complement of its folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(add_bytes(0, data))
}

/// The running sum of the IPv4 pseudo-header (RFC 9293 §3.1).
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u64 {
    let s = src.octets();
    let d = dst.octets();
    u64::from(u16::from_be_bytes([s[0], s[1]]))
        + u64::from(u16::from_be_bytes([s[2], s[3]]))
        + u64::from(u16::from_be_bytes([d[0], d[1]]))
        + u64::from(u16::from_be_bytes([d[2], d[3]]))
        + u64::from(protocol)
        + u64::from(length)
}

/// Recomputes, in place, the IPv4 header checksum (`ip`) and the TCP or
/// ICMP checksum (`transport`) of a packet, as far as its own length
/// fields and the slice allow; anything else is left as it is. For code
/// that rewrites packets: software segmentation, and tests and fuzzers
/// that forge them.
pub fn rewrite(packet: &mut [u8], ip: bool, transport: bool) {
    let Some(&first) = packet.first() else { return };
    let header_len = usize::from(first & 0xf) * 4;
    if header_len < 20 || packet.len() < header_len {
        return;
    }
    if transport {
        let total = usize::from(u16::from_be_bytes([packet[2], packet[3]])).clamp(header_len, packet.len());
        let protocol = packet[9];
        let src = [packet[12], packet[13], packet[14], packet[15]].into();
        let dst = [packet[16], packet[17], packet[18], packet[19]].into();
        let body = &mut packet[header_len..total];
        if protocol == super::ipv4::PROTO_TCP && body.len() >= super::tcp::HEADER_LEN {
            body[16..18].fill(0);
            let len = body.len() as u16;
            let c = !fold(add_bytes(pseudo_header(src, dst, protocol, len), body));
            body[16..18].copy_from_slice(&c.to_be_bytes());
        } else if protocol == super::ipv4::PROTO_ICMP && body.len() >= 8 {
            body[2..4].fill(0);
            let c = checksum(body);
            body[2..4].copy_from_slice(&c.to_be_bytes());
        }
    }
    if ip {
        packet[10..12].fill(0);
        let c = checksum(&packet[..header_len]);
        packet[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain RFC 1071 definition, 16 bits at a time, big-endian.
    fn reference(sum: u64, data: &[u8]) -> u64 {
        let mut s = sum;
        for c in data.chunks(2) {
            s += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        s
    }

    proptest! {
        #[test]
        fn fast_sum_matches_the_definition(data in proptest::collection::vec(any::<u8>(), 0..3000), start in 0u64..1 << 40) {
            prop_assert_eq!(fold(add_bytes(start, &data)), fold(reference(start, &data)));
        }
    }

    #[test]
    fn all_ones_words_carry_around() {
        let data = vec![0xffu8; 4096];
        assert_eq!(fold(add_bytes(0, &data)), fold(reference(0, &data)));
        assert_eq!(checksum(&data), !fold(reference(0, &data)));
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add_bytes(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(add_bytes(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn verifies_to_zero() {
        let mut data = vec![0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        let c = checksum(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&data), 0);
    }
}
