//! Example-based tests of `wire`: round trips and hand-built packets checked
//! against an independent checksum, and validation of every length and
//! offset. The TCP option walk and ICMP echo are in `tests/options_icmp.rs`,
//! IPv6, TCP over IPv6 and ICMPv6 echo in `tests/v6.rs`, ICMP errors in
//! `tests/icmp_errors.rs`, property tests in `tests/prop.rs`.

use core::net::Ipv4Addr;

use super::icmp::{self, IcmpEcho};
use super::ipv4::{self, Ipv4Repr, PROTO_ICMP, PROTO_TCP};
use super::tcp::{self, SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps};
use super::{Error, RxChecksum, TxChecksum};

mod icmp_errors;
mod options_icmp;
mod prop;
mod prop6;
mod v6;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// RFC 1071 sum written the naive way (16-bit words into a u32, folded at
/// the end), independent of `checksum.rs`.
fn naive_sum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |&b| u32::from(b));
        sum += hi | lo;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

/// Rewrites the IPv4 header checksum of `packet` (IHL taken from byte 0).
fn fix_ip_csum(packet: &mut [u8]) {
    let hl = usize::from(packet[0] & 0xf) * 4;
    packet[10..12].fill(0);
    let c = !naive_sum(&[&packet[..hl]]);
    packet[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Rewrites the TCP checksum of the segment following an IPv4 header.
fn fix_tcp_csum(packet: &mut [u8]) {
    let hl = usize::from(packet[0] & 0xf) * 4;
    let seg = &mut packet[hl..];
    seg[16..18].fill(0);
    let c = !naive_sum(&[&pseudo(SRC, DST, PROTO_TCP, seg.len()), seg]);
    seg[16..18].copy_from_slice(&c.to_be_bytes());
}

fn ip_repr() -> Ipv4Repr {
    Ipv4Repr { src: SRC, dst: DST, protocol: PROTO_TCP, ttl: 64, payload_len: 0 }
}

fn emit(tcp: &TcpRepr, payload: [&[u8]; 2], tx: TxChecksum) -> Vec<u8> {
    let mut buf = vec![0u8; 128 + tcp.header_len() + payload[0].len() + payload[1].len()];
    let n = tcp::emit_packet(&ip_repr(), 7, tcp, payload, tx, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn parse_all(packet: &[u8]) -> Result<tcp::TcpSegment<'_>, Error> {
    let ip = ipv4::parse(packet)?;
    assert_eq!(ip.repr.protocol, PROTO_TCP);
    tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify)
}

fn sack(blocks: &[(u32, u32)]) -> SackBlocks {
    let mut s = SackBlocks::default();
    for &(l, r) in blocks {
        assert!(s.push(l, r));
    }
    s
}

fn data_repr() -> TcpRepr {
    TcpRepr {
        src_port: 40000,
        dst_port: 443,
        seq: 0xdead_beef,
        ack: 0x0102_0304,
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 501,
        urgent: 0,
        options: TcpOptions { timestamps: Some(Timestamps { tsval: 1, tsecr: 2 }), ..TcpOptions::default() },
    }
}

/// A Linux SYN, 10.0.0.1:45678 -> 10.0.0.2:80, laid out by hand: options
/// MSS 1460, SACK_PERM, TS (123456, 0), NOP, WS 7. The checksums (0x0a74 and
/// 0x3b60) were computed outside Rust.
#[rustfmt::skip]
const LINUX_SYN: [u8; 60] = [
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x0a, 0x74,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
    0xb2, 0x6e, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00,
    0xa0, 0x02, 0xfa, 0xf0, 0x3b, 0x60, 0x00, 0x00,
    0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0xe2, 0x40,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

fn linux_syn_repr() -> TcpRepr {
    TcpRepr {
        src_port: 45678,
        dst_port: 80,
        seq: 0x1234_5678,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 64240,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(Timestamps { tsval: 123_456, tsecr: 0 }),
            sack: SackBlocks::default(),
        },
    }
}

#[test]
fn linux_syn_literal_checksums_are_right() {
    assert_eq!(naive_sum(&[&LINUX_SYN[..20]]), 0xffff);
    assert_eq!(naive_sum(&[&pseudo(SRC, DST, PROTO_TCP, 40), &LINUX_SYN[20..]]), 0xffff);
}

#[test]
fn linux_syn_parses() {
    let ip = ipv4::parse(&LINUX_SYN).unwrap();
    let want = Ipv4Repr { src: SRC, dst: DST, protocol: PROTO_TCP, ttl: 64, payload_len: 40 };
    assert_eq!(ip.repr, want);
    let seg = tcp::parse(SRC, DST, ip.payload, RxChecksum::Verify).unwrap();
    assert_eq!(seg.repr, linux_syn_repr());
    assert!(seg.payload.is_empty());
}

#[test]
fn linux_syn_emits_byte_for_byte() {
    let mut buf = [0u8; 60];
    let n = tcp::emit_packet(&ip_repr(), 0x1c46, &linux_syn_repr(), [&[], &[]], TxChecksum::Full, &mut buf)
        .unwrap();
    assert_eq!(n, 60);
    assert_eq!(buf, LINUX_SYN);
}

/// Wikipedia's IPv4 header checksum example (a UDP packet, checksum b861).
#[test]
fn external_ipv4_checksum_example() {
    let mut p = vec![
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0,
        0xa8, 0x00, 0xc7,
    ];
    p.resize(0x73, 0xaa);
    let ip = ipv4::parse(&p).unwrap();
    assert_eq!(ip.repr.protocol, 17);
    assert_eq!(ip.repr.src, Ipv4Addr::new(192, 168, 0, 1));
    assert_eq!(ip.repr.dst, Ipv4Addr::new(192, 168, 0, 199));
    assert_eq!(ip.payload.len(), 0x73 - 20);
    // Our emitter agrees with it on the same fields.
    let repr = Ipv4Repr { payload_len: 0x73 - 20, ..ip.repr };
    let mut h = [0u8; 20];
    ipv4::emit(&repr, 0, &mut h).unwrap();
    assert_eq!(h, p[..20]);
}

/// The options layout `emit` uses, in bytes, written out independently.
fn expected_wire_len(o: &TcpOptions) -> (usize, usize) {
    let mut base = 0;
    base += if o.mss.is_some() { 4 } else { 0 };
    base += match (o.sack_permitted, o.timestamps.is_some()) {
        (true, true) => 12,
        (false, true) => 12,
        (true, false) => 4,
        (false, false) => 0,
    };
    base += if o.window_scale.is_some() { 4 } else { 0 };
    // Blocks that fit: 4 bytes of NOP NOP kind len, 8 per block, 40 total.
    let mut blocks = o.sack.len();
    while blocks > 0 && base + 4 + 8 * blocks > 40 {
        blocks -= 1;
    }
    let sack = if blocks == 0 { 0 } else { 4 + 8 * blocks };
    (base + sack, blocks)
}

#[test]
fn round_trip_every_option_combination() {
    let all_blocks = [(100, 200), (300, 400), (500, 600), (700, 800)];
    let payload: Vec<u8> = (0..37u8).collect();
    let mut combos = 0;
    for mss in [None, Some(536)] {
        for window_scale in [None, Some(14)] {
            for sack_permitted in [false, true] {
                for timestamps in [None, Some(Timestamps { tsval: 0xffff_fffe, tsecr: 9 })] {
                    for n in 0..=4 {
                        let options = TcpOptions {
                            mss,
                            window_scale,
                            sack_permitted,
                            timestamps,
                            sack: sack(&all_blocks[..n]),
                        };
                        let repr = TcpRepr { options, ..data_repr() };
                        let (len, kept) = expected_wire_len(&options);
                        assert_eq!(options.wire_len(), len, "{options:?}");
                        assert!(len <= 40 && len % 4 == 0);
                        assert_eq!(repr.header_len(), 20 + len);
                        let mut want = repr;
                        want.options.sack.truncate(kept);
                        assert_eq!(want.options.sack.as_slice(), &all_blocks[..kept]);
                        for split in [0, 1, 20, 37] {
                            let (a, b) = payload.split_at(split);
                            let p = emit(&repr, [a, b], TxChecksum::Full);
                            assert_eq!(p.len(), 20 + 20 + len + payload.len());
                            let seg = parse_all(&p).unwrap();
                            assert_eq!(seg.repr, want, "{options:?}");
                            assert_eq!(seg.payload, &payload[..]);
                        }
                        combos += 1;
                    }
                }
            }
        }
    }
    assert_eq!(combos, 80);
}

#[test]
fn sack_blocks_dropped_when_they_do_not_fit() {
    let four = sack(&[(1, 2), (3, 4), (5, 6), (7, 8)]);
    let ts = Some(Timestamps { tsval: 5, tsecr: 6 });
    let cases = [
        (TcpOptions { sack: four, ..TcpOptions::default() }, 4, 36),
        (TcpOptions { sack: four, timestamps: ts, ..TcpOptions::default() }, 3, 40),
        (
            TcpOptions {
                sack: four,
                timestamps: ts,
                mss: Some(1),
                window_scale: Some(1),
                sack_permitted: true,
            },
            2,
            40,
        ),
        (TcpOptions { sack: four, mss: Some(1), window_scale: Some(1), ..TcpOptions::default() }, 3, 36),
    ];
    for (options, kept, wire_len) in cases {
        assert_eq!(options.wire_len(), wire_len);
        let repr = TcpRepr { options, ..TcpRepr::default() };
        let seg_bytes = emit(&repr, [b"x", b""], TxChecksum::Full);
        let seg = parse_all(&seg_bytes).unwrap();
        assert_eq!(seg.repr.options.sack.as_slice(), &four.as_slice()[..kept]);
    }
}

#[test]
fn sack_blocks_list_semantics() {
    let mut s = sack(&[(1, 2), (3, 4), (5, 6), (7, 8)]);
    assert!(!s.push(9, 10));
    assert_eq!(s.len(), SackBlocks::MAX);
    s.truncate(9);
    assert_eq!(s.len(), 4);
    s.truncate(1);
    // Stale slots left by truncate must not affect equality.
    assert_eq!(s, sack(&[(1, 2)]));
    assert_eq!(format!("{s:?}"), "[(1, 2)]");
    s.truncate(0);
    assert!(s.is_empty());
    assert_eq!(s, SackBlocks::default());
}

#[test]
fn payload_split_at_every_point() {
    let payload: Vec<u8> = (0..=20u8).map(|i| i.wrapping_mul(37)).collect();
    let whole = emit(&data_repr(), [&payload, &[]], TxChecksum::Full);
    for split in 0..=payload.len() {
        let (a, b) = payload.split_at(split);
        let p = emit(&data_repr(), [a, b], TxChecksum::Full);
        assert_eq!(p, whole);
        assert_eq!(parse_all(&p).unwrap().payload, &payload[..]);
    }
}

#[test]
fn partial_checksum_is_folded_pseudo_header_sum() {
    for len in [0usize, 1, 2, 3, 1000, 1001] {
        let payload = vec![0x5au8; len];
        let full = emit(&data_repr(), [&payload, &[]], TxChecksum::Full);
        let mut part = emit(&data_repr(), [&payload, &[]], TxChecksum::Partial);
        let seg_len = part.len() - 20;
        let field = u16::from_be_bytes([part[36], part[37]]);
        assert_eq!(field, naive_sum(&[&pseudo(SRC, DST, PROTO_TCP, seg_len)]));
        // Everything but the checksum field matches the full emission.
        assert_eq!(part[..36], full[..36]);
        assert_eq!(part[38..], full[38..]);
        // A device completing it (sum from csum_start, complement, store at
        // csum_offset 16) produces the full packet.
        let done = !naive_sum(&[&part[20..]]);
        part[36..38].copy_from_slice(&done.to_be_bytes());
        assert_eq!(part, full);
        // Unchecked, the partial packet is accepted only when trusted.
        let part = emit(&data_repr(), [&payload, &[]], TxChecksum::Partial);
        let ip = ipv4::parse(&part).unwrap();
        let seg = tcp::parse(SRC, DST, ip.payload, RxChecksum::Trusted).unwrap();
        assert_eq!(seg.repr, data_repr());
    }
}

#[test]
fn emit_errors() {
    let repr = data_repr();
    let total = 20 + repr.header_len() + 5;
    for len in 0..total {
        let mut buf = vec![0u8; len];
        let r = tcp::emit_packet(&ip_repr(), 0, &repr, [b"ab", b"cde"], TxChecksum::Full, &mut buf);
        assert_eq!(r, Err(Error::BufferTooSmall), "len {len}");
    }
    let big = vec![0u8; 65535 - 20 - repr.header_len() + 1];
    let mut buf = vec![0u8; 70000];
    let r = tcp::emit_packet(&ip_repr(), 0, &repr, [&big, &[]], TxChecksum::Full, &mut buf);
    assert_eq!(r, Err(Error::Unencodable));
    let (a, b) = big.split_at(big.len() - 1);
    let r = tcp::emit_packet(&ip_repr(), 0, &repr, [a, &b[..0]], TxChecksum::Full, &mut buf);
    assert_eq!(r, Ok(65535));
    for payload_len in [65516, usize::MAX - 19, usize::MAX] {
        let r = ipv4::emit(&Ipv4Repr { payload_len, ..ip_repr() }, 0, &mut buf);
        assert_eq!(r, Err(Error::Unencodable));
    }
    assert_eq!(ipv4::emit(&ip_repr(), 0, &mut buf[..19]), Err(Error::BufferTooSmall));
}

// ---- validation ----

#[test]
fn truncated_at_every_length() {
    let data = emit(&data_repr(), [b"hello, world", b""], TxChecksum::Full);
    for p in [&LINUX_SYN[..], &data[..]] {
        for n in 0..p.len() {
            assert_eq!(ipv4::parse(&p[..n]).err(), Some(Error::Truncated), "len {n}");
        }
        let seg = &p[20..];
        let hl = usize::from(seg[12] >> 4) * 4;
        for n in 0..seg.len() {
            let want = match n {
                _ if n < 20 => Error::Truncated,
                _ if n < hl => Error::BadDataOffset,
                _ => Error::BadChecksum,
            };
            assert_eq!(tcp::parse(SRC, DST, &seg[..n], RxChecksum::Verify).err(), Some(want));
            if n >= hl {
                let s = tcp::parse(SRC, DST, &seg[..n], RxChecksum::Trusted).unwrap();
                assert_eq!(s.payload, &seg[hl..n]);
            }
        }
    }
}

#[test]
fn bad_version_and_ihl() {
    for version in [0u8, 1, 5, 6, 15] {
        let mut p = LINUX_SYN;
        p[0] = version << 4 | 5;
        fix_ip_csum(&mut p);
        assert_eq!(ipv4::parse(&p).err(), Some(Error::BadVersion));
    }
    for ihl in 0..5u8 {
        let mut p = LINUX_SYN;
        p[0] = 0x40 | ihl;
        assert_eq!(ipv4::parse(&p).err(), Some(Error::BadHeaderLength), "ihl {ihl}");
    }
    // IHL 15 (60 bytes) beyond a 40-byte slice.
    let mut p = LINUX_SYN;
    p[0] = 0x4f;
    assert_eq!(ipv4::parse(&p[..40]).err(), Some(Error::Truncated));
}

#[test]
fn total_length_checks() {
    for total in [0u16, 1, 19] {
        let mut p = LINUX_SYN;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        fix_ip_csum(&mut p);
        assert_eq!(ipv4::parse(&p).err(), Some(Error::BadHeaderLength), "total {total}");
    }
    // Total length below IHL*4 for a 24-byte header.
    let mut p = with_ip_options(&LINUX_SYN, &[1, 1, 1, 0]);
    p[2..4].copy_from_slice(&22u16.to_be_bytes());
    fix_ip_csum(&mut p);
    assert_eq!(ipv4::parse(&p).err(), Some(Error::BadHeaderLength));
    for total in [61u16, 1000, 65535] {
        let mut p = LINUX_SYN;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        fix_ip_csum(&mut p);
        assert_eq!(ipv4::parse(&p).err(), Some(Error::Truncated), "total {total}");
    }
    // Total length 20: an empty payload, which TCP then rejects.
    let mut p = LINUX_SYN;
    p[2..4].copy_from_slice(&20u16.to_be_bytes());
    fix_ip_csum(&mut p);
    let ip = ipv4::parse(&p).unwrap();
    assert!(ip.payload.is_empty());
    assert_eq!(ip.repr.payload_len, 0);
}

#[test]
fn trailing_link_padding_is_trimmed() {
    let mut p = LINUX_SYN.to_vec();
    p.extend_from_slice(&[0xee; 14]);
    let ip = ipv4::parse(&p).unwrap();
    assert_eq!(ip.payload, &LINUX_SYN[20..]);
    assert_eq!(ip.repr.payload_len, 40);
    let seg = tcp::parse(SRC, DST, ip.payload, RxChecksum::Verify).unwrap();
    assert_eq!(seg.repr, linux_syn_repr());
}

#[test]
fn bad_ipv4_header_checksum() {
    // Every byte but version/IHL and total length (checked before it).
    for i in [1usize, 4, 5, 6, 8, 9, 10, 11, 12, 15, 16, 19] {
        let mut p = LINUX_SYN;
        p[i] ^= 0x10;
        assert_eq!(ipv4::parse(&p).err(), Some(Error::BadChecksum), "byte {i}");
    }
}

#[test]
fn fragments_are_rejected() {
    for flags_frag in [0x2000u16, 0x6000, 0x0001, 0x4001, 0x1fff, 0x2001] {
        let mut p = LINUX_SYN;
        p[6..8].copy_from_slice(&flags_frag.to_be_bytes());
        fix_ip_csum(&mut p);
        assert_eq!(ipv4::parse(&p).err(), Some(Error::Fragment), "{flags_frag:#x}");
    }
    for flags_frag in [0x0000u16, 0x4000, 0x8000] {
        let mut p = LINUX_SYN;
        p[6..8].copy_from_slice(&flags_frag.to_be_bytes());
        fix_ip_csum(&mut p);
        assert!(ipv4::parse(&p).is_ok(), "{flags_frag:#x}");
    }
}

/// Inserts IPv4 options (a multiple of 4 bytes) into a 20-byte-header packet.
fn with_ip_options(packet: &[u8], options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut p = packet[..20].to_vec();
    p.extend_from_slice(options);
    p.extend_from_slice(&packet[20..]);
    p[0] = 0x40 | (5 + options.len() / 4) as u8;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    fix_ip_csum(&mut p);
    p
}

#[test]
fn ipv4_options_are_skipped() {
    let router_alert = [0x94, 0x04, 0x00, 0x00];
    let long: Vec<u8> = [1u8; 39].iter().copied().chain([0]).collect();
    for opts in [&router_alert[..], &[1, 1, 1, 0, 7, 3, 4, 0], &long[..]] {
        let p = with_ip_options(&LINUX_SYN, opts);
        let ip = ipv4::parse(&p).unwrap();
        assert_eq!(ip.payload, &LINUX_SYN[20..]);
        assert_eq!(ip.repr.payload_len, 40);
        let seg = tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify).unwrap();
        assert_eq!(seg.repr, linux_syn_repr());
        // The header checksum covers the options.
        let mut bad = p.clone();
        bad[21] ^= 0x01;
        assert_eq!(ipv4::parse(&bad).err(), Some(Error::BadChecksum));
    }
}

#[test]
fn tcp_data_offset_checks() {
    for off in 0..5u8 {
        let mut p = LINUX_SYN;
        p[32] = off << 4;
        fix_tcp_csum(&mut p);
        assert_eq!(parse_all(&p).err(), Some(Error::BadDataOffset), "offset {off}");
    }
    for off in 11..=15u8 {
        let mut p = LINUX_SYN;
        p[32] = off << 4;
        fix_tcp_csum(&mut p);
        assert_eq!(parse_all(&p).err(), Some(Error::BadDataOffset), "offset {off}");
    }
    // Data offset 5 on the SYN: the options become payload.
    let mut p = LINUX_SYN;
    p[32] = 5 << 4 | (p[32] & 0x0f);
    fix_tcp_csum(&mut p);
    let seg = parse_all(&p).unwrap();
    assert_eq!(seg.repr.options, TcpOptions::default());
    assert_eq!(seg.payload, &LINUX_SYN[40..]);
}

#[test]
fn tcp_checksum_checks() {
    for i in 20..60 {
        let mut p = LINUX_SYN;
        p[i] ^= 0x04;
        if i == 32 {
            continue; // data offset: checked separately
        }
        assert_eq!(parse_all(&p).err(), Some(Error::BadChecksum), "byte {i}");
        // Trusted skips the check (a flipped option byte may still be a
        // BadOption).
        let ip = ipv4::parse(&p).unwrap();
        let r = tcp::parse(SRC, DST, ip.payload, RxChecksum::Trusted);
        assert!(i >= 40 || r.is_ok(), "byte {i}: {r:?}");
        assert!(!matches!(r, Err(Error::BadChecksum)), "byte {i}");
    }
    // The pseudo-header counts: other addresses or a wrong length fail.
    let seg = &LINUX_SYN[20..];
    let other = Ipv4Addr::new(10, 0, 0, 3);
    assert_eq!(tcp::parse(other, DST, seg, RxChecksum::Verify).err(), Some(Error::BadChecksum));
    assert_eq!(tcp::parse(SRC, other, seg, RxChecksum::Verify).err(), Some(Error::BadChecksum));
    let mut longer = seg.to_vec();
    longer.extend_from_slice(&[0, 0]);
    assert_eq!(tcp::parse(SRC, DST, &longer, RxChecksum::Verify).err(), Some(Error::BadChecksum));
}

#[test]
fn checksum_zero_and_ffff_are_equivalent() {
    // Choose a payload word that makes the checksum come out as 0x0000.
    let p = emit(&data_repr(), [&[0, 0], &[]], TxChecksum::Full);
    let c = u16::from_be_bytes([p[36], p[37]]);
    let mut p = emit(&data_repr(), [&c.to_be_bytes(), &[]], TxChecksum::Full);
    assert_eq!(p[36..38], [0, 0]);
    assert!(parse_all(&p).is_ok());
    p[36..38].copy_from_slice(&[0xff, 0xff]);
    assert!(parse_all(&p).is_ok());
}
