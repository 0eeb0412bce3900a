//! What the examples' command lines share: the `main` that prints help,
//! usage errors (exit 2) and failures (exit 1), and flag values.

use std::io::{self, Write};
use std::net::Ipv4Addr;
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
/// --addr IPV4 [--host IPV4/PREFIX] --port N`.
#[derive(Default)]
pub struct ServeFlags {
    tun: Option<String>,
    addr: Option<Ipv4Addr>,
    host: Option<(Ipv4Addr, u8)>,
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
            "--host" => self.host = Some(parse_cidr(&value()?)?),
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
        let addr = self.addr.ok_or("--addr is required")?;
        let mut cfg = Config::new(tun, addr);
        cfg.apply_env().map_err(|e| format!("environment: {e}"))?;
        Ok(Serve { cfg, addr, port: self.port.ok_or("--port is required")? })
    }
}

/// `IPV4/PREFIX`, as `--host` takes it.
fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, prefix) = s.split_once('/').ok_or_else(|| format!("--host {s}: expected IPV4/PREFIX"))?;
    let ip = ip.parse().map_err(|e| format!("--host {s}: {e}"))?;
    let prefix = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| format!("--host {s}: bad prefix"))?;
    Ok((ip, prefix))
}
