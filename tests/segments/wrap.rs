//! Sequence numbers and timestamps across 2^32 (RFC 9293 §3.4, RFC 7323
//! §5): our ISS or the peer's ISS just below the wrap with data, SACK
//! blocks, windows and FINs crossing it, and TSvals that wrap.
//!
//! Our ISS is RFC 6528's `t / 4 µs + F(4-tuple)`: F is read from a SYN-ACK
//! sent at t = 0, then the SYN is sent at the instant that makes the ISS
//! the value a test wants. Our TSval is `t in ms + offset(4-tuple)`, forced
//! the same way.

use crate::harness::*;

/// `ms` milliseconds after `t0`.
fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

/// Our ISS and TSval offset for a passive open from the default peer at
/// t = 0 (the constant parts of RFC 6528's ISN and of our TSval).
fn passive_bases() -> (u32, u32) {
    let mut h = Harness::new(with(simple(), |c| c.timestamps = true));
    h.listen();
    h.send_at(0, h.peer_syn(PeerOpts { ts: Some(PEER_TS0), ..PeerOpts::plain() }));
    let sa = h.recv_all(0);
    assert_eq!(sa.len(), 1, "{sa:?}");
    (sa[0].seq, sa[0].options.timestamps.expect("timestamps").tsval)
}

/// The instant at which a SYN from the default peer makes our ISS `iss`.
fn when_our_iss_is(iss: u32) -> Instant {
    us(4 * u64::from(iss.wrapping_sub(passive_bases().0)))
}

/// Passive open with the SYN at `t0` and the peer's ACK 100 ms later.
fn passive_at(cfg: TcpConfig, opts: PeerOpts, t0: Instant) -> Harness {
    let mut h = Harness::new(cfg);
    h.listen();
    h.open_passive(t0, at(t0, 100), opts);
    h
}

fn sack_opts() -> PeerOpts {
    PeerOpts { mss: Some(1000), sack: true, ..PeerOpts::default() }
}

#[test]
fn our_data_retransmission_and_fin_cross_the_wrap() {
    let t0 = when_our_iss_is(u32::MAX - 999);
    let mut h = passive_at(simple(), PeerOpts::plain(), t0);
    assert_eq!(h.l(1000), 0, "our sequence space wraps 1000 bytes in");
    h.write(at(t0, 200), &pattern(0, 2920));
    let first = seg().seq(h.l(1)).ack(h.r(1)).data(0, 1460);
    let second = seg().seq(h.l(1461)).ack(h.r(1)).psh().data(1460, 1460);
    h.expect(at(t0, 200), &[first, second.clone()]);
    // The first segment, which straddles zero, is acknowledged after 100
    // ms (SRTT stays 100 ms, RTTVAR 37.5 ms: RTO 250 ms); the second is
    // lost and comes back one RTO after that ACK.
    h.send_at(at(t0, 300), seg().seq(h.r(1)).ack(h.l(1461)));
    h.expect_nothing(at(t0, 549));
    h.expect1(at(t0, 550), second);
    h.send_at(at(t0, 600), seg().seq(h.r(1)).ack(h.l(2921)));
    h.expect_nothing(at(t0, 600));
    assert_eq!(h.stack.all_acknowledged(h.sock()), Ok(true));
    h.shutdown(at(t0, 700), Shutdown::Write);
    h.expect1(at(t0, 700), seg().fin().seq(h.l(2921)).ack(h.r(1)));
    h.send_at(at(t0, 750), seg().seq(h.r(1)).ack(h.l(2922)));
    h.expect_nothing(at(t0, 750));
    assert_eq!(h.state(), State::FinWait2);
}

#[test]
fn our_fin_on_the_last_sequence_number() {
    // Ten bytes, then the FIN at 2^32 - 1: its ACK is 0.
    let t0 = when_our_iss_is(u32::MAX - 11);
    let mut h = passive_at(simple(), PeerOpts::plain(), t0);
    h.app(at(t0, 200), |s, c| {
        s.send(c, &pattern(0, 10)).unwrap();
        s.shutdown(c, Shutdown::Write).unwrap();
    });
    h.expect1(at(t0, 200), seg().fin().psh().seq(h.l(1)).ack(h.r(1)).data(0, 10));
    assert_eq!(h.l(11), u32::MAX);
    h.send_at(at(t0, 250), seg().seq(h.r(1)).ack(0));
    h.expect_nothing(at(t0, 250));
    assert_eq!(h.state(), State::FinWait2);
    h.send_at(at(t0, 300), seg().fin().seq(h.r(1)).ack(0));
    h.expect1(at(t0, 300), seg().seq(0).ack(h.r(2)));
    assert_eq!(h.state(), State::TimeWait);
}

#[test]
fn sack_recovery_across_our_wrap() {
    // Segments of 1000 bytes; zero falls inside segment 3. Segments 0 and
    // 5 are lost; the SACK blocks the peer reports straddle zero.
    let t0 = when_our_iss_is(u32::MAX - 3499);
    let mut h = passive_at(with(simple(), |c| c.sack = true), sack_opts(), t0);
    assert_eq!(h.l(3500), 0);
    h.write(at(t0, 1000), &pattern(0, 10_000));
    let sent = h.recv_all(at(t0, 1000));
    let offsets: Vec<u32> = sent.iter().map(|s| s.seq.wrapping_sub(h.l(1))).collect();
    assert_eq!(offsets, (0..10).map(|k| 1000 * k).collect::<Vec<_>>(), "{sent:?}");
    let dup = |h: &Harness, hi: u32| {
        let mut b = vec![(h.l(1001), h.l(5001))];
        if hi > 6 {
            b.insert(0, (h.l(6001), h.l(1 + 1000 * hi)));
        }
        seg().seq(h.r(1)).ack(h.l(1)).sack(&b)
    };
    let mut resent = Vec::new();
    for (i, hi) in [5, 5, 5, 7, 8, 9, 10].into_iter().enumerate() {
        let t = at(t0, 1100 + i as u64);
        h.send_at(t, dup(&h, hi));
        for s in h.recv_all(t) {
            let off = s.seq.wrapping_sub(h.l(1));
            assert_eq!(s.payload, pattern(off as usize, s.payload.len()), "{s:?}");
            resent.push(off / 1000);
        }
    }
    assert!(resent.contains(&0) && resent.contains(&5), "retransmitted segments {resent:?}");
    // Everything is then acknowledged across the wrap.
    h.send_at(at(t0, 1200), seg().seq(h.r(1)).ack(h.l(10_001)));
    h.recv_all(at(t0, 1200));
    assert_eq!(h.stack.all_acknowledged(h.sock()), Ok(true));
}

#[test]
fn sack_blocks_we_send_straddle_the_peer_wrap() {
    // RFC 2018 §4: blocks are sequence numbers, so they wrap like them.
    let mut h = Harness::new(with(simple(), |c| c.sack = true));
    h.c.irs = 0xffff_fc00;
    h.listen();
    h.open_passive(0, 100, PeerOpts { sack: true, ..PeerOpts::plain() });
    let bytes = |h: &Harness, from: u32, to: u32| {
        seg().seq(h.r(1 + from)).ack(h.l(1)).data(from as usize, (to - from) as usize)
    };
    let ack = |h: &Harness, upto: u32| seg().seq(h.l(1)).ack(h.r(1 + upto));
    assert!(h.r(2001) < h.r(1001), "the block [1000, 2000) straddles zero");
    h.send_at(200, bytes(&h, 1000, 2000));
    h.expect1(200, ack(&h, 0).sack(&[(h.r(1001), h.r(2001))]));
    h.send_at(201, bytes(&h, 3000, 4000));
    h.expect1(201, ack(&h, 0).sack(&[(h.r(3001), h.r(4001)), (h.r(1001), h.r(2001))]));
    h.send_at(202, bytes(&h, 0, 1000));
    h.expect1(202, ack(&h, 2000).sack(&[(h.r(3001), h.r(4001))]));
    h.send_at(203, bytes(&h, 2000, 3000));
    h.expect1(203, ack(&h, 4000));
    assert_eq!(h.read(203), pattern(0, 4000));
}

#[test]
fn peer_fin_on_the_last_sequence_number() {
    let mut h = Harness::new(simple());
    h.c.irs = u32::MAX - 11;
    h.listen();
    h.open_passive(0, 100, PeerOpts::plain());
    h.shutdown(150, Shutdown::Write);
    h.expect1(150, seg().fin().seq(h.l(1)).ack(h.r(1)));
    assert_eq!(h.r(11), u32::MAX, "the peer's FIN takes the last number");
    h.send_at(200, seg().fin().seq(h.r(1)).ack(h.l(2)).data(0, 10));
    h.expect1(200, seg().seq(h.l(2)).ack(0));
    assert_eq!(h.state(), State::TimeWait);
    assert_eq!(h.read(200), pattern(0, 10));
    assert_eq!(h.recv_result(200), Ok(0));
    // A retransmitted FIN is acknowledged again with 0.
    h.send_at(300, seg().fin().seq(h.r(1)).ack(h.l(2)).data(0, 10));
    h.expect1(300, seg().seq(h.l(2)).ack(0));
}

#[test]
fn receive_window_straddles_the_wrap() {
    // RCV.NXT = 2^32 - 1000, RCV.WND = 3000: the window's right edge is
    // past zero. RFC 9293 §3.10.7.4 and RFC 5961 §3.2 at its edges.
    let mut h = Harness::new(with(simple(), |c| c.recv_buffer = 3000));
    h.c.irs = u32::MAX - 1000;
    h.listen();
    h.open_passive(0, 100, PeerOpts::plain());
    assert!(h.r(3001) < h.r(1));
    let challenge = seg().seq(h.l(1)).ack(h.r(1)).win(3000);
    h.send_at(200, seg().rst().seq(h.r(3000)).win(0));
    h.expect1(200, challenge.clone());
    h.send_at(300, seg().rst().seq(h.r(3001)).win(0));
    h.expect_nothing(300);
    // One past the window: not acceptable, an ACK. The window's last byte
    // is held out of order (and acknowledged at once).
    h.send_at(400, seg().seq(h.r(3001)).ack(h.l(1)).payload(b"x"));
    h.expect1(400, challenge.clone());
    h.send_at(401, seg().seq(h.r(3000)).ack(h.l(1)).payload(b"y"));
    h.expect1(401, challenge);
    let mut acks = Vec::new();
    for (t, from, to) in [(402, 0, 1460), (403, 1460, 2920), (404, 2920, 2999)] {
        h.send_at(t, seg().seq(h.r(1 + from)).ack(h.l(1)).data(from as usize, (to - from) as usize));
        acks.extend(h.recv_all(t));
    }
    assert_eq!(acks.last(), Some(&h.outbound(seg().seq(h.l(1)).ack(h.r(3001)).win(0))), "{acks:?}");
    let got = h.read(404);
    assert_eq!(got.len(), 3000);
    assert_eq!(&got[..2999], &pattern(0, 2999)[..]);
    assert_eq!(got[2999], b'y');
    assert_eq!(h.state(), State::Established);
}

#[test]
fn time_wait_reopens_for_a_syn_past_the_wrap() {
    // RFC 6191 without timestamps: the new SYN's sequence number is beyond
    // RCV.NXT in modular arithmetic, though numerically smaller.
    let mut h = Harness::new(simple());
    h.c.irs = u32::MAX - 50;
    h.listen();
    h.open_passive(0, 100, PeerOpts::plain());
    h.close(200);
    h.expect1(200, seg().fin().seq(h.l(1)).ack(h.r(1)));
    h.send_at(300, seg().fin().seq(h.r(1)).ack(h.l(2)));
    h.expect1(300, seg().seq(h.l(2)).ack(h.r(2)));
    h.send_at(1000, seg().syn().seq(h.r(100_000)).mss(1460));
    let sa = h.recv_all(1000);
    assert_eq!(sa.len(), 1, "{sa:?}");
    assert_eq!((sa[0].flags, sa[0].ack), (TcpFlags::SYN | TcpFlags::ACK, h.r(100_001)));
}

// ---- timestamps -------------------------------------------------------

fn ts_only() -> TcpConfig {
    with(simple(), |c| c.timestamps = true)
}

#[test]
fn peer_tsval_wraps_and_paws_still_works() {
    // RFC 7323 §5.2: TSvals compare modulo 2^32 like sequence numbers.
    let opts = PeerOpts { ts: Some(0xffff_fff0), ..PeerOpts::plain() };
    let mut h = passive_at(ts_only(), opts, ms(0));
    let ecr = h.our_ts(0);
    let data = |h: &Harness, from: u32, tsval: u32| {
        seg().seq(h.r(1 + from)).ack(h.l(1)).ts(tsval, ecr).data(from as usize, 10)
    };
    h.send_at(200, data(&h, 0, 0xffff_fffa));
    h.expect1(240, seg().seq(h.l(1)).ack(h.r(11)).ts(h.our_ts(240), 0xffff_fffa));
    h.send_at(300, data(&h, 10, 5));
    h.expect1(340, seg().seq(h.l(1)).ack(h.r(21)).ts(h.our_ts(340), 5));
    // New data with a TSval from before the wrap is an old duplicate for
    // PAWS (RFC 7323 §5.3 R1): dropped, with an ACK.
    h.send_at(400, data(&h, 20, 0xffff_fffb));
    h.expect1(400, seg().seq(h.l(1)).ack(h.r(21)).ts(h.our_ts(400), 5));
    assert_eq!(h.read(400), pattern(0, 20));
}

#[test]
fn our_tsval_wraps_and_rtt_is_still_measured() {
    // Our TSval is 2^32 - 50 when the SYN-ACK leaves and has wrapped by the
    // time the ACK echoing it returns 100 ms later (RFC 7323 §4.1).
    let offset = passive_bases().1;
    let t0 = ms(u64::from((u32::MAX - 49).wrapping_sub(offset)));
    let opts = PeerOpts { ts: Some(PEER_TS0), ..PeerOpts::plain() };
    let mut h = passive_at(ts_only(), opts, t0);
    assert_eq!(h.our_ts(t0), u32::MAX - 49);
    assert!(h.our_ts(at(t0, 100)) < 100, "wrapped");
    let conn = |h: &Harness| h.stack.connection(h.sock()).unwrap().srtt();
    assert_eq!(conn(&h), Some(Duration::from_millis(100)));
    h.write(at(t0, 200), b"ping");
    let sent = h.recv_all(at(t0, 200));
    assert_eq!(sent.len(), 1);
    let ecr = sent[0].options.timestamps.unwrap().tsval;
    h.send_at(at(t0, 260), seg().seq(h.r(1)).ack(h.l(5)).ts(PEER_TS0 + 2, ecr));
    // SRTT = 7/8 · 100 + 1/8 · 60 = 95 ms (RFC 6298 §2.3).
    assert_eq!(conn(&h), Some(Duration::from_millis(95)));
}

#[test]
fn ts_recent_is_refreshed_after_a_long_idle_period() {
    // RFC 7323 §5.5: after more than 24 days of idleness TS.Recent is
    // invalid; a segment that fails the PAWS test because the peer's
    // clock moved on by more than 2^31 ticks "is accepted, regardless of
    // the failure of the timestamp check, and rule R3 updates TS.Recent
    // with the TSval from the new segment". Our TSecr must then echo the
    // new TSval, and PAWS works again: a segment whose TSval is older
    // than the new TS.Recent (in the modular sense) is rejected. (The
    // pre-idle TSval itself is more than 2^31 away, so modular arithmetic
    // cannot call it older; that is why RFC 7323 needs §5.5.)
    let opts = PeerOpts { ts: Some(PEER_TS0), ..PeerOpts::plain() };
    let mut h = passive_at(ts_only(), opts, ms(0));
    let idle = 30 * 24 * 3600 * 1000u64; // 30 days of a 1 ms peer clock
    let t = 100 + idle;
    let tsval = (PEER_TS0 + 1).wrapping_add(idle as u32);
    let ecr = h.our_ts(100);
    h.send_at(t, seg().seq(h.r(1)).ack(h.l(1)).ts(tsval, ecr).data(0, 10));
    h.expect1(t + 40, seg().seq(h.l(1)).ack(h.r(11)).ts(h.our_ts(t + 40), tsval));
    assert_eq!(h.read(t + 40), pattern(0, 10));
    h.send_at(t + 100, seg().seq(h.r(11)).ack(h.l(1)).ts(tsval.wrapping_sub(1000), ecr).data(10, 10));
    h.expect1(t + 100, seg().seq(h.l(1)).ack(h.r(11)).ts(h.our_ts(t + 100), tsval));
    assert_eq!(h.read(t + 100), b"", "PAWS rejects the stale TSval again");
}
