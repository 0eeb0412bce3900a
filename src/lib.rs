//! `trust`: a user-space TCP/IP stack (IPv4 and IPv6).
//!
//! The layers, lowest first; each uses only the ones above it in this list:
//!
//! - [`wire`]: packet views and writers (IPv4, IPv6, TCP, ICMP, ICMPv6);
//! - [`tcp`]: one connection's state machine, sans-IO;
//! - [`stack`]: the engine: demultiplexing, listeners, timers, and the
//!   sans-IO interface that reactors drive;
//! - [`device`]: links that carry packets: the TUN device, and a simulated
//!   link with seeded faults;
//! - [`reactor`]: the loop that drives a device and the engine (io_uring,
//!   or epoll where io_uring is refused);
//! - [`api`]: what applications use: an [`api::Interface`], blocking
//!   sockets shaped like `std::net`, and a readiness API ([`api::Poll`]);
//! - [`sim`]: a deterministic, virtual-time driver that joins engines by
//!   simulated links, for tests and benchmarks.
//!
//! Time is [`time::Instant`], passed in by whoever drives the engine.
//!
//! # Example
//!
//! Two interfaces wired to each other in this process
//! ([`api::Interface::pair`]: no TUN, no root), an echo server on one and
//! a client on the other; on a TUN device, [`api::Interface::open`] takes
//! the place of `pair` and the rest is the same.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::Ipv4Addr;
//!
//! use trust::api::{Config, Interface, TcpListener, TcpStream};
//!
//! fn main() -> std::io::Result<()> {
//!     let (client, server) = Interface::pair(
//!         Config::for_device(Ipv4Addr::new(10, 0, 0, 1)),
//!         Config::for_device(Ipv4Addr::new(10, 0, 0, 2)),
//!     )?;
//!
//!     let listener = TcpListener::bind(&server, 7)?;
//!     let echo = std::thread::spawn(move || -> std::io::Result<()> {
//!         let (conn, _peer) = listener.accept()?;
//!         // `&TcpStream` reads and writes, as `&std::net::TcpStream` does.
//!         std::io::copy(&mut &conn, &mut &conn)?;
//!         Ok(()) // dropping `conn` closes it: the client reads the end
//!     });
//!
//!     let mut stream = TcpStream::connect(&client, "10.0.0.2:7")?;
//!     stream.write_all(b"hello")?;
//!     stream.shutdown(std::net::Shutdown::Write)?;
//!     let mut echoed = String::new();
//!     stream.read_to_string(&mut echoed)?;
//!     assert_eq!(echoed, "hello");
//!     echo.join().unwrap()
//! }
//! ```

// Unsafe code lives in `device` (ioctls on the TUN, eBPF steering) and
// `reactor` (io_uring's shared rings and buffers), each block with its
// `// SAFETY:` comment; everywhere else it does not compile.
#![deny(unsafe_code)]

pub mod api;
#[allow(unsafe_code)]
pub mod device;
pub mod error;
mod log;
#[allow(unsafe_code)]
pub mod reactor;
pub mod sim;
pub mod stack;
pub mod tcp;
pub mod time;
pub mod wire;

pub use error::Error;

/// The README's examples, compiled as doc-tests so that they cannot stop
/// compiling.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
