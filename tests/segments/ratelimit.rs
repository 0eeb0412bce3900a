//! Rate limits on what the stack reflects to sources it cannot trust
//! (Linux's `tcp_invalid_ratelimit`, `icmp_msgs_per_sec`,
//! `tcp_challenge_ack_limit`): resets to segments for no socket, ICMP echo
//! replies, ACKs to invalid segments, repeated SYN-ACKs, and challenge
//! ACKs over all connections.

use crate::harness::*;

fn tight() -> Limits {
    let rate = trust::stack::RateLimit::new(10, 5);
    with(Limits::default(), |l| {
        l.resets = rate;
        l.icmp = rate;
        l.challenge_acks = 4
    })
}

#[test]
fn resets_for_no_socket_are_rate_limited() {
    let mut h = Harness::with_limits(simple(), tight());
    let flood = |h: &mut Harness, t: u64| {
        h.send_burst(t, (0..50u16).map(|port| seg().syn().seq(1).ports(10_000 + port, 81)));
        h.recv_all(t).len()
    };
    assert_eq!(flood(&mut h, 0), 5, "the burst");
    assert_eq!(flood(&mut h, 300), 3, "10 a second refill");
    assert_eq!(flood(&mut h, 10_000), 5, "never more than the burst");
    assert_eq!((h.stats().tx_resets, h.stats().resets_rate_limited), (13, 137));
}

#[test]
fn the_listener_resets_stray_acks_within_the_limit() {
    let mut h = Harness::with_limits(simple(), tight());
    h.listen();
    h.send_burst(0, (0..20u32).map(|i| seg().seq(5).ack(1000 + i)));
    assert_eq!(h.recv_all(0).len(), 5);
}

#[test]
fn echo_replies_are_rate_limited() {
    let mut h = Harness::with_limits(simple(), tight());
    for i in 0..20 {
        h.stack.handle_packet(ms(0), &icmp_echo_request(PEER_IP, OUR_IP, 1, i, b"ping"));
    }
    h.drain();
    assert_eq!(h.recv_raw(0).len(), 5);
    assert_eq!((h.stats().icmp_echo_replies, h.stats().icmp_rate_limited), (5, 15));
}

#[test]
fn paws_failures_without_data_get_one_ack_per_interval() {
    let cfg = with(simple(), |c| c.timestamps = true);
    let opts = PeerOpts { ts: Some(PEER_TS0), ..PeerOpts::plain() };
    let mut h = Harness::passive(cfg, opts);
    let old = |h: &Harness| seg().seq(h.r(1)).ack(h.l(1)).ts(PEER_TS0 - 10, 0);
    let ack = |h: &Harness, t: u64| seg().seq(h.l(1)).ack(h.r(1)).ts(h.our_ts(t), PEER_TS0 + 1);
    h.send_at(200, old(&h));
    let first = ack(&h, 200);
    h.expect1(200, first);
    h.send_at(300, old(&h));
    h.send_at(699, old(&h));
    h.expect_nothing(699);
    h.send_at(700, old(&h));
    let again = ack(&h, 700);
    h.expect1(700, again);
}

#[test]
fn a_repeated_syn_gets_the_syn_ack_again_at_most_once_per_interval() {
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    let sa = h.expect_syn(0, seg().syn().ack(h.r(1)).mss(1460));
    h.send_at(100, h.peer_syn(PeerOpts::plain()));
    h.expect1(100, sa.clone());
    for t in [200, 300, 599] {
        h.send_at(t, h.peer_syn(PeerOpts::plain()));
    }
    h.expect_nothing(599);
    h.send_at(600, h.peer_syn(PeerOpts::plain()));
    h.expect1(600, sa);
}

#[test]
fn challenge_acks_share_a_randomised_budget_over_all_connections() {
    // RFC 5961 §7 with Linux's fix for CVE-2016-5696: each second allows
    // between limit/2 and 3·limit/2 challenge ACKs (2 to 5 here) over all
    // connections together, on top of each connection's own limit.
    let mut h = Harness::with_limits(simple(), tight());
    h.listen_backlog(64);
    let mut conns = Vec::new();
    for i in 0..20u16 {
        h.c.peer_port = 40000 + i;
        h.open_passive(u64::from(i), u64::from(i) + 1, PeerOpts::plain());
        conns.push(h.c);
    }
    let mut per_second = Vec::new();
    for second in 1..=8u64 {
        let t = second * 1000;
        // Each an in-window RST with the wrong sequence number.
        h.send_burst(t, conns.iter().map(|c| seg().rst().seq(c.r(5)).win(0).ports(c.peer_port, LISTEN_PORT)));
        per_second.push(h.recv_all(t).len());
    }
    assert!(per_second.iter().all(|&n| (2..=5).contains(&n)), "{per_second:?}");
    let suppressed = h.stats().challenge_acks_suppressed as usize;
    assert_eq!(suppressed + per_second.iter().sum::<usize>(), 8 * 20);
}
