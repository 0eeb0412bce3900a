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
//! drives the other, and they mean the same: by default the stack is
//! embedded and driven by a task of a current-thread runtime
//! (`trust::api::tokio::driver`), so packets, timers and the connections'
//! tasks share one thread, as `echo_server`'s own loop does; `--threaded`
//! runs the reactor on its own thread and the tasks on a multi-threaded
//! runtime.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;
use trust::api::tokio::{TcpListener, TcpStream};

/// The TCP echo server, written with tokio tasks on the trust user-space
/// stack (takes echo_server's flags)
#[derive(Parser)]
#[command(
    name = "tokio_echo",
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
    /// Run the stack on a reactor thread, and the tasks on a multi-threaded
    /// runtime, instead of driving the stack from a task of the server's
    /// one-thread runtime (--spin acts only then: a driving task does not
    /// spin)
    #[arg(long)]
    threaded: bool,
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

async fn serve(iface: &trust::api::Interface, port: u16) -> io::Result<()> {
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

fn run((flags, args): (cli::Serve, Args)) -> io::Result<()> {
    let cli::Serve { mut cfg, addr, port } = flags;
    args.stack.apply(&mut cfg);
    let iface = std::sync::Arc::new(cli::open(cfg, !args.threaded)?);
    let v6 = iface.addr6().map_or(String::new(), |a| format!(" and [{a}]:{port}"));
    eprintln!(
        "tokio_echo: {addr}:{port}{v6} on {} ({} reactor, {}{}, spin {:?})",
        iface.tun_name(),
        iface.backend(),
        if args.threaded { "threaded" } else { "embedded, driven by a task" },
        if iface.offload() { ", offloads" } else { "" },
        args.stack.spin
    );
    let runtime = if args.threaded {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    };
    runtime.block_on(async {
        if !args.threaded {
            // Ends only with an error; the runtime's end cancels it.
            let driver = trust::api::tokio::driver(&iface)?;
            tokio::spawn(async move {
                if let Err(e) = driver.await {
                    eprintln!("tokio_echo: the stack's driver stopped: {e}");
                }
            });
        }
        serve(&iface, port).await
    })?;
    drop(runtime);
    // Let the FINs out and their ACKs in, briefly; dropping the interface
    // then resets whatever is still open.
    let _ = iface.drain(Duration::from_secs(1));
    Ok(())
}

fn main() -> ExitCode {
    cli::main(|args: Args| Ok((args.serve.finish()?, args)), run)
}
