//! Property tests of the IPv6, ICMPv6 and ICMP-error parsers: arbitrary,
//! IPv6-shaped (chains of extension headers) and mutated bytes never panic
//! them nor yield a slice outside the input, and what they accept agrees
//! with the bytes.

use core::net::{IpAddr, Ipv6Addr};

use proptest::prelude::*;
use proptest::sample::Index;

use super::prop::{check_tcp, parse_everything, within};
use super::v6::{options_header, packet6, tcp6};
use super::{LINUX_SYN, data_repr};
use crate::wire::checksum;
use crate::wire::icmp_error::{
    IcmpError, IcmpErrorKind, emit_icmpv4_error, emit_icmpv6_error, parse_icmpv6_error, quoted_tcp,
};
use crate::wire::icmpv6;
use crate::wire::ipv4::{Ipv4Repr, PROTO_TCP};
use crate::wire::ipv6::{self, Ipv6Repr, NO_NEXT_HEADER, PROTO_ICMPV6};
use crate::wire::{Error, IcmpEcho, RxChecksum, tcp};

/// The IPv6 side of `prop::parse_everything`: `ipv6::parse`, then TCP or
/// ICMPv6 by next header; and the ICMPv6 and quote parsers on the raw bytes.
pub(super) fn parse_everything_v6(bytes: &[u8]) {
    if let Ok(ip) = ipv6::parse(bytes) {
        assert!(within(bytes, ip.payload));
        assert_eq!(ip.payload.len(), ip.repr.payload_len);
        // The payload is a suffix of what the payload length covers.
        let end = 40 + usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        assert_eq!(ip.payload.as_ptr_range().end, bytes[..end].as_ptr_range().end);
        assert_eq!(ip.repr.src.octets(), bytes[8..24]);
        assert_eq!(ip.repr.dst.octets(), bytes[24..40]);
        assert_eq!(ip.repr.hop_limit, bytes[7]);
        match ip.repr.next_header {
            PROTO_TCP => check_tcp(ip.repr.src, ip.repr.dst, ip.payload),
            PROTO_ICMPV6 => check_icmpv6(ip.repr.src, ip.repr.dst, ip.payload),
            NO_NEXT_HEADER => assert!(ip.payload.is_empty()),
            n => assert!(![0, 43, 44, 60].contains(&n), "walk stopped at extension header {n}"),
        }
    }
    let a = Ipv6Addr::LOCALHOST;
    check_icmpv6(a, a, bytes);
    check_quoted(bytes);
}

fn check_icmpv6(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) {
    let echo = icmpv6::parse_echo_request(src, dst, msg);
    if let Ok(Some(e)) = &echo {
        assert!(within(msg, e.data));
        assert_eq!(e.data.len() + 8, msg.len());
    }
    match parse_icmpv6_error(src, dst, msg) {
        Ok(Some(err)) => {
            assert_eq!(echo, Ok(None));
            check_icmp_error(msg, &err);
        }
        Ok(None) => assert!(echo.is_ok()),
        Err(e) => assert_eq!(echo, Err(e)),
    }
}

/// An accepted ICMP error (either family) of the message `msg`.
pub(super) fn check_icmp_error(msg: &[u8], err: &IcmpError<'_>) {
    assert!(within(msg, err.quoted));
    assert_eq!(err.quoted.len() + 8, msg.len());
    check_quoted(err.quoted);
}

/// What `quoted_tcp` accepts names the addresses in the quoted header and
/// the ports and sequence number that follow it.
fn check_quoted(quoted: &[u8]) {
    let Ok(q) = quoted_tcp(quoted) else { return };
    let tcp_start = match quoted[0] >> 4 {
        4 => {
            assert!(q.src.is_ipv4() && q.dst.is_ipv4());
            assert_eq!(q.src.ip(), IpAddr::from(<[u8; 4]>::try_from(&quoted[12..16]).unwrap()));
            assert_eq!(q.dst.ip(), IpAddr::from(<[u8; 4]>::try_from(&quoted[16..20]).unwrap()));
            assert_eq!(quoted[9], PROTO_TCP);
            usize::from(quoted[0] & 0xf) * 4
        }
        6 => {
            assert!(q.src.is_ipv6() && q.dst.is_ipv6());
            assert_eq!(q.src.ip(), IpAddr::from(<[u8; 16]>::try_from(&quoted[8..24]).unwrap()));
            assert_eq!(q.dst.ip(), IpAddr::from(<[u8; 16]>::try_from(&quoted[24..40]).unwrap()));
            let walked = ipv6::walk_extension_headers(quoted[6], &quoted[40..], ipv6::Walk::Quote);
            let (next, rest) = walked.unwrap();
            assert_eq!(next, PROTO_TCP);
            quoted.len() - rest.len()
        }
        v => panic!("quoted version {v} accepted"),
    };
    let t = &quoted[tcp_start..tcp_start + 8];
    assert_eq!(q.src.port(), u16::from_be_bytes([t[0], t[1]]));
    assert_eq!(q.dst.port(), u16::from_be_bytes([t[2], t[3]]));
    assert_eq!(q.seq, u32::from_be_bytes([t[4], t[5], t[6], t[7]]));
}

/// One extension header (or anything in its place): the next-header value
/// it names, its length in 8-byte units beyond the first, and its bytes.
fn arb_header() -> impl Strategy<Value = (u8, u8, Vec<u8>)> {
    let kind = prop_oneof![
        Just(0u8),
        Just(43),
        Just(44),
        Just(60),
        Just(NO_NEXT_HEADER),
        Just(PROTO_TCP),
        Just(PROTO_ICMPV6),
        any::<u8>(),
    ];
    let byte = prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()];
    (kind, 0..3u8, proptest::collection::vec(byte, 22))
}

/// A packet SRC6 -> DST6 from `headers` (each naming the next), then `upper`.
fn chain_packet(first: u8, headers: &[(u8, u8, Vec<u8>)], upper: &[u8]) -> Vec<u8> {
    let mut rest = Vec::new();
    for (next, units, body) in headers {
        let len = (usize::from(*units) + 1) * 8;
        rest.extend_from_slice(&[*next, *units]);
        rest.extend_from_slice(&body[..len - 2]);
    }
    rest.extend_from_slice(upper);
    packet6(first, &rest)
}

/// Valid packets of each kind the new parsers take.
fn valid_packet(which: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = (super::v6::SRC6, super::v6::DST6);
    let ip6 = Ipv6Repr { src, dst, next_header: 0, hop_limit: 64, payload_len: 0 };
    let ip4 = Ipv4Repr { src: super::SRC, dst: super::DST, protocol: 0, ttl: 64, payload_len: 0 };
    let mut buf = vec![0u8; 200 + payload.len()];
    let n = match which % 5 {
        0 => {
            let seg = tcp6(&data_repr(), payload, src, dst);
            let p = packet6(0, &[options_header(PROTO_TCP, &[5, 2, 0, 0]), seg].concat());
            buf[..p.len()].copy_from_slice(&p);
            p.len()
        }
        1 => {
            let echo = IcmpEcho { ident: 7, seq: 9, data: payload };
            let n = icmpv6::emit_echo_reply(&ip6, &echo, &mut buf).unwrap();
            buf[40] = 128; // turn the reply into a request
            checksum::rewrite(&mut buf[..n], false, true);
            n
        }
        2 => {
            let quote = packet6(PROTO_TCP, &LINUX_SYN[20..]);
            emit_icmpv6_error(IcmpErrorKind::PacketTooBig { mtu: 1280 }, &ip6, &quote, &mut buf).unwrap()
        }
        3 => emit_icmpv4_error(IcmpErrorKind::PacketTooBig { mtu: 1400 }, &ip4, &LINUX_SYN[..28], &mut buf)
            .unwrap(),
        _ => emit_icmpv4_error(IcmpErrorKind::Unreachable { code: 3 }, &ip4, &LINUX_SYN, &mut buf).unwrap(),
    };
    buf.truncate(n);
    buf
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    Xor(Index, u8),
    SetByte(Index, u8),
    PayloadLen(u16),
    Append(Vec<u8>),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Xor(i, x)),
        (any::<Index>(), prop_oneof![Just(0u8), Just(6), Just(44), Just(58), any::<u8>()])
            .prop_map(|(i, b)| Mutation::SetByte(i, b)),
        any::<u16>().prop_map(Mutation::PayloadLen),
        proptest::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
    ]
}

fn apply(p: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Truncate(i) => p.truncate(i.index(p.len() + 1)),
        Mutation::Xor(i, x) if !p.is_empty() => {
            let i = i.index(p.len());
            p[i] ^= x;
        }
        Mutation::SetByte(i, b) if !p.is_empty() => {
            let i = i.index(p.len());
            p[i] = *b;
        }
        Mutation::PayloadLen(v) if p.len() >= 6 && p[0] >> 4 == 6 => {
            p[4..6].copy_from_slice(&v.to_be_bytes())
        }
        Mutation::Append(bytes) => p.extend_from_slice(bytes),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_new_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        parse_everything_v6(&bytes);
        let mut v6 = bytes.clone();
        if let Some(b) = v6.first_mut() {
            *b = 0x60 | (*b & 0xf);
        }
        parse_everything(&v6);
    }

    #[test]
    fn ipv6_looking_bytes_never_panic(
        first in prop_oneof![Just(0u8), Just(43), Just(44), Just(60), any::<u8>()],
        headers in proptest::collection::vec(arb_header(), 0..20),
        upper in proptest::collection::vec(any::<u8>(), 0..60),
        fix_l4: bool,
        cut in any::<Index>(),
        cut_payload_len in prop::bool::weighted(0.1),
    ) {
        let mut p = chain_packet(first, &headers, &upper);
        if cut_payload_len {
            let len = cut.index(p.len() - 40 + 1) as u16;
            p[4..6].copy_from_slice(&len.to_be_bytes());
        }
        checksum::rewrite(&mut p, false, fix_l4);
        parse_everything(&p);
        // A rewritten TCP or ICMPv6 checksum is right.
        if let (true, Ok(ip)) = (fix_l4, ipv6::parse(&p)) {
            let (src, dst, payload) = (ip.repr.src, ip.repr.dst, ip.payload);
            match ip.repr.next_header {
                PROTO_TCP if payload.len() >= 20 => {
                    prop_assert_ne!(tcp::parse(src, dst, payload, RxChecksum::Verify).err(), Some(Error::BadChecksum));
                }
                PROTO_ICMPV6 if payload.len() >= 8 => {
                    prop_assert!(icmpv6::parse_echo_request(src, dst, payload).is_ok());
                }
                _ => {}
            }
        }
    }

    #[test]
    fn quotes_never_panic(
        quote in proptest::collection::vec(any::<u8>(), 0..120),
        v6 in any::<bool>(),
        next in prop_oneof![Just(0u8), Just(43), Just(44), Just(60), Just(PROTO_TCP)],
    ) {
        let mut q = quote;
        if let Some(b) = q.first_mut() {
            *b = if v6 { 0x60 } else { 0x45 };
        }
        if v6 && q.len() > 6 {
            q[6] = next;
        } else if !v6 && q.len() > 9 {
            q[9] = PROTO_TCP;
            q[6] &= 0xe0;
            q[7] = 0;
        }
        check_quoted(&q);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_v6_and_error_packets_never_panic(
        which in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..48),
        mutations in proptest::collection::vec(arb_mutation(), 1..5),
        fix in prop::bool::weighted(0.8),
    ) {
        let mut p = valid_packet(which, &payload);
        parse_everything(&p);
        for m in &mutations {
            apply(&mut p, m);
        }
        checksum::rewrite(&mut p, fix, fix);
        parse_everything(&p);
    }
}

#[test]
fn valid_packets_are_accepted() {
    for which in 0..5 {
        let p = valid_packet(which, b"payload");
        let ok = match p[0] >> 4 {
            6 => {
                let ip = ipv6::parse(&p).unwrap();
                match ip.repr.next_header {
                    PROTO_TCP => tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify).is_ok(),
                    _ => {
                        let echo = icmpv6::parse_echo_request(ip.repr.src, ip.repr.dst, ip.payload);
                        let err = parse_icmpv6_error(ip.repr.src, ip.repr.dst, ip.payload);
                        matches!(echo, Ok(Some(_)))
                            || matches!(err, Ok(Some(e)) if quoted_tcp(e.quoted).is_ok())
                    }
                }
            }
            _ => {
                let ip = crate::wire::ipv4::parse(&p).unwrap();
                let err = crate::wire::parse_icmpv4_error(ip.payload).unwrap().unwrap();
                quoted_tcp(err.quoted).is_ok()
            }
        };
        assert!(ok, "packet {which}");
    }
}
