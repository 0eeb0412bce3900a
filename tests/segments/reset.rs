//! Resets, received and sent (RFC 9293 §3.5.2, §3.10.5, §3.10.7.4 second
//! step), and the blind-attack protections of RFC 5961: exact-match RSTs,
//! challenge ACKs for in-window RSTs and for SYNs, the ACK range check,
//! and per-connection throttling of challenge ACKs.
//!
//! `established()` leaves RCV.NXT = R+1, SND.NXT = L+1, both windows 65535,
//! at t = 100 ms.

use crate::harness::*;

fn established() -> Harness {
    Harness::passive(simple(), PeerOpts::plain())
}

fn challenge(h: &Harness) -> Seg {
    seg().seq(h.l(1)).ack(h.r(1))
}

#[test]
fn rst_with_exact_sequence_number_resets() {
    let mut h = established();
    h.send_at(200, seg().rst().seq(h.r(1)).win(0));
    h.expect_nothing(10_000);
    assert_eq!(h.state(), State::Closed);
    assert!(h.readiness().contains(Readiness::ERROR));
    assert_eq!(h.recv_result(10_000), Err(Error::ConnectionReset));
}

#[test]
fn rst_ack_with_exact_sequence_number_resets() {
    let mut h = established();
    h.send_at(200, seg().rst().seq(h.r(1)).ack(h.l(1)).win(0));
    h.expect_nothing(200);
    assert_eq!(h.app(200, |s, c| s.send(c, b"x")), Err(Error::ConnectionReset));
}

#[test]
fn rst_carrying_data_still_resets() {
    // RFC 9293 §3.5.3: a RST may carry diagnostic data.
    let mut h = established();
    h.send_at(200, seg().rst().seq(h.r(1)).win(0).payload(b"go away"));
    h.expect_nothing(200);
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn rst_is_checked_before_the_ack_field() {
    // RFC 5961 §3.2 / RFC 9293 second step comes before the fifth (ACK):
    // an exact RST resets even if its ACK field is nonsense.
    let mut h = established();
    h.send_at(200, seg().rst().seq(h.r(1)).ack(h.l(100_000)).win(0));
    h.expect_nothing(200);
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn in_window_rst_gets_a_challenge_ack() {
    // RFC 5961 §3.2: in the window but not RCV.NXT: <SEQ=SND.NXT>
    // <ACK=RCV.NXT><CTL=ACK>, and the connection stays.
    let mut h = established();
    h.send_at(200, seg().rst().seq(h.r(2)).win(0));
    h.expect1(200, challenge(&h));
    h.send_at(300, seg().rst().seq(h.r(65535)).win(0));
    h.expect1(300, challenge(&h));
    assert_eq!(h.state(), State::Established);
    h.send_at(400, seg().seq(h.r(1)).ack(h.l(1)).payload(b"still here"));
    assert_eq!(h.read(400), b"still here");
    h.expect1(440, seg().seq(h.l(1)).ack(h.r(11)));
}

#[test]
fn rst_outside_the_window_is_dropped_silently() {
    let mut h = established();
    h.send_at(200, seg().rst().seq(h.r(65536)).win(0));
    h.send_at(210, seg().rst().seq(h.r(0)).win(0));
    h.send_at(220, seg().rst().seq(h.r(0x8000_0000)).ack(h.l(1)).win(0));
    h.expect_nothing(5000);
    assert_eq!(h.state(), State::Established);
}

#[test]
fn rst_resets_every_synchronized_state() {
    // FIN-WAIT-1
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(210, seg().rst().seq(h.r(1)).win(0));
    h.expect_nothing(5000);
    assert_eq!((h.state(), h.recv_result(5000)), (State::Closed, Err(Error::ConnectionReset)));
    // FIN-WAIT-2
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(210, seg().seq(h.r(1)).ack(h.l(2)));
    h.send_at(220, seg().rst().seq(h.r(1)).win(0));
    h.expect_nothing(5000);
    assert_eq!((h.state(), h.recv_result(5000)), (State::Closed, Err(Error::ConnectionReset)));
    // CLOSE-WAIT
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(2)));
    h.send_at(210, seg().rst().seq(h.r(2)).win(0));
    h.expect_nothing(5000);
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.app(5000, |s, c| s.send(c, b"x")), Err(Error::ConnectionReset));
    // LAST-ACK: just CLOSED.
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(2)));
    h.shutdown(300, Shutdown::Write);
    h.expect1(300, seg().fin().seq(h.l(1)).ack(h.r(2)));
    h.send_at(310, seg().rst().seq(h.r(2)).win(0));
    h.expect_nothing(5000);
    assert_eq!(h.state(), State::Closed);
    // CLOSING: just CLOSED.
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(210, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(210, seg().seq(h.l(2)).ack(h.r(2)));
    h.send_at(220, seg().rst().seq(h.r(2)).win(0));
    h.expect_nothing(5000);
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn in_window_rst_in_syn_received_gets_a_challenge_ack() {
    // RFC 5961 §3.2 holds in SYN-RECEIVED too.
    let mut h = Harness::new(simple());
    let l = h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(10, seg().rst().seq(h.r(5)).win(0));
    h.expect1(10, seg().seq(h.l(1)).ack(h.r(1)));
    h.send_at(20, seg().seq(h.r(1)).ack(h.l(1)));
    h.expect_nothing(20);
    assert!(h.stack.accept(l).is_ok());
}

#[test]
fn syn_in_established_gets_a_challenge_ack() {
    // RFC 5961 §4.2: a SYN, whatever its sequence number, gets
    // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and changes nothing.
    let mut h = established();
    h.send_at(200, seg().syn().seq(h.r(1)).mss(1460));
    h.expect1(200, challenge(&h));
    h.send_at(300, seg().syn().seq(h.r(30_000)).mss(1460));
    h.expect1(300, challenge(&h));
    h.send_at(400, seg().syn().seq(h.r(0)).mss(1460));
    h.expect1(400, challenge(&h));
    h.send_at(500, seg().syn().seq(h.r(5_000_000)).mss(1460));
    h.expect1(500, challenge(&h));
    h.send_at(600, seg().syn().seq(h.r(1)).ack(h.l(1)).mss(1460));
    h.expect1(600, challenge(&h));
    assert_eq!(h.state(), State::Established);
    h.write(700, b"ok");
    h.expect1(700, seg().seq(h.l(1)).ack(h.r(1)).psh().payload(b"ok"));
}

#[test]
fn ack_of_unsent_data_is_challenged_and_dropped() {
    // RFC 9293 §3.10.7.4 fifth step and RFC 5961 §5.2: SEG.ACK > SND.NXT:
    // send an ACK, drop the segment (its data too).
    let mut h = established();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(2)).payload(b"bogus"));
    h.expect1(200, challenge(&h));
    assert_eq!(h.read(200), b"");
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(1)).payload(b"real"));
    assert_eq!(h.read(300), b"real");
    h.expect1(340, seg().seq(h.l(1)).ack(h.r(5)));
}

#[test]
fn ack_below_the_acceptable_range_is_challenged_and_dropped() {
    // RFC 5961 §5.2: acceptable is SND.UNA - MAX.SND.WND <= SEG.ACK <=
    // SND.NXT. MAX.SND.WND is 65535 here.
    let mut h = established();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1).wrapping_sub(65536)).payload(b"bogus"));
    h.expect1(200, challenge(&h));
    assert_eq!(h.read(200), b"");
    // The lowest acceptable ACK: an old duplicate, ignored, but the
    // segment's text is processed.
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(1).wrapping_sub(65535)).payload(b"fine"));
    assert_eq!(h.read(300), b"fine");
    h.expect1(340, seg().seq(h.l(1)).ack(h.r(5)));
}

#[test]
fn challenge_acks_are_rate_limited() {
    // RFC 5961 §7, at the configured 10 per second.
    let mut h = established();
    for i in 0..10 {
        h.send_at(5000 + i, seg().rst().seq(h.r(2)).win(0));
        h.expect1(5000 + i, challenge(&h));
    }
    h.send_at(5010, seg().rst().seq(h.r(2)).win(0));
    h.send_at(5500, seg().syn().seq(h.r(1)));
    h.send_at(5999, seg().seq(h.r(1)).ack(h.l(9)));
    h.expect_nothing(5999);
    h.send_at(6000, seg().rst().seq(h.r(2)).win(0));
    h.expect1(6000, challenge(&h));
    assert_eq!(h.state(), State::Established);
}

#[test]
fn challenge_ack_limit_is_per_connection() {
    let mut h = Harness::new(with(simple(), |c| c.challenge_ack_limit = 2));
    h.listen();
    h.open_passive(0, 100, PeerOpts::plain());
    let first = h.c;
    h.c.peer_port = PEER_PORT + 1;
    h.c.irs = PEER_ISS + 77_777;
    h.open_passive(100, 150, PeerOpts::plain());
    let second = h.c;
    // Both within the same second: each connection has its own budget.
    for (c, t0) in [(first, 1000), (second, 1010)] {
        h.c = c;
        for t in [t0, t0 + 1] {
            h.send_at(t, seg().rst().seq(h.r(2)).win(0));
            h.expect1(t, challenge(&h));
        }
        h.send_at(t0 + 2, seg().rst().seq(h.r(2)).win(0));
        h.expect_nothing(t0 + 2);
    }
}

#[test]
fn abort_sends_rst() {
    // RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>.
    let mut h = established();
    h.write(200, &pattern(0, 100));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100));
    h.abort(300);
    h.expect1(300, seg().rst().seq(h.l(101)).win(0));
    h.expect_nothing(10_000);
    assert_eq!(h.stack.socket_count(), 1);
    // Whatever the peer sends next finds no connection.
    h.send_at(10_000, seg().seq(h.r(1)).ack(h.l(101)).payload(b"?"));
    h.expect1(10_000, seg().rst().seq(h.l(101)).win(0));
}

#[test]
fn closed_connection_answers_with_reset() {
    // RFC 9293 §3.10.7.1: in CLOSED any segment but a RST gets a reset,
    // here after the retransmissions gave up (the application still holds
    // its handle).
    let mut h = Harness::passive(with(simple(), |c| c.max_retries = 1), PeerOpts::plain());
    h.write(1000, &pattern(0, 100));
    h.recv_all(1900);
    assert_eq!(h.state(), State::Closed);
    h.send_at(2000, seg().seq(h.r(1)).ack(h.l(101)).payload(b"late"));
    h.expect1(2000, seg().rst().seq(h.l(101)).win(0));
}

#[test]
fn reset_is_reported_once_as_an_event() {
    let mut h = established();
    h.events();
    h.send_at(200, seg().rst().seq(h.r(1)).win(0));
    let ev = h.events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].0, h.sock());
    assert!(ev[0].1.contains(Readiness::ERROR), "{ev:?}");
    assert!(h.events().is_empty());
}
