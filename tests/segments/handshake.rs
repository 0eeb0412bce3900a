//! Connection establishment (RFC 9293 §3.5, §3.10.7.2-§3.10.7.4): passive,
//! active and simultaneous open, and what goes wrong on the way.

use crate::harness::*;

#[test]
fn passive_open() {
    let mut h = Harness::new(simple());
    let l = h.listen();
    h.send_at(0, seg().syn().seq(h.r(0)).mss(1460));
    // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>, with our MSS (MTU 1500 - 40).
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    assert_eq!(h.stack.accept(l), Err(Error::WouldBlock), "not accepted before the handshake completes");
    assert!(!h.stack.readiness(l).unwrap().contains(Readiness::READABLE));
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)));
    h.expect_nothing(100);
    assert_eq!(h.stack.readiness(l).unwrap(), Readiness::READABLE);
    let c = h.stack.accept(l).unwrap();
    assert_eq!(h.stack.state(c), Ok(State::Established));
    let r = h.stack.readiness(c).unwrap();
    assert!(r.contains(Readiness::CONNECTED | Readiness::WRITABLE), "{r:?}");
}

#[test]
fn syn_ack_carries_only_options_the_syn_offered() {
    // RFC 7323 §2.2 and §3.2: window scale and timestamps go on a SYN-ACK
    // only if the SYN carried them; RFC 2018 §2 likewise for SACK-permitted.
    let mut h = Harness::new(TcpConfig::default());
    h.listen();
    h.send_at(0, seg().syn().seq(h.r(0)));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
}

#[test]
fn syn_ack_answers_every_offered_option() {
    let mut h = Harness::new(TcpConfig::default());
    h.listen();
    h.send_at(7, h.peer_syn(PeerOpts::full()));
    // 256 KiB receive buffer: shift 3. The SYN-ACK's window is never
    // scaled (RFC 7323 §2.2). TSecr echoes the SYN's TSval (§3.2).
    let sa = h.expect_syn(7, seg().syn().ack(h.r(1)).mss(1460).ws(3).sack_perm().ts(0, PEER_TS0));
    assert_eq!(sa.options.timestamps.unwrap().tsval, h.our_ts(7));
    // Then the handshake's ACK: from now on our window field is scaled.
    h.send_at(50, seg().seq(h.r(1)).ack(h.l(1)).ts(PEER_TS0 + 1, h.our_ts(7)));
    h.expect_nothing(50);
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.send_at(60, seg().seq(h.r(1)).ack(h.l(1)).ts(PEER_TS0 + 2, h.our_ts(7)).payload(b"x"));
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(2)).win(32767).ts(h.our_ts(100), PEER_TS0 + 2));
}

#[test]
fn active_open() {
    let mut h = Harness::new(simple());
    let c = h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460));
    assert_eq!(h.state(), State::SynSent);
    assert!(!h.readiness().contains(Readiness::CONNECTED | Readiness::WRITABLE));
    h.send_at(100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460));
    // RFC 9293 §3.10.7.3: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(1)));
    assert_eq!(h.state(), State::Established);
    let events = h.events();
    assert!(events.iter().any(|(s, r)| *s == c && r.contains(Readiness::CONNECTED)), "{events:?}");
}

#[test]
fn active_open_offers_every_option() {
    let mut h = Harness::new(TcpConfig::default());
    h.connect(0);
    let syn = h.expect_syn(0, seg().syn().mss(1460).ws(3).sack_perm().ts(0, 0));
    assert_ne!(syn.options.timestamps.unwrap().tsval, 0);
}

#[test]
fn data_queued_in_syn_sent_follows_the_handshake() {
    let mut h = Harness::new(simple());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460));
    assert_eq!(h.app(10, |s, c| s.send(c, b"early")), Ok(5));
    h.expect_nothing(99);
    h.send_at(100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460));
    // The ACK of the SYN-ACK may carry the queued data (RFC 9293 §3.10.7.3).
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(1)).psh().payload(b"early"));
}

#[test]
fn syn_ack_with_unacceptable_ack_gets_reset() {
    // RFC 9293 §3.10.7.3: SEG.ACK =< ISS or SEG.ACK > SND.NXT gets
    // <SEQ=SEG.ACK><CTL=RST>, and the connection stays in SYN-SENT.
    let mut h = Harness::new(simple());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460));
    h.send_at(50, seg().syn().seq(h.r(0)).ack(h.l(5)).mss(1460));
    h.expect1(50, seg().rst().seq(h.l(5)).win(0));
    h.send_at(60, seg().syn().seq(h.r(0)).ack(h.l(0)).mss(1460));
    h.expect1(60, seg().rst().seq(h.l(0)).win(0));
    assert_eq!(h.state(), State::SynSent);
    h.send_at(100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460));
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(1)));
    assert_eq!(h.state(), State::Established);
}

#[test]
fn rst_answering_our_syn_refuses_the_connection() {
    let mut h = Harness::new(simple());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460));
    h.send_at(50, seg().rst().seq(0).ack(h.l(1)).win(0));
    h.expect_nothing(5000);
    assert_eq!(h.recv_result(5000), Err(Error::ConnectionRefused));
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn rst_in_syn_sent_without_acceptable_ack_is_ignored() {
    // RFC 9293 §3.10.7.3: a RST without ACK is dropped; a RST whose ACK is
    // unacceptable is dropped (never answered with a RST).
    let mut h = Harness::new(simple());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460));
    h.send_at(10, seg().rst().seq(h.r(0)).win(0));
    h.send_at(20, seg().rst().seq(h.r(0)).ack(h.l(9)).win(0));
    h.expect_nothing(20);
    assert_eq!(h.state(), State::SynSent);
    h.send_at(100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460));
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(1)));
}

#[test]
fn simultaneous_open() {
    // RFC 9293 §3.5 figure 8. Our SYN and the peer's SYN cross.
    let mut h = Harness::new(simple());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460));
    h.send_at(50, seg().syn().seq(h.r(0)).mss(1460));
    // §3.10.7.3: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    h.expect1(50, seg().syn().seq(h.l(0)).ack(h.r(1)).mss(1460));
    assert_eq!(h.state(), State::SynReceived);
    // The peer's SYN-ACK (it got our SYN): whatever we answer is an ACK of
    // its SYN, never a reset.
    h.send_at(60, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460));
    for s in h.recv_all(60) {
        assert_eq!(s, h.outbound(seg().seq(h.l(1)).ack(h.r(1))));
    }
    // The peer got our SYN-ACK too and acknowledges it.
    h.send_at(70, seg().seq(h.r(1)).ack(h.l(1)));
    h.expect_nothing(70);
    assert_eq!(h.state(), State::Established);
    // Data flows both ways.
    h.send_at(80, seg().seq(h.r(1)).ack(h.l(1)).payload(b"ping"));
    h.write(80, b"pong");
    h.expect1(80, seg().seq(h.l(1)).ack(h.r(5)).psh().payload(b"pong"));
    assert_eq!(h.read(80), b"ping");
}

#[test]
fn syn_retransmitted_with_exponential_backoff() {
    // RFC 6298 §2.1 (initial RTO 1 s) and §5.5 (doubling); the
    // retransmitted SYN is the same segment.
    let mut h = Harness::new(simple());
    h.connect(0);
    let syn = h.expect_syn(0, seg().syn().mss(1460));
    h.expect_nothing(999);
    for t in [1000, 3000, 7000, 15000, 31000, 63000] {
        h.expect_nothing(t - 1);
        h.expect1(t, syn.clone());
    }
}

#[test]
fn syn_retransmitted_for_at_least_three_minutes() {
    // RFC 9293 §3.8.3 (MUST-23), RFC 1122 §4.2.3.5: "R2 for a SYN segment
    // MUST be set large enough to provide retransmission of the segment
    // for at least 3 minutes."
    let mut h = Harness::new(simple());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460));
    let sent = h.recv_all(179_999);
    assert!(sent.iter().all(|s| s.flags == TcpFlags::SYN), "{sent:?}");
    assert_eq!(h.state(), State::SynSent, "gave up on the SYN before 3 minutes");
}

#[test]
fn syn_ack_retransmitted_then_given_up() {
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    let sa = h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    for t in [1000, 3000, 7000, 15000, 31000] {
        h.expect_nothing(t - 1);
        h.expect1(t, sa.clone());
    }
    // After `synack_retries` (5, as Linux's tcp_synack_retries) the
    // half-open connection is dropped at the next timeout (63 s); a late
    // ACK then finds only the listener and is reset.
    h.expect_nothing(62_999);
    assert_eq!(h.stack.socket_count(), 2);
    h.expect_nothing(600_000);
    assert_eq!(h.stack.socket_count(), 1);
    h.send_at(600_000, seg().seq(h.r(1)).ack(h.l(1)));
    h.expect1(600_000, seg().rst().seq(h.l(1)).win(0));
}

#[test]
fn retransmitted_syn_in_syn_received_is_answered() {
    // The peer's SYN is retransmitted (our SYN-ACK was lost). RFC 9293
    // §3.10.7.4 and RFC 5961 §4 allow the challenge ACK
    // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>; repeating the SYN-ACK (what
    // Linux does, and what a peer in SYN-SENT can use) is better. Either
    // way the half-open connection survives and completes.
    let mut h = Harness::new(simple());
    let l = h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    let sa = h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(500, h.peer_syn(PeerOpts::plain()));
    let got = h.recv_all(500);
    let challenge = h.outbound(seg().seq(h.l(1)).ack(h.r(1)));
    assert!(got == [sa.clone()] || got == [challenge], "{got:?}");
    assert_eq!(h.stack.socket_count(), 2, "one listener and one half-open connection");
    h.send_at(600, seg().seq(h.r(1)).ack(h.l(1)));
    h.expect_nothing(600);
    assert!(h.stack.accept(l).is_ok());
}

#[test]
fn rst_in_syn_received_returns_to_listen() {
    // RFC 9293 §3.10.7.4 second step: a passive SYN-RECEIVED connection
    // reset by the peer goes back to LISTEN, silently.
    let mut h = Harness::new(simple());
    let l = h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(10, seg().rst().seq(h.r(1)).win(0));
    h.expect_nothing(5000);
    assert_eq!(h.stack.accept(l), Err(Error::WouldBlock));
    assert_eq!(h.stack.socket_count(), 1);
    // The listener still works.
    h.send_at(6000, seg().syn().seq(h.r(100)).mss(1460));
    let sa = h.recv_all(6000);
    assert_eq!(sa.len(), 1);
    assert_eq!(sa[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(sa[0].ack, h.r(101));
}

#[test]
fn unacceptable_ack_in_syn_received_gets_reset() {
    // RFC 9293 §3.10.7.4 fifth step, SYN-RECEIVED: an unacceptable ACK
    // gets <SEQ=SEG.ACK><CTL=RST>; the connection waits on.
    let mut h = Harness::new(simple());
    let l = h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(10, seg().seq(h.r(1)).ack(h.l(100)));
    h.expect1(10, seg().rst().seq(h.l(100)).win(0));
    h.send_at(20, seg().seq(h.r(1)).ack(h.l(0)));
    h.expect1(20, seg().rst().seq(h.l(0)).win(0));
    h.send_at(30, seg().seq(h.r(1)).ack(h.l(1)));
    h.expect_nothing(30);
    let c = h.stack.accept(l).unwrap();
    assert_eq!(h.stack.state(c), Ok(State::Established));
}

#[test]
fn handshake_ack_may_carry_data() {
    let mut h = Harness::new(simple());
    let l = h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)).psh().payload(b"hello"));
    h.c.sock = Some(h.stack.accept(l).unwrap());
    assert_eq!(h.read(100), b"hello");
    h.expect1(140, seg().seq(h.l(1)).ack(h.r(6)));
}
