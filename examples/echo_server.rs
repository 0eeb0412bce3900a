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
#[allow(dead_code)]
mod cli;
#[path = "support/echo.rs"]
#[allow(dead_code)]
mod echo;

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// A TCP echo server on the trust user-space stack
#[derive(Parser)]
#[command(
    name = "echo_server",
    allow_negative_numbers = true,
    args_override_self = true,
    after_help = "Every byte received is sent back; when a client closes its side, the server \
finishes sending and closes its own. Runs until interrupted (Ctrl-C or SIGTERM), then closes \
every connection before the device goes away."
)]
struct Args {
    #[command(flatten)]
    serve: cli::ServeFlags,
    #[command(flatten)]
    stack: cli::StackFlags,
    /// Run the stack on a reactor thread instead of driving it from the
    /// server's own loop
    #[arg(long)]
    threaded: bool,
}

fn serve((serve, args): (cli::Serve, Args)) -> io::Result<()> {
    let stop = cli::stop_on_signals();
    let cli::Serve { mut cfg, addr, port } = serve;
    args.stack.apply(&mut cfg);
    let iface = cli::open(cfg, !args.threaded)?;
    let v6 = iface.addr6().map_or(String::new(), |a| format!(" and [{a}]:{port}"));
    eprintln!(
        "echo_server: {addr}:{port}{v6} on {} ({} reactor, {}{}, spin {:?})",
        iface.tun_name(),
        iface.backend(),
        if args.threaded { "threaded" } else { "embedded" },
        if iface.offload() { ", offloads" } else { "" },
        args.stack.spin
    );
    echo::serve(&iface, port, Some(stop))?;
    // Interrupted: every connection was closed as the service stopped.
    // Let the FINs out and their ACKs in, briefly; dropping the interface
    // then resets whatever is still open.
    let _ = iface.drain(Duration::from_secs(1));
    Ok(())
}

fn main() -> ExitCode {
    cli::main(|args: Args| Ok((args.serve.finish()?, args)), serve)
}
