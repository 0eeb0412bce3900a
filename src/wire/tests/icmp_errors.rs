//! ICMP errors (RFC 792, RFC 1191 §4, RFC 4443 §3, RFC 8201): parse and
//! emit round trips for both families, and the quoted TCP packet
//! (`quoted_tcp`) with its truncation and protocol rules.

use core::net::{Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::v6::{DST6, SRC6, fragment_header, options_header, packet6, pseudo6};
use super::*;
use crate::wire::icmp_error::{
    IcmpError, IcmpErrorKind, QuotedTcp, emit_icmpv4_error, emit_icmpv6_error, parse_icmpv4_error,
    parse_icmpv6_error, quoted_tcp,
};
use crate::wire::ipv6::{self, Ipv6Repr, PROTO_ICMPV6};

const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const ROUTER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xff);

/// "Fragmentation needed" (type 3 code 4, next-hop MTU 1400) from ROUTER
/// to SRC quoting the first 28 bytes of `LINUX_SYN`; both checksums (0x6dc6
/// and 0xdc18) computed outside Rust.
#[rustfmt::skip]
const FRAG_NEEDED_HEADERS: [u8; 28] = [
    0x45, 0x00, 0x00, 0x38, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01, 0x6d, 0xc6,
    0xc0, 0x00, 0x02, 0xfe, 0x0a, 0x00, 0x00, 0x01,
    0x03, 0x04, 0xdc, 0x18, 0x00, 0x00, 0x05, 0x78,
];

fn frag_needed() -> Vec<u8> {
    [&FRAG_NEEDED_HEADERS[..], &LINUX_SYN[..28]].concat()
}

fn syn_quote() -> QuotedTcp {
    QuotedTcp { src: SocketAddr::from((SRC, 45678)), dst: SocketAddr::from((DST, 80)), seq: 0x1234_5678 }
}

fn router_ip() -> Ipv4Repr {
    Ipv4Repr { src: ROUTER, dst: SRC, protocol: PROTO_TCP, ttl: 64, payload_len: 7 }
}

fn router_ip6() -> Ipv6Repr {
    Ipv6Repr { src: ROUTER6, dst: SRC6, next_header: PROTO_TCP, hop_limit: 64, payload_len: 7 }
}

const V4_KINDS: [IcmpErrorKind; 10] = [
    IcmpErrorKind::PacketTooBig { mtu: 0 },
    IcmpErrorKind::PacketTooBig { mtu: 68 },
    IcmpErrorKind::PacketTooBig { mtu: 65535 },
    IcmpErrorKind::Unreachable { code: 0 },
    IcmpErrorKind::Unreachable { code: 1 },
    IcmpErrorKind::Unreachable { code: 3 },
    IcmpErrorKind::Unreachable { code: 13 },
    IcmpErrorKind::Unreachable { code: 255 },
    IcmpErrorKind::TimeExceeded,
    IcmpErrorKind::ParameterProblem,
];

#[test]
fn frag_needed_literal_parses_and_emits() {
    let p = frag_needed();
    assert_eq!(naive_sum(&[&p[..20]]), 0xffff);
    assert_eq!(naive_sum(&[&p[20..]]), 0xffff);
    let ip = ipv4::parse(&p).unwrap();
    assert_eq!(ip.repr.protocol, PROTO_ICMP);
    let err = parse_icmpv4_error(ip.payload).unwrap().unwrap();
    assert_eq!(err, IcmpError { kind: IcmpErrorKind::PacketTooBig { mtu: 1400 }, quoted: &LINUX_SYN[..28] });
    assert_eq!(quoted_tcp(err.quoted), Ok(syn_quote()));
    let mut buf = [0u8; 100];
    let n = emit_icmpv4_error(err.kind, &router_ip(), &LINUX_SYN[..28], &mut buf).unwrap();
    assert_eq!(buf[..n], p[..]);
}

#[test]
fn icmpv4_errors_round_trip() {
    for kind in V4_KINDS {
        for quote in [&LINUX_SYN[..28], &LINUX_SYN[..]] {
            let mut buf = [0u8; 128];
            let n = emit_icmpv4_error(kind, &router_ip(), quote, &mut buf).unwrap();
            assert_eq!(n, 20 + 8 + quote.len());
            let ip = ipv4::parse(&buf[..n]).unwrap();
            assert_eq!(ip.repr, Ipv4Repr { protocol: PROTO_ICMP, payload_len: n - 20, ..router_ip() });
            assert_eq!(naive_sum(&[ip.payload]), 0xffff);
            let err = parse_icmpv4_error(ip.payload).unwrap().unwrap();
            assert_eq!(err, IcmpError { kind, quoted: quote });
            assert_eq!(quoted_tcp(err.quoted), Ok(syn_quote()));
            for len in 0..n {
                let r = emit_icmpv4_error(kind, &router_ip(), quote, &mut buf[..len]);
                assert_eq!(r, Err(Error::BufferTooSmall));
            }
        }
    }
}

#[test]
fn icmpv4_emit_edge_cases() {
    let mut buf = vec![0u8; 70000];
    // Code 4 is "fragmentation needed": it reads back as an unknown MTU.
    let kind = IcmpErrorKind::Unreachable { code: 4 };
    let n = emit_icmpv4_error(kind, &router_ip(), &LINUX_SYN[..28], &mut buf).unwrap();
    let err = parse_icmpv4_error(&buf[20..n]).unwrap().unwrap();
    assert_eq!(err.kind, IcmpErrorKind::PacketTooBig { mtu: 0 });
    let kind = IcmpErrorKind::PacketTooBig { mtu: 65536 };
    assert_eq!(emit_icmpv4_error(kind, &router_ip(), &[], &mut buf), Err(Error::Unencodable));
    let big = vec![0u8; 65535 - 28 + 1];
    let kind = IcmpErrorKind::TimeExceeded;
    assert_eq!(emit_icmpv4_error(kind, &router_ip(), &big, &mut buf), Err(Error::Unencodable));
    assert_eq!(emit_icmpv4_error(kind, &router_ip(), &big[1..], &mut buf), Ok(65535));
}

#[test]
fn icmpv4_non_errors_and_bad_messages() {
    let p = frag_needed();
    let msg = &p[20..];
    // Echo reply and request, Source Quench (RFC 6633), Redirect, Timestamp.
    for ty in [0u8, 8, 4, 5, 13] {
        let mut m = msg.to_vec();
        m[0] = ty;
        m[2..4].fill(0);
        let c = !naive_sum(&[&m]);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse_icmpv4_error(&m), Ok(None), "type {ty}");
    }
    for i in 0..msg.len() {
        let mut m = msg.to_vec();
        m[i] ^= 0x01;
        assert_eq!(parse_icmpv4_error(&m), Err(Error::BadChecksum), "byte {i}");
    }
    for n in 0..8 {
        assert_eq!(parse_icmpv4_error(&msg[..n]), Err(Error::Truncated));
    }
    // Only the header: valid, with an empty quote that quoted_tcp rejects.
    let mut bare = msg[..8].to_vec();
    bare[2..4].fill(0);
    let c = !naive_sum(&[&bare]);
    bare[2..4].copy_from_slice(&c.to_be_bytes());
    let err = parse_icmpv4_error(&bare).unwrap().unwrap();
    assert!(err.quoted.is_empty());
    assert_eq!(quoted_tcp(err.quoted), Err(Error::Truncated));
}

// ---- ICMPv6 ----

/// Our IPv6 TCP packet SRC6:45678 -> DST6:80 (the SYN's TCP header), as an
/// ICMPv6 error would quote it.
fn syn6() -> Vec<u8> {
    packet6(PROTO_TCP, &LINUX_SYN[20..])
}

fn syn6_quote() -> QuotedTcp {
    QuotedTcp { src: SocketAddr::from((SRC6, 45678)), dst: SocketAddr::from((DST6, 80)), seq: 0x1234_5678 }
}

const V6_KINDS: [IcmpErrorKind; 9] = [
    IcmpErrorKind::PacketTooBig { mtu: 0 },
    IcmpErrorKind::PacketTooBig { mtu: 1280 },
    IcmpErrorKind::PacketTooBig { mtu: 65536 },
    IcmpErrorKind::PacketTooBig { mtu: u32::MAX },
    IcmpErrorKind::Unreachable { code: 0 },
    IcmpErrorKind::Unreachable { code: 4 },
    IcmpErrorKind::Unreachable { code: 255 },
    IcmpErrorKind::TimeExceeded,
    IcmpErrorKind::ParameterProblem,
];

fn emit6(kind: IcmpErrorKind, quote: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 48 + quote.len()];
    let n = emit_icmpv6_error(kind, &router_ip6(), quote, &mut buf).unwrap();
    assert_eq!(n, buf.len());
    buf
}

#[test]
fn icmpv6_errors_round_trip() {
    let syn = syn6();
    for kind in V6_KINDS {
        for quote in [&syn[..48], &syn[..]] {
            let p = emit6(kind, quote);
            let ip = ipv6::parse(&p).unwrap();
            let want = Ipv6Repr { next_header: PROTO_ICMPV6, payload_len: 8 + quote.len(), ..router_ip6() };
            assert_eq!(ip.repr, want);
            assert_eq!(
                naive_sum(&[&pseudo6(ROUTER6, SRC6, PROTO_ICMPV6, ip.payload.len()), ip.payload]),
                0xffff
            );
            let err = parse_icmpv6_error(ROUTER6, SRC6, ip.payload).unwrap().unwrap();
            assert_eq!(err, IcmpError { kind, quoted: quote });
            assert_eq!(quoted_tcp(err.quoted), Ok(syn6_quote()));
            // Errors are not echo requests.
            assert_eq!(crate::wire::icmpv6::parse_echo_request(ROUTER6, SRC6, ip.payload), Ok(None));
            let mut buf = vec![0u8; p.len()];
            for len in 0..p.len() {
                let r = emit_icmpv6_error(kind, &router_ip6(), quote, &mut buf[..len]);
                assert_eq!(r, Err(Error::BufferTooSmall));
            }
        }
    }
    let big = vec![0u8; 65535 - 8 + 1];
    let r = emit_icmpv6_error(IcmpErrorKind::TimeExceeded, &router_ip6(), &big, &mut vec![0; 70000]);
    assert_eq!(r, Err(Error::Unencodable));
}

#[test]
fn icmpv6_wire_layout() {
    let syn = syn6();
    let p = emit6(IcmpErrorKind::PacketTooBig { mtu: 0x0102_0304 }, &syn[..48]);
    assert_eq!(p[40..42], [2, 0]);
    assert_eq!(p[44..48], [1, 2, 3, 4]);
    let p = emit6(IcmpErrorKind::Unreachable { code: 3 }, &syn[..48]);
    assert_eq!((p[40], p[41], &p[44..48]), (1, 3, &[0u8; 4][..]));
    assert_eq!(emit6(IcmpErrorKind::TimeExceeded, &syn[..48])[40..42], [3, 0]);
    assert_eq!(emit6(IcmpErrorKind::ParameterProblem, &syn[..48])[40..42], [4, 0]);
    // The Packet Too Big code is ignored on input (RFC 4443 §3.2).
    let mut m = emit6(IcmpErrorKind::PacketTooBig { mtu: 1500 }, &syn[..48])[40..].to_vec();
    m[1] = 9;
    m[2..4].fill(0);
    let c = !naive_sum(&[&pseudo6(ROUTER6, SRC6, PROTO_ICMPV6, m.len()), &m]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let err = parse_icmpv6_error(ROUTER6, SRC6, &m).unwrap().unwrap();
    assert_eq!(err.kind, IcmpErrorKind::PacketTooBig { mtu: 1500 });
}

#[test]
fn icmpv6_non_errors_and_bad_messages() {
    let syn = syn6();
    let p = emit6(IcmpErrorKind::TimeExceeded, &syn[..48]);
    let msg = &p[40..];
    // Echo, Neighbor Solicitation, and error types RFC 4443 does not define.
    for ty in [128u8, 129, 135, 0, 5, 127, 255] {
        let mut m = msg.to_vec();
        m[0] = ty;
        m[2..4].fill(0);
        let c = !naive_sum(&[&pseudo6(ROUTER6, SRC6, PROTO_ICMPV6, m.len()), &m]);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse_icmpv6_error(ROUTER6, SRC6, &m), Ok(None), "type {ty}");
    }
    for i in 0..msg.len() {
        let mut m = msg.to_vec();
        m[i] ^= 0x80;
        assert_eq!(parse_icmpv6_error(ROUTER6, SRC6, &m), Err(Error::BadChecksum), "byte {i}");
    }
    assert_eq!(parse_icmpv6_error(ROUTER6, DST6, msg), Err(Error::BadChecksum));
    for n in 0..8 {
        assert_eq!(parse_icmpv6_error(ROUTER6, SRC6, &msg[..n]), Err(Error::Truncated));
    }
}

// ---- the quoted packet ----

#[test]
fn quoted_ipv4_rules() {
    // Too short at every length below the header and 8 bytes of TCP.
    for n in 0..28 {
        assert_eq!(quoted_tcp(&LINUX_SYN[..n]), Err(Error::Truncated), "len {n}");
    }
    // Neither the total length nor any checksum is checked.
    let mut q = LINUX_SYN[..28].to_vec();
    q[2..4].copy_from_slice(&[0, 0]);
    q[10..12].copy_from_slice(&[0xde, 0xad]);
    q[24..28].copy_from_slice(&[0xff; 4]);
    assert_eq!(quoted_tcp(&q), Ok(QuotedTcp { seq: u32::MAX, ..syn_quote() }));
    // IP options: the header length comes from the IHL.
    let opts = with_ip_options(&LINUX_SYN, &[1, 1, 1, 0]);
    assert_eq!(quoted_tcp(&opts[..32]), Ok(syn_quote()));
    assert_eq!(quoted_tcp(&opts[..31]), Err(Error::Truncated));
    for ihl in 0..5u8 {
        let mut q = LINUX_SYN;
        q[0] = 0x40 | ihl;
        assert_eq!(quoted_tcp(&q), Err(Error::BadHeaderLength), "ihl {ihl}");
    }
    let mut q = LINUX_SYN;
    q[0] = 0x4f; // 60-byte header: the TCP bytes would start past the end
    assert_eq!(quoted_tcp(&q[..60]), Err(Error::Truncated));
    for version in [0u8, 5, 7, 15] {
        let mut q = LINUX_SYN;
        q[0] = version << 4 | 5;
        assert_eq!(quoted_tcp(&q), Err(Error::BadVersion), "version {version}");
    }
    for proto in [PROTO_ICMP, 17, 0, 41] {
        let mut q = LINUX_SYN;
        q[9] = proto;
        assert_eq!(quoted_tcp(&q), Err(Error::NotTcp), "protocol {proto}");
    }
    // A later fragment holds no TCP header; the first one does.
    for (flags_frag, want) in
        [(0x2001u16, Err(Error::Fragment)), (0x0008, Err(Error::Fragment)), (0x2000, Ok(syn_quote()))]
    {
        let mut q = LINUX_SYN;
        q[6..8].copy_from_slice(&flags_frag.to_be_bytes());
        assert_eq!(quoted_tcp(&q), want, "{flags_frag:#x}");
    }
}

#[test]
fn quoted_ipv6_rules() {
    let syn = syn6();
    assert_eq!(quoted_tcp(&syn), Ok(syn6_quote()));
    for n in 0..48 {
        assert_eq!(quoted_tcp(&syn[..n]), Err(Error::Truncated), "len {n}");
    }
    // The payload length is not checked against the quote.
    for len in [0u16, 8, 65535] {
        let mut q = syn.clone();
        q[4..6].copy_from_slice(&len.to_be_bytes());
        assert_eq!(quoted_tcp(&q[..48]), Ok(syn6_quote()));
    }
    // Extension headers are skipped by length, whatever their options say
    // (the quote is our own packet, not one to process); a first fragment
    // holds the TCP header.
    let headers = [
        options_header(60, &[0xc2, 4, 0, 0, 0, 0]), // Hop-by-Hop, Jumbo Payload
        options_header(0, &[]),                     // Destination Options
        options_header(43, &[]),                    // Hop-by-Hop again
        vec![44, 0, 0, 5, 0, 0, 0, 0],              // Routing, segments left 5
        fragment_header(PROTO_TCP, 0, true),
    ];
    let q = packet6(0, &[headers.concat(), LINUX_SYN[20..28].to_vec()].concat());
    assert_eq!(quoted_tcp(&q), Ok(syn6_quote()));
    let ext_len = q.len() - 48;
    for n in 40..q.len() {
        assert_eq!(quoted_tcp(&q[..n]), Err(Error::Truncated), "len {n} of {ext_len} header bytes");
    }
    let later = packet6(44, &[fragment_header(PROTO_TCP, 1, false), LINUX_SYN[20..28].to_vec()].concat());
    assert_eq!(quoted_tcp(&later), Err(Error::Fragment));
    for next in [17u8, PROTO_ICMPV6, ipv6::NO_NEXT_HEADER] {
        let q = packet6(next, &LINUX_SYN[20..]);
        assert_eq!(quoted_tcp(&q), Err(Error::NotTcp), "next header {next}");
    }
    let many: Vec<Vec<u8>> = (0..=ipv6::MAX_EXTENSION_HEADERS).map(|_| options_header(60, &[])).collect();
    let q = packet6(60, &[many.concat(), LINUX_SYN[20..].to_vec()].concat());
    assert_eq!(quoted_tcp(&q), Err(Error::ExtensionHeader));
}

fn arb_kind() -> impl Strategy<Value = IcmpErrorKind> {
    prop_oneof![
        prop_oneof![0..=65535u32, any::<u32>()].prop_map(|mtu| IcmpErrorKind::PacketTooBig { mtu }),
        any::<u8>().prop_map(|code| IcmpErrorKind::Unreachable { code }),
        Just(IcmpErrorKind::TimeExceeded),
        Just(IcmpErrorKind::ParameterProblem),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn icmp_errors_round_trip(
        kind in arb_kind(),
        (src_port, dst_port, seq) in any::<(u16, u16, u32)>(),
        (a, b) in any::<(u32, u32)>(),
        (c, d) in any::<(u128, u128)>(),
        extra in 0usize..64,
    ) {
        let tcp = TcpRepr { src_port, dst_port, seq, ..data_repr() };
        let payload = [0x5a; 64];
        // IPv4: quote 8 bytes of TCP and `extra` more.
        let ip = Ipv4Repr { src: a.into(), dst: b.into(), protocol: PROTO_TCP, ttl: 9, payload_len: 0 };
        let mut pkt = vec![0u8; 200];
        let n = tcp::emit_packet(&ip, 1, &tcp, [&payload, &[]], TxChecksum::Full, &mut pkt).unwrap();
        let quote = &pkt[..(28 + extra).min(n)];
        let want = QuotedTcp {
            src: SocketAddr::from((ip.src, src_port)), dst: SocketAddr::from((ip.dst, dst_port)), seq,
        };
        let mut buf = vec![0u8; 300];
        match emit_icmpv4_error(kind, &router_ip(), quote, &mut buf) {
            Ok(n) => {
                let want_kind = match kind {
                    IcmpErrorKind::Unreachable { code: 4 } => IcmpErrorKind::PacketTooBig { mtu: 0 },
                    k => k,
                };
                let err = parse_icmpv4_error(ipv4::parse(&buf[..n]).unwrap().payload).unwrap().unwrap();
                prop_assert_eq!(err, IcmpError { kind: want_kind, quoted: quote });
                prop_assert_eq!(quoted_tcp(err.quoted), Ok(want));
            }
            Err(e) => {
                prop_assert_eq!(e, Error::Unencodable);
                let too_big = matches!(kind, IcmpErrorKind::PacketTooBig { mtu } if mtu > 65535);
                prop_assert!(too_big);
            }
        }
        // IPv6.
        let (src6, dst6) = (Ipv6Addr::from(c), Ipv6Addr::from(d));
        let mut seg = vec![0u8; 200];
        let len = tcp::emit_segment(&tcp, [&payload, &[]], &mut seg).unwrap();
        let ip6 = Ipv6Repr { src: src6, dst: dst6, next_header: PROTO_TCP, hop_limit: 1, payload_len: len };
        let mut pkt6 = vec![0u8; 40];
        ipv6::emit(&ip6, &mut pkt6).unwrap();
        pkt6.extend_from_slice(&seg[..len]);
        let quote = &pkt6[..48 + extra];
        let n = emit_icmpv6_error(kind, &router_ip6(), quote, &mut buf).unwrap();
        let outer = ipv6::parse(&buf[..n]).unwrap();
        let err = parse_icmpv6_error(ROUTER6, SRC6, outer.payload).unwrap().unwrap();
        prop_assert_eq!(err, IcmpError { kind, quoted: quote });
        let want = QuotedTcp {
            src: SocketAddr::from((src6, src_port)), dst: SocketAddr::from((dst6, dst_port)), seq,
        };
        prop_assert_eq!(quoted_tcp(err.quoted), Ok(want));
    }
}
