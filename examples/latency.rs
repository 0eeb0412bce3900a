//! Echo latency, `trust` against kernel TCP, in one run.
//!
//! Builds a throwaway network namespace with a TUN device (the host's
//! networking is never touched), starts the low-latency echo server on
//! `trust` (the server's own thread drives the stack) and the same echo
//! server on kernel TCP (in a second namespace, over a veth pair), drives
//! both with the same kernel TCP clients, and prints their latency
//! distributions side by side. It writes each distribution as an HdrHistogram
//! `.hgrm` percentile file and both as an SVG plot. The namespaces are
//! removed at the end, on error, and on Ctrl-C. Needs root.
//!
//! ```text
//! cargo run --release --example latency -- [--size BYTES] [--count N]
//!     [--connections N] [--rate MSGS_PER_SEC] [--out DIR] [--quick]
//! ```

#[path = "support/echo.rs"]
#[allow(dead_code)]
mod echo;
#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "support/plot.rs"]
mod plot;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nix::sys::signal::{SigSet, Signal};
use trust::api::{Config, Interface};
use trust::device::tun::TunConfig;

const HELP: &str = "\
latency: echo round-trip times, trust against kernel TCP, side by side

USAGE:
    cargo run --release --example latency -- [FLAGS]

FLAGS:
    --size BYTES          message size (default 64)
    --count N             round trips per connection (default 20000)
    --connections N       concurrent client connections (default 1)
    --rate R              messages per second per connection, open loop
                          (latency counted from the scheduled send time);
                          default: closed loop, next message when the
                          previous one is back
    --out DIR             where to write latency-trust.hgrm,
                          latency-kernel.hgrm and latency.svg
                          (default target/latency)
    --spin MICROS         trust's server polls for completions this long
                          before it sleeps (default 0: sleep at once)
    --markdown FILE       also append the table to FILE, as Markdown
    --quick               2000 round trips (a smoke run)
    -h, --help            print this help

Needs root: it creates network namespaces (removed again at the end, on
error and on Ctrl-C) with a TUN device and a veth pair inside.";

#[derive(Clone)]
struct Opts {
    size: usize,
    count: usize,
    connections: usize,
    rate: Option<f64>,
    out: String,
    /// Append the table, as Markdown, to this file.
    markdown: Option<String>,
    /// trust's server polls for completions this long before sleeping.
    spin: Duration,
}

fn parse() -> Result<Option<Opts>, String> {
    let mut o = Opts {
        size: 64,
        count: 20_000,
        connections: 1,
        rate: None,
        out: "target/latency".into(),
        markdown: None,
        spin: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--size" => o.size = num(value()?)?.max(1.0) as usize,
            "--count" => o.count = num(value()?)?.max(1.0) as usize,
            "--connections" => o.connections = num(value()?)?.max(1.0) as usize,
            "--rate" => o.rate = Some(num(value()?)?).filter(|r| *r > 0.0),
            "--out" => o.out = value()?,
            "--markdown" => o.markdown = Some(value()?),
            "--spin" => o.spin = Duration::from_micros(num(value()?)?.max(0.0) as u64),
            "--quick" => o.count = 2_000,
            "--bench" => {} // under `cargo bench`
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Some(o))
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
            let _ = std::process::Command::new("ip").args(["netns", "del", name]).status();
        }
        std::process::exit(130);
    });
}

fn remember(ns: &netns::Netns) {
    NAMESPACES.lock().unwrap_or_else(|e| e.into_inner()).push(ns.name().to_string());
}

/// One connection's round trips, closed loop or at `rate`.
fn client(addr: SocketAddr, o: &Opts) -> Histogram<u64> {
    let mut s = (0..200)
        .find_map(|_| {
            TcpStream::connect(addr).ok().or_else(|| {
                std::thread::sleep(Duration::from_millis(20));
                None
            })
        })
        .unwrap_or_else(|| panic!("no echo server at {addr}"));
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

fn trust_run(o: &Opts) -> Histogram<u64> {
    let ns = netns::Netns::new("lat");
    remember(&ns);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let spin = o.spin;
    let server = ns.spawn(move || {
        let mut tun = TunConfig::new("lat0");
        tun.host = Some((Ipv4Addr::new(10, 103, 0, 1), 24));
        let mut cfg = Config::new(tun, Ipv4Addr::new(10, 103, 0, 2));
        cfg.reactor.spin = spin;
        let iface = Interface::open_embedded(cfg)?;
        echo::serve(&iface, 7, Some(&flag))
    });
    let opts = o.clone();
    let hist = ns.run(move || drive(SocketAddr::from(([10, 103, 0, 2], 7)), &opts));
    stop.store(true, Ordering::Relaxed);
    server.join().expect("trust echo server").expect("trust echo server");
    hist
}

fn kernel_run(o: &Opts) -> Histogram<u64> {
    let path = netns::LossyPath::new("latk", "10.104.0.1/24", 0);
    remember(&path.tun_ns);
    remember(&path.peer_ns);
    let peer = path.peer_addr();
    let listener = path.peer_ns.run(move || std::net::TcpListener::bind((peer, 7)).expect("bind"));
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.set_nodelay(true);
            std::thread::spawn(move || {
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

fn main() -> std::process::ExitCode {
    let o = match parse() {
        Ok(Some(o)) => o,
        Ok(None) => {
            // (A reader that stops early must not turn --help into a panic.)
            let _ = writeln!(std::io::stdout(), "{HELP}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("latency: {e}\n\n{HELP}");
            return std::process::ExitCode::from(2);
        }
    };
    handle_signals();
    let mode = match o.rate {
        Some(r) => format!("open loop at {r} msg/s per connection"),
        None => "closed loop".into(),
    };
    println!(
        "echo latency: {} connection(s) x {} round trips of {} bytes, {mode}, kernel TCP clients",
        o.connections, o.count, o.size
    );
    let trust = trust_run(&o);
    let kernel = kernel_run(&o);

    println!("{:<22}{:>9}{:>9}{:>9}{:>9}{:>10}  (µs)", "", "p50", "p90", "p99", "p99.9", "max");
    for (name, h) in [("trust (TUN, embedded)", &trust), ("kernel TCP (veth)", &kernel)] {
        println!(
            "{name:<22}{:>9.1}{:>9.1}{:>9.1}{:>9.1}{:>10.1}",
            micros(h, 0.5),
            micros(h, 0.9),
            micros(h, 0.99),
            micros(h, 0.999),
            h.max() as f64 / 1000.0
        );
    }
    let ratio = |q: f64| micros(&trust, q) / micros(&kernel, q);
    let (r50, r99) = (ratio(0.5), ratio(0.99));
    println!(
        "trust / kernel: p50 {r50:.2}x  p90 {:.2}x  p99 {r99:.2}x  p99.9 {:.2}x",
        ratio(0.9),
        ratio(0.999)
    );
    for (what, r, limit) in [("p50", r50, 1.5), ("p99", r99, 2.0)] {
        if r > limit {
            println!("TARGET MISSED: trust {what} is {r:.2}x kernel's (target <= {limit}x)");
        } else {
            println!("target met: trust {what} is {r:.2}x kernel's (target <= {limit}x)");
        }
    }

    let out = std::path::Path::new(&o.out);
    if let Err(e) = std::fs::create_dir_all(out)
        .and_then(|()| std::fs::write(out.join("latency-trust.hgrm"), plot::hgrm(&trust)))
        .and_then(|()| std::fs::write(out.join("latency-kernel.hgrm"), plot::hgrm(&kernel)))
        .and_then(|()| {
            let title = format!("echo round trip, {} bytes, {mode}", o.size);
            std::fs::write(
                out.join("latency.svg"),
                plot::svg(&title, &[("trust", &trust), ("kernel TCP", &kernel)]),
            )
        })
    {
        eprintln!("latency: writing {}: {e}", out.display());
        return std::process::ExitCode::FAILURE;
    }
    if let Some(path) = &o.markdown {
        let row = |name: &str, h: &Histogram<u64>| {
            format!(
                "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                micros(h, 0.5),
                micros(h, 0.9),
                micros(h, 0.99),
                micros(h, 0.999),
                h.max() as f64 / 1000.0
            )
        };
        let md = format!(
            "### Echo latency ({} bytes, {} connection(s), {mode}, µs)\n\n\
             | stack | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|\n{}{}\n\
             trust / kernel: p50 {r50:.2}×, p99 {r99:.2}× (targets ≤ 1.5×, ≤ 2×). Plot: `{}/latency.svg`.\n\n",
            o.size,
            o.connections,
            row("trust (TUN, embedded)", &trust),
            row("kernel TCP (veth)", &kernel),
            out.display()
        );
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(md.as_bytes()));
        if let Err(e) = appended {
            eprintln!("latency: writing {path}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("wrote {0}/latency-trust.hgrm, {0}/latency-kernel.hgrm and {0}/latency.svg", out.display());
    std::process::ExitCode::SUCCESS
}
