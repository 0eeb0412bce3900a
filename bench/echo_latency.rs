//! Echo round-trip time of 64-byte messages from a kernel TCP client:
//! against `trust`'s echo server over a TUN device (the server drives the
//! stack from its own thread, as `examples/echo_server.rs` does by
//! default), and against a kernel TCP echo server over a veth pair, in the
//! same run. Everything lives in namespaces this run creates and removes.
//!
//! ```text
//! cargo bench --bench echo_latency -- [--count N] [--size BYTES] [--quick]
//! ```

#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;

#[path = "../examples/support/echo.rs"]
#[allow(dead_code)]
mod echo;

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use netns::{LossyPath, Netns};
use trust::api::{Config, Interface};
use trust::device::tun::TunConfig;

struct Opts {
    count: usize,
    size: usize,
}

fn parse() -> Opts {
    let mut o = Opts { count: 20_000, size: 64 };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<usize>().ok()).expect("flag needs a number");
        match a.as_str() {
            "--count" => o.count = num(),
            "--size" => o.size = num(),
            "--quick" => o.count = 2_000,
            _ => {}
        }
    }
    o
}

/// Closed-loop ping-pong from a kernel client; one histogram entry (ns)
/// per round trip, after a warm-up of a tenth of `count`.
fn measure(addr: &str, o: &Opts) -> Histogram<u64> {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    let msg = vec![0x5au8; o.size];
    let mut back = vec![0u8; o.size];
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    for i in 0..o.count + o.count / 10 {
        let t = Instant::now();
        s.write_all(&msg).unwrap();
        s.read_exact(&mut back).unwrap();
        if i >= o.count / 10 {
            hist.saturating_record(t.elapsed().as_nanos() as u64);
        }
    }
    assert_eq!(back, msg, "echo returned other bytes");
    hist
}

fn trust_echo(o: &Opts) -> Histogram<u64> {
    let ns = Netns::new("latt");
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let server = ns.spawn(move || {
        let mut tun = TunConfig::new("lat0");
        tun.host = Some((Ipv4Addr::new(10, 95, 0, 1), 24));
        let iface =
            Interface::open_embedded(Config::new(tun, Ipv4Addr::new(10, 95, 0, 2))).expect("interface");
        echo::serve(&iface, 7, Some(&stop2)).expect("echo server");
    });
    // The device exists once the server is listening: retry the connect.
    let hist = ns.run({
        let (count, size) = (o.count, o.size);
        move || {
            let t = Instant::now();
            while std::net::TcpStream::connect("10.95.0.2:7").is_err() {
                assert!(t.elapsed().as_secs() < 10, "trust echo server did not come up");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            measure("10.95.0.2:7", &Opts { count, size })
        }
    });
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    hist
}

fn kernel_echo(o: &Opts) -> Histogram<u64> {
    let path = LossyPath::new("latk", "10.96.0.1/24", 0);
    let peer = path.peer_addr();
    let listener = path.peer_ns.run(move || std::net::TcpListener::bind((peer, 7)).unwrap());
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            s.set_nodelay(true).unwrap();
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
    let (count, size) = (o.count, o.size);
    path.tun_ns.run(move || measure(&format!("{peer}:7"), &Opts { count, size }))
}

fn row(name: &str, h: &Histogram<u64>) {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{name:<24} p50 {:>7.1}  p90 {:>7.1}  p99 {:>7.1}  p99.9 {:>7.1}  max {:>8.1} µs",
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        h.max() as f64 / 1000.0
    );
}

fn main() {
    let o = parse();
    println!("echo latency: {} round trips of {} bytes, unpinned, kernel TCP client", o.count, o.size);
    let kernel = kernel_echo(&o);
    let trust = trust_echo(&o);
    row("kernel echo (veth)", &kernel);
    row("trust echo (TUN)", &trust);
    let ratio = |q: f64| trust.value_at_quantile(q) as f64 / kernel.value_at_quantile(q) as f64;
    println!("trust / kernel: p50 {:.2}x, p99 {:.2}x", ratio(0.5), ratio(0.99));
}
