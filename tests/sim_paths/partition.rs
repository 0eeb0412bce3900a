//! Link partitions: both links cut (every packet lost) in the middle of a
//! transfer. A partition shorter than the retry budget must be survived
//! (whether it cuts both directions or one, and even in the handshake):
//! the transfer completes byte for byte once the links heal. One longer
//! than the budget must end both sides with `TimedOut` (RFC 9293 §3.8.3,
//! RFC 1122 §4.2.3.5), after which closing frees their sockets and
//! neither host sends anything more.

use std::time::Duration;

use trust::Error;
use trust::device::sim::{LinkConfig, Rng};
use trust::sim::Network;
use trust::stack::SocketHandle;
use trust::tcp::State;

use crate::*;

/// Which links a partition cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Both,
    /// Only host `i`'s packets are lost.
    From(usize),
}

/// Cuts links, keeping the rest of their fault models.
fn cut(net: &mut Network, which: Cut) {
    for (i, link) in net.links.iter_mut().enumerate() {
        if which == Cut::Both || which == Cut::From(i) {
            let config = LinkConfig { loss: 1.0, ..link.config().clone() };
            link.set_config(config);
        }
    }
}

fn heal(net: &mut Network, links: &[LinkConfig; 2]) {
    for (link, config) in net.links.iter_mut().zip(links) {
        link.set_config(config.clone());
    }
}

/// Accepts the one connection of these scenarios.
fn accept(net: &mut Network, listener: SocketHandle) -> Option<SocketHandle> {
    net.hosts[1].accept(listener).ok()
}

#[test]
fn short_partition_is_survived() {
    run_seeds("partition::short_partition_is_survived", 150, run_short);
}

fn run_short(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let mut hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    for h in &mut hosts {
        h.tcp.time_wait = Duration::from_secs(600);
    }
    let bytes = [rng.range_u64(50_000..=400_000), rng.range_u64(0..=100_000)];
    // Where the cut falls: in the handshake (before anything is received)
    // or after some fraction of host 0's data has arrived.
    let cut_after = if rng.chance(0.15) { 0 } else { 1 + rng.below(bytes[0] * 9 / 10) };
    let length = Duration::from_millis(rng.range_u64(200..=20_000));
    // Mostly both ways; sometimes only one direction fails.
    let which = match rng.below(4) {
        0 => Cut::From(0),
        1 => Cut::From(1),
        _ => Cut::Both,
    };
    if trace {
        println!("bytes {bytes:?} cut {which:?} after {cut_after} bytes for {length:?}");
    }
    let mut net = network(hosts, links.clone(), seed, trace);
    let r = drive_short(&mut net, &links, bytes, (which, cut_after, length));
    finish(&mut net, r)
}

fn drive_short(
    net: &mut Network,
    links: &[LinkConfig; 2],
    bytes: [u64; 2],
    (which, cut_after, length): (Cut, u64, Duration),
) -> Result<(), String> {
    let listener = net.hosts[1].listen(PORT, 8).map_err(|e| format!("listen: {e:?}"))?;
    let h0 = net.hosts[0].connect(net.now, addr(1, PORT)).map_err(|e| format!("connect: {e:?}"))?;
    let mut client = Side::new(h0, 0, 0, bytes[0], bytes[1], true);
    let mut server: Option<Side> = None;
    let mut partition: Option<(Instant, bool)> = None; // (heal at, healed)
    let mut error = None;
    let done = net.run(Instant::ZERO + LIMIT, |net| {
        if server.is_none()
            && let Some(h) = accept(net, listener)
        {
            server = Some(Side::new(h, 0, 1, bytes[1], bytes[0], false));
        }
        client.poll(&mut net.hosts[0]);
        if let Some(s) = server.as_mut() {
            s.poll(&mut net.hosts[1]);
        }
        let received = server.as_ref().map_or(0, |s| s.rx.received);
        match partition {
            None if received >= cut_after => {
                cut(net, which);
                partition = Some((net.now + length, false));
                net.wake_at(net.now + length);
            }
            Some((at, false)) if net.now >= at => {
                heal(net, links);
                partition = Some((at, true));
            }
            _ => {}
        }
        let client_closed = client.close_when_done(net.now, &mut net.hosts[0]).unwrap_or_else(|e| {
            error.get_or_insert(format!("host 0: {e}"));
            false
        });
        let server_closed = server.as_mut().is_some_and(|s| {
            s.close_when_done(net.now, &mut net.hosts[1]).unwrap_or_else(|e| {
                error.get_or_insert(format!("host 1: {e}"));
                false
            })
        });
        (client_closed && server_closed) || error.is_some()
    });
    if let Some(e) = error {
        return Err(format!("{e} (partition {partition:?})"));
    }
    let Some(server) = server.as_ref().filter(|_| done) else {
        return Err(format!(
            "stalled at {:?} (partition {partition:?}):\n  {}\n  {}",
            net.now,
            describe_side(net, 0, &client),
            server.as_ref().map_or("host 1: not accepted".into(), |s| describe_side(net, 1, s))
        ));
    };
    // (A cut that falls late, with the last packets already on the wire,
    // may not hold up the end at all.)
    if partition.is_none() {
        return Err("the transfer finished without a partition".into());
    }
    check_stream("0->1", &client, server)?;
    check_stream("1->0", server, &client)?;
    expect_seen("host 0", client.seen, &[State::FinWait1, State::TimeWait], &[State::CloseWait])?;
    expect_seen("host 1", server.seen, &[State::CloseWait, State::LastAck], &[State::TimeWait])?;
    net.hosts[1].close(net.now, listener).map_err(|e| format!("close listener: {e:?}"))?;
    expect_quiescent(net, Duration::from_secs(3600), [0, 0])
}

#[test]
fn long_partition_times_out() {
    run_seeds("partition::long_partition_times_out", 150, run_long);
}

fn run_long(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    // Light loss only: with so few retries, heavy loss alone could end
    // the connection before the cut.
    let links = [LinkConfig::random(&mut rng, 0.05), LinkConfig::random(&mut rng, 0.05)];
    let mut hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    let retries = rng.range_u64(3..=6) as u32;
    for h in &mut hosts {
        h.tcp.max_retries = retries;
    }
    // Both sides have data outstanding when the links go: both must time
    // out, each on its own retransmissions.
    let bytes = [1 << 40, 1 << 40];
    let cut_after = [rng.range_u64(1..=200_000), rng.range_u64(1..=200_000)];
    if trace {
        println!("max_retries {retries} cut after {cut_after:?} received");
    }
    let mut net = network(hosts, links.clone(), seed, trace);
    let r = drive_long(&mut net, &links, bytes, cut_after, retries);
    finish(&mut net, r)
}

fn drive_long(
    net: &mut Network,
    links: &[LinkConfig; 2],
    bytes: [u64; 2],
    cut_after: [u64; 2],
    retries: u32,
) -> Result<(), String> {
    let listener = net.hosts[1].listen(PORT, 8).map_err(|e| format!("listen: {e:?}"))?;
    let h0 = net.hosts[0].connect(net.now, addr(1, PORT)).map_err(|e| format!("connect: {e:?}"))?;
    let mut sides = [Some(Side::new(h0, 0, 0, bytes[0], bytes[1], false)), None];
    let mut cut_at = None;
    let mut failed_at: [Option<Instant>; 2] = [None, None];
    let mut timeouts = [0; 2];
    let done = net.run(Instant::ZERO + LIMIT, |net| {
        if sides[1].is_none()
            && let Some(h) = accept(net, listener)
        {
            sides[1] = Some(Side::new(h, 0, 1, bytes[1], bytes[0], false));
        }
        for (i, s) in sides.iter_mut().enumerate() {
            let Some(s) = s.as_mut().filter(|s| !s.closed) else { continue };
            s.poll(&mut net.hosts[i]);
            if failed_at[i].is_none() && net.hosts[i].state(s.h) == Ok(State::Closed) {
                failed_at[i] = Some(net.now);
                timeouts[i] = net.hosts[i].connection(s.h).map_or(0, |c| c.stats().timeouts);
            }
        }
        if cut_at.is_none()
            && let [Some(a), Some(b)] = &sides
            && b.rx.received >= cut_after[0]
            && a.rx.received >= cut_after[1]
            && [(0, a.h), (1, b.h)].iter().all(|&(i, h)| net.hosts[i].all_acknowledged(h) == Ok(false))
        {
            cut(net, Cut::Both);
            cut_at = Some(net.now);
        }
        failed_at.iter().all(Option::is_some)
    });
    let [Some(a), Some(b)] = &sides else { return Err("never accepted".into()) };
    let Some(cut_at) = cut_at else {
        return Err(format!("never cut: {}\n  {}", describe_side(net, 0, a), describe_side(net, 1, b)));
    };
    if !done {
        return Err(format!(
            "cut at {cut_at:?}, still not failed at {:?} (failed at {failed_at:?}):\n  {}\n  {}",
            net.now,
            describe_side(net, 0, a),
            describe_side(net, 1, b)
        ));
    }
    // Each side gives up after its (retries + 1)-th unanswered timeout; the
    // backed-off RTO is at most max_rto each time.
    let max_rto = net.hosts[0].config().tcp.max_rto;
    for (i, s) in [a, b].into_iter().enumerate() {
        let at = failed_at[i].unwrap_or(Instant::FAR_FUTURE);
        let budget = max_rto * (retries + 2);
        if at <= cut_at || at > cut_at + budget {
            return Err(format!("host {i} failed at {at:?}, cut at {cut_at:?}, budget {budget:?}"));
        }
        if s.error() != Some(Error::TimedOut) {
            return Err(format!("host {i}: error {:?}, expected TimedOut", s.error()));
        }
        if timeouts[i] < u64::from(retries) {
            return Err(format!("host {i}: failed after {} timeouts, max_retries {retries}", timeouts[i]));
        }
        if s.rx.mismatch.is_some() {
            return Err(format!("host {i}: corrupted byte at {:?}", s.rx.mismatch));
        }
        // The error is reported once; reads then see the end of the stream.
        if net.hosts[i].recv(s.h, &mut [0; 16]) != Ok(0) {
            return Err(format!("host {i}: recv after the error did not report the end"));
        }
        if net.hosts[i].send(s.h, b"x") != Err(Error::BrokenPipe) {
            return Err(format!("host {i}: send after the error did not report BrokenPipe"));
        }
    }
    for (i, s) in [a, b].into_iter().enumerate() {
        net.hosts[i].close(net.now, s.h).map_err(|e| format!("host {i} close: {e:?}"))?;
        expect_stale(&mut net.hosts[i], net.now, s.h)?;
    }
    let counts = [net.hosts[0].socket_count(), net.hosts[1].socket_count()];
    if counts != [0, 1] {
        return Err(format!("sockets after closing the failed connections: {counts:?}, expected [0, 1]"));
    }
    // Healed, the network stays silent: nothing is left to send.
    heal(net, links);
    let sent = net.link_stats().map(|s| s.sent);
    expect_quiescent(net, Duration::from_secs(600), [0, 1])?;
    net.run(net.now + Duration::from_secs(600), |_| false);
    if net.link_stats().map(|s| s.sent) != sent {
        return Err(format!("packets sent after both sides failed: {sent:?} -> {:?}", net.link_stats()));
    }
    Ok(())
}
