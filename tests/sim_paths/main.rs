//! Deterministic simulation of connection paths the main simulation suite
//! (`tests/simulation`) does not take: simultaneous open, link partitions
//! shorter and longer than the retry budget, keep-alive over hours of idle
//! time and against a vanished peer, connection churn with port and slot
//! reuse, a listener backlog under a SYN burst, real clients through a SYN
//! flood (SYN cookies), aborts in the handshake and
//! mid-transfer from either side, half-close under loss, and reuse of a
//! 4-tuple whose TIME-WAIT a reset cut short.
//!
//! Each test runs one scenario over many seeds, each seed drawing its own
//! fault model (loss 0-20 %, reordering, duplication, corruption, jitter,
//! bandwidth limits) and host options. Every byte is checked, and so are the
//! states each side passes through, the errors it reports, and that no
//! socket is left behind once everything has closed.
//!
//! A failing seed prints the command that replays it alone with a packet
//! trace, e.g.
//! `SIM_PATHS_SEED=17 cargo test --release --test sim_paths open::simultaneous_open -- --exact --nocapture`.
//! `SIM_PATHS_SEEDS=<n>` changes how many seeds every test runs;
//! `SIM_PATHS_TRACE_LINES=<n>` how much of a replay's trace is printed (600).

mod abort;
mod backlog;
mod churn;
mod flood;
mod halfclose;
mod keepalive;
mod open;
mod partition;
mod reuse;

use core::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use trust::Error;
use trust::device::sim::{LinkConfig, Rng};
use trust::sim::Network;
use trust::sim::apps::{BulkReceiver, BulkSender};
use trust::stack::{SocketHandle, Stack, StackConfig};
use trust::tcp::{Shutdown, State};
use trust::time::Instant;

pub const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
/// The port host 1 listens on.
pub const PORT: u16 = 80;
/// Virtual time after which a scenario counts as stalled.
pub const LIMIT: Duration = Duration::from_secs(12 * 3600);

pub fn addr(host: usize, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ADDRS[host], port)
}

/// Both directions' fault models: light (loss up to 5 %) or heavy (up to
/// 20 %) for the seed.
pub fn random_links(rng: &mut Rng) -> [LinkConfig; 2] {
    let max_loss = if rng.chance(0.5) { 0.20 } else { 0.05 };
    [LinkConfig::random(rng, max_loss), LinkConfig::random(rng, max_loss)]
}

/// Host `i`'s settings: patient SYN retries and a random mix of the
/// negotiable options, MTU, buffer sizes, congestion control and TSO.
pub fn host_config(i: usize, seed: u64, rng: &mut Rng) -> StackConfig {
    let mut c = trust::sim::random_host(ADDRS[i], seed.wrapping_mul(2).wrapping_add(i as u64), rng);
    if rng.chance(0.25) {
        // A smaller MTU than the link's: the MSS each side offers differs.
        c.mtu = rng.range_u64(576..=1500) as usize;
    }
    if rng.chance(0.3) {
        c.tcp.send_buffer = rng.range_u64(8_192..=65_536) as usize;
        c.tcp.recv_buffer = rng.range_u64(8_192..=65_536) as usize;
    }
    c
}

/// A network for one seed; with `trace`, every packet is recorded and the
/// settings are printed.
pub fn network(hosts: [StackConfig; 2], links: [LinkConfig; 2], seed: u64, trace: bool) -> Network {
    if trace {
        println!("links {links:#?}\nhosts {:#?}", [&hosts[0].tcp, &hosts[1].tcp]);
        println!("host offload {:?} {:?}", hosts[0].offload, hosts[1].offload);
        println!("host mtu {} {}", hosts[0].mtu, hosts[1].mtu);
    }
    let mut net = Network::new(hosts, links, seed);
    if trace {
        net.trace = Some(Vec::new());
    }
    net
}

/// Prints the tail of the packet trace (when tracing) and passes `result` on.
pub fn finish(net: &mut Network, result: Result<(), String>) -> Result<(), String> {
    if let Some(lines) = net.trace.take() {
        let show = env_u64("SIM_PATHS_TRACE_LINES").unwrap_or(600) as usize;
        for l in &lines[lines.len().saturating_sub(show)..] {
            println!("{l}");
        }
        println!("({} packets traced, last {show} shown; ended at {:?})", lines.len(), net.now);
    }
    result
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// Runs `run(seed, trace)` for `default` seeds (or `SIM_PATHS_SEEDS`), or only
/// `SIM_PATHS_SEED` with a trace; failures name the command that replays them.
pub fn run_seeds(test: &str, default: u64, run: impl Fn(u64, bool) -> Result<(), String>) {
    if let Some(seed) = env_u64("SIM_PATHS_SEED") {
        match run(seed, true) {
            Ok(()) => println!("{test} seed {seed}: ok"),
            Err(e) => panic!("{test} seed {seed} failed: {e}"),
        }
        return;
    }
    let mut failures = Vec::new();
    for seed in 0..env_u64("SIM_PATHS_SEEDS").unwrap_or(default) {
        if let Err(e) = run(seed, false) {
            failures.push(format!(
                "seed {seed}: {e}\n  replay: SIM_PATHS_SEED={seed} cargo test --release --test sim_paths {test} -- --exact --nocapture"
            ));
        }
    }
    assert!(failures.is_empty(), "{test}: {} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

/// Runs `run(seed, false)` for each of `seeds` (seeds the random sweep
/// found failing, kept as regressions), or only `SIM_PATHS_SEED` with a trace.
pub fn run_listed_seeds(test: &str, seeds: &[u64], run: impl Fn(u64, bool) -> Result<(), String>) {
    if env_u64("SIM_PATHS_SEED").is_some() {
        return run_seeds(test, 0, run);
    }
    let failures: Vec<String> = seeds
        .iter()
        .filter_map(|&seed| run(seed, false).err().map(|e| (seed, e)))
        .map(|(seed, e)| {
            format!(
                "seed {seed}: {e}\n  replay: SIM_PATHS_SEED={seed} cargo test --release --test sim_paths {test} -- --exact --nocapture"
            )
        })
        .collect();
    assert!(failures.is_empty(), "{test}: {} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

pub fn bit(s: State) -> u32 {
    1 << (s as u32)
}

/// Checks that the states in `must` were all seen and none in `must_not`.
pub fn expect_seen(what: &str, seen: u32, must: &[State], must_not: &[State]) -> Result<(), String> {
    let missing: Vec<_> = must.iter().filter(|s| seen & bit(**s) == 0).collect();
    let wrong: Vec<_> = must_not.iter().filter(|s| seen & bit(**s) != 0).collect();
    if missing.is_empty() && wrong.is_empty() {
        return Ok(());
    }
    Err(format!("{what}: states never seen {missing:?}, states that should not occur {wrong:?}"))
}

/// Runs the network forward until host 0 has `sockets[0]` sockets and
/// host 1 `sockets[1]` (TIME-WAIT and orphans must all end), or fails.
pub fn expect_quiescent(net: &mut Network, within: Duration, sockets: [usize; 2]) -> Result<(), String> {
    let until = net.now + within;
    let count = |net: &Network| [net.hosts[0].socket_count(), net.hosts[1].socket_count()];
    net.run(until, |net| count(net) == sockets);
    let left = count(net);
    if left != sockets {
        return Err(format!("sockets left at {:?}: {left:?}, expected {sockets:?}", net.now));
    }
    Ok(())
}

/// Checks that a handle released by the application is dead: no operation
/// reaches whatever socket now lives in its slot.
pub fn expect_stale(stack: &mut Stack, now: Instant, h: SocketHandle) -> Result<(), String> {
    let results = [
        stack.state(h).err(),
        stack.send(h, b"stale").err(),
        stack.recv(h, &mut [0; 8]).err(),
        stack.readiness(h).err(),
        stack.shutdown(h, Shutdown::Write).err(),
    ];
    if results.iter().any(|r| *r != Some(Error::InvalidHandle)) {
        return Err(format!("released handle {h:?} still answers: {results:?}"));
    }
    if stack.close(now, h) != Err(Error::InvalidHandle) || stack.abort(now, h) != Err(Error::InvalidHandle) {
        return Err(format!("released handle {h:?} could be closed again"));
    }
    Ok(())
}

/// One side of a connection: a sender and a checking receiver on the same
/// handle, the states seen, and the graceful close path.
#[derive(Debug)]
pub struct Side {
    pub h: SocketHandle,
    pub tx: BulkSender,
    pub rx: BulkReceiver,
    /// Bytes the peer sends.
    pub expect: u64,
    /// The sender starts once this many bytes have arrived (a response
    /// after its request).
    pub start_after: u64,
    /// Let go of the handle as soon as everything is sent and read, leaving
    /// the connection to finish alone (an orphan).
    pub release_early: bool,
    /// States seen (bit per `State`).
    pub seen: u32,
    pub closed: bool,
}

impl Side {
    /// Side `me` of stream pair `k`: sends pattern `(k, me)`, checks pattern
    /// `(k, 1 - me)`. `shut_first`: shut down writing once all is sent.
    pub fn new(h: SocketHandle, k: u64, me: usize, bytes: u64, expect: u64, shut_first: bool) -> Side {
        Side {
            h,
            tx: BulkSender::new(h, k * 2 + me as u64, bytes, shut_first),
            rx: BulkReceiver::new(h, k * 2 + 1 - me as u64),
            expect,
            start_after: 0,
            release_early: false,
            seen: 0,
            closed: false,
        }
    }

    fn note_state(&mut self, stack: &Stack) {
        if let Ok(s) = stack.state(self.h) {
            self.seen |= bit(s);
        }
    }

    /// Moves data along.
    pub fn poll(&mut self, stack: &mut Stack) {
        if self.closed {
            return;
        }
        self.note_state(stack);
        if self.rx.received >= self.start_after {
            self.tx.poll(stack);
        }
        self.rx.poll(stack);
        self.note_state(stack);
    }

    /// The first error either half saw.
    pub fn error(&self) -> Option<Error> {
        self.tx.error.or(self.rx.error)
    }

    /// Everything sent and (with `release_early`, or at the end of the
    /// stream) read.
    fn io_done(&self) -> bool {
        let read = self.rx.eof || (self.release_early && self.rx.received == self.expect);
        read && self.tx.shut
    }

    /// The graceful close: the side that did not shut down first does so
    /// once it has read the end and sent everything; the handle is
    /// released in TIME-WAIT or CLOSED (or early, see `release_early`).
    /// Returns whether the handle has been released.
    pub fn close_when_done(&mut self, now: Instant, stack: &mut Stack) -> Result<bool, String> {
        if self.closed {
            return Ok(true);
        }
        if let Some(e) = self.error() {
            return Err(format!("unexpected error {e:?}"));
        }
        if self.rx.eof && self.tx.sent == self.tx.total && !self.tx.shut {
            self.tx.shut = true;
            stack.shutdown(self.h, Shutdown::Write).map_err(|e| format!("shutdown: {e:?}"))?;
            self.note_state(stack);
        }
        if !self.io_done() {
            return Ok(false);
        }
        let state = stack.state(self.h).map_err(|e| format!("state: {e:?}"))?;
        if self.release_early || matches!(state, State::TimeWait | State::Closed) {
            stack.close(now, self.h).map_err(|e| format!("close: {e:?}"))?;
            self.closed = true;
            expect_stale(stack, now, self.h)?;
        }
        Ok(self.closed)
    }
}

/// Every byte `from` sent arrived at `to`, in order and intact.
pub fn check_stream(what: &str, from: &Side, to: &Side) -> Result<(), String> {
    let (s, r) = (&from.tx, &to.rx);
    if r.received != s.total || r.hash != s.hash || r.mismatch.is_some() {
        return Err(format!(
            "{what}: sent {} (hash {:x}), received {} (hash {:x}), first bad byte {:?}",
            s.total,
            s.hash.value(),
            r.received,
            r.hash.value(),
            r.mismatch
        ));
    }
    Ok(())
}

/// A one-line summary of a side, for stall reports.
pub fn describe_side(net: &Network, host: usize, s: &Side) -> String {
    let stack = &net.hosts[host];
    let conn = stack.connection(s.h).ok().map(|c| {
        format!(
            "queued {} cwnd {:?} timer {:?} {:?}",
            c.send_queue(),
            c.congestion_window(),
            c.poll_timeout(),
            c.stats()
        )
    });
    format!(
        "host {host}: state {:?} sent {}/{} shut {} received {}/{} eof {} errors {:?} closed {} {}",
        stack.state(s.h),
        s.tx.sent,
        s.tx.total,
        s.tx.shut,
        s.rx.received,
        s.expect,
        s.rx.eof,
        s.error(),
        s.closed,
        conn.unwrap_or_default()
    )
}
