//! Congestion control without SACK (RFC 5681, RFC 6582 NewReno, RFC 3042
//! limited transmit, RFC 6928 initial window). The peer's MSS is 1000, so
//! SMSS = 1000 and the initial window is 10 000 bytes; RTO is 300 ms.
//!
//! Segment k carries stream bytes [1000k, 1000k + 1000), sequence number
//! L + 1 + 1000k.

use crate::harness::*;

const SMSS: u32 = 1000;

fn established() -> Harness {
    Harness::passive(simple(), PeerOpts { mss: Some(1000), ..PeerOpts::default() })
}

/// An ACK from the peer for everything before segment `k`.
fn ack_upto(h: &Harness, k: u32) -> Seg {
    seg().seq(h.r(1)).ack(h.l(1 + 1000 * k))
}

/// Writes `n` segments at 1000 ms; the first ten go out.
fn flight(h: &mut Harness, n: u32) {
    h.write(1000, &pattern(0, 1000 * n as usize));
    let want: Vec<Seg> = (0..n.min(10)).map(|k| segment_k(h, k, n)).collect();
    h.expect(1000, &want);
}

#[test]
fn initial_window_is_ten_segments() {
    let mut h = established();
    assert_eq!(h.cwnd().0, 10 * SMSS);
    flight(&mut h, 20);
    h.expect_nothing(1099);
}

#[test]
fn slow_start_adds_one_segment_per_ack() {
    // RFC 5681 §3.1 equation 2: cwnd += min(N, SMSS).
    let mut h = established();
    flight(&mut h, 40);
    for k in 1..=5 {
        h.send_at(1100 + k, ack_upto(&h, k));
        assert_eq!(h.cwnd().0, (10 + k) * SMSS);
        let first = 10 + 2 * (k - 1);
        h.expect(1100 + k as u64, &[segment_k(&h, first, 40), segment_k(&h, first + 1, 40)]);
    }
}

#[test]
fn fast_retransmit_on_the_third_duplicate_ack_not_the_second() {
    // RFC 5681 §3.2: segment 0 is lost, 1..9 arrive. Nothing more to send,
    // so no limited transmit: the first two duplicates send nothing.
    let mut h = established();
    flight(&mut h, 10);
    h.send_at(1100, ack_upto(&h, 0));
    h.expect_nothing(1100);
    h.send_at(1101, ack_upto(&h, 0));
    h.expect_nothing(1101);
    h.send_at(1102, ack_upto(&h, 0));
    h.expect1(1102, segment_k(&h, 0, 10));
    // Step 2: ssthresh no more than max(FlightSize / 2, 2·SMSS); step 3:
    // cwnd = ssthresh + 3·SMSS.
    let (cwnd, ssthresh) = h.cwnd();
    assert!(ssthresh <= 5 * SMSS, "ssthresh {ssthresh}");
    assert_eq!(cwnd, ssthresh + 3 * SMSS);
}

#[test]
fn limited_transmit_sends_one_new_segment_per_early_duplicate() {
    // RFC 3042 / RFC 5681 §3.2 step 1: each of the first two duplicate
    // ACKs sends one new segment, without changing cwnd.
    let mut h = established();
    flight(&mut h, 20);
    h.send_at(1100, ack_upto(&h, 0));
    h.expect1(1100, segment_k(&h, 10, 20));
    h.send_at(1101, ack_upto(&h, 0));
    h.expect1(1101, segment_k(&h, 11, 20));
    assert_eq!(h.cwnd().0, 10 * SMSS);
    h.send_at(1102, ack_upto(&h, 0));
    h.expect1(1102, segment_k(&h, 0, 20));
}

#[test]
fn limited_transmit_is_not_counted_in_ssthresh() {
    // RFC 5681 §3.2 step 2: "additional data sent in limited transmit MUST
    // NOT be included in this calculation": FlightSize is the 10 000 bytes
    // of the original flight, so ssthresh <= 5000.
    let mut h = established();
    flight(&mut h, 20);
    for (t, k) in [(1100, 10), (1101, 11)] {
        h.send_at(t, ack_upto(&h, 0));
        h.expect1(t, segment_k(&h, k, 20));
    }
    h.send_at(1102, ack_upto(&h, 0));
    h.expect1(1102, segment_k(&h, 0, 20));
    let (cwnd, ssthresh) = h.cwnd();
    assert!(ssthresh <= 5 * SMSS, "ssthresh {ssthresh} counts the limited-transmit segments");
    assert_eq!(cwnd, ssthresh + 3 * SMSS);
}

#[test]
fn fast_recovery_inflates_the_window() {
    // RFC 5681 §3.2 steps 4-5: each further duplicate adds SMSS, and new
    // data goes out when cwnd allows. cwnd 8000 with 10 000 in flight.
    let mut h = established();
    flight(&mut h, 10);
    for t in 1100..1103 {
        h.send_at(t, ack_upto(&h, 0));
    }
    h.expect1(1102, segment_k(&h, 0, 10));
    assert_eq!(h.cwnd(), (8 * SMSS, 5 * SMSS));
    h.write(1103, &pattern(10_000, 5000));
    h.expect_nothing(1103);
    for t in [1104, 1105] {
        h.send_at(t, ack_upto(&h, 0));
        h.expect_nothing(t);
    }
    assert_eq!(h.cwnd().0, 10 * SMSS);
    h.send_at(1106, ack_upto(&h, 0));
    h.expect1(1106, segment_k(&h, 10, 15));
    h.send_at(1107, ack_upto(&h, 0));
    h.expect1(1107, segment_k(&h, 11, 15));
}

#[test]
fn partial_ack_retransmits_the_next_hole() {
    // RFC 6582 §3.2 step 5: segments 0 and 5 lost. The ACK for the
    // retransmitted segment 0 stops at segment 5: a partial ACK. Retransmit
    // segment 5 at once; deflate cwnd by the 5000 acknowledged, add back
    // SMSS: 9000 - 5000 + 1000 = 5000, all in flight, so nothing new.
    let mut h = established();
    flight(&mut h, 10);
    for t in 1100..1103 {
        h.send_at(t, ack_upto(&h, 0));
    }
    h.expect1(1102, segment_k(&h, 0, 10));
    h.send_at(1103, ack_upto(&h, 0));
    h.expect_nothing(1103);
    assert_eq!(h.cwnd().0, 9 * SMSS);
    h.send_at(1200, ack_upto(&h, 5));
    h.expect1(1200, segment_k(&h, 5, 10));
    assert_eq!(h.cwnd().0, 5 * SMSS);
    // The full ACK ends recovery (step 4): cwnd = min(ssthresh,
    // max(FlightSize, SMSS) + SMSS) or cwnd = ssthresh.
    h.send_at(1300, ack_upto(&h, 10));
    h.expect_nothing(1300);
    let (cwnd, ssthresh) = h.cwnd();
    assert_eq!(ssthresh, 5 * SMSS);
    assert!(cwnd == 2 * SMSS || cwnd == ssthresh, "cwnd {cwnd} after recovery");
}

#[test]
fn no_fast_retransmit_for_duplicates_from_before_a_timeout() {
    // RFC 6582 §3.2 step 2: three duplicates that do not cover more than
    // `recover` (set by the timeout, step 6 / RFC 5681 §3.1) do not start
    // fast retransmit.
    let mut h = established();
    flight(&mut h, 10);
    h.expect1(1300, segment_k(&h, 0, 10));
    assert_eq!(h.cwnd(), (SMSS, 5 * SMSS));
    h.send_at(1310, ack_upto(&h, 1));
    h.expect(1310, &[segment_k(&h, 1, 10), segment_k(&h, 2, 10)]);
    for t in 1320..1323 {
        h.send_at(t, ack_upto(&h, 1));
        for s in h.recv_all(t) {
            assert_ne!(s.seq, h.l(1001), "fast retransmit of SND.UNA: {s:?}");
        }
    }
    assert_eq!(h.cwnd(), (2 * SMSS, 5 * SMSS), "no second window reduction");
}

#[test]
fn acks_that_change_the_window_are_not_duplicates() {
    // RFC 5681 §2: a duplicate ACK leaves the advertised window unchanged.
    let mut h = established();
    flight(&mut h, 10);
    for (t, w) in [(1100, 65000), (1101, 64000), (1102, 63000)] {
        h.send_at(t, ack_upto(&h, 0).win(w));
        h.expect_nothing(t);
    }
}

#[test]
fn acks_carrying_data_are_not_duplicates() {
    // RFC 5681 §2: a duplicate ACK carries no data.
    let mut h = established();
    flight(&mut h, 10);
    for (i, t) in (1100..1103).enumerate() {
        h.send_at(t, ack_upto(&h, 0).seq(h.r(1 + i as u32)).data(i, 1));
    }
    // Only our (delayed) ACK of the three bytes: no retransmission.
    let got = h.recv_all(1200);
    assert!(got.iter().all(|s| s.payload.is_empty()), "{got:?}");
}

#[test]
fn timeout_resets_cwnd_to_the_loss_window() {
    // RFC 5681 §3.1: ssthresh = max(FlightSize / 2, 2·SMSS), cwnd = SMSS.
    let mut h = established();
    flight(&mut h, 10);
    h.expect1(1300, segment_k(&h, 0, 10));
    assert_eq!(h.cwnd(), (SMSS, 5 * SMSS));
}

#[test]
fn congestion_avoidance_adds_at_most_one_segment_per_window() {
    // RFC 5681 §3.1: past ssthresh, about one SMSS per RTT: not more than
    // SMSS for a whole window of acknowledged data.
    let mut h = established();
    flight(&mut h, 10);
    h.expect1(1300, segment_k(&h, 0, 10));
    // Slow start from 1000 to ssthresh (5000).
    for k in 1..=4 {
        h.send_at(1300 + k, ack_upto(&h, k));
        h.recv_all(1300 + k as u64);
    }
    assert_eq!(h.cwnd(), (5 * SMSS, 5 * SMSS));
    // Five more ACKs of one segment each: a window's worth.
    for k in 5..=9 {
        h.send_at(1300 + k, ack_upto(&h, k));
        h.recv_all(1300 + k as u64);
        let cwnd = h.cwnd().0;
        assert!((5 * SMSS..=6 * SMSS).contains(&cwnd), "cwnd {cwnd} after {k} ACKs");
    }
}

#[test]
fn idle_connection_restarts_from_the_initial_window() {
    // RFC 5681 §4.1: after an idle period longer than the RTO, cwnd SHOULD
    // be no more than the restart window, min(IW, cwnd).
    let mut h = established();
    flight(&mut h, 10);
    h.send_at(1100, ack_upto(&h, 10));
    assert!(h.cwnd().0 > 10 * SMSS, "slow start grew cwnd");
    h.write(10_000, &pattern(10_000, 30_000));
    let sent = h.recv_all(10_000);
    assert_eq!(sent.len(), 10, "a burst of {} segments after idling", sent.len());
}
