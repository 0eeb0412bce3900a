//! The SYN-flood test (issue 10) as a test binary of its own. A flood of
//! 470,000 packets a second fills the kernel's per-CPU receive backlog,
//! which every namespace shares, so beside another kernel-peer test it
//! drops that test's packets too (seen in CI: a lossy transfer whose
//! packets vanished for the flood's 10 s backed its timers off past its
//! time limit). Cargo runs test binaries one after another, never side by
//! side, so here it runs alone.

#[path = "../common/mod.rs"]
mod common;
#[path = "../kernel/util.rs"]
#[allow(dead_code)]
mod util;

mod flood;
