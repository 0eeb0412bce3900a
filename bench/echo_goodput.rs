//! Echo goodput: one kernel TCP client streams `--bytes` through the
//! `echo_server` example (the real binary, run as a process with its own
//! flags) and reads the echo back at the same time, beside a kernel echo
//! server placed the same way, in the same run. The figure is the payload
//! echoed per second (one direction), from the first byte written to the
//! last byte read back.
//!
//! ```text
//! cargo bench --bench echo_goodput -- [--bytes N] [--runs N] [--timeout SECS] [--only ROW,...]
//!                                     [--quick] [--markdown FILE]
//! ```
//!
//! Every measurement gets namespaces of its own, created and removed by
//! this run (the root namespace is never touched):
//!
//! ```text
//!  C: kernel client ──veth── F: forwards (ip_forward=1) ──TUN── echo_server (a process in F)
//!                            └──veth── S: kernel echo server
//! ```
//!
//! so both servers are reached through the same forwarding hop. The veth
//! pairs keep their default offloads, except in the `kernel-plain` row.
//! The rows (`--only` takes their keys):
//!
//! - `trust`: `echo_server` with no extra flags, its defaults;
//! - `trust-plain`: `echo_server --no-offload` (MSS-sized packets with
//!   full checksums on the TUN). The flag must be in `echo_server --help`:
//!   if it is not, the run fails;
//! - `tokio`: `tokio_echo`, the same server as tokio tasks (feature
//!   `tokio`), at its defaults (the stack embedded, driven by a task of a
//!   current-thread runtime);
//! - `tokio-threaded`: `tokio_echo --threaded` (the reactor on its own
//!   thread, the tasks on a multi-threaded runtime);
//! - `trust-threaded`: `echo_server --threaded`, the reactor on a thread
//!   of its own as under `tokio_echo`;
//! - `kernel-tokio`: the same tokio server on kernel TCP in S, the
//!   baseline that says what tokio itself costs;
//! - `kernel`: a thread-per-connection echo server on kernel TCP in S;
//! - `kernel-plain`: the same with TSO, GSO and GRO off on both ends of
//!   the F-S veth pair, the kernel's counterpart of the plain TUN (the
//!   client's hop keeps its defaults in every row).
//!
//! `TRUST_OFFLOAD` is removed from `echo_server`'s environment, so that
//! its flags alone choose its mode; a trust row's label carries the mode
//! it reported when it started. Each run measures every row in turn, so
//! a drifting load hits them alike. The example is built with
//! `cargo build --release --example echo_server` before anything runs.
//!
//! The client writes a counter-based pattern (a pseudo-random byte per
//! stream offset, repeating every 65,521 bytes, a prime) on one thread and
//! checks every byte it reads back on another; the server must then close
//! its side. `--quick` is one run of 64 MiB. Every run is bounded by
//! `--timeout` (default 180 s) and fails, loudly, when it takes longer.

#[path = "child.rs"]
#[allow(dead_code)]
mod child;
#[path = "../examples/support/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netns::{LossyPath, Netns};

const PORT: u16 = 7;
/// The TUN device `echo_server` opens in F.
const TUN: &str = "egp0";
/// Kernel side of the TUN (in F) and trust's address.
const TUN_HOST: &str = "10.111.0.1/24";
const TRUST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 111, 0, 2);
/// The F-S veth pair.
const VETH_F: &str = "egps0";
const VETH_S: &str = "egps1";
const S_ADDR: Ipv4Addr = Ipv4Addr::new(10, 112, 0, 2);
/// The offloads the `kernel-plain` row turns off on the F-S pair.
const PLAIN_OFFLOADS: [&str; 3] = ["tso", "gso", "gro"];
/// Application write and read size.
const CHUNK: usize = 256 * 1024;
/// The pattern repeats every this many bytes (a prime: no MSS, chunk or
/// buffer size is a multiple of it).
const PERIOD: usize = 65_521;
/// How long a blocked read or write waits before the run's deadline is
/// checked again.
const POLL: Duration = Duration::from_secs(1);
/// How long a server has to start answering.
const START_LIMIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    /// This example (`echo_server` or `tokio_echo`) with these extra flags.
    Trust(&'static str, &'static [&'static str]),
    /// Kernel TCP in S; `false`: TSO, GSO and GRO off on the F-S pair;
    /// `tokio`: the server is tokio tasks, as `tokio_echo`'s, instead of a
    /// thread.
    Kernel { offloads: bool, tokio: bool },
}

struct Row {
    key: &'static str,
    label: &'static str,
    server: Server,
}

const ROWS: [Row; 8] = [
    Row { key: "trust", label: "trust `echo_server` (defaults)", server: Server::Trust("echo_server", &[]) },
    Row {
        key: "trust-plain",
        label: "trust `echo_server --no-offload`",
        server: Server::Trust("echo_server", &["--no-offload"]),
    },
    Row {
        key: "kernel",
        label: "kernel TCP (veth defaults)",
        server: Server::Kernel { offloads: true, tokio: false },
    },
    Row {
        key: "kernel-plain",
        label: "kernel TCP (F-S veth tso/gso/gro off)",
        server: Server::Kernel { offloads: false, tokio: false },
    },
    Row { key: "tokio", label: "trust `tokio_echo` (defaults)", server: Server::Trust("tokio_echo", &[]) },
    Row {
        key: "tokio-threaded",
        label: "trust `tokio_echo --threaded`",
        server: Server::Trust("tokio_echo", &["--threaded"]),
    },
    Row {
        key: "trust-threaded",
        label: "trust `echo_server --threaded`",
        server: Server::Trust("echo_server", &["--threaded"]),
    },
    Row {
        key: "kernel-tokio",
        label: "kernel TCP, tokio tasks (veth defaults)",
        server: Server::Kernel { offloads: true, tokio: true },
    },
];
const TRUST: usize = 0;
const TRUST_PLAIN: usize = 1;
const KERNEL: usize = 2;
const KERNEL_PLAIN: usize = 3;
const TOKIO: usize = 4;
const TOKIO_THREADED: usize = 5;
const TRUST_THREADED: usize = 6;
const KERNEL_TOKIO: usize = 7;

struct Opts {
    bytes: u64,
    runs: usize,
    timeout: Duration,
    only: Option<Vec<String>>,
    markdown: Option<String>,
}

fn parse() -> Opts {
    let mut o =
        Opts { bytes: 1 << 30, runs: 5, timeout: Duration::from_secs(180), only: None, markdown: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).expect("flag needs a number");
        match a.as_str() {
            "--bytes" => o.bytes = num(),
            "--runs" => o.runs = num() as usize,
            "--timeout" => o.timeout = Duration::from_secs(num()),
            "--quick" => {
                o.bytes = 64 << 20;
                o.runs = 1;
            }
            "--only" => {
                let keys: Vec<String> =
                    it.next().expect("--only needs row keys").split(',').map(str::to_string).collect();
                for k in &keys {
                    assert!(ROWS.iter().any(|r| r.key == k), "--only: no row `{k}` (rows: {})", keys_list());
                }
                o.only = Some(keys);
            }
            "--markdown" => o.markdown = Some(it.next().expect("--markdown needs a file name")),
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(o.bytes > 0 && o.runs > 0, "--bytes and --runs must be positive");
    o
}

fn keys_list() -> String {
    ROWS.iter().map(|r| r.key).collect::<Vec<_>>().join(", ")
}

// ------------------------------------------------------------------ topology

/// C, F and S (see the module docs), joined and routed.
struct Topology {
    /// F is `tun_ns`, C is `peer_ns` (default route via F).
    path: LossyPath,
    s: Netns,
}

impl Topology {
    fn new() -> Topology {
        let path = LossyPath::new("egp", TUN_HOST, 0);
        let s = Netns::new("egps");
        path.tun_ns.veth(VETH_F, "10.112.0.1/24", &s, VETH_S, &format!("{S_ADDR}/24"));
        s.exec(&["ip", "route", "add", "default", "via", "10.112.0.1"]);
        Topology { path, s }
    }

    fn f(&self) -> &Netns {
        &self.path.tun_ns
    }

    fn c(&self) -> &Netns {
        &self.path.peer_ns
    }
}

// ------------------------------------------------------------------ servers

/// Builds the examples and returns the directory they are in, beside
/// this benchmark's binary (`target/release/deps/..` ->
/// `target/release/examples/`).
fn build_examples() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(&cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--release", "--example", "echo_server", "--example", "tokio_echo"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run `{cargo} build`: {e}"));
    assert!(status.success(), "`cargo build --release --example echo_server --example tokio_echo` failed");
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/release").join("examples");
    for name in ["echo_server", "tokio_echo"] {
        assert!(dir.join(name).is_file(), "no {name} in {} after building it", dir.display());
    }
    dir
}

/// Fails unless the example's `--help` lists every flag a row passes.
fn check_flags(dir: &Path, rows: &[usize]) {
    for &i in rows {
        let Server::Trust(name, flags) = ROWS[i].server else { continue };
        let out = Command::new(dir.join(name)).arg("--help").output().expect("run the example's --help");
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in flags.iter().filter(|f| f.starts_with("--")) {
            assert!(
                help.split(|c: char| c.is_whitespace() || c == '[' || c == ']').any(|w| w == *flag),
                "{name} does not accept {flag}, which row `{}` needs; its --help says:\n{help}",
                ROWS[i].key
            );
        }
    }
}

/// The `echo_server` process in F, killed on drop.
struct EchoServer {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl EchoServer {
    fn spawn(bin: &PathBuf, f: &Netns, flags: &[&str]) -> EchoServer {
        let mut child = Command::new("ip")
            .args(["netns", "exec", f.name()])
            .arg(bin)
            .args(["--tun", TUN, "--addr", &TRUST_ADDR.to_string(), "--host", TUN_HOST])
            .args(["--port", &PORT.to_string()])
            .args(flags)
            .env_remove("TRUST_OFFLOAD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn echo_server in {}: {e}", f.name()));
        let stderr = child::line_channel(child.stderr.take().expect("echo_server stderr"));
        EchoServer { child, stderr }
    }

    /// Fails, with what it printed, if the process has exited.
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            std::thread::sleep(Duration::from_millis(50));
            let said: Vec<String> = self.stderr.try_iter().collect();
            panic!("echo_server exited ({status}) before the run ended:\n{}", said.join("\n"));
        }
    }

    /// Its startup line (the mode it runs in), once it has printed it.
    fn mode(&self) -> Option<String> {
        let mut mode = None;
        for line in self.stderr.try_iter() {
            match line.split_once(" on ").and_then(|(_, rest)| rest.split_once('(')) {
                Some((_, m)) if mode.is_none() => mode = Some(m.trim_end_matches(')').to_string()),
                _ => eprintln!("{line}"),
            }
        }
        mode
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for line in self.stderr.try_iter() {
            eprintln!("{line}");
        }
    }
}

/// A kernel echo server for one connection, on its own thread: echoes
/// until the client closes, then closes. Returns the bytes echoed.
fn kernel_echo(listener: TcpListener, limit: Duration) -> std::thread::JoinHandle<Result<u64, String>> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut s = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(format!("kernel server: accept: {e}")),
            }
        };
        s.set_nonblocking(false).and_then(|()| s.set_read_timeout(Some(limit))).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(limit)).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; CHUNK];
        let mut echoed = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok(echoed),
                Ok(n) => {
                    s.write_all(&buf[..n]).map_err(|e| format!("kernel server: write: {e}"))?;
                    echoed += n as u64;
                }
                Err(e) => return Err(format!("kernel server: read: {e} after {echoed} bytes")),
            }
        }
    })
}

/// The kernel server as `tokio_echo` writes it: a multi-threaded tokio
/// runtime, a task for the connection, 64 KiB reads, `write_all`.
fn kernel_tokio_echo(listener: TcpListener, limit: Duration) -> std::thread::JoinHandle<Result<u64, String>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    std::thread::spawn(move || {
        let rt =
            tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async move {
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            let accepted = tokio::time::timeout(limit, listener.accept()).await;
            let (mut s, _) = accepted
                .map_err(|_| "kernel tokio server: no connection".to_string())?
                .map_err(|e| e.to_string())?;
            let echo = async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut echoed = 0u64;
                loop {
                    let n = s.read(&mut buf).await.map_err(|e| format!("kernel tokio server: read: {e}"))?;
                    if n == 0 {
                        return Ok(echoed);
                    }
                    s.write_all(&buf[..n]).await.map_err(|e| format!("kernel tokio server: write: {e}"))?;
                    echoed += n as u64;
                }
            };
            tokio::time::timeout(limit, tokio::spawn(echo))
                .await
                .map_err(|_| "kernel tokio server: timed out".to_string())?
                .map_err(|e| e.to_string())?
        })
    })
}

// ------------------------------------------------------------------ client

/// Connects from C to `addr`, retrying (for at most [`START_LIMIT`])
/// while the server starts; `alive` fails the run if the server died.
fn connect_from(c: &Netns, addr: SocketAddrV4, mut alive: impl FnMut()) -> TcpStream {
    let t = Instant::now();
    loop {
        alive();
        let r = c.run(move || TcpStream::connect_timeout(&addr.into(), Duration::from_millis(500)));
        match r {
            Ok(s) => return s,
            Err(e) if t.elapsed() > START_LIMIT => {
                panic!("{addr} did not answer within {START_LIMIT:?}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn pattern_byte(i: usize) -> u8 {
    ((i as u32).wrapping_mul(0x9e37_79b1) >> 24) as u8
}

/// [`PERIOD`] bytes of pattern and a [`CHUNK`] more, so that the bytes at
/// any stream offset `o` (up to a chunk) are `p[o % PERIOD..]`.
fn pattern() -> Vec<u8> {
    (0..PERIOD + CHUNK).map(|i| pattern_byte(i % PERIOD)).collect()
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// Writes `bytes` of the pattern, then shuts down the sending half.
/// Returns when the first byte was written.
fn write_side(s: &TcpStream, bytes: u64, deadline: Instant) -> Result<Instant, String> {
    let p = pattern();
    let mut sent = 0u64;
    let mut start = None;
    while sent < bytes {
        if Instant::now() > deadline {
            return Err(format!("writer: out of time with {sent} of {bytes} bytes sent"));
        }
        let off = (sent % PERIOD as u64) as usize;
        let n = (bytes - sent).min(CHUNK as u64) as usize;
        start.get_or_insert_with(Instant::now);
        match { s }.write(&p[off..off + n]) {
            Ok(0) => return Err(format!("writer: write returned 0 after {sent} bytes")),
            Ok(k) => sent += k as u64,
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(format!("writer: {e} after {sent} bytes")),
        }
    }
    s.shutdown(Shutdown::Write).map_err(|e| format!("writer: shutdown: {e}"))?;
    Ok(start.unwrap_or_else(Instant::now))
}

/// Reads `bytes` back, checking each against the pattern, then expects
/// the server's FIN. Returns when the last byte arrived.
fn read_side(s: &TcpStream, bytes: u64, deadline: Instant) -> Result<Instant, String> {
    let p = pattern();
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    let mut end = Instant::now();
    loop {
        if Instant::now() > deadline {
            return Err(format!("reader: out of time with {got} of {bytes} bytes echoed"));
        }
        let want = if got < bytes { (bytes - got).min(CHUNK as u64) as usize } else { CHUNK };
        match { s }.read(&mut buf[..want]) {
            Ok(0) if got == bytes => return Ok(end),
            Ok(0) => return Err(format!("reader: the server closed after {got} of {bytes} bytes")),
            Ok(_) if got == bytes => return Err(format!("reader: bytes beyond the {bytes} sent")),
            Ok(n) => {
                let off = (got % PERIOD as u64) as usize;
                if buf[..n] != p[off..off + n] {
                    let i = (0..n).find(|&i| buf[i] != p[off + i]).unwrap_or(0);
                    return Err(format!("reader: wrong byte at stream offset {}", got + i as u64));
                }
                got += n as u64;
                end = Instant::now();
            }
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(format!("reader: {e} after {got} bytes")),
        }
    }
}

/// One connection: a writer and a reader thread on clones of `s`. Returns
/// the time from the first byte written to the last byte read back.
fn echo_through(s: TcpStream, bytes: u64, limit: Duration) -> Duration {
    let deadline = Instant::now() + limit;
    s.set_read_timeout(Some(POLL)).and_then(|()| s.set_write_timeout(Some(POLL))).expect("socket timeouts");
    let (w, r) = (s.try_clone().expect("clone"), s.try_clone().expect("clone"));
    // A side that fails shuts the socket down, so that the other one
    // stops too instead of waiting for the deadline.
    let side = |f: fn(&TcpStream, u64, Instant) -> Result<Instant, String>, sock: TcpStream| {
        std::thread::spawn(move || {
            let r = f(&sock, bytes, deadline);
            if r.is_err() {
                let _ = sock.shutdown(Shutdown::Both);
            }
            r
        })
    };
    let (writer, reader) = (side(write_side, w), side(read_side, r));
    let (start, end) = (writer.join().expect("writer thread"), reader.join().expect("reader thread"));
    match (start, end) {
        (Ok(start), Ok(end)) => end - start,
        (start, end) => panic!("echo of {bytes} bytes failed: {:?} / {:?}", start.err(), end.err()),
    }
}

// ------------------------------------------------------------------ runs

/// One run of row `i` in a topology of its own: Gbit/s echoed, and the
/// mode `echo_server` reported.
fn run_row(i: usize, dir: &Path, o: &Opts) -> (f64, Option<String>) {
    let topo = Topology::new();
    let (d, mode) = match ROWS[i].server {
        Server::Trust(name, flags) => {
            let mut server = EchoServer::spawn(&dir.join(name), topo.f(), flags);
            let s = connect_from(topo.c(), SocketAddrV4::new(TRUST_ADDR, PORT), || server.check_alive());
            let d = echo_through(s, o.bytes, o.timeout);
            server.check_alive();
            (d, server.mode())
        }
        Server::Kernel { offloads, tokio } => {
            if !offloads {
                topo.f().offloads_off(VETH_F, &PLAIN_OFFLOADS);
                topo.s.offloads_off(VETH_S, &PLAIN_OFFLOADS);
            }
            let listener = topo.s.run(|| TcpListener::bind((S_ADDR, PORT)).expect("kernel server: bind"));
            let server =
                if tokio { kernel_tokio_echo(listener, o.timeout) } else { kernel_echo(listener, o.timeout) };
            let s = connect_from(topo.c(), SocketAddrV4::new(S_ADDR, PORT), || {});
            let d = echo_through(s, o.bytes, o.timeout);
            let echoed = server.join().expect("kernel server thread").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(echoed, o.bytes, "the kernel server echoed {echoed} of {} bytes", o.bytes);
            (d, None)
        }
    };
    (o.bytes as f64 * 8.0 / d.as_secs_f64() / 1e9, mode)
}

fn load_average() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split_whitespace().next().unwrap_or("unknown").to_string()
}

/// A row's figures: (min, median, max) Gbit/s.
type Spread = (f64, f64, f64);

fn ratio(a: Option<Spread>, b: Option<Spread>) -> Option<f64> {
    Some(a?.1 / b?.1)
}

/// The table (Markdown, also printed) and the ratio lines.
fn report(stats: &[Option<Spread>], modes: &[Option<String>]) -> (String, Vec<String>) {
    let mut table = String::from(
        "| server | min | median | max (Gbit/s echoed) | median / kernel |\n|---|---:|---:|---:|---:|\n",
    );
    for (i, row) in ROWS.iter().enumerate() {
        let Some((lo, med, hi)) = stats[i] else { continue };
        let label = match &modes[i] {
            Some(m) => format!("{} [{m}]", row.label),
            None => row.label.to_string(),
        };
        let vs = match ratio(stats[i], stats[KERNEL]) {
            Some(r) if i != KERNEL => format!("{r:.2}x"),
            _ => "-".to_string(),
        };
        table += &format!("| {label} | {lo:.2} | {med:.2} | {hi:.2} | {vs} |\n");
    }
    let mut lines = Vec::new();
    let pairs = [
        (TRUST_PLAIN, TRUST, "trust --no-offload / trust defaults"),
        (TRUST_PLAIN, KERNEL_PLAIN, "trust --no-offload / kernel with F-S offloads off"),
        (KERNEL_PLAIN, KERNEL, "kernel with F-S offloads off / kernel defaults"),
        (TOKIO, TRUST, "tokio_echo / echo_server (defaults)"),
        (TOKIO_THREADED, TRUST_THREADED, "tokio_echo --threaded / echo_server --threaded"),
        (TOKIO, KERNEL_TOKIO, "tokio_echo / tokio on kernel TCP"),
        (KERNEL_TOKIO, KERNEL, "tokio on kernel TCP / a thread on kernel TCP"),
    ];
    for (a, b, name) in pairs {
        if let Some(r) = ratio(stats[a], stats[b]) {
            lines.push(format!("{name}: {r:.2}x (medians)"));
        }
    }
    (table, lines)
}

fn main() {
    let o = parse();
    let rows: Vec<usize> = (0..ROWS.len())
        .filter(|&i| o.only.as_ref().is_none_or(|keys| keys.iter().any(|k| k == ROWS[i].key)))
        .collect();
    if rows.contains(&KERNEL_PLAIN) && Command::new("ethtool").arg("--version").output().is_err() {
        panic!("echo_goodput needs `ethtool` for the kernel-plain row (or leave it out with --only)");
    }
    let dir = build_examples();
    check_flags(&dir, &rows);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_before = load_average();
    println!(
        "echo goodput: 1 connection, {} MiB echoed per run, {} run(s), {cpus} CPUs, load average {load_before}; \
         C -> F (forwards) -> TUN (echo_server in F) or -> veth -> S (kernel)",
        o.bytes >> 20,
        o.runs
    );
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); ROWS.len()];
    let mut modes: Vec<Option<String>> = vec![None; ROWS.len()];
    for run in 0..o.runs {
        let mut line = Vec::new();
        for &i in &rows {
            let (gbits, mode) = run_row(i, &dir, &o);
            figures[i].push(gbits);
            if modes[i].is_none() {
                modes[i] = mode;
            }
            line.push(format!("{} {gbits:.2}", ROWS[i].key));
        }
        println!("run {}: {} Gbit/s", run + 1, line.join(", "));
    }
    let load_after = load_average();
    let stats: Vec<Option<Spread>> = figures.iter_mut().map(|f| measure::spread(f)).collect();
    let (table, lines) = report(&stats, &modes);
    println!("\n{table}");
    for l in &lines {
        println!("{l}");
    }
    println!("load average {load_before} before, {load_after} after");
    if let Some(file) = &o.markdown {
        let md = format!(
            "### Echo goodput (1 connection, {} MiB echoed, median of {} run(s), Gbit/s)\n\n{table}\n{}\n\n\
             Client in namespace C, forwarded by F to trust's TUN (`echo_server` in F) or over veth to a kernel \
             echo server in S; load average {load_before} before, {load_after} after. \
             `cargo bench --bench echo_goodput -- --bytes {} --runs {}`.\n\n",
            o.bytes >> 20,
            o.runs,
            lines.join("; "),
            o.bytes,
            o.runs
        );
        measure::append_markdown(file, &md).unwrap_or_else(|e| panic!("cannot append to {file}: {e}"));
        println!("Markdown section appended to {file}");
    }
}
