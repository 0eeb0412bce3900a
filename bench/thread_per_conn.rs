//! Thread per connection (issue 11, item 6: many threads blocked on many
//! sockets). A tiny request/response server written the way many real
//! servers are: one application thread per connection on blocking
//! sockets. On trust, `Interface::open` (the reactor on its own thread)
//! and `TcpListener::accept` in a loop that spawns a thread per accepted
//! `TcpStream`; each thread reads a 64-byte request and writes it back as
//! the reply, until EOF. Beside it, in the same run, the same server on
//! kernel TCP (`std::net`, a thread per connection). Both servers run at
//! their defaults (trust: `Config::new`, then `Config::apply_env`).
//!
//! ```text
//! cargo bench --bench thread_per_conn -- [--secs S] [--runs N] [--clients N] [--case ka50,ka400,new50]
//!                                        [--only trust|kernel] [--quick] [--markdown FILE]
//! ```
//!
//! Placed as in `conn_rate`, in namespaces this run creates and removes:
//! trust's TUN in namespace T, with the load generator on its kernel side;
//! the kernel server in namespace S, reached from the load generator's
//! namespace C over a veth pair.
//!
//! The load generator (there is no wrk here) is `--clients` threads (2 by
//! default), each driving its share of the connections with epoll and
//! non-blocking sockets, closed loop: send a 64-byte request, read the
//! 64-byte reply (checked), send the next. The cases:
//!
//! - `ka50`, `ka400`: 50 or 400 keep-alive connections, opened before the
//!   clock starts (the run waits until the server has a thread on each);
//! - `new50`: a new connection per request (connect, request, reply, the
//!   client closes), 50 at a time; the latency includes the handshake.
//!
//! Each case runs a fifth of `--secs` as warm-up, then `--secs` (5 s;
//! `--quick`: 1 s) measured: requests/s are the replies that arrived in
//! that window, and p50/p99 the time from request (or connect) to reply of
//! those. Then the clients stop sending, collect outstanding replies and
//! close; the server's threads must see EOF and end before the next case.
//! Every wait is bounded; a reply that takes longer than 10 s, a server
//! error or a server thread that does not end fails the run.
//!
//! A run measures every case on both servers in turn, so a drifting load
//! hits them alike; the tables give the median (min-max) req/s of `--runs`
//! runs (3; `--quick`: 1), ratios of medians, and the percentiles of all
//! runs' replies together.
//!
//! `--only trust --case ka400` is the profiling run
//! (`perf record -g target/release/deps/thread_per_conn-* --only trust --case ka400`).

#[path = "child.rs"]
#[allow(dead_code)]
mod child;
#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use child::raise_nofile;
use hdrhistogram::Histogram;
use netns::Netns;
use nix::errno::Errno;
use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, SockaddrIn};
use trust::api::{Config, Interface};
use trust::device::tun::TunConfig;

/// Request and reply size.
const MSG: usize = 64;
const PORT: u16 = 7300;
/// Both listeners' backlog.
const BACKLOG: usize = 1024;
/// Stack of each per-connection server thread.
const STACK: usize = 64 * 1024;
const TUN: &str = "tpc0";
/// Kernel side of trust's TUN, and trust's address.
const TUN_HOST: Ipv4Addr = Ipv4Addr::new(10, 121, 0, 1);
const TRUST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 121, 0, 2);
/// The C-S veth pair: the clients' end and the kernel server's.
const VETH_C: (&str, &str) = ("tpcc0", "10.122.0.1/24");
const VETH_S: (&str, &str) = ("tpcs0", "10.122.0.2/24");
const KERNEL_ADDR: Ipv4Addr = Ipv4Addr::new(10, 122, 0, 2);
/// Longest an exchange (or a keep-alive connect) may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// A server thread's read timeout: it ends with an error instead of
/// waiting forever for a client that went away.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest any setup or teardown step may take.
const SETTLE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy)]
struct Case {
    key: &'static str,
    label: &'static str,
    conns: usize,
    keepalive: bool,
}

const CASES: [Case; 3] = [
    Case { key: "ka50", label: "50 keep-alive connections", conns: 50, keepalive: true },
    Case { key: "ka400", label: "400 keep-alive connections", conns: 400, keepalive: true },
    Case { key: "new50", label: "new connection per request, 50 at a time", conns: 50, keepalive: false },
];

struct Opts {
    secs: f64,
    runs: usize,
    clients: usize,
    cases: Vec<Case>,
    only: Option<String>,
    markdown: Option<String>,
}

fn parse() -> Opts {
    let mut o = Opts { secs: 5.0, runs: 3, clients: 2, cases: CASES.to_vec(), only: None, markdown: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--secs" => o.secs = val().parse().expect("--secs needs a number"),
            "--clients" => o.clients = val().parse().expect("--clients needs a number"),
            "--runs" => o.runs = val().parse().expect("--runs needs a number"),
            "--quick" => {
                o.secs = 1.0;
                o.runs = 1;
            }
            "--case" => {
                let keys = val();
                o.cases =
                    keys.split(',')
                        .map(|k| {
                            *CASES.iter().find(|c| c.key == k).unwrap_or_else(|| {
                                panic!("--case: no case `{k}` (cases: ka50, ka400, new50)")
                            })
                        })
                        .collect();
            }
            "--only" => {
                let side = val();
                assert!(side == "trust" || side == "kernel", "--only takes trust or kernel, not {side}");
                o.only = Some(side);
            }
            "--markdown" => o.markdown = Some(val()),
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(o.secs > 0.0 && o.secs <= 600.0, "--secs must be in (0, 600]");
    assert!(o.clients >= 1 && o.runs >= 1, "--clients and --runs must be at least 1");
    o
}

// ------------------------------------------------------------------ servers

/// What a server's threads report.
#[derive(Default)]
struct ServerStats {
    /// Connection threads running.
    live: AtomicUsize,
    accepted: AtomicU64,
    replies: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ServerStats {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    }

    /// Fails the run if any server thread failed.
    fn check(&self, who: &str) {
        let errors = self.errors.load(Ordering::Relaxed);
        let first = self.first_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert!(
            errors == 0,
            "{who} server: {errors} connection errors, the first: {}",
            first.unwrap_or_default()
        );
    }

    /// Waits (at most [`SETTLE`]) until `want` connection threads run.
    fn await_live(&self, want: usize, who: &str) {
        let t = Instant::now();
        while self.live.load(Ordering::Relaxed) != want {
            assert!(
                t.elapsed() < SETTLE,
                "{who} server: {} connection threads after {SETTLE:?}, expected {want}",
                self.live.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Counts a connection thread out however it ends.
struct Live(Arc<ServerStats>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection's thread: request in, the same bytes back, until EOF.
/// Returns the replies written.
fn serve_conn<S: Read + Write>(mut s: S) -> Result<u64, String> {
    let mut buf = [0u8; MSG];
    let mut replies = 0;
    loop {
        let mut got = 0;
        while got < MSG {
            match s.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(replies),
                Ok(0) => return Err(format!("EOF inside a request after {replies} replies")),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read after {replies} replies: {e}")),
            }
        }
        s.write_all(&buf).map_err(|e| format!("write after {replies} replies: {e}"))?;
        replies += 1;
    }
}

/// Accepts until `stop` is set (checked after each accept: the run wakes
/// the loop with one last connection), spawning a thread per connection.
fn accept_loop<S: Read + Write + Send + 'static>(
    mut accept: impl FnMut() -> io::Result<S>,
    stop: &AtomicBool,
    stats: &Arc<ServerStats>,
) -> Result<(), String> {
    loop {
        let s = accept().map_err(|e| format!("accept: {e}"))?;
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.live.fetch_add(1, Ordering::Relaxed);
        let live = Live(stats.clone());
        std::thread::Builder::new()
            .name("tpc-conn".into())
            .stack_size(STACK)
            .spawn(move || {
                let live = live;
                match serve_conn(s) {
                    Ok(n) => live.0.replies.fetch_add(n, Ordering::Relaxed),
                    Err(e) => {
                        live.0.error(e);
                        0
                    }
                };
            })
            .map_err(|e| format!("spawn a connection thread: {e}"))?;
    }
}

/// A running server and where its clients live.
struct Server {
    who: &'static str,
    /// What it runs on, for the tables.
    mode: String,
    addr: SocketAddrV4,
    stats: Arc<ServerStats>,
    stop: Arc<AtomicBool>,
    /// The accept thread's result, once it ends.
    done: mpsc::Receiver<Result<(), String>>,
    thread: JoinHandle<()>,
    /// The clients' namespace; then any other.
    nss: Vec<Netns>,
}

impl Server {
    fn client_ns(&self) -> &Netns {
        &self.nss[0]
    }

    /// Stops the accept loop (with one last connection), waits for it and
    /// checks the server's count.
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let addr = self.addr;
        let poke = self.client_ns().run(move || TcpStream::connect_timeout(&addr.into(), IO_TIMEOUT));
        poke.unwrap_or_else(|e| panic!("{}: the last connection, to stop accepting: {e}", self.who));
        match self.done.recv_timeout(SETTLE) {
            Ok(r) => r.unwrap_or_else(|e| panic!("{} server: {e}", self.who)),
            Err(e) => panic!("{} server: its accept loop did not end within {SETTLE:?}: {e}", self.who),
        }
        self.thread.join().expect("server thread panicked");
        self.stats.check(self.who);
        let (accepted, replies) =
            (self.stats.accepted.load(Ordering::Relaxed), self.stats.replies.load(Ordering::Relaxed));
        println!("{} server: {accepted} connections, {replies} replies, warm-ups included", self.who);
    }
}

/// trust's server in T, the clients too.
fn trust_server() -> Server {
    let ns = Netns::new("tpctrust");
    tune_client_ns(&ns);
    let stats = Arc::new(ServerStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let thread = ns.spawn({
        let (stats, stop) = (stats.clone(), stop.clone());
        move || {
            let mut tun = TunConfig::new(TUN);
            tun.host = Some((TUN_HOST, 24));
            let mut cfg = Config::new(tun, TRUST_ADDR);
            let r = cfg.apply_env().and_then(|()| Interface::open(cfg)).and_then(|iface| {
                let l = trust::api::TcpListener::bind_with_backlog(&iface, PORT, BACKLOG)?;
                Ok((iface, l))
            });
            let (iface, listener) = match r {
                Ok(v) => v,
                Err(e) => {
                    let _ = started_tx.send(Err(format!("trust interface: {e}")));
                    return;
                }
            };
            let offload = if iface.offload() { "offloads on" } else { "offloads off" };
            let _ = started_tx.send(Ok(format!("{}, reactor thread, {offload}", iface.backend())));
            let r = accept_loop(
                || {
                    let (s, _) = listener.accept()?;
                    s.set_read_timeout(Some(SERVER_TIMEOUT))?;
                    Ok(s)
                },
                &stop,
                &stats,
            );
            // Connection threads hold streams of the interface: let them end first.
            stats.await_live(0, "trust");
            let _ = iface.drain(Duration::from_secs(2));
            let _ = done_tx.send(r);
        }
    });
    let mode = match started.recv_timeout(SETTLE) {
        Ok(Ok(mode)) => mode,
        Ok(Err(e)) => panic!("{e}"),
        Err(e) => panic!("trust server did not start within {SETTLE:?}: {e}"),
    };
    let addr = SocketAddrV4::new(TRUST_ADDR, PORT);
    Server { who: "trust", mode, addr, stats, stop, done, thread, nss: vec![ns] }
}

/// A kernel listener on `addr` with [`BACKLOG`] (std's `bind` says 128).
fn kernel_listener(addr: SocketAddrV4) -> io::Result<std::net::TcpListener> {
    use nix::sys::socket::{bind, listen, socket};
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    bind(fd.as_raw_fd(), &SockaddrIn::from(addr))?;
    listen(&fd, Backlog::new(BACKLOG as i32)?)?;
    Ok(std::net::TcpListener::from(fd))
}

/// The kernel server in S, the clients in C.
fn kernel_server() -> Server {
    let c = Netns::new("tpckc");
    let s = Netns::new("tpcks");
    tune_client_ns(&c);
    c.veth(VETH_C.0, VETH_C.1, &s, VETH_S.0, VETH_S.1);
    let addr = SocketAddrV4::new(KERNEL_ADDR, PORT);
    let listener = s.run(move || kernel_listener(addr)).expect("kernel listener");
    let stats = Arc::new(ServerStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done) = mpsc::channel();
    let thread = s.spawn({
        let (stats, stop) = (stats.clone(), stop.clone());
        move || {
            let r = accept_loop(
                || {
                    let (s, _) = listener.accept()?;
                    s.set_read_timeout(Some(SERVER_TIMEOUT))?;
                    Ok(s)
                },
                &stop,
                &stats,
            );
            stats.await_live(0, "kernel");
            let _ = done_tx.send(r);
        }
    });
    Server { who: "kernel", mode: "veth".into(), addr, stats, stop, done, thread, nss: vec![c, s] }
}

/// Client namespace settings, as `conn_rate`'s: the widest ephemeral
/// port range, and TIME-WAIT reuse for the new-connection case (the
/// clients close first and hold TIME-WAIT).
fn tune_client_ns(ns: &Netns) {
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535"]);
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"]);
}

// ------------------------------------------------------------------ load generator

/// One client connection's exchange in progress.
struct Slot {
    s: Option<TcpStream>,
    /// Non-blocking connect not yet complete.
    connecting: bool,
    /// Request sent (or connect started) at.
    since: Instant,
    req: [u8; MSG],
    got: usize,
    buf: [u8; MSG],
}

/// What one client thread measured.
struct Tally {
    hist: Histogram<u64>,
    /// Replies that arrived in the measured window.
    replies: u64,
}

/// A non-blocking connect to `addr`.
fn connect_nb(addr: SocketAddrV4) -> io::Result<TcpStream> {
    use nix::sys::socket::{connect, socket};
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd = socket(AddressFamily::Inet, SockType::Stream, flags, None)?;
    match connect(fd.as_raw_fd(), &SockaddrIn::from(addr)) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// The measured window `[from, to)`; sending starts when it arrives.
type Window = (Instant, Instant);

struct Client {
    addr: SocketAddrV4,
    keepalive: bool,
    ep: Epoll,
    slots: Vec<Slot>,
    seq: u64,
    tally: Tally,
}

impl Client {
    /// Sends slot `i`'s next request (or, without keep-alive, connects).
    fn start(&mut self, i: usize) -> Result<(), String> {
        let slot = &mut self.slots[i];
        slot.since = Instant::now();
        slot.got = 0;
        self.seq += 1;
        slot.req[..8].copy_from_slice(&self.seq.to_le_bytes());
        if !self.keepalive {
            let s = connect_nb(self.addr).map_err(|e| format!("connect: {e}"))?;
            self.ep.add(&s, EpollEvent::new(EpollFlags::EPOLLOUT, i as u64)).map_err(|e| e.to_string())?;
            slot.s = Some(s);
            slot.connecting = true;
            return Ok(());
        }
        send(slot)
    }

    /// Slot `i` is ready: completes its connect or reads its reply.
    fn ready(&mut self, i: usize, window: Window, draining: bool) -> Result<(), String> {
        let slot = &mut self.slots[i];
        let Some(s) = &slot.s else { return Ok(()) };
        if slot.connecting {
            if let Some(e) = s.take_error().map_err(|e| e.to_string())? {
                return Err(format!("connect: {e}"));
            }
            let mut ev = EpollEvent::new(EpollFlags::EPOLLIN, i as u64);
            self.ep.modify(s, &mut ev).map_err(|e| e.to_string())?;
            slot.connecting = false;
            return send(slot);
        }
        loop {
            match { s }.read(&mut slot.buf[slot.got..]) {
                Ok(0) => return Err("the server closed a connection".into()),
                Ok(n) => slot.got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(format!("read: {e}")),
            }
            if slot.got == MSG {
                break;
            }
        }
        if slot.buf != slot.req {
            return Err("a reply that is not its request".into());
        }
        let now = Instant::now();
        if now >= window.0 && now < window.1 {
            self.tally.hist.saturating_record(now.duration_since(slot.since).as_nanos() as u64);
            self.tally.replies += 1;
        }
        if draining || !self.keepalive {
            slot.s = None; // closes it, and so leaves the epoll set
        }
        if draining { Ok(()) } else { self.start(i) }
    }

    /// Fails if an exchange has waited longer than [`IO_TIMEOUT`].
    fn check_stalls(&self) -> Result<(), String> {
        match self.slots.iter().filter(|s| s.s.is_some()).map(|s| s.since.elapsed()).max() {
            Some(t) if t > IO_TIMEOUT => Err(format!("an exchange has waited {t:?}")),
            _ => Ok(()),
        }
    }
}

/// Writes slot's request; a fresh or empty send buffer takes 64 bytes.
fn send(slot: &mut Slot) -> Result<(), String> {
    let s = slot.s.as_ref().ok_or("no connection")?;
    match { s }.write(&slot.req) {
        Ok(MSG) => Ok(()),
        Ok(n) => Err(format!("a request write took {n} of {MSG} bytes")),
        Err(e) => Err(format!("write: {e}")),
    }
}

/// One client thread: `conns` connections (opened now with keep-alive),
/// then `ready`, then the closed loop once the window arrives.
fn client(
    addr: SocketAddrV4,
    conns: usize,
    keepalive: bool,
    ready: mpsc::Sender<()>,
    go: mpsc::Receiver<Window>,
) -> Result<Tally, String> {
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| e.to_string())?;
    let hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut c = Client { addr, keepalive, ep, slots: Vec::new(), seq: 0, tally: Tally { hist, replies: 0 } };
    for i in 0..conns {
        let s = if keepalive {
            let s = TcpStream::connect_timeout(&addr.into(), IO_TIMEOUT)
                .map_err(|e| format!("keep-alive connect {i}: {e}"))?;
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            c.ep.add(&s, EpollEvent::new(EpollFlags::EPOLLIN, i as u64)).map_err(|e| e.to_string())?;
            Some(s)
        } else {
            None
        };
        let slot =
            Slot { s, connecting: false, since: Instant::now(), req: [0x5a; MSG], got: 0, buf: [0; MSG] };
        c.slots.push(slot);
    }
    ready.send(()).map_err(|_| "the run went away")?;
    let window = go.recv_timeout(SETTLE).map_err(|e| format!("no start: {e}"))?;
    for i in 0..conns {
        c.start(i)?;
    }
    let mut evs = [EpollEvent::empty(); 256];
    let mut last_check = Instant::now();
    loop {
        let now = Instant::now();
        let draining = now >= window.1;
        if draining && c.slots.iter().all(|s| s.s.is_none()) {
            return Ok(c.tally);
        }
        let n = c.ep.wait(&mut evs, PollTimeout::from(10u16)).map_err(|e| format!("epoll_wait: {e}"))?;
        for ev in &evs[..n] {
            c.ready(ev.data() as usize, window, draining)?;
        }
        if last_check.elapsed() > Duration::from_millis(100) {
            c.check_stalls()?;
            last_check = Instant::now();
        }
    }
}

/// What a case measured on one server.
struct Phase {
    rate: f64,
    hist: Histogram<u64>,
}

/// Runs `case` against `server`: clients in its client namespace, a
/// warm-up of a fifth of `secs`, then `secs` measured.
fn run_case(server: &Server, case: &Case, o: &Opts) -> Phase {
    let (ready_tx, ready) = mpsc::channel();
    let mut gos = Vec::new();
    let mut threads = Vec::new();
    for t in 0..o.clients {
        let conns = case.conns / o.clients + usize::from(t < case.conns % o.clients);
        let (go_tx, go) = mpsc::channel();
        let (addr, keepalive, ready) = (server.addr, case.keepalive, ready_tx.clone());
        threads.push(server.client_ns().spawn(move || client(addr, conns, keepalive, ready, go)));
        gos.push(go_tx);
    }
    drop(ready_tx);
    for _ in 0..o.clients {
        if let Err(e) = ready.recv_timeout(SETTLE) {
            drop(gos);
            let errs: Vec<String> = threads.into_iter().filter_map(|t| t.join().ok()?.err()).collect();
            panic!("{} {}: clients not ready within {SETTLE:?} ({e}): {errs:?}", server.who, case.key);
        }
    }
    let want = if case.keepalive { case.conns } else { 0 };
    server.stats.await_live(want, server.who);
    let secs = Duration::from_secs_f64(o.secs);
    let from = Instant::now() + secs / 5;
    let window = (from, from + secs);
    for go in &gos {
        go.send(window).expect("a client thread ended early");
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut replies = 0;
    let mut errors = Vec::new();
    for t in threads {
        match t.join().expect("client thread panicked") {
            Ok(tally) => {
                hist.add(&tally.hist).expect("merge histograms");
                replies += tally.replies;
            }
            Err(e) => errors.push(e),
        }
    }
    assert!(errors.is_empty(), "{} {}: clients failed: {errors:?}", server.who, case.key);
    assert!(replies > 0, "{} {}: no reply in the measured window", server.who, case.key);
    // Every connection is closed: the server's threads end on EOF.
    server.stats.await_live(0, server.who);
    server.stats.check(server.who);
    Phase { rate: replies as f64 / o.secs, hist }
}

// ------------------------------------------------------------------ report

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// A case's runs on one server: req/s of each, latencies of all.
struct Summary {
    rates: Vec<f64>,
    hist: Histogram<u64>,
}

impl Summary {
    fn new() -> Summary {
        Summary {
            rates: Vec::new(),
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram"),
        }
    }

    fn add(&mut self, p: Phase) {
        self.rates.push(p.rate);
        self.hist.add(&p.hist).expect("merge histograms");
    }

    fn median(&self) -> f64 {
        let mut r = self.rates.clone();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    }

    /// "median (min-max)" req/s.
    fn rate(&self) -> String {
        let min = self.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.rates.iter().copied().fold(0.0, f64::max);
        if self.rates.len() == 1 {
            format!("{min:.0}")
        } else {
            format!("{:.0} ({min:.0}-{max:.0})", self.median())
        }
    }
}

fn print_row(case: &str, who: &str, s: &Summary) {
    println!(
        "{case:<42} {who:<7} {:>24} req/s   p50 {:>8.1}  p99 {:>8.1} µs",
        s.rate(),
        us(&s.hist, 0.5),
        us(&s.hist, 0.99)
    );
}

fn markdown(file: &str, o: &Opts, mode: &str, results: &[(Case, Summary, Summary)]) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    writeln!(
        f,
        "\n#### thread_per_conn: a thread per connection on blocking sockets, {MSG} B request and reply, \
         closed loop from {} epoll client threads, {} s per case, median (min-max) of {} run(s); trust: {mode}\n",
        o.clients, o.secs, o.runs
    )?;
    writeln!(
        f,
        "| case | kernel req/s | trust req/s | trust / kernel | kernel p50 / p99 µs | trust p50 / p99 µs |"
    )?;
    writeln!(f, "|---|---:|---:|---:|---:|---:|")?;
    for (case, k, t) in results {
        writeln!(
            f,
            "| {} | {} | {} | {:.2}x | {:.1} / {:.1} | {:.1} / {:.1} |",
            case.label,
            k.rate(),
            t.rate(),
            t.median() / k.median(),
            us(&k.hist, 0.5),
            us(&k.hist, 0.99),
            us(&t.hist, 0.5),
            us(&t.hist, 0.99)
        )?;
    }
    Ok(())
}

fn main() {
    let o = parse();
    let most = o.cases.iter().map(|c| c.conns).max().unwrap_or(0) as u64;
    // Client sockets, the kernel server's sockets, and room for the rest.
    raise_nofile(2 * most + 512);
    println!(
        "thread per connection: {MSG} B request -> {MSG} B reply, closed loop from {} epoll client \
         threads, {} s per case after {} s of warm-up; unpinned",
        o.clients,
        o.secs,
        o.secs / 5.0
    );
    let kernel = (o.only.as_deref() != Some("trust")).then(kernel_server);
    let trust = (o.only.as_deref() != Some("kernel")).then(trust_server);
    if let Some(t) = &trust {
        println!("trust: {}; kernel TCP over veth", t.mode);
    }
    let mut sums: Vec<[Summary; 2]> = o.cases.iter().map(|_| [Summary::new(), Summary::new()]).collect();
    for run in 0..o.runs {
        for (case, sum) in o.cases.iter().zip(&mut sums) {
            for (server, s) in [&kernel, &trust].into_iter().zip(sum.iter_mut()) {
                if let Some(server) = server {
                    let p = run_case(server, case, &o);
                    eprintln!("run {}/{}: {} {}: {:.0} req/s", run + 1, o.runs, case.key, server.who, p.rate);
                    s.add(p);
                }
            }
        }
    }
    let mut results = Vec::new();
    for (case, [k, t]) in o.cases.iter().zip(sums) {
        let both = !k.rates.is_empty() && !t.rates.is_empty();
        if !k.rates.is_empty() {
            print_row(case.label, "kernel", &k);
        }
        if !t.rates.is_empty() {
            print_row(if both { "" } else { case.label }, "trust", &t);
        }
        if both {
            println!(
                "{:<42} trust / kernel: {:.2}x req/s (medians; p50 {:.2}x, p99 {:.2}x)",
                "",
                t.median() / k.median(),
                us(&t.hist, 0.5) / us(&k.hist, 0.5),
                us(&t.hist, 0.99) / us(&k.hist, 0.99)
            );
            results.push((*case, k, t));
        }
    }
    let mode = trust.as_ref().map(|t| t.mode.clone()).unwrap_or_default();
    for s in [kernel, trust].into_iter().flatten() {
        s.stop();
    }
    if let Some(file) = &o.markdown
        && !results.is_empty()
    {
        markdown(file, &o, &mode, &results).expect("append the markdown table");
    }
}
