//! Bulk throughput with kernel TCP as the peer, both directions, beside the
//! baselines issue 4 compares against, all measured in the same run:
//!
//! - trust over a TUN device (the kernel's side at 10.93.0.1/24, trust at .2);
//! - smoltcp over a TUN device, same layout (10.95.0.1/24, smoltcp at .2),
//!   driven by a minimal poll loop (`throughput/smol.rs`);
//! - kernel → kernel over a veth pair between two namespaces, MTU 1500, with
//!   every offload off (`ethtool -K tso gso gro tx rx off` on both ends) and
//!   with the default offloads.
//!
//! "Receives" is a kernel client writing N bytes to the stack under test,
//! which reads and discards them; "sends" is the stack writing N bytes to a
//! kernel server. For kernel → kernel the two rows swap which namespace sends.
//! Every case has its own namespaces, created and removed by this run.
//!
//! ```text
//! cargo bench --bench tun_throughput -- [--bytes N] [--runs R] [--buffer B] [--quick]
//!     [--only CASE] [--markdown FILE] [--strict] [--lend]
//! ```
//!
//! Prints min/median/max Gbit/s per case and direction, the ratio of trust's
//! median to each baseline's, and whether issue 4's target (trust at or above
//! smoltcp in both directions) is met. `--quick` is one run of 64 MiB;
//! `--only` runs one case (`rx`, `tx`, `smoltcp-rx`, `smoltcp-tx`,
//! `kernel-rx`, `kernel-tx`, `kernel-off-rx`, `kernel-off-tx`, or a prefix
//! such as `kernel`) and prints each run; `--markdown FILE` also writes the
//! table, with the machine and date, as Markdown; `--strict` exits non-zero
//! when the target is missed; `--lend` makes trust's reader consume the
//! bytes where they lie (`TcpStream::read_with`) instead of copying them out
//! with `read` (the kernel's readers still copy). Needs root (namespaces, TUN) and `ethtool`.

#[path = "../examples/support/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "../tests/common/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "throughput/report.rs"]
mod report;
#[path = "throughput/smol.rs"]
mod smol;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use netns::{LossyPath, Netns};
use report::{Case, Dir, Results};
use trust::api::{Config, Interface, TcpListener, TcpStream};
use trust::device::tun::TunConfig;

/// Application read and write size.
pub const CHUNK: usize = 1 << 20;
/// Bound on every blocking step: accept, each read and write, a whole
/// smoltcp transfer.
pub const TIMEOUT: Duration = Duration::from_secs(120);
/// The MTU of every link in every case.
pub const MTU: usize = 1500;

pub struct Opts {
    pub bytes: u64,
    pub runs: usize,
    pub buffer: usize,
    /// Run only the cases whose name starts with this (for profiling).
    only: Option<String>,
    markdown: Option<String>,
    strict: bool,
    /// trust's reader uses `read_with` instead of `read`.
    lend: bool,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            bytes: 1 << 30,
            runs: 5,
            buffer: 1 << 20,
            only: None,
            markdown: None,
            strict: false,
            lend: false,
        }
    }
}

fn parse() -> Opts {
    let mut o = Opts::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).expect("flag needs a number");
        match a.as_str() {
            "--bytes" => o.bytes = num(),
            "--runs" => o.runs = num() as usize,
            "--buffer" => o.buffer = num() as usize,
            "--only" => o.only = it.next(),
            "--markdown" => o.markdown = Some(it.next().expect("--markdown needs a file name")),
            "--strict" => o.strict = true,
            "--lend" => o.lend = true,
            "--quick" => {
                o.bytes = 64 << 20;
                o.runs = 1;
            }
            _ => {} // cargo bench passes --bench
        }
    }
    assert!(o.runs > 0 && o.bytes > 0, "--runs and --bytes must be positive");
    o
}

/// Reads until EOF, returning the byte count.
pub fn sink(mut r: impl Read) -> u64 {
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

/// [`sink`] for a trust stream that lends its bytes instead of copying
/// them out.
fn sink_lent(s: &TcpStream) -> u64 {
    let mut total = 0u64;
    loop {
        match s.read_with(|a, b| (a.len() + b.len(), a.len() + b.len())) {
            Ok(0) => return total,
            Ok(n) => total += n as u64,
            Err(e) => panic!("sink: {e} after {total} bytes"),
        }
    }
}

/// The bytes every writer sends, `CHUNK` at a time.
pub fn pattern() -> Vec<u8> {
    (0..CHUNK).map(|i| (i * 7 + 3) as u8).collect()
}

/// Writes `bytes` bytes.
pub fn source(mut w: impl Write, bytes: u64) {
    let buf = pattern();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        w.write_all(&buf[..n]).unwrap_or_else(|e| panic!("source: {e} with {left} bytes left"));
        left -= n as u64;
    }
}

/// Calls a non-blocking `accept` until it yields, for at most [`TIMEOUT`].
pub fn accept_within<T>(what: &str, mut accept: impl FnMut() -> io::Result<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match accept() {
            Ok(t) => return t,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(50))
            }
            Err(e) => panic!("{what}: accept: {e}"),
        }
    }
}

/// A kernel server: accepts one connection on `listener` within [`TIMEOUT`]
/// and reads it to EOF. Returns the byte count and when EOF came.
pub fn kernel_sink(listener: std::net::TcpListener) -> (u64, Instant) {
    listener.set_nonblocking(true).unwrap();
    let (c, _) = accept_within("kernel server", || listener.accept());
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    let n = sink(&c);
    (n, Instant::now())
}

/// A kernel client: connects to `addr` and writes `bytes` bytes, then shuts
/// down its sending half.
pub fn kernel_source(addr: SocketAddrV4, bytes: u64) {
    let c = std::net::TcpStream::connect_timeout(&addr.into(), TIMEOUT)
        .unwrap_or_else(|e| panic!("kernel client: connect {addr}: {e}"));
    c.set_write_timeout(Some(TIMEOUT)).unwrap();
    source(&c, bytes);
    c.shutdown(std::net::Shutdown::Write).unwrap();
}

fn trust_config(buffer: usize) -> Config {
    let mut tun = TunConfig::new("tput0");
    tun.host = Some((Ipv4Addr::new(10, 93, 0, 1), 24));
    tun.mtu = Some(MTU);
    let mut cfg = Config::new(tun, Ipv4Addr::new(10, 93, 0, 2));
    // The TUN offloads are on by default; `TRUST_OFFLOAD=0` turns them off
    // for a plain run.
    cfg.apply_env().expect("TRUST_* variables");
    cfg.tcp.send_buffer = buffer;
    cfg.tcp.recv_buffer = buffer;
    cfg
}

/// CPU seconds (user + system) this process has used, from
/// `/proc/self/stat` (in units of USER_HZ, 100 per second on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name in parentheses come `state` (field 3) and the
    // rest; utime and stime are fields 14 and 15 (proc(5)).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (field(14) + field(15)) as f64 / 100.0
}

/// trust's interface: driven by the application's threads (blocking
/// calls turn the loop while they wait), or with its own reactor thread.
fn trust_interface(buffer: usize, threaded: bool) -> Interface {
    let cfg = trust_config(buffer);
    if threaded { Interface::open(cfg) } else { Interface::open_embedded(cfg) }.expect("interface")
}

/// kernel → trust: a kernel client writes, a trust server reads.
fn trust_receives(o: &Opts, threaded: bool) -> Duration {
    let ns = Netns::new("tputrx");
    let (bytes, buffer, lend) = (o.bytes, o.buffer, o.lend);
    let iface = std::sync::Arc::new(ns.run(move || trust_interface(buffer, threaded)));
    let listener = TcpListener::bind(&iface, 5001).unwrap();
    listener.set_nonblocking(true).unwrap();
    let driver = iface.clone();
    let server = std::thread::spawn(move || {
        let (c, _) = accept_within("trust server", || {
            // An embedded interface needs this thread to turn its loop; a
            // threaded one says InvalidInput and turns its own.
            let _ = driver.run_once(Some(Duration::from_millis(1)));
            listener.accept()
        });
        c.set_nonblocking(false).unwrap();
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        if lend { sink_lent(&c) } else { sink(&c) }
    });
    let start = ns.run(move || {
        let start = Instant::now();
        kernel_source(SocketAddrV4::new(Ipv4Addr::new(10, 93, 0, 2), 5001), bytes);
        start
    });
    assert_eq!(server.join().unwrap(), bytes);
    start.elapsed()
}

/// trust → kernel: a trust client writes, a kernel server reads.
fn trust_sends(o: &Opts, threaded: bool) -> Duration {
    let ns = Netns::new("tputtx");
    let (bytes, buffer) = (o.bytes, o.buffer);
    ns.run(move || {
        let iface = trust_interface(buffer, threaded);
        let listener = std::net::TcpListener::bind("10.93.0.1:5002").unwrap();
        let server = std::thread::spawn(move || kernel_sink(listener));
        let start = Instant::now();
        let peer = SocketAddrV4::new(Ipv4Addr::new(10, 93, 0, 1), 5002);
        let c = TcpStream::connect_timeout(&iface, &peer.into(), TIMEOUT).unwrap();
        c.set_write_timeout(Some(TIMEOUT)).unwrap();
        source(&c, bytes);
        c.shutdown(std::net::Shutdown::Write).unwrap();
        // Until the peer has everything (an embedded interface is driven
        // by this wait).
        assert!(iface.drain(TIMEOUT).unwrap(), "trust client: not acknowledged within {TIMEOUT:?}");
        let (n, end) = server.join().unwrap();
        assert_eq!(n, bytes);
        end - start
    })
}

/// Turns every offload off on the namespace's veth end, and checks that
/// the ones that matter are off.
fn offloads_off(ns: &Netns) {
    let links = ns.exec(&["ip", "-o", "link", "show", "type", "veth"]);
    let dev = links
        .split(": ")
        .nth(1)
        .and_then(|name| name.split('@').next())
        .unwrap_or_else(|| panic!("no veth device in {}:\n{links}", ns.name()))
        .to_string();
    ns.exec(&["ethtool", "-K", &dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off"]);
    let features = ns.exec(&["ethtool", "-k", &dev]);
    for f in [
        "tcp-segmentation-offload",
        "generic-segmentation-offload",
        "generic-receive-offload",
        "tx-checksumming",
        "rx-checksumming",
    ] {
        assert!(features.contains(&format!("{f}: off")), "ethtool left {f} on for {dev}:\n{features}");
    }
}

/// kernel → kernel over a veth pair between two namespaces, MTU 1500, with
/// the default offloads or with all of them off. `dir` says which side
/// sends: `Sends`, from the namespace that would hold a TUN to the peer's;
/// `Receives`, the other way.
fn kernel_veth(o: &Opts, offloads: bool, dir: Dir) -> Duration {
    let path = LossyPath::new(if offloads { "tputk" } else { "tputko" }, "10.94.0.1/24", 0);
    if !offloads {
        offloads_off(&path.tun_ns);
        offloads_off(&path.peer_ns);
    }
    let peer = path.peer_addr();
    let [a, b, c, _] = peer.octets();
    let near = Ipv4Addr::new(a, b, c, 1);
    let (server_ns, client_ns, server_addr) = match dir {
        Dir::Sends => (&path.peer_ns, &path.tun_ns, peer),
        Dir::Receives => (&path.tun_ns, &path.peer_ns, near),
    };
    let listener = server_ns.run(move || std::net::TcpListener::bind((server_addr, 5003)).unwrap());
    let server = std::thread::spawn(move || kernel_sink(listener));
    let bytes = o.bytes;
    let start = client_ns.run(move || {
        let start = Instant::now();
        kernel_source(SocketAddrV4::new(server_addr, 5003), bytes);
        start
    });
    let (n, end) = server.join().unwrap();
    assert_eq!(n, bytes);
    end - start
}

fn main() {
    let o = parse();
    if std::process::Command::new("ethtool").arg("--version").output().is_err() {
        panic!("tun_throughput needs `ethtool` (apt-get install ethtool) to turn veth offloads off");
    }
    println!(
        "TUN throughput: {} MiB per run, {} run(s), {} KiB socket buffers (trust and smoltcp), MTU {MTU}; \
         trust embedded and with a reactor thread",
        o.bytes >> 20,
        o.runs,
        o.buffer >> 10
    );
    let load_before = report::load_average();
    println!("{}; load average {load_before}", report::machine());
    let wants = |case: &str| o.only.as_deref().is_none_or(|only| case.starts_with(only));
    let mut results = Results::default();
    for run in 0..o.runs {
        for dir in [Dir::Receives, Dir::Sends] {
            for case in Case::ALL {
                let name = case.name(dir);
                if !wants(&name) {
                    continue;
                }
                let cpu_before = cpu_seconds();
                let d = match case {
                    Case::Trust | Case::TrustThreaded => {
                        let threaded = case == Case::TrustThreaded;
                        match dir {
                            Dir::Receives => trust_receives(&o, threaded),
                            Dir::Sends => trust_sends(&o, threaded),
                        }
                    }
                    Case::Smoltcp => smol::transfer(&o, dir, run),
                    Case::KernelOffloadsOff => kernel_veth(&o, false, dir),
                    Case::Kernel => kernel_veth(&o, true, dir),
                };
                if o.only.is_some() {
                    println!("{name}: {:.2} Gbit/s", report::gbits(o.bytes, d));
                }
                results.add(case, dir, d, cpu_seconds() - cpu_before);
            }
        }
    }
    let load_after = report::load_average();
    let table = results.table(o.bytes);
    println!(
        "\nGbit/s, median (min-max) of {} run(s); ratios are of medians (load average now {load_after})\n",
        o.runs
    );
    print!("{}", table.text());
    let verdict = results.verdict();
    for line in &verdict.lines {
        println!("{line}");
    }
    let cpu = results.cpu_lines(o.bytes);
    println!("CPU seconds per GiB (median; this process, both ends):");
    for line in &cpu {
        println!("  {line}");
    }
    if let Some(file) = &o.markdown {
        let md = table.markdown(&o, &verdict.lines, &cpu, (&load_before, &load_after));
        measure::append_markdown(file, &md).unwrap_or_else(|e| panic!("cannot append to {file}: {e}"));
        println!("Markdown table appended to {file}");
    }
    if o.strict && verdict.missed {
        std::process::exit(1);
    }
}
