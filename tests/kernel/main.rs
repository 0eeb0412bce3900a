//! The Linux kernel's TCP as the peer: every test builds its own network
//! namespace with a TUN device in it (see `tests/common/netns.rs`).
//!
//! Each test uses its own TUN name (`tk<N>`) and subnet (`10.<100+N>.0.0/24`),
//! so they can run in parallel. A test that cannot build its namespace
//! fails (the harness panics); none skips. Every blocking step runs under
//! a time limit (`util::join_within`), so a hang fails too.

#[path = "../common/mod.rs"]
mod common;
mod poll_server;
mod util;

mod bulk;
mod capture;
mod close;
mod errors;
mod examples;
mod ipv6;
mod lossy;
mod many;
mod multiqueue;
mod pmtu;
mod poll;
mod runtimes;
mod smoke;
