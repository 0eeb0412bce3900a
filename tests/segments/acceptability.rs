//! RFC 9293 §3.10.7.4 first step: the four acceptability cases, with a
//! 1000-byte receive buffer so that the window edges are easy to reach.
//! An unacceptable segment (not a RST) is answered with
//! <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and dropped.

use crate::harness::*;

/// Established at 100 ms with a 1000-byte receive window.
fn small_window() -> Harness {
    Harness::passive(with(simple(), |c| c.recv_buffer = 1000), PeerOpts::plain())
}

fn ack_now(h: &Harness, rcv_nxt: u32, win: u16) -> Seg {
    seg().seq(h.l(1)).ack(h.r(rcv_nxt)).win(win)
}

#[test]
fn empty_segment_open_window() {
    // RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND.
    let mut h = small_window();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)));
    h.send_at(210, seg().seq(h.r(1000)).ack(h.l(1)));
    h.expect_nothing(210);
    h.send_at(220, seg().seq(h.r(1001)).ack(h.l(1)));
    h.expect1(220, ack_now(&h, 1, 1000));
    // Unacceptable segments without data are answered at most once per
    // `invalid_ack_interval` (500 ms, Linux's tcp_invalid_ratelimit)...
    h.send_at(230, seg().seq(h.r(0)).ack(h.l(1)));
    h.expect_nothing(719);
    h.send_at(720, seg().seq(h.r(0)).ack(h.l(1)));
    h.expect1(720, ack_now(&h, 1, 1000));
    // ... and those with data always (they make no ACK loop).
    h.send_at(730, seg().seq(h.r(0)).ack(h.l(1)).payload(b"x"));
    h.expect1(730, ack_now(&h, 1, 1000));
}

#[test]
fn data_straddling_the_right_edge_is_trimmed() {
    // Acceptable when either end lies in the window; what lies beyond
    // the window is dropped.
    let mut h = small_window();
    h.send_at(200, seg().seq(h.r(1000)).ack(h.l(1)).data(999, 2));
    // Out of order: immediate duplicate ACK.
    h.expect1(200, ack_now(&h, 1, 1000));
    h.send_at(210, seg().seq(h.r(1)).ack(h.l(1)).data(0, 999));
    // The byte at offset 999 was kept, the one at 1000 was not.
    h.expect1(210, ack_now(&h, 1001, 0));
    assert_eq!(h.read(210), pattern(0, 1000));
}

#[test]
fn data_straddling_the_left_edge_delivers_the_new_part() {
    let mut h = small_window();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 10));
    assert_eq!(h.read(200), pattern(0, 10));
    h.send_at(210, seg().seq(h.r(6)).ack(h.l(1)).data(5, 10));
    assert_eq!(h.read(210), pattern(10, 5));
    // 15 bytes in order, less than two full segments: one delayed ACK.
    // The right edge stays put (RFC 9293 §3.8.6.2.2): 15 bytes read are
    // not worth offering yet.
    h.expect1(240, ack_now(&h, 16, 985));
}

#[test]
fn data_beyond_the_window_is_not_acceptable() {
    let mut h = small_window();
    h.send_at(200, seg().seq(h.r(1001)).ack(h.l(1)).data(1000, 10));
    h.expect1(200, ack_now(&h, 1, 1000));
    // Nothing of it was kept: filling the window leaves RCV.NXT at its
    // right edge.
    h.send_at(210, seg().seq(h.r(1)).ack(h.l(1)).data(0, 1000));
    h.expect1(250, ack_now(&h, 1001, 0));
}

#[test]
fn old_duplicate_data_is_not_acceptable() {
    let mut h = small_window();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 10));
    h.expect1(240, ack_now(&h, 11, 990));
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(1)).data(0, 10));
    h.expect1(300, ack_now(&h, 11, 990));
    assert_eq!(h.read(300), pattern(0, 10));
}

#[test]
fn zero_window_accepts_only_an_empty_segment_at_rcv_nxt() {
    let mut h = small_window();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 1000));
    h.expect1(240, ack_now(&h, 1001, 0));
    // len 0, window 0: acceptable only at RCV.NXT.
    h.send_at(300, seg().seq(h.r(1001)).ack(h.l(1)));
    h.expect_nothing(300);
    h.send_at(310, seg().seq(h.r(1002)).ack(h.l(1)));
    h.expect1(310, ack_now(&h, 1001, 0));
    // len > 0, window 0: never acceptable (a zero-window probe).
    h.send_at(320, seg().seq(h.r(1001)).ack(h.l(1)).data(1000, 1));
    h.expect1(320, ack_now(&h, 1001, 0));
    assert_eq!(h.read(320), pattern(0, 1000), "the probe byte was not kept");
    // Reading everything reopens the window (RFC 1122 §4.2.3.3).
    h.expect1(320, ack_now(&h, 1001, 1000));
}

#[test]
fn zero_window_still_processes_acks() {
    // "If the RCV.WND is zero, no segments will be acceptable, but special
    // allowance should be made to accept valid ACKs, URGs, and RSTs."
    let mut h = small_window();
    h.write(150, b"hi");
    h.expect1(150, seg().seq(h.l(1)).ack(h.r(1)).win(1000).psh().payload(b"hi"));
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 1000));
    h.expect1(240, seg().seq(h.l(3)).ack(h.r(1001)).win(0));
    assert!(!h.stack.all_acknowledged(h.sock()).unwrap());
    // A probe carrying the ACK of our data: the byte is refused, the ACK
    // taken.
    h.send_at(300, seg().seq(h.r(1001)).ack(h.l(3)).data(1000, 1));
    h.expect1(300, seg().seq(h.l(3)).ack(h.r(1001)).win(0));
    assert!(h.stack.all_acknowledged(h.sock()).unwrap());
}

#[test]
fn zero_window_still_processes_rst() {
    let mut h = small_window();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 1000));
    h.expect1(240, ack_now(&h, 1001, 0));
    h.send_at(300, seg().rst().seq(h.r(1001)).win(0));
    h.expect_nothing(300);
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn unacceptable_rst_gets_no_answer() {
    let mut h = small_window();
    h.send_at(200, seg().rst().seq(h.r(1001)).win(0));
    h.send_at(210, seg().rst().seq(h.r(0)).ack(h.l(1)).win(0));
    h.expect_nothing(1000);
    assert_eq!(h.state(), State::Established);
}

#[test]
fn segment_without_ack_is_dropped() {
    // RFC 9293 §3.10.7.4 fifth step: "if the ACK bit is off, drop the
    // segment and return".
    let mut h = small_window();
    h.send_at(200, seg().seq(h.r(1)).data(0, 10));
    h.expect_nothing(1000);
    assert_eq!(h.read(1000), b"");
    h.send_at(1100, seg().seq(h.r(1)).ack(h.l(1)).data(0, 10));
    assert_eq!(h.read(1100), pattern(0, 10));
}
