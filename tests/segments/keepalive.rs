//! Keep-alives (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): off by default,
//! configurable, probes after the idle time, death after unanswered
//! probes, and our answers to the peer's probes.

use crate::harness::*;

fn ka() -> Keepalive {
    Keepalive::new(Duration::from_secs(10), Duration::from_secs(2), 3)
}

fn with_keepalive() -> Harness {
    Harness::passive(with(simple(), |c| c.keepalive = Some(ka())), PeerOpts::plain())
}

/// A keep-alive probe: SEG.SEQ = SND.NXT - 1, no data (RFC 1122 allows
/// one garbage octet; none here).
fn probe(h: &Harness) -> Seg {
    seg().seq(h.l(0)).ack(h.r(1))
}

#[test]
fn off_by_default() {
    // RFC 1122 §4.2.3.6: keep-alives MUST default to off; the interval
    // MUST default to no less than two hours.
    assert_eq!(TcpConfig::default().keepalive, None);
    assert!(Keepalive::default().idle >= Duration::from_secs(7200));
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.expect_nothing(6 * 3600 * 1000);
    assert_eq!(h.state(), State::Established);
}

#[test]
fn probe_after_the_idle_time() {
    let mut h = with_keepalive();
    // Idle since the handshake completed at 100 ms.
    h.expect_nothing(10_099);
    h.expect1(10_100, probe(&h));
    // The peer answers: the idle clock starts again.
    h.send_at(10_150, seg().seq(h.r(1)).ack(h.l(1)));
    h.expect_nothing(20_149);
    h.expect1(20_150, probe(&h));
    assert_eq!(h.state(), State::Established);
}

#[test]
fn unanswered_probes_end_the_connection() {
    let mut h = with_keepalive();
    for t in [10_100, 12_100, 14_100] {
        h.expect_nothing(t - 1);
        h.expect1(t, probe(&h));
    }
    h.advance_to(16_100);
    let _ = h.recv_all(16_100); // a RST is allowed here, not required
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.recv_result(16_100), Err(Error::TimedOut));
}

#[test]
fn received_data_postpones_the_probe() {
    let mut h = with_keepalive();
    h.send_at(5000, seg().seq(h.r(1)).ack(h.l(1)).payload(b"x"));
    h.expect1(5040, seg().seq(h.l(1)).ack(h.r(2)));
    h.expect_nothing(14_999);
    h.expect1(15_000, seg().seq(h.l(0)).ack(h.r(2)));
}

#[test]
fn enabled_per_connection() {
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.app(1000, |s, c| s.set_keepalive(ms(1000), c, Some(ka()))).unwrap();
    h.expect_nothing(10_999);
    h.expect1(11_000, probe(&h));
    h.send_at(11_050, seg().seq(h.r(1)).ack(h.l(1)));
    h.app(12_000, |s, c| s.set_keepalive(ms(12_000), c, None)).unwrap();
    h.expect_nothing(100_000);
}

#[test]
fn peer_probes_are_answered() {
    // RFC 1122 §4.2.3.6: the probe (SEG.SEQ = RCV.NXT - 1, with or without
    // a garbage octet) is outside the window, so it gets an ACK
    // <SEQ=SND.NXT><ACK=RCV.NXT> (RFC 9293 §3.10.7.4), keep-alives on or
    // off.
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.send_at(1000, seg().seq(h.r(0)).ack(h.l(1)));
    h.expect1(1000, seg().seq(h.l(1)).ack(h.r(1)));
    h.send_at(2000, seg().seq(h.r(0)).ack(h.l(1)).payload(&[0]));
    h.expect1(2000, seg().seq(h.l(1)).ack(h.r(1)));
    assert_eq!(h.read(2000), b"");
}

#[test]
fn wake_ups_do_not_grow_the_timer_heap() {
    // Each segment restarts the 2-hour idle clock; each delayed ACK fires
    // before it. The heap must not keep one stale 2-hour entry per wake-up.
    let ka = with(Keepalive::default(), |k| k.idle = Duration::from_secs(7200));
    let mut h = Harness::passive(with(simple(), |c| c.keepalive = Some(ka)), PeerOpts::plain());
    let mut most = 0;
    for i in 0..2000usize {
        let t = 200 + 100 * i as u64;
        h.send_at(t, peer_bytes(&h, i, i + 1));
        h.expect1(t + 40, our_ack(&h, i + 1));
        most = most.max(h.stack.timer_entries());
    }
    assert_eq!(h.read(300_000).len(), 2000);
    let bound = 2 * h.stack.socket_count() + 64;
    assert!(most <= bound, "timer heap grew to {most} entries (bound {bound})");
}
