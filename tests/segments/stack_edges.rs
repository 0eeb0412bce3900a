//! The stack around connections, at its edges: handles that outlive their
//! socket, readiness events, the backlog when connections die before
//! `accept`, ephemeral ports (RFC 6056), the socket limit and the control
//! queue.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use trust::stack::DeviceQueue;

use crate::harness::*;

fn established() -> Harness {
    Harness::passive(simple(), PeerOpts::plain())
}

/// A SYN from the peer's `port` with ISS `iss`, to port 80.
fn syn_from(port: u16, iss: u32) -> Seg {
    seg().syn().seq(iss).mss(1460).ports(port, LISTEN_PORT)
}

/// Completes a handshake from the peer's `port` (SYN at `t`, ACK at `t`+1);
/// returns our ISS.
fn handshake_from(h: &mut Harness, t: u64, port: u16, iss: u32) -> u32 {
    h.send_at(t, syn_from(port, iss));
    let sa = h.recv_all(t);
    assert_eq!(sa.len(), 1, "{sa:?}");
    assert_eq!(sa[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    h.send_at(t + 1, seg().seq(iss + 1).ack(sa[0].seq.wrapping_add(1)).ports(port, LISTEN_PORT));
    h.expect_nothing(t + 1);
    sa[0].seq
}

/// Every call that takes a connection handle, with `h`: all must fail
/// with `InvalidHandle`.
fn assert_invalid(s: &mut Stack, now: Instant, h: SocketHandle) {
    let ka = Some(Keepalive::default());
    assert_eq!(s.send(h, b"x"), Err(Error::InvalidHandle), "send");
    assert_eq!(s.recv(h, &mut [0; 16]), Err(Error::InvalidHandle), "recv");
    assert_eq!(s.shutdown(h, Shutdown::Write), Err(Error::InvalidHandle), "shutdown");
    assert_eq!(s.set_nodelay(h, true), Err(Error::InvalidHandle), "set_nodelay");
    assert_eq!(s.set_keepalive(now, h, ka), Err(Error::InvalidHandle), "set_keepalive");
    assert_eq!(s.state(h), Err(Error::InvalidHandle), "state");
    assert_eq!(s.addresses(h).err(), Some(Error::InvalidHandle), "addresses");
    assert_eq!(s.connection(h).err(), Some(Error::InvalidHandle), "connection");
    assert_eq!(s.all_acknowledged(h), Err(Error::InvalidHandle), "all_acknowledged");
    assert_eq!(s.accept(h), Err(Error::InvalidHandle), "accept");
    assert_eq!(s.close(now, h), Err(Error::InvalidHandle), "close");
    assert_eq!(s.abort(now, h), Err(Error::InvalidHandle), "abort");
    assert_eq!(s.readiness(h), Err(Error::InvalidHandle), "readiness");
}

#[test]
fn a_closed_handle_is_invalid_while_its_connection_lingers() {
    // `close` documents "the handle is invalid afterwards", also while the
    // connection finishes on its own (FIN-WAIT-1 here).
    let mut h = established();
    let c = h.sock();
    h.close(200);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    assert_eq!(h.stack.socket_count(), 2, "the orphan lives on");
    assert_invalid(&mut h.stack, ms(200), c);
    h.drain();
    h.expect_nothing(200);
}

#[test]
fn a_stale_handle_never_reaches_the_socket_that_reuses_its_slot() {
    let mut h = established();
    let old = h.sock();
    h.abort(200);
    h.expect1(200, seg().rst().seq(h.l(1)).win(0));
    assert_eq!(h.stack.socket_count(), 1);
    // A new connection takes the freed slot.
    h.c.peer_port = PEER_PORT + 1;
    h.c.irs = PEER_ISS + 50_000;
    h.open_passive(300, 301, PeerOpts::plain());
    let new = h.sock();
    assert_eq!(new.index(), old.index(), "the slot was reused");
    assert_ne!(new, old);
    assert_invalid(&mut h.stack, ms(400), old);
    h.drain();
    h.expect_nothing(400);
    assert_eq!(h.stack.state(new), Ok(State::Established));
    h.write(500, b"new");
    h.expect1(500, seg().seq(h.l(1)).ack(h.r(1)).psh().payload(b"new"));
}

#[test]
fn handles_of_the_wrong_kind_are_invalid() {
    let mut h = established();
    let l = h.listener.unwrap();
    let c = h.sock();
    assert_eq!(h.stack.accept(c), Err(Error::InvalidHandle));
    assert_eq!(h.stack.send(l, b"x"), Err(Error::InvalidHandle));
    assert_eq!(h.stack.recv(l, &mut [0; 4]), Err(Error::InvalidHandle));
    assert_eq!(h.stack.shutdown(l, Shutdown::Both), Err(Error::InvalidHandle));
    assert_eq!(h.stack.connection(l).err(), Some(Error::InvalidHandle));
    // A listener's stale handle after close.
    h.stack.close(ms(200), l).unwrap();
    assert_eq!(h.stack.accept(l), Err(Error::InvalidHandle));
    assert_eq!(h.stack.close(ms(200), l), Err(Error::InvalidHandle));
    assert_eq!(h.stack.readiness(l), Err(Error::InvalidHandle));
    assert_eq!(h.stack.state(c), Ok(State::Established), "accepted connections stay");
}

#[test]
fn listener_is_reported_readable_again_after_a_connection_died_in_its_queue() {
    // An edge-driven application sees the listener READABLE, but the
    // connection is reset before it calls accept (which then says
    // WouldBlock). When the next connection arrives, the listener must be
    // reported again, or the application never learns of it.
    let mut h = Harness::new(simple());
    let l = h.listen();
    assert!(h.events().is_empty());
    handshake_from(&mut h, 0, 40000, 1000);
    assert_eq!(h.events(), [(l, Readiness::READABLE)]);
    h.send_at(10, seg().rst().seq(1001).win(0).ports(40000, LISTEN_PORT));
    h.expect_nothing(10);
    assert_eq!(h.stack.accept(l), Err(Error::WouldBlock));
    assert_eq!(h.stack.readiness(l), Ok(Readiness::empty()));
    h.events();
    handshake_from(&mut h, 20, 40001, 5000);
    let ev = h.events();
    assert!(ev.contains(&(l, Readiness::READABLE)), "no event for the listener: {ev:?}");
    assert!(h.stack.accept(l).is_ok());
}

#[test]
fn reset_before_accept_frees_the_backlog_slot() {
    let mut h = Harness::new(simple());
    let l = h.listen_backlog(1);
    handshake_from(&mut h, 0, 40000, 1000);
    h.send_at(10, syn_from(40001, 5000));
    h.expect_nothing(10);
    assert_eq!(h.stats().syn_dropped, 1, "backlog full");
    h.send_at(20, seg().rst().seq(1001).win(0).ports(40000, LISTEN_PORT));
    h.expect_nothing(20);
    assert_eq!(h.stack.socket_count(), 1);
    assert_eq!(h.stack.accept(l), Err(Error::WouldBlock), "a reset connection is never accepted");
    handshake_from(&mut h, 30, 40001, 5000);
    let c = h.stack.accept(l).expect("the slot came back");
    assert_eq!(h.stack.addresses(c).unwrap().remote, SocketAddr::from((PEER_IP, 40001)));
}

#[test]
fn syn_queue_slot_returns_after_syn_ack_retries_are_exhausted() {
    // RFC 9293 §3.8.3 / RFC 1122 §4.2.3.5: the half-open connection gives
    // up after `synack_retries` retransmissions, and leaves the SYN queue.
    let mut h = Harness::new(with(simple(), |c| c.synack_retries = 2));
    let l = h.listen_backlog(1);
    h.send_at(0, syn_from(40000, 1000));
    let sa = h.recv_all(0);
    assert_eq!(sa.len(), 1);
    // SYN-ACK again at 1 s and 3 s (RTO 1 s, doubled), then give up at 7 s.
    let again = h.recv_timed(7000);
    let times: Vec<u64> = again.iter().map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, [1000, 3000], "{again:?}");
    assert!(again.iter().all(|(_, s)| *s == sa[0]));
    assert_eq!(h.stack.socket_count(), 1, "the half-open connection is gone");
    handshake_from(&mut h, 8000, 40001, 5000);
    assert!(h.stack.accept(l).is_ok());
}

#[test]
fn ephemeral_ports_run_out_and_come_back() {
    let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
    sc.tcp = simple();
    sc.ephemeral_ports = (50000, 50002);
    let mut h = Harness::with_stack(sc);
    let peer = SocketAddrV4::new(PEER_IP, 80);
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(h.stack.connect(ms(0), peer).expect("a free port"));
    }
    let mut ports: Vec<u16> = conns.iter().map(|c| h.stack.addresses(*c).unwrap().local.port()).collect();
    ports.sort_unstable();
    assert_eq!(ports, [50000, 50001, 50002]);
    assert_eq!(h.stack.connect(ms(0), peer), Err(Error::AddrNotAvailable));
    // The same ports still serve another remote.
    let other = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 80);
    assert!(h.stack.connect(ms(0), other).is_ok());
    h.drain();
    assert_eq!(h.recv_all(0).len(), 4, "four SYNs");
    // Aborting one (in SYN-SENT: nothing to send) frees its port at once.
    let freed = h.stack.addresses(conns[0]).unwrap().local;
    h.stack.abort(ms(10), conns[0]).unwrap();
    h.drain();
    h.expect_nothing(10);
    let again = h.stack.connect(ms(20), peer).expect("the port is free again");
    assert_eq!(h.stack.addresses(again).unwrap().local, freed);
    assert_eq!(h.stack.connect(ms(20), peer), Err(Error::AddrNotAvailable));
    h.drain();
    assert_eq!(h.recv_all(20).len(), 1, "one SYN");
}

#[test]
fn ephemeral_ports_per_destination_as_rfc_6056_algorithm_4() {
    // One destination's ports follow each other; another destination's do
    // not continue that sequence (a single counter for every destination
    // would let anyone count our connections from their own ports).
    let mut h = Harness::new(simple());
    let port = |h: &mut Harness, ip: Ipv4Addr| {
        let c = h.stack.connect(ms(0), SocketAddrV4::new(ip, 80)).unwrap();
        h.stack.addresses(c).unwrap().local.port()
    };
    let other = Ipv4Addr::new(10, 0, 0, 3);
    let (a1, b1, a2, b2, a3) = (
        port(&mut h, PEER_IP),
        port(&mut h, other),
        port(&mut h, PEER_IP),
        port(&mut h, other),
        port(&mut h, PEER_IP),
    );
    assert_eq!((a2, a3), (a1 + 1, a1 + 2));
    assert_eq!(b2, b1 + 1);
    assert!(a1.abs_diff(b1) > 2, "{a1} {b1}");
    h.drain();
    let _ = h.recv_all(0);
}

/// An engine that owns one queue of a multi-queue device connects only
/// from ports whose flow the device steers back to that queue, and runs
/// out when those are taken, not when the range is.
#[test]
fn ephemeral_ports_of_one_device_queue() {
    let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
    sc.tcp = simple();
    sc.ephemeral_ports = (50000, 50063);
    sc.queue = DeviceQueue { index: 1, count: 3 };
    let mut h = Harness::with_stack(sc);
    let peer = SocketAddrV4::new(PEER_IP, 80);
    let ours = (50000..=50063u16).filter(|&p| trust::wire::flow::queue(p, 80, 3) == 1).count();
    assert!(ours > 5 && ours < 40, "{ours} ports of 64 on queue 1");
    for _ in 0..ours {
        let c = h.stack.connect(ms(0), peer).expect("a free port of this queue");
        let port = h.stack.addresses(c).unwrap().local.port();
        assert_eq!(trust::wire::flow::queue(port, 80, 3), 1, "port {port}");
        assert!(DeviceQueue { index: 1, count: 3 }.carries(port, 80));
    }
    assert_eq!(h.stack.connect(ms(0), peer), Err(Error::AddrNotAvailable));
}

#[test]
fn a_refused_connection_frees_its_port_while_the_handle_is_held() {
    let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
    sc.tcp = simple();
    sc.ephemeral_ports = (50000, 50000);
    let mut h = Harness::with_stack(sc);
    let peer = SocketAddrV4::new(PEER_IP, 80);
    let c = h.stack.connect(ms(0), peer).unwrap();
    h.drain();
    let syn = h.recv_all(0);
    assert_eq!(syn.len(), 1);
    h.c.our_port = 50000;
    h.c.peer_port = 80;
    h.send_at(10, seg().rst().ack(syn[0].seq.wrapping_add(1)).win(0));
    h.expect_nothing(10);
    assert_eq!(h.stack.state(c), Ok(State::Closed));
    let again = h.stack.connect(ms(20), peer).expect("the port is free again");
    assert_eq!(h.stack.addresses(again).unwrap().local.port(), 50000);
    h.drain();
    assert_eq!(h.recv_all(20).len(), 1);
    // The old handle still reports its error, once, and does not disturb
    // the new connection on the same 4-tuple.
    assert_eq!(h.stack.recv(c, &mut [0; 8]), Err(Error::ConnectionRefused));
    assert_eq!(h.stack.recv(c, &mut [0; 8]), Ok(0));
    h.stack.close(ms(30), c).unwrap();
    h.drain();
    h.expect_nothing(30);
    assert_eq!(h.stack.state(again), Ok(State::SynSent));
}

#[test]
fn max_sockets_bounds_listeners_connections_and_syns() {
    let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
    sc.tcp = simple();
    sc.max_sockets = 3;
    let mut h = Harness::with_stack(sc);
    let l = h.listen();
    h.open_passive(0, 1, PeerOpts::plain());
    let c = h.stack.connect(ms(10), SocketAddrV4::new(PEER_IP, 80)).unwrap();
    h.drain();
    assert_eq!(h.recv_all(10).len(), 1);
    assert_eq!(h.stack.socket_count(), 3);
    // A full socket table answers SYNs statelessly, with a cookie...
    h.send_at(20, syn_from(40001, 7000));
    let sa = h.recv_all(20);
    assert_eq!((sa.len(), h.stats().syn_cookies_sent), (1, 1), "{sa:?}");
    assert_eq!(h.stack.socket_count(), 3);
    // ... but has no room for the connection its ACK would open.
    h.send_at(21, seg().seq(7001).ack(sa[0].seq.wrapping_add(1)).ports(40001, LISTEN_PORT));
    h.expect_nothing(21);
    assert_eq!((h.stats().syn_cookies_validated, h.stats().syn_dropped), (1, 1));
    assert_eq!(h.stack.socket_count(), 3);
    assert_eq!(h.stack.connect(ms(20), SocketAddrV4::new(PEER_IP, 81)), Err(Error::AddrNotAvailable));
    assert_eq!(h.stack.listen(81, 4), Err(Error::AddrNotAvailable));
    h.stack.abort(ms(30), c).unwrap();
    h.drain();
    h.expect_nothing(30);
    assert_eq!(h.stack.socket_count(), 2);
    assert!(h.stack.listen(81, 4).is_ok());
    assert_eq!(h.stack.socket_count(), 3);
    assert_eq!(h.stack.readiness(l), Ok(Readiness::empty()));
}

#[test]
fn control_queue_is_bounded_under_a_flood() {
    let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
    sc.tcp = simple();
    sc.control_queue = 4;
    let mut h = Harness::with_stack(sc);
    h.listen();
    h.open_passive(0, 100, PeerOpts::plain());
    // Ten SYNs to a closed port and three pings, with nobody draining.
    for i in 0..10u16 {
        let p = tcp_packet(PEER_IP, OUR_IP, &h.inbound(syn_from(41000 + i, 9).ports(41000 + i, 81)));
        h.stack.handle_packet(ms(200), &p);
    }
    for i in 0..3 {
        h.stack.handle_packet(ms(200), &icmp_echo_request(PEER_IP, OUR_IP, 7, i, b"ping"));
    }
    assert_eq!(h.stats().control_dropped, 9);
    // A connection's own output is not held up by the full queue.
    h.write(200, b"data");
    let out = h.recv_raw(200);
    assert_eq!(out.len(), 5, "four resets, then the data");
    for (_, p) in &out[..4] {
        let (_, _, s) = parse_tcp(p);
        assert_eq!((s.flags, s.ack), (TcpFlags::RST | TcpFlags::ACK, 10));
        assert!((41000..41004).contains(&s.dst_port.unwrap()), "{s:?}");
    }
    let (_, _, data) = parse_tcp(&out[4].1);
    assert_eq!(data.payload, b"data");
    // The queue drained: answers flow again.
    h.send_raw(300, &icmp_echo_request(PEER_IP, OUR_IP, 7, 9, b"ping"));
    assert_eq!(h.recv_raw(300).len(), 1);
    assert_eq!(h.stats().icmp_echo_replies, 1);
}

#[test]
fn readiness_changes_are_reported_once_each() {
    let mut h = Harness::new(simple());
    let c = h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460));
    assert!(h.events().is_empty(), "nothing to report in SYN-SENT");
    h.send_at(100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460));
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(1)));
    let open = Readiness::CONNECTED | Readiness::WRITABLE | Readiness::ACKED;
    assert_eq!(h.events(), [(c, open)]);
    assert!(h.events().is_empty());
    // Two segments before the application looks: one event.
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 10));
    h.send_at(201, seg().seq(h.r(11)).ack(h.l(1)).data(10, 10));
    assert_eq!(h.events(), [(c, open | Readiness::READABLE)]);
    assert_eq!(h.read(202), pattern(0, 20));
    assert_eq!(h.events(), [(c, open)]);
    h.expect1(240, seg().seq(h.l(1)).ack(h.r(21)));
    assert!(h.events().is_empty(), "an ACK changes nothing");
    h.send_at(300, seg().fin().seq(h.r(21)).ack(h.l(1)));
    h.expect1(300, seg().seq(h.l(1)).ack(h.r(22)));
    let eof = Readiness::READABLE | Readiness::READ_CLOSED;
    assert_eq!(h.events(), [(c, open | eof)]);
    h.send_at(400, seg().rst().seq(h.r(22)).win(0));
    h.expect_nothing(400);
    let dead = eof | Readiness::WRITABLE | Readiness::WRITE_CLOSED;
    assert_eq!(h.events(), [(c, dead | Readiness::ERROR)]);
    assert_eq!(h.recv_result(400), Err(Error::ConnectionReset));
    assert_eq!(h.events(), [(c, dead)]);
    assert_eq!(h.recv_result(400), Ok(0));
    assert!(h.events().is_empty());
}

#[test]
fn closed_handles_get_no_events() {
    let mut h = established();
    let c = h.sock();
    h.events();
    h.close(200);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    // The orphan's state changes (FIN-WAIT-2, TIME-WAIT) are nobody's
    // business; nor is a listener's after its close.
    h.send_at(210, seg().seq(h.r(1)).ack(h.l(2)));
    h.send_at(220, seg().fin().seq(h.r(1)).ack(h.l(2)));
    h.expect1(220, seg().seq(h.l(2)).ack(h.r(2)));
    let l = h.listener.unwrap();
    handshake_from(&mut h, 230, 40001, 9000);
    h.stack.close(ms(240), l).unwrap();
    h.drain();
    let rst = h.recv_all(240);
    assert_eq!(rst.len(), 1, "the unaccepted connection is reset: {rst:?}");
    let ev = h.events();
    assert!(ev.iter().all(|(s, _)| *s != c && *s != l), "{ev:?}");
}

#[test]
fn connect_to_a_multicast_address_is_rejected() {
    // RFC 9293 §3.9.1.1: "A TCP implementation MUST reject as an error a
    // local OPEN call for an invalid remote IP address (e.g., a broadcast
    // or multicast address) (MUST-46)". Broadcast is rejected; multicast
    // must be too, instead of sending SYNs to a group.
    let mut h = Harness::new(simple());
    let bcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, 80);
    assert_eq!(h.stack.connect(ms(0), bcast), Err(Error::InvalidInput));
    for group in [Ipv4Addr::new(224, 0, 0, 1), Ipv4Addr::new(239, 1, 2, 3)] {
        assert_eq!(h.stack.connect(ms(0), SocketAddrV4::new(group, 80)), Err(Error::InvalidInput), "{group}");
    }
    h.drain();
    assert!(h.recv_raw(0).is_empty(), "no SYN to a group");
    assert_eq!(h.stack.socket_count(), 0);
}

#[test]
fn closing_a_listener_stops_its_half_open_connections() {
    // The half-open connection is reset with the listener; its SYN-ACK is
    // not retransmitted afterwards, and the peer's late ACK finds nothing.
    let mut h = Harness::new(simple());
    let l = h.listen();
    h.send_at(0, syn_from(40000, 1000));
    let sa = h.recv_all(0);
    assert_eq!(sa.len(), 1);
    h.advance_to(500);
    h.stack.close(ms(500), l).unwrap();
    h.drain();
    h.expect1(500, seg().rst().seq(sa[0].seq.wrapping_add(1)).win(0).ports(LISTEN_PORT, 40000));
    h.expect_nothing(60_000);
    assert_eq!(h.stack.socket_count(), 0);
    h.send_at(60_000, seg().seq(1001).ack(sa[0].seq.wrapping_add(1)).ports(40000, LISTEN_PORT));
    h.expect1(60_000, seg().rst().seq(sa[0].seq.wrapping_add(1)).win(0).ports(LISTEN_PORT, 40000));
}
