//! What the kernel-peer tests share: addressing, seeded data that the
//! receiver regenerates and compares byte by byte, echo servers and
//! checking clients for both stacks, a poll-driven pump for many kernel
//! sockets, and time limits that turn a hang into a failure.
//!
//! Nothing here asserts how long something took: limits only bound how
//! long a test may wait before it is declared hung.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use trust::api::{Config, Interface, TcpListener, TcpStream};
use trust::device::tun::TunConfig;

use crate::common::netns::Netns;

/// Read and write timeout on every kernel socket: a stalled transfer fails
/// with `WouldBlock` instead of hanging.
///
/// Blocking trust sockets get no timeout on purpose: a read that sleeps
/// although data has arrived (a lost wake-up) would end at its timeout and
/// find the data, hiding the bug as a mere stall. Without a timeout it
/// hangs, and the test's time limit ([`join_within`]) fails the test.
///
/// Generous, because a lossy path can legitimately stall a connection for
/// tens of seconds: a window update lost while the peer's zero-window
/// probe timer has backed off is found only at the next probe.
pub const IO_TIMEOUT: Duration = Duration::from_secs(180);

/// Chunk size for reads and writes.
pub const CHUNK: usize = 64 * 1024;

pub const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------- addressing

/// The kernel's side of the TUN in test network `net`: `10.net.0.1`.
pub fn host_addr(net: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, net, 0, 1)
}

/// The stack's address in test network `net`: `10.net.0.2`.
pub fn stack_addr(net: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, net, 0, 2)
}

/// An interface configuration: TUN `tun` with `10.net.0.1/24` on the
/// kernel side, the stack at `10.net.0.2`.
pub fn config(tun: &str, net: u8) -> Config {
    let mut t = TunConfig::new(tun);
    t.host = Some((host_addr(net), 24));
    let mut cfg = Config::new(t, stack_addr(net));
    // CI runs the suite again with `TRUST_OFFLOAD=0` and other backends.
    cfg.apply_env().expect("TRUST_* variables");
    cfg
}

/// The kernel's IPv6 address on the TUN in test network `net`:
/// `fd00:net::1`.
pub fn host6_addr(net: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, u16::from(net), 0, 0, 0, 0, 0, 1)
}

/// The stack's IPv6 address in test network `net`: `fd00:net::2`.
pub fn stack6_addr(net: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, u16::from(net), 0, 0, 0, 0, 0, 2)
}

/// [`config`] with IPv6 as well: `fd00:net::1/64` on the kernel side, the
/// stack at `fd00:net::2`.
pub fn config_dual(tun: &str, net: u8) -> Config {
    let mut cfg = config(tun, net);
    cfg.tun.host6 = Some((host6_addr(net), 64));
    cfg.addr6 = Some(stack6_addr(net));
    cfg
}

/// [`Interface::open`], or a panic naming the device. Call it inside the
/// namespace.
pub fn open(cfg: Config) -> Interface {
    let name = cfg.tun.name.clone();
    let iface = Interface::open(cfg).unwrap_or_else(|e| panic!("Interface::open({name}): {e}"));
    eprintln!("{name}: backend {}", iface.backend());
    iface
}

/// [`Interface::open_embedded`], or a panic naming the device.
pub fn open_embedded(cfg: Config) -> Interface {
    let name = cfg.tun.name.clone();
    let iface =
        Interface::open_embedded(cfg).unwrap_or_else(|e| panic!("Interface::open_embedded({name}): {e}"));
    eprintln!("{name}: backend {} (embedded)", iface.backend());
    iface
}

/// The engine's and the reactor's counters, for failure messages and logs.
pub fn report(iface: &Interface) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let r = iface.reactor_stats();
    format!(
        "{} [{}]: stack {:?}; reactor turns {} rx {} tx {}; connections:\n{}",
        iface.tun_name(),
        iface.backend(),
        iface.stats(),
        r.turns.load(Relaxed),
        r.rx_packets.load(Relaxed),
        r.tx_packets.load(Relaxed),
        iface.describe_connections().join("\n")
    )
}

// ---------------------------------------------------------------- time limits

/// Joins `h`, failing if it is still running after `limit` (a hang) and
/// passing its panic on.
pub fn join_within<T>(h: JoinHandle<T>, limit: Duration, what: &str) -> T {
    let deadline = Instant::now() + limit;
    while !h.is_finished() {
        if Instant::now() >= deadline {
            panic!("{what}: still running after {limit:?}: hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// [`join_within`], printing `status()` every 10 seconds while `h` runs,
/// and when it fails (hangs or panics): counters to diagnose a stall.
pub fn join_watching<T>(h: JoinHandle<T>, limit: Duration, what: &str, status: impl Fn() -> String) -> T {
    let start = Instant::now();
    let mut next = start + Duration::from_secs(10);
    while !h.is_finished() {
        let now = Instant::now();
        if now >= start + limit {
            panic!("{what}: still running after {limit:?}: hung; {}", status());
        }
        if now >= next {
            eprintln!("{what}: still running after {:?}; {}", now - start, status());
            next += Duration::from_secs(10);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    h.join().unwrap_or_else(|p| {
        eprintln!("{what}: failed; {}", status());
        std::panic::resume_unwind(p)
    })
}

/// Runs `f` on a thread inside `ns`, failing the test if it does not
/// finish within `limit`.
pub fn run_in<T: Send + 'static>(
    ns: &Netns,
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    join_within(ns.spawn(f), limit, what)
}

/// Spawns a named thread (it inherits the caller's network namespace).
pub fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap_or_else(|e| panic!("cannot spawn thread {name}: {e}"))
}

/// Lets `n` parties start together; a party that waits longer than
/// `limit` for the others fails.
pub struct Gate {
    arrived: Mutex<usize>,
    cv: Condvar,
    n: usize,
}

impl Gate {
    pub fn new(n: usize) -> Arc<Gate> {
        Arc::new(Gate { arrived: Mutex::new(0), cv: Condvar::new(), n })
    }

    pub fn arrive_and_wait(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.cv.notify_all();
        while *arrived < self.n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "gate: only {} of {} parties arrived within {limit:?}",
                *arrived,
                self.n
            );
            arrived = self.cv.wait_timeout(arrived, left).unwrap().0;
        }
    }
}

// ---------------------------------------------------------------- data

/// A seeded byte stream (xorshift64*): the sender generates it, the
/// receiver regenerates it and compares every byte.
pub struct Pattern {
    state: u64,
    word: u64,
    left: u32,
    pos: u64,
}

impl Pattern {
    pub fn new(seed: u64) -> Pattern {
        // SplitMix64 of the seed: distinct seeds give unrelated streams,
        // and the state is never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Pattern { state: (z ^ (z >> 31)) | 1, word: 0, left: 0, pos: 0 }
    }

    /// The next 64 random bits (not part of the byte stream).
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        if self.left == 0 {
            self.word = self.next_u64();
            self.left = 8;
        }
        let b = self.word as u8;
        self.word >>= 8;
        self.left -= 1;
        b
    }

    /// Bytes generated or checked so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf.iter_mut() {
            *b = self.next_byte();
        }
        self.pos += buf.len() as u64;
    }

    /// Checks that `got` is the stream's next bytes; panics at the first
    /// difference, naming `what` and the offset.
    pub fn check(&mut self, got: &[u8], what: &str) {
        for (i, &b) in got.iter().enumerate() {
            let want = self.next_byte();
            if b != want {
                panic!("{what}: byte {} is {b:#04x}, expected {want:#04x}", self.pos + i as u64);
            }
        }
        self.pos += got.len() as u64;
    }
}

// ---------------------------------------------------------------- either stack's stream

/// A connected stream of either stack, usable from two threads at once.
pub trait Duplex: Send + Sync + 'static {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn send(&self, buf: &[u8]) -> io::Result<usize>;
    fn shutdown_write(&self) -> io::Result<()>;

    fn send_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.send(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Duplex for std::net::TcpStream {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn send(&self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Duplex for TcpStream {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn send(&self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// Writes `len` bytes of `Pattern::new(seed)`.
pub fn write_pattern<S: Duplex>(s: &S, seed: u64, len: u64, what: &str) {
    let mut p = Pattern::new(seed);
    let mut buf = vec![0u8; CHUNK];
    while p.position() < len {
        let n = (len - p.position()).min(CHUNK as u64) as usize;
        let at = p.position();
        p.fill(&mut buf[..n]);
        s.send_all(&buf[..n]).unwrap_or_else(|e| panic!("{what}: write at byte {at} of {len}: {e}"));
    }
}

/// [`write_pattern`], then shuts down writing.
pub fn send_pattern<S: Duplex>(s: &S, seed: u64, len: u64, what: &str) {
    write_pattern(s, seed, len, what);
    s.shutdown_write().unwrap_or_else(|e| panic!("{what}: shutdown(Write) after {len} bytes: {e}"));
}

/// Reads to the end of the stream, checking every byte against
/// `Pattern::new(seed)`; returns how many arrived.
pub fn recv_pattern<S: Duplex>(s: &S, seed: u64, what: &str) -> u64 {
    let mut p = Pattern::new(seed);
    let mut buf = vec![0u8; CHUNK];
    loop {
        match s.recv(&mut buf) {
            Ok(0) => return p.position(),
            Ok(n) => p.check(&buf[..n], what),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{what}: read after {} bytes: {e}", p.position()),
        }
    }
}

/// Sends `len` patterned bytes through an echo (writer on its own
/// thread) while this thread reads them back and checks them, up to the
/// end of the stream.
pub fn echo_roundtrip<S: Duplex>(s: Arc<S>, seed: u64, len: u64, what: &str) {
    let writer = {
        let (s, what) = (s.clone(), format!("{what} (writer)"));
        spawn("writer", move || send_pattern(&*s, seed, len, &what))
    };
    let got = recv_pattern(&*s, seed, &format!("{what} (reader)"));
    join_within(writer, IO_TIMEOUT, &format!("{what}: writer"));
    assert_eq!(got, len, "{what}: echoed bytes");
}

/// Echoes everything read until the end of the stream; returns the count.
/// The caller closes.
pub fn echo<S: Duplex>(s: &S, what: &str) -> u64 {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match s.recv(&mut buf) {
            Ok(0) => return total,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("{what}: echo read after {total} bytes: {e}"),
        };
        s.send_all(&buf[..n]).unwrap_or_else(|e| panic!("{what}: echo write after {total} bytes: {e}"));
        total += n as u64;
    }
}

/// Sends the next `out.len()` bytes of `tx` through an echo, reads as many
/// back into `back` and checks them against `rx`. `len` (the whole
/// exchange's length) only goes into failure messages.
pub fn echo_chunk<S: Duplex>(
    s: &S,
    (tx, rx): (&mut Pattern, &mut Pattern),
    (out, back): (&mut [u8], &mut [u8]),
    len: u64,
    what: &str,
) {
    let n = out.len();
    tx.fill(out);
    s.send_all(out).unwrap_or_else(|e| panic!("{what}: write at byte {}: {e}", rx.position()));
    let mut got = 0;
    while got < n {
        match s.recv(&mut back[got..n]) {
            Ok(0) => panic!("{what}: end of stream after {} of {len} bytes", rx.position() + got as u64),
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{what}: read at byte {}: {e}", rx.position() + got as u64),
        }
    }
    rx.check(&back[..n], what);
}

/// Exchanges `len` patterned bytes with an echo in chunks of random size
/// (at most 64 KiB, so it never waits on a full pipe): write one chunk,
/// read it back, check it. Then shuts down writing and expects the end
/// of the stream.
pub fn ping_pong<S: Duplex>(s: &S, seed: u64, len: u64, what: &str) {
    let (mut tx, mut rx, mut sizes) = (Pattern::new(seed), Pattern::new(seed), Pattern::new(!seed));
    let mut out = vec![0u8; CHUNK];
    let mut back = vec![0u8; CHUNK];
    while tx.position() < len {
        let n = ((sizes.next_u64() % CHUNK as u64) + 1).min(len - tx.position()) as usize;
        echo_chunk(s, (&mut tx, &mut rx), (&mut out[..n], &mut back[..n]), len, what);
    }
    s.shutdown_write().unwrap_or_else(|e| panic!("{what}: shutdown(Write): {e}"));
    match s.recv(&mut back) {
        Ok(0) => {}
        r => panic!("{what}: expected the end of the stream after {len} bytes, got {r:?}"),
    }
}

// ---------------------------------------------------------------- sockets

/// A kernel connection to `addr` with [`IO_TIMEOUT`]s.
pub fn kernel_connect(addr: SocketAddr) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("kernel connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// A kernel listener on `addr`.
pub fn kernel_listen(addr: SocketAddr) -> std::net::TcpListener {
    std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("kernel bind {addr}: {e}"))
}

/// Accepts one kernel connection and gives it [`IO_TIMEOUT`]s.
pub fn kernel_accept(l: &std::net::TcpListener) -> std::net::TcpStream {
    let (s, _) = l.accept().unwrap_or_else(|e| panic!("kernel accept: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// A trust connection to `addr` (no read or write timeout: see
/// [`IO_TIMEOUT`]).
pub fn trust_connect(iface: &Interface, addr: SocketAddr) -> TcpStream {
    TcpStream::connect_timeout(iface, &addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("trust connect to {addr}: {e}"))
}

/// Accepts one trust connection.
pub fn trust_accept(l: &TcpListener) -> TcpStream {
    l.accept().unwrap_or_else(|e| panic!("trust accept: {e}")).0
}

/// `SO_LINGER` with a zero timeout: closing sends a RST.
pub fn set_linger_zero(s: &std::net::TcpStream) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    nix::sys::socket::setsockopt(s, nix::sys::socket::sockopt::Linger, &linger).expect("SO_LINGER 0");
}

/// Accepts `conns` connections on a trust listener and echoes each on its
/// own thread until the end of its stream, then closes it. Returns the
/// bytes echoed.
pub fn trust_echo_server(listener: TcpListener, conns: usize) -> JoinHandle<u64> {
    spawn("trust-echo", move || {
        let workers: Vec<_> = (0..conns)
            .map(|i| {
                let s = trust_accept(&listener);
                spawn("trust-echo-conn", move || echo(&s, &format!("trust echo server, connection {i}")))
            })
            .collect();
        workers.into_iter().map(|w| join_within(w, 10 * IO_TIMEOUT, "trust echo connection")).sum()
    })
}

/// The same with a kernel listener.
pub fn kernel_echo_server(listener: std::net::TcpListener, conns: usize) -> JoinHandle<u64> {
    spawn("kernel-echo", move || {
        let workers: Vec<_> = (0..conns)
            .map(|i| {
                let s = kernel_accept(&listener);
                spawn("kernel-echo-conn", move || echo(&s, &format!("kernel echo server, connection {i}")))
            })
            .collect();
        workers.into_iter().map(|w| join_within(w, 10 * IO_TIMEOUT, "kernel echo connection")).sum()
    })
}

/// The packet count of the first `counter` in an nft listing.
pub fn nft_counter(listing: &str) -> u64 {
    let mut words = listing.split_whitespace().skip_while(|w| *w != "counter");
    match (words.next(), words.next(), words.next()) {
        (Some("counter"), Some("packets"), Some(n)) => {
            n.parse().unwrap_or_else(|e| panic!("bad packet count `{n}` ({e}) in nft listing:\n{listing}"))
        }
        _ => panic!("no `counter packets N` in nft listing:\n{listing}"),
    }
}

// ---------------------------------------------------------------- many kernel clients

/// One kernel client of [`kernel_clients`]: sends its pattern to an echo
/// and checks what comes back, without blocking.
struct Flow {
    id: usize,
    sock: std::net::TcpStream,
    tx: Pattern,
    out: Vec<u8>,
    out_at: usize,
    rx: Pattern,
    len: u64,
    shut: bool,
    eof: bool,
}

impl Flow {
    fn interest(&self) -> PollFlags {
        let mut f = PollFlags::empty();
        if !self.eof {
            f |= PollFlags::POLLIN;
        }
        if !self.shut {
            f |= PollFlags::POLLOUT;
        }
        f
    }

    fn write_some(&mut self) {
        while !self.shut {
            if self.out_at == self.out.len() {
                let n = (self.len - self.tx.position()).min(CHUNK as u64) as usize;
                if n == 0 {
                    self.sock
                        .shutdown(Shutdown::Write)
                        .unwrap_or_else(|e| panic!("flow {}: shutdown: {e}", self.id));
                    self.shut = true;
                    return;
                }
                self.out.resize(n, 0);
                self.tx.fill(&mut self.out);
                self.out_at = 0;
            }
            match self.sock.write(&self.out[self.out_at..]) {
                Ok(n) => self.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("kernel client {}: write after {} bytes: {e}", self.id, self.tx.position()),
            }
        }
    }

    fn read_some(&mut self, buf: &mut [u8]) {
        while !self.eof {
            match self.sock.read(buf) {
                Ok(0) => {
                    let got = self.rx.position();
                    assert_eq!(got, self.len, "kernel client {}: end of stream after {got} bytes", self.id);
                    self.eof = true;
                }
                Ok(n) => {
                    let room = self.len - self.rx.position();
                    assert!(
                        n as u64 <= room,
                        "kernel client {}: {n} bytes beyond the {} sent",
                        self.id,
                        self.len
                    );
                    self.rx.check(&buf[..n], &format!("kernel client {}", self.id));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("kernel client {}: read after {} bytes: {e}", self.id, self.rx.position()),
            }
        }
    }
}

/// What `ss -tin` says about the kernel's TCP socket on local port
/// `port` (run from a thread inside the namespace).
pub fn kernel_socket_info(port: u16) -> String {
    let out =
        match std::process::Command::new("ss").args(["-tinH", "sport", "=", &format!(":{port}")]).output() {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(e) => return format!("(cannot run ss: {e})"),
        };
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The namespace's non-zero IP and TCP counters (`nstat`), from a thread
/// inside it.
pub fn kernel_counters() -> String {
    match std::process::Command::new("nstat").args(["-as"]).output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("Tcp") || l.starts_with("Ip"))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some(format!("{}={}", w.next()?, w.next()?))
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("(cannot run nstat: {e})"),
    }
}

/// Drives `flows` with poll(2) until each has sent everything, read it
/// all back and seen the end of the stream.
fn pump(mut flows: Vec<Flow>, deadline: Instant) {
    let mut buf = vec![0u8; CHUNK];
    while !flows.is_empty() {
        if Instant::now() >= deadline {
            let state: Vec<String> = flows
                .iter()
                .map(|f| {
                    let port = f.sock.local_addr().map_or(0, |a| a.port());
                    format!(
                        "#{} (port {port}) sent {} got {} shut {}; kernel: {}",
                        f.id,
                        f.tx.position(),
                        f.rx.position(),
                        f.shut,
                        kernel_socket_info(port)
                    )
                })
                .collect();
            panic!(
                "kernel clients: {} unfinished at the deadline:\n{}\nkernel counters: {}",
                flows.len(),
                state.join("\n"),
                kernel_counters()
            );
        }
        let ready: Vec<PollFlags> = {
            let mut fds: Vec<PollFd> =
                flows.iter().map(|f| PollFd::new(f.sock.as_fd(), f.interest())).collect();
            poll(&mut fds, PollTimeout::from(1000u16)).expect("poll(2) on kernel clients");
            fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect()
        };
        for (f, ev) in flows.iter_mut().zip(ready) {
            if ev.intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP) {
                f.write_some();
            }
            if ev.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP) {
                f.read_some(&mut buf);
            }
        }
        flows.retain(|f| !(f.shut && f.eof));
    }
}

/// Opens `n` kernel connections to the echo at `addr` (all open at once),
/// then has `workers` threads drive them concurrently: connection `i`
/// sends `len` bytes of `Pattern::new(seed + i)`, checks the echo, and
/// expects the end of the stream. Panics on any difference.
pub fn kernel_clients(addr: SocketAddr, n: usize, workers: usize, len: u64, seed: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    // Connect from up to 32 threads at once: over a lossy path a lost SYN
    // costs the kernel's 1 s retransmission, which one thread would pay
    // for every such connection in turn.
    let connectors = n.clamp(1, 32);
    let socks: Vec<(usize, std::net::TcpStream)> = (0..connectors)
        .map(|c| {
            spawn("kernel-connect", move || {
                (c..n).step_by(connectors).map(|id| (id, kernel_connect(addr))).collect::<Vec<_>>()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|h| join_within(h, limit, "kernel connects"))
        .collect();
    let mut groups: Vec<Vec<Flow>> = (0..workers).map(|_| Vec::new()).collect();
    for (id, sock) in socks {
        sock.set_nonblocking(true).unwrap();
        let s = seed + id as u64;
        groups[id % workers].push(Flow {
            id,
            sock,
            tx: Pattern::new(s),
            out: Vec::new(),
            out_at: 0,
            rx: Pattern::new(s),
            len,
            shut: false,
            eof: false,
        });
    }
    let handles: Vec<_> =
        groups.into_iter().map(|g| spawn("kernel-clients", move || pump(g, deadline))).collect();
    for h in handles {
        join_within(h, limit + Duration::from_secs(5), "kernel client worker");
    }
}
