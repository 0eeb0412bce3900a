//! The echo server of `echo_server.rs`, written with tokio tasks on
//! `trust` (feature `tokio`): one task per connection, `AsyncRead` and
//! `AsyncWrite` through tokio's `AsyncFd`.
//!
//! ```text
//! cargo run --release --features tokio --example tokio_echo -- \
//!     --tun NAME --addr IPV4 [--host IPV4/PREFIX] [--addr6 IPV6 --host6 IPV6/PREFIX] --port N
//!     [--threaded] [--no-offload] [--spin MICROS]
//! ```
//!
//! It takes exactly `echo_server`'s flags, so anything that drives one
//! drives the other. The reactor always runs on its own thread (tokio's
//! tasks cannot drive an embedded one), so `--threaded` changes nothing.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;
use trust::api::Interface;
use trust::api::tokio::{TcpListener, TcpStream};

const HELP: &str = concat!(
    "\
tokio_echo: the TCP echo server, written with tokio tasks on trust

USAGE:
    tokio_echo --tun NAME --addr IPV4 [--host IPV4/PREFIX] [--addr6 IPV6 --host6 IPV6/PREFIX]
               --port N [--threaded] [--no-offload] [--spin MICROS]

FLAGS:
",
    device_flags_help!(),
    "    --port N              TCP port to serve echo on
    --no-offload          do not use the TUN offloads (see echo_server --help);
                          --offload asks for the default
    --spin MICROS         the reactor polls for packets this long before it
                          sleeps (default 50; 0 sleeps at once)
    --threaded            accepted for echo_server's sake: the reactor always
                          runs on its own thread here
    -h, --help            print this help

Every byte received is sent back; when a client closes its side, the server
finishes sending and closes its own. Runs until interrupted (Ctrl-C or
SIGTERM), then closes every connection before the device goes away."
);

struct Args {
    serve: cli::Serve,
    offload: Option<bool>,
    spin: Duration,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut flags = cli::ServeFlags::default();
    let (mut offload, mut spin) = (None, Duration::from_micros(50));
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--threaded" => {}
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
    Ok(Some(Args { serve: flags.finish()?, offload, spin }))
}

/// Echoes one connection until the client closes its side, then closes
/// ours (a FIN after the last byte).
async fn echo(mut stream: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut echoed = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            stream.shutdown().await?;
            return Ok(echoed);
        }
        stream.write_all(&buf[..n]).await?;
        echoed += n as u64;
    }
}

async fn serve(iface: &Interface, port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(iface, port)?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(echo(stream));
                }
                Err(e) => eprintln!("tokio_echo: accept: {e}"),
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Ok(Err(e)) = done {
                    eprintln!("tokio_echo: connection: {e}");
                }
            }
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    eprintln!("tokio_echo: closing {} connections", connections.len());
    // Dropping each task's stream closes its connection (a FIN).
    connections.shutdown().await;
    Ok(())
}

fn run(args: Args) -> io::Result<()> {
    let cli::Serve { mut cfg, addr, port } = args.serve;
    cfg.offload = args.offload.unwrap_or(cfg.offload);
    cfg.reactor.spin = args.spin;
    let iface = Interface::open(cfg)?;
    let v6 = iface.addr6().map_or(String::new(), |a| format!(" and [{a}]:{port}"));
    eprintln!(
        "tokio_echo: {addr}:{port}{v6} on {} ({} reactor{}, spin {:?})",
        iface.tun_name(),
        iface.backend(),
        if iface.offload() { ", offloads" } else { "" },
        args.spin
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(&iface, port))?;
    drop(runtime);
    // Let the FINs out and their ACKs in, briefly; dropping the interface
    // then resets whatever is still open.
    let _ = iface.drain(Duration::from_secs(1));
    Ok(())
}

fn main() -> ExitCode {
    cli::main("tokio_echo", HELP, parse_args, run)
}
