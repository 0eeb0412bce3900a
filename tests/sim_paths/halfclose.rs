//! Half-close under loss (RFC 9293 §3.6): one side shuts down writing
//! early (even before the handshake completes) and keeps reading a long
//! transfer from the other side, which goes on sending from CLOSE-WAIT.
//! The early side sits in FIN-WAIT-2 holding its handle, so the orphan
//! FIN-WAIT-2 timeout (set short here) must not apply; it may also stop
//! reading for a while, closing its window in FIN-WAIT-2.

use std::time::Duration;

use trust::device::sim::Rng;
use trust::sim::Network;
use trust::tcp::State;

use crate::*;

#[derive(Debug)]
struct Params {
    /// The side that shuts down early (0: the client).
    early: usize,
    bytes: [u64; 2],
    /// Stop reading at this offset for this long.
    pause: Option<(u64, Duration)>,
}

#[test]
fn half_close_keeps_reading() {
    run_seeds("halfclose::half_close_keeps_reading", 150, run);
}

fn run(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let mut hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    let early = rng.below(2) as usize;
    let mut bytes = [0; 2];
    bytes[early] = if rng.chance(0.3) { 0 } else { rng.range_u64(1..=2_000) };
    bytes[1 - early] = rng.range_u64(100_000..=600_000);
    // Only orphans are bounded in FIN-WAIT-2.
    hosts[early].tcp.fin_wait2_timeout = Duration::from_secs(1);
    if rng.chance(0.5) {
        hosts[early].tcp.recv_buffer = rng.range_u64(4_096..=32_768) as usize;
    }
    let pause = rng
        .chance(0.5)
        .then(|| (rng.below(bytes[1 - early]), Duration::from_millis(rng.range_u64(100..=5_000))));
    let params = Params { early, bytes, pause };
    if trace {
        println!("{params:?}");
    }
    let mut net = network(hosts, links, seed, trace);
    let r = drive(&mut net, &params);
    finish(&mut net, r)
}

fn drive(net: &mut Network, p: &Params) -> Result<(), String> {
    let (e, l) = (p.early, 1 - p.early);
    let listener = net.hosts[1].listen(PORT, 8).map_err(|e| format!("listen: {e:?}"))?;
    let h0 = net.hosts[0].connect(net.now, addr(1, PORT)).map_err(|e| format!("connect: {e:?}"))?;
    let mut sides = [Some(Side::new(h0, 0, 0, p.bytes[0], p.bytes[1], e == 0)), None];
    // Bytes the early side had read when it shut down.
    let mut read_at_shutdown = None;
    let mut resume_at: Option<Instant> = None;
    let mut error = None;
    let done = net.run(Instant::ZERO + LIMIT, |net| {
        if sides[1].is_none()
            && let Ok(h) = net.hosts[1].accept(listener)
        {
            sides[1] = Some(Side::new(h, 0, 1, p.bytes[1], p.bytes[0], e == 1));
        }
        let mut closed = 0;
        for (i, side) in sides.iter_mut().enumerate() {
            let Some(s) = side.as_mut() else { continue };
            if i == e {
                pause(net, s, p.pause, &mut resume_at);
            }
            s.poll(&mut net.hosts[i]);
            if i == e && s.tx.shut && read_at_shutdown.is_none() {
                read_at_shutdown = Some(s.rx.received);
            }
            match s.close_when_done(net.now, &mut net.hosts[i]) {
                Ok(c) => closed += usize::from(c),
                Err(err) => {
                    error.get_or_insert(format!("host {i}: {err}"));
                }
            }
        }
        closed == 2 || error.is_some()
    });
    if let Some(err) = error {
        return Err(err);
    }
    let [Some(a), Some(b)] = &sides else { return Err("never accepted".into()) };
    if !done {
        return Err(format!(
            "stalled at {:?}:\n  {}\n  {}",
            net.now,
            describe_side(net, 0, a),
            describe_side(net, 1, b)
        ));
    }
    check_stream("0->1", a, b)?;
    check_stream("1->0", b, a)?;
    let (se, sl) = if e == 0 { (a, b) } else { (b, a) };
    expect_seen(
        &format!("early host {e}"),
        se.seen,
        &[State::FinWait1, State::TimeWait],
        &[State::CloseWait],
    )?;
    expect_seen(&format!("late host {l}"), sl.seen, &[State::CloseWait, State::LastAck], &[State::FinWait1])?;
    let before = read_at_shutdown.unwrap_or(u64::MAX);
    if before >= se.rx.received {
        return Err(format!("host {e} read nothing after shutting down ({before} of {})", se.rx.received));
    }
    net.hosts[1].close(net.now, listener).map_err(|e| format!("close listener: {e:?}"))?;
    expect_quiescent(net, Duration::from_secs(3600), [0, 0])
}

/// The early side's reading pause.
fn pause(net: &mut Network, s: &mut Side, pause: Option<(u64, Duration)>, resume_at: &mut Option<Instant>) {
    let Some((at, len)) = pause else { return };
    match *resume_at {
        None if s.rx.received >= at => {
            s.rx.paused = true;
            *resume_at = Some(net.now + len);
            net.wake_at(net.now + len);
        }
        Some(t) if net.now >= t => s.rx.paused = false,
        _ => {}
    }
}
