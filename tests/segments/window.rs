//! Flow control (RFC 9293 §3.8.6): the peer's window bounds what we send,
//! window scaling only when both SYNs carry it (RFC 7323 §2), shrinking
//! windows, zero-window probing (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17),
//! and silly window syndrome avoidance on both sides (RFC 9293 §3.8.6.2).

use crate::harness::*;

/// Plain options except window scaling.
fn ws_only() -> TcpConfig {
    with(simple(), |c| c.window_scaling = true)
}

#[test]
fn peer_window_bounds_what_we_send() {
    let mut h = Harness::passive(simple(), PeerOpts::plain().win(1000));
    h.write(200, &pattern(0, 2500));
    // 1000 bytes: less than an MSS, but at least half the largest window
    // ever offered (RFC 9293 §3.8.6.2.1).
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).data(0, 1000));
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(1001)).win(1000));
    h.expect1(300, seg().seq(h.l(1001)).ack(h.r(1)).data(1000, 1000));
    h.send_at(400, seg().seq(h.r(1)).ack(h.l(2001)).win(1000));
    h.expect1(400, seg().seq(h.l(2001)).ack(h.r(1)).psh().data(2000, 500));
}

#[test]
fn window_update_releases_data() {
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.send_at(150, seg().seq(h.r(1)).ack(h.l(1)).win(0));
    h.write(200, &pattern(0, 2920));
    h.expect_nothing(299);
    h.send_at(299, seg().seq(h.r(1)).ack(h.l(1)).win(2920));
    h.expect(
        299,
        &[
            seg().seq(h.l(1)).ack(h.r(1)).data(0, 1460),
            seg().seq(h.l(1461)).ack(h.r(1)).psh().data(1460, 1460),
        ],
    );
}

#[test]
fn window_scaling_when_both_syns_carry_it() {
    // Peer shift 7, ours 3 (256 KiB buffer). The peer's MSS is 1024.
    let opts = PeerOpts { mss: Some(1024), ws: Some(7), ..PeerOpts::default() };
    let mut h = Harness::new(ws_only());
    h.listen();
    h.send_at(0, h.peer_syn(opts));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460).ws(3));
    // Field 16 << 7 = 2048 bytes: two segments.
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)).win(16));
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.write(200, &pattern(0, 5000));
    h.expect(
        200,
        &[
            seg().seq(h.l(1)).ack(h.r(1)).win(32768).data(0, 1024),
            seg().seq(h.l(1025)).ack(h.r(1)).win(32768).data(1024, 1024),
        ],
    );
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(2049)).win(8));
    h.expect1(300, seg().seq(h.l(2049)).ack(h.r(1)).win(32768).data(2048, 1024));
}

#[test]
fn no_scaling_when_the_peer_does_not_offer_it() {
    let opts = PeerOpts { mss: Some(1024), ..PeerOpts::default() };
    let mut h = Harness::new(ws_only());
    h.listen();
    h.send_at(0, h.peer_syn(opts));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)).win(2048));
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.write(200, &pattern(0, 5000));
    h.expect(
        200,
        &[seg().seq(h.l(1)).ack(h.r(1)).data(0, 1024), seg().seq(h.l(1025)).ack(h.r(1)).data(1024, 1024)],
    );
}

#[test]
fn no_scaling_when_we_do_not_offer_it() {
    let opts = PeerOpts { mss: Some(1024), ws: Some(7), ..PeerOpts::default() };
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, h.peer_syn(opts));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)).win(2048));
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.write(200, &pattern(0, 5000));
    h.expect(
        200,
        &[seg().seq(h.l(1)).ack(h.r(1)).data(0, 1024), seg().seq(h.l(1025)).ack(h.r(1)).data(1024, 1024)],
    );
}

#[test]
fn no_scaling_when_the_syn_ack_lacks_it() {
    let mut h = Harness::new(ws_only());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460).ws(3));
    h.send_at(100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1024).win(2048));
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(1)));
    h.write(200, &pattern(0, 5000));
    h.expect(
        200,
        &[seg().seq(h.l(1)).ack(h.r(1)).data(0, 1024), seg().seq(h.l(1025)).ack(h.r(1)).data(1024, 1024)],
    );
}

#[test]
fn syn_ack_window_is_never_scaled() {
    // RFC 7323 §2.2: "The window field in a segment where the SYN bit is
    // set ... MUST NOT be scaled."
    let mut h = Harness::new(ws_only());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460).ws(3));
    h.send_at(100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1024).ws(2).win(2048));
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(1)).win(32768));
    h.write(200, &pattern(0, 8192));
    h.expect(
        200,
        &[
            seg().seq(h.l(1)).ack(h.r(1)).win(32768).data(0, 1024),
            seg().seq(h.l(1025)).ack(h.r(1)).win(32768).data(1024, 1024),
        ],
    );
}

#[test]
fn window_scale_above_14_is_used_as_14() {
    // RFC 7323 §2.3: a shift above 14 MUST be used as 14. Field 1 is
    // 16384 bytes, not 32768.
    let opts = PeerOpts { mss: Some(1460), ws: Some(15), ..PeerOpts::default() };
    let mut h = Harness::new(ws_only());
    h.listen();
    h.send_at(0, h.peer_syn(opts));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460).ws(3));
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)).win(1));
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.write(200, &pattern(0, 100_000));
    let mut acked = 0u32;
    let mut flights = Vec::new();
    for round in 0..4u32 {
        let t = 200 + 100 * round;
        let sent: u32 = h.recv_all(t).iter().map(|s| s.payload.len() as u32).sum();
        flights.push(sent);
        acked += sent;
        h.send_at(t + 100, seg().seq(h.r(1)).ack(h.l(1 + acked)).win(1));
    }
    h.recv_all(600);
    // cwnd outgrows the window: the later flights are window-limited to
    // 11 full segments (16060 of 16384 bytes).
    assert!(flights.iter().all(|&f| f <= 16384), "flights {flights:?} exceed a 16384-byte window");
    assert_eq!(flights[3], 11 * 1460, "flights {flights:?}");
}

/// Whether `s` probes a closed window (RFC 9293 §3.8.6.1) whose left
/// edge is our stream offset `una`: either at least one octet of data
/// at or beyond SND.UNA (the RFC's form), or an empty segment with the
/// already acknowledged SEG.SEQ = SND.UNA - 1 (Linux's form), which the
/// peer must answer with an ACK showing its window.
fn is_probe(h: &Harness, s: &Seg, una: usize) -> bool {
    let una_seq = h.l(1 + una as u32);
    if s.flags != TcpFlags::ACK || s.ack != h.r(1) {
        return false;
    }
    if s.payload.is_empty() {
        return s.seq == una_seq.wrapping_sub(1);
    }
    let off = s.seq.wrapping_sub(h.l(1)) as usize;
    off >= una && off < una + 65536 && s.payload == pattern(off, s.payload.len())
}

/// Acknowledges everything as it arrives (window 65535) until `total`
/// bytes are acknowledged, checking that the stream arrives in order.
fn ack_everything(h: &mut Harness, mut t: u64, from: usize, total: usize) {
    let mut acked = from;
    while acked < total {
        let got = h.recv_all(t);
        assert!(!got.is_empty() || t < 1_000_000, "stalled at {acked} of {total}");
        for s in &got {
            let off = s.seq.wrapping_sub(h.l(1)) as usize;
            assert!(off <= acked + 65535, "{s:?}");
            assert_eq!(s.payload, pattern(off, s.payload.len()), "{s:?}");
            acked = acked.max(off + s.payload.len());
        }
        t += 10;
        if !got.is_empty() {
            h.send_at(t, seg().seq(h.r(1)).ack(h.l(1 + acked as u32)));
        }
    }
}

#[test]
fn shrinking_window_is_survived() {
    // RFC 9293 §3.8.6.2.1 / RFC 1122 §4.2.2.16: the sender must be robust
    // against the window shrinking below what it already sent; with the
    // window now zero it must probe it (RFC 9293 §3.8.6.1, RFC 1122
    // §4.2.2.17: the first probe when the zero window has lasted an RTO).
    let mut h = Harness::passive(simple(), PeerOpts::plain().win(4380));
    h.write(200, &pattern(0, 6000));
    let sent = h.recv_all(200);
    assert_eq!(sent.len(), 3, "{sent:?}");
    // The peer takes back its window: one segment acknowledged, window 0.
    h.send_at(250, seg().seq(h.r(1)).ack(h.l(1461)).win(0));
    h.expect_nothing(250);
    // Nothing beyond the window goes out, but the window is probed.
    let probes = h.recv_all(2000);
    for s in &probes {
        assert!(is_probe(&h, s, 1460), "{s:?}");
    }
    assert!(!probes.is_empty(), "a zero window (shrunk with data in flight) is never probed");
    // The window reopens: the rest follows, in order.
    h.send_at(2000, seg().seq(h.r(1)).ack(h.l(1461)).win(65535));
    ack_everything(&mut h, 2000, 1460, 6000);
}

/// Established, peer window closed at 150 ms, 100 bytes written at 200 ms.
fn zero_window(cfg: TcpConfig) -> Harness {
    let mut h = Harness::passive(cfg, PeerOpts::plain());
    h.send_at(150, seg().seq(h.r(1)).ack(h.l(1)).win(0));
    h.write(200, &pattern(0, 100));
    h
}

#[test]
fn first_zero_window_probe_after_one_rto() {
    // RFC 1122 §4.2.2.17: the first probe when the zero window has lasted
    // the RTO (300 ms here).
    let mut h = zero_window(simple());
    h.expect_nothing(499);
    let got = h.recv_timed(500);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, ms(500));
    assert!(is_probe(&h, &got[0].1, 0), "{got:?}");
    // The window opens: all the data (a probed byte included).
    h.send_at(600, seg().seq(h.r(1)).ack(h.l(1)).win(65535));
    let rest = h.recv_all(600);
    let last = rest.last().expect("data after the window opened");
    assert_eq!(last.seq.wrapping_add(last.payload.len() as u32), h.l(101), "{rest:?}");
}

/// Probes until `count` were sent, answering each after 10 ms with a zero
/// window if `answer`; returns when they left.
fn probe_times(h: &mut Harness, count: usize, answer: bool, until: u64) -> Vec<u64> {
    let mut times = Vec::new();
    let mut t = 200;
    while times.len() < count && t < until {
        t += 10;
        for (at, s) in h.recv_timed(t) {
            assert!(is_probe(h, &s, 0), "at {at:?}: {s:?}");
            times.push(at.as_millis());
            if answer {
                h.send_at(at.as_millis() + 10, seg().seq(h.r(1)).ack(h.l(1)).win(0));
            }
        }
    }
    times
}

#[test]
fn zero_window_probes_back_off_exponentially() {
    // RFC 9293 §3.8.6.1 (SHLD-30) / RFC 1122 §4.2.2.17: the interval
    // between successive probes SHOULD increase exponentially, also while
    // the receiver answers each probe with a zero window.
    let mut h = zero_window(simple());
    let times = probe_times(&mut h, 5, true, 60_000);
    assert_eq!(times.len(), 5);
    assert_eq!(times[0], 500, "first probe after one RTO");
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for g in gaps.windows(2) {
        assert!(g[1] >= 2 * g[0], "probe intervals {gaps:?} (at {times:?}) do not back off");
    }
}

#[test]
fn answered_zero_window_probes_never_time_out() {
    // RFC 1122 §4.2.2.17: as long as the receiver acknowledges the probes,
    // the sender MUST keep the connection open, however long.
    let mut h = zero_window(with(simple(), |c| c.max_retries = 3));
    let times = probe_times(&mut h, 20, true, 3_600_000);
    assert_eq!(times.len(), 20, "probing stopped: {times:?}");
    assert_eq!(h.state(), State::Established);
}

#[test]
fn unanswered_zero_window_probes_time_out() {
    let mut h = zero_window(with(simple(), |c| c.max_retries = 3));
    let times = probe_times(&mut h, 100, false, 100_000);
    assert_eq!(times.len(), 3, "max_retries probes, then give up: {times:?}");
    assert_eq!(h.recv_result(100_000), Err(Error::TimedOut));
}

#[test]
fn advertised_window_shrinks_as_data_waits() {
    let mut h = Harness::passive(with(simple(), |c| c.recv_buffer = 4096), PeerOpts::plain());
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 1000));
    h.expect1(240, seg().seq(h.l(1)).ack(h.r(1001)).win(3096));
    h.send_at(300, seg().seq(h.r(1001)).ack(h.l(1)).data(1000, 1000));
    h.expect1(340, seg().seq(h.l(1)).ack(h.r(2001)).win(2096));
}

#[test]
fn receiver_avoids_silly_window_updates() {
    // RFC 9293 §3.8.6.2.2: the right edge moves only when the space freed
    // reaches min(buffer / 2, MSS) = min(2048, 1460).
    let mut h = Harness::full_4096_window();
    assert_eq!(h.read_max(300, 1000), pattern(0, 1000));
    h.expect_nothing(300);
    assert_eq!(h.read_max(310, 459), pattern(1000, 459));
    h.expect_nothing(310);
    assert_eq!(h.read_max(320, 1), pattern(1459, 1));
    h.expect1(320, seg().seq(h.l(1)).ack(h.r(4097)).win(1460));
    // The edge stays until another MSS is freed.
    assert_eq!(h.read_max(330, 1000), pattern(1460, 1000));
    h.expect_nothing(330);
}

#[test]
fn sender_avoids_silly_window_segments() {
    // RFC 9293 §3.8.6.2.1: send only a full segment, all queued data with
    // nothing unacknowledged, or at least half the largest window offered,
    // until the override timeout.
    let mut h = Harness::passive(simple(), PeerOpts::plain().win(4000));
    h.write(200, &pattern(0, 10_000));
    // 4000 of window: two full segments; the 1080-byte tail is less than
    // half the window (2000) and data is in flight: held.
    h.expect(
        200,
        &[seg().seq(h.l(1)).ack(h.r(1)).data(0, 1460), seg().seq(h.l(1461)).ack(h.r(1)).data(1460, 1460)],
    );
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(2921)).win(100));
    h.expect_nothing(300);
    // The override timeout (RFC 1122 §4.2.3.4: 0.1 to 1 s) sends what fits
    // (then retransmits it, unacknowledged here).
    let got = h.recv_timed(1300);
    assert!(!got.is_empty());
    assert!(got.iter().all(|(_, s)| *s == got[0].1), "{got:?}");
    let (at, s) = &got[0];
    let waited = at.saturating_since(ms(300));
    assert!(waited >= Duration::from_millis(100) && waited <= Duration::from_secs(1), "after {waited:?}");
    assert_eq!(*s, h.outbound(seg().seq(h.l(2921)).ack(h.r(1)).data(2920, 100)));
}

#[test]
fn window_updates_only_from_newer_segments() {
    // RFC 9293 §3.10.7.4 fifth step: SND.WND follows a segment only if
    // SND.WL1 < SEG.SEQ, or SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK. A
    // reordered older segment's window is ignored.
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.send_at(200, seg().seq(h.r(11)).ack(h.l(1)).win(5000).data(10, 10));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)));
    h.send_at(210, seg().seq(h.r(1)).ack(h.l(1)).win(100).data(0, 10));
    h.expect1(210, seg().seq(h.l(1)).ack(h.r(21)));
    h.write(220, &pattern(0, 2920));
    h.expect(
        220,
        &[
            seg().seq(h.l(1)).ack(h.r(21)).data(0, 1460),
            seg().seq(h.l(1461)).ack(h.r(21)).psh().data(1460, 1460),
        ],
    );
}
