//! Tail loss probes (RFC 8985 §7) and lost-retransmission detection in a
//! SACK-based recovery. SMSS = 1000, no timestamps, the handshake's RTT
//! is 100 ms (SRTT 100 ms, RTO 300 ms); both SYNs carry SACK-permitted.

use crate::harness::*;

/// An ACK of segment `una` SACKing `blocks` (segment index ranges).
fn ack_sacking(h: &Harness, una: u32, blocks: &[(u32, u32)]) -> Seg {
    let b: Vec<(u32, u32)> = blocks.iter().map(|&(l, r)| (h.l(1 + 1000 * l), h.l(1 + 1000 * r))).collect();
    seg().seq(h.r(1)).ack(h.l(1 + 1000 * una)).sack(&b)
}

/// Segment indices of what was emitted up to `t`.
fn sent(h: &mut Harness, t: u64) -> Vec<u32> {
    let base = h.l(1);
    h.recv_all(t).iter().map(|s| s.seq.wrapping_sub(base) / 1000).collect()
}

#[test]
fn tail_loss_probe_resends_the_last_segment_after_two_rtts() {
    let mut h = sack_established();
    h.write(1000, &pattern(0, 5000));
    let first: Vec<Seg> = (0..5).map(|k| segment_k(&h, k, 5)).collect();
    h.expect(1000, &first);
    // No ACK comes back: PTO = 2·SRTT = 200 ms, before the 300 ms RTO.
    h.expect_nothing(1199);
    h.expect1(1200, segment_k(&h, 4, 5));
}

#[test]
fn a_sacked_probe_reveals_the_tail_losses() {
    let mut h = sack_established();
    h.write(1000, &pattern(0, 5000));
    assert_eq!(sent(&mut h, 1000), [0, 1, 2, 3, 4]);
    assert_eq!(sent(&mut h, 1200), [4], "the probe");
    // Only the probe arrived: segments 0-3 were sent a PTO before it, so
    // they are lost and all of them are resent at once.
    h.send_at(1300, ack_sacking(&h, 0, &[(4, 5)]));
    assert_eq!(sent(&mut h, 1300), [0, 1, 2, 3]);
    h.send_at(1400, seg().seq(h.r(1)).ack(h.l(5001)));
    h.expect_nothing(3000);
}

#[test]
fn a_lone_segment_waits_for_the_retransmission_timer() {
    // With one segment out, PTO = 2·SRTT + 200 ms = 400 ms, later than the
    // 300 ms RTO, so no probe is armed and the RTO retransmits.
    let mut h = sack_established();
    h.write(1000, &pattern(0, 1000));
    h.expect1(1000, segment_k(&h, 0, 1));
    h.expect_nothing(1299);
    h.expect1(1300, segment_k(&h, 0, 1));
}

#[test]
fn a_lost_retransmission_is_resent_without_a_timeout() {
    let mut h = sack_established();
    h.write(1000, &pattern(0, 30_000));
    assert_eq!(sent(&mut h, 1000), (0..10).collect::<Vec<_>>());
    // Segment 0 is lost; SACKs of 1-3 start the recovery, and each newly
    // SACKed segment lets one new segment out (the last of them after the
    // retransmission of segment 0).
    let mut out = Vec::new();
    for (i, hi) in [2, 3, 4, 5].into_iter().enumerate() {
        let t = 1100 + i as u64;
        h.send_at(t, ack_sacking(&h, 0, &[(1, hi)]));
        out.extend(sent(&mut h, t));
    }
    assert_eq!(out.iter().filter(|&&k| k == 0).count(), 1, "fast retransmit of segment 0: {out:?}");
    let newest = *out.iter().max().expect("sent something");
    assert!(newest >= 10, "the pipe lets new data out during recovery: {out:?}");
    // Everything through the newest data is SACKed and segment 0 is still
    // missing: its retransmission, sent before that data, was lost.
    h.send_at(1150, ack_sacking(&h, 0, &[(1, newest + 1)]));
    let again = sent(&mut h, 1150);
    assert!(again.contains(&0), "segment 0 resent at once, got {again:?}");
}
