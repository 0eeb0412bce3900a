//! Reassembly (RFC 9293 §3.10.7.4 seventh step, §3.4): out-of-order,
//! overlapping and duplicate segments are delivered exactly once, in
//! order; immediate ACKs for out-of-order data and gap fills (RFC 5681
//! §4.2).

use crate::harness::*;

fn established() -> Harness {
    Harness::passive(simple(), PeerOpts::plain())
}

#[test]
fn out_of_order_segments_are_delivered_in_order() {
    let mut h = established();
    h.send_at(200, peer_bytes(&h, 2000, 3000));
    h.expect1(200, our_ack(&h, 0));
    h.send_at(201, peer_bytes(&h, 1000, 2000));
    h.expect1(201, our_ack(&h, 0));
    assert_eq!(h.read(201), b"", "nothing readable before the gap fills");
    h.send_at(202, peer_bytes(&h, 0, 1000));
    h.expect1(202, our_ack(&h, 3000));
    assert_eq!(h.read(202), pattern(0, 3000));
}

#[test]
fn overlapping_segments_deliver_each_byte_once() {
    let mut h = established();
    h.send_at(200, peer_bytes(&h, 0, 1000));
    h.send_at(201, peer_bytes(&h, 500, 1500));
    h.send_at(202, peer_bytes(&h, 1200, 2000));
    // In order all along: one delayed ACK.
    h.expect1(240, our_ack(&h, 2000));
    assert_eq!(h.read(240), pattern(0, 2000));
}

#[test]
fn overlapping_out_of_order_islands_merge() {
    let mut h = established();
    for (t, from, to) in [(200, 1000, 1500), (201, 1200, 2000), (202, 1900, 2100)] {
        h.send_at(t, peer_bytes(&h, from, to));
        h.expect1(t, our_ack(&h, 0));
    }
    h.send_at(203, peer_bytes(&h, 0, 1100));
    h.expect1(203, our_ack(&h, 2100));
    assert_eq!(h.read(203), pattern(0, 2100));
}

#[test]
fn duplicates_are_delivered_once() {
    let mut h = established();
    h.send_at(200, peer_bytes(&h, 0, 100));
    h.send_at(210, peer_bytes(&h, 0, 100));
    // The duplicate is acknowledged at once (it lies wholly before RCV.NXT).
    h.expect1(210, our_ack(&h, 100));
    assert_eq!(h.read(210), pattern(0, 100));
    h.expect_nothing(1000);
}

#[test]
fn duplicate_out_of_order_segments_are_delivered_once() {
    let mut h = established();
    h.send_at(200, peer_bytes(&h, 200, 300));
    h.expect1(200, our_ack(&h, 0));
    h.send_at(201, peer_bytes(&h, 200, 300));
    h.expect1(201, our_ack(&h, 0));
    h.send_at(202, peer_bytes(&h, 0, 200));
    h.expect1(202, our_ack(&h, 300));
    assert_eq!(h.read(202), pattern(0, 300));
}

#[test]
fn one_segment_can_cover_several_islands() {
    let mut h = established();
    for (i, from) in [100, 300, 500].into_iter().enumerate() {
        h.send_at(200 + i as u64, peer_bytes(&h, from, from + 100));
        h.expect1(200 + i as u64, our_ack(&h, 0));
    }
    h.send_at(210, peer_bytes(&h, 0, 700));
    h.expect1(210, our_ack(&h, 700));
    assert_eq!(h.read(210), pattern(0, 700));
}

#[test]
fn partial_gap_fill_is_acknowledged_at_once() {
    // RFC 5681 §4.2: an immediate ACK for a segment that fills part of a
    // gap.
    let mut h = established();
    h.send_at(200, peer_bytes(&h, 1000, 2000));
    h.expect1(200, our_ack(&h, 0));
    h.send_at(201, peer_bytes(&h, 0, 500));
    h.expect1(201, our_ack(&h, 500));
    h.send_at(202, peer_bytes(&h, 500, 1000));
    h.expect1(202, our_ack(&h, 2000));
    assert_eq!(h.read(202), pattern(0, 2000));
}

#[test]
fn sequence_numbers_wrap() {
    // The peer's ISS sits just below 2^32: the stream crosses zero.
    let mut h = Harness::new(simple());
    h.c.irs = 0xffff_fe00;
    h.listen();
    h.open_passive(0, 100, PeerOpts::plain());
    h.send_at(200, peer_bytes(&h, 1000, 2000));
    h.expect1(200, our_ack(&h, 0));
    h.send_at(201, peer_bytes(&h, 0, 1000));
    h.expect1(201, our_ack(&h, 2000));
    assert!(h.r(2001) < h.r(0), "the stream wrapped");
    h.send_at(202, peer_bytes(&h, 2000, 3000).fin());
    h.expect1(202, seg().seq(h.l(1)).ack(h.r(3002)));
    assert_eq!(h.read(202), pattern(0, 3000));
    assert_eq!(h.recv_result(202), Ok(0));
}
