//! The sending side of SACK (RFC 2018, RFC 5681 §3.2, RFC 6675): what
//! the peer's SACK blocks let us do. SMSS = 1000 as in `congestion.rs`;
//! both SYNs carry SACK-permitted.

use crate::harness::*;

/// A duplicate ACK of segment 0 SACKing segments [1, upto).
fn dup_sacking(h: &Harness, upto: u32) -> Seg {
    seg().seq(h.r(1)).ack(h.l(1)).sack(&[(h.l(1001), h.l(1 + 1000 * upto))])
}

fn flight(h: &mut Harness, n: u32) {
    h.write(1000, &pattern(0, 1000 * n as usize));
    let want: Vec<Seg> = (0..n.min(10)).map(|k| segment_k(h, k, n)).collect();
    h.expect(1000, &want);
}

#[test]
fn limited_transmit_needs_new_sack_information() {
    // RFC 5681 §3.2 step 1: "a sender using SACK MUST NOT send new data
    // unless the incoming duplicate acknowledgment contains new SACK
    // information."
    let mut h = sack_established();
    flight(&mut h, 20);
    h.send_at(1100, seg().seq(h.r(1)).ack(h.l(1)));
    h.expect_nothing(1100);
    h.send_at(1101, dup_sacking(&h, 2));
    h.expect1(1101, segment_k(&h, 10, 20));
    h.send_at(1102, dup_sacking(&h, 2));
    h.expect_nothing(1102);
}

#[test]
fn sack_recovery_retransmits_the_first_hole() {
    let mut h = sack_established();
    flight(&mut h, 10);
    h.send_at(1100, dup_sacking(&h, 2));
    h.expect_nothing(1100);
    h.send_at(1101, dup_sacking(&h, 3));
    h.expect_nothing(1101);
    // Third duplicate (and more than 2·SMSS SACKed): segment 0 is lost.
    h.send_at(1102, dup_sacking(&h, 4));
    h.expect1(1102, segment_k(&h, 0, 10));
    let (cwnd, ssthresh) = h.cwnd();
    assert!(ssthresh <= 5000, "ssthresh {ssthresh}");
    assert!(cwnd <= ssthresh + 3000, "cwnd {cwnd}");
}

#[test]
fn sack_recovery_repairs_several_holes_per_round_trip() {
    // Segments 0 and 5 lost. With the SACK scoreboard both are resent
    // before any cumulative ACK arrives (RFC 6675 §5 step C).
    let mut h = sack_established();
    flight(&mut h, 10);
    let dup = |h: &Harness, hi: u32| {
        let mut b = vec![(h.l(1001), h.l(5001))];
        if hi > 6 {
            b.insert(0, (h.l(5001 + 1000), h.l(1 + 1000 * hi)));
        }
        seg().seq(h.r(1)).ack(h.l(1)).sack(&b)
    };
    let mut resent = Vec::new();
    for (i, hi) in [5, 5, 5, 7, 8, 9, 10].into_iter().enumerate() {
        let t = 1100 + i as u64;
        h.send_at(t, dup(&h, hi));
        for s in h.recv_all(t) {
            resent.push(s.seq.wrapping_sub(h.l(1)) / 1000);
        }
    }
    assert!(resent.contains(&0) && resent.contains(&5), "retransmitted segments {resent:?}");
}
