//! Simultaneous open (RFC 9293 §3.5, figure 8): both hosts actively open
//! to each other's fixed port, with no listener, at the same instant (or
//! with the second SYN sent while the first is still in flight). The SYNs
//! cross, so at least the first host to receive one moves from SYN-SENT
//! to SYN-RECEIVED, and one connection must result that carries data both
//! ways and closes, with no reset sent on the way.

use std::time::Duration;

use trust::device::sim::Rng;
use trust::sim::Network;
use trust::tcp::{FourTuple, Shutdown, State};

use crate::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// Host 0 shuts down first.
    Host0,
    /// Host 1 shuts down first.
    Host1,
    /// Both shut down in the same instant, once both have sent everything.
    Both,
}

#[test]
fn simultaneous_open() {
    run_seeds("open::simultaneous_open", 200, run);
}

fn run(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let mut hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    for h in &mut hosts {
        // Longer than the peer's whole FIN retransmission sequence, so the
        // simultaneous close reaches TIME-WAIT on both sides even when the
        // last ACKs are lost and the RTO has grown large.
        h.tcp.time_wait = Duration::from_secs(3600);
    }
    let ports = [rng.range_u64(1024..=30_000) as u16, rng.range_u64(30_001..=65_000) as u16];
    let bytes = [rng.range_u64(0..=150_000), rng.range_u64(0..=150_000)];
    let close = [Close::Host0, Close::Host1, Close::Both][rng.below(3) as usize];
    // Host 1's SYN leaves at the same instant, or while host 0's is still
    // on the wire.
    let offset = if rng.chance(0.5) { Duration::ZERO } else { links[0].delay.mul_f64(rng.next_f64()) };
    if trace {
        println!("ports {ports:?} bytes {bytes:?} close {close:?} offset {offset:?}");
    }
    let mut net = network(hosts, links, seed, trace);
    let r = drive(&mut net, ports, bytes, close, offset);
    finish(&mut net, r)
}

fn drive(
    net: &mut Network,
    ports: [u16; 2],
    bytes: [u64; 2],
    close: Close,
    offset: Duration,
) -> Result<(), String> {
    let start = Instant::ZERO + offset;
    let h0 = net.hosts[0]
        .connect_with(net.now, addr(1, ports[1]), ports[0], None)
        .map_err(|e| format!("connect 0: {e:?}"))?;
    net.run(start, |net| net.now >= start);
    let h1 = net.hosts[1]
        .connect_with(net.now, addr(0, ports[0]), ports[1], None)
        .map_err(|e| format!("connect 1: {e:?}"))?;
    let mut sides = [
        Side::new(h0, 0, 0, bytes[0], bytes[1], close == Close::Host0),
        Side::new(h1, 0, 1, bytes[1], bytes[0], close == Close::Host1),
    ];
    let mut resets_before_close = None;
    let mut error = None;
    let done = net.run(Instant::ZERO + LIMIT, |net| {
        for (i, s) in sides.iter_mut().enumerate() {
            s.poll(&mut net.hosts[i]);
        }
        let sent_all = sides.iter().all(|s| s.tx.sent == s.tx.total);
        if resets_before_close.is_none() && sent_all {
            resets_before_close = Some([0, 1].map(|i| net.hosts[i].stats().tx_resets));
            if close == Close::Both {
                for (i, s) in sides.iter_mut().enumerate() {
                    s.tx.shut = true;
                    if let Err(e) = net.hosts[i].shutdown(s.h, Shutdown::Write) {
                        error.get_or_insert(format!("host {i} shutdown: {e:?}"));
                    }
                    s.poll(&mut net.hosts[i]);
                }
            }
        }
        let mut closed = 0;
        for (i, s) in sides.iter_mut().enumerate() {
            match s.close_when_done(net.now, &mut net.hosts[i]) {
                Ok(c) => closed += usize::from(c),
                Err(e) => {
                    error.get_or_insert(format!("host {i}: {e}"));
                }
            }
        }
        closed == 2 || error.is_some()
    });
    if let Some(e) = error {
        return Err(e);
    }
    if !done {
        return Err(stalled(net, &sides));
    }
    check_stream("0->1", &sides[0], &sides[1])?;
    check_stream("1->0", &sides[1], &sides[0])?;
    // Both opened actively. (The close path checks below show where each
    // side went next: a side that shut down before the handshake
    // completed may skip ESTABLISHED, or even FIN-WAIT-1 when one segment
    // carries both the handshake's ACK and the peer's FIN.)
    for (i, s) in sides.iter().enumerate() {
        expect_seen(&format!("host {i}"), s.seen, &[State::SynSent], &[State::Listen])?;
    }
    // The first side to receive a SYN did so in SYN-SENT and moved to
    // SYN-RECEIVED (figure 8).
    if (sides[0].seen | sides[1].seen) & bit(State::SynReceived) == 0 {
        return Err("neither side passed through SYN-RECEIVED: the SYNs never crossed".into());
    }
    // Nothing in a simultaneous open calls for a reset.
    if let Some(r) = resets_before_close.filter(|r| r.iter().any(|&n| n > 0)) {
        return Err(format!("resets sent during the open or transfer: {r:?}"));
    }
    let (fin, time_wait) = ([State::FinWait1, State::TimeWait], [State::TimeWait]);
    let (passive, close_wait) = ([State::CloseWait, State::LastAck], [State::CloseWait]);
    match close {
        Close::Host0 => {
            expect_seen("host 0 (closes first)", sides[0].seen, &fin, &close_wait)?;
            expect_seen("host 1 (closes second)", sides[1].seen, &passive, &time_wait)?;
        }
        Close::Host1 => {
            expect_seen("host 1 (closes first)", sides[1].seen, &fin, &close_wait)?;
            expect_seen("host 0 (closes second)", sides[0].seen, &passive, &time_wait)?;
        }
        Close::Both => {
            // A FIN queued before the handshake completed may go out with
            // the handshake's last ACK, and the peer's FIN may establish
            // the connection and move it on to CLOSING in one segment.
            for (i, s) in sides.iter().enumerate() {
                let what = format!("host {i} (simultaneous close)");
                expect_seen(&what, s.seen, &time_wait, &[State::CloseWait, State::LastAck])?;
                if s.seen & (bit(State::FinWait1) | bit(State::Closing)) == 0 {
                    return Err(format!("{what}: neither FIN-WAIT-1 nor CLOSING seen ({:#x})", s.seen));
                }
            }
        }
    }
    expect_quiescent(net, Duration::from_secs(4 * 3600), [0, 0])
}

fn stalled(net: &Network, sides: &[Side; 2]) -> String {
    let tuples: Vec<Result<FourTuple, _>> =
        sides.iter().enumerate().map(|(i, s)| net.hosts[i].addresses(s.h)).collect();
    format!(
        "stalled at {:?}: tuples {tuples:?}\n  {}\n  {}",
        net.now,
        describe_side(net, 0, &sides[0]),
        describe_side(net, 1, &sides[1])
    )
}
