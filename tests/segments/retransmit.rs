//! The retransmission timer (RFC 6298): RTO from measurements, Karn's
//! algorithm, exponential backoff, bounds, the 3 s rule after a lost SYN,
//! and giving up (RFC 9293 §3.8.3, RFC 1122 §4.2.3.5).
//!
//! `Harness::passive` measures 100 ms on the handshake: SRTT = 100 ms,
//! RTTVAR = 50 ms, RTO = SRTT + 4·RTTVAR = 300 ms (RFC 6298 §2.2).

use crate::harness::*;

fn established() -> Harness {
    Harness::passive(simple(), PeerOpts::plain())
}

fn srtt(h: &Harness) -> Option<Duration> {
    h.stack.connection(h.sock()).unwrap().srtt()
}

#[test]
fn first_rto_comes_from_the_handshake_sample() {
    let mut h = established();
    assert_eq!(srtt(&h), Some(Duration::from_millis(100)));
    h.write(1000, &pattern(0, 100));
    let data = seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100);
    h.expect1(1000, data.clone());
    // RFC 6298 §5.4-5.6: retransmit the earliest unacknowledged segment,
    // double the RTO, restart the timer.
    for t in [1300, 1900, 3100, 5500] {
        h.expect_nothing(t - 1);
        h.expect1(t, data.clone());
    }
}

#[test]
fn rto_follows_new_measurements() {
    // Second sample R' = 200 ms: RTTVAR = 3/4·50 + 1/4·|100 - 200| = 62.5,
    // SRTT = 7/8·100 + 1/8·200 = 112.5, RTO = 112.5 + 4·62.5 = 362.5 ms.
    let mut h = established();
    h.write(1000, &pattern(0, 100));
    h.expect1(1000, seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100));
    h.send_at(1200, seg().seq(h.r(1)).ack(h.l(101)));
    h.expect_nothing(1200);
    assert_eq!(srtt(&h), Some(Duration::from_micros(112_500)));
    h.write(2000, &pattern(100, 100));
    let data = seg().seq(h.l(101)).ack(h.r(1)).psh().data(100, 100);
    h.expect1(2000, data.clone());
    h.expect_nothing(us(2_362_499));
    h.expect1(us(2_362_500), data);
}

#[test]
fn timer_is_not_restarted_by_later_sends() {
    // RFC 6298 §5.1: start the timer when sending if it is not running;
    // it times the oldest outstanding segment.
    let mut h = established();
    h.app(1000, |s, c| s.set_nodelay(c, true)).unwrap();
    h.write(1000, &pattern(0, 100));
    h.expect1(1000, seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100));
    h.write(1100, &pattern(100, 100));
    h.expect1(1100, seg().seq(h.l(101)).ack(h.r(1)).psh().data(100, 100));
    h.expect_nothing(1299);
    let got = h.recv_timed(1300);
    assert_eq!(got.len(), 1, "{got:?}");
    let (at, s) = &got[0];
    assert_eq!(*at, ms(1300));
    // The earliest unacknowledged data (it may be repacketized with what
    // follows, RFC 1122 §4.2.2.15).
    assert_eq!(s.seq, h.l(1));
    assert!(s.payload.len() >= 100 && s.payload == pattern(0, s.payload.len()), "{s:?}");
}

#[test]
fn timer_restarts_when_new_data_is_acknowledged() {
    // RFC 6298 §5.3: an ACK of new data restarts the timer with the
    // current RTO (362.5 ms after this sample).
    let mut h = established();
    h.write(1000, &pattern(0, 2920));
    h.expect(
        1000,
        &[
            seg().seq(h.l(1)).ack(h.r(1)).data(0, 1460),
            seg().seq(h.l(1461)).ack(h.r(1)).psh().data(1460, 1460),
        ],
    );
    h.send_at(1200, seg().seq(h.r(1)).ack(h.l(1461)));
    h.expect_nothing(us(1_562_499));
    h.expect1(us(1_562_500), seg().seq(h.l(1461)).ack(h.r(1)).psh().data(1460, 1460));
}

#[test]
fn timer_stops_when_everything_is_acknowledged() {
    // RFC 6298 §5.2.
    let mut h = established();
    h.write(1000, &pattern(0, 100));
    h.expect1(1000, seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100));
    h.send_at(1100, seg().seq(h.r(1)).ack(h.l(101)));
    h.expect_nothing(100_000);
    assert_eq!(h.stack.poll_timeout().filter(|&t| t > ms(100_000)), None);
}

#[test]
fn retransmissions_give_no_rtt_sample() {
    // RFC 6298 §3 (Karn): RTT samples MUST NOT be made using segments that
    // were retransmitted (no timestamps here).
    let mut h = established();
    h.write(1000, &pattern(0, 100));
    let data = seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100);
    h.expect1(1000, data.clone());
    h.expect1(1300, data);
    h.send_at(1350, seg().seq(h.r(1)).ack(h.l(101)));
    h.expect_nothing(1350);
    assert_eq!(srtt(&h), Some(Duration::from_millis(100)), "sampled a retransmitted segment");
}

#[test]
fn backed_off_rto_is_kept_until_a_new_sample() {
    // Karn's algorithm (required by RFC 6298 §3) keeps the backed-off RTO
    // for the next segment until a valid sample; RFC 6298 §5: only "once a
    // new RTT measurement is obtained" may the RTO "collapse" back down.
    let mut h = established();
    h.write(1000, &pattern(0, 100));
    let data = seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100);
    h.expect1(1000, data.clone());
    h.expect1(1300, data); // RTO backed off to 600 ms
    h.send_at(1350, seg().seq(h.r(1)).ack(h.l(101))); // ambiguous: no sample
    h.write(2000, &pattern(100, 100));
    let next = seg().seq(h.l(101)).ack(h.r(1)).psh().data(100, 100);
    h.expect1(2000, next);
    // Still 600 ms: nothing at 2300.
    h.expect_nothing(2549);
    // A valid sample, R = 550 ms: RTTVAR = 3/4·50 + 1/4·450 = 150, SRTT =
    // 7/8·100 + 1/8·550 = 156.25, RTO = 756.25 ms, no longer backed off.
    h.send_at(2550, seg().seq(h.r(1)).ack(h.l(201)));
    h.write(3000, &pattern(200, 100));
    let last = seg().seq(h.l(201)).ack(h.r(1)).psh().data(200, 100);
    h.expect1(3000, last.clone());
    h.expect_nothing(us(3_756_249));
    h.expect1(us(3_756_250), last);
}

#[test]
fn gives_up_after_max_retries() {
    // RFC 9293 §3.8.3 / RFC 1122 §4.2.3.5: after R2 the connection is
    // closed and the application told.
    let mut h = Harness::passive(with(simple(), |c| c.max_retries = 3), PeerOpts::plain());
    h.write(1000, &pattern(0, 100));
    let data = seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100);
    h.expect1(1000, data.clone());
    for t in [1300, 1900, 3100] {
        h.expect_nothing(t - 1);
        h.expect1(t, data.clone());
    }
    h.advance_to(5500);
    let _ = h.recv_all(5500); // a RST here is allowed, not required
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.recv_result(5500), Err(Error::TimedOut));
    h.expect_nothing(100_000);
}

#[test]
fn backoff_is_capped_at_max_rto() {
    // RFC 6298 §5.5: a maximum may be placed on the RTO (here 2 s).
    let cfg = with(simple(), |c| c.max_rto = Duration::from_secs(2));
    let mut h = Harness::passive(cfg, PeerOpts::plain());
    h.write(1000, &pattern(0, 100));
    let data = seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100);
    h.expect1(1000, data.clone());
    for t in [1300, 1900, 3100, 5100, 7100, 9100] {
        h.expect_nothing(t - 1);
        h.expect1(t, data.clone());
    }
}

#[test]
fn min_rto_bounds_small_rtts() {
    // RFC 6298 §2.4 gives a lower bound (configured at 200 ms here): a
    // 1 ms handshake RTT still gives a 200 ms RTO.
    let mut h = Harness::new(simple());
    h.listen();
    h.open_passive(0, 1, PeerOpts::plain());
    h.write(1000, &pattern(0, 100));
    let data = seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100);
    h.expect1(1000, data.clone());
    h.expect_nothing(1199);
    h.expect1(1200, data);
}

#[test]
fn lost_syn_means_three_second_rto_for_data() {
    // RFC 6298 §5.7: the SYN timed out, so the RTO is re-initialized to
    // 3 s when data transmission begins (and the handshake gave no sample).
    let mut h = Harness::new(simple());
    h.connect(0);
    let syn = h.expect_syn(0, seg().syn().mss(1460));
    h.expect1(1000, syn);
    h.send_at(1100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460));
    h.expect1(1100, seg().seq(h.l(1)).ack(h.r(1)));
    h.write(2000, &pattern(0, 100));
    let data = seg().seq(h.l(1)).ack(h.r(1)).psh().data(0, 100);
    h.expect1(2000, data.clone());
    h.expect_nothing(4999);
    h.expect1(5000, data);
}

#[test]
fn timeout_restarts_from_one_segment() {
    // RFC 5681 §3.1: after a timeout cwnd is the loss window, one SMSS:
    // only the first segment is resent; each ACK then grows the window.
    let mut h = established();
    h.write(1000, &pattern(0, 4 * 1460));
    let segs = h.recv_all(1000);
    assert_eq!(segs.len(), 4);
    h.expect1(1300, seg().seq(h.l(1)).ack(h.r(1)).data(0, 1460));
    assert_eq!(h.cwnd().0, 1460);
    h.send_at(1400, seg().seq(h.r(1)).ack(h.l(1461)));
    h.expect(
        1400,
        &[
            seg().seq(h.l(1461)).ack(h.r(1)).data(1460, 1460),
            seg().seq(h.l(2921)).ack(h.r(1)).data(2920, 1460),
        ],
    );
}
