//! TSO in the simulator: an engine that may emit super-segments, with the
//! link either cutting them (as a device does) or carrying them whole (as
//! a TUN hands the kernel's GSO packets to the engine).

use core::net::Ipv4Addr;
use std::time::Duration;

use trust::device::sim::LinkConfig;
use trust::sim::Network;
use trust::stack::StackConfig;
use trust::tcp::isn::IsnKey;
use trust::time::Instant;

/// Runs a 1 MB transfer from host 0 with TSO up to `tso` bytes over links
/// of the given MTU; returns the payload sizes host 0 emitted.
fn transfer(tso: usize, link_mtu: usize) -> Vec<usize> {
    let a = Ipv4Addr::new(10, 0, 0, 1);
    let b = Ipv4Addr::new(10, 0, 0, 2);
    let mut cfgs =
        [StackConfig::with_key(a, IsnKey::from_seed(1)), StackConfig::with_key(b, IsnKey::from_seed(2))];
    cfgs[0].offload.tso_max_payload = tso;
    let link = LinkConfig { mtu: link_mtu, ..LinkConfig::ideal(Duration::from_millis(5)) };
    let mut net = Network::new(cfgs, [link.clone(), link], 7);
    net.trace = Some(Vec::new());
    let t = net.bulk_transfer(80, 1_000_000, 42, Instant::from_millis(60_000), |_| {}).expect("transfer");
    let r = t.receiver.expect("accepted");
    assert!(t.finished && r.error.is_none(), "transfer stalled at {} bytes ({:?})", r.received, r.error);
    assert_eq!((r.received, r.mismatch), (1_000_000, None));
    assert_eq!(r.hash, t.sender.hash);
    let trace = net.trace.take().unwrap_or_default();
    trace
        .iter()
        .filter(|l| l.contains(" 0->1 "))
        .filter_map(|l| l.split(" len=").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn plain_segments_by_default() {
    let sizes = transfer(0, 1500);
    assert!(sizes.iter().all(|&n| n <= 1448), "largest {:?}", sizes.iter().max());
}

#[test]
fn super_segments_cut_by_the_device() {
    let sizes = transfer(65_000, 1500);
    let largest = sizes.iter().copied().max().unwrap_or(0);
    assert!(largest > 10 * 1448, "TSO should emit super-segments, largest was {largest}");
    assert!(largest <= 65_000);
}

#[test]
fn super_segments_received_whole() {
    // The receiver's MSS is 1460, yet it must take 64 KB segments.
    let sizes = transfer(65_000, 70_000);
    assert!(sizes.iter().any(|&n| n > 1448));
}

/// Found by the `vnet` fuzz target: `device::gso::segment` takes the IPv4
/// header to be everything before the IPv4 payload's end minus the
/// payload, so bytes after the packet's total length (link padding) shift
/// every piece's TCP header: the pieces carry checksums that verify over
/// wrong ports, window and sequence numbers.
#[test]
fn gso_ignores_bytes_after_the_total_length() {
    use trust::device::gso;
    use trust::wire::ipv4::{self, Ipv4Repr};
    use trust::wire::{RxChecksum, TcpFlags, TcpRepr, TxChecksum, tcp};
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let ip = Ipv4Repr { src, dst, protocol: ipv4::PROTO_TCP, ttl: 64, payload_len: 0 };
    let repr = TcpRepr {
        src_port: 1,
        dst_port: 2,
        seq: 1000,
        flags: TcpFlags::ACK,
        window: 100,
        ..TcpRepr::default()
    };
    let data: Vec<u8> = (0..250u32).map(|i| i as u8).collect();
    let mut packet = vec![0u8; 400];
    let n = tcp::emit_packet(&ip, 1, &repr, [&data, &[]], TxChecksum::Full, &mut packet).expect("emit");
    packet.truncate(n);
    packet.extend_from_slice(&[0xee; 10]); // padding after the total length
    let mut pieces = Vec::new();
    gso::segment(&packet, 100, |p| pieces.push(p.to_vec())).expect("cut");
    let mut got = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let pip = ipv4::parse(p).expect("IPv4");
        let seg = tcp::parse(src, dst, pip.payload, RxChecksum::Verify).expect("TCP");
        assert_eq!((seg.repr.src_port, seg.repr.dst_port, seg.repr.window), (1, 2, 100), "piece {i}");
        assert_eq!(seg.repr.seq, 1000 + 100 * i as u32, "piece {i}");
        got.extend_from_slice(seg.payload);
    }
    assert_eq!(got, data);
}
