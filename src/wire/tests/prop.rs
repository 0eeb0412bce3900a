//! Property tests of `wire`: arbitrary headers round-trip, and arbitrary or
//! mutated bytes never panic the parsers nor yield a payload outside the
//! input. Every parser runs on every input here, the IPv6 and ICMP-error
//! ones through `tests/prop6.rs`, which adds IPv6-shaped inputs.

use core::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use proptest::sample::Index;

use super::{naive_sum, pseudo};
use crate::wire::icmp;
use crate::wire::icmp_error::parse_icmpv4_error;
use crate::wire::ipv4::{self, Ipv4Repr, PROTO_ICMP, PROTO_TCP};
use crate::wire::tcp::{self, SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps};
use crate::wire::{Error, RxChecksum, TxChecksum};

fn arb_options() -> impl Strategy<Value = TcpOptions> {
    (
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        any::<bool>(),
        any::<Option<(u32, u32)>>(),
        prop::collection::vec(any::<(u32, u32)>(), 0..=SackBlocks::MAX),
    )
        .prop_map(|(mss, window_scale, sack_permitted, ts, blocks)| {
            let mut sack = SackBlocks::default();
            for (l, r) in blocks {
                sack.push(l, r);
            }
            TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                sack,
            }
        })
}

fn arb_repr() -> impl Strategy<Value = TcpRepr> {
    (any::<[u16; 2]>(), any::<[u32; 2]>(), any::<u8>(), any::<[u16; 2]>(), arb_options()).prop_map(
        |([src_port, dst_port], [seq, ack], flags, [window, urgent], options)| TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags: TcpFlags::from_bits_retain(flags),
            window,
            urgent,
            options,
        },
    )
}

/// How many SACK blocks fit beside the other options, counted from the
/// documented layout rather than through `wire_len`.
fn blocks_that_fit(o: &TcpOptions) -> usize {
    let ts_and_perm = match (o.sack_permitted, o.timestamps.is_some()) {
        (_, true) => 12,
        (true, false) => 4,
        (false, false) => 0,
    };
    let used = 4 * usize::from(o.mss.is_some()) + ts_and_perm + 4 * usize::from(o.window_scale.is_some());
    o.sack.len().min((40 - used - 4) / 8)
}

pub(super) fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    o.start <= i.start && i.end <= o.end
}

/// Runs every parser on `bytes` the way the stack would, and on the raw
/// bytes directly; checks that what comes back lies within the input.
pub(super) fn parse_everything(bytes: &[u8]) {
    if let Ok(ip) = ipv4::parse(bytes) {
        assert!(within(bytes, ip.payload));
        assert_eq!(ip.payload.len(), ip.repr.payload_len);
        let hl = usize::from(bytes[0] & 0xf) * 4;
        assert_eq!(hl + ip.payload.len(), usize::from(u16::from_be_bytes([bytes[2], bytes[3]])));
        match ip.repr.protocol {
            PROTO_TCP => check_tcp(ip.repr.src, ip.repr.dst, ip.payload),
            PROTO_ICMP => check_icmp(ip.payload),
            _ => {}
        }
    }
    let a = Ipv4Addr::new(1, 2, 3, 4);
    check_tcp(a, a, bytes);
    check_icmp(bytes);
    if let Ok(o) = tcp::parse_options(bytes) {
        assert!(o.sack.len() <= SackBlocks::MAX);
    }
    super::prop6::parse_everything_v6(bytes);
}

pub(super) fn check_tcp(src: impl Into<IpAddr> + Copy, dst: impl Into<IpAddr> + Copy, seg: &[u8]) {
    let verified = tcp::parse(src, dst, seg, RxChecksum::Verify);
    let trusted = tcp::parse(src, dst, seg, RxChecksum::Trusted);
    if let Ok(s) = &trusted {
        assert!(within(seg, s.payload));
        let hl = usize::from(seg[12] >> 4) * 4;
        assert!(hl >= 20);
        assert_eq!(s.payload.len(), seg.len() - hl);
        assert_eq!(Ok(s.repr.options), tcp::parse_options(&seg[20..hl]));
    }
    match (&verified, &trusted) {
        (Ok(v), Ok(t)) => {
            assert_eq!(v.repr, t.repr);
            assert_eq!(v.payload, t.payload);
        }
        (Err(Error::BadChecksum), _) => {}
        (Err(e), Err(f)) => assert_eq!(e, f),
        (v, t) => panic!("verify {v:?} but trusted {t:?}"),
    }
}

fn check_icmp(msg: &[u8]) {
    if let Ok(Some(e)) = icmp::parse_echo_request(msg) {
        assert!(within(msg, e.data));
        assert_eq!(e.data.len() + 8, msg.len());
    }
    let echo = icmp::parse_echo_request(msg);
    match parse_icmpv4_error(msg) {
        Ok(Some(err)) => {
            assert_eq!(echo, Ok(None));
            super::prop6::check_icmp_error(msg, &err);
        }
        Ok(None) => assert!(echo.is_ok()),
        Err(e) => assert_eq!(echo, Err(e)),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    Xor(Index, u8),
    SetByte(Index, u8),
    IpTotalLen(u16),
    Ihl(u8),
    DataOffset(u8),
    /// Overwrite part of the TCP options area with arbitrary bytes.
    Options(Index, Vec<u8>),
    Append(Vec<u8>),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Xor(i, x)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        any::<u16>().prop_map(Mutation::IpTotalLen),
        (0..16u8).prop_map(Mutation::Ihl),
        (0..16u8).prop_map(Mutation::DataOffset),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(i, v)| Mutation::Options(i, v)),
        prop::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
    ]
}

fn apply(p: &mut Vec<u8>, m: &Mutation) {
    let ip_hl = p.first().map_or(20, |b| usize::from(b & 0xf) * 4);
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
        Mutation::IpTotalLen(v) if p.len() >= 4 => p[2..4].copy_from_slice(&v.to_be_bytes()),
        Mutation::Ihl(v) if !p.is_empty() => p[0] = 0x40 | v,
        Mutation::DataOffset(v) if p.len() > ip_hl + 12 => {
            p[ip_hl + 12] = v << 4 | (p[ip_hl + 12] & 0xf);
        }
        Mutation::Options(i, bytes) if p.len() > ip_hl + 20 => {
            let start = ip_hl + 20 + i.index(p.len() - ip_hl - 20);
            let end = (start + bytes.len()).min(p.len());
            p[start..end].copy_from_slice(&bytes[..end - start]);
        }
        Mutation::Append(bytes) => p.extend_from_slice(bytes),
        _ => {}
    }
}

/// Recomputes the checksums where the (possibly mutated) lengths allow, so
/// mutations reach past the checksum checks.
fn fix_checksums(p: &mut [u8], fix_ip: bool, fix_l4: bool) {
    let Some(&b0) = p.first() else { return };
    let hl = usize::from(b0 & 0xf) * 4;
    if fix_l4 && p.len() >= hl + 20 && hl >= 20 {
        let (src, dst) = (ip_at(p, 12), ip_at(p, 16));
        let (proto, body) = (p[9], &mut p[hl..]);
        if proto == PROTO_TCP {
            body[16..18].fill(0);
            let c = !naive_sum(&[&pseudo(src, dst, PROTO_TCP, body.len()), body]);
            body[16..18].copy_from_slice(&c.to_be_bytes());
        } else if proto == PROTO_ICMP {
            body[2..4].fill(0);
            let c = !naive_sum(&[body]);
            body[2..4].copy_from_slice(&c.to_be_bytes());
        }
    }
    if fix_ip && p.len() >= hl && hl >= 20 {
        p[10..12].fill(0);
        let c = !naive_sum(&[&p[..hl]]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

fn ip_at(p: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3])
}

fn valid_packet(repr: &TcpRepr, payload: &[u8], icmp_echo: bool) -> Vec<u8> {
    let ip = Ipv4Repr {
        src: Ipv4Addr::new(192, 0, 2, 1),
        dst: Ipv4Addr::new(198, 51, 100, 7),
        protocol: PROTO_TCP,
        ttl: 64,
        payload_len: 0,
    };
    let mut buf = vec![0u8; 20 + 60 + payload.len()];
    let n = if icmp_echo {
        let req = icmp::IcmpEcho { ident: repr.src_port, seq: repr.dst_port, data: payload };
        let n = icmp::emit_echo_reply(&ip, &req, &mut buf).unwrap();
        buf[20] = 8; // turn the reply into a request
        fix_checksums(&mut buf[..n], false, true);
        n
    } else {
        tcp::emit_packet(&ip, 1, repr, [payload, &[]], TxChecksum::Full, &mut buf).unwrap()
    };
    buf.truncate(n);
    buf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn tcp_round_trip(
        repr in arb_repr(),
        payload in prop::collection::vec(any::<u8>(), 0..1500),
        split in any::<Index>(),
        (src, dst, ttl, ident) in any::<(u32, u32, u8, u16)>(),
    ) {
        let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let ip = Ipv4Repr { src, dst, protocol: PROTO_TCP, ttl, payload_len: 12345 };
        let (a, b) = payload.split_at(split.index(payload.len() + 1));
        let mut buf = vec![0u8; 20 + 60 + payload.len()];
        let n = tcp::emit_packet(&ip, ident, &repr, [a, b], TxChecksum::Full, &mut buf).unwrap();
        prop_assert_eq!(n, 20 + repr.header_len() + payload.len());
        prop_assert!(repr.options.wire_len() <= 40 && repr.options.wire_len() % 4 == 0);

        let mut want = repr;
        want.options.sack.truncate(blocks_that_fit(&repr.options));
        let pkt = ipv4::parse(&buf[..n]).unwrap();
        prop_assert_eq!(pkt.repr, Ipv4Repr { payload_len: n - 20, ..ip });
        let seg = tcp::parse(src, dst, pkt.payload, RxChecksum::Verify).unwrap();
        prop_assert_eq!(seg.repr, want);
        prop_assert_eq!(seg.payload, &payload[..]);

        // Partial: the field holds the pseudo-header sum; a device completes it.
        let mut part = vec![0u8; n];
        tcp::emit_packet(&ip, ident, &repr, [a, b], TxChecksum::Partial, &mut part).unwrap();
        let field = u16::from_be_bytes([part[36], part[37]]);
        prop_assert_eq!(field, naive_sum(&[&pseudo(src, dst, PROTO_TCP, n - 20)]));
        let seg = tcp::parse(src, dst, &part[20..], RxChecksum::Trusted).unwrap();
        prop_assert_eq!(seg.repr, want);
        let done = !naive_sum(&[&part[20..]]);
        part[36..38].copy_from_slice(&done.to_be_bytes());
        prop_assert_eq!(&part[..], &buf[..n]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        parse_everything(&bytes);
    }

    #[test]
    fn ipv4_looking_bytes_never_panic(
        mut bytes in prop::collection::vec(any::<u8>(), 20..200),
        proto in prop_oneof![Just(PROTO_TCP), Just(PROTO_ICMP)],
        fix_ip: bool,
        fix_l4: bool,
    ) {
        bytes[0] = 0x45;
        bytes[6] &= 0xbf; // usually not a fragment
        bytes[9] = proto;
        let len = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        fix_checksums(&mut bytes, fix_ip, fix_l4);
        parse_everything(&bytes);
    }

    #[test]
    fn option_areas_never_panic(
        tokens in prop::collection::vec(
            (prop_oneof![0..=8u8, Just(30), Just(254), any::<u8>()], 0..=14u8, any::<[u8; 12]>()),
            0..8,
        ),
    ) {
        let mut area = Vec::new();
        for (kind, len, body) in tokens {
            area.push(kind);
            area.push(len);
            area.extend_from_slice(&body[..usize::from(len.saturating_sub(2)).min(12)]);
        }
        area.truncate(40);
        let _ = tcp::parse_options(&area);
        parse_everything(&area);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_packets_never_panic(
        repr in arb_repr(),
        payload in prop::collection::vec(any::<u8>(), 0..48),
        icmp_echo in prop::bool::weighted(0.2),
        mutations in prop::collection::vec(arb_mutation(), 1..5),
        fix_ip in prop::bool::weighted(0.8),
        fix_l4 in prop::bool::weighted(0.8),
    ) {
        let mut p = valid_packet(&repr, &payload, icmp_echo);
        parse_everything(&p);
        for m in &mutations {
            apply(&mut p, m);
        }
        fix_checksums(&mut p, fix_ip, fix_l4);
        parse_everything(&p);
    }
}
