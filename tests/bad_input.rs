//! Bad input never panics and never costs data: random and mutated packets
//! (truncated, bad lengths, bad offsets, bad options, odd flag
//! combinations) are fed into stacks that carry live connections.

use core::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;
use trust::device::sim::{LinkConfig, Rng};
use trust::sim::Network;
use trust::sim::apps::{BulkReceiver, BulkSender};
use trust::stack::StackConfig;
use trust::tcp::isn::IsnKey;
use trust::time::Instant;
use trust::wire::checksum;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn network(seed: u64) -> Network {
    // Both speak IPv6 too: a damaged version nibble of 6 reaches the IPv6
    // parser.
    let hosts = [(A, seed), (B, !seed)].map(|(addr, key)| {
        let mut c = StackConfig::with_key(addr, IsnKey::from_seed(key));
        c.addr6 = Some(trust::sim::ipv6_for(addr));
        c
    });
    let link = LinkConfig { loss: 0.01, ..LinkConfig::ideal(Duration::from_millis(2)) };
    let mut net = Network::new(hosts, [link.clone(), link], seed);
    net.capture = Some(Default::default());
    net
}

/// How a packet is damaged.
#[derive(Debug, Clone, Copy)]
enum Mutation {
    Truncate,
    FlipByte,
    IhlOrTotalLength,
    DataOffset,
    Flags,
    OptionBytes,
    RandomBytes,
}

fn mutation(rng: &mut Rng) -> Mutation {
    use Mutation::*;
    [Truncate, FlipByte, IhlOrTotalLength, DataOffset, Flags, OptionBytes, RandomBytes][rng.below(7) as usize]
}

/// Damages a copy of `p`. With `fix_checksums`, the IPv4 and TCP checksums
/// are recomputed afterwards so the packet reaches the deeper parsers and
/// the state machine; without, exactly one byte changes or the packet is
/// cut, which the checksums or length checks always catch.
fn damage(p: &[u8], rng: &mut Rng, fix_checksums: bool) -> Vec<u8> {
    let mut p = p.to_vec();
    let m = mutation(rng);
    let at = |rng: &mut Rng, lo: usize, hi: usize| lo + rng.below((hi.max(lo + 1) - lo) as u64) as usize;
    match m {
        Mutation::Truncate => {
            let n = at(rng, 0, p.len());
            p.truncate(n);
        }
        Mutation::FlipByte => {
            let i = at(rng, 0, p.len());
            p[i] ^= 1 + rng.below(255) as u8;
        }
        Mutation::IhlOrTotalLength if p.len() > 4 => {
            if rng.chance(0.5) {
                p[0] = 0x40 | rng.below(16) as u8;
            } else {
                let i = 2 + rng.below(2) as usize;
                p[i] ^= 1 + rng.below(255) as u8;
            }
        }
        Mutation::DataOffset if p.len() > 33 => p[32] = (rng.below(16) as u8) << 4 | (p[32] & 0x0f),
        Mutation::Flags if p.len() > 33 => p[33] ^= 1 + rng.below(255) as u8,
        Mutation::OptionBytes if p.len() > 40 => {
            let end = (20 + usize::from(p[32] >> 4) * 4).min(p.len());
            if end > 40 {
                let i = at(rng, 40, end);
                p[i] ^= 1 + rng.below(255) as u8;
            } else {
                p[33] ^= 0x02; // no options: toggle SYN instead
            }
        }
        Mutation::RandomBytes => {
            let n = at(rng, 0, 100);
            p = vec![0; n];
            rng.fill_bytes(&mut p);
            if n > 20 && rng.chance(0.5) {
                p[0] = 0x45; // look like IPv4
                p[9] = 6; // carrying TCP
                p[12..16].copy_from_slice(&A.octets());
                p[16..20].copy_from_slice(&B.octets());
            }
        }
        _ => p.truncate(p.len() / 2),
    }
    if fix_checksums {
        checksum::rewrite(&mut p, true, true);
    }
    p
}

/// A transfer from A to B with damaged packets thrown at both stacks
/// after every step. Returns (finished, receiver, sender).
fn transfer_under_fire(
    net: &mut Network,
    rng: &mut Rng,
    bytes: u64,
    per_step: usize,
    fix_checksums: bool,
) -> (bool, BulkReceiver, BulkSender) {
    let limit = net.now + Duration::from_secs(600);
    let t = net
        .bulk_transfer(80, bytes, 5, limit, |net| {
            let victims: Vec<(usize, Vec<u8>)> =
                net.capture.as_ref().map(|c| c.iter().cloned().collect()).unwrap_or_default();
            for _ in 0..per_step {
                if victims.is_empty() {
                    break;
                }
                let (from, p) = &victims[rng.below(victims.len() as u64) as usize];
                let bad = damage(p, rng, fix_checksums);
                let now = net.now;
                net.hosts[1 - from].handle_packet(now, &bad);
            }
        })
        .expect("transfer");
    let _ = net.hosts[1].close(net.now, t.listener);
    let receiver = t.receiver.unwrap_or_else(|| BulkReceiver::new(t.sender.handle, 5));
    (t.finished, receiver, t.sender)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Packets the checksums or length checks must catch are dropped and
    /// counted, and the live transfer completes byte for byte.
    #[test]
    fn damaged_packets_are_dropped_and_cost_nothing(seed in any::<u64>(), per_step in 1usize..4) {
        let mut net = network(seed);
        let mut rng = Rng::new(seed);
        let (done, rx, tx) = transfer_under_fire(&mut net, &mut rng, 200_000, per_step, false);
        prop_assert!(done, "transfer stalled at {} bytes", rx.received);
        prop_assert_eq!(rx.error, None);
        prop_assert_eq!(rx.received, 200_000);
        prop_assert_eq!(rx.mismatch, None);
        prop_assert_eq!(rx.hash, tx.hash);
        let dropped: u64 = net.hosts.iter().map(|h| h.stats().rx_malformed + h.stats().rx_unknown_version + h.stats().rx_not_for_us).sum();
        prop_assert!(dropped > 0);
    }

    /// Damaged packets with valid checksums reach the state machine. They
    /// may legitimately end the connection they hit (a forged RST, a FIN),
    /// but never panic the stack, and the stack then serves a fresh
    /// connection correctly.
    #[test]
    fn forged_packets_never_break_the_stack(seed in any::<u64>(), per_step in 1usize..6) {
        let mut net = network(seed);
        let mut rng = Rng::new(seed ^ 1);
        let _ = transfer_under_fire(&mut net, &mut rng, 40_000, per_step, true);
        net.capture = None;
        let (done, rx, tx) = transfer_under_fire(&mut net, &mut rng, 40_000, 0, false);
        prop_assert!(done, "fresh transfer stalled at {} bytes", rx.received);
        prop_assert_eq!(rx.received, 40_000);
        prop_assert_eq!(rx.hash, tx.hash);
    }
}

/// Pure noise of every length, at a stack with no sockets and at one with
/// a listener, never panics and is all counted as dropped.
#[test]
fn noise_is_counted() {
    let mut net = network(9);
    net.hosts[1].listen(80, 8).expect("listen");
    let mut rng = Rng::new(77);
    for n in 0..2000usize {
        let mut p = vec![0u8; n % 200];
        rng.fill_bytes(&mut p);
        net.hosts[1].handle_packet(Instant::from_millis(n as u64), &p);
    }
    let s = net.hosts[1].stats();
    assert_eq!(s.rx_packets, 2000);
    let dropped =
        s.rx_malformed + s.rx_unknown_version + s.rx_not_for_us + s.rx_fragments + s.rx_unknown_protocol;
    assert_eq!(dropped, 2000);
}
