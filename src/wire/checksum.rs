//! The Internet checksum (RFC 1071), used by IPv4, TCP, ICMP and ICMPv6,
//! and the IPv4 and IPv6 pseudo-headers transport checksums cover.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// The running sum of the IPv6 pseudo-header (RFC 8200 §8.1): both
/// addresses, the upper-layer packet length as 32 bits, and the next-header
/// value of the upper-layer protocol.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u64 {
    let words = |a: Ipv6Addr| a.segments().iter().map(|&w| u64::from(w)).sum::<u64>();
    words(src) + words(dst) + u64::from(length >> 16) + u64::from(length & 0xffff) + u64::from(next_header)
}

/// The running sum of the pseudo-header for either family: the IPv4 one
/// (RFC 9293 §3.1; a `length` above 65535 is summed as its two 16-bit
/// halves) or the IPv6 one (RFC 8200 §8.1).
///
/// Mixed families never happen (a packet has one IP header); if they did,
/// the IPv4 address is mapped (`::ffff:a.b.c.d`) and the IPv6 sum returned,
/// which no peer would verify, so the packet fails its check rather than
/// anything panicking.
pub fn pseudo_header_ip(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u64 {
    let v6 = |a: IpAddr| match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo_header(s, d, protocol, 0) + u64::from(length >> 16) + u64::from(length & 0xffff)
        }
        (s, d) => pseudo_header_v6(v6(s), v6(d), protocol, length),
    }
}

/// Recomputes, in place, the checksums of a packet as far as its own length
/// fields and the slice allow; anything else is left as it is. For code that
/// rewrites packets: software segmentation, and tests and fuzzers that forge
/// them.
///
/// For IPv4 (version 4), `ip` asks for the header checksum and `transport`
/// for the TCP or ICMP checksum. For IPv6 (version 6), which has no header
/// checksum, `transport` asks for the TCP or ICMPv6 checksum of a packet
/// whose extension headers [`super::ipv6::parse`] accepts. Other versions
/// are left alone.
pub fn rewrite(packet: &mut [u8], ip: bool, transport: bool) {
    match packet.first().map(|b| b >> 4) {
        Some(4) => rewrite_v4(packet, ip, transport),
        Some(6) if transport => rewrite_v6(packet),
        _ => {}
    }
}

fn rewrite_v4(packet: &mut [u8], ip: bool, transport: bool) {
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

fn rewrite_v6(packet: &mut [u8]) {
    let Ok(parsed) = super::ipv6::parse(packet) else { return };
    let repr = parsed.repr;
    // The payload is a suffix of the bytes the payload length covers.
    let end = super::ipv6::HEADER_LEN + usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    let Some(start) = end.checked_sub(repr.payload_len) else { return };
    let Some(body) = packet.get_mut(start..end) else { return };
    let field = match repr.next_header {
        super::ipv4::PROTO_TCP if body.len() >= super::tcp::HEADER_LEN => 16,
        super::ipv6::PROTO_ICMPV6 if body.len() >= 8 => 2,
        _ => return,
    };
    body[field..field + 2].fill(0);
    let Ok(len) = u32::try_from(body.len()) else { return };
    let c = !fold(add_bytes(pseudo_header_v6(repr.src, repr.dst, repr.next_header, len), body));
    body[field..field + 2].copy_from_slice(&c.to_be_bytes());
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
    fn pseudo_header_v6_is_the_rfc_8200_layout() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "fe80::1234:5678:9abc:def0".parse().unwrap();
        for length in [0u32, 20, 65535, 0x0001_0000, u32::MAX] {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&src.octets());
            bytes.extend_from_slice(&dst.octets());
            bytes.extend_from_slice(&length.to_be_bytes());
            bytes.extend_from_slice(&[0, 0, 0, 6]);
            let want = fold(reference(0, &bytes));
            assert_eq!(fold(pseudo_header_v6(src, dst, 6, length)), want, "{length}");
            assert_eq!(fold(pseudo_header_ip(src.into(), dst.into(), 6, length)), want);
        }
    }

    #[test]
    fn pseudo_header_ip_picks_the_family() {
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 168, 1, 200));
        for length in [0u16, 1, 40, 65535] {
            let v4 = pseudo_header(a, b, 6, length);
            assert_eq!(pseudo_header_ip(a.into(), b.into(), 6, u32::from(length)), v4);
        }
        // Mixed families: the mapped IPv6 sum, and no panic.
        let c: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mixed = pseudo_header_ip(a.into(), c.into(), 6, 40);
        assert_eq!(mixed, pseudo_header_v6(a.to_ipv6_mapped(), c, 6, 40));
        let mixed = pseudo_header_ip(c.into(), a.into(), 58, u32::MAX);
        assert_eq!(mixed, pseudo_header_v6(c, a.to_ipv6_mapped(), 58, u32::MAX));
    }

    #[test]
    fn verifies_to_zero() {
        let mut data = vec![0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        let c = checksum(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&data), 0);
    }
}
