//! The TCP option walk (RFC 9293 §3.1) and ICMP echo.

use super::*;

fn opts(area: &[u8]) -> Result<TcpOptions, Error> {
    tcp::parse_options(area)
}

#[test]
fn unknown_options_are_skipped_by_length() {
    let area = [
        30, 6, 0xde, 0xad, 0xbe, 0xef, // MPTCP-like, unknown
        254, 4, 0x12, 0x34, // experimental
        2, 4, 0x05, 0xb4, // MSS 1460
        19, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // MD5 signature
        1, 3, 3, 7, // NOP, WS 7
    ];
    let o = opts(&area).unwrap();
    assert_eq!(o.mss, Some(1460));
    assert_eq!(o.window_scale, Some(7));
    assert_eq!(o, TcpOptions { mss: Some(1460), window_scale: Some(7), ..TcpOptions::default() });
    // Unknown kind with the smallest legal length.
    assert!(opts(&[99, 2, 4, 2]).unwrap().sack_permitted);
}

#[test]
fn unknown_option_inside_a_real_segment() {
    let mut p = LINUX_SYN;
    // Replace "NOP, WS 7" by an unknown 4-byte option: WS disappears.
    p[56..60].copy_from_slice(&[254, 4, 0xab, 0xcd]);
    fix_tcp_csum(&mut p);
    let seg = parse_all(&p).unwrap();
    let mut want = linux_syn_repr();
    want.options.window_scale = None;
    assert_eq!(seg.repr, want);
}

#[test]
fn eol_stops_the_walk_and_nops_pad() {
    assert_eq!(opts(&[]).unwrap(), TcpOptions::default());
    assert_eq!(opts(&[0]).unwrap(), TcpOptions::default());
    assert_eq!(opts(&[1, 1, 1, 1]).unwrap(), TcpOptions::default());
    // Anything after EOL, even malformed, is ignored.
    let o = opts(&[2, 4, 0x05, 0xb4, 0, 3, 3, 7, 5, 0, 2]).unwrap();
    assert_eq!(o, TcpOptions { mss: Some(1460), ..TcpOptions::default() });
    let o = opts(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 0]).unwrap();
    assert_eq!(o.timestamps, Some(Timestamps { tsval: 1, tsecr: 2 }));
}

#[test]
fn malformed_option_lengths() {
    let bad: &[&[u8]] = &[
        &[2, 0, 0, 0],                          // length 0
        &[2, 1, 0, 0],                          // length 1
        &[30, 0],                               // unknown, length 0
        &[30, 1, 1, 1],                         // unknown, length 1
        &[1, 1, 1, 30],                         // no length byte
        &[2],                                   // MSS kind alone
        &[30, 6, 0, 0],                         // past the end
        &[1, 2, 4, 5],                          // MSS past the end
        &[8, 10, 0, 0, 0, 0, 0, 0, 0],          // TS one short
        &[2, 3, 5],                             // MSS length 3
        &[2, 5, 0, 0, 0],                       // MSS length 5
        &[3, 2],                                // WS length 2
        &[3, 4, 7, 0],                          // WS length 4
        &[4, 3, 0],                             // SACK_PERM length 3
        &[8, 8, 0, 0, 0, 0, 0, 0],              // TS length 8
        &[8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // TS length 12
        &[5, 2],                                // SACK, 0 blocks
        &[5, 3, 0],                             // SACK, 1 byte
        &[5, 9, 0, 0, 0, 0, 0, 0, 0],           // SACK, 7 bytes
        &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],    // SACK, 9 bytes
    ];
    for area in bad {
        assert_eq!(opts(area), Err(Error::BadOption), "{area:?}");
    }
    // SACK with 5 blocks (length 42, only possible in a longer slice).
    let mut five = vec![5u8, 42];
    five.extend_from_slice(&[0; 40]);
    assert_eq!(opts(&five), Err(Error::BadOption));
    // A bad option after good ones still fails the whole walk.
    assert_eq!(opts(&[2, 4, 5, 0xb4, 3, 3]), Err(Error::BadOption));
}

#[test]
fn malformed_option_in_a_segment_is_rejected() {
    let mut p = LINUX_SYN;
    p[58] = 2; // "NOP, WS 7" with the WS length 2 instead of 3
    fix_tcp_csum(&mut p);
    assert_eq!(parse_all(&p).err(), Some(Error::BadOption));
}

#[test]
fn sack_with_one_to_four_blocks() {
    for n in 1..=4u32 {
        let mut area = vec![1, 1, 5, (2 + 8 * n) as u8];
        let mut want = Vec::new();
        for i in 0..n {
            let (l, r) = (i * 1000 + 0xffff_0000, i * 1000 + 0xffff_0100);
            area.extend_from_slice(&l.to_be_bytes());
            area.extend_from_slice(&r.to_be_bytes());
            want.push((l, r));
        }
        assert_eq!(opts(&area).unwrap().sack.as_slice(), &want[..]);
    }
}

// ---- ICMP echo ----

/// Echo request, ident 0x1234, seq 1, data "abcdefghi"; checksum 0xeb34
/// computed outside Rust.
const ECHO_REQUEST: [u8; 17] =
    [8, 0, 0xeb, 0x34, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h', b'i'];

#[test]
fn echo_request_parses() {
    let e = icmp::parse_echo_request(&ECHO_REQUEST).unwrap().unwrap();
    assert_eq!(e, IcmpEcho { ident: 0x1234, seq: 1, data: b"abcdefghi" });
    let mut bare = [8, 0, 0, 0, 0, 0, 0, 0];
    let c = !naive_sum(&[&bare]);
    bare[2..4].copy_from_slice(&c.to_be_bytes());
    let e = icmp::parse_echo_request(&bare).unwrap().unwrap();
    assert!(e.data.is_empty());
}

#[test]
fn echo_request_rejects_bad_input() {
    for i in 0..ECHO_REQUEST.len() {
        let mut m = ECHO_REQUEST;
        m[i] ^= 0x10;
        assert_eq!(icmp::parse_echo_request(&m), Err(Error::BadChecksum), "byte {i}");
    }
    for n in 0..8 {
        assert_eq!(icmp::parse_echo_request(&ECHO_REQUEST[..n]), Err(Error::Truncated));
    }
    // Truncated beyond the header: the checksum no longer matches.
    assert_eq!(icmp::parse_echo_request(&ECHO_REQUEST[..12]), Err(Error::BadChecksum));
}

#[test]
fn other_icmp_messages_are_ignored() {
    for (ty, code) in [(0u8, 0u8), (3, 1), (11, 0), (8, 1), (13, 0)] {
        let mut m = ECHO_REQUEST;
        m[0] = ty;
        m[1] = code;
        m[2..4].fill(0);
        let c = !naive_sum(&[&m]);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(icmp::parse_echo_request(&m), Ok(None), "type {ty} code {code}");
    }
}

#[test]
fn echo_reply_emitted() {
    let req = icmp::parse_echo_request(&ECHO_REQUEST).unwrap().unwrap();
    // The request came DST -> SRC; the caller swaps the addresses.
    let ip = Ipv4Repr { src: SRC, dst: DST, protocol: PROTO_TCP, ttl: 64, payload_len: 999 };
    let mut buf = [0u8; 64];
    let n = icmp::emit_echo_reply(&ip, &req, &mut buf).unwrap();
    assert_eq!(n, 20 + 17);
    let pkt = ipv4::parse(&buf[..n]).unwrap();
    assert_eq!(pkt.repr.protocol, PROTO_ICMP);
    assert_eq!((pkt.repr.src, pkt.repr.dst), (SRC, DST));
    assert_eq!(pkt.repr.payload_len, 17);
    let m = pkt.payload;
    // Checksum 0xf334 computed outside Rust; type 0, code 0.
    assert_eq!(m[..8], [0, 0, 0xf3, 0x34, 0x12, 0x34, 0x00, 0x01]);
    assert_eq!(&m[8..], b"abcdefghi");
    assert_eq!(naive_sum(&[m]), 0xffff);
    // A reply is a valid ICMP message but not a request.
    assert_eq!(icmp::parse_echo_request(m), Ok(None));
    for len in 0..n {
        assert_eq!(icmp::emit_echo_reply(&ip, &req, &mut buf[..len]), Err(Error::BufferTooSmall));
    }
}
