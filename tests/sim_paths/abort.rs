//! Aborts (RFC 9293 §3.10.5) in the handshake and mid-transfer, from
//! either side, over lossy links. The aborting side's socket is gone at
//! once; the other side sees `ConnectionReset` (`ConnectionRefused` while
//! in SYN-SENT), or, when the reset is lost, learns it from the reset its
//! next segment draws (RFC 9293 §3.10.7.1). Closing with unread data is an
//! abort too (RFC 1122 §4.2.2.13).

use std::time::Duration;

use trust::Error;
use trust::device::sim::Rng;
use trust::sim::Network;
use trust::tcp::{Readiness, State};

use crate::*;

/// How often the side that was not aborted sends a byte to find out.
const POKE: Duration = Duration::from_millis(500);

#[test]
fn client_aborts_in_the_handshake() {
    run_seeds("abort::client_aborts_in_the_handshake", 150, run_handshake);
}

fn run_handshake(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    let port = rng.range_u64(1024..=65_000) as u16;
    // Mostly still in SYN-SENT; sometimes just established.
    let abort_at = Instant::ZERO + (links[0].delay + links[1].delay).mul_f64(rng.next_f64() * 1.3);
    let reconnect = Duration::from_millis(rng.range_u64(0..=3_000));
    let bytes = [rng.range_u64(1..=20_000), rng.range_u64(0..=20_000)];
    if trace {
        println!("port {port} abort at {abort_at:?}, reconnect {reconnect:?} later, bytes {bytes:?}");
    }
    let mut net = network(hosts, links, seed, trace);
    let r = drive_handshake(&mut net, port, abort_at, reconnect, bytes);
    finish(&mut net, r)
}

fn drive_handshake(
    net: &mut Network,
    port: u16,
    abort_at: Instant,
    reconnect: Duration,
    bytes: [u64; 2],
) -> Result<(), String> {
    let listener = net.hosts[1].listen(PORT, 8).map_err(|e| format!("listen: {e:?}"))?;
    let h = net.hosts[0]
        .connect_with(net.now, addr(1, PORT), port, None)
        .map_err(|e| format!("connect: {e:?}"))?;
    net.run(abort_at, |net| net.now >= abort_at);
    let state = net.hosts[0].state(h).map_err(|e| format!("state: {e:?}"))?;
    net.hosts[0].abort(net.now, h).map_err(|e| format!("abort: {e:?}"))?;
    expect_stale(&mut net.hosts[0], net.now, h)?;
    if net.hosts[0].socket_count() != 0 {
        return Err(format!("aborted in {state:?}, the socket was not freed"));
    }
    // The same port again, for a whole exchange.
    let again = net.now + reconnect;
    net.run(again, |net| net.now >= again);
    let h = net.hosts[0]
        .connect_with(net.now, addr(1, PORT), port, None)
        .map_err(|e| format!("reconnect: {e:?}"))?;
    let mut client = Side::new(h, 0, 0, bytes[0], bytes[1], true);
    // Whatever the server accepts from that port: the aborted connection
    // (which must then report a reset) or the new one (which sends data).
    let mut candidates: Vec<Side> = Vec::new();
    let mut resets = 0;
    let mut error = None;
    let done = net.run(Instant::ZERO + LIMIT, |net| {
        while let Ok(h) = net.hosts[1].accept(listener) {
            let mut s = Side::new(h, 0, 1, bytes[1], bytes[0], false);
            s.start_after = bytes[0];
            candidates.push(s);
        }
        client.poll(&mut net.hosts[0]);
        let r = client.close_when_done(net.now, &mut net.hosts[0]);
        let mut closed = r.unwrap_or_else(|e| {
            error.get_or_insert(format!("client: {e}"));
            false
        });
        let mut served = false;
        for s in candidates.iter_mut().filter(|s| !s.closed) {
            s.poll(&mut net.hosts[1]);
            if s.error() == Some(Error::ConnectionReset) && s.rx.received == 0 {
                resets += 1;
                s.closed = true;
                if let Err(e) = net.hosts[1].close(net.now, s.h) {
                    error.get_or_insert(format!("close the reset connection: {e:?}"));
                }
                continue;
            }
            match s.close_when_done(net.now, &mut net.hosts[1]) {
                Ok(c) => served |= c,
                Err(e) => {
                    error.get_or_insert(format!("server: {e}"));
                }
            }
        }
        served |= candidates.iter().any(|s| s.closed && s.rx.received > 0);
        closed &= served;
        closed || error.is_some()
    });
    if let Some(e) = error {
        return Err(format!("aborted in {state:?}: {e}"));
    }
    if !done {
        let servers: Vec<String> = candidates.iter().map(|s| describe_side(net, 1, s)).collect();
        return Err(format!(
            "aborted in {state:?}; stalled at {:?}:\n  {}\n  {}",
            net.now,
            describe_side(net, 0, &client),
            servers.join("\n  ")
        ));
    }
    let served: Vec<&Side> = candidates.iter().filter(|s| s.rx.received > 0 || s.error().is_none()).collect();
    let [server] = served[..] else {
        return Err(format!("{} connections served from one client", served.len()));
    };
    check_stream("request", &client, server)?;
    check_stream("response", server, &client)?;
    // The server can only have accepted the aborted connection if it was
    // established: a SYN-SENT abort leaves it half-open, to be reset.
    if resets > 0 && state != State::Established {
        return Err(format!("aborted in {state:?}, yet the server accepted and saw a reset"));
    }
    expect_quiescent(net, Duration::from_secs(3600), [0, 1])
}

#[test]
fn listener_closes_in_the_handshake() {
    run_seeds("abort::listener_closes_in_the_handshake", 150, run_listener);
}

fn run_listener(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    let clients = rng.range_u64(1..=4) as usize;
    let close_at = Instant::ZERO + (links[0].delay + links[1].delay).mul_f64(rng.next_f64() * 2.0);
    let req: Vec<u64> = (0..clients).map(|_| rng.range_u64(1..=5_000)).collect();
    if trace {
        println!("{clients} clients, listener closed at {close_at:?}, requests {req:?}");
    }
    let mut net = network(hosts, links, seed, trace);
    let r = drive_listener(&mut net, close_at, &req);
    finish(&mut net, r)
}

fn drive_listener(net: &mut Network, close_at: Instant, req: &[u64]) -> Result<(), String> {
    let listener = net.hosts[1].listen(PORT, 8).map_err(|e| format!("listen: {e:?}"))?;
    let mut clients: Vec<Side> = Vec::new();
    for (k, &n) in req.iter().enumerate() {
        let h = net.hosts[0].connect(net.now, addr(1, PORT)).map_err(|e| format!("connect: {e:?}"))?;
        clients.push(Side::new(h, k as u64, 0, n, 0, false));
    }
    let mut open = true;
    let mut last_poke = Instant::ZERO;
    let done = net.run(Instant::ZERO + LIMIT, |net| {
        if open && net.now >= close_at {
            open = false;
            let _ = net.hosts[1].close(net.now, listener);
        } else if open {
            net.wake_at(close_at);
        }
        // A client whose request is out waits for an answer; if the
        // reset that ended its connection was lost, it learns on its next
        // send, so it pokes now and then.
        let poke = !open && net.now >= last_poke + POKE;
        if poke {
            last_poke = net.now;
        }
        for c in clients.iter_mut().filter(|c| c.error().is_none()) {
            c.poll(&mut net.hosts[0]);
            if poke && c.tx.sent == c.tx.total && c.error().is_none() {
                match net.hosts[0].send(c.h, b"?") {
                    Ok(_) | Err(Error::WouldBlock) => {}
                    Err(e) => c.tx.error = Some(e),
                }
            }
        }
        if !open {
            net.wake_at(last_poke + POKE);
        }
        clients.iter().all(|c| c.error().is_some())
    });
    if !done {
        let sides: Vec<String> = clients.iter().map(|c| describe_side(net, 0, c)).collect();
        return Err(format!("stalled at {:?}:\n  {}", net.now, sides.join("\n  ")));
    }
    for (k, c) in clients.iter().enumerate() {
        let established = c.seen & bit(State::Established) != 0;
        let expected = if established { Error::ConnectionReset } else { Error::ConnectionRefused };
        if c.error() != Some(expected) || c.rx.received != 0 {
            return Err(format!(
                "client {k} (seen {:#x}, established {established}): {:?}, expected {expected:?}; read {}",
                c.seen,
                c.error(),
                c.rx.received
            ));
        }
        net.hosts[0].close(net.now, c.h).map_err(|e| format!("close: {e:?}"))?;
    }
    if net.hosts[0].socket_count() != 0 {
        return Err(format!("{} sockets left on the clients' host", net.hosts[0].socket_count()));
    }
    expect_quiescent(net, Duration::from_secs(3600), [0, 0])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Abort,
    /// `close` with data still unread.
    CloseUnread,
}

#[test]
fn abort_mid_transfer() {
    run_seeds("abort::abort_mid_transfer", 200, run_transfer);
}

fn run_transfer(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    let aborter = rng.below(2) as usize;
    // Who sends: the aborter, its peer, or both.
    let mut bytes = [0; 2];
    match rng.below(3) {
        0 => bytes[aborter] = rng.range_u64(20_000..=300_000),
        1 => bytes[1 - aborter] = rng.range_u64(20_000..=300_000),
        _ => bytes = [rng.range_u64(20_000..=300_000), rng.range_u64(20_000..=300_000)],
    }
    let after = rng.range_u64(0..=(bytes[0] + bytes[1]) / 2);
    let how = if bytes[1 - aborter] > 0 && rng.chance(0.4) { How::CloseUnread } else { How::Abort };
    if how == How::CloseUnread {
        // The peer keeps sending until it learns, so there is always data
        // left unread once the aborting side stops reading.
        bytes[1 - aborter] = 1 << 40;
    }
    if trace {
        println!("host {aborter} ends with {how:?} after moving {after} bytes; bytes {bytes:?}");
    }
    let mut net = network(hosts, links, seed, trace);
    let r = drive_transfer(&mut net, aborter, how, bytes, after);
    finish(&mut net, r)
}

fn drive_transfer(net: &mut Network, x: usize, how: How, bytes: [u64; 2], after: u64) -> Result<(), String> {
    let y = 1 - x;
    let listener = net.hosts[1].listen(PORT, 8).map_err(|e| format!("listen: {e:?}"))?;
    let h0 = net.hosts[0].connect(net.now, addr(1, PORT)).map_err(|e| format!("connect: {e:?}"))?;
    let mut sides: [Option<Side>; 2] = [Some(Side::new(h0, 0, 0, bytes[0], bytes[1], false)), None];
    let mut aborted_at = None;
    let mut last_poke = Instant::ZERO;
    let mut error = None;
    let done = net.run(Instant::ZERO + LIMIT, |net| {
        if sides[1].is_none()
            && let Ok(h) = net.hosts[1].accept(listener)
        {
            sides[1] = Some(Side::new(h, 0, 1, bytes[1], bytes[0], false));
        }
        let r = step(net, &mut sides, x, how, after, &mut aborted_at, &mut last_poke);
        match r {
            Ok(done) => done,
            Err(e) => {
                error = Some(e);
                true
            }
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    let [Some(a), Some(b)] = &sides else { return Err("never accepted".into()) };
    let (sx, sy) = if x == 0 { (a, b) } else { (b, a) };
    if !done {
        return Err(format!(
            "stalled at {:?} (aborted at {aborted_at:?}):\n  {}\n  {}",
            net.now,
            describe_side(net, 0, a),
            describe_side(net, 1, b)
        ));
    }
    if sy.error() != Some(Error::ConnectionReset) {
        return Err(format!("host {y} saw {:?}, expected ConnectionReset", sy.error()));
    }
    for (who, s) in [(x, sx), (y, sy)] {
        if s.rx.mismatch.is_some() || s.rx.received > s.expect {
            return Err(format!("host {who} read {} bytes, bad byte at {:?}", s.rx.received, s.rx.mismatch));
        }
    }
    expect_seen(&format!("host {y}"), sy.seen, &[State::Established], &[State::CloseWait, State::TimeWait])?;
    if net.hosts[x].stats().tx_resets == 0 {
        return Err(format!("host {x} never sent a reset"));
    }
    net.hosts[y].close(net.now, sy.h).map_err(|e| format!("close: {e:?}"))?;
    expect_quiescent(net, Duration::from_secs(60), [0, 1])
}

/// One step of the abort scenario; returns whether it is over.
fn step(
    net: &mut Network,
    sides: &mut [Option<Side>; 2],
    x: usize,
    how: How,
    after: u64,
    aborted_at: &mut Option<Instant>,
    last_poke: &mut Instant,
) -> Result<bool, String> {
    let y = 1 - x;
    let [Some(a), Some(b)] = sides else {
        if let Some(s) = sides[0].as_mut() {
            s.poll(&mut net.hosts[0]);
        }
        return Ok(false);
    };
    let (sx, sy) = if x == 0 { (a, b) } else { (b, a) };
    if aborted_at.is_none() {
        sx.poll(&mut net.hosts[x]);
        if let Some(e) = sx.error() {
            return Err(format!("host {x} before ending: {e:?}"));
        }
        let moved = sx.tx.sent + sx.rx.received;
        let established = net.hosts[x].state(sx.h) == Ok(State::Established);
        if moved >= after && established {
            let readable = net.hosts[x].readiness(sx.h).is_ok_and(|r| r.contains(Readiness::READABLE));
            match how {
                How::Abort => net.hosts[x].abort(net.now, sx.h).map_err(|e| format!("abort: {e:?}"))?,
                // Stop reading until data waits, then close over it.
                How::CloseUnread if !readable => sx.rx.paused = true,
                How::CloseUnread => net.hosts[x].close(net.now, sx.h).map_err(|e| format!("close: {e:?}"))?,
            }
            if how == How::Abort || readable {
                *aborted_at = Some(net.now);
                *last_poke = net.now;
                sx.closed = true;
                expect_stale(&mut net.hosts[x], net.now, sx.h)?;
                let left = net.hosts[x].socket_count();
                if left != x {
                    return Err(format!("host {x} has {left} sockets right after {how:?}, expected {x}"));
                }
            }
        }
    }
    sy.poll(&mut net.hosts[y]);
    match sy.error() {
        None => {}
        Some(Error::ConnectionReset) if aborted_at.is_some() => return Ok(true),
        Some(e) => return Err(format!("host {y} saw {e:?} (aborted at {aborted_at:?})")),
    }
    let Some(at) = *aborted_at else { return Ok(false) };
    if sy.rx.eof {
        return Err(format!("host {y} read the end of the stream after host {x}'s {how:?} at {at:?}"));
    }
    // With nothing of its own left to send, the peer pokes to find out.
    if sy.tx.sent == sy.tx.total {
        net.wake_at(*last_poke + POKE);
        if net.now >= *last_poke + POKE {
            *last_poke = net.now;
            match net.hosts[y].send(sy.h, b"?") {
                Ok(_) | Err(Error::WouldBlock) => {}
                Err(e) => sy.tx.error = Some(e),
            }
        }
    }
    Ok(false)
}
