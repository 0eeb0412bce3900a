//! Connection release (RFC 9293 §3.6, §3.10.4, §3.10.7.4 eighth step):
//! active, passive and simultaneous close, half-close, and closing with
//! data still around (RFC 1122 §4.2.2.13).
//!
//! Every test starts from `Harness::passive`: established at 100 ms, RTO
//! 300 ms, nothing in flight.

use crate::harness::*;

fn established() -> Harness {
    Harness::passive(simple(), PeerOpts::plain())
}

#[test]
fn active_close() {
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    assert_eq!(h.state(), State::FinWait1);
    h.send_at(250, seg().seq(h.r(1)).ack(h.l(2)));
    h.expect_nothing(250);
    assert_eq!(h.state(), State::FinWait2);
    h.send_at(300, seg().fin().seq(h.r(1)).ack(h.l(2)));
    // Eighth step: advance RCV.NXT over the FIN and acknowledge it.
    h.expect1(300, seg().seq(h.l(2)).ack(h.r(2)));
    assert_eq!(h.state(), State::TimeWait);
    assert_eq!(h.recv_result(300), Ok(0));
}

#[test]
fn passive_close() {
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(2)));
    assert_eq!(h.state(), State::CloseWait);
    assert_eq!(h.recv_result(200), Ok(0), "end of stream");
    assert!(h.readiness().contains(Readiness::READABLE | Readiness::READ_CLOSED));
    h.shutdown(300, Shutdown::Write);
    h.expect1(300, seg().fin().seq(h.l(1)).ack(h.r(2)));
    assert_eq!(h.state(), State::LastAck);
    h.send_at(350, seg().seq(h.r(2)).ack(h.l(2)));
    h.expect_nothing(350);
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn passive_close_releases_the_connection() {
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(2)));
    h.close(300);
    h.expect1(300, seg().fin().seq(h.l(1)).ack(h.r(2)));
    assert_eq!(h.stack.socket_count(), 2);
    h.send_at(350, seg().seq(h.r(2)).ack(h.l(2)));
    h.expect_nothing(350);
    assert_eq!(h.stack.socket_count(), 1, "only the listener is left");
}

#[test]
fn simultaneous_close() {
    // RFC 9293 §3.6 figure 13.
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    // The peer's FIN crosses ours: it does not acknowledge our FIN.
    h.send_at(210, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(210, seg().seq(h.l(2)).ack(h.r(2)));
    assert_eq!(h.state(), State::Closing);
    h.send_at(220, seg().seq(h.r(2)).ack(h.l(2)));
    h.expect_nothing(220);
    assert_eq!(h.state(), State::TimeWait);
}

#[test]
fn fin_that_acknowledges_our_fin_goes_straight_to_time_wait() {
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(250, seg().fin().seq(h.r(1)).ack(h.l(2)));
    h.expect1(250, seg().seq(h.l(2)).ack(h.r(2)));
    assert_eq!(h.state(), State::TimeWait);
}

#[test]
fn half_closed_side_still_receives() {
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(250, seg().seq(h.r(1)).ack(h.l(2)));
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(2)).psh().payload(b"more"));
    h.expect1(340, seg().seq(h.l(2)).ack(h.r(5)));
    assert_eq!(h.read(340), b"more");
    assert_eq!(h.state(), State::FinWait2);
    assert_eq!(h.app(340, |s, c| s.send(c, b"x")), Err(Error::BrokenPipe));
    h.send_at(400, seg().fin().seq(h.r(5)).ack(h.l(2)));
    h.expect1(400, seg().seq(h.l(2)).ack(h.r(6)));
    assert_eq!(h.state(), State::TimeWait);
}

#[test]
fn half_closed_peer_still_gets_our_data() {
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(2)));
    h.write(300, b"reply");
    h.expect1(300, seg().seq(h.l(1)).ack(h.r(2)).psh().payload(b"reply"));
    h.send_at(350, seg().seq(h.r(2)).ack(h.l(6)));
    h.shutdown(400, Shutdown::Write);
    h.expect1(400, seg().fin().seq(h.l(6)).ack(h.r(2)));
    h.send_at(450, seg().seq(h.r(2)).ack(h.l(7)));
    h.expect_nothing(450);
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn fin_is_retransmitted_in_closing() {
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(210, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(210, seg().seq(h.l(2)).ack(h.r(2)));
    assert_eq!(h.state(), State::Closing);
    h.expect_nothing(499);
    h.expect1(500, seg().fin().seq(h.l(1)).ack(h.r(2)));
}

#[test]
fn retransmitted_fin_in_close_wait_is_acknowledged_again() {
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(2)));
    h.send_at(500, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(500, seg().seq(h.l(1)).ack(h.r(2)));
    assert_eq!(h.state(), State::CloseWait);
}

#[test]
fn data_and_fin_in_one_segment() {
    let mut h = established();
    h.send_at(200, seg().fin().psh().seq(h.r(1)).ack(h.l(1)).payload(b"bye"));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(5)));
    assert_eq!(h.read(200), b"bye");
    assert_eq!(h.recv_result(200), Ok(0));
    assert_eq!(h.state(), State::CloseWait);
}

#[test]
fn fin_rides_on_the_last_data_segment() {
    let mut h = established();
    h.app(200, |s, c| {
        s.send(c, &pattern(0, 100)).unwrap();
        s.shutdown(c, Shutdown::Write).unwrap();
    });
    h.expect1(200, seg().fin().psh().seq(h.l(1)).ack(h.r(1)).data(0, 100));
    h.send_at(250, seg().seq(h.r(1)).ack(h.l(102)));
    h.expect_nothing(250);
    assert_eq!(h.state(), State::FinWait2);
}

#[test]
fn unacknowledged_fin_is_retransmitted() {
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    let fin = seg().fin().seq(h.l(1)).ack(h.r(1));
    h.expect1(200, fin.clone());
    h.expect_nothing(499);
    h.expect1(500, fin.clone());
    h.expect_nothing(1099);
    h.expect1(1100, fin);
}

#[test]
fn fin_in_last_ack_is_retransmitted() {
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(2)));
    h.shutdown(300, Shutdown::Write);
    let fin = seg().fin().seq(h.l(1)).ack(h.r(2));
    h.expect1(300, fin.clone());
    h.expect_nothing(599);
    h.expect1(600, fin);
}

#[test]
fn out_of_order_fin_waits_for_the_data_before_it() {
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(11)).ack(h.l(1)));
    // Out of order: an immediate duplicate ACK (RFC 5681 §4.2), which tells
    // the peer what is missing.
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)));
    assert_eq!(h.state(), State::Established);
    h.send_at(210, seg().seq(h.r(1)).ack(h.l(1)).data(0, 10));
    h.expect1(210, seg().seq(h.l(1)).ack(h.r(12)));
    assert_eq!(h.state(), State::CloseWait);
    assert_eq!(h.read(210), pattern(0, 10));
    assert_eq!(h.recv_result(210), Ok(0));
}

#[test]
fn close_with_unread_data_resets() {
    // RFC 1122 §4.2.2.13: CLOSE with received data pending SHOULD send a
    // RST; its form is ABORT's, <SEQ=SND.NXT><CTL=RST> (RFC 9293 §3.10.5).
    let mut h = established();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).payload(b"unread"));
    h.close(210);
    h.expect1(210, seg().rst().seq(h.l(1)).win(0));
    h.expect_nothing(5000);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn data_arriving_after_close_resets() {
    // RFC 1122 §4.2.2.13: new data received after CLOSE: RST.
    let mut h = established();
    h.close(200);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(250, seg().seq(h.r(1)).ack(h.l(2)));
    h.expect_nothing(250);
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(2)).payload(b"late"));
    h.expect1(300, seg().rst().seq(h.l(2)).win(0));
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn shutdown_write_then_send_is_broken_pipe() {
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    assert_eq!(h.app(200, |s, c| s.send(c, b"x")), Err(Error::BrokenPipe));
    assert!(h.readiness().contains(Readiness::WRITE_CLOSED));
}

#[test]
fn orphaned_fin_wait_2_is_bounded() {
    let mut h = established();
    h.close(200);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(250, seg().seq(h.r(1)).ack(h.l(2)));
    // fin_wait2_timeout (60 s) after FIN-WAIT-2 began.
    h.expect_nothing(60_249);
    assert_eq!(h.stack.socket_count(), 2);
    h.expect_nothing(60_250);
    assert_eq!(h.stack.socket_count(), 1);
    // The peer's late FIN now finds only the listener: an ACK-bearing
    // segment there gets <SEQ=SEG.ACK><CTL=RST>.
    h.send_at(61_000, seg().fin().seq(h.r(1)).ack(h.l(2)));
    h.expect1(61_000, seg().rst().seq(h.l(2)).win(0));
}

#[test]
fn close_in_close_wait_sends_fin_after_queued_data() {
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(2)));
    assert_eq!(h.recv_result(200), Ok(0));
    h.app(300, |s, c| {
        s.send(c, b"last words").unwrap();
        s.close(ms(300), c).unwrap();
    });
    h.expect1(300, seg().fin().psh().seq(h.l(1)).ack(h.r(2)).payload(b"last words"));
    h.send_at(350, seg().seq(h.r(2)).ack(h.l(12)));
    h.expect_nothing(350);
    assert_eq!(h.stack.socket_count(), 1);
}
