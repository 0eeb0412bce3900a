//! Close paths through the application's handle (RFC 9293 §3.10.4-5, RFC
//! 1122 §4.2.2.13): shutdown and close before the handshake completes,
//! close with data around, shutdown(Read), orphans, and what `recv` and
//! `send` return after each way a connection ends.

use crate::harness::*;

fn established() -> Harness {
    Harness::passive(simple(), PeerOpts::plain())
}

/// An active open whose SYN left at 0 and is still unanswered.
fn syn_sent() -> Harness {
    let mut h = Harness::new(simple());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460));
    h
}

fn syn_ack(h: &Harness) -> Seg {
    seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460)
}

#[test]
fn shutdown_write_in_syn_sent_sends_the_fin_after_the_data() {
    // RFC 9293 §3.10.4 (SYN-SENT/SYN-RECEIVED): queue the FIN for after
    // the data, once established. Data and FIN may ride on the ACK that
    // completes the handshake.
    let mut h = syn_sent();
    assert_eq!(h.app(10, |s, c| s.send(c, b"early")), Ok(5));
    h.shutdown(20, Shutdown::Write);
    assert!(h.readiness().contains(Readiness::WRITE_CLOSED));
    assert_eq!(h.app(30, |s, c| s.send(c, b"late")), Err(Error::BrokenPipe));
    h.expect_nothing(99);
    h.send_at(100, syn_ack(&h));
    h.expect1(100, seg().fin().psh().seq(h.l(1)).ack(h.r(1)).payload(b"early"));
    assert_eq!(h.state(), State::FinWait1);
    h.send_at(150, seg().seq(h.r(1)).ack(h.l(7)));
    h.expect_nothing(150);
    assert_eq!(h.state(), State::FinWait2);
}

#[test]
fn shutdown_write_in_syn_sent_without_data() {
    let mut h = syn_sent();
    h.shutdown(20, Shutdown::Write);
    h.send_at(100, syn_ack(&h));
    h.expect1(100, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(150, seg().fin().seq(h.r(1)).ack(h.l(2)));
    h.expect1(150, seg().seq(h.l(2)).ack(h.r(2)));
    assert_eq!(h.state(), State::TimeWait);
}

#[test]
fn close_in_syn_sent_deletes_the_connection() {
    // RFC 9293 §3.10.4, SYN-SENT: "Delete the TCB and return 'error:
    // closing' responses to any queued SENDs". A SYN-ACK arriving later
    // finds no connection: <SEQ=SEG.ACK><CTL=RST>.
    let mut h = syn_sent();
    let c = h.sock();
    h.close(50);
    h.expect_nothing(50);
    assert_eq!(h.stack.socket_count(), 0);
    assert_eq!(h.stack.state(c), Err(Error::InvalidHandle));
    h.send_at(100, syn_ack(&h));
    h.expect1(100, seg().rst().seq(h.l(1)).win(0));
    // The SYN is not retransmitted either.
    h.expect_nothing(10_000);
}

#[test]
fn close_in_syn_sent_with_queued_data_delivers_it_then_the_fin() {
    // `connect` does not block, so data written before the handshake
    // completes is delivered, then the FIN (the module doc of
    // `Connection::queue_fin`).
    let mut h = syn_sent();
    h.write(10, b"request");
    h.close(20);
    h.expect_nothing(99);
    assert_eq!(h.stack.socket_count(), 1);
    h.send_at(100, syn_ack(&h));
    h.expect1(100, seg().fin().psh().seq(h.l(1)).ack(h.r(1)).payload(b"request"));
    h.send_at(150, seg().seq(h.r(1)).ack(h.l(9)));
    h.expect_nothing(150);
    // The orphan in FIN-WAIT-2 is bounded (60 s).
    h.expect_nothing(60_149);
    assert_eq!(h.stack.socket_count(), 1);
    h.expect_nothing(60_150);
    assert_eq!(h.stack.socket_count(), 0);
}

#[test]
fn close_with_unread_data_in_close_wait_resets() {
    // RFC 1122 §4.2.2.13: CLOSE with received data pending: RST.
    let mut h = established();
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(1)).payload(b"unread"));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(8)));
    assert_eq!(h.state(), State::CloseWait);
    h.close(300);
    h.expect1(300, seg().rst().seq(h.l(1)).win(0));
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn close_after_reading_everything_is_graceful() {
    let mut h = established();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).payload(b"read me"));
    assert_eq!(h.read(210), b"read me");
    h.close(220);
    // The delayed ACK is owed too; it rides on the FIN.
    h.expect1(220, seg().fin().seq(h.l(1)).ack(h.r(8)));
}

#[test]
fn data_after_close_in_fin_wait_1_resets() {
    // RFC 1122 §4.2.2.13: "if new data is received after CLOSE is called,
    // its TCP SHOULD send a RST to show that data was lost".
    let mut h = established();
    h.close(200);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(210, seg().seq(h.r(1)).ack(h.l(1)).payload(b"late"));
    h.expect1(210, seg().rst().seq(h.l(2)).win(0));
    assert_eq!(h.stack.socket_count(), 1);
    // A pure retransmission of data already read is no new data.
    let mut h = established();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).payload(b"old"));
    assert_eq!(h.read(200), b"old");
    h.close(210);
    h.expect1(210, seg().fin().seq(h.l(1)).ack(h.r(4)));
    h.send_at(220, seg().seq(h.r(1)).ack(h.l(2)).payload(b"old"));
    h.expect1(220, seg().seq(h.l(2)).ack(h.r(4)));
    assert_eq!(h.stack.socket_count(), 2);
}

#[test]
fn shutdown_read_discards_what_arrives_and_keeps_the_window_open() {
    let mut h = Harness::passive(with(simple(), |c| c.recv_buffer = 4096), PeerOpts::plain());
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).payload(b"pending"));
    h.shutdown(210, Shutdown::Read);
    assert_eq!(h.recv_result(210), Ok(0), "end of stream for the reader");
    assert!(h.readiness().contains(Readiness::READABLE | Readiness::READ_CLOSED));
    // Seven bytes freed: SWS avoidance keeps the right edge (4096 - 7).
    h.expect1(240, seg().seq(h.l(1)).ack(h.r(8)).win(4089));
    // Later data is acknowledged (so the peer is not stuck retransmitting)
    // and dropped: four segments, 5840 bytes, go into a 4096-byte buffer
    // without ever closing the window.
    let mut acks = Vec::new();
    for k in 0..4u32 {
        let t = 300 + 100 * u64::from(k);
        h.send_at(t, seg().seq(h.r(8 + 1460 * k)).ack(h.l(1)).data(0, 1460));
        acks.extend(h.recv_all(t + 40));
    }
    assert_eq!(acks.last().map(|a| a.ack), Some(h.r(8 + 5840)), "{acks:?}");
    assert!(acks.iter().all(|a| a.window >= 4096 - 1460), "{acks:?}");
    assert_eq!(h.recv_result(740), Ok(0));
    // Writing still works, and close is graceful (nothing unread).
    h.write(800, b"reply");
    let reply = h.recv_all(800);
    assert_eq!(reply.len(), 1);
    assert_eq!((reply[0].seq, reply[0].ack, &reply[0].payload[..]), (h.l(1), h.r(5848), &b"reply"[..]));
    h.close(900);
    let fin = h.recv_all(900);
    assert_eq!(fin.len(), 1);
    assert_eq!((fin[0].flags, fin[0].seq), (TcpFlags::FIN | TcpFlags::ACK, h.l(6)), "{fin:?}");
}

#[test]
fn reset_is_reported_once_then_end_of_stream_and_broken_pipe() {
    // std::net: a reset surfaces once as ConnectionReset; afterwards reads
    // see the end and writes a broken pipe.
    let mut h = established();
    h.send_at(200, seg().rst().seq(h.r(1)).win(0));
    assert_eq!(h.recv_result(210), Err(Error::ConnectionReset));
    assert_eq!(h.recv_result(210), Ok(0));
    assert_eq!(h.app(210, |s, c| s.send(c, b"x")), Err(Error::BrokenPipe));
    assert_eq!(h.recv_result(210), Ok(0));
    // Reported through `send` first, it is not reported again by `recv`.
    let mut h = established();
    h.send_at(200, seg().rst().seq(h.r(1)).win(0));
    assert_eq!(h.app(210, |s, c| s.send(c, b"x")), Err(Error::ConnectionReset));
    assert_eq!(h.recv_result(210), Ok(0));
    assert_eq!(h.app(210, |s, c| s.send(c, b"x")), Err(Error::BrokenPipe));
    h.expect_nothing(10_000);
}

#[test]
fn data_that_arrived_before_a_reset_is_read_first() {
    let mut h = established();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).payload(b"last words"));
    h.send_at(210, seg().rst().seq(h.r(11)).win(0));
    assert_eq!(h.read_max(220, 4), b"last");
    assert_eq!(h.read_max(220, 6), b" words");
    assert_eq!(h.recv_result(220), Err(Error::ConnectionReset));
    assert_eq!(h.recv_result(220), Ok(0));
}

#[test]
fn retransmission_timeout_is_reported_once() {
    let mut h = Harness::passive(with(simple(), |c| c.max_retries = 2), PeerOpts::plain());
    h.write(200, b"hello?");
    let sent = h.recv_all(10_000);
    assert_eq!(sent.len(), 3, "the first send and two retransmissions: {sent:?}");
    assert_eq!(h.state(), State::Closed);
    assert!(h.readiness().contains(Readiness::ERROR));
    assert_eq!(h.app(10_000, |s, c| s.send(c, b"x")), Err(Error::TimedOut));
    assert_eq!(h.recv_result(10_000), Ok(0));
    assert_eq!(h.app(10_000, |s, c| s.send(c, b"x")), Err(Error::BrokenPipe));
}

#[test]
fn unanswered_syn_is_timed_out_and_refusal_is_refused() {
    let mut h = Harness::new(with(simple(), |c| c.syn_retries = 1));
    h.connect(0);
    let syns = h.recv_timed(10_000);
    let times: Vec<u64> = syns.iter().map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, [0, 1000], "{syns:?}");
    assert_eq!(h.recv_result(10_000), Err(Error::TimedOut));
    assert_eq!(h.recv_result(10_000), Ok(0));
    let mut h = syn_sent();
    h.send_at(50, seg().rst().ack(h.l(1)).win(0));
    assert!(h.readiness().contains(Readiness::ERROR));
    assert!(!h.readiness().contains(Readiness::CONNECTED));
    assert_eq!(h.app(60, |s, c| s.send(c, b"x")), Err(Error::ConnectionRefused));
    assert_eq!(h.app(60, |s, c| s.send(c, b"x")), Err(Error::BrokenPipe));
    assert_eq!(h.recv_result(60), Ok(0));
}

#[test]
fn close_after_half_close_bounds_fin_wait_2_from_the_close() {
    // The application shut down writing (FIN-WAIT-2, not orphaned: no
    // limit), then lets go of the handle: the 60 s limit starts then.
    let mut h = established();
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(250, seg().seq(h.r(1)).ack(h.l(2)));
    h.expect_nothing(5000);
    assert_eq!(h.state(), State::FinWait2);
    h.close(5000);
    h.expect_nothing(64_999);
    assert_eq!(h.stack.socket_count(), 2);
    h.expect_nothing(65_000);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn abort_in_syn_sent_sends_nothing() {
    // RFC 9293 §3.10.5, SYN-SENT: no reset, just delete the TCB.
    let mut h = syn_sent();
    h.abort(50);
    h.expect_nothing(10_000);
    assert_eq!(h.stack.socket_count(), 0);
}
