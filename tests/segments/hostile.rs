//! What a hostile peer (or an off-path attacker who guesses a sequence
//! number) could do to a connection by reading the code: each test here
//! failed before its fix.

use crate::harness::*;

fn ts_only() -> TcpConfig {
    with(simple(), |c| c.timestamps = true)
}

fn peer_ts() -> PeerOpts {
    PeerOpts { ts: Some(PEER_TS0), ..PeerOpts::plain() }
}

#[test]
fn a_forged_segment_with_a_bad_ack_cannot_move_ts_recent() {
    // RFC 7323 §4.3 with Linux's order: TS.Recent is updated only from a
    // segment that passed the RST, SYN and ACK checks. A forged segment
    // with an in-window sequence number but an unacceptable ACK would
    // otherwise set TS.Recent ~2^31 ahead, and PAWS would then drop every
    // genuine segment.
    let mut h = Harness::passive(ts_only(), peer_ts());
    let forged_ts = (PEER_TS0 + 1).wrapping_add(0x7fff_0000);
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(100_000)).ts(forged_ts, 0).payload(b"evil"));
    // The challenge ACK (RFC 5961 §5.2) still echoes the genuine TSval.
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).ts(h.our_ts(200), PEER_TS0 + 1));
    // A genuine segment passes PAWS and is delivered.
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(1)).ts(PEER_TS0 + 2, h.our_ts(200)).data(0, 10));
    h.expect1(340, seg().seq(h.l(1)).ack(h.r(11)).ts(h.our_ts(340), PEER_TS0 + 2));
    assert_eq!(h.read(340), pattern(0, 10));
}

#[test]
fn a_forged_syn_cannot_move_ts_recent() {
    // RFC 5961 §4.2: an in-window SYN gets a challenge ACK and nothing
    // else; its TSval must not become TS.Recent either.
    let mut h = Harness::passive(ts_only(), peer_ts());
    let forged_ts = (PEER_TS0 + 1).wrapping_add(0x7000_0000);
    h.send_at(200, seg().syn().seq(h.r(1)).ts(forged_ts, 0));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).ts(h.our_ts(200), PEER_TS0 + 1));
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(1)).ts(PEER_TS0 + 2, h.our_ts(200)).data(0, 10));
    h.expect1(340, seg().seq(h.l(1)).ack(h.r(11)).ts(h.our_ts(340), PEER_TS0 + 2));
}

#[test]
fn data_beyond_an_out_of_order_fin_is_refused() {
    // The FIN fixes where the stream ends (RFC 9293 §3.10.7.4 eighth
    // step). Bytes past it are not stream bytes: storing them would carry
    // RCV.NXT past the FIN, which would then never be delivered.
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.send_at(200, seg().fin().seq(h.r(1001)).ack(h.l(1)));
    h.expect1(200, our_ack(&h, 0));
    h.send_at(210, peer_bytes(&h, 1000, 1100));
    h.expect1(210, our_ack(&h, 0));
    h.send_at(220, peer_bytes(&h, 500, 1050).fin());
    h.expect1(220, our_ack(&h, 0));
    // The gap fills: the bytes before the FIN, then the FIN itself.
    h.send_at(230, peer_bytes(&h, 0, 500));
    h.expect1(230, seg().seq(h.l(1)).ack(h.r(1002)));
    assert_eq!(h.read(230), pattern(0, 1000));
    assert_eq!(h.recv_result(230), Ok(0), "end of stream after exactly 1000 bytes");
    assert_eq!(h.state(), State::CloseWait);
}

#[test]
fn a_fin_in_order_with_trailing_bytes_ends_the_stream_there() {
    // Data and FIN arriving in order fix the end; in CLOSE-WAIT the text of
    // a later segment with bytes beyond it is ignored (RFC 9293 §3.10.7.4
    // seventh step).
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.send_at(200, peer_bytes(&h, 0, 100).fin());
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(102)));
    h.send_at(210, peer_bytes(&h, 100, 200));
    h.expect_nothing(210);
    assert_eq!(h.read(210), pattern(0, 100));
    assert_eq!(h.recv_result(210), Ok(0));
}
