//! The active-open counterpart of `echo_server`: `K` connections from
//! `trust` to an echo server on the kernel side of the TUN, each sending
//! `N` bytes and checking every byte that comes back.
//!
//! ```text
//! echo_client --tun NAME --addr IPV4 [--host IPV4/PREFIX] [--addr6 IPV6 --host6 IPV6/PREFIX]
//!             --connect IP:PORT --bytes N [--connections K]
//! ```
//!
//! Each connection writes `N` bytes of its own pattern while it reads the
//! echo back and compares it, then shuts down its side and expects the
//! server to close. One line per connection, then a summary; the exit
//! status is 0 only if every connection got all its bytes back intact.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use trust::api::{Config, Interface, TcpStream};

/// Connections from the trust user-space stack to an echo server
#[derive(Parser)]
#[command(
    name = "echo_client",
    allow_negative_numbers = true,
    args_override_self = true,
    after_help = "Each connection sends its bytes while reading the echo back, checks every byte, \
shuts down its side and waits for the server to close. Exits 0 only if every byte of every \
connection came back intact."
)]
struct Args {
    #[command(flatten)]
    device: cli::DeviceFlags,
    /// The echo server, e.g. 10.0.0.1:7 or [fd00::1]:7
    #[arg(long, value_name = "IP:PORT", value_parser = socket_addr)]
    connect: SocketAddr,
    /// Bytes each connection sends (and expects back)
    #[arg(long, value_name = "N", value_parser = cli::whole)]
    bytes: u64,
    /// Connections at once
    #[arg(long, value_name = "K", default_value = "1", value_parser = cli::count)]
    connections: usize,
}

/// `--connect`'s value.
fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| "expected IP:PORT, such as 10.0.0.1:7 or [fd00::1]:7".into())
}

/// How long a connection may wait for its server without progress.
const STALL: Duration = Duration::from_secs(30);

/// Connection `i`'s byte at stream offset `at`.
fn pattern(i: usize, at: u64) -> u8 {
    let x = at.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i as u64 * 0x632B_E59B_D9B4_E019);
    (x >> 56) as u8
}

/// One connection's run: `Ok(bytes echoed)` if all came back intact.
fn run_one(iface: &Interface, i: usize, to: SocketAddr, bytes: u64) -> Result<u64, String> {
    let s = TcpStream::connect_timeout(iface, &to, STALL).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(STALL)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(STALL)).map_err(|e| e.to_string())?;
    let s = Arc::new(s);
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || -> Result<(), String> {
            let mut buf = vec![0u8; 64 * 1024];
            let mut at = 0u64;
            while at < bytes {
                let n = (bytes - at).min(buf.len() as u64) as usize;
                for (k, b) in buf[..n].iter_mut().enumerate() {
                    *b = pattern(i, at + k as u64);
                }
                (&*s).write_all(&buf[..n]).map_err(|e| format!("write at byte {at}: {e}"))?;
                at += n as u64;
            }
            s.shutdown(Shutdown::Write).map_err(|e| format!("shutdown: {e}"))
        })
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    let read = loop {
        match (&*s).read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Some(k) =
                    buf[..n].iter().enumerate().position(|(k, &b)| b != pattern(i, got + k as u64))
                {
                    break Err(format!("byte {} differs", got + k as u64));
                }
                got += n as u64;
                if got > bytes {
                    break Err(format!("{got} bytes back, more than the {bytes} sent"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(format!("read after {got} bytes: {e}")),
        }
    };
    let wrote = writer.join().map_err(|_| "the writer panicked".to_string())?;
    read?;
    wrote?;
    if got != bytes {
        return Err(format!("the server closed after {got} of {bytes} bytes"));
    }
    Ok(got)
}

fn run((cfg, args): (Config, Args)) -> io::Result<()> {
    let Args { connect, bytes, connections, .. } = args;
    let iface = Arc::new(cli::open(cfg, false)?);
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let iface = iface.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                (run_one(&iface, i, connect, bytes), t.elapsed())
            })
        })
        .collect();
    let mut ok = 0;
    for (i, w) in workers.into_iter().enumerate() {
        let (result, took) = w.join().unwrap_or_else(|_| (Err("panicked".into()), Duration::ZERO));
        match result {
            Ok(n) => {
                ok += 1;
                let gbits = n as f64 * 8.0 / took.as_secs_f64().max(1e-9) / 1e9;
                println!("connection {i}: ok, {n} bytes echoed in {took:.2?} ({gbits:.2} Gbit/s)");
            }
            Err(e) => println!("connection {i}: FAILED: {e}"),
        }
    }
    println!(
        "echo_client: {ok}/{connections} connections ok to {connect}, {} bytes each, in {:.2?}",
        bytes,
        start.elapsed()
    );
    // Let the last ACKs out before the device goes away.
    let _ = iface.drain(Duration::from_secs(2));
    if ok == connections {
        Ok(())
    } else {
        Err(io::Error::other(format!("{} of {connections} connections failed", connections - ok)))
    }
}

fn main() -> ExitCode {
    cli::main(|args: Args| Ok((args.device.finish()?, args)), run)
}
