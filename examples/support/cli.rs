//! What the examples' command lines share (parsed by `clap`): the `main`
//! that prints help (exit 0), usage errors (exit 2) and failures (exit 1),
//! the device and server flags, and the flag values, each refused in plain
//! words that name the flag and the value.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;
use nix::sys::signal::{SigSet, Signal};

use trust::api::{Config, Interface};
use trust::device::tun::TunConfig;

/// Set once SIGINT or SIGTERM has arrived ([`stop_on_signals`]).
static STOPPED: AtomicBool = AtomicBool::new(false);

/// From now on SIGINT and SIGTERM set a flag instead of killing the
/// process, so a server can close its connections (as the kernel closes a
/// dying process's sockets) before its device goes away. The signals are
/// blocked in this thread and every thread it starts later, and taken by
/// one thread of their own. Returns the flag.
pub fn stop_on_signals() -> &'static AtomicBool {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    if set.thread_block().is_ok() {
        std::thread::spawn(move || {
            if let Ok(sig) = set.wait() {
                eprintln!("{sig:?}: closing every connection");
            }
            STOPPED.store(true, Ordering::Relaxed);
        });
    }
    &STOPPED
}

/// Parses the command line into `A` (`--help` prints the help and exits
/// 0; a flag or value that does not parse is a usage error, exit 2), lets
/// `check` turn it into what `run` takes (its refusal is a usage error
/// too), and runs it: exit 0, or 1 with the error.
pub fn main<A: Parser, B>(
    check: impl FnOnce(A) -> Result<B, String>,
    run: impl FnOnce(B) -> io::Result<()>,
) -> ExitCode {
    let checked =
        check(A::parse()).unwrap_or_else(|e| A::command().error(ErrorKind::ValueValidation, e).exit());
    match run(checked) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e}", A::command().get_name());
            ExitCode::FAILURE
        }
    }
}

/// The flags every example that runs on a TUN device shares: `--tun NAME
/// --addr IPV4 [--host IPV4/PREFIX] [--addr6 IPV6 --host6 IPV6/PREFIX]`.
#[derive(clap::Args)]
pub struct DeviceFlags {
    /// TUN device to use. If it exists and already has an address it is
    /// used as it is; otherwise it is created (or attached) and configured
    /// with --host
    #[arg(long, value_name = "NAME")]
    tun: String,
    /// The stack's own IPv4 address, on the TUN's subnet
    #[arg(long, value_name = "IPV4", value_parser = ipv4)]
    addr: Ipv4Addr,
    /// The kernel side's address on the TUN, e.g. 10.0.0.1/24 (needed when
    /// the device has no address yet)
    #[arg(long, value_name = "IPV4/PREFIX", value_parser = cidr4)]
    host: Option<(Ipv4Addr, u8)>,
    /// Also speak IPv6, with this address (on --host6's subnet); servers
    /// then listen on both families
    #[arg(long, value_name = "IPV6", value_parser = ipv6)]
    addr6: Option<Ipv6Addr>,
    /// The kernel side's IPv6 address on the TUN, e.g. fd00::1/64 (usable
    /// at once: a TUN needs no duplicate address detection)
    #[arg(long, value_name = "IPV6/PREFIX", value_parser = cidr6, requires = "addr6")]
    host6: Option<(Ipv6Addr, u8)>,
    /// Write every packet the stack receives and sends to FILE, a pcap
    /// capture (tshark -r, tcpdump -r, Wireshark)
    #[arg(long, value_name = "FILE")]
    pcap: Option<std::path::PathBuf>,
}

impl DeviceFlags {
    /// The interface's settings, or why the addresses cannot work. The
    /// examples let `TRUST_OFFLOAD`, `TRUST_REACTOR`, `TRUST_SPIN` and
    /// `TRUST_SQPOLL` switch the defaults ([`Config::apply_env`]); their
    /// own flags come after.
    pub fn finish(&self) -> Result<Config, String> {
        let mut tun = TunConfig::new(&self.tun);
        tun.host = self.host;
        tun.host6 = self.host6;
        if let Some((host, prefix)) = self.host {
            check_subnet("--addr", IpAddr::V4(self.addr), "--host", IpAddr::V4(host), prefix)?;
        }
        if let (Some(addr6), Some((host6, prefix))) = (self.addr6, self.host6) {
            check_subnet("--addr6", IpAddr::V6(addr6), "--host6", IpAddr::V6(host6), prefix)?;
        }
        let mut cfg = Config::new(tun, self.addr);
        cfg.addr6 = self.addr6;
        cfg.pcap = self.pcap.clone();
        cfg.apply_env().map_err(|e| format!("environment: {e}"))?;
        Ok(cfg)
    }
}

/// The flags of an example that serves on a TUN device: [`DeviceFlags`]
/// and `--port N`.
#[derive(clap::Args)]
pub struct ServeFlags {
    #[command(flatten)]
    device: DeviceFlags,
    /// TCP port to serve echo on
    #[arg(long, value_name = "N", value_parser = port)]
    port: u16,
}

/// How a server runs its stack: `--no-offload` / `--offload` and
/// `--spin MICROS` (`echo_server`, `tokio_echo`).
#[derive(clap::Args)]
pub struct StackFlags {
    /// Do not use the TUN offloads (on by default: a virtio-net header, 64
    /// KB TCP super-segments both ways, checksums left to the kernel, so a
    /// capture on the TUN shows super-segments); with this flag every
    /// packet on the TUN is an MSS-sized segment with a full checksum
    #[arg(long, overrides_with = "offload")]
    no_offload: bool,
    /// Use the TUN offloads (the default; undoes an earlier --no-offload)
    #[arg(long, overrides_with = "no_offload")]
    offload: bool,
    /// Before sleeping, poll for packets this long (0 sleeps at once): saves
    /// a wake-up on the request path for a little CPU
    #[arg(long, value_name = "MICROS", default_value = "50", value_parser = micros)]
    pub spin: Duration,
}

impl StackFlags {
    /// Sets what the flags say in `cfg`: offloads only if a flag names
    /// them (the last one wins), and the spin.
    pub fn apply(&self, cfg: &mut Config) {
        if self.no_offload || self.offload {
            cfg.offload = self.offload;
        }
        cfg.reactor.spin = self.spin;
    }
}

/// What [`ServeFlags`] make: the interface's settings and the port.
pub struct Serve {
    pub cfg: Config,
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl ServeFlags {
    /// The settings, or why the addresses cannot work.
    pub fn finish(&self) -> Result<Serve, String> {
        let cfg = self.device.finish()?;
        Ok(Serve { addr: cfg.addr, cfg, port: self.port })
    }
}

/// Opens the interface (`embedded`: the caller's thread drives it) and
/// refuses a device whose kernel side has no address: the stack would run,
/// but nothing could reach it.
pub fn open(cfg: Config, embedded: bool) -> io::Result<Interface> {
    let addr = cfg.addr;
    let iface = if embedded { Interface::open_embedded(cfg)? } else { Interface::open(cfg)? };
    if !iface.kernel_side_has_address()? {
        let [a, b, c, d] = addr.octets();
        let host = Ipv4Addr::new(a, b, c, if d == 1 { 2 } else { 1 });
        return Err(io::Error::other(format!(
            "the TUN device {name} has no address on the kernel side, so the kernel cannot reach {addr}: \
             pass --host IPV4/PREFIX (e.g. --host {host}/24) to give it one",
            name = iface.tun_name()
        )));
    }
    Ok(iface)
}

/// Refuses a stack address the kernel could not reach over the TUN: the
/// kernel's own address, one outside the kernel side's prefix, or a prefix
/// that leaves no room for a second host (/31 and /32; /127 and /128).
fn check_subnet(
    addr_flag: &str,
    addr: IpAddr,
    host_flag: &str,
    host: IpAddr,
    prefix: u8,
) -> Result<(), String> {
    let bits = if host.is_ipv4() { 32 } else { 128 };
    if prefix + 1 >= bits {
        return Err(format!(
            "{host_flag} {host}/{prefix}: a /{prefix} subnet has no room for the stack's own address; \
             use a shorter prefix, such as {host}/{}",
            if host.is_ipv4() { 24 } else { 64 }
        ));
    }
    if addr == host {
        return Err(format!(
            "{addr_flag} {addr} is the kernel side's own address ({host_flag}); give the stack another \
             address on {host}/{prefix}"
        ));
    }
    let as_bits = |ip: IpAddr| match ip {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    };
    let shift = u32::from(bits - prefix);
    if as_bits(addr) >> shift != as_bits(host) >> shift {
        return Err(format!(
            "{addr_flag} {addr} is outside {host_flag} {host}/{prefix}: the kernel would not route to it; \
             pick an address in that prefix"
        ));
    }
    if host.is_ipv4() {
        let host_part = as_bits(addr) & ((1u128 << shift) - 1);
        if host_part == 0 || host_part == (1u128 << shift) - 1 {
            return Err(format!(
                "{addr_flag} {addr} is the network or broadcast address of {host}/{prefix}; pick another"
            ));
        }
    }
    Ok(())
}

/// `--addr`'s value.
pub fn ipv4(s: &str) -> Result<Ipv4Addr, String> {
    s.parse().map_err(|_| "expected an IPv4 address, such as 10.0.0.2".into())
}

/// `--addr6`'s value.
pub fn ipv6(s: &str) -> Result<Ipv6Addr, String> {
    s.parse().map_err(|_| "expected an IPv6 address, such as fd00::2".into())
}

/// `--host`'s value: an IPv4 address and prefix length.
pub fn cidr4(s: &str) -> Result<(Ipv4Addr, u8), String> {
    cidr(s, 32, "an IPv4 address and prefix length, such as 10.0.0.1/24")
}

/// `--host6`'s value: an IPv6 address and prefix length.
pub fn cidr6(s: &str) -> Result<(Ipv6Addr, u8), String> {
    cidr(s, 128, "an IPv6 address and prefix length, such as fd00::1/64")
}

fn cidr<A: std::str::FromStr>(s: &str, max_prefix: u8, expected: &str) -> Result<(A, u8), String> {
    let (ip, prefix) = s.split_once('/').ok_or_else(|| format!("expected {expected}"))?;
    let ip = ip.parse().map_err(|_| format!("expected {expected}"))?;
    let prefix = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max_prefix)
        .ok_or_else(|| format!("the prefix length must be a number from 0 to {max_prefix}"))?;
    Ok((ip, prefix))
}

/// A TCP port.
pub fn port(s: &str) -> Result<u16, String> {
    s.parse().ok().filter(|p| *p > 0).ok_or_else(|| "expected a port number from 1 to 65535".into())
}

/// A whole number of microseconds.
pub fn micros(s: &str) -> Result<Duration, String> {
    whole(s)
        .map(Duration::from_micros)
        .map_err(|_| "expected a whole number of microseconds, such as 50".into())
}

/// A whole number, 0 or more.
pub fn whole(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("expected a whole number from 0 to {}", u64::MAX))
}

/// A count of at least one.
pub fn count(s: &str) -> Result<usize, String> {
    s.parse().ok().filter(|n| *n > 0).ok_or_else(|| "expected a whole number, at least 1".into())
}
