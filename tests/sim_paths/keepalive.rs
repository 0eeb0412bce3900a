//! Keep-alive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6) over lossy links. An
//! idle, healthy connection stays up for hours of virtual time: probes
//! are answered, and lost ones are retried. A connection whose peer
//! vanished (both links cut for good) fails with `TimedOut` exactly
//! idle + probes·interval after the last segment it received (or after
//! keep-alive was turned on, if that was later), having sent exactly
//! `probes` probes; a peer
//! without keep-alive learns of the loss by a reset once it sends
//! (RFC 9293 §3.5.2, half-open connections).

use std::time::Duration;

use trust::Error;
use trust::device::sim::{LinkConfig, Rng};
use trust::sim::Network;
use trust::stack::SocketHandle;
use trust::tcp::{Keepalive, State};

use crate::*;

/// Leeway on the failure time: one RTO (the brief's bound).
const RTO_SLACK: Duration = Duration::from_secs(1);

/// Opens host 0 -> host 1 and returns both handles once accepted.
fn open(net: &mut Network) -> Result<(SocketHandle, SocketHandle, SocketHandle), String> {
    let listener = net.hosts[1].listen(PORT, 8).map_err(|e| format!("listen: {e:?}"))?;
    let h0 = net.hosts[0].connect(net.now, addr(1, PORT)).map_err(|e| format!("connect: {e:?}"))?;
    let mut h1 = None;
    net.run(net.now + LIMIT, |net| {
        h1 = h1.or_else(|| net.hosts[1].accept(listener).ok());
        h1.is_some()
    });
    let h1 = h1.ok_or_else(|| format!("never accepted (host 0 {:?})", net.hosts[0].state(h0)))?;
    Ok((listener, h0, h1))
}

/// Runs both sides until each has read all the peer sends and has all its
/// own data acknowledged; fails on any error.
fn exchange(net: &mut Network, sides: &mut [Side; 2]) -> Result<(), String> {
    let mut error = None;
    let done = net.run(net.now + LIMIT, |net| {
        for (i, s) in sides.iter_mut().enumerate() {
            s.poll(&mut net.hosts[i]);
            if let Some(e) = s.error() {
                error.get_or_insert(format!("host {i}: {e:?}"));
            }
        }
        let settled = sides.iter().enumerate().all(|(i, s)| {
            s.rx.received == s.expect
                && s.tx.sent == s.tx.total
                && net.hosts[i].all_acknowledged(s.h) == Ok(true)
        });
        settled || error.is_some()
    });
    match error {
        Some(e) => Err(e),
        None if !done => Err(format!(
            "exchange stalled at {:?}:\n  {}\n  {}",
            net.now,
            describe_side(net, 0, &sides[0]),
            describe_side(net, 1, &sides[1])
        )),
        None => Ok(()),
    }
}

#[test]
fn idle_connection_stays_up_for_hours() {
    run_seeds("keepalive::idle_connection_stays_up_for_hours", 60, run_idle);
}

fn run_idle(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let mut hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    let mut kas = [Keepalive::default(); 2];
    for (h, ka) in hosts.iter_mut().zip(&mut kas) {
        // Enough probes that even 20 % loss each way almost never loses
        // every one (0.42^20 per idle period).
        *ka = Keepalive::new(
            Duration::from_secs(rng.range_u64(30..=300)),
            Duration::from_secs(rng.range_u64(2..=30)),
            20,
        );
        h.tcp.keepalive = Some(*ka);
    }
    let hours = rng.range_u64(2..=4);
    let bytes = [rng.range_u64(1..=20_000), rng.range_u64(1..=20_000)];
    if trace {
        println!("keepalive {kas:?} idle for {hours} h, bytes {bytes:?}");
    }
    let mut net = network(hosts, links, seed, trace);
    let r = drive_idle(&mut net, kas, Duration::from_secs(hours * 3600), bytes);
    finish(&mut net, r)
}

fn drive_idle(net: &mut Network, kas: [Keepalive; 2], idle: Duration, bytes: [u64; 2]) -> Result<(), String> {
    let (listener, h0, h1) = open(net)?;
    let mut sides =
        [Side::new(h0, 0, 0, bytes[0], bytes[1], false), Side::new(h1, 0, 1, bytes[1], bytes[0], false)];
    exchange(net, &mut sides)?;
    // Idle: nothing but keep-alive probes and their answers.
    let sent = net.link_stats().map(|s| s.sent);
    let start = net.now;
    let mut broken = None;
    net.run(start + idle, |net| {
        for (i, s) in sides.iter().enumerate() {
            let state = net.hosts[i].state(s.h);
            let error = net.hosts[i].connection(s.h).ok().and_then(|c| c.error());
            if state != Ok(State::Established) || error.is_some() {
                broken.get_or_insert(format!("host {i} at {:?}: {state:?} {error:?}", net.now));
            }
        }
        broken.is_some()
    });
    if let Some(b) = broken {
        return Err(format!("idle connection broke (idle since {start:?}): {b}"));
    }
    // Each side probes at least once per idle + probes·interval; neither
    // floods the link.
    let now_sent = net.link_stats().map(|s| s.sent);
    for i in 0..2 {
        let n = now_sent[i] - sent[i];
        let cycle = kas[i].idle + kas[i].interval * kas[i].probes;
        let at_least = (idle.as_secs() / cycle.as_secs()).max(1);
        let periods: u64 = kas.iter().map(|k| idle.as_secs() / k.idle.as_secs() + 1).sum();
        let at_most = periods * (u64::from(kas[i].probes) + 1);
        if n < at_least || n > at_most {
            return Err(format!(
                "host {i} sent {n} packets over {idle:?} idle, expected {at_least}..={at_most}"
            ));
        }
    }
    // Still usable: a second exchange, then a graceful close.
    let mut second =
        [Side::new(h0, 1, 0, bytes[1], bytes[0], true), Side::new(h1, 1, 1, bytes[0], bytes[1], false)];
    let mut error = None;
    let done = net.run(net.now + LIMIT, |net| {
        let mut closed = true;
        for (i, s) in second.iter_mut().enumerate() {
            s.poll(&mut net.hosts[i]);
            closed &= s.close_when_done(net.now, &mut net.hosts[i]).unwrap_or_else(|e| {
                error.get_or_insert(format!("host {i}: {e}"));
                false
            });
        }
        closed || error.is_some()
    });
    if let Some(e) = error {
        return Err(format!("after the idle period: {e}"));
    }
    if !done {
        return Err(format!(
            "stalled after the idle period:\n  {}\n  {}",
            describe_side(net, 0, &second[0]),
            describe_side(net, 1, &second[1])
        ));
    }
    for k in 0..2 {
        let [a, b] = if k == 0 { &sides } else { &second };
        check_stream(&format!("exchange {k} 0->1"), a, b)?;
        check_stream(&format!("exchange {k} 1->0"), b, a)?;
    }
    net.hosts[1].close(net.now, listener).map_err(|e| format!("close listener: {e:?}"))?;
    expect_quiescent(net, Duration::from_secs(3600), [0, 0])
}

#[test]
fn vanished_peer_times_out() {
    run_seeds("keepalive::vanished_peer_times_out", 150, run_vanished);
}

fn run_vanished(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let mut hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    let mut kas = [None; 2];
    for (i, (h, ka)) in hosts.iter_mut().zip(&mut kas).enumerate() {
        if i == 0 || rng.chance(0.5) {
            *ka = Some(Keepalive::new(
                Duration::from_secs(rng.range_u64(60..=600)),
                Duration::from_secs(rng.range_u64(1..=30)),
                rng.range_u64(1..=9) as u32,
            ));
        }
        h.tcp.keepalive = *ka;
    }
    // Host 0 sometimes turns keep-alive on only when the links go: its
    // idle clock then starts at that instant.
    let late = rng.chance(0.3);
    if late {
        hosts[0].tcp.keepalive = None;
    }
    let bytes = [rng.range_u64(1..=5_000), rng.range_u64(1..=5_000)];
    if trace {
        println!("keepalive {kas:?} (host 0's set at the cut: {late}) bytes {bytes:?}");
    }
    let mut net = network(hosts, links.clone(), seed, trace);
    let r = drive_vanished(&mut net, &links, kas, late, bytes);
    finish(&mut net, r)
}

fn drive_vanished(
    net: &mut Network,
    links: &[LinkConfig; 2],
    kas: [Option<Keepalive>; 2],
    late: bool,
    bytes: [u64; 2],
) -> Result<(), String> {
    let (listener, h0, h1) = open(net)?;
    // A request, then its response: each side's last activity is at or
    // after the arrival of the last byte it reads.
    let mut sides =
        [Side::new(h0, 0, 0, bytes[0], bytes[1], false), Side::new(h1, 0, 1, bytes[1], bytes[0], false)];
    sides[1].start_after = bytes[0];
    let mut read_all_at = [None; 2];
    // Every instant a packet reached each host.
    let mut arrivals: [Vec<Instant>; 2] = [Vec::new(), Vec::new()];
    let mut delivered = net.link_stats().map(|s| s.delivered);
    let mut note = |net: &Network, arrivals: &mut [Vec<Instant>; 2]| {
        for i in 0..2 {
            let d = net.links[1 - i].stats().delivered;
            if d != delivered[1 - i] {
                delivered[1 - i] = d;
                arrivals[i].push(net.now);
            }
        }
    };
    // The exchange, then quiet: all acknowledged, nothing in flight.
    let mut error = None;
    net.run(net.now + LIMIT, |net| {
        note(net, &mut arrivals);
        for (i, s) in sides.iter_mut().enumerate() {
            s.poll(&mut net.hosts[i]);
            if s.rx.received == s.expect && read_all_at[i].is_none() {
                read_all_at[i] = Some(net.now);
            }
            if let Some(e) = s.error() {
                error.get_or_insert(format!("host {i} before the cut: {e:?}"));
            }
        }
        let quiet = read_all_at.iter().all(Option::is_some)
            && sides.iter().enumerate().all(|(i, s)| net.hosts[i].all_acknowledged(s.h) == Ok(true))
            && net.links.iter().all(|l| l.in_flight() == 0);
        quiet || error.is_some()
    });
    if let Some(e) = error {
        return Err(e);
    }
    let cut_at = net.now;
    for link in &mut net.links {
        link.set_config(LinkConfig { loss: 1.0, ..link.config().clone() });
    }
    if late {
        net.hosts[0].set_keepalive(net.now, h0, kas[0]).map_err(|e| format!("set_keepalive: {e:?}"))?;
    }
    let sent_at_cut = net.link_stats().map(|s| s.sent);
    let mut failed_at = [None; 2];
    let done = net.run(net.now + LIMIT, |net| {
        note(net, &mut arrivals);
        for (i, s) in sides.iter_mut().enumerate() {
            s.poll(&mut net.hosts[i]);
            if failed_at[i].is_none() && s.error().is_some() {
                failed_at[i] = Some(net.now);
            }
        }
        (0..2).all(|i| failed_at[i].is_some() || kas[i].is_none())
    });
    if !done {
        return Err(format!(
            "cut at {cut_at:?}, not failed by {:?}:\n  {}\n  {}",
            net.now,
            describe_side(net, 0, &sides[0]),
            describe_side(net, 1, &sides[1])
        ));
    }
    let sent = net.link_stats().map(|s| s.sent);
    for i in 0..2 {
        let probes_sent = sent[i] - sent_at_cut[i];
        let Some(ka) = kas[i] else {
            // Without keep-alive the idle side just waits.
            let state = net.hosts[i].state(sides[i].h);
            if sides[i].error().is_some() || state != Ok(State::Established) || probes_sent != 0 {
                return Err(format!(
                    "host {i} (no keep-alive): {state:?} {:?}, sent {probes_sent}",
                    sides[i].error()
                ));
            }
            continue;
        };
        let at = failed_at[i].unwrap_or(Instant::FAR_FUTURE);
        let span = ka.idle + ka.interval * ka.probes;
        let last_arrival = arrivals[i].last().copied().unwrap_or(Instant::ZERO);
        // The idle clock started at the last segment received (at or after
        // the last byte read), or when keep-alive was turned on; the
        // connection fails `span` later, within one RTO of the bound.
        let (floor, ceiling, exact) = if late && i == 0 {
            (cut_at + span, cut_at + span, at == cut_at + span)
        } else {
            let from_arrival = arrivals[i].iter().any(|&t| t + span == at);
            (read_all_at[i].unwrap_or(Instant::ZERO) + span, last_arrival + span + RTO_SLACK, from_arrival)
        };
        if sides[i].error() != Some(Error::TimedOut) || !exact || at < floor || at > ceiling {
            return Err(format!(
                "host {i}: {:?} at {at:?}; expected TimedOut {span:?} after a packet's arrival (or after \
                 keep-alive was set), between {floor:?} and {ceiling:?} (last arrival {last_arrival:?}, \
                 cut {cut_at:?})",
                sides[i].error(),
            ));
        }
        if probes_sent != u64::from(ka.probes) {
            return Err(format!(
                "host {i} sent {probes_sent} packets after the cut, {} probes expected",
                ka.probes
            ));
        }
    }
    for s in &sides {
        if s.rx.mismatch.is_some() || s.rx.received != s.expect {
            return Err(format!(
                "bad data: {:?} of {} bytes, mismatch {:?}",
                s.rx.received, s.expect, s.rx.mismatch
            ));
        }
    }
    // Host 0 lets go; once the links heal, a host 1 still holding a
    // half-open connection learns the truth from the reset its next
    // segment draws.
    net.hosts[0].close(net.now, h0).map_err(|e| format!("close 0: {e:?}"))?;
    for (link, config) in net.links.iter_mut().zip(links) {
        link.set_config(config.clone());
    }
    if kas[1].is_none() {
        net.hosts[1].send(h1, b"still there?").map_err(|e| format!("host 1 send: {e:?}"))?;
        sides[1].tx.total = sides[1].tx.sent; // the stream is over
        let s = &mut sides[1];
        net.run(net.now + LIMIT, |net| {
            s.rx.poll(&mut net.hosts[1]);
            s.rx.error.is_some()
        });
        if s.rx.error != Some(Error::ConnectionReset) {
            return Err(format!("half-open host 1 saw {:?}, expected ConnectionReset", s.rx.error));
        }
    }
    net.hosts[1].close(net.now, h1).map_err(|e| format!("close 1: {e:?}"))?;
    net.hosts[1].close(net.now, listener).map_err(|e| format!("close listener: {e:?}"))?;
    expect_quiescent(net, Duration::from_secs(600), [0, 0])
}
