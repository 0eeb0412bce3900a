//! An application that owns its event loop: plain `epoll` waits on the
//! stack's readiness eventfd beside the application's own sources (here a
//! timer), and the stack's sockets are served through the poll API alone.
//! The same shape fits `mio` (register `poll.as_raw_fd()` with
//! `SourceFd`) or tokio (`AsyncFd::new(poll)`).
//!
//! ```text
//! poll_loop --tun NAME --addr IPV4 [--host IPV4/PREFIX] [--addr6 IPV6 --host6 IPV6/PREFIX] --port N [--seconds S]
//! ```
//!
//! It serves echo on the port (many connections, one thread) and prints a
//! line of statistics every second. Runs until interrupted, or for S
//! seconds.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;
#[path = "support/echo.rs"]
#[allow(dead_code)]
mod echo;

use std::io;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use trust::api::{Events, Poll};

/// An application-owned epoll loop serving trust sockets
#[derive(Parser)]
#[command(name = "poll_loop", allow_negative_numbers = true, args_override_self = true)]
struct Args {
    #[command(flatten)]
    serve: cli::ServeFlags,
    /// Stop after S seconds (default: run until interrupted)
    #[arg(long, value_name = "S", value_parser = cli::whole)]
    seconds: Option<u64>,
}

/// epoll tokens of the loop's two sources.
const STACK: u64 = 1;
const TIMER: u64 = 2;

fn run((serve, args): (cli::Serve, Args)) -> io::Result<()> {
    // The stack runs on its own reactor thread; this thread only reacts.
    let stop = cli::stop_on_signals();
    let cli::Serve { cfg, addr, port } = serve;
    let iface = cli::open(cfg, false)?;
    let poll = Poll::new(&iface)?;
    let mut service = echo::EchoService::new(&iface, &poll, port)?;

    let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)?;
    timer.set(Expiration::Interval(TimeSpec::from(Duration::from_secs(1))), TimerSetTimeFlags::empty())?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    // The poll's eventfd is readable while any registered socket is ready
    // (level-triggered), so plain EPOLLIN is right.
    epoll.add(poll.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, STACK))?;
    epoll.add(timer.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, TIMER))?;
    eprintln!("poll_loop: echo on {}:{} ({}, {} reactor)", addr, port, iface.tun_name(), iface.backend());

    let mut ready = [EpollEvent::empty(); 8];
    let mut events = Events::with_capacity(256);
    let mut ticks = 0u64;
    loop {
        let n = match epoll.wait(&mut ready, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        for ev in &ready[..n] {
            match ev.data() {
                STACK => {
                    // Take what is ready now, without blocking.
                    poll.poll(&mut events, Some(Duration::ZERO))?;
                    service.handle(&poll, &events)?;
                }
                _ => {
                    timer.wait()?;
                    ticks += 1;
                    println!(
                        "{ticks:>5} s: {} open, {} finished, {} bytes echoed",
                        service.open(),
                        service.finished,
                        service.echoed
                    );
                    if args.seconds.is_some_and(|s| ticks >= s) || stop.load(Ordering::Relaxed) {
                        // Close every connection, and let the FINs out.
                        drop(service);
                        let _ = iface.drain(Duration::from_secs(1));
                        return Ok(());
                    }
                }
            }
        }
    }
}

fn main() -> ExitCode {
    cli::main(|args: Args| Ok((args.serve.finish()?, args)), run)
}
