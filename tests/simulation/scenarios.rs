//! The scenarios: transfers and close paths between host 0 (which
//! connects) and host 1 (which listens).

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use trust::Error;
use trust::device::sim::{LinkConfig, Rng};
use trust::sim::Network;
use trust::sim::apps::{BulkReceiver, BulkSender};
use trust::stack::{SocketHandle, StackConfig};
use trust::tcp::{Shutdown, State};
use trust::time::Instant;

pub const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
const PORT: u16 = 80;
/// Virtual time after which a run counts as stalled.
const LIMIT: Instant = Instant::from_millis(8 * 3600 * 1000);
/// Longer than a whole retry sequence (15 RTOs of at most 60 s), so a peer in
/// TIME-WAIT always outlasts the other side's FIN retransmissions.
const TIME_WAIT: Duration = Duration::from_secs(3600);

/// How a connection's two sides finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Host 0 shuts down first; host 1 closes after reading the end.
    Active,
    /// Host 1 shuts down first.
    Passive,
    /// Both shut down in the same instant, so the FINs cross.
    Simultaneous,
    /// Host 0 aborts mid-transfer; host 1 must see `ConnectionReset`.
    Abort,
}

#[derive(Debug, Clone)]
pub enum Scenario {
    /// One connection, data one way (`from` sends).
    Bulk { from: usize, bytes: u64 },
    /// One connection, data both ways at once.
    BothWays { bytes: [u64; 2] },
    /// Many connections at once, each with its own data both ways.
    Many { conns: usize, max_bytes: u64 },
    /// One of the close paths, after some data.
    CloseFlow { close: Close, bytes: u64 },
    /// The receiver stops reading, its window closes, then it resumes.
    ZeroWindow { bytes: u64, pause: Duration, rcvbuf: usize },
}

/// What a run produced, for determinism checks and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub end: Instant,
    pub bytes: u64,
    pub packets: [u64; 2],
}

impl Scenario {
    pub const KINDS: usize = 5;

    pub fn pick(rng: &mut Rng) -> Scenario {
        match rng.below(10) {
            0 | 1 => Scenario::Bulk { from: rng.below(2) as usize, bytes: rng.range_u64(1..=400_000) },
            2 => Scenario::BothWays { bytes: [rng.range_u64(0..=200_000), rng.range_u64(0..=200_000)] },
            3 => {
                Scenario::Many { conns: rng.range_u64(2..=24) as usize, max_bytes: rng.range_u64(0..=40_000) }
            }
            4..=7 => {
                let close =
                    [Close::Active, Close::Passive, Close::Simultaneous, Close::Abort][rng.below(4) as usize];
                Scenario::CloseFlow { close, bytes: rng.range_u64(0..=60_000) }
            }
            _ => Scenario::ZeroWindow {
                bytes: rng.range_u64(50_000..=300_000),
                pause: Duration::from_millis(rng.range_u64(500..=20_000)),
                rcvbuf: rng.range_u64(4_096..=32_768) as usize,
            },
        }
    }

    pub fn run(&self, seed: u64, links: [LinkConfig; 2], trace: bool) -> Result<Outcome, String> {
        let mut rng = Rng::new(seed ^ 0xabcd);
        let mut hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
        if let Scenario::ZeroWindow { rcvbuf, .. } = self {
            hosts[1].tcp.recv_buffer = *rcvbuf;
        }
        let server = server_addr(seed);
        if trace {
            println!(
                "scenario {self:?} to {server}\nlinks {links:#?}\nhosts {:#?}",
                [&hosts[0].tcp, &hosts[1].tcp]
            );
        }
        let mut net = Network::new(hosts, links, seed);
        if trace {
            net.trace = Some(Vec::new());
        }
        let flows = self.flows(&mut rng);
        let result = drive(&mut net, flows, server);
        if let Some(lines) = net.trace.take() {
            let skip = lines.len().saturating_sub(400);
            for l in &lines[skip..] {
                println!("{l}");
            }
            println!("({} packets traced, last 400 shown)", lines.len());
        }
        let bytes = result?;
        let stats = net.link_stats();
        Ok(Outcome { end: net.now, bytes, packets: [stats[0].sent, stats[1].sent] })
    }

    /// The connections this scenario opens: bytes each way and close path.
    fn flows(&self, rng: &mut Rng) -> Vec<Flow> {
        match *self {
            Scenario::Bulk { from, bytes } => {
                let mut b = [0, 0];
                b[from] = bytes;
                vec![Flow::new(b, if from == 0 { Close::Active } else { Close::Passive })]
            }
            Scenario::BothWays { bytes } => vec![Flow::new(bytes, Close::Active)],
            Scenario::Many { conns, max_bytes } => (0..conns)
                .map(|_| {
                    Flow::new([rng.range_u64(0..=max_bytes), rng.range_u64(0..=max_bytes)], Close::Active)
                })
                .collect(),
            Scenario::CloseFlow { close, bytes } => {
                let mut f = Flow::new([bytes, bytes / 2], close);
                if close == Close::Abort {
                    f.bytes = [bytes.max(1) * 4, 0];
                    f.abort_after = Some(bytes);
                }
                vec![f]
            }
            Scenario::ZeroWindow { bytes, pause, .. } => {
                let mut f = Flow::new([bytes, 0], Close::Active);
                f.pause = Some(pause);
                vec![f]
            }
        }
    }
}

/// Whether seed `seed` runs over IPv6 (odd seeds) or IPv4: every host
/// has both addresses, and host 1's listener takes either.
pub fn uses_ipv6(seed: u64) -> bool {
    seed % 2 == 1
}

/// Host 1's address for seed `seed`, of the family it runs over.
fn server_addr(seed: u64) -> SocketAddr {
    let ip = if uses_ipv6(seed) { IpAddr::V6(trust::sim::ipv6_for(ADDRS[1])) } else { IpAddr::V4(ADDRS[1]) };
    SocketAddr::new(ip, PORT)
}

/// Per-host settings: the sim's short TIME-WAIT, patient retries, and a
/// random mix of the negotiable options so every combination is run.
fn host_config(i: usize, seed: u64, rng: &mut Rng) -> StackConfig {
    let mut c = trust::sim::random_host(ADDRS[i], seed.wrapping_mul(2).wrapping_add(i as u64), rng);
    c.tcp.time_wait = TIME_WAIT;
    if rng.chance(0.3) {
        c.tcp.send_buffer = rng.range_u64(8_192..=65_536) as usize;
        c.tcp.recv_buffer = rng.range_u64(8_192..=65_536) as usize;
    }
    c
}

/// One connection: the data each way and how it ends.
#[derive(Debug)]
struct Flow {
    bytes: [u64; 2],
    close: Close,
    /// Abort once host 0 has sent this much.
    abort_after: Option<u64>,
    /// Host 1 reads nothing for this long after accepting.
    pause: Option<Duration>,
    handles: [Option<SocketHandle>; 2],
    senders: [Option<BulkSender>; 2],
    receivers: [Option<BulkReceiver>; 2],
    /// States each side has been seen in (bit per `State`).
    seen: [u32; 2],
    /// Side `i` has released its handle.
    closed: [bool; 2],
    accepted_at: Option<Instant>,
    aborted: bool,
    /// For `Abort`: when host 1 last poked the dead peer.
    last_poke: Instant,
}

impl Flow {
    fn new(bytes: [u64; 2], close: Close) -> Flow {
        Flow {
            bytes,
            close,
            abort_after: None,
            pause: None,
            handles: [None, None],
            senders: [None, None],
            receivers: [None, None],
            seen: [0, 0],
            closed: [false, false],
            accepted_at: None,
            aborted: false,
            last_poke: Instant::ZERO,
        }
    }

    fn attach(&mut self, side: usize, h: SocketHandle, seed: u64) {
        self.handles[side] = Some(h);
        // Side i sends pattern seed (seed, i); the other checks it.
        let shut_first = match self.close {
            Close::Active => side == 0,
            Close::Passive => side == 1,
            Close::Simultaneous | Close::Abort => false,
        };
        self.senders[side] = Some(BulkSender::new(h, seed * 2 + side as u64, self.bytes[side], shut_first));
        self.receivers[side] = Some(BulkReceiver::new(h, seed * 2 + (1 - side) as u64));
    }
}

fn bit(s: State) -> u32 {
    1 << (s as u32)
}

/// Runs the flows to completion and checks them; returns bytes moved.
fn drive(net: &mut Network, mut flows: Vec<Flow>, server: SocketAddr) -> Result<u64, String> {
    let listener = net.hosts[1].listen(PORT, 1024).map_err(|e| format!("listen: {e}"))?;
    for (k, f) in flows.iter_mut().enumerate() {
        let h = net.hosts[0].connect(net.now, server).map_err(|e| format!("connect: {e}"))?;
        f.attach(0, h, k as u64);
    }
    // Accepted connections are matched to flows by host 0's port.
    let mut error = None;
    let finished = net.run(LIMIT, |net| {
        while let Ok(h) = net.hosts[1].accept(listener) {
            let remote = net.hosts[1].addresses(h).map(|t| t.remote).ok();
            let k = flows.iter().position(|f| {
                f.handles[1].is_none()
                    && f.handles[0].and_then(|h0| net.hosts[0].addresses(h0).ok()).map(|t| t.local) == remote
            });
            match k {
                Some(k) => {
                    flows[k].attach(1, h, k as u64);
                    flows[k].accepted_at = Some(net.now);
                }
                None => error = Some(format!("accepted an unknown connection from {remote:?}")),
            }
        }
        let mut all_done = error.is_none();
        for f in flows.iter_mut() {
            match poll_flow(net, f) {
                Ok(done) => all_done &= done,
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        all_done || error.is_some()
    });
    if let Some(e) = error {
        return Err(e);
    }
    if !finished {
        return Err(format!("stalled at {:?}: {}", net.now, summary(net, &flows)));
    }
    check_flows(&flows)?;
    // Quiescence: every connection disappears once its close completes
    // (TIME-WAIT included), leaving only the listener.
    let until = net.now + TIME_WAIT * 4 + Duration::from_secs(600);
    net.run(until, |net| net.hosts[0].socket_count() == 0 && net.hosts[1].socket_count() == 1);
    if net.hosts[0].socket_count() != 0 || net.hosts[1].socket_count() != 1 {
        return Err(format!(
            "sockets left after close: host0 {} host1 {} (expected 0 and the listener)",
            net.hosts[0].socket_count(),
            net.hosts[1].socket_count()
        ));
    }
    Ok(flows.iter().map(|f| f.bytes[0] + f.bytes[1]).sum())
}

/// Moves one flow along; returns whether it is finished.
fn poll_flow(net: &mut Network, f: &mut Flow) -> Result<bool, String> {
    for side in 0..2 {
        let (Some(h), false) = (f.handles[side], f.closed[side]) else { continue };
        let stack = &mut net.hosts[side];
        if let Ok(s) = stack.state(h) {
            f.seen[side] |= bit(s);
        }
        if f.aborted && side == 0 {
            continue;
        }
        if let Some(s) = f.senders[side].as_mut() {
            s.poll(stack);
        }
        let resume = f.pause.zip(f.accepted_at).map(|(p, t)| t + p);
        let paused = side == 1 && resume.is_some_and(|r| net.now < r);
        if paused {
            net.wake_at(resume.unwrap_or(net.now));
        }
        let stack = &mut net.hosts[side];
        if let Some(r) = f.receivers[side].as_mut() {
            r.paused = paused;
            r.poll(stack);
        }
    }
    if f.close == Close::Abort {
        return poll_abort(net, f);
    }
    if f.close == Close::Simultaneous {
        let both_sent = (0..2).all(|i| f.senders[i].as_ref().is_some_and(|s| s.sent == s.total));
        if both_sent && f.seen[0] & bit(State::FinWait1) == 0 {
            for side in 0..2 {
                let h = f.handles[side].ok_or("no handle")?;
                net.hosts[side].shutdown(h, Shutdown::Write).map_err(|e| format!("shutdown: {e}"))?;
                f.senders[side].as_mut().ok_or("no sender")?.shut = true;
                f.seen[side] |= bit(net.hosts[side].state(h).map_err(|e| e.to_string())?);
            }
        }
    }
    for side in 0..2 {
        let (Some(h), Some(s), Some(r)) = (f.handles[side], &mut f.senders[side], &f.receivers[side]) else {
            return Ok(false);
        };
        if let Some(e) = s.error.or(r.error) {
            return Err(format!("side {side}: unexpected error {e}"));
        }
        // The side that closes second shuts down once it has read the end.
        if r.eof && s.sent == s.total && !s.shut {
            s.shut = true;
            net.hosts[side].shutdown(h, Shutdown::Write).map_err(|e| format!("shutdown: {e}"))?;
        }
        if f.closed[side] || !r.eof || !s.shut {
            continue;
        }
        let state = net.hosts[side].state(h).map_err(|e| e.to_string())?;
        if matches!(state, State::TimeWait | State::Closed) {
            net.hosts[side].close(net.now, h).map_err(|e| format!("close: {e}"))?;
            f.closed[side] = true;
        }
    }
    Ok(f.closed[0] && f.closed[1])
}

/// The abort path: host 0 aborts after some data; host 1 keeps poking
/// until it learns of the reset.
fn poll_abort(net: &mut Network, f: &mut Flow) -> Result<bool, String> {
    let (Some(h0), Some(h1)) = (f.handles[0], f.handles[1]) else { return Ok(false) };
    let sent = f.senders[0].as_ref().map_or(0, |s| s.sent);
    if !f.aborted && sent >= f.abort_after.unwrap_or(0) && net.hosts[0].state(h0) == Ok(State::Established) {
        net.hosts[0].abort(net.now, h0).map_err(|e| format!("abort: {e}"))?;
        f.aborted = true;
        f.closed[0] = true;
        f.last_poke = net.now;
    }
    if !f.aborted || f.closed[1] {
        return Ok(false);
    }
    let poke_every = Duration::from_millis(500);
    net.wake_at(f.last_poke + poke_every);
    if net.now.saturating_since(f.last_poke) >= poke_every {
        f.last_poke = net.now;
        // Data to a connection the peer no longer has draws a reset.
        match net.hosts[1].send(h1, b"?") {
            Ok(_) | Err(Error::WouldBlock) => {}
            Err(Error::ConnectionReset) => {
                f.receivers[1].as_mut().ok_or("no receiver")?.error = Some(Error::ConnectionReset)
            }
            Err(e) => return Err(format!("poke: unexpected {e}")),
        }
    }
    let r = f.receivers[1].as_ref().ok_or("no receiver")?;
    match r.error {
        Some(Error::ConnectionReset) => {
            net.hosts[1].close(net.now, h1).map_err(|e| format!("close: {e}"))?;
            f.closed[1] = true;
            Ok(true)
        }
        Some(e) => Err(format!("host 1 saw {e}, expected ConnectionReset")),
        None => Ok(false),
    }
}

/// Byte-exact delivery and the states each close path must pass through.
fn check_flows(flows: &[Flow]) -> Result<(), String> {
    for (k, f) in flows.iter().enumerate() {
        if f.close != Close::Abort {
            for side in 0..2 {
                let s = f.senders[side].as_ref().ok_or("no sender")?;
                let r = f.receivers[1 - side].as_ref().ok_or("no receiver")?;
                if r.received != s.total || r.hash != s.hash || r.mismatch.is_some() {
                    return Err(format!(
                        "flow {k} side {side}: sent {} (hash {:x}), received {} (hash {:x}), first bad byte {:?}",
                        s.total,
                        s.hash.value(),
                        r.received,
                        r.hash.value(),
                        r.mismatch
                    ));
                }
            }
        } else if let Some(m) = f.receivers[1].as_ref().and_then(|r| r.mismatch) {
            return Err(format!("flow {k}: corrupted byte at {m} before the abort"));
        }
        let (first, second) = match f.close {
            Close::Active => (0, 1),
            Close::Passive => (1, 0),
            Close::Simultaneous => {
                for side in 0..2 {
                    expect_seen(
                        k,
                        side,
                        f.seen[side],
                        &[State::FinWait1, State::TimeWait],
                        &[State::CloseWait],
                    )?;
                }
                continue;
            }
            Close::Abort => continue,
        };
        expect_seen(k, first, f.seen[first], &[State::FinWait1, State::TimeWait], &[State::CloseWait])?;
        expect_seen(
            k,
            second,
            f.seen[second],
            &[State::CloseWait, State::LastAck, State::Closed],
            &[State::TimeWait],
        )?;
    }
    Ok(())
}

fn expect_seen(
    flow: usize,
    side: usize,
    seen: u32,
    must: &[State],
    must_not: &[State],
) -> Result<(), String> {
    let missing: Vec<_> = must.iter().filter(|s| seen & bit(**s) == 0).collect();
    let wrong: Vec<_> = must_not.iter().filter(|s| seen & bit(**s) != 0).collect();
    if missing.is_empty() && wrong.is_empty() {
        return Ok(());
    }
    Err(format!(
        "flow {flow} side {side}: states never seen {missing:?}, states that should not occur {wrong:?}"
    ))
}

fn summary(net: &Network, flows: &[Flow]) -> String {
    let mut out = String::new();
    for (k, f) in flows.iter().enumerate().take(6) {
        let states: Vec<_> = (0..2).map(|i| f.handles[i].map(|h| net.hosts[i].state(h))).collect();
        let progress: Vec<_> = (0..2)
            .map(|i| {
                (f.senders[i].as_ref().map(|s| s.sent), f.receivers[i].as_ref().map(|r| (r.received, r.eof)))
            })
            .collect();
        out += &format!("\n  flow {k}: states {states:?} sent/received {progress:?} closed {:?}", f.closed);
        for i in 0..2 {
            if let Some(c) = f.handles[i].and_then(|h| net.hosts[i].connection(h).ok()) {
                out += &format!(
                    "\n    side {i}: queued {} cwnd {:?} timer {:?} {:?}",
                    c.send_queue(),
                    c.congestion_window(),
                    c.poll_timeout(),
                    c.stats()
                );
            }
        }
    }
    out
}
