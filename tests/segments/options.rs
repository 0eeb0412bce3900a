//! TCP options: MSS (RFC 9293 §3.7.1, RFC 1122 §4.2.2.6, RFC 6691),
//! timestamps and PAWS (RFC 7323 §3-§5), SACK (RFC 2018), and unknown
//! options (RFC 9293 §3.1).

use crate::harness::*;

fn ts_only() -> TcpConfig {
    with(simple(), |c| c.timestamps = true)
}

fn sack_only() -> TcpConfig {
    with(simple(), |c| c.sack = true)
}

fn peer_ts() -> PeerOpts {
    PeerOpts { ts: Some(PEER_TS0), ..PeerOpts::plain() }
}

fn peer_sack() -> PeerOpts {
    PeerOpts { sack: true, ..PeerOpts::plain() }
}

/// Passive open answering `syn` (no timestamps); returns the payload sizes
/// of the segments 3000 bytes written with nodelay go out in.
fn segment_sizes(cfg: StackConfig, syn: Seg) -> Vec<usize> {
    let mut h = Harness::with_stack(cfg);
    h.listen();
    h.send_at(0, syn);
    let sa = h.recv_all(0);
    assert_eq!(sa.len(), 1);
    h.learn_syn(&sa[0], ms(0));
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)));
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.app(200, |s, c| s.set_nodelay(c, true)).unwrap();
    h.write(200, &pattern(0, 3000));
    h.recv_all(200).iter().map(|s| s.payload.len()).collect()
}

fn stack_cfg(cfg: TcpConfig) -> StackConfig {
    let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
    sc.tcp = cfg;
    sc
}

#[test]
fn advertised_mss_follows_the_mtu() {
    let mut sc = stack_cfg(simple());
    sc.mtu = 1000;
    let mut h = Harness::with_stack(sc);
    h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(960));
}

#[test]
fn peer_mss_bounds_our_segments() {
    let syn = seg().syn().seq(PEER_ISS).mss(536);
    assert_eq!(segment_sizes(stack_cfg(simple()), syn), [536, 536, 536, 536, 536, 320]);
}

#[test]
fn missing_mss_option_means_536() {
    // RFC 9293 §3.7.1 (MUST-15), RFC 1122 §4.2.2.6.
    let syn = seg().syn().seq(PEER_ISS);
    assert_eq!(segment_sizes(stack_cfg(simple()), syn), [536, 536, 536, 536, 536, 320]);
}

#[test]
fn our_mtu_bounds_a_larger_peer_mss() {
    let syn = seg().syn().seq(PEER_ISS).mss(9000);
    assert_eq!(segment_sizes(stack_cfg(simple()), syn), [1460, 1460, 80]);
}

#[test]
fn options_come_out_of_the_mss() {
    // RFC 9293 §3.7.1 / RFC 6691: the 12 bytes of timestamps reduce the
    // data per segment to 1448.
    let syn = seg().syn().seq(PEER_ISS).mss(1460).ts(PEER_TS0, 0);
    let mut h = Harness::with_stack(stack_cfg(ts_only()));
    h.listen();
    h.send_at(0, syn);
    let sa = h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460).ts(0, PEER_TS0));
    let ecr = sa.options.timestamps.unwrap().tsval;
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)).ts(PEER_TS0 + 1, ecr));
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.write(200, &pattern(0, 3000));
    let sizes: Vec<usize> = h.recv_all(200).iter().map(|s| s.payload.len()).collect();
    assert_eq!(sizes, [1448, 1448]);
}

#[test]
fn unknown_options_are_skipped_by_length() {
    // RFC 9293 §3.1 (MUST-68): MSS 1000, an unknown kind 99 of length 4,
    // then end of list.
    let syn = seg().syn().seq(PEER_ISS).raw_options(&[2, 4, 0x03, 0xe8, 99, 4, 0xab, 0xcd, 0, 0, 0, 0]);
    assert_eq!(segment_sizes(stack_cfg(simple()), syn), [1000, 1000, 1000]);
}

#[test]
fn malformed_option_drops_the_segment() {
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, seg().syn().seq(PEER_ISS).raw_options(&[2, 3, 0x05, 0]));
    h.expect_nothing(0);
    assert_eq!(h.stats().rx_malformed, 1);
}

// ---- timestamps -------------------------------------------------------

/// Established with timestamps: TS.Recent = PEER_TS0 + 1 after the
/// handshake's ACK at 100 ms.
fn with_ts() -> Harness {
    Harness::passive(ts_only(), peer_ts())
}

#[test]
fn timestamps_go_on_every_segment() {
    // RFC 7323 §3.2: once negotiated, TSopt MUST be sent in every non-RST
    // segment; TSecr is TS.Recent.
    let mut h = with_ts();
    h.write(200, b"data");
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).psh().payload(b"data").ts(h.our_ts(200), PEER_TS0 + 1));
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(5)).ts(PEER_TS0 + 2, h.our_ts(200)).payload(b"x"));
    h.expect1(340, seg().seq(h.l(5)).ack(h.r(2)).ts(h.our_ts(340), PEER_TS0 + 2));
    h.shutdown(400, Shutdown::Write);
    h.expect1(400, seg().fin().seq(h.l(5)).ack(h.r(2)).ts(h.our_ts(400), PEER_TS0 + 2));
}

#[test]
fn tsecr_echoes_the_earliest_unacknowledged_segment() {
    // RFC 7323 §4.3: TS.Recent takes SEG.TSval only when SEG.SEQ =<
    // Last.ACK.sent, so a delayed ACK for two segments echoes the first.
    let mut h = with_ts();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).ts(6000, h.our_ts(100)).data(0, 10));
    h.send_at(210, seg().seq(h.r(11)).ack(h.l(1)).ts(6001, h.our_ts(100)).data(10, 10));
    h.expect1(240, seg().seq(h.l(1)).ack(h.r(21)).ts(h.our_ts(240), 6000));
    h.send_at(300, seg().seq(h.r(21)).ack(h.l(1)).ts(6002, h.our_ts(240)).data(20, 10));
    h.expect1(340, seg().seq(h.l(1)).ack(h.r(31)).ts(h.our_ts(340), 6002));
}

#[test]
fn out_of_order_segments_do_not_update_ts_recent() {
    let mut h = with_ts();
    h.send_at(200, seg().seq(h.r(11)).ack(h.l(1)).ts(7000, h.our_ts(100)).data(10, 10));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).ts(h.our_ts(200), PEER_TS0 + 1));
}

#[test]
fn paws_drops_old_duplicates_with_an_ack() {
    // RFC 7323 §5.3 R1: SEG.TSval < TS.Recent: not acceptable, send an ACK
    // and drop it.
    let mut h = with_ts();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).ts(6000, h.our_ts(100)).data(0, 10));
    h.expect1(240, seg().seq(h.l(1)).ack(h.r(11)).ts(h.our_ts(240), 6000));
    h.send_at(300, seg().seq(h.r(11)).ack(h.l(1)).ts(5999, h.our_ts(100)).data(10, 10));
    h.expect1(300, seg().seq(h.l(1)).ack(h.r(11)).ts(h.our_ts(300), 6000));
    assert_eq!(h.read(300), pattern(0, 10));
}

#[test]
fn ts_recent_expires_after_24_days_idle() {
    // RFC 7323 §5.5: after 24 days of idleness TS.Recent is invalid, so an
    // old TSval no longer fails PAWS.
    let mut h = with_ts();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).ts(6000, h.our_ts(100)).data(0, 10));
    h.expect1(240, seg().seq(h.l(1)).ack(h.r(11)).ts(h.our_ts(240), 6000));
    let later: u64 = 25 * 24 * 3600 * 1000;
    h.send_at(later, seg().seq(h.r(11)).ack(h.l(1)).ts(10, h.our_ts(240)).data(10, 10));
    assert_eq!(h.read(later), pattern(0, 20));
}

#[test]
fn rst_carries_timestamps_once_negotiated() {
    // RFC 7323 §3.2: TSopt SHOULD be sent in an <RST> segment too.
    let mut h = with_ts();
    h.abort(200);
    let got = h.recv_all(200);
    assert_eq!(got.len(), 1);
    assert!(got[0].has(TcpFlags::RST));
    assert_eq!(got[0].options.timestamps, Some(Timestamps { tsval: h.our_ts(200), tsecr: PEER_TS0 + 1 }));
}

#[test]
fn paws_does_not_apply_to_rst() {
    let mut h = with_ts();
    h.send_at(200, seg().rst().seq(h.r(1)).win(0).ts(1, 0));
    h.expect_nothing(200);
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn rst_without_timestamps_is_accepted() {
    let mut h = with_ts();
    h.send_at(200, seg().rst().seq(h.r(1)).win(0));
    h.expect_nothing(200);
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn segment_without_timestamps_is_dropped() {
    // RFC 7323 §3.2: a non-RST segment without TSopt SHOULD be silently
    // dropped.
    let mut h = with_ts();
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 10));
    h.expect_nothing(1000);
    assert_eq!(h.read(1000), b"");
}

#[test]
fn no_timestamps_unless_the_syn_offered_them() {
    let mut h = Harness::new(ts_only());
    h.listen();
    h.open_passive(0, 100, PeerOpts::plain());
    h.write(200, b"x");
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).psh().payload(b"x"));
}

#[test]
fn no_timestamps_unless_the_syn_ack_carried_them() {
    let mut h = Harness::new(ts_only());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460).ts(0, 0));
    h.send_at(100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460));
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(1)));
}

#[test]
fn timestamps_give_rtt_samples() {
    // RFC 7323 §4: RTT = now - TSecr. Handshake: 100 ms; then 150 ms:
    // SRTT = 7/8·100 + 1/8·150 = 106.25 ms.
    let mut h = with_ts();
    let srtt = |h: &Harness| h.stack.connection(h.sock()).unwrap().srtt();
    assert_eq!(srtt(&h), Some(Duration::from_millis(100)));
    h.write(1000, b"data");
    h.expect1(1000, seg().seq(h.l(1)).ack(h.r(1)).psh().payload(b"data").ts(h.our_ts(1000), PEER_TS0 + 1));
    h.send_at(1150, seg().seq(h.r(1)).ack(h.l(5)).ts(PEER_TS0 + 2, h.our_ts(1000)));
    assert_eq!(srtt(&h), Some(Duration::from_micros(106_250)));
}

#[test]
fn timestamps_time_retransmissions_too() {
    // RFC 6298 §3: with timestamps a retransmission can be timed without
    // ambiguity. The echo of the retransmission's TSval: 50 ms.
    let mut h = with_ts();
    h.write(1000, b"data");
    h.expect1(1000, seg().seq(h.l(1)).ack(h.r(1)).psh().payload(b"data").ts(h.our_ts(1000), PEER_TS0 + 1));
    h.expect1(1300, seg().seq(h.l(1)).ack(h.r(1)).psh().payload(b"data").ts(h.our_ts(1300), PEER_TS0 + 1));
    h.send_at(1350, seg().seq(h.r(1)).ack(h.l(5)).ts(PEER_TS0 + 2, h.our_ts(1300)));
    let srtt = h.stack.connection(h.sock()).unwrap().srtt();
    assert_eq!(srtt, Some(Duration::from_micros(93_750)));
}

// ---- SACK ---------------------------------------------------------------

#[test]
fn sack_permitted_when_both_syns_carry_it() {
    let mut h = Harness::new(sack_only());
    h.listen();
    h.send_at(0, h.peer_syn(peer_sack()));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460).sack_perm());
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)));
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.send_at(200, seg().seq(h.r(11)).ack(h.l(1)).data(10, 10));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)).sack(&[(h.r(11), h.r(21))]));
}

#[test]
fn no_sack_when_the_syn_lacks_it() {
    let mut h = Harness::new(sack_only());
    h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)));
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.send_at(200, seg().seq(h.r(11)).ack(h.l(1)).data(10, 10));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)));
}

#[test]
fn no_sack_when_we_do_not_offer_it() {
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, h.peer_syn(peer_sack()));
    h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)));
    h.c.sock = Some(h.stack.accept(h.listener.unwrap()).unwrap());
    h.send_at(200, seg().seq(h.r(11)).ack(h.l(1)).data(10, 10));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)));
}

#[test]
fn no_sack_when_the_syn_ack_lacks_it() {
    let mut h = Harness::new(sack_only());
    h.connect(0);
    h.expect_syn(0, seg().syn().mss(1460).sack_perm());
    h.send_at(100, seg().syn().seq(h.r(0)).ack(h.l(1)).mss(1460));
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(1)));
    h.send_at(200, seg().seq(h.r(11)).ack(h.l(1)).data(10, 10));
    h.expect1(200, seg().seq(h.l(1)).ack(h.r(1)));
}

/// Segment `k` of 1000 bytes from the peer.
fn pseg(h: &Harness, k: u32) -> Seg {
    seg().seq(h.r(1 + 1000 * k)).ack(h.l(1)).data(1000 * k as usize, 1000)
}

fn blocks(h: &Harness, ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    ranges.iter().map(|&(a, b)| (h.r(1 + 1000 * a), h.r(1 + 1000 * b))).collect()
}

#[test]
fn sack_blocks_most_recent_first() {
    // RFC 2018 §4: the first block holds the segment that triggered the
    // ACK; the others follow, most recently reported first.
    let mut h = Harness::passive(sack_only(), peer_sack());
    let dup = |h: &Harness, rcv: u32, b: &[(u32, u32)]| {
        seg().seq(h.l(1)).ack(h.r(1 + 1000 * rcv)).sack(&blocks(h, b))
    };
    h.send_at(200, pseg(&h, 2));
    h.expect1(200, dup(&h, 0, &[(2, 3)]));
    h.send_at(201, pseg(&h, 4));
    h.expect1(201, dup(&h, 0, &[(4, 5), (2, 3)]));
    h.send_at(202, pseg(&h, 6));
    h.expect1(202, dup(&h, 0, &[(6, 7), (4, 5), (2, 3)]));
    h.send_at(203, pseg(&h, 3));
    h.expect1(203, dup(&h, 0, &[(2, 5), (6, 7)]));
    // Segment 0 advances the ACK: the remaining blocks, recent first.
    h.send_at(204, pseg(&h, 0));
    h.expect1(204, dup(&h, 1, &[(2, 5), (6, 7)]));
    h.send_at(205, pseg(&h, 1));
    h.expect1(205, dup(&h, 5, &[(6, 7)]));
    h.send_at(206, pseg(&h, 5));
    h.expect1(206, seg().seq(h.l(1)).ack(h.r(7001)));
    assert_eq!(h.read(206), pattern(0, 7000));
}

#[test]
fn at_most_four_sack_blocks_fit() {
    // RFC 2018 §3: 40 bytes of options hold at most 4 blocks.
    let mut h = Harness::passive(sack_only(), peer_sack());
    for (i, k) in [2, 4, 6, 8, 10].into_iter().enumerate() {
        h.send_at(200 + i as u64, pseg(&h, k));
        h.recv_all(200 + i as u64);
    }
    h.send_at(300, pseg(&h, 12));
    let b = blocks(&h, &[(12, 13), (10, 11), (8, 9), (6, 7)]);
    h.expect1(300, seg().seq(h.l(1)).ack(h.r(1)).sack(&b));
}

#[test]
fn at_most_three_sack_blocks_fit_beside_timestamps() {
    // RFC 2018 §3: with the 10-byte timestamps option, 3 blocks.
    let cfg = with(simple(), |c| {
        c.sack = true;
        c.timestamps = true
    });
    let mut h = Harness::passive(cfg, PeerOpts { sack: true, ts: Some(PEER_TS0), ..PeerOpts::plain() });
    for (i, k) in [2, 4, 6, 8].into_iter().enumerate() {
        h.send_at(200 + i as u64, pseg(&h, k).ts(PEER_TS0 + 2, 0));
        h.recv_all(200 + i as u64);
    }
    h.send_at(300, pseg(&h, 10).ts(PEER_TS0 + 2, 0));
    let b = blocks(&h, &[(10, 11), (8, 9), (6, 7)]);
    h.expect1(300, seg().seq(h.l(1)).ack(h.r(1)).sack(&b).ts(h.our_ts(300), PEER_TS0 + 1));
}
