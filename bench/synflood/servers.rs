//! The SYN-flood benchmark's two echo servers, each in a child process of
//! its own (this binary, re-executed, driven through `bench/child.rs`) so
//! that its peak RSS is its own; the kernel counters the kernel case reads.
//!
//! A child enters the namespace named on its command line, serves echo on
//! `PORT`, prints `READY rss=<bytes>`, and on `STOP` (or the end of its
//! input) prints `RESULT key=value ...` and exits.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, socket, sockopt,
};
use trust::api::{Config, Interface};
use trust::device::tun::TunConfig;

use crate::echo;
use crate::synflood::status_bytes;

/// Moves the calling thread into the namespace `ns` (threads it spawns
/// follow).
fn enter(ns: &str) {
    let path = format!("/var/run/netns/{ns}");
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    setns(&f, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e} (needs root)"));
}

fn own(field: &str) -> u64 {
    status_bytes("self", field).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits for `STOP` or the end of standard input.
fn wait_for_stop() {
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "STOP" {
        line.clear();
    }
}

/// The trust echo server: a TUN device `tun` in namespace `ns`, the
/// kernel's side at `host`, the stack at `addr`, every other setting at its
/// default; the reactor on its own thread, or driven by the echo loop when
/// `embedded`. Its result line carries the engine's counters, the most
/// connections it held at once (sampled every 100 ms), and `VmHWM`.
pub fn trust_server(ns: &str, embedded: bool, tun: &str, (host, addr): (Ipv4Addr, Ipv4Addr), port: u16) {
    enter(ns);
    let mut t = TunConfig::new(tun);
    t.host = Some((host, 24));
    let mut cfg = Config::new(t, addr);
    cfg.apply_env().expect("TRUST_* variables");
    let iface =
        Arc::new(if embedded { Interface::open_embedded(cfg) } else { Interface::open(cfg) }.expect("open"));
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (iface, stop) = (iface.clone(), stop.clone());
        std::thread::spawn(move || echo::serve(&iface, port, Some(&stop)))
    };
    let peak = {
        let (iface, stop) = (iface.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(iface.describe_connections().len());
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };
    println!("READY rss={}", own("VmRSS"));
    wait_for_stop();
    // The counters before the echo service stops: dropping its listener
    // resets the half-open connections it holds.
    let s = iface.stats();
    stop.store(true, Ordering::Relaxed);
    server.join().expect("echo server panicked").expect("echo server");
    let peak = peak.join().expect("sampler");
    println!(
        "RESULT backend={} rx_packets={} tx_packets={} tx_resets={} syn_dropped={} syn_cookies_sent={} \
         syn_cookies_validated={} syn_cookies_rejected={} control_dropped={} rx_malformed={} peak_connections={peak} \
         hwm={}",
        iface.backend(),
        s.rx_packets,
        s.tx_packets,
        s.tx_resets,
        s.syn_dropped,
        s.syn_cookies_sent,
        s.syn_cookies_validated,
        s.syn_cookies_rejected,
        s.control_dropped,
        s.rx_malformed,
        own("VmHWM")
    );
}

/// The kernel echo server: listens on `addr` in namespace `ns` with
/// `backlog`, one thread per connection (the client's attempts are short
/// and paced, so few run at once).
pub fn kernel_server(ns: &str, addr: SocketAddrV4, backlog: usize) {
    enter(ns);
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).expect("socket");
    nix::sys::socket::setsockopt(&fd, sockopt::ReuseAddr, &true).expect("SO_REUSEADDR");
    bind(fd.as_raw_fd(), &SockaddrIn::from(addr)).expect("bind");
    listen(&fd, Backlog::new(backlog as i32).expect("backlog")).expect("listen");
    let listener = std::net::TcpListener::from(fd);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = (&s).read(&mut buf) {
                    if (&s).write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    println!("READY rss={}", own("VmRSS"));
    wait_for_stop();
    println!("RESULT hwm={}", own("VmHWM"));
    // The accept thread never returns: leave without joining it.
    let _ = io::stdout().flush();
    std::process::exit(0);
}

// ------------------------------------------------------------------ kernel counters

/// The counters of block `prefix` (like `TcpExt:` or `Ip:`) of a
/// `/proc/.../net/netstat` or `snmp` file: a line of names, then a line of
/// values.
pub fn counters(file: &str, prefix: &str) -> HashMap<String, u64> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else { panic!("no {prefix} in {file}") };
    let pairs = names.split_whitespace().zip(values.split_whitespace()).skip(1);
    pairs.filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?))).collect()
}

/// `TCP: inuse N ... mem P` of process `pid`'s namespace's sockstat
/// (`mem` is system-wide, in pages).
pub fn sockstat(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/sockstat")).unwrap_or_default();
    let words: Vec<&str> =
        text.lines().find(|l| l.starts_with("TCP:")).unwrap_or("").split_whitespace().collect();
    let field =
        |name: &str| words.iter().position(|w| *w == name).and_then(|i| words.get(i + 1)?.parse().ok());
    (field("inuse").unwrap_or(0), field("mem").unwrap_or(0))
}

/// Active objects of slab cache `name` (system-wide), 0 if it is not listed.
pub fn slab_objects(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/slabinfo").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == name).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(0)
}
