//! Echo latency, `trust` against kernel TCP, in one run.
//!
//! Builds a throwaway network namespace with a TUN device (the host's
//! networking is never touched), starts the low-latency echo server on
//! `trust` (the server's own thread drives the stack) and the same echo
//! server on kernel TCP (in a second namespace, over a veth pair), drives
//! both with the same kernel TCP clients, and prints their latency
//! distributions side by side. trust runs twice: sleeping when idle, and
//! in its latency mode (the server's loop polls for a bounded time before
//! it sleeps, `--spin`). The three servers take turns, `--runs` times; the
//! table gives the median of each percentile over the runs, with its
//! range, and `--pin` places the server and client threads on CPUs. It
//! writes each distribution as an HdrHistogram `.hgrm` percentile file and
//! all as an SVG plot. The namespaces are removed at the end, on error,
//! and on Ctrl-C. Needs root.
//!
//! ```text
//! cargo run --release --example latency -- [--size BYTES] [--count N]
//!     [--connections N] [--rate MSGS_PER_SEC] [--runs N] [--spin MICROS]
//!     [--pin any|same|split] [--ipv6] [--out DIR] [--markdown FILE] [--quick]
//! ```

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;
#[path = "support/echo.rs"]
#[allow(dead_code)]
mod echo;
#[path = "support/measure.rs"]
mod measure;
#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "support/plot.rs"]
mod plot;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use nix::sys::signal::{SigSet, Signal};
use trust::api::{Config, Interface};
use trust::device::tun::TunConfig;

/// Echo round-trip times, trust against kernel TCP, side by side
#[derive(Parser)]
#[command(
    name = "latency",
    allow_negative_numbers = true,
    args_override_self = true,
    after_help = "Needs root: it creates network namespaces (removed again at the end, on error and \
on Ctrl-C) with a TUN device and a veth pair inside."
)]
struct Flags {
    /// Message size in bytes
    #[arg(long, value_name = "BYTES", default_value = "64", value_parser = cli::count)]
    size: usize,
    /// Round trips per connection and run [default: 10000; 2000 with --quick]
    #[arg(long, value_name = "N", value_parser = cli::count)]
    count: Option<usize>,
    /// Runs of each server, taking turns; the table gives medians over the
    /// runs [default: 5; 1 with --quick]
    #[arg(long, value_name = "N", value_parser = cli::count)]
    runs: Option<usize>,
    /// Concurrent client connections
    #[arg(long, value_name = "N", default_value = "1", value_parser = cli::count)]
    connections: usize,
    /// Messages per second per connection, open loop (latency counted from
    /// the scheduled send time; 0: closed loop) [default: closed loop, the
    /// next message when the previous one is back]
    #[arg(long, value_name = "R", value_parser = rate)]
    rate: Option<f64>,
    /// Where to write latency-trust.hgrm, latency-trust-spin.hgrm,
    /// latency-kernel.hgrm and latency.svg
    #[arg(long, value_name = "DIR", default_value = "target/latency")]
    out: String,
    /// trust's latency mode: its server polls for completions this long
    /// before it sleeps (0 leaves the latency-mode row out)
    #[arg(long, value_name = "MICROS", default_value = "50", value_parser = cli::micros)]
    spin: Duration,
    /// Where the server and client threads run: any lets the scheduler
    /// place them; same puts servers and clients all on CPU 0; split puts
    /// servers on CPU 1 and clients on CPU 0
    #[arg(long, value_name = "PLACEMENT", value_enum, default_value_t = Placement::Any)]
    pin: Placement,
    /// Measure both stacks over IPv6 (trust's TUN and the kernel's veth get
    /// IPv6 addresses; default IPv4)
    #[arg(long)]
    ipv6: bool,
    /// Also append the table to FILE, as Markdown
    #[arg(long, value_name = "FILE")]
    markdown: Option<String>,
    /// One run of 2000 round trips (a smoke run)
    #[arg(long)]
    quick: bool,
    /// Leave kernel TCP out (to profile trust alone)
    #[arg(long)]
    trust_only: bool,
    /// Passed by `cargo bench`; ignored
    #[arg(long, hide = true)]
    bench: bool,
}

/// `--rate`'s value: 0 or more messages a second.
fn rate(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r >= 0.0)
        .ok_or_else(|| "expected a number of messages per second, such as 10000".into())
}

#[derive(Clone)]
struct Opts {
    size: usize,
    count: usize,
    connections: usize,
    rate: Option<f64>,
    out: String,
    /// Append the table, as Markdown, to this file.
    markdown: Option<String>,
    /// trust's latency mode: its server polls for completions this long
    /// before sleeping.
    spin: Duration,
    runs: usize,
    pin: Placement,
    /// Leave kernel TCP out (for profiling trust alone).
    trust_only: bool,
    /// Both stacks over IPv6.
    ipv6: bool,
}

impl From<Flags> for Opts {
    fn from(f: Flags) -> Opts {
        Opts {
            size: f.size,
            count: f.count.unwrap_or(if f.quick { 2_000 } else { 10_000 }),
            connections: f.connections,
            rate: f.rate.filter(|r| *r > 0.0),
            out: f.out,
            markdown: f.markdown,
            spin: f.spin,
            runs: f.runs.unwrap_or(if f.quick { 1 } else { 5 }),
            pin: f.pin,
            trust_only: f.trust_only,
            ipv6: f.ipv6,
        }
    }
}

/// Where the server and client threads run.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Placement {
    Any,
    #[value(name = "same")]
    SameCpu,
    Split,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Any => "unpinned",
            Placement::SameCpu => "server and client on one CPU",
            Placement::Split => "server on CPU 1, client on CPU 0",
        }
    }

    /// Pins the calling thread as a server (or client) thread, and notes
    /// the CPU it runs on.
    fn pin(self, server: bool) {
        let cpu = match self {
            Placement::Any => return note_cpu(server),
            Placement::SameCpu => 0,
            Placement::Split => usize::from(server),
        };
        let mut set = nix::sched::CpuSet::new();
        set.set(cpu).expect("CPU index");
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
            .unwrap_or_else(|e| panic!("pinning a thread to CPU {cpu}: {e}"));
        note_cpu(server);
    }
}

/// Namespaces to delete if we are interrupted.
static NAMESPACES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Deletes the namespaces and exits on SIGINT or SIGTERM. The signals are
/// blocked in every thread (they inherit the mask) and taken here.
fn handle_signals() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().expect("block SIGINT/SIGTERM");
    std::thread::spawn(move || {
        let sig = set.wait().unwrap_or(Signal::SIGINT);
        eprintln!("latency: {sig:?}: removing the namespaces");
        for name in NAMESPACES.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            delete_namespace(name);
        }
        std::process::exit(130);
    });
}

/// `ip netns del NAME`, quietly: a namespace this run already removed (a
/// finished run drops its own) is not worth a line.
fn delete_namespace(name: &str) {
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Removes the namespaces an earlier run of this example left behind when
/// it was killed outright (`trust-lat…-PID-N`, whose PID is gone).
fn remove_leftovers() {
    let Ok(out) = std::process::Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let mut parts = name.rsplitn(3, '-');
        let (_, pid, prefix) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        let dead = pid
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists());
        if prefix.starts_with("trust-lat") && dead {
            eprintln!("latency: removing {name}, left by an earlier run");
            delete_namespace(name);
        }
    }
}

/// The 1-minute load average, with a warning when the machine is busy
/// enough to swing the result; the CPUs (online, those this process may
/// use, the frequency governor) and where the threads are placed.
fn describe_machine(pin: Placement) -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_string());
    let load: f64 = read("/proc/loadavg")
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(0.0);
    let busy = load > 0.5 * cpus as f64;
    let online = read("/sys/devices/system/cpu/online").unwrap_or_else(|| "?".into());
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).map_or_else(
        |_| "?".into(),
        |set| cpu_list((0..nix::sched::CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false))),
    );
    let governor = read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
        .map_or_else(|| "not exposed (no cpufreq, as in most VMs)".into(), |g| g.to_string());
    format!(
        "load average {load:.2} on {cpus} CPUs{}\n\
         CPUs online {online}, this process may use {allowed}; frequency governor: {governor}; \
         threads: {}",
        if busy { " (WARNING: the machine is busy; latencies will swing between runs)" } else { "" },
        pin.name()
    )
}

/// CPU numbers as a list: `0, 1`.
fn cpu_list(cpus: impl IntoIterator<Item = usize>) -> String {
    let list: Vec<String> = cpus.into_iter().map(|c| c.to_string()).collect();
    if list.is_empty() { "?".into() } else { list.join(", ") }
}

/// The CPUs the client and server threads of the run under way were seen
/// on (`sched_getcpu` as each starts, and as the clients and trust's
/// server finish; a kernel server's thread finishes after its run is
/// counted): [clients, servers].
static SEEN: Mutex<[BTreeSet<usize>; 2]> = Mutex::new([BTreeSet::new(), BTreeSet::new()]);

/// Notes the CPU the calling (server or client) thread runs on.
fn note_cpu(server: bool) {
    if let Ok(cpu) = nix::sched::sched_getcpu() {
        SEEN.lock().unwrap_or_else(|e| e.into_inner())[usize::from(server)].insert(cpu);
    }
}

fn remember(ns: &netns::Netns) {
    NAMESPACES.lock().unwrap_or_else(|e| e.into_inner()).push(ns.name().to_string());
}

/// One connection's round trips, closed loop or at `rate`.
fn client(addr: SocketAddr, o: &Opts) -> Histogram<u64> {
    o.pin.pin(false);
    let mut s = measure::connect_retry(addr);
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let msg: Vec<u8> = (0..o.size).map(|i| i as u8).collect();
    let mut back = vec![0u8; o.size];
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let warmup = o.count / 10;
    let interval = o.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let start = Instant::now();
    for i in 0..warmup + o.count {
        // Open loop: measure from when the message was due, so a slow
        // reply delays the next ones' clocks too (no coordinated omission).
        let due = match interval {
            Some(iv) => {
                let due = start + iv * i as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                due
            }
            None => Instant::now(),
        };
        s.write_all(&msg).expect("send");
        s.read_exact(&mut back).expect("echo");
        if i >= warmup {
            hist.saturating_record(due.elapsed().as_nanos() as u64);
        }
    }
    note_cpu(false);
    assert_eq!(back, msg, "the echo returned other bytes");
    hist
}

/// All connections at once; their histograms merged.
fn drive(addr: SocketAddr, o: &Opts) -> Histogram<u64> {
    let threads: Vec<_> = (0..o.connections)
        .map(|_| {
            let o = o.clone();
            std::thread::spawn(move || client(addr, &o))
        })
        .collect();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for t in threads {
        all.add(t.join().expect("client")).unwrap();
    }
    all
}

/// trust's IPv6 address in its namespace (`--ipv6`).
const TRUST6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x103, 0, 0, 0, 0, 0, 2);

fn trust_run(o: &Opts, spin: Duration) -> Histogram<u64> {
    let ns = netns::Netns::new("lat");
    remember(&ns);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let pin = o.pin;
    let server = ns.spawn(move || {
        pin.pin(true);
        let mut tun = TunConfig::new("lat0");
        tun.host = Some((Ipv4Addr::new(10, 103, 0, 1), 24));
        tun.host6 = Some((Ipv6Addr::new(0xfd00, 0x103, 0, 0, 0, 0, 0, 1), 64));
        let mut cfg = Config::new(tun, Ipv4Addr::new(10, 103, 0, 2));
        cfg.addr6 = Some(TRUST6);
        cfg.reactor.spin = spin;
        let iface = Interface::open_embedded(cfg)?;
        let served = echo::serve(&iface, 7, Some(&flag));
        note_cpu(true);
        served
    });
    let opts = o.clone();
    let addr = if o.ipv6 { SocketAddr::from((TRUST6, 7)) } else { SocketAddr::from(([10, 103, 0, 2], 7)) };
    let hist = ns.run(move || drive(addr, &opts));
    stop.store(true, Ordering::Relaxed);
    server.join().expect("trust echo server").expect("trust echo server");
    hist
}

fn kernel_run(o: &Opts) -> Histogram<u64> {
    let path = netns::LossyPath::new("latk", "10.104.0.1/24", 0);
    remember(&path.tun_ns);
    remember(&path.peer_ns);
    let peer = if o.ipv6 { IpAddr::V6(path.add_ipv6()) } else { IpAddr::V4(path.peer_addr()) };
    let listener = path.peer_ns.run(move || std::net::TcpListener::bind((peer, 7)).expect("bind"));
    let pin = o.pin;
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.set_nodelay(true);
            std::thread::spawn(move || {
                pin.pin(true);
                let mut buf = [0u8; 65536];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let opts = o.clone();
    path.tun_ns.run(move || drive(SocketAddr::from((peer, 7)), &opts))
}

fn micros(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// The percentiles the table shows, as quantiles.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)];

/// One server's runs: each run's histogram, and all merged.
struct Series {
    name: String,
    /// Where its merged distribution is written, in `--out`.
    hgrm: &'static str,
    runs: Vec<Histogram<u64>>,
    all: Histogram<u64>,
    /// The CPUs its [clients, servers] were seen on, over the runs.
    cpus: [BTreeSet<usize>; 2],
}

impl Series {
    fn new(name: String, hgrm: &'static str) -> Series {
        Series {
            name,
            hgrm,
            runs: Vec::new(),
            all: Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap(),
            cpus: Default::default(),
        }
    }

    /// A run's histogram, and the CPUs its threads were seen on.
    fn add(&mut self, h: Histogram<u64>) {
        self.all.add(&h).unwrap();
        self.runs.push(h);
        let seen = std::mem::take(&mut *SEEN.lock().unwrap_or_else(|e| e.into_inner()));
        for (mine, new) in self.cpus.iter_mut().zip(seen) {
            mine.extend(new);
        }
    }

    /// Where its threads ran: `server on CPU 1, clients on CPU 0`.
    fn placement(&self) -> String {
        let [clients, servers] = &self.cpus;
        format!("server on CPU {}, clients on CPU {}", cpu_list(servers.clone()), cpu_list(clients.clone()))
    }

    /// (min, median, max) over the runs of quantile `q`, in µs.
    fn spread(&self, q: f64) -> (f64, f64, f64) {
        let mut v: Vec<f64> = self.runs.iter().map(|h| micros(h, q)).collect();
        measure::spread(&mut v).expect("at least one run")
    }

    fn median(&self, q: f64) -> f64 {
        self.spread(q).1
    }
}

fn main() -> std::process::ExitCode {
    cli::main(|f: Flags| Ok(Opts::from(f)), run)
}

fn run(o: Opts) -> std::io::Result<()> {
    handle_signals();
    remove_leftovers();
    let mode = match o.rate {
        Some(r) => format!("open loop at {r} msg/s per connection"),
        None => "closed loop".into(),
    };
    println!(
        "echo latency: {} connection(s) x {} round trips of {} bytes, {mode}, kernel TCP clients, {} run(s), {}, {}",
        o.connections,
        o.count,
        o.size,
        o.runs,
        o.pin.name(),
        if o.ipv6 { "IPv6" } else { "IPv4" }
    );
    println!("{}", describe_machine(o.pin));
    // The servers: trust sleeping when idle, trust in its latency mode,
    // kernel TCP. They take turns, so drifts in the machine's load hit all.
    let mut modes: Vec<Option<Duration>> = vec![Some(Duration::ZERO)];
    if !o.spin.is_zero() {
        modes.push(Some(o.spin));
    }
    if !o.trust_only {
        modes.push(None);
    }
    let mut series: Vec<Series> = modes
        .iter()
        .map(|m| match m {
            Some(d) if d.is_zero() => Series::new("trust".into(), "latency-trust.hgrm"),
            Some(d) => Series::new(format!("trust, spin {} µs", d.as_micros()), "latency-trust-spin.hgrm"),
            None => Series::new("kernel TCP (veth)".into(), "latency-kernel.hgrm"),
        })
        .collect();
    for run in 0..o.runs {
        for (m, s) in modes.iter().zip(series.iter_mut()) {
            s.add(match m {
                Some(spin) => trust_run(&o, *spin),
                None => kernel_run(&o),
            });
        }
        let p50s: Vec<String> =
            series.iter().map(|s| format!("{} {:.1}", s.name, micros(&s.runs[run], 0.5))).collect();
        println!("run {}: p50 µs: {}", run + 1, p50s.join(", "));
    }

    println!("where the threads ran (the CPUs they were seen on):");
    for s in &series {
        println!("  {}: {}", s.name, s.placement());
    }
    if o.trust_only {
        for s in &series {
            println!("{}: p50 {:.1} µs, p99 {:.1} µs (medians)", s.name, s.median(0.5), s.median(0.99));
        }
        return Ok(());
    }
    let Some((kernel, trusts)) = series.split_last() else { unreachable!("the kernel runs last") };
    let width = 24;
    let header: String = QUANTILES.iter().map(|(n, _)| format!("{n:>20}")).collect();
    println!("\nmedian over {} run(s) (min-max), µs", o.runs);
    println!("{:<width$}{header}", "");
    for s in &series {
        let cells: String = QUANTILES
            .iter()
            .map(|&(_, q)| {
                let (lo, med, hi) = s.spread(q);
                format!("{:>20}", format!("{med:.1} ({lo:.1}-{hi:.1})"))
            })
            .collect();
        println!("{:<width$}{cells}", s.name);
    }
    let mut verdicts = Vec::new();
    for t in trusts {
        let ratios: Vec<String> =
            QUANTILES.iter().map(|&(n, q)| format!("{n} {:.2}x", t.median(q) / kernel.median(q))).collect();
        println!("{} / kernel: {}", t.name, ratios.join("  "));
    }
    // The targets: issue 4's for trust as it is, issue 5's (at or below
    // kernel TCP) for the latency mode, both on the medians.
    let targets: Vec<(&Series, &str, f64, f64)> = match trusts {
        [plain] => vec![(plain, "trust", 1.5, 2.0)],
        [plain, fast, ..] => vec![(plain, "trust", 1.5, 2.0), (fast, "latency mode", 1.0, 1.0)],
        [] => vec![],
    };
    for (t, label, p50_limit, p99_limit) in targets {
        for (what, q, limit) in [("p50", 0.5, p50_limit), ("p99", 0.99, p99_limit)] {
            let r = t.median(q) / kernel.median(q);
            let word = if r > limit { "TARGET MISSED" } else { "target met" };
            let line = format!("{word}: {label} {what} is {r:.2}x kernel's (target <= {limit}x)");
            println!("{line}");
            verdicts.push(line);
        }
    }

    let out = std::path::Path::new(&o.out);
    let written = std::fs::create_dir_all(out)
        .and_then(|()| series.iter().try_for_each(|s| std::fs::write(out.join(s.hgrm), plot::hgrm(&s.all))))
        .and_then(|()| {
            let title = format!("echo round trip, {} bytes, {mode}, {}", o.size, o.pin.name());
            let note = if o.runs == 1 {
                "one run; legend: its p50 and p99, as in the table".to_string()
            } else {
                format!(
                    "curves: the {} runs merged; legend: p50 and p99 medians over the runs, as in the table",
                    o.runs
                )
            };
            let curves: Vec<plot::Curve> = series
                .iter()
                .map(|s| plot::Curve {
                    name: &s.name,
                    hist: &s.all,
                    legend: format!("p50 {:.1} µs, p99 {:.1} µs", s.median(0.5), s.median(0.99)),
                })
                .collect();
            std::fs::write(out.join("latency.svg"), plot::svg(&title, &note, &curves))
        });
    if let Err(e) = written {
        return Err(std::io::Error::other(format!("writing {}: {e}", out.display())));
    }
    if let Some(path) = &o.markdown {
        let mut md = format!(
            "### Echo latency ({} bytes, {} connection(s), {mode}, {}; median of {} run(s), min-max, µs)\n\n\
             | server | p50 | p90 | p99 | p99.9 |\n|---|---|---|---|---|\n",
            o.size,
            o.connections,
            o.pin.name(),
            o.runs
        );
        for s in &series {
            let cells: Vec<String> = QUANTILES
                .iter()
                .map(|&(_, q)| {
                    let (lo, med, hi) = s.spread(q);
                    format!("{med:.1} ({lo:.1}-{hi:.1})")
                })
                .collect();
            md += &format!("| {} | {} |\n", s.name, cells.join(" | "));
        }
        md += &format!("\n{}. Plot: `{}/latency.svg`.\n\n", verdicts.join("; "), out.display());
        measure::append_markdown(path, &md)
            .map_err(|e| std::io::Error::other(format!("writing {path}: {e}")))?;
    }
    println!("wrote the .hgrm files and latency.svg to {}", out.display());
    Ok(())
}
