//! TIME-WAIT (RFC 9293 §3.6, §3.10.7.4; RFC 1122 §4.2.2.13; RFC 6191):
//! it lasts 2·MSL (60 s here), re-acknowledges a retransmitted FIN and
//! restarts, and lets a new SYN reopen the 4-tuple.

use crate::harness::*;

/// Established at 100 ms, closed by us at 200 ms; the peer acknowledges
/// our FIN and sends its own at 300 ms: TIME-WAIT from 300 ms on.
fn in_time_wait(cfg: TcpConfig, opts: PeerOpts) -> Harness {
    let mut h = Harness::passive(cfg, opts);
    h.close(200);
    let fin = h.recv_all(200);
    assert_eq!(fin.len(), 1);
    assert!(fin[0].has(TcpFlags::FIN));
    let ts = opts.ts.map(|_| h.our_ts(200));
    let mut s = seg().fin().seq(h.r(1)).ack(h.l(2));
    if let Some(ecr) = ts {
        s = s.ts(PEER_TS0 + 10, ecr);
    }
    h.send_at(300, s);
    let ack = h.recv_all(300);
    assert_eq!(ack.len(), 1);
    assert_eq!((ack[0].flags, ack[0].seq, ack[0].ack), (TcpFlags::ACK, h.l(2), h.r(2)));
    h
}

#[test]
fn lasts_exactly_two_msl() {
    let mut h = in_time_wait(simple(), PeerOpts::plain());
    h.expect_nothing(60_299);
    assert_eq!(h.stack.socket_count(), 2, "still in TIME-WAIT");
    h.expect_nothing(60_300);
    assert_eq!(h.stack.socket_count(), 1, "gone after 2·MSL");
}

#[test]
fn retransmitted_fin_is_acknowledged_and_restarts_2msl() {
    // "The only thing that can arrive in this state is a retransmission of
    // the remote FIN. Acknowledge it, and restart the 2 MSL timeout."
    let mut h = in_time_wait(simple(), PeerOpts::plain());
    h.send_at(10_000, seg().fin().seq(h.r(1)).ack(h.l(2)));
    h.expect1(10_000, seg().seq(h.l(2)).ack(h.r(2)));
    h.expect_nothing(69_999);
    assert_eq!(h.stack.socket_count(), 2, "2·MSL restarted at 10 s");
    h.expect_nothing(70_000);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn old_segments_are_acknowledged() {
    // Entirely below RCV.NXT: not acceptable, so <SEQ=SND.NXT><ACK=RCV.NXT>
    // (RFC 9293 §3.10.7.4 first step).
    let mut h = in_time_wait(simple(), PeerOpts::plain());
    h.send_at(1000, seg().seq(h.r(1)).ack(h.l(2)).payload(b"o"));
    h.expect1(1000, seg().seq(h.l(2)).ack(h.r(2)));
    assert_eq!(h.stack.socket_count(), 2);
}

#[test]
fn after_time_wait_segments_are_reset() {
    let mut h = in_time_wait(simple(), PeerOpts::plain());
    h.send_at(60_300, seg().seq(h.r(2)).ack(h.l(2)));
    // Only the listener is left: <SEQ=SEG.ACK><CTL=RST>.
    h.expect1(60_300, seg().rst().seq(h.l(2)).win(0));
}

#[test]
fn rst_does_not_end_time_wait() {
    // RFC 1337 ("TIME-WAIT assassination"): an RST in TIME-WAIT is ignored,
    // so the 4-tuple stays reserved for its 2·MSL and old duplicates cannot
    // reach a new incarnation. (RFC 9293 §3.10.7.4's second step would
    // delete the TCB; RFC 1337's fix is what keeps streams apart.)
    let mut h = in_time_wait(simple(), PeerOpts::plain());
    h.send_at(1000, seg().rst().seq(h.r(2)).win(0));
    h.expect_nothing(1000);
    assert_eq!(h.stack.socket_count(), 2, "the listener and the TIME-WAIT connection");
    h.send_at(2000, seg().fin().seq(h.r(1)).ack(h.l(2)));
    h.expect1(2000, seg().seq(h.l(2)).ack(h.r(2)));
}

#[test]
fn new_syn_with_higher_sequence_number_reopens() {
    // RFC 9293 §3.10.7.4 fourth step (TIME-WAIT) with RFC 6191 and RFC
    // 1122 §4.2.2.13: a SYN beyond the old incarnation's sequence space
    // starts a new connection.
    let mut h = in_time_wait(simple(), PeerOpts::plain());
    h.send_at(5000, seg().syn().seq(h.r(100_000)).mss(1460));
    let sa = h.recv_all(5000);
    assert_eq!(sa.len(), 1, "{sa:?}");
    assert_eq!(sa[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(sa[0].ack, h.r(100_001));
    h.send_at(5100, seg().seq(h.r(100_001)).ack(sa[0].seq.wrapping_add(1)));
    h.expect_nothing(5100);
    assert!(h.stack.accept(h.listener.unwrap()).is_ok());
}

#[test]
fn new_syn_with_old_sequence_number_does_not_reopen() {
    // Not beyond RCV.NXT: a SYN in a synchronized state gets the challenge
    // ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (RFC 5961 §4.2).
    let mut h = in_time_wait(simple(), PeerOpts::plain());
    h.send_at(5000, seg().syn().seq(h.r(0)).mss(1460));
    h.expect1(5000, seg().seq(h.l(2)).ack(h.r(2)));
    assert_eq!(h.stack.socket_count(), 2);
}

#[test]
fn new_syn_with_newer_timestamp_reopens() {
    // RFC 6191: with timestamps, a SYN whose TSval is beyond TS.Recent may
    // reopen even if its sequence number is not beyond RCV.NXT.
    let cfg = with(TcpConfig::default(), |c| {
        c.window_scaling = false;
        c.sack = false
    });
    let opts = PeerOpts { ts: Some(PEER_TS0), ..PeerOpts::plain() };
    let mut h = in_time_wait(cfg, opts);
    h.send_at(5000, seg().syn().seq(h.r(0)).mss(1460).ts(PEER_TS0 + 5000, 0));
    let sa = h.recv_all(5000);
    assert_eq!(sa.len(), 1, "{sa:?}");
    assert_eq!(sa[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(sa[0].ack, h.r(1));
}

#[test]
fn simultaneous_close_waits_2msl_from_the_last_ack() {
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.close(200);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(210, seg().fin().seq(h.r(1)).ack(h.l(1)));
    h.expect1(210, seg().seq(h.l(2)).ack(h.r(2)));
    h.send_at(400, seg().seq(h.r(2)).ack(h.l(2)));
    h.expect_nothing(60_399);
    assert_eq!(h.stack.socket_count(), 2);
    h.expect_nothing(60_400);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn active_opener_time_wait_then_port_is_free() {
    let mut h = Harness::active(simple(), PeerOpts::plain());
    h.shutdown(200, Shutdown::Write);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(250, seg().fin().seq(h.r(1)).ack(h.l(2)));
    h.expect1(250, seg().seq(h.l(2)).ack(h.r(2)));
    assert_eq!(h.state(), State::TimeWait);
    h.expect_nothing(60_249);
    assert_eq!(h.state(), State::TimeWait);
    h.expect_nothing(60_250);
    assert_eq!(h.state(), State::Closed);
    // No listener on our port: an ACK now is answered <SEQ=SEG.ACK><CTL=RST>
    // once the application lets go of the handle.
    let c = h.sock();
    h.stack.close(ms(60_250), c).unwrap();
    h.send_at(60_300, seg().seq(h.r(2)).ack(h.l(2)));
    h.expect1(60_300, seg().rst().seq(h.l(2)).win(0));
}
