//! What the examples' command lines share: the `main` that prints help,
//! usage errors (exit 2) and failures (exit 1), and flag values.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::process::ExitCode;

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

/// `IPV4/PREFIX`, as `--host` takes it.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, prefix) = s.split_once('/').ok_or_else(|| format!("--host {s}: expected IPV4/PREFIX"))?;
    let ip = ip.parse().map_err(|e| format!("--host {s}: {e}"))?;
    let prefix = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| format!("--host {s}: bad prefix"))?;
    Ok((ip, prefix))
}
