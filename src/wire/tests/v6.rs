//! IPv6 (RFC 8200): the header round trip, each extension-header rule of
//! §4, truncation; TCP over IPv6 (§8.1 checksum) and ICMPv6 echo
//! (RFC 4443 §4). Packets are laid out by hand here, independently of
//! `ipv6::emit`.

use core::net::Ipv6Addr;

use proptest::prelude::*;

use super::*;
use crate::wire::checksum::pseudo_header_v6;
use crate::wire::icmpv6;
use crate::wire::ipv6::{self, Ipv6Repr, MAX_EXTENSION_HEADERS, NO_NEXT_HEADER, PROTO_ICMPV6};

pub(super) const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub(super) const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

const HBH: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DEST_OPTS: u8 = 60;

/// The IPv6 pseudo-header (RFC 8200 §8.1) as bytes.
pub(super) fn pseudo6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, next_header]);
    p
}

/// A packet SRC6 -> DST6, hop limit 64, whose first next-header value is
/// `first`, with `rest` (extension headers and upper layer) after the fixed
/// header.
pub(super) fn packet6(first: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    p.extend_from_slice(&[first, 64]);
    p.extend_from_slice(&SRC6.octets());
    p.extend_from_slice(&DST6.octets());
    p.extend_from_slice(rest);
    p
}

/// An options header (Hop-by-Hop or Destination Options) holding `options`,
/// padded with PadN/Pad1 to a multiple of 8 bytes.
pub(super) fn options_header(next: u8, options: &[u8]) -> Vec<u8> {
    let mut h = vec![next, 0];
    h.extend_from_slice(options);
    match (8 - h.len() % 8) % 8 {
        0 => {}
        1 => h.push(0),
        n => h.extend_from_slice(&[&[1, (n - 2) as u8][..], &vec![0; n - 2]].concat()),
    }
    h[1] = (h.len() / 8 - 1) as u8;
    h
}

fn routing_header(next: u8, routing_type: u8, segments_left: u8) -> Vec<u8> {
    let mut h = vec![next, 2, routing_type, segments_left, 0, 0, 0, 0];
    h.extend_from_slice(&[0xaa; 16]); // one address
    h
}

pub(super) fn fragment_header(next: u8, offset: u16, more: bool) -> Vec<u8> {
    let word = offset << 3 | u16::from(more);
    let mut h = vec![next, 0];
    h.extend_from_slice(&word.to_be_bytes());
    h.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    h
}

/// An upper-layer payload for next header 253 (experimentation, RFC 3692).
const UPPER: u8 = 253;
const DATA: &[u8] = b"upper-layer bytes";

fn chain(headers: &[Vec<u8>]) -> Vec<u8> {
    let mut v = headers.concat();
    v.extend_from_slice(DATA);
    v
}

fn parsed(p: &[u8]) -> Result<(u8, &[u8]), Error> {
    ipv6::parse(p).map(|ip| {
        assert_eq!(ip.payload.len(), ip.repr.payload_len);
        (ip.repr.next_header, ip.payload)
    })
}

#[test]
fn fixed_header_parses_and_emits() {
    let p = packet6(UPPER, DATA);
    let ip = ipv6::parse(&p).unwrap();
    let want = Ipv6Repr { src: SRC6, dst: DST6, next_header: UPPER, hop_limit: 64, payload_len: DATA.len() };
    assert_eq!(ip.repr, want);
    assert_eq!(ip.payload, DATA);
    let mut h = [0u8; 40];
    assert_eq!(ipv6::emit(&want, &mut h), Ok(40));
    assert_eq!(h, p[..40]);
    // Traffic class and flow label are ignored on input.
    let mut q = p.clone();
    q[1] = 0xff;
    q[3] = 0x42;
    assert_eq!(ipv6::parse(&q).unwrap().repr, want);
}

#[test]
fn bad_version_and_length() {
    for version in [0u8, 4, 5, 7, 15] {
        let mut p = packet6(UPPER, DATA);
        p[0] = version << 4;
        assert_eq!(ipv6::parse(&p).err(), Some(Error::BadVersion));
    }
    let p = packet6(UPPER, DATA);
    for n in 0..p.len() {
        assert_eq!(ipv6::parse(&p[..n]).err(), Some(Error::Truncated), "len {n}");
    }
    // Trailing link padding is trimmed; payload length 0 is empty.
    let mut padded = p.clone();
    padded.extend_from_slice(&[0xee; 9]);
    assert_eq!(parsed(&padded), Ok((UPPER, DATA)));
    let mut empty = p.clone();
    empty[4..6].fill(0);
    assert_eq!(parsed(&empty), Ok((UPPER, &[][..])));
}

#[test]
fn emit_errors() {
    let repr = Ipv6Repr { src: SRC6, dst: DST6, next_header: 6, hop_limit: 1, payload_len: 65535 };
    let mut buf = [0u8; 40];
    assert_eq!(ipv6::emit(&repr, &mut buf), Ok(40));
    for payload_len in [65536, usize::MAX] {
        assert_eq!(ipv6::emit(&Ipv6Repr { payload_len, ..repr }, &mut buf), Err(Error::Unencodable));
    }
    for n in 0..40 {
        assert_eq!(ipv6::emit(&repr, &mut buf[..n]), Err(Error::BufferTooSmall));
    }
}

#[test]
fn hop_by_hop_first_is_allowed() {
    let p = packet6(HBH, &chain(&[options_header(UPPER, &[])]));
    assert_eq!(parsed(&p), Ok((UPPER, DATA)));
    // Router Alert (type 5: high bits 00, skipped) then Destination Options.
    let hbh = options_header(DEST_OPTS, &[5, 2, 0, 0]);
    let p = packet6(HBH, &chain(&[hbh, options_header(UPPER, &[])]));
    assert_eq!(parsed(&p), Ok((UPPER, DATA)));
}

#[test]
fn hop_by_hop_later_is_rejected() {
    let p = packet6(DEST_OPTS, &chain(&[options_header(HBH, &[]), options_header(UPPER, &[])]));
    assert_eq!(parsed(&p), Err(Error::ExtensionHeader));
    let p = packet6(HBH, &chain(&[options_header(HBH, &[]), options_header(UPPER, &[])]));
    assert_eq!(parsed(&p), Err(Error::ExtensionHeader));
}

#[test]
fn skippable_unknown_options_are_skipped() {
    for kind in [0x02u8, 0x1e, 0x3f, 0x22] {
        for hdr in [HBH, DEST_OPTS] {
            let opts = [&[kind, 3, 1, 2, 3][..], &[0], &[kind, 0], &[1, 0]].concat();
            let p = packet6(hdr, &chain(&[options_header(UPPER, &opts)]));
            assert_eq!(parsed(&p), Ok((UPPER, DATA)), "type {kind:#x}");
        }
    }
    // Pad1 and PadN filling a long header.
    let opts = [&[0u8; 7][..], &[1, 4, 0, 0, 0, 0], &[1, 0]].concat();
    let p = packet6(DEST_OPTS, &chain(&[options_header(UPPER, &opts)]));
    assert_eq!(parsed(&p), Ok((UPPER, DATA)));
}

#[test]
fn options_that_say_discard_are_rejected() {
    // 01, 10 and 11 in the high bits (RFC 8200 §4.2), including Jumbo
    // Payload (0xc2, RFC 2675), which we do not take.
    for kind in [0x40u8, 0x5e, 0x7f, 0x80, 0x9e, 0xc2, 0xde, 0xff] {
        for hdr in [HBH, DEST_OPTS] {
            let opts = [&[1u8, 0][..], &[kind, 2, 0, 0]].concat();
            let p = packet6(hdr, &chain(&[options_header(UPPER, &opts)]));
            assert_eq!(parsed(&p), Err(Error::ExtensionHeader), "type {kind:#x}");
        }
    }
}

#[test]
fn malformed_options_are_rejected() {
    // An option whose length runs past its header; an option type with no
    // length byte at the very end.
    for tail in [&[0x1e, 5, 0, 0, 0, 0][..], &[0, 0, 0, 0, 0, 0x1e], &[1, 5, 0, 0, 0, 0]] {
        let mut h = vec![UPPER, 0];
        h.extend_from_slice(tail);
        let p = packet6(DEST_OPTS, &chain(&[h]));
        assert_eq!(parsed(&p), Err(Error::ExtensionHeader), "{tail:?}");
    }
}

#[test]
fn routing_with_segments_left_zero_is_ignored() {
    for routing_type in [0u8, 2, 3, 4, 253] {
        let p = packet6(ROUTING, &chain(&[routing_header(UPPER, routing_type, 0)]));
        assert_eq!(parsed(&p), Ok((UPPER, DATA)), "type {routing_type}");
    }
}

#[test]
fn routing_with_segments_left_is_rejected() {
    for (routing_type, left) in [(0u8, 1u8), (2, 1), (4, 3), (253, 255)] {
        let p = packet6(ROUTING, &chain(&[routing_header(UPPER, routing_type, left)]));
        assert_eq!(parsed(&p), Err(Error::ExtensionHeader), "type {routing_type}");
    }
}

#[test]
fn fragments_are_rejected() {
    for (offset, more) in [(0u16, true), (1, false), (1, true), (0x1fff, false)] {
        let p = packet6(FRAGMENT, &chain(&[fragment_header(UPPER, offset, more)]));
        assert_eq!(parsed(&p), Err(Error::Fragment), "offset {offset} more {more}");
    }
}

#[test]
fn atomic_fragments_are_processed() {
    // RFC 6946 §4: offset 0 and M clear is a whole packet.
    let p = packet6(FRAGMENT, &chain(&[fragment_header(UPPER, 0, false)]));
    assert_eq!(parsed(&p), Ok((UPPER, DATA)));
    let p = packet6(FRAGMENT, &chain(&[fragment_header(HBH, 0, false), options_header(UPPER, &[])]));
    assert_eq!(parsed(&p), Err(Error::ExtensionHeader));
}

#[test]
fn no_next_header_ends_the_packet() {
    let p = packet6(NO_NEXT_HEADER, DATA);
    let ip = ipv6::parse(&p).unwrap();
    assert_eq!((ip.repr.next_header, ip.repr.payload_len), (NO_NEXT_HEADER, 0));
    assert!(ip.payload.is_empty());
    let p = packet6(DEST_OPTS, &chain(&[options_header(NO_NEXT_HEADER, &[])]));
    assert_eq!(parsed(&p), Ok((NO_NEXT_HEADER, &[][..])));
}

#[test]
fn too_many_extension_headers() {
    for n in [1, MAX_EXTENSION_HEADERS - 1, MAX_EXTENSION_HEADERS, MAX_EXTENSION_HEADERS + 1, 100] {
        let headers: Vec<Vec<u8>> =
            (0..n).map(|i| options_header(if i + 1 == n { UPPER } else { DEST_OPTS }, &[])).collect();
        let p = packet6(DEST_OPTS, &chain(&headers));
        let want = if n <= MAX_EXTENSION_HEADERS { Ok((UPPER, DATA)) } else { Err(Error::ExtensionHeader) };
        assert_eq!(parsed(&p), want, "{n} headers");
    }
}

/// A packet with every kind of header we walk through.
fn long_chain() -> Vec<u8> {
    let headers = [
        options_header(DEST_OPTS, &[0x1e, 1, 9]),
        options_header(ROUTING, &[0; 10]),
        routing_header(FRAGMENT, 2, 0),
        fragment_header(DEST_OPTS, 0, false),
        options_header(UPPER, &[]),
    ];
    packet6(HBH, &chain(&headers))
}

#[test]
fn truncated_headers_at_every_length() {
    let p = long_chain();
    assert_eq!(parsed(&p), Ok((UPPER, DATA)));
    for n in 0..p.len() {
        assert_eq!(ipv6::parse(&p[..n]).err(), Some(Error::Truncated), "len {n}");
        // The payload length cut to n - 40: the chain ends inside a header
        // (Truncated) or inside the upper-layer data (a shorter payload).
        let mut q = p[..n].to_vec();
        if n >= 40 {
            q[4..6].copy_from_slice(&((n - 40) as u16).to_be_bytes());
            let headers_len = p.len() - 40 - DATA.len();
            match ipv6::parse(&q) {
                Ok(ip) => assert_eq!(ip.payload, &DATA[..n - 40 - headers_len]),
                Err(e) => assert!(n - 40 < headers_len && e == Error::Truncated, "len {n}: {e:?}"),
            }
        }
    }
}

// ---- TCP over IPv6 ----

pub(super) fn tcp6(repr: &TcpRepr, payload: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut seg = vec![0u8; repr.header_len() + payload.len()];
    let n = tcp::emit_segment(repr, [payload, &[]], &mut seg).unwrap();
    let pseudo = pseudo_header_v6(src, dst, PROTO_TCP, n as u32);
    tcp::fill_checksum(&mut seg[..n], pseudo, TxChecksum::Full);
    seg
}

#[test]
fn tcp_over_ipv6_checksum_round_trip() {
    let seg = tcp6(&data_repr(), b"hello", SRC6, DST6);
    // Checked independently: the naive sum over the pseudo-header.
    assert_eq!(naive_sum(&[&pseudo6(SRC6, DST6, PROTO_TCP, seg.len()), &seg]), 0xffff);
    let s = tcp::parse(SRC6, DST6, &seg, RxChecksum::Verify).unwrap();
    assert_eq!(s.repr, data_repr());
    assert_eq!(s.payload, b"hello");
    // The pseudo-header counts: other addresses fail.
    let other = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3);
    assert_eq!(tcp::parse(other, DST6, &seg, RxChecksum::Verify).err(), Some(Error::BadChecksum));
    assert_eq!(tcp::parse(SRC6, other, &seg, RxChecksum::Verify).err(), Some(Error::BadChecksum));
    // The IPv4 pseudo-header does not verify an IPv6 checksum.
    assert_eq!(tcp::parse(SRC, DST, &seg, RxChecksum::Verify).err(), Some(Error::BadChecksum));
    // Mixed families are never valid, and do not panic.
    assert!(tcp::parse(SRC, DST6, &seg, RxChecksum::Verify).is_err());
    assert!(tcp::parse(SRC6, DST, &seg, RxChecksum::Trusted).is_ok());
    // Carried behind extension headers.
    let headers = [options_header(ROUTING, &[]), routing_header(PROTO_TCP, 0, 0)];
    let p = packet6(HBH, &[headers.concat(), seg.clone()].concat());
    let ip = ipv6::parse(&p).unwrap();
    assert_eq!(ip.repr.next_header, PROTO_TCP);
    let s = tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify).unwrap();
    assert_eq!(s.repr, data_repr());
}

// ---- ICMPv6 echo ----

/// Echo request 2001:db8::1 -> 2001:db8::2, ident 0x1234, seq 1, data
/// "abcdefghi"; checksum 0x1774 computed outside Rust.
const ECHO6_REQUEST: [u8; 17] =
    [128, 0, 0x17, 0x74, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h', b'i'];

#[test]
fn icmpv6_echo_round_trip() {
    assert_eq!(naive_sum(&[&pseudo6(SRC6, DST6, PROTO_ICMPV6, 17), &ECHO6_REQUEST]), 0xffff);
    let req = icmpv6::parse_echo_request(SRC6, DST6, &ECHO6_REQUEST).unwrap().unwrap();
    assert_eq!(req, IcmpEcho { ident: 0x1234, seq: 1, data: b"abcdefghi" });
    let ip = Ipv6Repr { src: DST6, dst: SRC6, next_header: PROTO_TCP, hop_limit: 255, payload_len: 1 };
    let mut buf = [0u8; 80];
    let n = icmpv6::emit_echo_reply(&ip, &req, &mut buf).unwrap();
    assert_eq!(n, 40 + 17);
    let pkt = ipv6::parse(&buf[..n]).unwrap();
    let want = Ipv6Repr { next_header: PROTO_ICMPV6, payload_len: 17, ..ip };
    assert_eq!(pkt.repr, want);
    let m = pkt.payload;
    assert_eq!(m[..2], [129, 0]);
    assert_eq!(m[4..], ECHO6_REQUEST[4..]);
    assert_eq!(naive_sum(&[&pseudo6(DST6, SRC6, PROTO_ICMPV6, 17), m]), 0xffff);
    // A reply is valid but not a request.
    assert_eq!(icmpv6::parse_echo_request(DST6, SRC6, m), Ok(None));
    for len in 0..n {
        assert_eq!(icmpv6::emit_echo_reply(&ip, &req, &mut buf[..len]), Err(Error::BufferTooSmall));
    }
    let big = vec![0u8; 65535 - 8 + 1];
    let req = IcmpEcho { data: &big, ..req };
    assert_eq!(icmpv6::emit_echo_reply(&ip, &req, &mut vec![0; 70000]), Err(Error::Unencodable));
}

#[test]
fn icmpv6_bad_checksum_and_length() {
    for i in 0..ECHO6_REQUEST.len() {
        let mut m = ECHO6_REQUEST;
        m[i] ^= 0x10;
        assert_eq!(icmpv6::parse_echo_request(SRC6, DST6, &m), Err(Error::BadChecksum), "byte {i}");
    }
    // The pseudo-header counts: another address or a shorter length fails.
    let other = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3);
    assert_eq!(icmpv6::parse_echo_request(other, DST6, &ECHO6_REQUEST), Err(Error::BadChecksum));
    assert_eq!(icmpv6::parse_echo_request(SRC6, DST6, &ECHO6_REQUEST[..12]), Err(Error::BadChecksum));
    for n in 0..8 {
        assert_eq!(icmpv6::parse_echo_request(SRC6, DST6, &ECHO6_REQUEST[..n]), Err(Error::Truncated));
    }
    // Other types and codes are valid and ignored.
    for (ty, code) in [(129u8, 0u8), (128, 1), (1, 0), (2, 0), (133, 0), (135, 0)] {
        let mut m = ECHO6_REQUEST;
        (m[0], m[1]) = (ty, code);
        m[2..4].fill(0);
        let c = !naive_sum(&[&pseudo6(SRC6, DST6, PROTO_ICMPV6, m.len()), &m]);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(icmpv6::parse_echo_request(SRC6, DST6, &m), Ok(None), "type {ty} code {code}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ipv6_round_trip(
        (src, dst, hop_limit) in any::<(u128, u128, u8)>(),
        next_header in any::<u8>().prop_filter("not an extension header", |n| ![0, 43, 44, 59, 60].contains(n)),
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        padding in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let repr = Ipv6Repr {
            src: src.into(), dst: dst.into(), next_header, hop_limit, payload_len: payload.len(),
        };
        let mut buf = vec![0u8; 40];
        prop_assert_eq!(ipv6::emit(&repr, &mut buf), Ok(40));
        buf.extend_from_slice(&payload);
        buf.extend_from_slice(&padding);
        let ip = ipv6::parse(&buf).unwrap();
        prop_assert_eq!(ip.repr, repr);
        prop_assert_eq!(ip.payload, &payload[..]);
    }

    #[test]
    fn tcp_over_ipv6_round_trip(
        (src, dst) in any::<(u128, u128)>(),
        (seq, ack, window) in any::<(u32, u32, u16)>(),
        payload in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let repr = TcpRepr { seq, ack, window, ..data_repr() };
        let seg = tcp6(&repr, &payload, src, dst);
        let ip = Ipv6Repr { src, dst, next_header: PROTO_TCP, hop_limit: 64, payload_len: seg.len() };
        let mut p = vec![0u8; 40];
        ipv6::emit(&ip, &mut p).unwrap();
        p.extend_from_slice(&seg);
        let pkt = ipv6::parse(&p).unwrap();
        let s = tcp::parse(pkt.repr.src, pkt.repr.dst, pkt.payload, RxChecksum::Verify).unwrap();
        prop_assert_eq!(s.repr, repr);
        prop_assert_eq!(s.payload, &payload[..]);
    }
}
