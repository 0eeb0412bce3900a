//! Feeds arbitrary packets into a stack that carries live connections: a
//! listener, an established connection mid-transfer, and a half-open one.
//! Nothing may panic, and the stack must still serve a fresh connection
//! afterwards.
//!
//! Input layout: a sequence of records `[control, len_hi, len_lo, bytes…]`.
//! Control bits: 0 retarget the packet at the live connection's addresses
//! and ports, 1 recompute the IPv4 header checksum, 2 recompute the TCP
//! checksum, 3 deliver to host 0 instead of host 1, 4 advance the clock
//! by 100 ms and let the network run before delivering.

#![no_main]

use core::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use trust::device::sim::LinkConfig;
use trust::sim::Network;
use trust::sim::apps::{BulkReceiver, BulkSender};
use trust::stack::StackConfig;
use trust::tcp::isn::IsnKey;
use trust::wire::checksum::rewrite;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fuzz_target!(|data: &[u8]| {
    // Both hosts speak IPv6 too, so IPv6 input reaches the deeper parsers
    // (extension headers, ICMPv6 errors and echo, TCP over IPv6).
    let hosts = [(A, 1), (B, 2)].map(|(addr, seed)| {
        let mut c = StackConfig::with_key(addr, IsnKey::from_seed(seed));
        c.addr6 = Some(trust::sim::ipv6_for(addr));
        c
    });
    let link = LinkConfig::ideal(Duration::from_millis(1));
    let mut net = Network::new(hosts, [link.clone(), link], 3);
    let l = net.hosts[1].listen(80, 8).expect("listen");
    let c = net.hosts[0].connect(net.now, SocketAddrV4::new(B, 80)).expect("connect");
    let port = net.hosts[0].addresses(c).expect("addresses").local.port();
    let mut tx = BulkSender::new(c, 1, 30_000, true);
    let mut rx = None;
    // Bring the connection to mid-transfer.
    let until = net.now + Duration::from_millis(3);
    net.run(until, |net| {
        if rx.is_none() {
            rx = net.hosts[1].accept(l).ok().map(|h| BulkReceiver::new(h, 1));
        }
        tx.poll(&mut net.hosts[0]);
        false
    });
    let mut rest = data;
    while let [control, hi, lo, tail @ ..] = rest {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let mut packet = tail[..len].to_vec();
        rest = &tail[len..];
        if control & 1 != 0 {
            retarget(&mut packet, port);
        }
        if control & 32 != 0 {
            packet = in_ipv6(&packet, if control & 8 != 0 { A } else { B });
        }
        rewrite(&mut packet, control & 2 != 0, control & 4 != 0);
        if control & 16 != 0 {
            let until = net.now + Duration::from_millis(100);
            net.run(until, |_| false);
        }
        let to = if control & 8 != 0 { 0 } else { 1 };
        let now = net.now;
        net.hosts[to].handle_packet(now, &packet);
        net.flush();
    }
    // Whatever happened to the old connection, a new one must work.
    let _ = net.hosts[1].close(net.now, l);
    let until = net.now + Duration::from_secs(30);
    let t = net.bulk_transfer(81, 10_000, 2, until, |_| {}).expect("connect again");
    let rx = t.receiver.expect("accepted");
    let ok = t.finished && rx.error.is_none() && rx.received == 10_000 && rx.hash == t.sender.hash;
    assert!(ok, "fresh connection failed after fuzzing");
});

/// `payload` behind an IPv6 header to host `to`'s IPv6 address from the
/// other host's, its first byte taken as the next header (TCP, ICMPv6, an
/// extension header or anything else); checksums are fixed later.
fn in_ipv6(payload: &[u8], to: Ipv4Addr) -> Vec<u8> {
    let from = if to == A { B } else { A };
    let next = payload.first().copied().unwrap_or(6);
    let body = payload.get(1..).unwrap_or(&[]);
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(body.len().min(65535) as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&trust::sim::ipv6_for(from).octets());
    p.extend_from_slice(&trust::sim::ipv6_for(to).octets());
    p.extend_from_slice(body);
    p
}

/// Points an IPv4/TCP packet at the live connection (A:port <-> B:80).
fn retarget(p: &mut [u8], port: u16) {
    if p.len() < 20 {
        return;
    }
    p[0] = 0x45;
    p[9] = 6;
    p[12..16].copy_from_slice(&A.octets());
    p[16..20].copy_from_slice(&B.octets());
    if p.len() >= 24 {
        p[20..22].copy_from_slice(&port.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
    }
}
