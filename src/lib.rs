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
