//! A structure-aware, stateful target: two engines over the simulator,
//! driven by a sequence of operations that `arbitrary` derives from the
//! input (see `stateful/input.rs`): socket calls on the handles the
//! applications hold (stale ones too), time steps from a millisecond to
//! hours, and segments forged relative to a live connection's state
//! (seq = RCV.NXT + δ, ack = SND.UNA + δ, any flags, window and options,
//! SACK blocks and timestamps relative to the live values), so that they
//! pass the acceptability checks and reach the state machine.
//!
//! Every payload, the applications' and the forged ones, carries the byte
//! pattern of the sequence numbers it sits at, so "every byte read is the
//! byte sent there" catches reassembly bugs, duplicated or reordered
//! delivery, and data read past the end of the stream.
//!
//! After every step: socket count, buffer memory and the timer heap stay
//! within bounds, held handles stay valid, stale ones are refused, events
//! name held handles, readiness matches what `recv`, `send` and `accept`
//! do. At the end the network is left alone until nothing has moved for 30
//! minutes of virtual time: first with the applications accepting and
//! reading everything (no held connection may be left in a state that only
//! a timer ends, nor hold unacknowledged data; between connections no
//! forged segment touched, every acknowledged byte has been read and idle
//! ends agree on the sequence numbers; a network making no progress is
//! nearly silent), then with everything closed (both engines must then
//! hold no socket and, once stale timer entries have passed, no timer).
//!
//! `STATEFUL_TRACE=1` prints the operations and every packet of a replayed
//! input, with the connections after each; `TRUST_FUZZ_KNOWN=timer-heap,
//! ack-loop` skips the checks of known, reported engine bugs.

#![no_main]

#[path = "stateful/forge.rs"]
mod forge;
#[path = "stateful/input.rs"]
mod input;
#[path = "stateful/model.rs"]
mod model;

use core::net::SocketAddrV4;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use trust::device::sim::LinkConfig;
use trust::sim::Network;
use trust::stack::StackConfig;
use trust::tcp::congestion::Algorithm;
use trust::tcp::isn::IsnKey;
use trust::tcp::{Keepalive, Readiness, Shutdown, State};
use trust::time::Instant;

use forge::{ADDRS, PORTS};
use input::{Buffer, HostSpec, How, Input, LinkSpec, Op, Wait};
use model::{Apps, Bounds, check, expect_stale};

/// Steps one run of the network, and a whole input, may take before the
/// input is given up: far more than any exchange an input can cause.
const MAX_STEPS: u64 = 1_000_000;
const MAX_INPUT_STEPS: u64 = 4_000_000;
/// A network that takes `LOOP_STEPS` steps in less than `LOOP_WINDOW` of
/// virtual time while no connection moves is in an ACK loop.
const LOOP_WINDOW: Duration = Duration::from_secs(10);
const LOOP_STEPS: u64 = 20_000;
/// How long nothing may change before the network counts as settled.
const QUIET: Duration = Duration::from_secs(30 * 60);

struct Env {
    trace: bool,
    /// Check the timer heap's bound (known bug `timer-heap`).
    timer_heap: bool,
    /// Fail on an ACK loop; otherwise give the input up (known bug
    /// `ack-loop`).
    ack_loops: bool,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let known = std::env::var("TRUST_FUZZ_KNOWN").unwrap_or_default();
        let known = |name: &str| known.split(',').any(|k| k.trim() == name);
        Env {
            trace: std::env::var_os("STATEFUL_TRACE").is_some(),
            timer_heap: !known("timer-heap"),
            ack_loops: !known("ack-loop"),
        }
    })
}

fuzz_target!(|input: Input| run(input));

struct World {
    net: Network,
    apps: Apps,
    bounds: [Bounds; 2],
    keepalive: [Keepalive; 2],
    /// A known engine bug (an ACK loop) made the rest of the input
    /// pointless, or it took too long: it is given up.
    abandoned: bool,
    /// Steps of the simulator so far.
    steps: u64,
}

fn run(input: Input) {
    let env = env();
    let cfgs = [host_config(0, &input.hosts[0]), host_config(1, &input.hosts[1])];
    let bounds = cfgs.clone().map(|c| Bounds {
        max_sockets: c.max_sockets,
        per_connection: c.tcp.send_buffer + c.tcp.recv_buffer + (1 << 14),
        timer_heap: env.timer_heap,
    });
    let keepalive = [short_keepalive(&input.hosts[0]), short_keepalive(&input.hosts[1])];
    let link = link_config(&input.link);
    let mut net = Network::new(cfgs, [link.clone(), link], u64::from(input.link.seed));
    if env.trace {
        net.trace = Some(Vec::new());
        eprintln!("{:#?}\n{:#?}", input.hosts, input.link);
    }
    let mut w = World { net, apps: Apps::default(), bounds, keepalive, abandoned: false, steps: 0 };
    // Live state to start from: host 1 listens on 80, host 0 connects.
    apply(&mut w, &Op::Listen { host: true, port: 0, backlog: 8 });
    apply(&mut w, &Op::Connect { host: false, port: 0, local: 0 });
    apply(&mut w, &Op::Wait(Wait::Millis(200)));
    apply(&mut w, &Op::Accept { host: true, sock: 0 });
    for op in &input.ops {
        if env.trace {
            eprintln!("{:?} {op:?}", w.net.now);
        }
        apply(&mut w, op);
        print_trace(&mut w.net);
        if w.abandoned {
            return;
        }
    }
    finish(&mut w);
    print_trace(&mut w.net);
}

/// Prints the packets traced since the last call and, if there were any,
/// every connection of both hosts.
fn print_trace(net: &mut Network) {
    let Some(t) = net.trace.as_mut() else { return };
    let lines: Vec<String> = t.drain(..).collect();
    for line in &lines {
        eprintln!("    {line}");
    }
    if !lines.is_empty() {
        for (i, host) in net.hosts.iter().enumerate() {
            for c in host.connections() {
                eprintln!("      [{i}] {}", c.describe());
            }
        }
    }
}

fn host_config(i: usize, h: &HostSpec) -> StackConfig {
    let mut c = StackConfig::with_key(ADDRS[i], IsnKey::from_seed(i as u64 + 1));
    let off = |bit: u8| h.features & (1 << bit) != 0;
    c.tcp.timestamps = !off(0);
    c.tcp.sack = !off(1);
    c.tcp.window_scaling = !off(2);
    c.tcp.nodelay = off(3);
    if off(4) {
        c.tcp.congestion = Algorithm::Cubic;
    }
    if off(5) {
        c.mtu = 104; // MSS 64
    }
    if off(6) {
        c.offload.tso_max_payload = 16 * 1024;
    }
    if off(7) {
        c.tcp.keepalive = Some(short_keepalive(h));
    }
    let default = c.tcp.send_buffer;
    let size = |b: Buffer| match b {
        Buffer::Default => default,
        Buffer::Tiny(n) => 1 + usize::from(n) % 4096,
        Buffer::Sized(n) => 4096 + n as usize % (1 << 20),
    };
    c.tcp.send_buffer = size(h.send_buffer);
    c.tcp.recv_buffer = size(h.recv_buffer);
    if h.max_sockets != 0 {
        c.max_sockets = 3 + usize::from(h.max_sockets) % 40;
    }
    c
}

fn short_keepalive(h: &HostSpec) -> Keepalive {
    let k = &h.keepalive;
    Keepalive::new(
        Duration::from_secs(1 + u64::from(k.idle) % 600),
        Duration::from_secs(5 + u64::from(k.interval) % 60),
        1 + u32::from(k.probes) % 4,
    )
}

fn link_config(l: &LinkSpec) -> LinkConfig {
    let mut c = LinkConfig::ideal(Duration::from_millis(1 + u64::from(l.delay) % 32));
    c.loss = [0.0, 0.0, 0.01, 0.03][usize::from(l.loss % 4)];
    let on = |bit: u8| l.faults & (1 << bit) != 0;
    if on(0) {
        c.duplicate = 0.02;
    }
    if on(1) {
        c.reorder = 0.05;
        c.reorder_delay = Duration::from_millis(5);
    }
    if on(2) {
        c.jitter = Duration::from_millis(2);
    }
    if on(3) {
        c.mtu = 65_535 + 100;
    }
    c
}

/// Runs the network until `limit`, checking the invariants after every
/// step; `app` acts first at each step. An ACK loop (a network busy
/// without moving) fails the input, or gives it up when the loop is a
/// known bug.
fn run_until(w: &mut World, limit: Instant, app: fn(&mut Network, &mut Apps)) {
    if w.abandoned {
        return;
    }
    let (apps, bounds, total_steps) = (&mut w.apps, w.bounds, w.steps);
    let mut steps = 0u64;
    let mut window = (w.net.now, 0u64, progress(&w.net, apps, false));
    let (mut looping, mut give_up) = (None, false);
    w.net.run(limit, |net| {
        steps += 1;
        if steps - window.1 >= LOOP_STEPS {
            let p = progress(net, apps, false);
            if p == window.2 && net.now.saturating_since(window.0) < LOOP_WINDOW {
                looping = Some((window.0, net.now));
                return true;
            }
            window = (net.now, steps, p);
        }
        if steps >= MAX_STEPS || total_steps + steps >= MAX_INPUT_STEPS {
            // Not a loop, but too long to be worth it.
            give_up = true;
            return true;
        }
        app(net, apps);
        print_trace(net);
        for (i, host) in net.hosts.iter_mut().enumerate() {
            check(host, i, bounds[i], apps);
        }
        // The engines never emit a packet the link cannot carry (the
        // simulator cuts super-segments as a device would).
        assert_eq!(net.link_stats().map(|s| s.dropped_mtu), [0, 0], "a packet beyond the MTU");
        false
    });
    if let Some((from, to)) = looping {
        assert!(
            !env().ack_loops,
            "an ACK loop: {LOOP_STEPS} steps from {from:?} to {to:?} and nothing moved"
        );
    }
    w.steps += steps;
    w.abandoned |= give_up || looping.is_some();
}

fn apply(w: &mut World, op: &Op) {
    let now = w.net.now;
    match *op {
        Op::Wait(wait) => {
            let limit = match wait {
                Wait::Step => {
                    w.net.step(now + Duration::from_secs(3600));
                    now
                }
                Wait::Millis(n) => now + Duration::from_millis(u64::from(n)),
                Wait::Seconds(n) => now + Duration::from_secs(u64::from(n)),
                Wait::Minutes(n) => now + Duration::from_secs(60 * u64::from(n)),
            };
            run_until(w, limit, |_, _| {});
        }
        Op::Inject(ref inj) => {
            let to = usize::from(inj.to);
            if let Some((packet, rx, (src, dst))) = forge::forge(&w.net.hosts[to], now, inj) {
                w.apps.note_forged(src, dst);
                if let Some(t) = w.net.trace.as_mut() {
                    t.push(format!("{now:?} inject ->{to} {}", trust::sim::describe(&packet)));
                }
                w.net.hosts[to].handle_packet_with(now, &packet, rx);
            }
        }
        Op::Send { host, sock, len } => {
            let (stack, apps) = (&mut w.net.hosts[usize::from(host)], &mut w.apps);
            if let Some(s) = apps.pick(usize::from(host), sock) {
                model::send(stack, s, usize::from(len) % (16 * 1024 + 1));
            }
        }
        Op::Recv { host, sock, len } => {
            let (stack, apps) = (&mut w.net.hosts[usize::from(host)], &mut w.apps);
            if let Some(s) = apps.pick(usize::from(host), sock) {
                let _ = model::recv(stack, s, usize::from(len));
            }
        }
        Op::Shutdown { host, sock, how } => {
            let (stack, apps) = (&mut w.net.hosts[usize::from(host)], &mut w.apps);
            if let Some(s) = apps.pick(usize::from(host), sock) {
                let how = match how {
                    How::Write => Shutdown::Write,
                    How::Read => Shutdown::Read,
                    How::Both => Shutdown::Both,
                };
                let r = stack.shutdown(s.handle, how);
                if r.is_ok()
                    && how != Shutdown::Write
                    && let Some(stream) = s.stream.as_mut()
                {
                    stream.eof = true;
                    stream.shut_read = true;
                }
                expect_stale(s, r);
            }
        }
        Op::Close { host, sock } | Op::Abort { host, sock } => {
            let (stack, apps) = (&mut w.net.hosts[usize::from(host)], &mut w.apps);
            if let Some(s) = apps.pick(usize::from(host), sock) {
                let r = match op {
                    Op::Close { .. } => stack.close(now, s.handle),
                    _ => stack.abort(now, s.handle),
                };
                if s.live {
                    assert_eq!(r, Ok(()), "letting go of a held handle failed");
                }
                expect_stale(s, r);
                s.live = false;
            }
        }
        Op::Connect { host, port, local } => {
            let h = usize::from(host);
            let remote_port =
                if port == 255 { 0 } else { [80, 81, 82, 9, 50001, 50002][usize::from(port % 6)] };
            let remote = SocketAddrV4::new(ADDRS[1 - h], remote_port);
            let local = if (1..=3).contains(&local) { 50000 + u16::from(local) } else { 0 };
            if let Ok(handle) = w.net.hosts[h].connect_with(now, remote, local, None) {
                w.apps.add(h, handle, &w.net.hosts[h]);
            }
        }
        Op::Listen { host, port, backlog } => {
            let h = usize::from(host);
            let port = [PORTS[0], PORTS[1], PORTS[2], 0][usize::from(port % 4)];
            if let Ok(handle) = w.net.hosts[h].listen(port, usize::from(backlog % 16)) {
                w.apps.add(h, handle, &w.net.hosts[h]);
            }
        }
        Op::Accept { host, sock } => {
            let h = usize::from(host);
            let Some(s) = w.apps.pick(h, sock) else { return };
            let ready = w.net.hosts[h].readiness(s.handle);
            let r = w.net.hosts[h].accept(s.handle);
            expect_stale(s, r);
            if let (Ok(ready), None) = (ready, &s.stream) {
                let blocked = r == Err(trust::Error::WouldBlock);
                assert_eq!(
                    ready.contains(Readiness::READABLE),
                    !blocked,
                    "listener {ready:?}, accept gave {r:?}"
                );
            }
            if let Ok(handle) = r {
                w.apps.add(h, handle, &w.net.hosts[h]);
            }
        }
        Op::Keepalive { host, sock, mode } => {
            let h = usize::from(host);
            let keepalive = [None, Some(w.keepalive[h]), Some(Keepalive::default())][usize::from(mode % 3)];
            if let Some(s) = w.apps.pick(h, sock) {
                let r = w.net.hosts[h].set_keepalive(now, s.handle, keepalive);
                expect_stale(s, r);
            }
        }
        Op::Nodelay { host, sock, on } => {
            let h = usize::from(host);
            if let Some(s) = w.apps.pick(h, sock) {
                let r = w.net.hosts[h].set_nodelay(s.handle, on);
                expect_stale(s, r);
            }
        }
    }
    w.net.flush();
    for (i, host) in w.net.hosts.iter_mut().enumerate() {
        check(host, i, w.bounds[i], &mut w.apps);
    }
}

/// The applications accept every connection and read everything.
fn serve(net: &mut Network, apps: &mut Apps) {
    for h in 0..2 {
        let stack = &mut net.hosts[h];
        let mut accepted = Vec::new();
        for s in apps.socks[h].iter_mut().filter(|s| s.live) {
            if s.stream.is_none() {
                while let Ok(c) = stack.accept(s.handle) {
                    let _ = stack.set_keepalive(net.now, c, None);
                    accepted.push(c);
                }
                continue;
            }
            while let Ok(n) = model::recv(stack, s, 4096) {
                if n == 0 {
                    break;
                }
            }
        }
        for c in accepted {
            apps.add(h, c, stack);
        }
    }
}

/// Runs the network in one-minute slices until nothing has changed for
/// [`QUIET`]: no connection no forged segment touched moved (state,
/// SND.UNA, RCV.NXT, queued bytes) and no byte was read. A network that
/// makes no progress must also be nearly silent from the moment any
/// connection, forged ones included, last moved: retransmissions and probes
/// back off.
fn settle(w: &mut World, app: fn(&mut Network, &mut Apps)) {
    let started = w.net.now;
    let mut last = progress(&w.net, &w.apps, true);
    let mut last_any = progress(&w.net, &w.apps, false);
    let (mut since, mut sent_since) = (w.net.now, packets_sent(&w.net));
    loop {
        let limit = w.net.now + Duration::from_secs(60);
        run_until(w, limit, app);
        print_trace(&mut w.net);
        let now = w.net.now;
        if w.abandoned {
            return;
        }
        // Packets count from the last move of any connection: a forged
        // one may crawl (and send) long after the others went quiet.
        let any = progress(&w.net, &w.apps, false);
        if any != last_any {
            (last_any, sent_since) = (any, packets_sent(&w.net));
        }
        let p = progress(&w.net, &w.apps, true);
        if p != last {
            (last, since, sent_since) = (p, now, packets_sent(&w.net));
            let days = now.saturating_since(started).as_secs() / 86_400;
            assert!(days < 30, "the network still moves after {days} days");
            continue;
        }
        if now.saturating_since(since) >= QUIET {
            let packets = packets_sent(&w.net) - sent_since;
            let sockets = (w.net.hosts[0].socket_count() + w.net.hosts[1].socket_count()) as u64;
            let quiet = packets <= 200 * (sockets + 1);
            assert!(
                quiet || !env().ack_loops,
                "{packets} packets since anything last moved, on a network making no progress for {QUIET:?} ({sockets} sockets)"
            );
            w.abandoned |= !quiet;
            return;
        }
    }
}

fn packets_sent(net: &Network) -> u64 {
    net.link_stats().iter().map(|s| s.sent).sum()
}

/// A digest of everything that moves while a connection makes progress.
/// With `untainted`, only of the connections no forged segment touched
/// (a forged window can make one crawl legitimately, a byte a minute).
fn progress(net: &Network, apps: &Apps, untainted: bool) -> u64 {
    let mut hasher = DefaultHasher::new();
    for host in &net.hosts {
        host.socket_count().hash(&mut hasher);
        for c in host.connections().filter(|c| !(untainted && apps.is_tainted(&c.tuple()))) {
            (c.state(), c.snd_una(), c.rcv_nxt(), c.send_queue()).hash(&mut hasher);
        }
    }
    for socks in &apps.socks {
        for s in socks.iter().filter_map(|s| s.stream.as_ref()) {
            if !(untainted && apps.is_tainted(&s.tuple)) {
                s.read.hash(&mut hasher);
            }
        }
    }
    hasher.finish()
}

/// The end of every input: a quiet network, first with the applications
/// reading, then with everything closed.
fn finish(w: &mut World) {
    let now = w.net.now;
    for h in 0..2 {
        for s in w.apps.socks[h].iter().filter(|s| s.live && s.stream.is_some()) {
            let _ = w.net.hosts[h].set_keepalive(now, s.handle, None);
        }
    }
    settle(w, serve);
    if w.abandoned {
        return;
    }
    for h in 0..2 {
        let stack = &w.net.hosts[h];
        // A forged segment can legitimately wedge a connection: one with a
        // window of 0 and a sequence number beyond the peer's freezes the
        // send window (RFC 9293's SND.WL1 rule) while the peer answers
        // every probe. Only untainted connections must come through.
        let untainted = |s: &&model::Sock| s.stream.as_ref().is_some_and(|st| !w.apps.is_tainted(&st.tuple));
        for s in w.apps.socks[h].iter().filter(|s| s.live).filter(untainted) {
            let state = stack.state(s.handle).expect("a held handle");
            let describe = || stack.connection(s.handle).map(|c| c.describe()).unwrap_or_default();
            // Every other state ends by a timer within the retry budgets.
            assert!(
                matches!(state, State::Established | State::FinWait2 | State::CloseWait | State::Closed),
                "host {h}: a held connection is stuck in {state:?}: {}",
                describe()
            );
            // Applications that read everything let every byte through.
            if matches!(state, State::Established | State::CloseWait) {
                assert_eq!(
                    stack.all_acknowledged(s.handle),
                    Ok(true),
                    "host {h}: data stuck unacknowledged: {}",
                    describe()
                );
            }
        }
    }
    w.apps.check_pairs(&w.net.hosts);
    let now = w.net.now;
    for h in 0..2 {
        for s in w.apps.socks[h].iter_mut().filter(|s| s.live) {
            assert_eq!(w.net.hosts[h].close(now, s.handle), Ok(()));
            s.live = false;
        }
    }
    w.net.flush();
    settle(w, |_, _| {});
    if w.abandoned {
        return;
    }
    for (h, stack) in w.net.hosts.iter().enumerate() {
        let left: Vec<String> = stack.connections().map(|c| c.describe()).collect();
        assert!(
            stack.socket_count() == 0,
            "host {h}: {} sockets left after everything was closed: {left:#?}",
            stack.socket_count()
        );
    }
    // Stale timer entries may outlive their sockets, never by more than
    // the longest timer (keep-alive's 2 h idle).
    let now = w.net.now;
    run_until(w, now + Duration::from_secs(3 * 3600), |_, _| {});
    for (h, stack) in w.net.hosts.iter_mut().enumerate() {
        assert_eq!(stack.poll_timeout(), None, "host {h}: a timer is armed with no socket");
        assert_eq!(stack.timer_entries(), 0);
        assert_eq!(stack.poll_event(), None, "host {h}: an event with no socket");
        let mut buf = vec![0u8; 70_000];
        assert_eq!(stack.poll_transmit(w.net.now, &mut buf), None, "host {h}: output with no socket");
    }
}
