//! The receive window at its edges (RFC 9293 §3.8.6, RFC 1122 §4.2.2.16
//! and §4.2.3.3, RFC 7323 §2.4): the right edge under window scaling,
//! silly window avoidance after a full buffer, segments that overrun the
//! window or the buffer, and more out-of-order islands than the
//! reassembler tracks.

use crate::harness::*;

/// The right edge a segment of ours advertises, for a shift of `ws`.
fn edge(s: &Seg, ws: u8) -> u32 {
    s.ack.wrapping_add(u32::from(s.window) << ws)
}

fn assert_edges_never_move_left(segs: &[Seg], ws: u8) {
    for w in segs.windows(2) {
        let (a, b) = (edge(&w[0], ws), edge(&w[1], ws));
        assert!(
            b.wrapping_sub(a) as i32 >= 0,
            "right edge moved left by {} bytes:\n  {:?}\n  {:?}",
            a.wrapping_sub(b),
            w[0],
            w[1]
        );
    }
}

#[test]
fn right_edge_never_moves_left_with_window_scaling() {
    // RFC 1122 §4.2.2.16: "A receiving TCP SHOULD NOT shrink the window,
    // i.e., move the right window edge to the left" (RFC 9293 §3.8.6:
    // "strongly discouraged"). With a scale of 3, a window left as it was
    // (SWS avoidance) but rounded down to a multiple of 8 after a segment
    // whose length is not one moves the edge left; RFC 7323 §2.4 lets a
    // receiver advertise up to 2^shift - 1 bytes beyond instead, as Linux
    // does. `Receiver::adv_edge` documents "it never moves left".
    let mut h = Harness::passive(TcpConfig::default(), PeerOpts::full());
    let ecr = h.our_ts(100);
    let mut ours = Vec::new();
    let mut off = 0usize;
    for (i, len) in [100usize, 100, 7, 1000, 3, 1448, 1448, 13].into_iter().enumerate() {
        let t = 200 + 100 * i as u64;
        let ts = PEER_TS0 + 2 + i as u32;
        h.send_at(t, seg().seq(h.r(1 + off as u32)).ack(h.l(1)).ts(ts, ecr).data(off, len));
        off += len;
        ours.extend(h.recv_all(t + 50));
        if i == 4 {
            assert_eq!(h.read_max(t + 50, 150), pattern(0, 150));
            ours.extend(h.recv_all(t + 50));
        }
    }
    assert!(ours.len() >= 7, "{ours:?}");
    assert_edges_never_move_left(&ours, 3);
}

#[test]
fn no_tiny_window_updates_after_a_full_buffer_with_scaling() {
    // RFC 9293 §3.8.6.2.2 / RFC 1122 §4.2.3.3 with a window scale of 1
    // (100 000-byte buffer): reads that free less than min(buffer/2, MSS)
    // = 1460 bytes are not announced; the one that gets there is, exactly.
    let cfg = with(simple(), |c| {
        c.window_scaling = true;
        c.recv_buffer = 100_000
    });
    let mut h = Harness::passive(cfg, PeerOpts { ws: Some(7), ..PeerOpts::plain() });
    let mut off = 0;
    let mut t = 200;
    let mut acks = Vec::new();
    while off < 100_000 {
        let len = (100_000 - off).min(1460);
        h.send_at(t, seg().seq(h.r(1 + off as u32)).ack(h.l(1)).data(off, len));
        acks.extend(h.recv_all(t));
        off += len;
        t += 1;
    }
    acks.extend(h.recv_all(t + 40));
    assert_eq!(acks.last(), Some(&h.outbound(seg().seq(h.l(1)).ack(h.r(100_001)).win(0))));
    assert_edges_never_move_left(&acks, 1);
    let t = t + 100;
    for k in 0..2 {
        assert_eq!(h.read_max(t + k, 500).len(), 500);
        h.expect_nothing(t + k);
    }
    assert_eq!(h.read_max(t + 2, 500).len(), 500);
    h.expect1(t + 2, seg().seq(h.l(1)).ack(h.r(100_001)).win(750));
    for k in 3..6 {
        assert_eq!(h.read_max(t + k, 500).len(), 500);
        h.expect_nothing(t + k);
    }
}

#[test]
fn a_scaled_window_takes_all_it_offers() {
    // With a scale of 3 and an unread buffer, holding the right edge after
    // a segment whose length is not a multiple of 8 rounds the window up
    // (RFC 7323 §2.4): it then offers up to 7 bytes more than the buffer
    // has free. Those bytes must be taken when they come. Dropping them,
    // although offered, makes the peer count them as sent; its pure ACKs
    // then carry a sequence number beyond our window and are discarded,
    // and with loss both ends back off until the connection stalls (seen
    // with Linux as the peer under 5 % loss).
    let mut h = Harness::passive(TcpConfig::default(), PeerOpts { ws: Some(7), ..PeerOpts::plain() });
    let cap = TcpConfig::default().recv_buffer;
    let (mut off, mut t) = (0usize, 200u64);
    let mut over = None;
    for len in [100usize, 7, 1000, 3, 1448, 13].into_iter().cycle().take(2000) {
        h.send_at(t, seg().seq(h.r(1 + off as u32)).ack(h.l(1)).data(off, len));
        off += len;
        let acks = h.recv_all(t + 50);
        t += 100;
        if let Some(last) = acks.last() {
            let offered = (u32::from(last.window) << 3) as usize;
            if offered > cap - off {
                over = Some(offered);
                break;
            }
        }
    }
    let offered = over.expect("the rounded-up window offered more than the free space");
    assert!(offered - (cap - off) < 8, "more than a unit over: {offered} offered, {} free", cap - off);
    // The peer fills exactly what was offered.
    let mut got = Vec::new();
    let mut at = off;
    while at < off + offered {
        let len = (off + offered - at).min(1448);
        h.send_at(t, seg().seq(h.r(1 + at as u32)).ack(h.l(1)).data(at, len));
        got.extend(h.recv_all(t));
        at += len;
    }
    got.extend(h.recv_all(t + 50));
    let last = got.last().expect("an ACK");
    assert_eq!(last.ack, h.r(1 + (off + offered) as u32), "every offered byte taken: {got:?}");
    assert_eq!(h.read_max(t + 100, off + offered), pattern(0, off + offered));
}

#[test]
fn segment_overrunning_the_buffer_is_trimmed_and_the_rest_comes_later() {
    // RFC 9293 §3.10.7.4: text beyond the window is trimmed off; the peer
    // retransmits it once the window opens. Nothing is lost or doubled.
    let mut h = Harness::passive(with(simple(), |c| c.recv_buffer = 4096), PeerOpts::plain());
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 1460));
    h.send_at(201, seg().seq(h.r(1461)).ack(h.l(1)).data(1460, 1460));
    h.expect1(201, seg().seq(h.l(1)).ack(h.r(2921)).win(1176));
    // 1460 bytes into a window of 1176: 284 do not fit.
    h.send_at(202, seg().seq(h.r(2921)).ack(h.l(1)).data(2920, 1460));
    h.expect1(202, seg().seq(h.l(1)).ack(h.r(4097)).win(0));
    assert_eq!(h.read(300), pattern(0, 4096));
    h.expect1(300, seg().seq(h.l(1)).ack(h.r(4097)).win(4096));
    h.send_at(400, seg().seq(h.r(4097)).ack(h.l(1)).data(4096, 284));
    h.expect1(440, seg().seq(h.l(1)).ack(h.r(4381)).win(3812));
    assert_eq!(h.read(440), pattern(4096, 284));
}

#[test]
fn data_beyond_the_window_is_never_held() {
    // A segment wholly beyond RCV.NXT + RCV.WND is not acceptable (RFC 9293
    // §3.10.7.4): an ACK, and its bytes are not kept. One that straddles
    // the right edge keeps only its in-window part.
    let mut h = Harness::passive(with(simple(), |c| c.recv_buffer = 4096), PeerOpts::plain());
    let dup = seg().seq(h.l(1)).ack(h.r(1)).win(4096);
    h.send_at(200, seg().seq(h.r(4097)).ack(h.l(1)).payload(b"beyond"));
    h.expect1(200, dup.clone());
    h.send_at(201, seg().seq(h.r(4090)).ack(h.l(1)).data(4089, 20));
    h.expect1(201, dup);
    let mut acks = Vec::new();
    for (t, from, to) in [(202, 0, 1460), (203, 1460, 2920), (204, 2920, 4089)] {
        h.send_at(t, seg().seq(h.r(1 + from)).ack(h.l(1)).data(from as usize, (to - from) as usize));
        acks.extend(h.recv_all(t));
    }
    assert_eq!(acks.last(), Some(&h.outbound(seg().seq(h.l(1)).ack(h.r(4097)).win(0))), "{acks:?}");
    assert_eq!(h.read(300), pattern(0, 4096));
    assert_eq!(h.recv_result(300), Err(Error::WouldBlock), "nothing beyond the window was kept");
    h.expect1(300, seg().seq(h.l(1)).ack(h.r(4097)).win(4096));
}

#[test]
fn more_out_of_order_islands_than_tracked_delay_but_never_lose_data() {
    // The reassembler tracks 32 ranges; islands beyond that are dropped
    // (and acknowledged at once) and must be retransmitted, never merged
    // into the wrong place. Island k is the stream's bytes [200k, 200k+100)
    // for k = 1..=40.
    let cfg = with(simple(), |c| c.sack = true);
    let mut h = Harness::passive(cfg, PeerOpts { sack: true, ..PeerOpts::plain() });
    let island = |h: &Harness, k: u32| seg().seq(h.r(1 + 200 * k)).ack(h.l(1)).data(200 * k as usize, 100);
    let block = |h: &Harness, k: u32| (h.r(1 + 200 * k), h.r(1 + 200 * k + 100));
    let mut refused = Vec::new();
    for k in 1..=40u32 {
        let t = 200 + u64::from(k);
        h.send_at(t, island(&h, k));
        let acks = h.recv_all(t);
        assert_eq!(acks.len(), 1, "one immediate ACK for island {k}: {acks:?}");
        let a = &acks[0];
        assert_eq!(a.ack, h.r(1), "island {k}: {a:?}");
        let first = a.options.sack.as_slice().first().copied();
        // RFC 2018 §4: the first block reports the segment that triggered
        // the ACK, when it was kept.
        if first != Some(block(&h, k)) {
            refused.push(k);
        }
    }
    assert_eq!(refused, (33..=40).collect::<Vec<_>>(), "islands beyond the 32 tracked");
    // The peer fills the gaps in order; each fill releases one island.
    for k in 1..=32u32 {
        let from = if k == 1 { 0 } else { 200 * k - 100 };
        let t = 300 + u64::from(k);
        h.send_at(t, seg().seq(h.r(1 + from)).ack(h.l(1)).data(from as usize, (200 * k - from) as usize));
        let acks = h.recv_all(t);
        assert_eq!(acks.last().map(|a| a.ack), Some(h.r(1 + 200 * k + 100)), "gap {k}: {acks:?}");
    }
    // The dropped islands never made it in: the rest comes again, in order.
    let mut off = 6500;
    let mut t = 400;
    while off < 8100 {
        let len = (8100 - off).min(1000);
        h.send_at(t, seg().seq(h.r(1 + off as u32)).ack(h.l(1)).data(off, len));
        off += len;
        t += 1;
        h.recv_all(t);
    }
    assert_eq!(h.read(t), pattern(0, 8100));
}

#[test]
fn window_update_after_reading_data_that_overran_the_advertised_edge() {
    // RFC 7323 §2.4 lets a sender retransmit up to 2^shift - 1 bytes past
    // the window, and some peers overrun it; we keep such bytes when the
    // buffer has room (RCV.NXT then passes the advertised edge). When the
    // application then empties the buffer, the window update is due at
    // once (RFC 1122 §4.2.3.3: the window was below one MSS), as in
    // `window::receiver_avoids_silly_window_updates`.
    let mut h = Harness::passive(with(simple(), |c| c.recv_buffer = 4096), PeerOpts::plain());
    h.send_at(200, seg().seq(h.r(1)).ack(h.l(1)).data(0, 1460));
    h.send_at(201, seg().seq(h.r(1461)).ack(h.l(1)).data(1460, 1460));
    h.expect1(201, seg().seq(h.l(1)).ack(h.r(2921)).win(1176));
    h.send_at(202, seg().seq(h.r(2921)).ack(h.l(1)).data(2920, 1080));
    h.expect1(242, seg().seq(h.l(1)).ack(h.r(4001)).win(96));
    // 1000 bytes read: the window (1096) is held at 96 (SWS avoidance).
    assert_eq!(h.read_max(250, 1000), pattern(0, 1000));
    h.expect_nothing(250);
    // The peer sends 1000 bytes into the 96-byte window; they fit the
    // buffer, so they are kept.
    h.send_at(260, seg().seq(h.r(4001)).ack(h.l(1)).data(4000, 1000));
    assert_eq!(h.read(270), pattern(1000, 4000));
    h.expect1(270, seg().seq(h.l(1)).ack(h.r(5001)).win(4096));
}
