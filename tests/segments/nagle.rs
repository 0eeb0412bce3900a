//! Nagle's algorithm (RFC 9293 §3.7.4, RFC 1122 §4.2.3.4) and its
//! switch: small segments wait while data is unacknowledged; full
//! segments do not; with nodelay nothing waits.

use crate::harness::*;

fn established() -> Harness {
    Harness::passive(simple(), PeerOpts::plain())
}

#[test]
fn first_small_write_goes_at_once() {
    let mut h = established();
    h.write(200, b"hello");
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).psh().payload(b"hello"));
}

#[test]
fn small_writes_wait_for_the_ack() {
    let mut h = established();
    h.write(200, &pattern(0, 100));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100));
    h.write(210, &pattern(100, 50));
    h.write(220, &pattern(150, 60));
    h.expect_nothing(299);
    // Everything queued goes in one segment when the ACK comes.
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(101)));
    h.expect1(300, seg().seq(h.l(101)).ack(h.r(1)).psh().data(100, 110));
}

#[test]
fn full_segments_do_not_wait() {
    let mut h = established();
    h.write(200, &pattern(0, 100));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100));
    h.write(210, &pattern(100, 3000));
    h.expect(
        210,
        &[seg().seq(h.l(101)).ack(h.r(1)).data(100, 1460), seg().seq(h.l(1561)).ack(h.r(1)).data(1560, 1460)],
    );
    // The 80-byte tail waits for everything to be acknowledged.
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(1561)));
    h.expect_nothing(300);
    h.send_at(310, seg().seq(h.r(1)).ack(h.l(3021)));
    h.expect1(310, seg().seq(h.l(3021)).ack(h.r(1)).psh().data(3020, 80));
}

#[test]
fn nodelay_sends_small_writes_at_once() {
    let mut h = Harness::passive(with(simple(), |c| c.nodelay = true), PeerOpts::plain());
    let mut off = 0;
    for (t, n) in [(200, 100), (210, 50), (220, 60)] {
        h.write(t, &pattern(off, n));
        h.expect1(t, seg().seq(h.l(1 + off as u32)).ack(h.r(1)).psh().data(off, n));
        off += n;
    }
}

#[test]
fn turning_nodelay_on_releases_held_data() {
    let mut h = established();
    h.write(200, &pattern(0, 100));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100));
    h.write(210, &pattern(100, 50));
    h.expect_nothing(220);
    h.app(220, |s, c| s.set_nodelay(c, true)).unwrap();
    h.expect1(220, seg().seq(h.l(101)).ack(h.r(1)).psh().data(100, 50));
    h.write(230, &pattern(150, 10));
    h.expect1(230, seg().seq(h.l(151)).ack(h.r(1)).psh().data(150, 10));
}
