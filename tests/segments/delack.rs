//! Delayed acknowledgments (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2, RFC
//! 5681 §4.2): at most 40 ms here (500 ms is the limit), at least every
//! second full-sized segment, at once for out-of-order data and gap fills,
//! and piggybacked on data when there is some.

use crate::harness::*;

fn established() -> Harness {
    Harness::passive(simple(), PeerOpts::plain())
}

#[test]
fn one_segment_is_acknowledged_after_the_delay() {
    let mut h = established();
    h.send_at(200, peer_bytes(&h, 0, 100));
    h.expect_nothing(239);
    h.expect1(240, our_ack(&h, 100));
}

#[test]
fn configured_delay_is_honoured() {
    let cfg = with(simple(), |c| c.delayed_ack = Duration::from_millis(200));
    let mut h = Harness::passive(cfg, PeerOpts::plain());
    h.send_at(200, peer_bytes(&h, 0, 100));
    h.expect_nothing(399);
    h.expect1(400, our_ack(&h, 100));
}

#[test]
fn every_second_full_segment_is_acknowledged_at_once() {
    let mut h = established();
    h.send_at(200, peer_bytes(&h, 0, 1460));
    h.expect_nothing(205);
    h.send_at(205, peer_bytes(&h, 1460, 2920));
    h.expect1(205, our_ack(&h, 2920));
    h.send_at(210, peer_bytes(&h, 2920, 4380));
    h.expect_nothing(215);
    h.send_at(215, peer_bytes(&h, 4380, 5840));
    h.expect1(215, our_ack(&h, 5840));
    h.send_at(220, peer_bytes(&h, 5840, 7300));
    h.expect1(260, our_ack(&h, 7300));
}

#[test]
fn the_delay_runs_from_the_first_unacknowledged_segment() {
    let mut h = established();
    for (t, from) in [(200, 0), (210, 100), (230, 200)] {
        h.send_at(t, peer_bytes(&h, from, from + 100));
    }
    h.expect_nothing(239);
    h.expect1(240, our_ack(&h, 300));
}

#[test]
fn out_of_order_data_is_acknowledged_at_once() {
    // RFC 5681 §4.2: an immediate duplicate ACK.
    let mut h = established();
    h.send_at(200, peer_bytes(&h, 0, 100));
    h.send_at(210, peer_bytes(&h, 200, 300));
    h.expect1(210, our_ack(&h, 100));
    // Filling the gap: at once too.
    h.send_at(220, peer_bytes(&h, 100, 200));
    h.expect1(220, our_ack(&h, 300));
    h.expect_nothing(1000);
}

#[test]
fn ack_rides_on_data() {
    let mut h = established();
    h.send_at(200, peer_bytes(&h, 0, 100));
    h.write(220, b"reply");
    h.expect1(220, seg().seq(h.l(1)).ack(h.r(101)).psh().payload(b"reply"));
    // No separate ACK (the next segment is the retransmission at 520 ms).
    h.expect_nothing(519);
}

#[test]
fn full_sized_means_mss_less_options() {
    // With timestamps a full-sized segment carries 1448 bytes (RFC 9293
    // §3.7.1): every second one is still acknowledged at once.
    let cfg = with(simple(), |c| c.timestamps = true);
    let mut h = Harness::passive(cfg, PeerOpts { ts: Some(PEER_TS0), ..PeerOpts::plain() });
    let ecr = h.our_ts(0);
    h.send_at(200, peer_bytes(&h, 0, 1448).ts(PEER_TS0 + 2, ecr));
    h.expect_nothing(205);
    h.send_at(205, peer_bytes(&h, 1448, 2896).ts(PEER_TS0 + 3, ecr));
    h.expect1(205, our_ack(&h, 2896).ts(h.our_ts(205), PEER_TS0 + 2));
}
