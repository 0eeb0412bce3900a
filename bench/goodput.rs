//! Goodput in the deterministic simulator: bytes per virtual second of a
//! 10 MiB transfer over bandwidth-limited links with random loss, printed
//! beside the link's capacity and, under loss, beside the Mathis et al.
//! estimate `MSS / RTT · 1.22 / √p`.
//!
//! Virtual time makes the figures exact and repeatable on any machine.
//! The run exits non-zero when a target of the protocol-core issue is
//! missed: ≥ 85 % of capacity on a 10 Mbit/s, 50 ms RTT link with a
//! 64 KiB drop-tail queue and no random loss; ≥ 0.8 × Mathis at 1 % loss.
//!
//! `cargo bench --bench goodput` (add `-- --quick` for fewer seeds).

use core::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use trust::device::sim::LinkConfig;
use trust::sim::Network;
use trust::sim::apps::{BulkReceiver, BulkSender};
use trust::stack::StackConfig;
use trust::tcp::congestion::Algorithm;
use trust::tcp::isn::IsnKey;
use trust::time::Instant;

const BYTES: u64 = 10 * 1024 * 1024;
/// Payload per segment with the timestamps option (1500 − 40 − 12).
const MSS: f64 = 1448.0;

struct Case {
    name: &'static str,
    algorithm: Algorithm,
    bandwidth_bps: u64,
    rtt: Duration,
    queue: usize,
    loss: f64,
    target: Target,
}

impl Case {
    fn new(
        name: &'static str,
        algorithm: Algorithm,
        link: (u64, Duration, usize, f64),
        target: Target,
    ) -> Case {
        let (bandwidth_bps, rtt, queue, loss) = link;
        Case { name, algorithm, bandwidth_bps, rtt, queue, loss, target }
    }
}

enum Target {
    None,
    /// Fraction of the link's capacity.
    Capacity(f64),
    /// Fraction of the Mathis estimate.
    Mathis(f64),
}

/// One transfer; returns goodput in bytes per virtual second.
fn transfer(case: &Case, seed: u64) -> f64 {
    let a = Ipv4Addr::new(10, 0, 0, 1);
    let b = Ipv4Addr::new(10, 0, 0, 2);
    let mut hosts = [
        StackConfig::with_key(a, IsnKey::from_seed(seed)),
        StackConfig::with_key(b, IsnKey::from_seed(!seed)),
    ];
    hosts[0].tcp.congestion = case.algorithm;
    let link = LinkConfig {
        delay: case.rtt / 2,
        loss: case.loss,
        bandwidth_bps: Some(case.bandwidth_bps),
        queue_bytes: case.queue,
        ..LinkConfig::default()
    };
    let mut net = Network::new(hosts, [link.clone(), link], seed);
    let l = net.hosts[1].listen(5001, 8).expect("listen");
    let start = net.now;
    let c = net.hosts[0].connect(start, SocketAddrV4::new(b, 5001)).expect("connect");
    let mut tx = BulkSender::new(c, seed, BYTES, true);
    let mut rx: Option<BulkReceiver> = None;
    let done = net.run(Instant::from_millis(3_600_000), |net| {
        if rx.is_none() {
            rx = net.hosts[1].accept(l).ok().map(|h| BulkReceiver::new(h, seed));
        }
        tx.poll(&mut net.hosts[0]);
        rx.as_mut().is_some_and(|r| {
            r.poll(&mut net.hosts[1]);
            r.received == BYTES
        })
    });
    if std::env::var_os("GOODPUT_DEBUG").is_some() {
        let conn = net.hosts[0].connection(c).expect("connection");
        eprintln!(
            "{}: {:?} cwnd/ssthresh {:?} srtt {:?}",
            case.name,
            conn.stats(),
            conn.congestion_window(),
            conn.srtt()
        );
    }
    let r = rx.expect("accepted");
    assert!(done && r.mismatch.is_none() && r.hash == tx.hash, "transfer incomplete or corrupt");
    BYTES as f64 / net.now.saturating_since(start).as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seeds: u64 = if quick { 3 } else { 10 };
    let link = |rtt, queue, loss| (10_000_000, ms(rtt), queue, loss);
    let cases = [
        Case::new("100ms RTT, 0% loss", Algorithm::NewReno, link(100, 131_072, 0.0), Target::None),
        Case::new("100ms RTT, 1% loss", Algorithm::NewReno, link(100, 131_072, 0.01), Target::None),
        Case::new("100ms RTT, 5% loss", Algorithm::NewReno, link(100, 131_072, 0.05), Target::None),
        Case::new(
            "50ms RTT, 64KiB queue, 0% loss",
            Algorithm::NewReno,
            link(50, 65_536, 0.0),
            Target::Capacity(0.85),
        ),
        Case::new(
            "50ms RTT, 64KiB queue, 1% loss",
            Algorithm::NewReno,
            link(50, 65_536, 0.01),
            Target::Mathis(0.8),
        ),
        Case::new(
            "CUBIC 50ms RTT, 64KiB queue, 0% loss",
            Algorithm::Cubic,
            link(50, 65_536, 0.0),
            Target::None,
        ),
        Case::new(
            "CUBIC 50ms RTT, 64KiB queue, 1% loss",
            Algorithm::Cubic,
            link(50, 65_536, 0.01),
            Target::None,
        ),
    ];
    println!(
        "10 MiB transfers (NewReno unless named), {seeds} seeds each, loss on both links;\ngoodput in Mbit/s of payload per virtual second"
    );
    println!(
        "{:<38} {:>9} {:>9} {:>9} {:>11} {:>10} {:>10} {:>8}",
        "link", "min", "mean", "max", "mean B/s", "capacity", "target", "result"
    );
    let mut missed = 0;
    for case in &cases {
        let runs: Vec<f64> = (0..seeds).map(|s| transfer(case, s + 1) * 8.0 / 1e6).collect();
        let mean = runs.iter().sum::<f64>() / runs.len() as f64;
        let min = runs.iter().copied().fold(f64::MAX, f64::min);
        let max = runs.iter().copied().fold(0.0, f64::max);
        let capacity = case.bandwidth_bps as f64 / 1e6;
        let mathis = MSS / case.rtt.as_secs_f64() * 1.22 / case.loss.sqrt() * 8.0 / 1e6;
        let (target, label) = match case.target {
            Target::None => (None, String::from("-")),
            Target::Capacity(f) => (Some(capacity * f), format!("{:.0}% cap", f * 100.0)),
            Target::Mathis(f) => (Some(mathis * f), format!("{f}×Mathis")),
        };
        let result = match target {
            Some(t) if mean >= t => "ok",
            Some(_) => {
                missed += 1;
                "MISSED"
            }
            None => "",
        };
        let bytes_per_sec = mean * 1e6 / 8.0;
        println!(
            "{:<38} {min:>9.3} {mean:>9.3} {max:>9.3} {bytes_per_sec:>11.0} {capacity:>10.3} {:>10} {result:>8}",
            case.name,
            target.map_or(label.clone(), |t| format!("{t:.3}")),
        );
        if case.loss > 0.0 {
            println!("{:<38} Mathis estimate {mathis:.3} Mbit/s (MSS {MSS} B)", "");
        }
    }
    if missed > 0 {
        eprintln!("{missed} goodput target(s) missed");
        std::process::exit(1);
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
