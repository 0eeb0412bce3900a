//! The TTL (IPv4, RFC 791 §3.1) of every packet: the stack's default
//! (`StackConfig::ttl`, 64 as Linux's `ip_default_ttl`), a listener's
//! (`IP_TTL` on a listening socket, inherited by the connections it opens),
//! a connection's own; resets and SYN-ACKs included.

use crate::harness::*;

/// The TTL and TCP flags of each raw packet emitted up to `t`.
fn ttls(h: &mut Harness, t: u64) -> Vec<(u8, u8)> {
    h.recv_raw(t).into_iter().map(|(_, p)| (p[8], p[20 + 13])).collect()
}

const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const RST: u8 = 0x04;
const RST_ACK: u8 = 0x14;

#[test]
fn packets_carry_the_stack_default_ttl_of_64() {
    let mut h = Harness::new(simple());
    let l = h.listen();
    assert_eq!(h.stack.ttl(l), Ok(64));
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    assert_eq!(ttls(&mut h, 0), [(64, SYN_ACK)]);
}

#[test]
fn a_stack_ttl_sets_every_packet_including_unmatched_resets() {
    let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
    sc.tcp = simple();
    sc.ttl = 100;
    let mut h = Harness::with_stack(sc);
    // Nobody listens: the SYN gets the stack's reset.
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    assert_eq!(ttls(&mut h, 0), [(100, RST_ACK)]);
}

/// A listener's TTL goes on its SYN-ACKs and to the connections it opens;
/// a connection's own TTL then goes on its data and its reset.
#[test]
fn a_listener_ttl_is_inherited_and_a_connection_ttl_applies_at_once() {
    let mut h = Harness::new(simple());
    let l = h.listen();
    assert_eq!(h.stack.set_ttl(l, 30), Ok(()));
    assert_eq!(h.stack.ttl(l), Ok(30));
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    let got = h.recv_timed(0);
    assert_eq!(got.len(), 1);
    h.learn_syn(&got[0].1, Instant::ZERO);
    h.send_at(100, seg().seq(h.r(1)).ack(h.l(1)));
    h.c.sock = Some(h.stack.accept(l).expect("accept"));
    assert_eq!(h.stack.ttl(h.sock()), Ok(30));
    h.write(200, b"hello");
    assert_eq!(ttls(&mut h, 200), [(30, PSH_ACK)]);
    assert_eq!(h.app(300, |s, c| s.set_ttl(c, 7)), Ok(()));
    h.send_at(300, seg().seq(h.r(1)).ack(h.l(6)).data(0, 10));
    assert_eq!(ttls(&mut h, 340), [(7, ACK)]);
    h.abort(400);
    assert_eq!(ttls(&mut h, 400), [(7, RST)]);
    // The listener's TTL is its own.
    assert_eq!(h.stack.ttl(l), Ok(30));
}

#[test]
fn a_ttl_of_0_is_invalid() {
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    assert_eq!(h.app(200, |s, c| s.set_ttl(c, 0)), Err(Error::InvalidInput));
    assert_eq!(h.app(200, |s, c| s.ttl(c)), Ok(64));
}
