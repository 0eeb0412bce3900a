//! The SYN queue and SYN cookies (RFC 4987 §3.6): a listener whose SYN
//! queue is full answers SYNs statelessly, and only a valid cookie ACK
//! opens a connection, with the options the SYN negotiated.

use crate::harness::*;

/// A stack whose listeners keep at most `syn_backlog` half-open
/// connections, with `cfg` for connections.
fn with_syn_backlog(cfg: TcpConfig, syn_backlog: usize, cookies: bool) -> Harness {
    Harness::with_limits(
        cfg,
        with(Limits::default(), |l| {
            l.syn_backlog = syn_backlog;
            l.syn_cookies = cookies
        }),
    )
}

fn syn_from(port: u16, iss: u32) -> Seg {
    seg().syn().seq(iss).mss(1460).ports(port, LISTEN_PORT)
}

/// Fills the SYN queue with `n` half-open connections from ports 30000+.
fn fill_syn_queue(h: &mut Harness, t: u64, n: u16) {
    for i in 0..n {
        h.send_at(t, syn_from(30000 + i, 7));
        let sa = h.recv_all(t);
        assert_eq!(sa.len(), 1, "{sa:?}");
    }
}

/// The peer's SYN for the default connection, with `opts`, at `t`; returns
/// the SYN-ACK that answered it (and makes its sequence number our ISS).
fn syn_ack_for(h: &mut Harness, t: u64, opts: PeerOpts) -> Seg {
    h.send_at(t, h.peer_syn(opts));
    let sa = h.recv_all(t);
    assert_eq!(sa.len(), 1, "{sa:?}");
    assert_eq!(sa[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(sa[0].ack, h.r(1));
    h.c.iss = sa[0].seq;
    sa[0].clone()
}

#[test]
fn a_full_syn_queue_answers_with_a_cookie_and_keeps_nothing() {
    let mut h = with_syn_backlog(simple(), 2, true);
    h.listen();
    fill_syn_queue(&mut h, 0, 2);
    assert_eq!(h.stack.socket_count(), 3);
    let sa = syn_ack_for(&mut h, 10, PeerOpts::plain());
    assert_eq!(sa.options.mss, Some(1460));
    assert_eq!((h.stats().syn_cookies_sent, h.stack.socket_count()), (1, 3));
    // Stateless: never retransmitted; the queued half-open ones are.
    let later: Vec<u16> = h.recv_all(1010).iter().map(|s| s.dst_port.unwrap_or(0)).collect();
    assert_eq!(later, [30000, 30001]);
}

#[test]
fn a_valid_cookie_ack_gives_an_accepted_stream() {
    let mut h = with_syn_backlog(simple(), 1, true);
    let l = h.listen();
    fill_syn_queue(&mut h, 0, 1);
    syn_ack_for(&mut h, 10, PeerOpts::plain());
    // The ACK carries the first data, as a client's often does.
    h.send_at(50, seg().seq(h.r(1)).ack(h.l(1)).psh().payload(b"hello"));
    h.c.sock = Some(h.stack.accept(l).expect("accepted from a cookie"));
    assert_eq!(h.stats().syn_cookies_validated, 1);
    assert_eq!(h.state(), State::Established);
    assert_eq!(h.read(50), b"hello");
    h.expect1(90, seg().seq(h.l(1)).ack(h.r(6)));
    h.write(100, b"world");
    h.expect1(100, seg().seq(h.l(1)).ack(h.r(6)).psh().payload(b"world"));
}

#[test]
fn cookie_connections_keep_mss_window_scale_sack_and_timestamps() {
    let mut h = with_syn_backlog(TcpConfig::default(), 1, true);
    let l = h.listen();
    fill_syn_queue(&mut h, 0, 1);
    // MSS 1000 rounds down to the table's 536.
    let opts = PeerOpts { mss: Some(1000), ..PeerOpts::full() };
    let sa = syn_ack_for(&mut h, 10, opts);
    assert_eq!(sa.options.mss, Some(1460), "our own MSS");
    assert_eq!(sa.options.window_scale, Some(3), "for a 256 KiB buffer");
    assert!(sa.options.sack_permitted);
    let ts = sa.options.timestamps.expect("timestamps");
    assert_eq!(ts.tsecr, PEER_TS0);
    h.send_at(50, seg().seq(h.r(1)).ack(h.l(1)).win(1000).ts(PEER_TS0 + 1, ts.tsval));
    h.c.sock = Some(h.stack.accept(l).expect("accepted from a cookie"));
    // Window scale 7: the peer's 1000 means 128,000 bytes, so all of
    // these go at once, in 536-byte segments less the 12-byte option.
    h.write(60, &pattern(0, 5240));
    let sent = h.recv_all(60);
    assert_eq!(sent.len(), 10, "initial window of 10 segments: {sent:?}");
    assert!(sent.iter().all(|s| s.payload.len() == 524 && s.options.timestamps.is_some()));
    let our_ts = sent[0].options.timestamps.unwrap();
    assert_eq!(our_ts.tsecr, PEER_TS0 + 1);
    assert!(our_ts.tsval.wrapping_sub(ts.tsval) < 128, "TSval continues from the cookie's");
    // SACK: an out-of-order segment is reported in a SACK block.
    let (at100, at101) = (h.r(101), h.r(102));
    h.send_at(70, seg().seq(at100).ack(h.l(1)).win(1000).ts(PEER_TS0 + 2, our_ts.tsval).payload(b"x"));
    let ack = h.recv_all(70);
    assert_eq!(ack.len(), 1, "{ack:?}");
    assert_eq!(ack[0].options.sack.as_slice(), &[(at100, at101)]);
}

#[test]
fn without_timestamps_a_cookie_offers_neither_window_scale_nor_sack() {
    // The SYN's window scale and SACK-permitted ride in TSval; a peer
    // without timestamps gets a SYN-ACK that offers neither, so both ends
    // agree on what was negotiated.
    let mut h = with_syn_backlog(TcpConfig::default(), 1, true);
    let l = h.listen();
    fill_syn_queue(&mut h, 0, 1);
    let opts = PeerOpts { ts: None, ..PeerOpts::full() };
    let sa = syn_ack_for(&mut h, 10, opts);
    assert_eq!(sa.options.window_scale, None);
    assert!(!sa.options.sack_permitted);
    assert_eq!(sa.options.timestamps, None);
    h.send_at(50, seg().seq(h.r(1)).ack(h.l(1)).win(1000));
    h.c.sock = Some(h.stack.accept(l).expect("accepted from a cookie"));
    // No window scaling: the window is 1000 bytes.
    h.write(60, &pattern(0, 3000));
    let sent = h.recv_all(60);
    assert_eq!(sent.iter().map(|s| s.payload.len()).sum::<usize>(), 1000, "{sent:?}");
}

#[test]
fn wrong_forged_and_stale_cookies_open_nothing() {
    let mut h = with_syn_backlog(simple(), 1, true);
    let l = h.listen();
    fill_syn_queue(&mut h, 0, 1);
    syn_ack_for(&mut h, 10, PeerOpts::plain());
    let ack = |seq: u32, ack: u32| seg().seq(seq).ack(ack).payload(b"x");
    // The ACK number of another cookie, a changed ACK number, a changed
    // sequence number (as a later segment of a cookie connection has, if
    // the first was lost): each opens nothing and is dropped (a reset
    // would kill that connection; its first segment comes again).
    let cases = [(h.r(1), h.l(1).wrapping_add(1)), (h.r(1), h.l(1) ^ 0x100), (h.r(2), h.l(1))];
    for (i, (seq, a)) in cases.into_iter().enumerate() {
        h.send_at(20 + i as u64, ack(seq, a));
    }
    h.expect_nothing(22);
    assert_eq!(h.stats().syn_cookies_rejected, 3);
    // A cookie more than two periods (64 s each) old is stale; by then no
    // cookie went out for three periods, and a stray ACK gets its reset.
    let _ = h.recv_all(3 * 64_000 + 20); // the queued half-open one's SYN-ACKs
    h.send_at(3 * 64_000 + 20, ack(h.r(1), h.l(1)));
    h.expect1(3 * 64_000 + 20, seg().rst().seq(h.l(1)).win(0));
    assert_eq!(h.stack.accept(l), Err(Error::WouldBlock));
    assert_eq!(h.stats().syn_cookies_validated, 0);
}

#[test]
fn a_stale_cookie_during_an_overflow_opens_nothing() {
    let mut h = with_syn_backlog(simple(), 1, true);
    let l = h.listen();
    fill_syn_queue(&mut h, 0, 1);
    let stale = syn_ack_for(&mut h, 10, PeerOpts::plain()).seq;
    // Cookies keep going out (the queue stays full), but this one is two
    // periods old.
    let _ = h.recv_all(128_500);
    h.c.peer_port += 1;
    syn_ack_for(&mut h, 128_500, PeerOpts::plain());
    h.c.peer_port -= 1;
    h.send_at(128_600, seg().seq(h.r(1)).ack(stale.wrapping_add(1)));
    let _ = h.recv_all(128_600);
    assert_eq!(h.stack.accept(l), Err(Error::WouldBlock));
    assert_eq!(h.stats().syn_cookies_rejected, 1);
}

#[test]
fn a_cookie_ack_within_two_periods_is_valid() {
    let mut h = with_syn_backlog(simple(), 1, true);
    let l = h.listen();
    fill_syn_queue(&mut h, 0, 1);
    syn_ack_for(&mut h, 10, PeerOpts::plain());
    let _ = h.recv_all(64_000); // the queued half-open one's SYN-ACKs
    h.send_at(64_000, seg().seq(h.r(1)).ack(h.l(1)));
    h.expect_nothing(64_000);
    assert!(h.stack.accept(l).is_ok());
}

#[test]
fn acks_are_checked_as_cookies_only_after_an_overflow() {
    // Without a recent overflow, a stray ACK is reset at once: no cookie
    // check (as Linux's tcp_synq_no_recent_overflow).
    let mut h = with_syn_backlog(simple(), 1, true);
    h.listen();
    h.send_at(0, seg().seq(5).ack(777));
    h.expect1(0, seg().rst().seq(777).win(0));
    assert_eq!(h.stats().syn_cookies_rejected, 0);
}

#[test]
fn without_cookies_a_full_syn_queue_evicts_its_oldest() {
    let mut h = with_syn_backlog(simple(), 2, false);
    let l = h.listen();
    fill_syn_queue(&mut h, 0, 2);
    let sa = syn_ack_for(&mut h, 10, PeerOpts::plain());
    assert_eq!((h.stats().syn_queue_evicted, h.stats().syn_cookies_sent), (1, 0));
    assert_eq!(h.stack.socket_count(), 3);
    // The newest completes; the evicted one (port 30000) is gone.
    h.send_at(20, seg().seq(h.r(1)).ack(sa.seq.wrapping_add(1)));
    h.expect_nothing(20);
    assert!(h.stack.accept(l).is_ok());
    h.send_at(30, seg().seq(8).ack(1).ports(30000, LISTEN_PORT));
    h.expect1(30, seg().rst().seq(1).win(0).ports(LISTEN_PORT, 30000));
}

#[test]
fn a_filling_syn_queue_retries_syn_acks_less() {
    // More than half full: half-open connections get two SYN-ACK
    // retransmissions (1 s, 3 s) and are dropped at the next timeout, not
    // after five (63 s), until the queue is half empty (as Linux keeps
    // half of the room for young connections).
    let mut h = with_syn_backlog(simple(), 4, true);
    h.listen();
    fill_syn_queue(&mut h, 0, 3);
    let times: Vec<u64> = h.recv_timed(62_000).iter().map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, [1000, 1000, 1000, 3000, 3000, 3000, 7000, 7000, 15000, 15000, 31000, 31000]);
    assert_eq!((h.stack.socket_count(), h.stats().syn_queue_pruned), (3, 1));
    h.expect_nothing(63_000);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn the_moment_a_flood_stops_a_new_connection_succeeds() {
    // A SYN queue full of forged half-open connections: the next genuine
    // SYN is served at once (with a cookie), and once the forged entries
    // are pruned, without one.
    let mut h = with_syn_backlog(simple(), 8, true);
    let l = h.listen();
    fill_syn_queue(&mut h, 0, 8);
    for i in 0..100u16 {
        h.send_at(1, syn_from(20000 + i, 9));
        assert_eq!(h.recv_all(1).len(), 1);
    }
    assert_eq!(h.stats().syn_cookies_sent, 100);
    let sa = syn_ack_for(&mut h, 2, PeerOpts::plain());
    h.send_at(3, seg().seq(h.r(1)).ack(sa.seq.wrapping_add(1)));
    let _ = h.recv_all(3);
    assert!(h.stack.accept(l).is_ok());
    let _ = h.recv_all(10_000);
    // Forged half-open connections were pruned to half the queue.
    assert_eq!(h.stack.socket_count(), 2 + 4);
    h.c.peer_port += 1;
    syn_ack_for(&mut h, 10_000, PeerOpts::plain());
    assert_eq!(h.stats().syn_cookies_sent, 101, "stateful again");
}
