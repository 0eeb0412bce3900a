//! A TCP echo server on `trust`: every byte a client sends comes back, and
//! when the client closes its side the server closes its own.
//!
//! ```text
//! echo_server --tun NAME --addr IPV4 [--host IPV4/PREFIX] [--addr6 IPV6 --host6 IPV6/PREFIX] --port N
//!             [--threaded] [--no-offload] [--spin MICROS]
//! ```
//!
//! If a TUN device called NAME exists and has an address it is used as it
//! is; otherwise it is created (or attached) and given the `--host`
//! address, and brought up. By default the application's own thread drives
//! the stack through the poll API (no thread hop on the request path);
//! `--threaded` runs the reactor on its own thread instead. Runs until
//! interrupted.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/echo.rs"]
#[allow(dead_code)]
mod echo;

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use trust::api::Interface;

const HELP: &str = concat!(
    "\
echo_server: a TCP echo server on the trust user-space stack

USAGE:
    echo_server --tun NAME --addr IPV4 [--host IPV4/PREFIX] [--addr6 IPV6 --host6 IPV6/PREFIX]
                --port N [--threaded] [--no-offload] [--spin MICROS]

FLAGS:
",
    device_flags_help!(),
    "    --port N              TCP port to serve echo on
    --no-offload          do not use the TUN offloads (on by default: a
                          virtio-net header, 64 KB TCP super-segments both
                          ways, checksums left to the kernel, so a capture on
                          the TUN shows super-segments); with this flag every
                          packet on the TUN is an MSS-sized segment with a
                          full checksum. --offload asks for the default.
    --spin MICROS         before sleeping, poll for packets this long (default
                          50; 0 sleeps at once): saves a wake-up on the
                          request path for a little CPU
    --threaded            run the stack on a reactor thread instead of driving
                          it from the server's own loop
    -h, --help            print this help

Every byte received is sent back; when a client closes its side, the server
finishes sending and closes its own. Runs until interrupted (Ctrl-C or
SIGTERM), then closes every connection before the device goes away."
);

struct Args {
    serve: cli::Serve,
    threaded: bool,
    /// `--offload` or `--no-offload`, if given.
    offload: Option<bool>,
    spin: Duration,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut flags = cli::ServeFlags::default();
    let (mut threaded, mut offload, mut spin) = (false, None, Duration::from_micros(50));
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--threaded" => threaded = true,
            "--offload" => offload = Some(true),
            "--no-offload" => offload = Some(false),
            "--spin" => {
                spin =
                    Duration::from_micros(cli::parse_value("--spin", &value()?, "microseconds, such as 50")?)
            }
            other if flags.take(other, value)? => {}
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Some(Args { serve: flags.finish()?, threaded, offload, spin }))
}

fn serve(args: Args) -> io::Result<()> {
    let stop = cli::stop_on_signals();
    let cli::Serve { mut cfg, addr, port } = args.serve;
    cfg.offload = args.offload.unwrap_or(cfg.offload);
    cfg.reactor.spin = args.spin;
    let iface = if args.threaded { Interface::open(cfg)? } else { Interface::open_embedded(cfg)? };
    let v6 = iface.addr6().map_or(String::new(), |a| format!(" and [{a}]:{port}"));
    eprintln!(
        "echo_server: {addr}:{port}{v6} on {} ({} reactor, {}{}, spin {:?})",
        iface.tun_name(),
        iface.backend(),
        if args.threaded { "threaded" } else { "embedded" },
        if iface.offload() { ", offloads" } else { "" },
        args.spin
    );
    echo::serve(&iface, port, Some(stop))?;
    // Interrupted: every connection was closed as the service stopped.
    // Let the FINs out and their ACKs in, briefly; dropping the interface
    // then resets whatever is still open.
    let _ = iface.drain(Duration::from_secs(1));
    Ok(())
}

fn main() -> ExitCode {
    cli::main("echo_server", HELP, parse_args, serve)
}
