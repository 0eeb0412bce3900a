//! What the examples' command lines share: the `main` that prints help,
//! usage errors (exit 2) and failures (exit 1), and flag values.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SigSet, Signal};

use trust::api::Config;
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

/// Runs `run` on the arguments `parse` makes of the command line.
/// `parse` returns `Ok(None)` for `--help`.
pub fn main<A>(
    name: &str,
    help: &str,
    parse: impl FnOnce() -> Result<Option<A>, String>,
    run: impl FnOnce(A) -> io::Result<()>,
) -> ExitCode {
    match parse() {
        Ok(None) => {
            // Not `println!`: a reader that stops early (`| head`) must not
            // turn `--help` into a panic.
            let _ = writeln!(io::stdout(), "{help}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}\n\n{help}");
            ExitCode::from(2)
        }
        Ok(Some(args)) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{name}: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The help text of [`DeviceFlags`], one literal for every example's
/// `concat!`.
#[macro_export]
macro_rules! device_flags_help {
    () => {
        "    --tun NAME            TUN device to use. If it exists and already has an
                          address it is used as it is; otherwise it is created
                          (or attached) and configured with --host.
    --addr IPV4           the stack's own IPv4 address (on the TUN's subnet)
    --host IPV4/PREFIX    the kernel side's address on the TUN, e.g. 10.0.0.1/24
                          (needed when the device has no address yet)
    --addr6 IPV6          also speak IPv6, with this address (on --host6's
                          subnet); servers then listen on both families
    --host6 IPV6/PREFIX   the kernel side's IPv6 address on the TUN, e.g.
                          fd00::1/64 (usable at once: a TUN needs no
                          duplicate address detection)
    --pcap FILE           write every packet the stack receives and sends to
                          FILE, a pcap capture (tshark -r, tcpdump -r, Wireshark)
"
    };
}

/// The flags every example that runs on a TUN device shares: `--tun NAME
/// --addr IPV4 [--host IPV4/PREFIX] [--addr6 IPV6 --host6 IPV6/PREFIX]`.
#[derive(Default)]
pub struct DeviceFlags {
    tun: Option<String>,
    addr: Option<Ipv4Addr>,
    host: Option<(Ipv4Addr, u8)>,
    addr6: Option<Ipv6Addr>,
    host6: Option<(Ipv6Addr, u8)>,
    pcap: Option<std::path::PathBuf>,
}

impl DeviceFlags {
    /// Takes `flag` if it is one of these (reading its value with
    /// `value`): `Ok(false)` if it is not.
    pub fn take(
        &mut self,
        flag: &str,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Result<bool, String> {
        match flag {
            "--tun" => self.tun = Some(value()?),
            "--addr" => {
                self.addr = Some(parse_value("--addr", &value()?, "an IPv4 address such as 10.0.0.2")?)
            }
            "--host" => self.host = Some(parse_cidr("--host", &value()?, 32)?),
            "--addr6" => {
                self.addr6 = Some(parse_value("--addr6", &value()?, "an IPv6 address such as fd00::2")?)
            }
            "--host6" => self.host6 = Some(parse_cidr("--host6", &value()?, 128)?),
            "--pcap" => self.pcap = Some(value()?.into()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The interface's settings, or which required flag is missing. The
    /// examples let `TRUST_OFFLOAD`, `TRUST_REACTOR`, `TRUST_SPIN` and
    /// `TRUST_SQPOLL` switch the defaults ([`Config::apply_env`]); their
    /// own flags come after.
    pub fn finish(self) -> Result<Config, String> {
        let mut tun = TunConfig::new(&self.tun.ok_or("--tun is required")?);
        tun.host = self.host;
        tun.host6 = self.host6;
        let addr = self.addr.ok_or("--addr is required")?;
        if self.host6.is_some() && self.addr6.is_none() {
            return Err("--host6 needs --addr6".into());
        }
        if let Some((host, prefix)) = self.host {
            check_subnet("--addr", IpAddr::V4(addr), "--host", IpAddr::V4(host), prefix)?;
        }
        if let (Some(addr6), Some((host6, prefix))) = (self.addr6, self.host6) {
            check_subnet("--addr6", IpAddr::V6(addr6), "--host6", IpAddr::V6(host6), prefix)?;
        }
        let mut cfg = Config::new(tun, addr);
        cfg.addr6 = self.addr6;
        cfg.pcap = self.pcap;
        cfg.apply_env().map_err(|e| format!("environment: {e}"))?;
        Ok(cfg)
    }
}

/// The flags of an example that serves on a TUN device: [`DeviceFlags`]
/// and `--port N`.
#[derive(Default)]
pub struct ServeFlags {
    device: DeviceFlags,
    port: Option<u16>,
}

/// What [`ServeFlags`] make: the interface's settings and the port.
pub struct Serve {
    pub cfg: Config,
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl ServeFlags {
    /// Takes `flag` if it is one of these (reading its value with
    /// `value`): `Ok(false)` if it is not.
    pub fn take(
        &mut self,
        flag: &str,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Result<bool, String> {
        if flag == "--port" {
            self.port = Some(parse_value("--port", &value()?, "a port number from 1 to 65535")?);
            return Ok(true);
        }
        self.device.take(flag, value)
    }

    /// The settings, or which required flag is missing.
    pub fn finish(self) -> Result<Serve, String> {
        let cfg = self.device.finish()?;
        let port = self.port.ok_or("--port is required")?;
        Ok(Serve { addr: cfg.addr, cfg, port })
    }
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

/// `s` parsed as the value of `flag`, or an error that names the flag, the
/// value and what was expected.
pub fn parse_value<T: std::str::FromStr>(flag: &str, s: &str, expected: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{flag} {s}: expected {expected}"))
}

/// `IP/PREFIX`, as `--host` (IPv4, prefix up to 32) and `--host6` (IPv6,
/// up to 128) take it.
fn parse_cidr<A: std::str::FromStr<Err = std::net::AddrParseError>>(
    flag: &str,
    s: &str,
    max_prefix: u8,
) -> Result<(A, u8), String> {
    let family = if max_prefix == 32 { "IPv4" } else { "IPv6" };
    let expected = || {
        format!(
            "{flag} {s}: expected an {family} address and prefix length, such as {}",
            if max_prefix == 32 { "10.0.0.1/24" } else { "fd00::1/64" }
        )
    };
    let (ip, prefix) = s.split_once('/').ok_or_else(expected)?;
    let ip = ip.parse().map_err(|_| expected())?;
    let prefix =
        prefix.parse().ok().filter(|p| *p <= max_prefix).ok_or_else(|| {
            format!("{flag} {s}: the prefix length must be a number from 0 to {max_prefix}")
        })?;
    Ok((ip, prefix))
}
