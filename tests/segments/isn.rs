//! Initial sequence numbers (RFC 6528 §3): ISN = M + F(4-tuple, key),
//! with M a 4 µs clock. Observed on the wire: our SYN-ACK's sequence
//! number.

use core::net::Ipv4Addr;

use crate::harness::*;

/// Our ISS in answer to a SYN from `ip:port` arriving at `at`.
fn iss(h: &mut Harness, at: Instant, ip: Ipv4Addr, port: u16) -> u32 {
    h.send_at(at, seg().syn().seq(PEER_ISS).mss(1460).src_addr(ip).ports(port, LISTEN_PORT));
    let sa = h.recv_all(at);
    assert_eq!(sa.len(), 1, "{sa:?}");
    assert_eq!(sa[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    // Reset it so that the 4-tuple is free again.
    h.send_at(at, seg().rst().seq(PEER_ISS + 1).win(0).src_addr(ip).ports(port, LISTEN_PORT));
    h.expect_nothing(at);
    sa[0].seq
}

fn listening(seed: u64) -> Harness {
    let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(seed));
    sc.tcp = simple();
    let mut h = Harness::with_stack(sc);
    h.listen();
    h
}

#[test]
fn isn_differs_per_four_tuple() {
    let mut h = listening(1);
    let a = iss(&mut h, us(1000), PEER_IP, 40000);
    let b = iss(&mut h, us(1000), PEER_IP, 40001);
    let c = iss(&mut h, us(1000), Ipv4Addr::new(10, 0, 0, 3), 40000);
    assert!(a != b && a != c && b != c, "{a} {b} {c}");
}

#[test]
fn isn_advances_with_a_4us_clock() {
    let mut h = listening(1);
    let t0 = iss(&mut h, us(1_000_000), PEER_IP, 40000);
    let t1 = iss(&mut h, us(1_004_000), PEER_IP, 40000);
    let t2 = iss(&mut h, us(2_004_000), PEER_IP, 40000);
    assert_eq!(t1.wrapping_sub(t0), 1000);
    assert_eq!(t2.wrapping_sub(t1), 250_000);
}

#[test]
fn isn_depends_on_the_key() {
    let a = iss(&mut listening(1), us(1000), PEER_IP, 40000);
    let b = iss(&mut listening(2), us(1000), PEER_IP, 40000);
    let again = iss(&mut listening(1), us(1000), PEER_IP, 40000);
    assert_ne!(a, b);
    assert_eq!(a, again, "the same key and clock give the same ISN");
}

#[test]
fn active_opens_use_the_same_generator() {
    let mut h = Harness::new(simple());
    let remote = core::net::SocketAddrV4::new(PEER_IP, 80);
    let mut seqs = Vec::new();
    for port in [50000, 50001] {
        h.stack.connect_with(ms(0), remote, port, None).unwrap();
        h.drain();
        let syn = h.recv_all(0);
        assert_eq!(syn.len(), 1);
        seqs.push(syn[0].seq);
    }
    assert_ne!(seqs[0], seqs[1]);
}

#[test]
fn timestamp_clocks_differ_per_connection() {
    // RFC 7323 §7.1 / §5.4: a per-connection offset hides the uptime.
    let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
    sc.tcp = with(simple(), |c| c.timestamps = true);
    let mut h = Harness::with_stack(sc);
    h.listen();
    let mut vals = Vec::new();
    for port in [40000, 40001] {
        h.send_at(0, seg().syn().seq(PEER_ISS).mss(1460).ts(5000, 0).ports(port, LISTEN_PORT));
        let sa = h.recv_all(0);
        vals.push(sa[0].options.timestamps.unwrap().tsval);
    }
    assert_ne!(vals[0], vals[1]);
}
