//! IPv6 at the engine's edge (RFC 8200, RFC 4443): a listener answers an
//! IPv6 SYN with an IPv6 SYN-ACK whose MSS is the MTU less 60, extension
//! headers are walked or the packet discarded as RFC 8200 §4 says, ICMPv6
//! echo requests get replies, and an interface without an IPv6 address
//! drops IPv6 and counts it.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use trust::stack::{Stack, StackConfig};
use trust::tcp::isn::IsnKey;
use trust::time::Instant;
use trust::wire::{self, RxChecksum, TcpFlags, TcpOptions, TcpRepr, checksum, icmpv6, ipv6, tcp};

const OURS: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const PEER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

fn stack(ipv6: bool) -> Stack {
    let mut c = StackConfig::with_key(Ipv4Addr::new(10, 0, 0, 2), IsnKey::from_seed(6));
    c.addr6 = ipv6.then_some(OURS);
    Stack::new(c)
}

/// An IPv6 packet from PEER to OURS: `ext` (whole extension headers, the
/// first one's type in `first_ext`), then `upper` with next header `proto`.
fn packet(first_ext: Option<u8>, ext: &[u8], proto: u8, upper: &[u8]) -> Vec<u8> {
    let repr = ipv6::Ipv6Repr {
        src: PEER,
        dst: OURS,
        next_header: first_ext.unwrap_or(proto),
        hop_limit: 64,
        payload_len: ext.len() + upper.len(),
    };
    let mut p = vec![0u8; ipv6::HEADER_LEN];
    ipv6::emit(&repr, &mut p).unwrap();
    p.extend_from_slice(ext);
    p.extend_from_slice(upper);
    p
}

/// A TCP SYN from the peer's port 40000 to port 80, checksummed.
fn syn() -> Vec<u8> {
    let repr = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 1000,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: TcpOptions { mss: Some(1440), ..TcpOptions::default() },
    };
    let mut seg = vec![0u8; 64];
    let n = tcp::emit_segment(&repr, [&[], &[]], &mut seg).unwrap();
    seg.truncate(n);
    let pseudo = checksum::pseudo_header_v6(PEER, OURS, 6, n as u32);
    tcp::fill_checksum(&mut seg, pseudo, wire::TxChecksum::Full);
    seg
}

/// Everything the stack sends now.
fn output(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 70_000];
    while let Some(t) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

/// The one TCP segment in `out`, parsed (checksum verified).
fn the_segment(out: &[Vec<u8>]) -> (ipv6::Ipv6Repr, TcpRepr) {
    assert_eq!(out.len(), 1, "one packet expected: {out:?}");
    let ip = ipv6::parse(&out[0]).expect("an IPv6 packet");
    let seg = tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify).expect("valid TCP");
    (ip.repr, seg.repr)
}

#[test]
fn a_listener_answers_an_ipv6_syn_with_an_mss_of_the_mtu_less_60() {
    let mut s = stack(true);
    s.listen(80, 8).unwrap();
    s.handle_packet(Instant::ZERO, &packet(None, &[], 6, &syn()));
    let (ip, tcp) = the_segment(&output(&mut s, Instant::ZERO));
    assert_eq!((ip.src, ip.dst, ip.next_header), (OURS, PEER, 6));
    assert_eq!(tcp.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!((tcp.src_port, tcp.dst_port, tcp.ack), (80, 40000, 1001));
    assert_eq!(tcp.options.mss, Some(1500 - 60));
}

#[test]
fn skippable_extension_headers_are_walked_and_others_discard_the_packet() {
    // Destination options with one PadN option (type 1, 4 bytes of pad):
    // walked; the SYN behind it is answered.
    let dest_opts = [6, 0, 1, 4, 0, 0, 0, 0];
    let mut s = stack(true);
    s.listen(80, 8).unwrap();
    s.handle_packet(Instant::ZERO, &packet(Some(60), &dest_opts, 6, &syn()));
    let (_, tcp) = the_segment(&output(&mut s, Instant::ZERO));
    assert_eq!(tcp.flags, TcpFlags::SYN | TcpFlags::ACK);

    // An unknown option whose type says "discard" (high bits 01): dropped
    // and counted, nothing sent.
    let discard = [6, 0, 0x40 | 0x1e, 4, 0, 0, 0, 0];
    // A routing header with segments left: we are not a router.
    let routing = [6, 0, 4, 1, 0, 0, 0, 0];
    // A fragment: not reassembled.
    let fragment = [6, 0, 0, 1, 0, 0, 0, 7];
    for (kind, ext, what) in
        [(60, &discard, "discard option"), (43, &routing, "routing"), (44, &fragment, "fragment")]
    {
        let mut s = stack(true);
        s.listen(80, 8).unwrap();
        let before = s.stats().clone();
        s.handle_packet(Instant::ZERO, &packet(Some(kind), ext, 6, &syn()));
        assert!(output(&mut s, Instant::ZERO).is_empty(), "{what}: nothing answers");
        let after = s.stats();
        let dropped = (after.rx_malformed + after.rx_fragments) - (before.rx_malformed + before.rx_fragments);
        assert_eq!(dropped, 1, "{what}: counted once");
    }
}

#[test]
fn a_corrupted_ipv6_segment_is_counted_and_changes_nothing() {
    let mut s = stack(true);
    s.listen(80, 8).unwrap();
    let mut p = packet(None, &[], 6, &syn());
    let last = p.len() - 1;
    p[last] ^= 0x55;
    s.handle_packet(Instant::ZERO, &p);
    assert!(output(&mut s, Instant::ZERO).is_empty());
    assert_eq!(s.stats().rx_bad_checksum, 1);
}

#[test]
fn icmpv6_echo_requests_get_replies() {
    let mut s = stack(true);
    // Type 128, code 0, checksum, identifier 0x1234, sequence 7, data.
    let mut msg = vec![128, 0, 0, 0, 0x12, 0x34, 0, 7, b'p', b'i', b'n', b'g'];
    let sum = checksum::add_bytes(checksum::pseudo_header_v6(PEER, OURS, 58, msg.len() as u32), &msg);
    let c = !checksum::fold(sum);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    s.handle_packet(Instant::ZERO, &packet(None, &[], 58, &msg));
    let out = output(&mut s, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let ip = ipv6::parse(&out[0]).unwrap();
    assert_eq!((ip.repr.src, ip.repr.dst, ip.repr.next_header), (OURS, PEER, 58));
    let reply = ip.payload;
    assert_eq!((reply[0], reply[1]), (129, 0), "an echo reply");
    assert_eq!(&reply[4..], &msg[4..], "identifier, sequence and data echoed");
    let sum = checksum::add_bytes(checksum::pseudo_header_v6(OURS, PEER, 58, reply.len() as u32), reply);
    assert_eq!(checksum::fold(sum), 0xffff, "valid ICMPv6 checksum");
    // Not an echo request for the stack's own parser either way.
    assert_eq!(icmpv6::parse_echo_request(OURS, PEER, reply).unwrap(), None);
}

#[test]
fn without_an_ipv6_address_ipv6_is_dropped_and_counted() {
    let mut s = stack(false);
    s.listen(80, 8).unwrap();
    s.handle_packet(Instant::ZERO, &packet(None, &[], 6, &syn()));
    assert!(output(&mut s, Instant::ZERO).is_empty());
    assert_eq!(s.stats().rx_unknown_version, 1);
    let remote = SocketAddr::new(IpAddr::V6(PEER), 80);
    assert_eq!(s.connect(Instant::ZERO, remote), Err(trust::Error::AddrNotAvailable));
}

#[test]
fn an_ipv6_connect_sends_an_ipv6_syn_from_our_address() {
    let mut s = stack(true);
    let remote = SocketAddr::new(IpAddr::V6(PEER), 443);
    let h = s.connect(Instant::ZERO, remote).unwrap();
    let (ip, tcp) = the_segment(&output(&mut s, Instant::ZERO));
    assert_eq!((ip.src, ip.dst), (OURS, PEER));
    assert_eq!(tcp.flags, TcpFlags::SYN);
    assert_eq!(tcp.dst_port, 443);
    assert_eq!(tcp.options.mss, Some(1440));
    let t = s.addresses(h).unwrap();
    assert_eq!(t.local, SocketAddr::new(IpAddr::V6(OURS), tcp.src_port));
    assert_eq!(t.remote, remote);
}

/// An established IPv6 connection (us at port 80, the peer at 40000) with
/// 4320 bytes in flight in three segments of 1440; returns the packets.
fn established_with_data(s: &mut Stack) -> Vec<Vec<u8>> {
    let l = s.listen(80, 8).unwrap();
    s.handle_packet(Instant::ZERO, &packet(None, &[], 6, &syn()));
    let (_, synack) = the_segment(&output(s, Instant::ZERO));
    let ack = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 1001,
        ack: synack.seq.wrapping_add(1),
        flags: TcpFlags::ACK,
        window: 65535,
        urgent: 0,
        options: TcpOptions::default(),
    };
    let mut seg = vec![0u8; 64];
    let n = tcp::emit_segment(&ack, [&[], &[]], &mut seg).unwrap();
    seg.truncate(n);
    tcp::fill_checksum(&mut seg, checksum::pseudo_header_v6(PEER, OURS, 6, n as u32), wire::TxChecksum::Full);
    s.handle_packet(Instant::from_millis(1), &packet(None, &[], 6, &seg));
    let c = s.accept(l).expect("accepted");
    assert_eq!(s.send(c, &[7u8; 4320]).unwrap(), 4320);
    let out = output(s, Instant::from_millis(2));
    assert_eq!(out.len(), 3);
    out
}

/// Payload sizes of the TCP segments in `out`.
fn sizes(out: &[Vec<u8>]) -> Vec<usize> {
    out.iter()
        .map(|p| {
            let ip = ipv6::parse(p).unwrap();
            tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify).unwrap().payload.len()
        })
        .collect()
}

/// A Packet Too Big from a router about `quoted` (one of our packets).
fn packet_too_big(mtu: u32, quoted: &[u8]) -> Vec<u8> {
    let router = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xfe);
    let ip = ipv6::Ipv6Repr { src: router, dst: OURS, next_header: 58, hop_limit: 64, payload_len: 0 };
    let mut buf = vec![0u8; 1500];
    let kind = wire::icmp_error::IcmpErrorKind::PacketTooBig { mtu };
    let n =
        wire::icmp_error::emit_icmpv6_error(kind, &ip, &quoted[..quoted.len().min(1232)], &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn packet_too_big_resegments_ipv6_at_the_mtu_less_60_never_below_1280() {
    let mut s = stack(true);
    let sent = established_with_data(&mut s);
    assert_eq!(sizes(&sent), [1440, 1440, 1440]);
    // At or above the link's MTU: nothing to learn.
    s.handle_packet(Instant::from_millis(3), &packet_too_big(1500, &sent[0]));
    assert!(output(&mut s, Instant::from_millis(3)).is_empty());
    // 1000 is below IPv6's minimum: taken as 1280, so 1220-byte segments,
    // sent at once.
    s.handle_packet(Instant::from_millis(4), &packet_too_big(1000, &sent[0]));
    let again = sizes(&output(&mut s, Instant::from_millis(4)));
    assert_eq!(again, [1220, 1220, 1220, 660]);
    let st = s.stats();
    assert_eq!((st.icmp_errors, st.icmp_errors_ignored, st.pmtu_lowered), (2, 1, 1));
    assert_eq!(s.pmtu_entries(), 1);
}

#[test]
fn an_ipv6_only_stack_drops_ipv4_and_cannot_reach_it() {
    let mut c = StackConfig::with_key(Ipv4Addr::UNSPECIFIED, IsnKey::from_seed(6));
    c.addr6 = Some(OURS);
    let mut s = Stack::new(c);
    let l = s.listen(80, 8).unwrap();
    assert_eq!(s.addresses(l).unwrap().local, SocketAddr::new(IpAddr::V6(OURS), 80));
    // An IPv4 SYN to 0.0.0.0 (or anywhere): not a family this stack speaks.
    let mut v4 = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 0, 0, 0, 0];
    v4.extend_from_slice(&syn()[..20]);
    s.handle_packet(Instant::ZERO, &v4);
    assert!(output(&mut s, Instant::ZERO).is_empty());
    assert_eq!(s.stats().rx_unknown_version, 1);
    let v4_peer = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 80));
    assert_eq!(s.connect(Instant::ZERO, v4_peer), Err(trust::Error::AddrNotAvailable));
    // IPv6 works.
    s.handle_packet(Instant::ZERO, &packet(None, &[], 6, &syn()));
    let (_, tcp) = the_segment(&output(&mut s, Instant::ZERO));
    assert_eq!(tcp.flags, TcpFlags::SYN | TcpFlags::ACK);
}
