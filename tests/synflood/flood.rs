//! Issue 10, "hold up under attack": a SYN flood against trust's echo
//! listener while a legitimate kernel client keeps connecting.
//!
//! Spoofed SYNs (sources in 198.18.0.0/15, which nothing in the namespace
//! routes or answers; Linux's SYN options) are written straight into the
//! TUN device from its kernel side by an `AF_PACKET` socket for 10 s
//! (`tests/common/synflood.rs`), at the rate of the attack issue 10
//! measured ([`ATTACK_RATE`]; one core with `sendmmsg(2)` writes 1.3-2.5
//! million a second, more than any reader of a TUN queue takes on this
//! machine, and `cargo bench --bench synflood` measures that). Meanwhile a
//! kernel client starts a connect, 1 KiB echo, close every 10 ms, and one
//! more the moment the flood ends. Trust serves echo with every setting at
//! its default (`examples/support/echo.rs` on `Interface::open`).
//!
//! The test asserts what must hold under attack: at least 95 % of the
//! attempts started during the flood succeed, the attempt right after it
//! succeeds, SYN cookies were sent and validated, and memory stays bounded
//! (the engine's connection count, the process's RSS growth). It asserts
//! no times: each attempt has a 10 s guard against hanging, and one that
//! has not finished by then counts as failed. `cargo bench --bench
//! synflood` measures the times (the 1 s target) beside kernel TCP.
//!
//! Before the targets, it checks its own harness, so that a broken flood
//! fails as such: an attempt without flood succeeds, the flooder sent at
//! least half the SYNs the attack rate makes, trust read at least 10,000
//! packets and found none malformed.

#[path = "../../examples/support/echo.rs"]
#[allow(dead_code)]
mod echo;

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::netns::Netns;
use crate::common::synflood::{
    ClientPlan, FloodConfig, Phase, Summary, dev_counters, drive_clients, flood, status_bytes, warm_up,
};
use crate::util::*;

const TUN: &str = "tk21";
const NET: u8 = 121;
const PORT: u16 = 7;
const FLOOD: Duration = Duration::from_secs(10);
const LIMIT: Duration = Duration::from_secs(180);

/// Trust's default listen backlog (`trust::api`'s `DEFAULT_BACKLOG`).
const DEFAULT_BACKLOG: usize = 1024;
/// Most connections (half-open ones included) the engine may hold during
/// the flood: four times the backlog leaves room for any SYN-queue design,
/// and is three orders of magnitude below the SYNs sent.
const MAX_CONNECTIONS: usize = 4 * DEFAULT_BACKLOG;
/// Most the process's resident memory may grow during the flood. Measured
/// for the whole test process: other tests running beside this one add to
/// it, hence the margin; a per-SYN cost of 60 bytes would exceed it.
const MAX_RSS_GROWTH: u64 = 256 << 20;
/// Least share of the attempts during the flood that must succeed.
const MIN_SUCCESS_PERCENT: f64 = 95.0;
/// Spoofed SYNs a second: the flood issue 10 reports ("about 470,000 a
/// second"), which took the listener down before SYN cookies.
const ATTACK_RATE: f64 = 470_000.0;

/// Peaks seen while the flood and the attempts ran.
#[derive(Debug, Default)]
struct Peaks {
    connections: usize,
    rss: u64,
}

#[test]
fn syn_flood_legitimate_clients_still_connect() {
    let ns = Netns::new("synflood");
    run_in(&ns, LIMIT, "SYN flood against the trust echo server", || {
        let iface = Arc::new(open(config(TUN, NET)));
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let (iface, stop) = (iface.clone(), stop.clone());
            spawn("trust-echo", move || echo::serve(&iface, PORT, Some(&stop)))
        };
        let target = SocketAddrV4::new(stack_addr(NET), PORT);
        let plan = ClientPlan::new(target);

        // The harness: without a flood, an attempt succeeds.
        let warm = warm_up(&plan);
        assert!(warm.ok(), "harness: an attempt without a flood failed: {warm:?}");

        let before = iface.stats();
        let dev_before = dev_counters(TUN).expect("TUN counters");
        let rss_before = status_bytes("self", "VmRSS").expect("VmRSS");
        let flooding = Arc::new(AtomicBool::new(true));
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (iface, sampling) = (iface.clone(), sampling.clone());
            spawn("sampler", move || {
                let mut peaks = Peaks::default();
                while sampling.load(Ordering::Relaxed) {
                    peaks.connections = peaks.connections.max(iface.describe_connections().len());
                    peaks.rss = peaks.rss.max(status_bytes("self", "VmRSS").unwrap_or(0));
                    std::thread::sleep(Duration::from_millis(100));
                }
                peaks
            })
        };
        let flooder = {
            let flooding = flooding.clone();
            spawn("flooder", move || {
                let cfg = FloodConfig { max_rate: Some(ATTACK_RATE), ..FloodConfig::new(TUN, target, FLOOD) };
                let report = flood(&cfg, None);
                flooding.store(false, Ordering::Release);
                report
            })
        };
        let start = Instant::now();
        let attempts = drive_clients(&plan, &flooding);
        let elapsed = start.elapsed();
        let report =
            join_within(flooder, LIMIT, "flooder").unwrap_or_else(|e| panic!("harness: flooder: {e}"));
        sampling.store(false, Ordering::Relaxed);
        let peaks = join_within(sampler, IO_TIMEOUT, "sampler");
        let after = iface.stats();
        let dev_after = dev_counters(TUN).expect("TUN counters");
        stop.store(true, Ordering::Relaxed);
        join_within(server, IO_TIMEOUT, "trust echo server").expect("echo server");

        let during = Summary::of(&attempts, Phase::During);
        let post = Summary::of(&attempts, Phase::After);
        let delta = |f: fn(&trust::stack::Stats) -> u64| f(&after) - f(&before);
        let rx = delta(|s| s.rx_packets);
        let malformed = delta(|s| s.rx_malformed);
        let cookies = [
            delta(|s| s.syn_cookies_sent),
            delta(|s| s.syn_cookies_validated),
            delta(|s| s.syn_cookies_rejected),
        ];
        let numbers = format!(
            "flood: {} SYNs in {:.2} s ({:.0}/s, {} failed sends); TUN queue: {} packets read by trust, {} dropped \
             (full); trust: rx {rx} (malformed {malformed}), tx {} (resets {}), SYNs dropped {}, cookies \
             sent/validated/rejected {}/{}/{}, control dropped {}; peak connections {} (bound {MAX_CONNECTIONS}), \
             RSS {} -> peak {} MiB (growth bound {} MiB); clients ran {elapsed:.1?}\n\
             during the flood: {}\nright after it: {}",
            report.sent,
            report.elapsed.as_secs_f64(),
            report.rate(),
            report.errors,
            dev_after.tx_packets - dev_before.tx_packets,
            dev_after.tx_dropped - dev_before.tx_dropped,
            delta(|s| s.tx_packets),
            delta(|s| s.tx_resets),
            delta(|s| s.syn_dropped),
            cookies[0],
            cookies[1],
            cookies[2],
            delta(|s| s.control_dropped),
            peaks.connections,
            rss_before >> 20,
            peaks.rss.max(rss_before) >> 20,
            MAX_RSS_GROWTH >> 20,
            during.describe(),
            post.describe(),
        );
        eprintln!("SYN flood: {numbers}");

        // The harness itself: the flood ran, reached trust, and was well formed.
        let planned = ATTACK_RATE * FLOOD.as_secs_f64();
        assert!(
            report.sent as f64 >= planned / 2.0,
            "harness: the flooder sent only {} SYNs of {planned}\n{numbers}",
            report.sent
        );
        assert!(rx >= 10_000, "harness: trust read only {rx} packets during the flood\n{numbers}");
        assert_eq!(malformed, 0, "harness: trust found {malformed} flood packets malformed\n{numbers}");
        assert!(during.attempts > 0, "harness: no attempt started during the flood\n{numbers}");
        assert_eq!(post.attempts, 1, "harness: one attempt right after the flood\n{numbers}");

        // The targets.
        let mut missed = Vec::new();
        if during.ok_percent() < MIN_SUCCESS_PERCENT {
            missed.push(format!(
                "{} of {} attempts during the flood succeeded ({:.1} %, target >= {MIN_SUCCESS_PERCENT} %)",
                during.ok,
                during.attempts,
                during.ok_percent()
            ));
        }
        if post.ok < post.attempts {
            missed.push(format!("the connection right after the flood failed: {:?}", post.failures));
        }
        if cookies[0] == 0 || cookies[1] == 0 {
            missed.push(format!(
                "SYN cookies sent {} and validated {} (both must be > 0)",
                cookies[0], cookies[1]
            ));
        }
        if peaks.connections > MAX_CONNECTIONS {
            missed.push(format!("{} connections at the peak (bound {MAX_CONNECTIONS})", peaks.connections));
        }
        let growth = peaks.rss.saturating_sub(rss_before);
        if growth > MAX_RSS_GROWTH {
            missed.push(format!("RSS grew {} MiB (bound {} MiB)", growth >> 20, MAX_RSS_GROWTH >> 20));
        }
        assert!(missed.is_empty(), "SYN flood: {}\n{numbers}", missed.join("; "));
    });
}
