//! Connection rate: connections per second for "connect, 64-byte request,
//! 64-byte reply, close", from kernel TCP clients (sequential connects on
//! a few threads), against `trust`'s server over a TUN device and against
//! a kernel server over a veth pair, in the same run. Both servers are one
//! thread with a readiness loop (trust: `Poll`; kernel: epoll). Everything
//! lives in namespaces this run creates and removes.
//!
//! ```text
//! cargo bench --bench conn_rate -- [--count N] [--clients C] [--close client|server]
//!                                  [--threaded] [--buffer BYTES] [--quick] [--markdown FILE]
//!                                  [--only trust|kernel]
//! ```
//!
//! Who closes first decides who holds TIME-WAIT. By default the client
//! closes first (after reading the reply), as RPC and keep-alive HTTP
//! clients do: the kernel clients hold TIME-WAIT and the servers pass
//! through LAST-ACK to CLOSED, so neither server accumulates state and the
//! run measures setup and teardown. The client namespaces get the widest
//! ephemeral port range (1024-65535: 64,512 ports, of which connect(2)
//! tries the even half first) so that no port is reused within a default
//! run, and `tcp_tw_reuse=1` as a backstop for larger counts (trust offers
//! timestamps, which reuse requires). `--close server` makes the servers
//! close right after the reply instead (HTTP/1.0 style): then trust keeps
//! every connection in TIME-WAIT for 60 s, which also exercises its socket
//! table; the wide port range keeps clients from reusing a port trust
//! still holds in TIME-WAIT.
//!
//! `--threaded` runs trust's reactor on its own thread (`Interface::open`)
//! instead of in the server's loop (`Interface::open_embedded`).

#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use netns::{LossyPath, Netns};
use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use trust::api::{Config, Events, Interest, Interface, Poll, TcpListener, Token};
use trust::device::tun::TunConfig;

/// Request and reply size.
const MSG: usize = 64;
const PORT: u16 = 7200;
/// Connect, read and write timeout of every client socket.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one measured phase (warm-up or run) may take.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// The client closes after reading the reply; the server on EOF.
    Client,
    /// The server closes right after writing the reply.
    Server,
}

struct Opts {
    count: usize,
    clients: usize,
    close: Close,
    threaded: bool,
    markdown: Option<String>,
    /// trust's send and receive buffer size (default: `TcpConfig`'s).
    buffer: Option<usize>,
    /// Run only one side: "trust" or "kernel" (for profiling).
    only: Option<String>,
}

fn parse() -> Opts {
    let mut o = Opts {
        count: 20_000,
        clients: 2,
        close: Close::Client,
        threaded: false,
        markdown: None,
        only: None,
        buffer: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<usize>().ok()).expect("flag needs a number");
        match a.as_str() {
            "--count" => o.count = num(),
            "--clients" => o.clients = num().max(1),
            "--quick" => o.count = 1_000,
            "--buffer" => o.buffer = Some(num()),
            "--threaded" => o.threaded = true,
            "--close" => {
                o.close = match it.next().as_deref() {
                    Some("client") => Close::Client,
                    Some("server") => Close::Server,
                    other => panic!("--close takes `client` or `server`, not {other:?}"),
                }
            }
            "--markdown" => o.markdown = Some(it.next().expect("--markdown needs a file")),
            "--only" => o.only = it.next(),
            _ => {} // cargo bench passes --bench
        }
    }
    o
}

// ------------------------------------------------------------------ server

/// Server side of one connection: how much of the request has arrived,
/// whether the reply went out.
#[derive(Default)]
struct Exchange {
    got: usize,
    replied: bool,
}

impl Exchange {
    /// Advances the exchange on non-blocking `s` as far as it goes.
    /// `Ok(true)`: finished, drop (close) the socket.
    fn step<S>(&mut self, s: &S, close: Close) -> io::Result<bool>
    where
        for<'a> &'a S: Read + Write,
    {
        let mut buf = [0u8; MSG];
        loop {
            let want = if self.replied { buf.len() } else { MSG - self.got };
            match { s }.read(&mut buf[..want]) {
                Ok(0) if self.replied => return Ok(true),
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF inside the request")),
                Ok(_) if self.replied => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bytes after the request"));
                }
                Ok(n) => self.got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
            if self.got == MSG && !self.replied {
                reply(s)?;
                self.replied = true;
                if close == Close::Server {
                    return Ok(true);
                }
            }
        }
    }
}

/// Writes the reply; an empty send buffer always takes 64 bytes at once.
fn reply<S>(s: &S) -> io::Result<()>
where
    for<'a> &'a S: Write,
{
    let msg = [0xa5u8; MSG];
    let mut off = 0;
    while off < MSG {
        match { s }.write(&msg[off..]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "reply: write returned 0")),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::other("reply: 64 bytes did not fit an empty send buffer"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What a server saw.
#[derive(Debug, Default)]
struct ServerCount {
    finished: usize,
    errors: usize,
    first_error: Option<String>,
}

impl ServerCount {
    fn end(&mut self, r: io::Result<bool>) -> bool {
        match r {
            Ok(done) => {
                self.finished += done as usize;
                done
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
                true
            }
        }
    }
}

/// Serves on trust until `stop`: one thread, a `Poll` loop.
fn trust_serve(iface: &Interface, close: Close, stop: &AtomicBool, finished: &AtomicUsize) -> ServerCount {
    let listener = TcpListener::bind_with_backlog(iface, PORT, 1024).expect("trust listen");
    listener.set_nonblocking(true).unwrap();
    let poll = Poll::new(iface).unwrap();
    const LISTENER: Token = Token(usize::MAX);
    poll.register(&listener, LISTENER, Interest::READABLE).unwrap();
    let mut conns = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(256);
    let mut count = ServerCount::default();
    while !stop.load(Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(20))).expect("trust poll");
        for ev in &events {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(true).unwrap();
                            poll.register(&s, Token(next), Interest::READABLE).unwrap();
                            conns.insert(next, (s, Exchange::default()));
                            next += 1;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("trust accept: {e}"),
                    }
                }
                continue;
            }
            let Some((s, ex)) = conns.get_mut(&ev.token().0) else { continue };
            let r = ex.step(s, close);
            if count.end(r) {
                conns.remove(&ev.token().0);
            }
        }
        finished.store(count.finished, Ordering::Relaxed);
    }
    count
}

/// Serves on the kernel until `stop`: one thread, an epoll loop.
fn kernel_serve(
    listener: std::net::TcpListener,
    close: Close,
    stop: &AtomicBool,
    finished: &AtomicUsize,
) -> ServerCount {
    listener.set_nonblocking(true).unwrap();
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("epoll_create1");
    const LISTENER: u64 = u64::MAX;
    ep.add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER)).unwrap();
    let mut conns = HashMap::new();
    let mut next = 0u64;
    let mut evs = [EpollEvent::empty(); 256];
    let mut count = ServerCount::default();
    while !stop.load(Ordering::Relaxed) {
        let n = ep.wait(&mut evs, PollTimeout::from(20u16)).expect("epoll_wait");
        for ev in &evs[..n] {
            if ev.data() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(true).unwrap();
                            ep.add(&s, EpollEvent::new(EpollFlags::EPOLLIN, next)).unwrap();
                            conns.insert(next, (s, Exchange::default()));
                            next += 1;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("kernel accept: {e}"),
                    }
                }
                continue;
            }
            let Some((s, ex)) = conns.get_mut(&ev.data()) else { continue };
            let r = ex.step(s, close);
            if count.end(r) {
                // Closing the last descriptor also leaves the epoll set.
                conns.remove(&ev.data());
            }
        }
        finished.store(count.finished, Ordering::Relaxed);
    }
    count
}

// ------------------------------------------------------------------ clients

/// One client thread: `n` sequential connections. Per connection time in
/// ns, or what went wrong.
fn client(addr: SocketAddr, n: usize, close: Close, deadline: Instant) -> Result<Vec<u64>, String> {
    let req = [0x5au8; MSG];
    let mut back = [0u8; MSG];
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        if Instant::now() > deadline {
            return Err(format!("out of time after {i} of {n} connections"));
        }
        let t = Instant::now();
        let r = (|| -> io::Result<()> {
            let mut s = std::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            s.set_write_timeout(Some(IO_TIMEOUT))?;
            s.write_all(&req)?;
            s.read_exact(&mut back)?;
            if close == Close::Server && s.read(&mut back)? != 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bytes after the reply"));
            }
            Ok(())
        })();
        r.map_err(|e| format!("connection {i} of {n}: {e}"))?;
        if back != [0xa5u8; MSG] {
            return Err(format!("connection {i}: wrong reply"));
        }
        times.push(t.elapsed().as_nanos() as u64);
    }
    Ok(times)
}

/// One measured phase: `total` connections spread over `clients` threads
/// in `ns`.
struct Phase {
    elapsed: Duration,
    hist: Histogram<u64>,
}

fn run_clients(ns: &Netns, addr: SocketAddr, total: usize, o: &Opts) -> Phase {
    let deadline = Instant::now() + PHASE_LIMIT;
    let start = Instant::now();
    let threads: Vec<_> = (0..o.clients)
        .map(|c| {
            let n = total / o.clients + usize::from(c < total % o.clients);
            let close = o.close;
            ns.spawn(move || client(addr, n, close, deadline))
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let mut failures = Vec::new();
    for t in threads {
        match t.join().expect("client thread panicked") {
            Ok(times) => times.iter().for_each(|&ns| hist.saturating_record(ns)),
            Err(e) => failures.push(e),
        }
    }
    let elapsed = start.elapsed();
    assert!(failures.is_empty(), "clients to {addr} failed: {failures:?}");
    Phase { elapsed, hist }
}

/// Waits (bounded) until the server has finished `want` connections.
fn await_server(finished: &AtomicUsize, want: usize, who: &str) {
    let t = Instant::now();
    while finished.load(Ordering::Relaxed) < want {
        if t.elapsed() > Duration::from_secs(20) {
            eprintln!(
                "{who}: server finished only {} of {want} connections 20 s after the clients",
                finished.load(Ordering::Relaxed)
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Client namespace settings; see the module docs.
fn tune_client_ns(ns: &Netns) {
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535"]);
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"]);
}

/// A warm-up of a twentieth of the count, then the measured run; each
/// ends when the server has finished its connections too.
fn measure(ns: &Netns, addr: SocketAddr, o: &Opts, finished: &AtomicUsize, who: &str) -> Phase {
    let base = finished.load(Ordering::Relaxed);
    let warm = (o.count / 20).max(o.clients);
    run_clients(ns, addr, warm, o);
    await_server(finished, base + warm, who);
    let phase = run_clients(ns, addr, o.count, o);
    await_server(finished, base + warm + o.count, who);
    phase
}

fn report_server(who: &str, c: &ServerCount) {
    if c.errors > 0 {
        eprintln!(
            "{who}: server finished {} connections, {} errors (first: {})",
            c.finished,
            c.errors,
            c.first_error.as_deref().unwrap_or("-")
        );
    }
}

fn trust_run(o: &Opts) -> (Phase, String) {
    let ns = Netns::new("crtrust");
    tune_client_ns(&ns);
    let stop = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let server = ns.spawn({
        let (stop, finished, close, threaded, buffer) =
            (stop.clone(), finished.clone(), o.close, o.threaded, o.buffer);
        move || {
            let mut tun = TunConfig::new("crate0");
            tun.host = Some((Ipv4Addr::new(10, 97, 0, 1), 24));
            let mut cfg = Config::new(tun, Ipv4Addr::new(10, 97, 0, 2));
            if let Some(b) = buffer {
                cfg.tcp.send_buffer = b;
                cfg.tcp.recv_buffer = b;
            }
            let iface = if threaded { Interface::open(cfg) } else { Interface::open_embedded(cfg) };
            let iface = iface.expect("trust interface");
            tx.send(iface.backend()).unwrap();
            let count = trust_serve(&iface, close, &stop, &finished);
            let stats = iface.stats();
            let _ = iface.drain(Duration::from_secs(2));
            (count, stats)
        }
    });
    let backend = rx.recv_timeout(Duration::from_secs(10)).expect("trust server did not start");
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 97, 0, 2), PORT));
    // The listener is bound right after the interface reports its backend.
    wait_listening(&ns, addr);
    let phase = measure(&ns, addr, o, &finished, "trust");
    stop.store(true, Ordering::Relaxed);
    let (count, stats) = server.join().expect("trust server panicked");
    report_server("trust", &count);
    if stats.syn_dropped > 0 || stats.tx_resets > 0 {
        eprintln!("trust: {} SYNs dropped, {} resets sent", stats.syn_dropped, stats.tx_resets);
    }
    let mode = if o.threaded { "reactor thread" } else { "embedded" };
    let buffers = o.buffer.map_or("default buffers".to_string(), |b| format!("{b} B buffers"));
    (phase, format!("{backend}, {mode}, {buffers}"))
}

/// Runs single exchanges until one succeeds at `addr`, for at most 10 s.
fn wait_listening(ns: &Netns, addr: SocketAddr) {
    ns.run(move || {
        let t = Instant::now();
        loop {
            match client(addr, 1, Close::Client, t + Duration::from_secs(10)) {
                Ok(_) => return,
                Err(e) if t.elapsed() > Duration::from_secs(10) => panic!("{addr} never answered: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
}

fn kernel_run(o: &Opts) -> Phase {
    let path = LossyPath::new("crkern", "10.98.0.1/24", 0);
    tune_client_ns(&path.tun_ns);
    let peer = path.peer_addr();
    let listener =
        path.peer_ns.run(move || std::net::TcpListener::bind((peer, PORT)).expect("kernel listen"));
    let stop = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));
    let server = std::thread::spawn({
        let (stop, finished, close) = (stop.clone(), finished.clone(), o.close);
        move || kernel_serve(listener, close, &stop, &finished)
    });
    let addr = SocketAddr::V4(SocketAddrV4::new(peer, PORT));
    let phase = measure(&path.tun_ns, addr, o, &finished, "kernel");
    stop.store(true, Ordering::Relaxed);
    let count = server.join().expect("kernel server panicked");
    report_server("kernel", &count);
    phase
}

fn rate(p: &Phase, count: usize) -> f64 {
    count as f64 / p.elapsed.as_secs_f64()
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn row(name: &str, p: &Phase, count: usize) {
    println!(
        "{name:<22} {:>9.0} conn/s   per connection p50 {:>7.1}  p99 {:>7.1}  max {:>8.1} µs",
        rate(p, count),
        us(&p.hist, 0.5),
        us(&p.hist, 0.99),
        p.hist.max() as f64 / 1000.0
    );
}

fn markdown(file: &str, o: &Opts, mode: &str, kernel: &Phase, trust: &Phase) -> io::Result<()> {
    let close = if o.close == Close::Client { "client" } else { "server" };
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    writeln!(
        f,
        "\n#### conn_rate: {} connections, {} kernel client threads, {close} closes first, trust {mode}\n",
        o.count, o.clients
    )?;
    writeln!(f, "| server | conn/s | p50 µs | p99 µs |\n|---|---:|---:|---:|")?;
    for (name, p) in [("kernel (veth)", kernel), ("trust (TUN)", trust)] {
        writeln!(
            f,
            "| {name} | {:.0} | {:.1} | {:.1} |",
            rate(p, o.count),
            us(&p.hist, 0.5),
            us(&p.hist, 0.99)
        )?;
    }
    writeln!(f, "| trust / kernel | {:.2}x | | |", rate(trust, o.count) / rate(kernel, o.count))
}

fn main() {
    let o = parse();
    println!(
        "connection rate: {} connections (connect, {MSG} B request, {MSG} B reply, close; {} closes first) \
         from {} sequential kernel client threads, unpinned",
        o.count,
        if o.close == Close::Client { "client" } else { "server" },
        o.clients
    );
    match o.only.as_deref() {
        Some("kernel") => return row("kernel server (veth)", &kernel_run(&o), o.count),
        Some("trust") => return row("trust server (TUN)", &trust_run(&o).0, o.count),
        Some(other) => panic!("--only takes `trust` or `kernel`, not `{other}`"),
        None => {}
    }
    let kernel = kernel_run(&o);
    let (trust, mode) = trust_run(&o);
    row("kernel server (veth)", &kernel, o.count);
    row("trust server (TUN)", &trust, o.count);
    println!("trust / kernel: {:.2}x  (trust: {mode})", rate(&trust, o.count) / rate(&kernel, o.count));
    if let Some(file) = &o.markdown {
        markdown(file, &o, &mode, &kernel, &trust).expect("append the markdown table");
    }
}
