//! ICMP errors about our segments (RFC 5927, RFC 1122 §4.2.3.9) and
//! path-MTU discovery (RFC 1191): a "fragmentation needed" that quotes a
//! segment in flight makes the connection re-segment and resend at once,
//! never below 576 bytes of path MTU; one that quotes anything else is
//! ignored and counted; soft errors never abort an established
//! connection; port unreachable aborts one still in SYN-SENT.

use core::net::Ipv4Addr;

use crate::harness::*;
use trust::wire::icmp_error::{IcmpErrorKind, emit_icmpv4_error};
use trust::wire::ipv4::{self, Ipv4Repr};

/// A router between us and the peer.
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

/// An ICMP error from the router about `packet` (one we sent), quoting
/// its IP header and first 8 TCP bytes (RFC 792), or all of it.
fn icmp_about(kind: IcmpErrorKind, packet: &[u8]) -> Vec<u8> {
    let ip = Ipv4Repr { src: ROUTER, dst: OUR_IP, protocol: ipv4::PROTO_ICMP, ttl: 64, payload_len: 0 };
    let quoted = &packet[..packet.len().min(ipv4::HEADER_LEN + 8)];
    let mut buf = vec![0u8; 1500];
    let n = emit_icmpv4_error(kind, &ip, quoted, &mut buf).expect("ICMP error");
    buf.truncate(n);
    buf
}

/// The sequence number of a raw IPv4/TCP packet.
fn seq_of(packet: &[u8]) -> u32 {
    u32::from_be_bytes(packet[24..28].try_into().unwrap())
}

/// A passive connection that has sent 4380 bytes (three full segments)
/// at t = 200 ms; returns the three packets.
fn three_segments_in_flight() -> (Harness, Vec<Vec<u8>>) {
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.write(200, &pattern(0, 4380));
    let sent: Vec<Vec<u8>> = h.recv_raw(200).into_iter().map(|(_, p)| p).collect();
    assert_eq!(sent.len(), 3);
    assert_eq!(seq_of(&sent[0]), h.l(1));
    (h, sent)
}

#[test]
fn fragmentation_needed_resegments_and_resends_at_once() {
    let (mut h, sent) = three_segments_in_flight();
    h.send_raw(210, &icmp_about(IcmpErrorKind::PacketTooBig { mtu: 1000 }, &sent[1]));
    // At once (no retransmission timeout): everything from SND.UNA again,
    // in segments of 1000 - 40 = 960 bytes.
    let again = h.recv_timed(210);
    let sizes: Vec<usize> = again.iter().map(|(_, s)| s.payload.len()).collect();
    assert_eq!(sizes, [960, 960, 960, 960, 540], "{again:?}");
    let mut at = 0;
    for (when, s) in &again {
        assert_eq!(*when, ms(210));
        assert_eq!((s.seq, s.ack), (h.l(1 + at as u32), h.r(1)));
        assert_eq!(s.payload, pattern(at, s.payload.len()));
        at += s.payload.len();
    }
    let stats = h.stats();
    assert_eq!((stats.icmp_errors, stats.icmp_errors_ignored, stats.pmtu_lowered), (1, 0, 1));
    // New data uses the new size too.
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(4381)));
    h.write(310, &pattern(4380, 2000));
    // (The 80-byte tail waits for Nagle.)
    let more: Vec<usize> = h.recv_all(310).iter().map(|s| s.payload.len()).collect();
    assert_eq!(more, [960, 960]);
}

#[test]
fn errors_quoting_sequence_numbers_not_in_flight_change_nothing() {
    let (mut h, sent) = three_segments_in_flight();
    // SND.NXT itself and beyond: not in flight (RFC 5927 §4.1).
    let mut forged = sent[2].clone();
    forged[24..28].copy_from_slice(&h.l(4381).to_be_bytes());
    h.send_raw(210, &icmp_about(IcmpErrorKind::PacketTooBig { mtu: 600 }, &forged));
    // Another connection's ports.
    let mut other = sent[0].clone();
    other[20..22].copy_from_slice(&81u16.to_be_bytes());
    h.send_raw(211, &icmp_about(IcmpErrorKind::Unreachable { code: 1 }, &other));
    h.expect_nothing(299);
    let stats = h.stats();
    assert_eq!((stats.icmp_errors, stats.icmp_errors_ignored, stats.pmtu_lowered), (2, 2, 0));
    assert_eq!(h.app(300, |s, c| s.take_soft_error(c)), Ok(None));
    // Full-sized segments still.
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(4381)));
    h.write(310, &pattern(4380, 1460));
    assert_eq!(h.recv_all(310).iter().map(|s| s.payload.len()).collect::<Vec<_>>(), [1460]);
}

#[test]
fn a_path_mtu_is_never_taken_below_576() {
    let (mut h, sent) = three_segments_in_flight();
    // 300 is below the minimum: taken as 576, so 536-byte segments.
    h.send_raw(210, &icmp_about(IcmpErrorKind::PacketTooBig { mtu: 300 }, &sent[0]));
    let sizes: Vec<usize> = h.recv_all(210).iter().map(|s| s.payload.len()).collect();
    assert!(sizes.iter().all(|&n| n == 536 || n == 4380 % 536), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 4380);
    // A second, larger report does not raise it again.
    h.send_raw(220, &icmp_about(IcmpErrorKind::PacketTooBig { mtu: 1200 }, &sent[0]));
    h.expect_nothing(220);
    assert_eq!(h.stats().pmtu_lowered, 1);
}

#[test]
fn an_old_router_that_says_no_mtu_gets_rfc_1191s_plateau() {
    let (mut h, sent) = three_segments_in_flight();
    // MTU field 0: the plateau below the dropped packet's 1500 is 1492.
    h.send_raw(210, &icmp_about(IcmpErrorKind::PacketTooBig { mtu: 0 }, &sent[0]));
    let sizes: Vec<usize> = h.recv_all(210).iter().map(|s| s.payload.len()).collect();
    assert_eq!(sizes, [1452, 1452, 1452, 24]);
}

#[test]
fn soft_errors_never_abort_an_established_connection() {
    let (mut h, sent) = three_segments_in_flight();
    for (i, kind) in [
        IcmpErrorKind::Unreachable { code: 1 },
        IcmpErrorKind::TimeExceeded,
        IcmpErrorKind::Unreachable { code: 3 },
    ]
    .into_iter()
    .enumerate()
    {
        h.send_raw(210 + i as u64, &icmp_about(kind, &sent[0]));
        assert_eq!(h.state(), State::Established, "{kind:?}");
    }
    h.expect_nothing(211 + 2);
    // Reported once, then gone; the last one counts (port unreachable is
    // soft once established).
    assert_eq!(h.app(220, |s, c| s.take_soft_error(c)), Ok(Some(Error::ConnectionRefused)));
    assert_eq!(h.app(221, |s, c| s.take_soft_error(c)), Ok(None));
    // The data still gets through.
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(4381)));
    assert_eq!(h.state(), State::Established);
    assert_eq!(h.stats().icmp_errors_ignored, 0);
}

#[test]
fn port_unreachable_aborts_a_connection_still_in_syn_sent() {
    let mut h = Harness::new(simple());
    h.connect(0);
    let syn = h.recv_raw(0).pop().expect("a SYN").1;
    h.send_raw(10, &icmp_about(IcmpErrorKind::Unreachable { code: 3 }, &syn));
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.recv_result(11), Err(Error::ConnectionRefused));
}

#[test]
fn host_unreachable_in_syn_sent_is_reported_if_the_connect_times_out() {
    let mut h = Harness::new(with(simple(), |c| c.syn_retries = 1));
    h.connect(0);
    let syn = h.recv_raw(0).pop().expect("a SYN").1;
    h.send_raw(10, &icmp_about(IcmpErrorKind::Unreachable { code: 1 }, &syn));
    assert_eq!(h.state(), State::SynSent, "a soft error does not abort");
    // The SYN retries run out: the error is the soft one, not TimedOut.
    h.recv_raw(60_000);
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.recv_result(60_001), Err(Error::HostUnreachable));
}
