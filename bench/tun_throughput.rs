//! Bulk throughput over a real TUN device, with kernel TCP as the peer:
//! kernel → trust (trust receives) and trust → kernel (trust sends), beside
//! kernel → kernel over a veth pair between two namespaces, measured in the
//! same run. Everything lives in namespaces this run creates and removes.
//!
//! ```text
//! cargo bench --bench tun_throughput -- [--bytes N] [--runs R] [--buffer B] [--quick]
//! ```
//!
//! Prints min/median/max Gbit/s per direction and the ratio of each trust
//! median to the kernel's. Needs root (namespaces, TUN).

#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use netns::{LossyPath, Netns};
use trust::api::{Config, Interface, TcpListener, TcpStream};
use trust::device::tun::TunConfig;

const CHUNK: usize = 1 << 20;

struct Opts {
    bytes: u64,
    runs: usize,
    buffer: usize,
    /// Run only one case: "rx", "tx" or "kernel" (for profiling).
    only: Option<String>,
}

fn parse() -> Opts {
    let mut o = Opts { bytes: 1 << 30, runs: 3, buffer: 1 << 20, only: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).expect("flag needs a number");
        match a.as_str() {
            "--bytes" => o.bytes = num(),
            "--runs" => o.runs = num() as usize,
            "--buffer" => o.buffer = num() as usize,
            "--only" => o.only = it.next(),
            "--quick" => {
                o.bytes = 64 << 20;
                o.runs = 1;
            }
            _ => {} // cargo bench passes --bench
        }
    }
    o
}

/// Reads until EOF, returning the byte count.
fn sink(mut r: impl Read) -> u64 {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n as u64,
            Err(e) => panic!("sink: {e} after {total} bytes"),
        }
    }
}

/// Writes `bytes` bytes.
fn source(mut w: impl Write, bytes: u64) {
    let buf: Vec<u8> = (0..CHUNK).map(|i| (i * 7 + 3) as u8).collect();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        w.write_all(&buf[..n]).expect("source write");
        left -= n as u64;
    }
}

fn gbits(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e9
}

fn trust_config(buffer: usize) -> Config {
    let mut tun = TunConfig::new("tput0");
    tun.host = Some((Ipv4Addr::new(10, 93, 0, 1), 24));
    let mut cfg = Config::new(tun, Ipv4Addr::new(10, 93, 0, 2));
    cfg.tcp.send_buffer = buffer;
    cfg.tcp.recv_buffer = buffer;
    cfg
}

/// kernel → trust: a kernel client writes, a trust server reads.
fn trust_receives(o: &Opts) -> Duration {
    let ns = Netns::new("tputrx");
    let (bytes, buffer) = (o.bytes, o.buffer);
    ns.run(move || {
        let iface = Interface::open(trust_config(buffer)).expect("interface");
        let listener = TcpListener::bind(&iface, 5001).unwrap();
        let server = std::thread::spawn(move || sink(listener.accept().unwrap().0));
        let start = Instant::now();
        let c = std::net::TcpStream::connect("10.93.0.2:5001").unwrap();
        source(&c, bytes);
        c.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(server.join().unwrap(), bytes);
        start.elapsed()
    })
}

/// trust → kernel: a trust client writes, a kernel server reads.
fn trust_sends(o: &Opts) -> Duration {
    let ns = Netns::new("tputtx");
    let (bytes, buffer) = (o.bytes, o.buffer);
    ns.run(move || {
        let iface = Interface::open(trust_config(buffer)).expect("interface");
        let listener = std::net::TcpListener::bind("10.93.0.1:5002").unwrap();
        let server = std::thread::spawn(move || sink(listener.accept().unwrap().0));
        let start = Instant::now();
        let c = TcpStream::connect(&iface, SocketAddrV4::new(Ipv4Addr::new(10, 93, 0, 1), 5002)).unwrap();
        source(&c, bytes);
        c.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(server.join().unwrap(), bytes);
        start.elapsed()
    })
}

/// kernel → kernel over a veth pair between two namespaces (default
/// offloads, MTU 1500).
fn kernel_veth(o: &Opts) -> Duration {
    let path = LossyPath::new("tputk", "10.94.0.1/24", 0);
    let peer = path.peer_addr();
    let listener = path.peer_ns.run(move || std::net::TcpListener::bind((peer, 5003)).unwrap());
    let server = std::thread::spawn(move || sink(listener.accept().unwrap().0));
    let bytes = o.bytes;
    let start = path.tun_ns.run(move || {
        let start = Instant::now();
        let c = std::net::TcpStream::connect((peer, 5003)).unwrap();
        source(&c, bytes);
        c.shutdown(std::net::Shutdown::Write).unwrap();
        start
    });
    assert_eq!(server.join().unwrap(), bytes);
    start.elapsed()
}

fn summary(name: &str, bytes: u64, runs: &mut [Duration]) -> f64 {
    runs.sort();
    let rates: Vec<f64> = runs.iter().rev().map(|d| gbits(bytes, *d)).collect();
    let median = rates[rates.len() / 2];
    println!(
        "{name:<28} min {:>6.2}  median {:>6.2}  max {:>6.2} Gbit/s",
        rates[0],
        median,
        rates[rates.len() - 1]
    );
    median
}

fn main() {
    let o = parse();
    println!(
        "TUN throughput: {} MiB per run, {} runs, {} KiB socket buffers (trust)",
        o.bytes >> 20,
        o.runs,
        o.buffer >> 10
    );
    let (mut rx, mut tx, mut kernel) = (Vec::new(), Vec::new(), Vec::new());
    let wants = |case: &str| o.only.as_deref().is_none_or(|only| only == case);
    for _ in 0..o.runs {
        if wants("rx") {
            rx.push(trust_receives(&o));
        }
        if wants("tx") {
            tx.push(trust_sends(&o));
        }
        if wants("kernel") {
            kernel.push(kernel_veth(&o));
        }
    }
    if o.only.is_some() {
        for (name, runs) in [("rx", &rx), ("tx", &tx), ("kernel", &kernel)] {
            for d in runs.iter() {
                println!("{name}: {:.2} Gbit/s", gbits(o.bytes, *d));
            }
        }
        return;
    }
    let k = summary("kernel -> kernel (veth)", o.bytes, &mut kernel);
    let r = summary("kernel -> trust (TUN)", o.bytes, &mut rx);
    let t = summary("trust -> kernel (TUN)", o.bytes, &mut tx);
    println!("ratio to kernel veth: trust receives {:.2}x, trust sends {:.2}x", r / k, t / k);
}
