//! The stack around connections: listeners and their backlog (RFC 9293
//! §3.10.7.2), resets for segments that match no socket (§3.10.7.1),
//! ICMP echo (RFC 1122 §3.2.2.6), and what is dropped before TCP sees it
//! (other addresses, bad sources, fragments, bad checksums).

use core::net::Ipv4Addr;

use trust::wire::ipv4;

use crate::harness::*;

/// A SYN from the peer's `port`, with ISS `iss`.
fn syn_from(port: u16, iss: u32) -> Seg {
    seg().syn().seq(iss).mss(1460).ports(port, LISTEN_PORT)
}

#[test]
fn full_accept_queue_drops_syns_and_completing_acks() {
    // The backlog bounds the accept queue (established, not yet accepted).
    // While it is full, SYNs are dropped, and so is the ACK that would
    // complete a handshake begun earlier (Linux's listen overflow): the
    // peers' retransmissions try again.
    let mut h = Harness::new(simple());
    let l = h.listen_backlog(2);
    let mut iss = Vec::new();
    for (t, port) in [(0, 40000), (1, 40001), (2, 40002)] {
        h.send_at(t, syn_from(port, 1000));
        let sa = h.recv_all(t);
        assert_eq!(sa.len(), 1);
        assert_eq!(sa[0].flags, TcpFlags::SYN | TcpFlags::ACK);
        iss.push(sa[0].seq);
    }
    let ack = |port: u16, iss: u32| seg().seq(1001).ack(iss.wrapping_add(1)).ports(port, LISTEN_PORT);
    h.send_at(10, ack(40000, iss[0]));
    h.send_at(11, ack(40001, iss[1]));
    h.expect_nothing(11);
    // Full: the third handshake stays half-open, a new SYN is dropped.
    h.send_at(12, ack(40002, iss[2]));
    h.send_at(13, syn_from(40003, 1000));
    h.expect_nothing(13);
    assert_eq!((h.stats().listen_overflows, h.stats().syn_dropped), (1, 1));
    assert_eq!(h.stack.socket_count(), 4);
    // Accepting makes room: the retransmitted ACK completes the handshake.
    assert!(h.stack.accept(l).is_ok());
    h.send_at(20, ack(40002, iss[2]));
    h.expect_nothing(20);
    assert!(h.stack.accept(l).is_ok() && h.stack.accept(l).is_ok());
    h.send_at(30, syn_from(40003, 1000));
    let sa = h.recv_all(30);
    assert_eq!(sa.len(), 1, "{sa:?}");
    assert_eq!(sa[0].flags, TcpFlags::SYN | TcpFlags::ACK);
}

#[test]
fn syn_to_a_closed_port_gets_rst_ack() {
    // RFC 9293 §3.10.7.1: no ACK bit: <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
    // <CTL=RST,ACK>.
    let mut h = Harness::new(simple());
    h.send_at(0, seg().syn().seq(h.r(0)).mss(1460).ports(PEER_PORT, 81));
    h.expect1(0, seg().rst().seq(0).ack(h.r(1)).win(0).ports(81, PEER_PORT));
    assert_eq!((h.stats().rx_no_socket, h.stats().tx_resets), (1, 1));
}

#[test]
fn ack_to_a_closed_port_gets_rst() {
    // With ACK: <SEQ=SEG.ACK><CTL=RST>.
    let mut h = Harness::new(simple());
    h.send_at(0, seg().seq(h.r(5)).ack(123_456).payload(b"hi").ports(PEER_PORT, 81));
    h.expect1(0, seg().rst().seq(123_456).win(0).ports(81, PEER_PORT));
}

#[test]
fn data_and_fin_without_ack_to_a_closed_port() {
    // SEG.LEN counts the data and the FIN.
    let mut h = Harness::new(simple());
    h.send_at(0, seg().fin().seq(h.r(5)).payload(b"hello").ports(PEER_PORT, 81));
    h.expect1(0, seg().rst().seq(0).ack(h.r(11)).win(0).ports(81, PEER_PORT));
}

#[test]
fn a_rst_is_never_answered_with_a_rst() {
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, seg().rst().seq(h.r(1)).win(0).ports(PEER_PORT, 81));
    h.send_at(1, seg().rst().seq(h.r(1)).ack(5).win(0).ports(PEER_PORT, 81));
    h.send_at(2, seg().rst().seq(h.r(1)).win(0));
    h.send_at(3, seg().rst().seq(h.r(1)).ack(5).win(0));
    h.expect_nothing(3);
    assert_eq!(h.stats().tx_resets, 0);
}

#[test]
fn listener_resets_acks() {
    // RFC 9293 §3.10.7.2: LISTEN answers an ACK with <SEQ=SEG.ACK>
    // <CTL=RST>, a SYN-ACK too.
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, seg().seq(h.r(1)).ack(777));
    h.expect1(0, seg().rst().seq(777).win(0));
    h.send_at(1, seg().syn().seq(h.r(0)).ack(888));
    h.expect1(1, seg().rst().seq(888).win(0));
}

#[test]
fn listener_drops_other_segments() {
    // Neither SYN, ACK nor RST: dropped.
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, seg().fin().seq(h.r(1)));
    h.send_at(1, seg().seq(h.r(1)).payload(b"data"));
    h.expect_nothing(1);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn closing_a_listener_resets_unaccepted_connections() {
    let mut h = Harness::new(simple());
    let l = h.listen();
    // One accepted connection, which stays...
    h.open_passive(0, 10, PeerOpts::plain());
    // ... one established but not accepted ...
    h.send_at(20, syn_from(40001, 1000));
    let a = h.recv_all(20)[0].seq;
    h.send_at(30, seg().seq(1001).ack(a.wrapping_add(1)).ports(40001, LISTEN_PORT));
    h.expect_nothing(30);
    // ... and one half-open.
    h.send_at(40, syn_from(40002, 5000));
    let b = h.recv_all(40)[0].seq;
    assert_eq!(h.stack.socket_count(), 4);
    h.advance_to(50);
    h.stack.close(ms(50), l).unwrap();
    h.drain();
    let mut got = h.recv_all(50);
    got.sort_by_key(|s| s.dst_port);
    // RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST>.
    let want = vec![
        seg().rst().seq(a.wrapping_add(1)).win(0).ports(LISTEN_PORT, 40001).src_addr(PEER_IP),
        seg().rst().seq(b.wrapping_add(1)).win(0).ports(LISTEN_PORT, 40002).src_addr(PEER_IP),
    ];
    assert_eq!(got, want);
    assert_eq!(h.stack.socket_count(), 1);
    assert_eq!(h.state(), State::Established);
    // New SYNs find no listener.
    h.send_at(60, syn_from(40003, 9000));
    h.expect1(60, seg().rst().seq(0).ack(9001).win(0).ports(LISTEN_PORT, 40003));
}

#[test]
fn echo_request_gets_echo_reply() {
    let mut h = Harness::new(simple());
    h.send_raw(0, &icmp_echo_request(PEER_IP, OUR_IP, 0x1234, 7, b"ping!"));
    let got = h.recv_raw(0);
    assert_eq!(got.len(), 1);
    let ip = ipv4::parse(&got[0].1).expect("valid IPv4");
    assert_eq!((ip.repr.src, ip.repr.dst, ip.repr.protocol), (OUR_IP, PEER_IP, ipv4::PROTO_ICMP));
    let m = ip.payload;
    assert_eq!(&m[..2], &[0, 0], "type 0 (echo reply), code 0");
    assert_eq!(&m[4..8], &[0x12, 0x34, 0, 7], "identifier and sequence number");
    assert_eq!(&m[8..], b"ping!");
    assert_eq!(trust::wire::checksum::checksum(m), 0, "ICMP checksum");
    assert_eq!(h.stats().icmp_echo_replies, 1);
}

#[test]
fn packets_for_other_addresses_are_ignored() {
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, seg().syn().seq(1).mss(1460).dst_addr(Ipv4Addr::new(10, 0, 0, 3)));
    h.send_at(1, seg().syn().seq(1).mss(1460).dst_addr(Ipv4Addr::BROADCAST));
    h.send_at(2, seg().syn().seq(1).mss(1460).dst_addr(Ipv4Addr::new(224, 0, 0, 1)));
    h.send_raw(3, &icmp_echo_request(PEER_IP, Ipv4Addr::new(10, 0, 0, 3), 1, 1, b"x"));
    h.expect_nothing(3);
    assert_eq!(h.stats().rx_not_for_us, 4);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn segments_from_invalid_sources_are_ignored() {
    // RFC 1122 §3.2.1.3 and §4.2.3.10: never answer a broadcast,
    // multicast, loopback or unspecified source (nor our own address).
    let mut h = Harness::new(simple());
    h.listen();
    let sources = [
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::UNSPECIFIED,
        OUR_IP,
    ];
    for (i, src) in sources.into_iter().enumerate() {
        h.send_at(i as u64, seg().syn().seq(1).mss(1460).src_addr(src));
        h.send_at(i as u64, seg().seq(1).ack(1).src_addr(src).ports(PEER_PORT, 81));
    }
    h.expect_nothing(10);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn ip_options_are_skipped() {
    // RFC 1122 §3.2.1.8: a packet with (unknown) IP options still carries
    // its segment to TCP.
    let mut h = Harness::new(simple());
    h.listen();
    let p = tcp_packet(PEER_IP, OUR_IP, &h.inbound(h.peer_syn(PeerOpts::plain())));
    let mut q = p[..20].to_vec();
    q[0] = 0x46; // IHL 6
    q.extend_from_slice(&[1, 1, 1, 0]); // NOP, NOP, NOP, EOL
    q.extend_from_slice(&p[20..]);
    let total = q.len() as u16;
    q[2..4].copy_from_slice(&total.to_be_bytes());
    q[10] = 0;
    q[11] = 0;
    let c = trust::wire::checksum::checksum(&q[..24]);
    q[10..12].copy_from_slice(&c.to_be_bytes());
    h.send_raw(0, &q);
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
}

#[test]
fn fragments_are_dropped_and_counted() {
    let mut h = Harness::new(simple());
    h.listen();
    let mut p = tcp_packet(PEER_IP, OUR_IP, &h.inbound(h.peer_syn(PeerOpts::plain())));
    p[6] |= 0x20; // more fragments
    fix_ip_checksum(&mut p);
    h.send_raw(0, &p);
    p[6] &= !0x20;
    p[7] = 10; // fragment offset 80 bytes
    fix_ip_checksum(&mut p);
    h.send_raw(1, &p);
    h.expect_nothing(1);
    assert_eq!(h.stats().rx_fragments, 2);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn bad_checksums_are_dropped_and_counted() {
    let mut h = Harness::new(simple());
    h.listen();
    let mut p = tcp_packet(PEER_IP, OUR_IP, &h.inbound(h.peer_syn(PeerOpts::plain())));
    let n = p.len();
    p[n - 1] ^= 0xff; // last option byte
    h.send_raw(0, &p);
    h.expect_nothing(0);
    assert_eq!(h.stats().rx_bad_checksum, 1);
    assert_eq!(h.stack.socket_count(), 1);
}
