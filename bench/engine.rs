//! The engine's own cost: two stacks joined by an ideal simulated link
//! (no delay, no loss), moving bulk data one way on one thread. Everything
//! measured is engine work: segmentation, checksums, ACK processing,
//! buffer copies; no device, no system calls.
//!
//! The baseline, measured in the same run, is the copying any stack must
//! do for the same bytes: application → send buffer → packet → receive
//! buffer → application (four `memcpy`s of every byte). The ratio holds
//! on a noisy machine where the absolute figures do not.
//!
//! A second table times the demultiplexing lookup (10,000 connections,
//! every 4-tuple looked up in turn) with the engine's keyed [`TableHash`]
//! beside the standard library's SipHash-1-3 `HashMap` in the same run.
//!
//! `cargo bench --bench engine` (add `-- --quick` for a short run).

use core::net::{Ipv4Addr, SocketAddr};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::time::{Duration, Instant as Wall};

use trust::device::sim::LinkConfig;
use trust::sim::Network;
use trust::stack::{StackConfig, TableHash};
use trust::tcp::FourTuple;
use trust::tcp::isn::IsnKey;
use trust::time::Instant;

fn engine_transfer(bytes: u64, tso: usize) -> Duration {
    let a = Ipv4Addr::new(10, 0, 0, 1);
    let b = Ipv4Addr::new(10, 0, 0, 2);
    let mut hosts =
        [StackConfig::with_key(a, IsnKey::from_seed(1)), StackConfig::with_key(b, IsnKey::from_seed(2))];
    for h in &mut hosts {
        h.tcp.send_buffer = 1 << 20;
        h.tcp.recv_buffer = 1 << 20;
        h.offload.tso_max_payload = tso;
    }
    let link = LinkConfig { mtu: 70_000, ..LinkConfig::ideal(Duration::ZERO) };
    let mut net = Network::new(hosts, [link.clone(), link], 1);
    let l = net.hosts[1].listen(5001, 8).expect("listen");
    let c = net.hosts[0].connect(net.now, SocketAddr::from((b, 5001))).expect("connect");
    let chunk = vec![0x5au8; 64 * 1024];
    let mut buf = vec![0u8; 64 * 1024];
    let (mut sent, mut received) = (0u64, 0u64);
    let mut rx = None;
    let start = Wall::now();
    let done = net.run(Instant::from_millis(3_600_000), |net| {
        if rx.is_none() {
            rx = net.hosts[1].accept(l).ok();
        }
        while sent < bytes {
            let n = (bytes - sent).min(chunk.len() as u64) as usize;
            match net.hosts[0].send(c, &chunk[..n]) {
                Ok(k) => sent += k as u64,
                Err(_) => break,
            }
        }
        if let Some(h) = rx {
            while let Ok(n) = net.hosts[1].recv(h, &mut buf) {
                if n == 0 {
                    break;
                }
                received += n as u64;
                black_box(&buf[..n]);
            }
        }
        received == bytes
    });
    assert!(done, "transfer stalled at {received} of {bytes}");
    start.elapsed()
}

/// Four copies of every byte through 1 MiB buffers, 64 KiB at a time.
fn copy_baseline(bytes: u64) -> Duration {
    let src = vec![0x5au8; 64 * 1024];
    let mut rings = [vec![0u8; 1 << 20], vec![0u8; 1 << 20], vec![0u8; 1 << 20]];
    let mut dst = vec![0u8; 64 * 1024];
    let start = Wall::now();
    let mut done = 0u64;
    let mut at = 0usize;
    while done < bytes {
        let n = src.len();
        rings[0][at..at + n].copy_from_slice(black_box(&src));
        let (first, rest) = rings.split_at_mut(1);
        rest[0][at..at + n].copy_from_slice(&first[0][at..at + n]);
        let (second, third) = rest.split_at_mut(1);
        third[0][at..at + n].copy_from_slice(&second[0][at..at + n]);
        dst.copy_from_slice(&third[0][at..at + n]);
        black_box(&dst);
        at = (at + n) % (1 << 20);
        done += n as u64;
    }
    start.elapsed()
}

/// Nanoseconds per lookup in a table of `n` connections keyed by 4-tuple
/// (clients of many addresses and ports, as a busy server sees them).
fn lookup_ns<S: BuildHasher>(hasher: S, n: u32, lookups: u32) -> f64 {
    let tuple = |i: u32| FourTuple {
        local: SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), 80)),
        remote: SocketAddr::from((Ipv4Addr::from_bits(0x0a01_0000 + i / 50), 10_000 + (i % 50) as u16)),
    };
    let mut table = HashMap::with_hasher(hasher);
    for i in 0..n {
        table.insert(tuple(i), i);
    }
    let keys: Vec<FourTuple> = (0..n).map(tuple).collect();
    let start = Wall::now();
    let mut sum = 0u64;
    for j in 0..lookups {
        sum += u64::from(*table.get(black_box(&keys[(j % n) as usize])).unwrap_or(&0));
    }
    black_box(sum);
    start.elapsed().as_nanos() as f64 / f64::from(lookups)
}

fn gbits(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e9
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let bytes: u64 = if quick { 64 << 20 } else { 1 << 30 };
    let runs = if quick { 1 } else { 5 };
    println!("engine bulk transfer, {} MiB per run, {runs} runs, one thread, both stacks", bytes >> 20);
    println!("{:<28} {:>12} {:>12} {:>10}", "mode", "Gbit/s", "baseline", "ratio");
    for (name, tso) in [("MSS segments (1448 B)", 0), ("TSO super-segments (64 KB)", 65_000)] {
        let mut results = Vec::new();
        for _ in 0..runs {
            let e = gbits(bytes, engine_transfer(bytes, tso));
            let b = gbits(bytes, copy_baseline(bytes));
            results.push((e, b));
        }
        results.sort_by(|x, y| x.0.total_cmp(&y.0));
        let (e, b) = results[results.len() / 2];
        println!("{name:<28} {e:>12.2} {b:>12.2} {:>9.1}%", e / b * 100.0);
    }
    let lookups = if quick { 2_000_000 } else { 20_000_000 };
    println!();
    println!("connection-table lookup, 10,000 connections, {lookups} lookups, median of {runs}");
    println!("{:<28} {:>12} {:>12} {:>10}", "hash", "ns/lookup", "SipHash", "ratio");
    let mut results = Vec::new();
    for _ in 0..runs {
        let ours =
            lookup_ns(TableHash::with_key((0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344)), 10_000, lookups);
        let std = lookup_ns(std::hash::RandomState::new(), 10_000, lookups);
        results.push((ours, std));
    }
    results.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (ours, std) = results[results.len() / 2];
    println!("{:<28} {ours:>12.2} {std:>12.2} {:>9.2}x", "TableHash (keyed)", ours / std);
}
