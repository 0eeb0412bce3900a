//! Scale-out: aggregate echo throughput of many connections over a
//! multi-queue TUN device with one and with two queues, each queue served
//! by its own engine on its own thread (`Interface::open_queues_embedded`,
//! the echo service of `examples/echo_server.rs` on each), beside kernel
//! TCP over veth (default offloads, one thread per connection) in the same
//! run. Kernel TCP clients stream `--bytes` through every connection and
//! read it all back; the figure is the payload echoed per second (one
//! direction). Everything lives in namespaces the run creates and removes.
//!
//! ```text
//! cargo bench --bench multiqueue -- [--conns N] [--bytes PER_CONN] [--runs N] [--quick]
//!                                   [--markdown FILE]
//! ```
//!
//! The TUN runs with offloads, as in `tun_throughput`. On a machine with
//! two cores the clients, the kernel's TCP work for both ends and the
//! queue threads share those two cores, so a second queue can only win what
//! a second engine thread gains against that contention; the printout says
//! what it did.

#[path = "../examples/support/echo.rs"]
#[allow(dead_code)]
mod echo;
#[path = "../examples/support/measure.rs"]
mod measure;
#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use trust::api::{Config, Interface};
use trust::device::tun::TunConfig;

const PORT: u16 = 7;
/// A run that takes longer than this is a hang.
const LIMIT: Duration = Duration::from_secs(300);
/// Client threads driving the connections (each polls its share).
const CLIENT_THREADS: usize = 2;

struct Opts {
    conns: usize,
    bytes: u64,
    runs: usize,
    markdown: Option<String>,
}

fn parse() -> Opts {
    let mut o = Opts { conns: 32, bytes: 32 << 20, runs: 5, markdown: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).expect("flag needs a number");
        match a.as_str() {
            "--conns" => o.conns = num() as usize,
            "--bytes" => o.bytes = num(),
            "--runs" => o.runs = num() as usize,
            "--markdown" => o.markdown = Some(it.next().expect("--markdown needs a file name")),
            "--quick" => {
                o.conns = 8;
                o.bytes = 4 << 20;
                o.runs = 1;
            }
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(o.conns > 0 && o.bytes > 0 && o.runs > 0, "--conns, --bytes and --runs must be positive");
    o
}

/// One client connection: how much it has sent and received.
struct Flow {
    sock: TcpStream,
    sent: u64,
    got: u64,
}

/// Streams `bytes` through each connection to `addr` and reads it all back,
/// on [`CLIENT_THREADS`] poll(2) threads; returns the elapsed time from the
/// first byte sent.
fn stream_through(addr: SocketAddr, conns: usize, bytes: u64) -> Duration {
    let flows: Vec<Flow> = (0..conns)
        .map(|_| {
            let sock = measure::connect_retry(addr);
            sock.set_nonblocking(true).unwrap();
            Flow { sock, sent: 0, got: 0 }
        })
        .collect();
    let mut groups: Vec<Vec<Flow>> = (0..CLIENT_THREADS).map(|_| Vec::new()).collect();
    for (i, f) in flows.into_iter().enumerate() {
        groups[i % CLIENT_THREADS].push(f);
    }
    let start = Instant::now();
    let workers: Vec<_> = groups.into_iter().map(|g| std::thread::spawn(move || pump(g, bytes))).collect();
    for w in workers {
        w.join().expect("client thread");
    }
    start.elapsed()
}

fn pump(mut flows: Vec<Flow>, bytes: u64) {
    let deadline = Instant::now() + LIMIT;
    let out = vec![0x5au8; 64 * 1024];
    let mut buf = vec![0u8; 64 * 1024];
    while flows.iter().any(|f| f.got < bytes) {
        assert!(
            Instant::now() < deadline,
            "clients stalled: {:?}",
            flows.iter().map(|f| f.got).collect::<Vec<_>>()
        );
        let mut fds: Vec<PollFd> = flows
            .iter()
            .map(|f| {
                let mut ev = PollFlags::empty();
                if f.got < bytes {
                    ev |= PollFlags::POLLIN;
                }
                if f.sent < bytes {
                    ev |= PollFlags::POLLOUT;
                }
                PollFd::new(f.sock.as_fd(), ev)
            })
            .collect();
        poll(&mut fds, PollTimeout::from(1000u16)).expect("poll");
        let ready: Vec<PollFlags> = fds.iter().map(|p| p.revents().unwrap_or(PollFlags::empty())).collect();
        drop(fds);
        for (f, ev) in flows.iter_mut().zip(ready) {
            if ev.contains(PollFlags::POLLOUT) && f.sent < bytes {
                let n = (bytes - f.sent).min(out.len() as u64) as usize;
                match (&f.sock).write(&out[..n]) {
                    Ok(k) => f.sent += k as u64,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("client write: {e}"),
                }
            }
            if ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                loop {
                    match (&f.sock).read(&mut buf) {
                        Ok(0) => panic!("the echo server closed after {} of {bytes} bytes", f.got),
                        Ok(k) => f.got += k as u64,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("client read: {e}"),
                    }
                }
            }
        }
    }
}

/// trust with `queues` queues, one echo thread (embedded engine) each.
fn trust_run(o: &Opts, queues: usize) -> Duration {
    let ns = netns::Netns::new("mqb");
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let server = ns.spawn(move || {
        let mut tun = TunConfig::new("mqb0");
        tun.host = Some((Ipv4Addr::new(10, 105, 0, 1), 24));
        let mut cfg = Config::new(tun, Ipv4Addr::new(10, 105, 0, 2));
        cfg.tcp.send_buffer = 1 << 20;
        cfg.tcp.recv_buffer = 1 << 20;
        let ifaces = Interface::open_queues_embedded(cfg, queues).expect("open the queues");
        let threads: Vec<_> = ifaces
            .into_iter()
            .map(|iface| {
                let (flag, ready) = (flag.clone(), ready_tx.clone());
                std::thread::spawn(move || {
                    let _ = ready.send(());
                    echo::serve(&iface, PORT, Some(&flag)).expect("echo service");
                    // Keep every queue open until all threads stop.
                    iface
                })
            })
            .collect();
        let ifaces: Vec<Interface> = threads.into_iter().map(|t| t.join().expect("queue thread")).collect();
        drop(ifaces);
    });
    for _ in 0..queues {
        ready_rx.recv_timeout(Duration::from_secs(30)).expect("the queue threads did not start");
    }
    let (conns, bytes) = (o.conns, o.bytes);
    let d = ns.run(move || stream_through(SocketAddr::from(([10, 105, 0, 2], PORT)), conns, bytes));
    stop.store(true, Ordering::Relaxed);
    server.join().expect("trust server");
    d
}

/// Kernel TCP over veth, one blocking echo thread per connection.
fn kernel_run(o: &Opts) -> Duration {
    let path = netns::LossyPath::new("mqk", "10.106.0.1/24", 0);
    let peer = path.peer_addr();
    let listener = path.peer_ns.run(move || std::net::TcpListener::bind((peer, PORT)).expect("bind"));
    let conns = o.conns;
    std::thread::spawn(move || {
        for s in listener.incoming().take(conns) {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let bytes = o.bytes;
    path.tun_ns.run(move || stream_through(SocketAddr::from((peer, PORT)), conns, bytes))
}

fn gbits(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e9
}

fn main() {
    let o = parse();
    let total = o.bytes * o.conns as u64;
    println!(
        "multi-queue echo: {} connections x {} MiB each way, {} run(s), TUN offloads on, {} CPUs",
        o.conns,
        o.bytes >> 20,
        o.runs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let names = ["trust, 1 queue", "trust, 2 queues", "kernel TCP (veth)"];
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for run in 0..o.runs {
        let d = [trust_run(&o, 1), trust_run(&o, 2), kernel_run(&o)];
        for (i, d) in d.iter().enumerate() {
            figures[i].push(gbits(total, *d));
        }
        println!(
            "run {}: {}",
            run + 1,
            names
                .iter()
                .zip(&figures)
                .map(|(n, f)| format!("{n} {:.2}", f[run]))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let stats: Vec<(f64, f64, f64)> =
        figures.iter_mut().map(|f| measure::spread(f).expect("at least one run")).collect();
    let mut table = String::from("| server | min | median | max (Gbit/s echoed) |\n|---|---|---|---|\n");
    for (name, (lo, med, hi)) in names.iter().zip(&stats) {
        table += &format!("| {name} | {lo:.2} | {med:.2} | {hi:.2} |\n");
    }
    let scale = stats[1].1 / stats[0].1;
    let vs_kernel = stats[1].1.max(stats[0].1) / stats[2].1;
    let verdict = format!(
        "2 queues / 1 queue: {scale:.2}x (medians); best trust / kernel: {vs_kernel:.2}x. {}",
        if scale > 1.05 {
            "A second queue pays here."
        } else {
            "A second queue does not pay on this machine: the clients and the kernel's side of every \
             connection already use the cores the second engine would run on."
        }
    );
    println!("\n{table}\n{verdict}");
    if let Some(file) = &o.markdown {
        let md = format!(
            "### Multi-queue TUN ({} connections, {} MiB each way, median of {} run(s))\n\n{table}\n{verdict}\n\n",
            o.conns,
            o.bytes >> 20,
            o.runs
        );
        measure::append_markdown(file, &md).unwrap_or_else(|e| panic!("cannot append to {file}: {e}"));
    }
}
