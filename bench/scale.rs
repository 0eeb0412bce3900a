//! Many concurrent idle connections: kernel TCP clients open `--count`
//! connections (default 10,000) to a `trust` listener over a TUN device,
//! trust accepts and holds every one; then one 64-byte exchange each way
//! on every connection. Reports the time to open them all and trust's
//! memory per connection, beside kernel TCP holding as many connections
//! over a veth pair in the same run. Everything lives in namespaces this
//! run creates and removes.
//!
//! ```text
//! cargo bench --bench scale -- [--count N] [--quick] [--markdown FILE]
//! ```
//!
//! What is measured, and what is not:
//! - trust's memory is user-space memory: the growth of the process's
//!   `VmRSS` (resident) and `VmData` (heap and anonymous mappings,
//!   resident or not), divided by the count. Each trust configuration
//!   runs in a child process of its own, so one run's freed memory cannot
//!   hide the next one's growth. The kernel clients' sockets are kernel
//!   memory, in no process's RSS.
//! - trust allocates a connection's send and receive buffers at full size
//!   on first use (`src/tcp/send_buffer.rs`, `recv_buffer.rs`) with zeroed
//!   allocations: an idle connection has none, a connection that carried a
//!   byte each way has both. Large zeroed allocations are fresh `mmap`s
//!   whose pages become resident only when touched, so `VmData` shows the
//!   full buffers while `VmRSS` shows the touched pages. Hence two rows:
//!   the default 256 KiB buffers and 16 KiB buffers.
//! - kernel memory, for the kernel-to-kernel baseline (both ends are
//!   kernel sockets, so each connection is two sockets), is the growth of
//!   all slab caches (`/proc/slabinfo`: `struct tcp_sock`, inodes, files,
//!   dentries, ...), and of `/proc/net/sockstat`'s `TCP mem`, which counts
//!   only pages charged for queued socket buffers (near zero for idle
//!   sockets). Both are system-wide: other work on the machine adds noise.
//!   The trust run reports the same slab growth for its kernel clients
//!   (one kernel socket per connection).
//! - the kernel baseline's server runs in a child process: the open-file
//!   limit is per process, and one process holding both ends of 10,000
//!   connections would exceed a 20,000 hard limit that a container may
//!   not raise. The exchange runs in rounds of 128 connections (see
//!   [`exchange`]).
//!
//! Needs root (namespaces, TUN). With a count beyond the open-file limit
//! it tries to raise the limit with `prlimit(1)`.

#[path = "child.rs"]
#[allow(dead_code)]
mod child;
#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use child::{ServerChild, raise_nofile};
use netns::{LossyPath, Netns};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, setsockopt, socket, sockopt,
};
use trust::api::{Config, Events, Interest, Interface, Poll, TcpListener, Token};
use trust::device::tun::TunConfig;

const PORT: u16 = 7300;
const MSG: usize = 64;
/// Pending connections either listener may queue.
const BACKLOG: usize = 4096;
/// Connect, read and write timeout on every socket.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Kernel client threads, each connecting sequentially.
const CLIENTS: usize = 2;
/// The smaller trust buffer size of the second row.
const SMALL_BUFFER: usize = 16 * 1024;
/// Tag of the trust child's namespace (see [`cleanup_child_ns`]).
const CHILD_NS_TAG: &str = "sctrust";

struct Opts {
    count: usize,
    markdown: Option<String>,
    /// Internal: run one trust configuration (this buffer size, 0 for the
    /// default) and print its result line.
    child: Option<usize>,
    /// Internal: be the kernel server in this namespace, on this address.
    kernel_server: Option<(String, Ipv4Addr)>,
}

fn parse() -> Opts {
    let mut o = Opts { count: 10_000, markdown: None, child: None, kernel_server: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<usize>().ok()).expect("flag needs a number");
        match a.as_str() {
            "--count" => o.count = num().max(1),
            "--quick" => o.count = 1_000,
            "--child" => o.child = Some(num()),
            "--kernel-server" => {
                let ns = it.next().expect("--kernel-server needs a namespace");
                let addr = it.next().and_then(|a| a.parse().ok()).expect("--kernel-server needs an address");
                o.kernel_server = Some((ns, addr));
            }
            "--markdown" => o.markdown = Some(it.next().expect("--markdown needs a file")),
            _ => {} // cargo bench passes --bench
        }
    }
    o
}

/// How long opening `count` connections may take before the run fails.
fn limit(count: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(count as u64 * 2)
}

// ------------------------------------------------------------------ memory

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
        * 1024
}

#[derive(Debug, Clone, Copy, Default)]
struct UserMem {
    rss: u64,
    data: u64,
}

fn user_mem() -> UserMem {
    UserMem { rss: status_bytes("VmRSS"), data: status_bytes("VmData") }
}

/// Memory held by all slab caches, and the objects of the `TCP` cache
/// (one `struct tcp_sock` per socket), from `/proc/slabinfo`.
#[derive(Debug, Clone, Copy, Default)]
struct Slab {
    bytes: u64,
    tcp_socks: u64,
}

fn slab() -> Slab {
    let info = std::fs::read_to_string("/proc/slabinfo").expect("read /proc/slabinfo (needs root)");
    let mut s = Slab::default();
    for line in info.lines().skip(2) {
        // name active_objs num_objs objsize objperslab pagesperslab : tunables .. : slabdata active num ..
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let slabs = f.iter().position(|w| *w == "slabdata").map_or(0, |i| num(i + 2));
        s.bytes += slabs * num(5) * 4096;
        if f.first() == Some(&"TCP") {
            s.tcp_socks = num(1);
        }
    }
    s
}

/// `TCP: inuse N ... mem P` of `/proc/net/sockstat` as the calling thread
/// sees it (`inuse` is per namespace, `mem` system-wide, in pages).
fn sockstat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/net/sockstat").expect("read sockstat");
    let line = text.lines().find(|l| l.starts_with("TCP:")).expect("no TCP line in sockstat");
    let words: Vec<&str> = line.split_whitespace().collect();
    let field = |name: &str| {
        words.iter().position(|w| *w == name).and_then(|i| words.get(i + 1)?.parse().ok()).unwrap_or(0)
    };
    (field("inuse"), field("mem"))
}

fn kib_per(bytes_after: u64, bytes_before: u64, n: usize) -> f64 {
    (bytes_after as f64 - bytes_before as f64) / 1024.0 / n as f64
}

// ------------------------------------------------------------------ clients

/// Opens `n` connections to `addr` one after another.
fn connect_many(addr: SocketAddr, n: usize, deadline: Instant) -> Result<Vec<std::net::TcpStream>, String> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        if Instant::now() > deadline {
            return Err(format!("out of time after {i} of {n} connects"));
        }
        let s = std::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|e| format!("connect {i} of {n} to {addr}: {e}"))?;
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        v.push(s);
    }
    Ok(v)
}

/// Spawns the client threads (in the calling thread's namespace, or in
/// `ns`); joins them into one list of sockets.
fn clients(
    ns: Option<&Netns>,
    addr: SocketAddr,
    count: usize,
) -> std::thread::JoinHandle<Vec<std::net::TcpStream>> {
    let deadline = Instant::now() + limit(count);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let n = count / CLIENTS + usize::from(c < count % CLIENTS);
            let f = move || connect_many(addr, n, deadline);
            match ns {
                Some(ns) => ns.spawn(f),
                None => std::thread::spawn(f),
            }
        })
        .collect();
    std::thread::spawn(move || {
        let mut all = Vec::with_capacity(count);
        for t in threads {
            all.extend(t.join().expect("client thread panicked").unwrap_or_else(|e| panic!("clients: {e}")));
        }
        all
    })
}

/// Connections per round of [`exchange`].
const EXCHANGE_BATCH: usize = 128;

/// The exchange: every client writes 64 bytes, every server socket reads
/// them and writes 64 back, every client reads them; in rounds of
/// [`EXCHANGE_BATCH`] connections. All at once, the kernel would push one
/// segment per connection into the TUN device faster than trust reads
/// them, and a TUN queue holds 500 packets (`txqueuelen`): the rest are
/// dropped and wait for the kernel's retransmission timeout. `servers[i]`
/// must be the other end of `clients[i]`.
fn exchange<S>(clients: &[std::net::TcpStream], servers: &[S])
where
    for<'a> &'a S: Read + Write,
{
    let req = [0x5au8; MSG];
    let mut buf = [0u8; MSG];
    for (cs, ss) in clients.chunks(EXCHANGE_BATCH).zip(servers.chunks(EXCHANGE_BATCH)) {
        for c in cs {
            { c }.write_all(&req).expect("client write");
        }
        for s in ss {
            { s }.read_exact(&mut buf).expect("server read");
            { s }.write_all(&[0xa5; MSG]).expect("server write");
        }
        for c in cs {
            { c }.read_exact(&mut buf).expect("client read");
            assert_eq!(buf, [0xa5; MSG], "wrong reply");
        }
    }
}

/// Packets the kernel dropped sending into device `dev` (its transmit
/// queue was full), from `/proc/net/dev` as the calling thread sees it.
fn tx_dropped(dev: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev").expect("read /proc/net/dev");
    let line = text.lines().find_map(|l| l.trim_start().strip_prefix(dev)?.strip_prefix(':'));
    // Receive: bytes packets errs drop fifo frame compressed multicast;
    // transmit: bytes packets errs drop ...
    line.and_then(|l| l.split_whitespace().nth(11)?.parse().ok()).unwrap_or(0)
}

// ------------------------------------------------------------------ trust

/// One trust configuration, measured in a child process.
#[derive(Debug, Default, Clone)]
struct TrustResult {
    open: Duration,
    before: UserMem,
    idle: UserMem,
    after: UserMem,
    exchange: Duration,
    established: usize,
    /// Packets the kernel dropped at the TUN's full queue.
    tun_dropped: u64,
    slab_before: Slab,
    slab_idle: Slab,
    backend: String,
}

fn trust_child(count: usize, buffer: usize) -> TrustResult {
    let ns = Netns::new(CHILD_NS_TAG);
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535"]);
    ns.run(move || {
        let mut tun = TunConfig::new("scale0");
        tun.host = Some((Ipv4Addr::new(10, 99, 0, 1), 24));
        let mut cfg = Config::new(tun, Ipv4Addr::new(10, 99, 0, 2));
        if buffer > 0 {
            cfg.tcp.send_buffer = buffer;
            cfg.tcp.recv_buffer = buffer;
        }
        let iface = Interface::open(cfg).expect("trust interface");
        let listener = TcpListener::bind_with_backlog(&iface, PORT, BACKLOG).expect("trust listen");
        listener.set_nonblocking(true).unwrap();
        let poll = Poll::new(&iface).unwrap();
        poll.register(&listener, Token(0), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(16);
        let mut streams = Vec::with_capacity(count);
        let mut r = TrustResult { backend: iface.backend().to_string(), ..Default::default() };
        r.slab_before = slab();
        r.before = user_mem();

        let start = Instant::now();
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, 2), PORT));
        let kernel_side = clients(None, addr, count);
        while streams.len() < count {
            assert!(
                start.elapsed() < limit(count),
                "trust accepted {} of {count} connections in {:?}; stats {:?}",
                streams.len(),
                start.elapsed(),
                iface.stats()
            );
            poll.poll(&mut events, Some(Duration::from_millis(100))).expect("trust poll");
            loop {
                match listener.accept() {
                    // Blocking reads and writes in the exchange (an accepted
                    // stream inherits the listener's non-blocking mode).
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        streams.push(s)
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("trust accept: {e}"),
                }
            }
        }
        let mut kernel_side = kernel_side.join().expect("clients panicked");
        r.open = start.elapsed();
        r.idle = user_mem();
        r.slab_idle = slab();
        for s in &streams {
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        }

        kernel_side.sort_by_key(|c| c.local_addr().unwrap());
        streams.sort_by_key(|s| s.peer_addr().unwrap());
        let t = Instant::now();
        exchange(&kernel_side, &streams);
        r.exchange = t.elapsed();
        r.after = user_mem();
        r.tun_dropped = tx_dropped("scale0");
        r.established = iface.describe_connections().iter().filter(|l| l.contains(" Established ")).count();

        // Close gracefully: clients first, then trust; bounded by drain.
        drop(kernel_side);
        drop(streams);
        if !iface.drain(Duration::from_secs(10)).unwrap_or(false) {
            eprintln!("trust: connections still finishing after 10 s; dropping the interface resets them");
            {
                // Which states hold them up, and what the device dropped.
                let conns = iface.describe_connections();
                let mut states = std::collections::BTreeMap::new();
                for c in &conns {
                    *states.entry(c.split_whitespace().nth(3).unwrap_or("?").to_string()).or_insert(0) += 1;
                }
                eprintln!("{} left: {states:?}; TUN tx dropped {}", conns.len(), tx_dropped("scale0"));
                if let Some(c) = conns.iter().find(|c| !c.contains("TimeWait")) {
                    eprintln!("e.g. {c}");
                }
            }
        }
        r
    })
}

/// The child's one line of output.
fn result_line(r: &TrustResult) -> String {
    format!(
        "RESULT open_us={} exchange_us={} rss0={} rss1={} rss2={} data0={} data1={} data2={} established={} tun_dropped={} \
         slab0={} slab1={} tcp0={} tcp1={} backend={}",
        r.open.as_micros(),
        r.exchange.as_micros(),
        r.before.rss,
        r.idle.rss,
        r.after.rss,
        r.before.data,
        r.idle.data,
        r.after.data,
        r.established,
        r.tun_dropped,
        r.slab_before.bytes,
        r.slab_idle.bytes,
        r.slab_before.tcp_socks,
        r.slab_idle.tcp_socks,
        r.backend
    )
}

fn parse_result(line: &str) -> TrustResult {
    let kv: HashMap<&str, &str> = line.split_whitespace().skip(1).filter_map(|w| w.split_once('=')).collect();
    let n =
        |k: &str| kv.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| panic!("no {k} in {line}"));
    TrustResult {
        open: Duration::from_micros(n("open_us")),
        exchange: Duration::from_micros(n("exchange_us")),
        before: UserMem { rss: n("rss0"), data: n("data0") },
        idle: UserMem { rss: n("rss1"), data: n("data1") },
        after: UserMem { rss: n("rss2"), data: n("data2") },
        established: n("established") as usize,
        tun_dropped: n("tun_dropped"),
        slab_before: Slab { bytes: n("slab0"), tcp_socks: n("tcp0") },
        slab_idle: Slab { bytes: n("slab1"), tcp_socks: n("tcp1") },
        backend: kv.get("backend").unwrap_or(&"?").to_string(),
    }
}

/// Deletes the namespace a killed child left behind (its `Drop` never
/// ran): `Netns::new` names it `trust-<tag>-<pid>-<n>`.
fn cleanup_child_ns(pid: u32) {
    let name = format!("trust-{CHILD_NS_TAG}-{pid}-0");
    let _ = Command::new("ip").args(["netns", "del", &name]).output();
}

/// Runs one trust configuration in a child process (bounded in time).
fn trust_run(count: usize, buffer: usize) -> TrustResult {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args(["--count", &count.to_string(), "--child", &buffer.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the trust child");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit(count) * 2 + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the trust child") {
            break status;
        }
        if Instant::now() > deadline {
            let pid = child.id();
            let _ = child.kill();
            let _ = child.wait();
            cleanup_child_ns(pid);
            panic!("the trust child (buffers {buffer}) ran out of time and was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    assert!(status.success(), "the trust child (buffers {buffer}) failed: {status}\n{out}");
    let line = out.lines().find(|l| l.starts_with("RESULT ")).expect("no RESULT line from the trust child");
    parse_result(line)
}

// ------------------------------------------------------------------ kernel

#[derive(Debug, Default)]
struct KernelResult {
    open: Duration,
    exchange: Duration,
    slab: [Slab; 3],
    /// `TCP inuse` in the client and server namespaces, and `mem`, per phase.
    inuse: [(u64, u64); 3],
    mem: [u64; 3],
}

/// A kernel listener with the same backlog as trust's.
fn kernel_listener(addr: Ipv4Addr) -> std::net::TcpListener {
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).expect("socket");
    setsockopt(&fd, sockopt::ReuseAddr, &true).unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(addr, PORT))).expect("bind");
    listen(&fd, Backlog::new(BACKLOG as i32).unwrap()).expect("listen");
    std::net::TcpListener::from(fd)
}

/// The kernel server, in a child process of its own (`--kernel-server`):
/// the open-file limit is per process and may not be raised (no
/// CAP_SYS_RESOURCE in a container), and the kernel run needs a
/// descriptor for each end of every connection. Enters namespace
/// `ns_name`, listens on `addr`, accepts `count` connections and says so
/// on stdout; on `EXCHANGE` from stdin answers one request on each, in
/// the order of the clients' ports; exits at `EXIT` or end of input.
fn kernel_server_child(ns_name: &str, addr: Ipv4Addr, count: usize) {
    let path = format!("/var/run/netns/{ns_name}");
    let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    setns(&ns, CloneFlags::CLONE_NEWNET).expect("setns");
    let listener = kernel_listener(addr);
    listener.set_nonblocking(true).unwrap();
    println!("LISTENING");
    let start = Instant::now();
    let mut servers = Vec::with_capacity(count);
    while servers.len() < count {
        assert!(
            start.elapsed() < limit(count),
            "kernel accepted {} of {count} connections in {:?}",
            servers.len(),
            start.elapsed()
        );
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(100u16)).expect("poll");
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
                    servers.push(s);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("kernel accept: {e}"),
            }
        }
    }
    println!("ACCEPTED");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("read stdin");
    if line.trim() == "EXCHANGE" {
        servers.sort_by_key(|s| s.peer_addr().unwrap());
        let mut buf = [0u8; MSG];
        for s in &servers {
            { s }.read_exact(&mut buf).expect("kernel server read");
            { s }.write_all(&[0xa5; MSG]).expect("kernel server write");
        }
        println!("DONE");
        line.clear();
        let _ = std::io::stdin().read_line(&mut line);
    }
}

fn kernel_run(count: usize) -> KernelResult {
    let path = LossyPath::new("sckern", "10.100.0.1/24", 0);
    path.tun_ns.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535"]);
    let peer = path.peer_addr();
    let stats = |r: &mut KernelResult, i: usize| {
        r.slab[i] = slab();
        let (c, mem) = path.tun_ns.run(sockstat);
        let (s, _) = path.peer_ns.run(sockstat);
        r.inuse[i] = (c, s);
        r.mem[i] = mem;
    };
    let args = ["--count", &count.to_string(), "--kernel-server", path.peer_ns.name(), &peer.to_string()];
    let mut server = ServerChild::spawn(&args.map(String::from));
    server.expect("LISTENING", Duration::from_secs(10));
    let mut r = KernelResult::default();
    stats(&mut r, 0);

    let start = Instant::now();
    let clients = clients(Some(&path.tun_ns), SocketAddr::V4(SocketAddrV4::new(peer, PORT)), count);
    server.expect("ACCEPTED", limit(count));
    let mut clients = clients.join().expect("clients panicked");
    r.open = start.elapsed();
    stats(&mut r, 1);

    clients.sort_by_key(|c| c.local_addr().unwrap());
    let t = Instant::now();
    server.say("EXCHANGE");
    let req = [0x5au8; MSG];
    let mut buf = [0u8; MSG];
    for batch in clients.chunks(EXCHANGE_BATCH) {
        for c in batch {
            { c }.write_all(&req).expect("client write");
        }
        for c in batch {
            { c }.read_exact(&mut buf).expect("client read");
            assert_eq!(buf, [0xa5; MSG], "wrong reply");
        }
    }
    r.exchange = t.elapsed();
    server.expect("DONE", Duration::from_secs(10));
    stats(&mut r, 2);
    server.say("EXIT");
    r
}

// ------------------------------------------------------------------ report

struct Row {
    name: String,
    open: Duration,
    cells: [f64; 4],
}

fn main() {
    let o = parse();
    if let Some(buffer) = o.child {
        println!("{}", result_line(&trust_child(o.count, buffer)));
        return;
    }
    if let Some((ns, addr)) = &o.kernel_server {
        return kernel_server_child(ns, *addr, o.count);
    }
    let n = o.count;
    // One end of every connection per process, plus spares.
    raise_nofile(n as u64 + 1024);
    println!(
        "scale: {n} concurrent connections from kernel TCP clients ({CLIENTS} threads of sequential \
         connects), held open, then {MSG} B each way on every one"
    );

    let kernel = kernel_run(n);
    let default_buffers = trust::tcp::TcpConfig::default().send_buffer;
    let trust = [
        (format!("trust, {} KiB buffers", default_buffers / 1024), trust_run(n, 0)),
        (format!("trust, {} KiB buffers", SMALL_BUFFER / 1024), trust_run(n, SMALL_BUFFER)),
    ];

    println!("\ntrust (TUN; reactor {}), user-space memory per connection:", trust[0].1.backend);
    println!(
        "{:<26} {:>9} {:>9} | {:>12} {:>12} | {:>12} {:>12} | {:>11}",
        "", "open", "conn/s", "idle RSS", "idle VmData", "+64B RSS", "+64B VmData", "exchange"
    );
    let mut rows = Vec::new();
    for (name, r) in &trust {
        let cells = [
            kib_per(r.idle.rss, r.before.rss, n),
            kib_per(r.idle.data, r.before.data, n),
            kib_per(r.after.rss, r.before.rss, n),
            kib_per(r.after.data, r.before.data, n),
        ];
        println!(
            "{name:<26} {:>7.0}ms {:>9.0} | {:>8.2} KiB {:>8.2} KiB | {:>8.2} KiB {:>8.2} KiB | {:>9.0}ms",
            r.open.as_secs_f64() * 1e3,
            n as f64 / r.open.as_secs_f64(),
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            r.exchange.as_secs_f64() * 1e3
        );
        if r.established != n {
            eprintln!("{name}: {} of {n} connections Established after the exchange", r.established);
        }
        if r.tun_dropped > 0 {
            eprintln!("{name}: the kernel dropped {} packets at the TUN's full queue", r.tun_dropped);
        }
        rows.push(Row { name: name.clone(), open: r.open, cells });
    }
    let client_slab = kib_per(trust[0].1.slab_idle.bytes, trust[0].1.slab_before.bytes, n);
    println!(
        "  (their kernel clients: slab +{client_slab:.2} KiB per socket, TCP objects +{})",
        trust[0].1.slab_idle.tcp_socks as i64 - trust[0].1.slab_before.tcp_socks as i64
    );

    let k = &kernel;
    let slab_idle = kib_per(k.slab[1].bytes, k.slab[0].bytes, n);
    let slab_after = kib_per(k.slab[2].bytes, k.slab[0].bytes, n);
    let mem_kib = |i: usize| (k.mem[i] as f64 - k.mem[0] as f64) * 4.0 / n as f64;
    println!("\nkernel → kernel (veth), kernel memory per connection (two sockets each):");
    println!(
        "{:<26} {:>7.0}ms {:>9.0} | slab {:>7.2} KiB ({:.2} per socket), sockstat mem {:>6.3} KiB | \
         after {MSG} B: slab {:.2} KiB, mem {:.3} KiB | exchange {:.0}ms",
        "kernel (veth)",
        k.open.as_secs_f64() * 1e3,
        n as f64 / k.open.as_secs_f64(),
        slab_idle,
        slab_idle / 2.0,
        mem_kib(1),
        slab_after,
        mem_kib(2),
        k.exchange.as_secs_f64() * 1e3
    );
    println!(
        "  TCP inuse client/server ns: {:?} -> {:?} -> {:?}; TCP slab objects {} -> {}",
        k.inuse[0], k.inuse[1], k.inuse[2], k.slab[0].tcp_socks, k.slab[1].tcp_socks
    );

    println!("\nratios (trust / kernel):");
    for row in &rows {
        println!(
            "  {:<26} open time {:.2}x;  idle memory per connection {:.2}x of a kernel socket, \
             after {MSG} B {:.2}x (trust RSS vs kernel slab per socket)",
            row.name,
            row.open.as_secs_f64() / k.open.as_secs_f64(),
            row.cells[0] / (slab_idle / 2.0),
            row.cells[2] / (slab_after / 2.0)
        );
    }

    if let Some(file) = &o.markdown {
        markdown(file, n, &rows, k, slab_idle, slab_after).expect("append the markdown table");
    }
}

fn markdown(file: &str, n: usize, rows: &[Row], k: &KernelResult, idle: f64, after: f64) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    writeln!(f, "\n#### scale: {n} concurrent connections from kernel clients\n")?;
    writeln!(
        f,
        "| server | open (ms) | conn/s | idle KiB/conn | after {MSG} B each way KiB/conn |\n|---|---:|---:|---:|---:|"
    )?;
    for r in rows {
        writeln!(
            f,
            "| {} (RSS; VmData) | {:.0} | {:.0} | {:.2}; {:.2} | {:.2}; {:.2} |",
            r.name,
            r.open.as_secs_f64() * 1e3,
            n as f64 / r.open.as_secs_f64(),
            r.cells[0],
            r.cells[1],
            r.cells[2],
            r.cells[3]
        )?;
    }
    writeln!(
        f,
        "| kernel over veth (slab per socket) | {:.0} | {:.0} | {:.2} | {:.2} |",
        k.open.as_secs_f64() * 1e3,
        n as f64 / k.open.as_secs_f64(),
        idle / 2.0,
        after / 2.0
    )
}
