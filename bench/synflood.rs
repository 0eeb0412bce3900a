//! Issue 10, "hold up under attack": a SYN flood against an echo server
//! while a legitimate kernel client keeps connecting, trust beside kernel
//! TCP in the same run and the same setup shape.
//!
//! ```text
//! cargo bench --bench synflood -- [--seconds S] [--quick] [--batch N] [--rate PPS] [--interval-ms MS]
//!                                 [--embedded] [--only trust|kernel] [--markdown FILE] [--strict]
//! ```
//!
//! - trust: its echo server (`examples/support/echo.rs`, every setting at
//!   its default, reactor on its own thread or `--embedded`) runs in a
//!   child process (this binary, re-executed) on a TUN device in namespace
//!   N, so that its peak RSS (`VmHWM`) is its own. The flooder and the
//!   client run in N: the flooder writes on the TUN from its kernel side.
//! - kernel TCP: a kernel echo server (a child process too) in namespace S,
//!   joined to N by a veth pair; the flooder writes on N's end of it, with
//!   S's MAC address. S routes everything, replies to the forged sources
//!   included, back to N, which does not forward and drops them.
//!
//! The flood: spoofed SYNs from 198.18.0.0/15 with Linux's SYN options,
//! written by one thread with `sendmmsg(2)` on an `AF_PACKET` socket as
//! fast as it goes (or at `--rate` packets a second: the same offered load
//! for both servers), for 10 s (`--quick`: 3 s). Meanwhile a kernel client
//! starts a connect, 1 KiB echo, close every 10 ms (open loop: a slow
//! server does not thin out the attempts; each has a 10 s guard), and one
//! more the moment the flood ends (`tests/common/synflood.rs`).
//!
//! SYN-ACKs to the forged sources are counted where they arrive, in N,
//! which drops them as not its own (`Ip: InAddrErrors`), for both servers;
//! cookie counts come from trust's `Stats` and from S's `TcpExt` counters. The targets: at least 95 % of the
//! attempts during the flood succeed within 1 s, the attempt right after
//! the flood succeeds within 1 s, and trust's RSS grows by at most 64 MiB.
//! A missed target is reported; `--strict` makes it the exit status.

#[path = "child.rs"]
#[allow(dead_code)]
mod child;
#[path = "../examples/support/echo.rs"]
#[allow(dead_code)]
mod echo;
#[path = "../examples/support/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "synflood/servers.rs"]
mod servers;
#[path = "../tests/common/synflood.rs"]
#[allow(dead_code)]
mod synflood;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use child::ServerChild;
use netns::{LossyPath, Netns, VETH_PEER, VETH_TUN};
use servers::{counters, slab_objects, sockstat};
use synflood::{
    Attempt, ClientPlan, FloodConfig, FloodReport, Phase, Summary, dev_counters, drive_clients, flood,
    mac_address, warm_up,
};

const PORT: u16 = 7;
/// Both listeners' backlog: trust's default (`trust::api`'s
/// `DEFAULT_BACKLOG`), given to the kernel's `listen(2)` too.
const BACKLOG: usize = 1024;
/// The trust case's TUN device and addresses.
const TUN: &str = "sflood0";
const TUN_HOST: Ipv4Addr = Ipv4Addr::new(10, 91, 0, 1);
const TRUST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 91, 0, 2);
/// The targets.
const MIN_WITHIN_1S_PERCENT: f64 = 95.0;
const MAX_RSS_GROWTH: u64 = 64 << 20;

struct Opts {
    flood: Duration,
    batch: usize,
    rate: Option<f64>,
    interval: Duration,
    embedded: bool,
    only: Option<String>,
    markdown: Option<String>,
    strict: bool,
    /// Internal: be the trust server in this namespace.
    trust_server: Option<String>,
    /// Internal: be the kernel server in this namespace, on this address.
    kernel_server: Option<(String, Ipv4Addr)>,
}

fn parse() -> Opts {
    let mut o = Opts {
        flood: Duration::from_secs(10),
        batch: synflood::DEFAULT_BATCH,
        rate: None,
        interval: Duration::from_millis(10),
        embedded: false,
        only: None,
        markdown: None,
        strict: false,
        trust_server: None,
        kernel_server: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<f64>().ok()).expect("flag needs a number");
        match a.as_str() {
            "--seconds" => o.flood = Duration::from_secs_f64(num().max(0.5)),
            "--quick" => o.flood = Duration::from_secs(3),
            "--batch" => o.batch = num().max(1.0) as usize,
            "--rate" => o.rate = Some(num()),
            "--interval-ms" => o.interval = Duration::from_secs_f64(num().max(0.1) / 1e3),
            "--embedded" => o.embedded = true,
            "--only" => o.only = it.next(),
            "--markdown" => o.markdown = Some(it.next().expect("--markdown needs a file")),
            "--strict" => o.strict = true,
            "--trust-server" => o.trust_server = Some(it.next().expect("--trust-server needs a namespace")),
            "--kernel-server" => {
                let ns = it.next().expect("--kernel-server needs a namespace");
                let addr = it.next().and_then(|a| a.parse().ok()).expect("--kernel-server needs an address");
                o.kernel_server = Some((ns, addr));
            }
            _ => {} // cargo bench passes --bench
        }
    }
    o
}

/// What one case measured.
#[derive(Default)]
struct Case {
    name: &'static str,
    flood: FloodReport,
    attempts: Vec<Attempt>,
    /// Flood packets that reached the server, and that were dropped on the
    /// way (a full TUN queue; a full veth backlog).
    delivered: u64,
    lost: u64,
    /// SYN-ACKs (and anything else) to the forged sources, dropped in N.
    to_forged: u64,
    /// Sent, validated, rejected.
    cookies: [u64; 3],
    /// SYNs the listener dropped (no cookie, no room).
    syn_dropped: u64,
    /// The server process's RSS when idle, and its peak.
    rss_idle: u64,
    rss_peak: u64,
    /// Case-specific lines (settings, memory the RSS does not show).
    notes: Vec<String>,
}

// ------------------------------------------------------------------ the run

/// Packets that arrived in `ns` for an address it neither owns nor
/// forwards to (`Ip: InAddrErrors`): there, the servers' SYN-ACKs to the
/// forged sources. The kernel counts them anyway, so counting costs
/// neither server anything (an nft counter cost trust's reactor 4 %: it
/// runs in the thread that writes to the TUN).
fn to_forged(ns: &Netns) -> u64 {
    ns.run(|| counters("/proc/thread-self/net/snmp", "Ip:")).get("InAddrErrors").copied().unwrap_or(0)
}

/// The flood and the clients, both in `ns`: returns the flood's report
/// and every attempt. `sample` runs every 100 ms meanwhile.
fn flood_and_clients(
    ns: &Netns,
    cfg: FloodConfig,
    plan: ClientPlan,
    mut sample: impl FnMut() + Send + 'static,
) -> (FloodReport, Vec<Attempt>) {
    // The harness: without a flood, an attempt succeeds.
    let warm = ns.run(move || warm_up(&plan));
    assert!(warm.ok(), "harness: an attempt without a flood failed: {warm:?}");
    let flooding = Arc::new(AtomicBool::new(true));
    let limit = cfg.duration + Duration::from_secs(60);
    let flooder = {
        let flooding = flooding.clone();
        ns.spawn(move || {
            let r = flood(&cfg, None);
            flooding.store(false, Ordering::Release);
            r
        })
    };
    let clients = {
        let flooding = flooding.clone();
        ns.spawn(move || drive_clients(&plan, &flooding))
    };
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                sample();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let start = std::time::Instant::now();
    while !(flooder.is_finished() && clients.is_finished()) {
        assert!(start.elapsed() < limit + plan.guard, "the flood or the clients hung");
        std::thread::sleep(Duration::from_millis(20));
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let report =
        flooder.join().expect("flooder panicked").unwrap_or_else(|e| panic!("harness: flooder: {e}"));
    (report, clients.join().expect("clients panicked"))
}

fn trust_case(o: &Opts) -> Case {
    let ns = Netns::new("sftrust");
    let mut args = vec!["--trust-server".to_string(), ns.name().to_string()];
    if o.embedded {
        args.push("--embedded".into());
    }
    let mut server = ServerChild::spawn(&args);
    let ready = server.expect("READY", Duration::from_secs(20));
    let forged_before = to_forged(&ns);
    let target = SocketAddrV4::new(TRUST_ADDR, PORT);
    let mut cfg = FloodConfig::new(TUN, target, o.flood);
    cfg.batch = o.batch;
    cfg.max_rate = o.rate;
    let plan = ClientPlan { interval: o.interval, ..ClientPlan::new(target) };
    let dev = || ns.run(|| dev_counters(TUN).expect("TUN counters"));
    let before = dev();
    let (flood, attempts) = flood_and_clients(&ns, cfg, plan, || {});
    let after = dev();
    let to_forged = to_forged(&ns) - forged_before;
    server.say("STOP");
    let r = server.expect("RESULT", Duration::from_secs(30));
    let n = |k: &str| r.num(k);
    let tx = n("tx_packets");
    Case {
        name: "trust",
        flood,
        attempts,
        delivered: after.tx_packets - before.tx_packets,
        lost: after.tx_dropped - before.tx_dropped,
        to_forged,
        cookies: [n("syn_cookies_sent"), n("syn_cookies_validated"), n("syn_cookies_rejected")],
        syn_dropped: n("syn_dropped"),
        rss_idle: ready.num("rss"),
        rss_peak: n("hwm"),
        notes: vec![
            format!(
                "trust: listen backlog {BACKLOG} (the default), SYN cookies: the engine's own (counters above); \
                 reactor {} ({}); at most {} connections held at once (sampled)",
                r.text("backend"),
                if o.embedded { "embedded" } else { "own thread" },
                n("peak_connections")
            ),
            format!(
                "trust engine: rx {} packets ({} malformed), tx {tx} (resets {}: so at most {} SYN-ACKs, \
                 retransmissions included), SYN queue or backlog full: {} SYNs dropped, control dropped {}",
                n("rx_packets"),
                n("rx_malformed"),
                n("tx_resets"),
                tx - n("tx_resets"),
                n("syn_dropped"),
                n("control_dropped")
            ),
        ],
    }
}

fn kernel_case(o: &Opts) -> Case {
    let path = LossyPath::new("sfkern", "10.92.0.1/24", 0);
    let (n, s) = (&path.tun_ns, &path.peer_ns);
    // N drops what is not its own (S's default route sends the SYN-ACKs
    // for the forged sources here).
    n.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"]);
    let sysctl = |k: &str| s.exec(&["sysctl", "-n", k]).trim().to_string();
    let settings = format!(
        "kernel: listen backlog {BACKLOG}, net.ipv4.tcp_syncookies={}, tcp_max_syn_backlog={}, somaxconn={}, \
         netdev_max_backlog={} (system-wide)",
        sysctl("net.ipv4.tcp_syncookies"),
        sysctl("net.ipv4.tcp_max_syn_backlog"),
        sysctl("net.core.somaxconn"),
        std::fs::read_to_string("/proc/sys/net/core/netdev_max_backlog").unwrap_or_default().trim()
    );
    let addr = path.peer_addr();
    let mut server = ServerChild::spawn(&["--kernel-server".into(), s.name().into(), addr.to_string()]);
    let ready = server.expect("READY", Duration::from_secs(20));
    let forged_before = to_forged(n);
    let mac = s.run(|| mac_address(VETH_PEER).expect("S's veth address"));
    let target = SocketAddrV4::new(addr, PORT);
    let mut cfg = FloodConfig::new(VETH_TUN, target, o.flood);
    cfg.dst_mac = Some(mac);
    cfg.batch = o.batch;
    cfg.max_rate = o.rate;
    let plan = ClientPlan { interval: o.interval, ..ClientPlan::new(target) };
    let pid = server.pid();
    let counters = || {
        let sent = n.run(|| dev_counters(VETH_TUN).expect("N's veth"));
        let got = s.run(|| dev_counters(VETH_PEER).expect("S's veth"));
        (
            sent.tx_dropped + got.rx_dropped,
            got.rx_packets,
            counters(&format!("/proc/{pid}/net/netstat"), "TcpExt:"),
        )
    };
    let before = counters();
    let peaks = Arc::new(std::sync::Mutex::new((0u64, 0u64, 0u64)));
    let sample = {
        let peaks = peaks.clone();
        move || {
            let (inuse, mem) = sockstat(pid);
            let reqs = slab_objects("request_sock_TCP");
            let mut p = peaks.lock().unwrap();
            *p = (p.0.max(inuse), p.1.max(mem), p.2.max(reqs));
        }
    };
    let (flood, attempts) = flood_and_clients(n, cfg, plan, sample);
    let after = counters();
    let to_forged = to_forged(n) - forged_before;
    server.say("STOP");
    let r = server.expect("RESULT", Duration::from_secs(30));
    let d = |k: &str| after.2.get(k).copied().unwrap_or(0) - before.2.get(k).copied().unwrap_or(0);
    let (inuse, mem, reqs) = *peaks.lock().unwrap();
    Case {
        name: "kernel",
        flood,
        attempts,
        delivered: after.1 - before.1,
        lost: after.0 - before.0,
        to_forged,
        cookies: [d("SyncookiesSent"), d("SyncookiesRecv"), d("SyncookiesFailed")],
        syn_dropped: d("TCPReqQFullDrop") + d("ListenDrops"),
        rss_idle: ready.num("rss"),
        rss_peak: r.num("hwm"),
        notes: vec![
            settings,
            format!(
                "kernel memory (not in any RSS): peak {reqs} request socks (SYN queue, request_sock_TCP slab, \
                 system-wide), peak sockstat TCP inuse {inuse}, mem {mem} pages; TcpExt TCPReqQFullDoCookies {}, \
                 ListenOverflows {}",
                d("TCPReqQFullDoCookies"),
                d("ListenOverflows")
            ),
        ],
    }
}

// ------------------------------------------------------------------ the report

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 { format!("{:.2}x", a / b) } else { "-".into() }
}

/// The rows of the table: (what, value per case, ratio of the first to the second).
fn rows(cases: &[Case]) -> Vec<(String, Vec<String>, String)> {
    let during: Vec<Summary> = cases.iter().map(|c| Summary::of(&c.attempts, Phase::During)).collect();
    let after: Vec<Summary> = cases.iter().map(|c| Summary::of(&c.attempts, Phase::After)).collect();
    let r = |f: &dyn Fn(usize) -> f64| if cases.len() == 2 { ratio(f(0), f(1)) } else { String::new() };
    let q = |i: usize, x: f64| during[i].connect_quantile(x).map_or(0.0, |d| d.as_secs_f64());
    let each = |f: &dyn Fn(usize) -> String| (0..cases.len()).map(f).collect::<Vec<_>>();
    vec![
        (
            "flood SYNs sent (per s)".into(),
            each(&|i| format!("{} ({:.0})", cases[i].flood.sent, cases[i].flood.rate())),
            r(&|i| cases[i].flood.rate()),
        ),
        (
            "flood reached the server / lost on the way".into(),
            each(&|i| format!("{} / {}", cases[i].delivered, cases[i].lost)),
            r(&|i| cases[i].delivered as f64),
        ),
        (
            "legitimate attempts during the flood".into(),
            each(&|i| during[i].attempts.to_string()),
            String::new(),
        ),
        (
            "succeeded".into(),
            each(&|i| format!("{:.1} % ({})", during[i].ok_percent(), during[i].ok)),
            r(&|i| during[i].ok_percent()),
        ),
        (
            "succeeded within 1 s (target >= 95 %)".into(),
            each(&|i| format!("{:.1} % ({})", during[i].within_1s_percent(), during[i].ok_within_1s)),
            r(&|i| during[i].within_1s_percent()),
        ),
        (
            "connect time p50 / p99 (ms, successes)".into(),
            each(&|i| {
                format!("{} / {}", ms(during[i].connect_quantile(0.5)), ms(during[i].connect_quantile(0.99)))
            }),
            if cases.len() == 2 {
                format!("{} / {}", r(&|i| q(i, 0.5)), r(&|i| q(i, 0.99)))
            } else {
                String::new()
            },
        ),
        (
            "right after the flood (target: within 1 s)".into(),
            each(&|i| match after[i].ok_within_1s {
                1 => format!("ok in {} ms", ms(cases[i].attempts.iter().rev().find_map(|a| a.total))),
                _ if after[i].ok == 1 => "ok, but after 1 s".into(),
                _ => "failed".into(),
            }),
            String::new(),
        ),
        (
            "SYN-ACKs to forged sources (dropped in N)".into(),
            each(&|i| cases[i].to_forged.to_string()),
            r(&|i| cases[i].to_forged as f64),
        ),
        (
            "SYN cookies sent / validated / rejected".into(),
            each(&|i| format!("{} / {} / {}", cases[i].cookies[0], cases[i].cookies[1], cases[i].cookies[2])),
            r(&|i| cases[i].cookies[0] as f64),
        ),
        ("SYNs dropped by the listener".into(), each(&|i| cases[i].syn_dropped.to_string()), String::new()),
        (
            "server peak RSS (growth over idle), MiB".into(),
            each(&|i| {
                let c = &cases[i];
                format!("{:.1} (+{:.1})", c.rss_peak as f64 / 1048576.0, growth(c) as f64 / 1048576.0)
            }),
            r(&|i| cases[i].rss_peak as f64),
        ),
    ]
}

fn growth(c: &Case) -> u64 {
    c.rss_peak.saturating_sub(c.rss_idle)
}

/// The verdict on `c` against the targets: (met, text).
fn verdict(c: &Case) -> Vec<(bool, String)> {
    let during = Summary::of(&c.attempts, Phase::During);
    let after = Summary::of(&c.attempts, Phase::After);
    vec![
        (
            during.within_1s_percent() >= MIN_WITHIN_1S_PERCENT,
            format!(
                "{:.1} % of the attempts during the flood succeeded within 1 s (target >= {MIN_WITHIN_1S_PERCENT} %)",
                during.within_1s_percent()
            ),
        ),
        (
            after.ok_within_1s == 1,
            "the connection right after the flood succeeded at once (within 1 s)".into(),
        ),
        (
            growth(c) <= MAX_RSS_GROWTH,
            format!(
                "RSS grew {:.1} MiB during the flood (target <= {} MiB)",
                growth(c) as f64 / 1048576.0,
                MAX_RSS_GROWTH >> 20
            ),
        ),
    ]
}

fn report(o: &Opts, cases: &[Case]) -> bool {
    let rows = rows(cases);
    let mut text = String::new();
    let header: Vec<&str> = cases.iter().map(|c| c.name).collect();
    let _ = write!(text, "\n{:<46}", "");
    for h in &header {
        let _ = write!(text, " {h:>28}");
    }
    let _ = writeln!(text, " {:>14}", if cases.len() == 2 { "trust/kernel" } else { "" });
    for (what, vals, r) in &rows {
        let _ = write!(text, "{what:<46}");
        for v in vals {
            let _ = write!(text, " {v:>28}");
        }
        let _ = writeln!(text, " {r:>14}");
    }
    // Notes, then the verdicts: printed, and listed under the Markdown table.
    let mut lines = Vec::new();
    for c in cases {
        lines.extend(c.notes.iter().cloned());
        let failures = Summary::of(&c.attempts, Phase::During).failures;
        if !failures.is_empty() {
            lines.push(format!("{}: why attempts failed during the flood: {failures:?}", c.name));
        }
    }
    if cases.len() == 2 {
        lines.push(
            "flood rates differ by design: over veth the kernel server handles each SYN in the flooder's own \
             thread (softirq), which slows the flooder; the TUN queue decouples trust from the flooder, and what \
             trust does not read in time is lost there, legitimate packets included"
                .into(),
        );
    }
    let mut all_met = true;
    for c in cases {
        for (met, what) in verdict(c) {
            all_met &= met || c.name != "trust";
            let tag = match (met, c.name) {
                (true, _) => "target met",
                (false, "trust") => "TARGET MISSED",
                (false, _) => "missed (baseline)",
            };
            lines.push(format!("{}: {tag}: {what}", c.name));
        }
    }
    for l in &lines {
        let _ = writeln!(text, "  {l}");
    }
    print!("{text}");
    if let Some(file) = &o.markdown {
        let mut md = format!(
            "\n#### SYN flood: {:.0} s of spoofed SYNs (one core, sendmmsg batches of {}, {}), a legitimate \
             connect + 1 KiB echo every {} ms\n\n| | {} | trust/kernel |\n|---|{}---|\n",
            o.flood.as_secs_f64(),
            o.batch,
            rate_text(o.rate),
            o.interval.as_millis(),
            header.join(" | "),
            "---|".repeat(cases.len())
        );
        for (what, vals, r) in &rows {
            let _ = writeln!(md, "| {what} | {} | {r} |", vals.join(" | "));
        }
        md.push('\n');
        for l in &lines {
            let _ = writeln!(md, "- {l}");
        }
        measure::append_markdown(file, &md).expect("append the markdown table");
    }
    all_met
}

fn rate_text(rate: Option<f64>) -> String {
    rate.map_or("as fast as it goes".into(), |r| format!("at most {r:.0} a second"))
}

fn main() {
    let o = parse();
    if let Some(ns) = &o.trust_server {
        return servers::trust_server(ns, o.embedded, TUN, (TUN_HOST, TRUST_ADDR), PORT);
    }
    if let Some((ns, addr)) = &o.kernel_server {
        return servers::kernel_server(ns, SocketAddrV4::new(*addr, PORT), BACKLOG);
    }
    println!(
        "SYN flood: {:.0} s of spoofed SYNs from 198.18.0.0/15 (MSS, SACK, timestamps, window scale) written by \
         one thread (sendmmsg, {} per call; {}) from the kernel side of the server's link; a kernel client starts \
         a connect + {} B echo + close every {} ms (guard {:?}), and one more when the flood ends",
        o.flood.as_secs_f64(),
        o.batch,
        rate_text(o.rate),
        ClientPlan::new(SocketAddrV4::new(TRUST_ADDR, PORT)).payload,
        o.interval.as_millis(),
        ClientPlan::new(SocketAddrV4::new(TRUST_ADDR, PORT)).guard
    );
    let mut cases = Vec::new();
    if o.only.as_deref() != Some("kernel") {
        cases.push(trust_case(&o));
    }
    if o.only.as_deref() != Some("trust") {
        cases.push(kernel_case(&o));
    }
    let met = report(&o, &cases);
    if o.strict && !met {
        std::process::exit(1);
    }
}
