//! Network namespaces for tests against the kernel's own TCP/IP.
//!
//! Each [`Netns`] is a fresh namespace, deleted on drop. Code that must live
//! in it (a TUN device, `std::net` sockets) runs on a thread that entered
//! it with `setns(2)`: [`Netns::spawn`] and [`Netns::run`]. The calling
//! thread never changes namespace.
//!
//! [`LossyPath`] is the layout for real loss in both directions: the kernel
//! peer sits in its own namespace, joined by a veth pair to the namespace
//! that holds the TUN, which forwards between them and drops a share of the
//! forwarded packets with nft. Dropping in the sending kernel's own output
//! path would not be loss: TCP sees a local error and a whole GSO
//! super-segment vanishes without retransmission.
//!
//! These helpers need root. They panic, loudly, when they cannot do their
//! work: a test that cannot build its network fails, it never skips.

use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace of its own, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `trust-<tag>-<pid>-<n>` (tag truncated to keep the name short)
    /// and brings its loopback up.
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag.chars().filter(char::is_ascii_alphanumeric).take(10).collect();
        let name = format!("trust-{tag}-{}-{n}", std::process::id());
        run_cmd(&["ip", "netns", "add", &name], "create a network namespace");
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip netns exec NAME args...`; panics unless it succeeds.
    /// Returns its standard output.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run_cmd(&full, &format!("run a command in namespace {}", self.name))
    }

    /// Runs `f` on a new thread inside this namespace.
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.name);
        let ns = File::open(&path).unwrap_or_else(|e| panic!("NETNS: cannot open {path}: {e}"));
        std::thread::Builder::new()
            .name(format!("in-{}", self.name))
            .spawn(move || {
                setns(&ns, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| {
                    panic!("NETNS: setns({path}, CLONE_NEWNET) failed: {e} (needs root)")
                });
                drop(ns);
                f()
            })
            .unwrap_or_else(|e| panic!("NETNS: cannot spawn a thread: {e}"))
    }

    /// Runs `f` inside this namespace and waits for it; its panic is ours.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Joins this namespace to `other` by a veth pair: `dev` here with
    /// address `cidr` (like `10.78.1.1/24`), `other_dev` there with
    /// `other_cidr`; both ends up.
    pub fn veth(&self, dev: &str, cidr: &str, other: &Netns, other_dev: &str, other_cidr: &str) {
        self.exec(&["ip", "link", "add", dev, "type", "veth", "peer", "name", other_dev]);
        self.exec(&["ip", "link", "set", other_dev, "netns", other.name()]);
        self.exec(&["ip", "addr", "add", cidr, "dev", dev]);
        self.exec(&["ip", "link", "set", dev, "up"]);
        other.exec(&["ip", "addr", "add", other_cidr, "dev", other_dev]);
        other.exec(&["ip", "link", "set", other_dev, "up"]);
    }

    /// Turns `features` off on `dev` with `ethtool -K` (short names: `tso`,
    /// `gso`, `gro`, `tx`, `rx`) and checks that `ethtool -k` reports each
    /// one off. Needs `ethtool`.
    pub fn offloads_off(&self, dev: &str, features: &[&str]) {
        let mut args = vec!["ethtool", "-K", dev];
        args.extend(features.iter().flat_map(|f| [*f, "off"]));
        self.exec(&args);
        let listing = self.exec(&["ethtool", "-k", dev]);
        for f in features {
            let long = match *f {
                "tso" => "tcp-segmentation-offload",
                "gso" => "generic-segmentation-offload",
                "gro" => "generic-receive-offload",
                "tx" => "tx-checksumming",
                "rx" => "rx-checksumming",
                other => panic!("NETNS: offloads_off does not know the feature `{other}`"),
            };
            assert!(
                listing.contains(&format!("{long}: off")),
                "ethtool left {long} on for {dev}:\n{listing}"
            );
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        match Command::new("ip").args(["netns", "del", &self.name]).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "NETNS: `ip netns del {}` failed ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("NETNS: cannot run `ip netns del {}`: {e}", self.name),
        }
    }
}

static PATH_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Name of the veth end in the TUN's namespace, and of the nft table and chain.
pub const VETH_TUN: &str = "lossy0";
/// Name of the veth end in the peer's namespace.
pub const VETH_PEER: &str = "lossy1";

/// A kernel peer one forwarding hop away from the TUN's namespace, with
/// random loss on that hop (both directions).
pub struct LossyPath {
    /// Holds the TUN (create it with `tun_ns.spawn`); forwards and drops.
    pub tun_ns: Netns,
    /// Holds the kernel peer, at [`LossyPath::peer_addr`].
    pub peer_ns: Netns,
    subnet: u8,
    tun_host: (Ipv4Addr, u8),
    drop_percent: u32,
}

impl LossyPath {
    /// Builds the two namespaces and the veth link `10.78.k.1/24` (TUN side)
    /// `10.78.k.2/24` (peer side, default route via `.1`). `tun_host_cidr`
    /// (like `10.77.0.1/24`) is the address the TUN will carry on the
    /// kernel side; it must lie outside `10.78.0.0/16`. With `drop_percent`
    /// above 0, nft drops that share of the forwarded packets.
    pub fn new(tag: &str, tun_host_cidr: &str, drop_percent: u32) -> LossyPath {
        assert!(drop_percent <= 100, "LossyPath: drop_percent {drop_percent} is over 100");
        let tun_host = parse_cidr(tun_host_cidr);
        assert!(
            tun_host.0.octets()[..2] != [10, 78],
            "LossyPath: {tun_host_cidr} collides with 10.78.0.0/16"
        );
        let tag: String = tag.chars().take(9).collect();
        let subnet = (PATH_COUNTER.fetch_add(1, Ordering::Relaxed) % 250 + 1) as u8;
        let path = LossyPath {
            tun_ns: Netns::new(&format!("{tag}t")),
            peer_ns: Netns::new(&format!("{tag}p")),
            subnet,
            tun_host,
            drop_percent,
        };
        let (t, p) = (&path.tun_ns, &path.peer_ns);
        t.veth(VETH_TUN, &format!("10.78.{subnet}.1/24"), p, VETH_PEER, &format!("10.78.{subnet}.2/24"));
        p.exec(&["ip", "route", "add", "default", "via", &format!("10.78.{subnet}.1")]);
        t.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        if drop_percent > 0 {
            t.exec(&["nft", "add", "table", "inet", "lossy"]);
            t.exec(&[
                "nft",
                "add chain inet lossy lossy { type filter hook forward priority 0; policy accept; }",
            ]);
            let rule = format!("numgen random mod 100 < {drop_percent} counter drop");
            t.exec(&["nft", "add", "rule", "inet", "lossy", "lossy", &rule]);
        }
        path
    }

    /// The kernel peer's address, `10.78.k.2`.
    pub fn peer_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 78, self.subnet, 2)
    }

    /// Gives the veth link IPv6 as well: `fd00:78:k::1/64` on the TUN
    /// side, `fd00:78:k::2/64` on the peer's (no duplicate address
    /// detection), IPv6 forwarding in the TUN namespace, and the peer's
    /// default route through it. Returns the peer's IPv6 address.
    pub fn add_ipv6(&self) -> Ipv6Addr {
        let k = self.subnet;
        let (t, p) = (&self.tun_ns, &self.peer_ns);
        t.exec(&["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
        for (ns, dev) in [(t, VETH_TUN), (p, VETH_PEER)] {
            ns.exec(&["sysctl", "-q", "-w", &format!("net.ipv6.conf.{dev}.disable_ipv6=0")]);
        }
        t.exec(&["ip", "-6", "addr", "add", &format!("fd00:78:{k:x}::1/64"), "dev", VETH_TUN, "nodad"]);
        p.exec(&["ip", "-6", "addr", "add", &format!("fd00:78:{k:x}::2/64"), "dev", VETH_PEER, "nodad"]);
        p.exec(&["ip", "-6", "route", "add", "default", "via", &format!("fd00:78:{k:x}::1")]);
        Ipv6Addr::new(0xfd00, 0x78, u16::from(k), 0, 0, 0, 0, 2)
    }

    /// The kernel-side TUN address and prefix given to [`LossyPath::new`].
    pub fn tun_host(&self) -> (Ipv4Addr, u8) {
        self.tun_host
    }

    /// Packets dropped so far by the nft rule (0 without loss).
    pub fn forwarded_drops(&self) -> u64 {
        if self.drop_percent == 0 {
            return 0;
        }
        let listing = self.tun_ns.exec(&["nft", "list", "chain", "inet", "lossy", "lossy"]);
        let mut words = listing.split_whitespace().skip_while(|w| *w != "counter");
        match (words.next(), words.next(), words.next()) {
            (Some("counter"), Some("packets"), Some(n)) => n.parse().unwrap_or_else(|e| {
                panic!("LossyPath: bad packet count `{n}` ({e}) in nft listing:\n{listing}")
            }),
            _ => panic!("LossyPath: no `counter packets N` in nft listing:\n{listing}"),
        }
    }
}

/// `a.b.c.d/p`, or a panic saying what is wrong.
fn parse_cidr(cidr: &str) -> (Ipv4Addr, u8) {
    let parsed = cidr.split_once('/').and_then(|(a, p)| Some((a.parse().ok()?, p.parse().ok()?)));
    match parsed {
        Some((addr, prefix)) if prefix <= 32 => (addr, prefix),
        _ => panic!("`{cidr}` is not an IPv4 address with a prefix length (like 10.77.0.1/24)"),
    }
}

/// Runs a command to `purpose`; panics with its stderr unless it succeeds.
fn run_cmd(args: &[&str], purpose: &str) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| {
        panic!("NETNS: cannot {purpose}: cannot run `{}`: {e} (is iproute2 installed?)", args.join(" "))
    });
    if !out.status.success() {
        panic!(
            "NETNS: cannot {purpose}: `{}` failed ({}):\n{}\n\
             These tests need root (CAP_SYS_ADMIN and CAP_NET_ADMIN), iproute2 and nftables; \
             they fail rather than skip.",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}
