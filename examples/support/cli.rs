//! What the examples' command lines share: the `main` that prints help,
//! usage errors (exit 2) and failures (exit 1), and flag values.

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use trust::api::Config;
use trust::device::tun::TunConfig;

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

/// The flags of an example that serves on a TUN device: `--tun NAME
/// --addr IPV4 [--host IPV4/PREFIX] [--addr6 IPV6 --host6 IPV6/PREFIX]
/// --port N`.
#[derive(Default)]
pub struct ServeFlags {
    tun: Option<String>,
    addr: Option<Ipv4Addr>,
    host: Option<(Ipv4Addr, u8)>,
    addr6: Option<Ipv6Addr>,
    host6: Option<(Ipv6Addr, u8)>,
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
        match flag {
            "--tun" => self.tun = Some(value()?),
            "--addr" => self.addr = Some(value()?.parse().map_err(|e| format!("--addr: {e}"))?),
            "--host" => self.host = Some(parse_cidr("--host", &value()?, 32)?),
            "--addr6" => self.addr6 = Some(value()?.parse().map_err(|e| format!("--addr6: {e}"))?),
            "--host6" => self.host6 = Some(parse_cidr("--host6", &value()?, 128)?),
            "--port" => self.port = Some(value()?.parse().map_err(|e| format!("--port: {e}"))?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The settings, or which required flag is missing. The examples let
    /// `TRUST_OFFLOAD`, `TRUST_REACTOR`, `TRUST_SPIN` and `TRUST_SQPOLL` switch the
    /// defaults ([`Config::apply_env`]); their own flags come after.
    pub fn finish(self) -> Result<Serve, String> {
        let mut tun = TunConfig::new(&self.tun.ok_or("--tun is required")?);
        tun.host = self.host;
        tun.host6 = self.host6;
        let addr = self.addr.ok_or("--addr is required")?;
        if self.host6.is_some() && self.addr6.is_none() {
            return Err("--host6 needs --addr6".into());
        }
        let mut cfg = Config::new(tun, addr);
        cfg.addr6 = self.addr6;
        cfg.apply_env().map_err(|e| format!("environment: {e}"))?;
        Ok(Serve { cfg, addr, port: self.port.ok_or("--port is required")? })
    }
}

/// `IP/PREFIX`, as `--host` (IPv4, prefix up to 32) and `--host6` (IPv6,
/// up to 128) take it.
fn parse_cidr<A: std::str::FromStr<Err = std::net::AddrParseError>>(
    flag: &str,
    s: &str,
    max_prefix: u8,
) -> Result<(A, u8), String> {
    let (ip, prefix) = s.split_once('/').ok_or_else(|| format!("{flag} {s}: expected ADDRESS/PREFIX"))?;
    let ip = ip.parse().map_err(|e| format!("{flag} {s}: {e}"))?;
    let prefix =
        prefix.parse().ok().filter(|p| *p <= max_prefix).ok_or_else(|| format!("{flag} {s}: bad prefix"))?;
    Ok((ip, prefix))
}
