//! Reusing a 4-tuple right after a TIME-WAIT was cut short by a reset
//! (RFC 1337's "TIME-WAIT assassination"). Without timestamps there is no
//! PAWS, so only TIME-WAIT keeps an old incarnation's delayed segments out
//! of a new one; when a stray reset ends it early and the application
//! connects again from the same port at once, the listener's clock-driven
//! ISN (RFC 6528: one tick per 4 µs) can fall *below* the sequence
//! numbers the old incarnation used if it sent faster than 250 kB/s. A
//! delayed segment of the old connection then lands inside the new
//! connection's window and its bytes are delivered as the new stream's.
//!
//! The scenario here is driven step by step: the reset that ends
//! TIME-WAIT is drawn by replaying the client's last ACK to the server
//! (as a duplicate on the wire would), and the "delayed" segment is a
//! captured copy of one of the old server's data segments, delivered to
//! the client once the new connection is up. Either TIME-WAIT must hold
//! (the reconnect is refused with `AddrInUse`), or the new connection's
//! sequence space must stay clear of the old one, or the new stream must
//! otherwise arrive intact.

use core::time::Duration;
use std::collections::VecDeque;

use trust::device::sim::LinkConfig;
use trust::sim::Network;
use trust::stack::StackConfig;
use trust::tcp::State;
use trust::tcp::isn::IsnKey;
use trust::wire::{RxChecksum, ipv4, tcp};

use crate::*;

const CLIENT_PORT: u16 = 50_000;
const RESPONSE: u64 = 40_000;

#[test]
fn reset_time_wait_then_reuse_keeps_old_segments_out() {
    // A few delays and ISN keys; the outcome must not depend on them.
    run_seeds("reuse::reset_time_wait_then_reuse_keeps_old_segments_out", 8, run);
}

fn run(seed: u64, trace: bool) -> Result<(), String> {
    let hosts = [0, 1].map(|i| {
        let mut c = StackConfig::with_key(ADDRS[i], IsnKey::from_seed(seed * 2 + i as u64));
        // No timestamps on the server: no PAWS to fall back on.
        c.tcp.timestamps = i == 0;
        c
    });
    let delay = Duration::from_micros(200 + 300 * (seed % 8));
    let mut net = network(hosts, [LinkConfig::ideal(delay), LinkConfig::ideal(delay)], seed, trace);
    net.capture = Some(VecDeque::new());
    let r = drive(&mut net);
    finish(&mut net, r)
}

/// One request/response exchange from `CLIENT_PORT`: the client shuts
/// down after its request, the server answers and closes. Returns once
/// both have read everything; the client is then in TIME-WAIT. `stale`
/// holds copies of the old server's data segments: one that lies inside
/// the new connection's window across one of its segment boundaries is
/// delivered to the client as soon as the connection is established.
fn exchange(
    net: &mut Network,
    listener: trust::stack::SocketHandle,
    k: u64,
    mut stale: Option<Vec<Vec<u8>>>,
) -> Result<[Side; 2], String> {
    let h = match net.hosts[0].connect_with(net.now, addr(1, PORT), CLIENT_PORT, None) {
        Ok(h) => h,
        Err(e) => return Err(format!("connect {k}: {e:?}")),
    };
    let mut client = Side::new(h, k, 0, 100, RESPONSE, true);
    let mut server: Option<Side> = None;
    let mut error = None;
    let done = net.run(net.now + Duration::from_secs(60), |net| {
        if server.is_none()
            && let Ok(h) = net.hosts[1].accept(listener)
        {
            let mut s = Side::new(h, k, 1, RESPONSE, 100, false);
            s.start_after = 100;
            server = Some(s);
        }
        client.poll(&mut net.hosts[0]);
        // (Established, or FIN-WAIT-1: the request's FIN went with it.)
        if net.hosts[0].state(client.h).is_ok_and(|s| s != State::SynSent)
            && let Some(old) = stale.take()
        {
            // (When none does, the new ISS is clear of the old sequence
            // space and no old segment can do harm.)
            if let Some(p) = pick_stale(net, &old) {
                net.hosts[0].handle_packet(net.now, p);
            }
        }
        let Some(s) = server.as_mut() else { return false };
        s.poll(&mut net.hosts[1]);
        let closed = s.close_when_done(net.now, &mut net.hosts[1]).unwrap_or_else(|e| {
            error.get_or_insert(format!("server {k}: {e}"));
            false
        });
        if let Some(e) = client.error() {
            error.get_or_insert(format!("client {k}: {e:?}"));
        }
        if client.rx.eof && client.rx.received < client.expect {
            error.get_or_insert(format!(
                "exchange {k}: the response ended after {} of {} bytes (a FIN at the wrong place)",
                client.rx.received, client.expect
            ));
        }
        (closed && client.rx.eof) || error.is_some()
    });
    if let Some(e) = error {
        return Err(e);
    }
    let Some(server) = server.filter(|_| done) else {
        return Err(format!("exchange {k} stalled:\n  {}", describe_side(net, 0, &client)));
    };
    check_stream(&format!("exchange {k} request"), &client, &server)?;
    check_stream(&format!("exchange {k} response"), &server, &client)?;
    Ok([client, server])
}

/// (sequence number, payload length) of a captured TCP packet.
fn seq_and_len(packet: &[u8]) -> Option<(u32, usize)> {
    let ip = ipv4::parse(packet).ok()?;
    let seg = tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Trusted).ok()?;
    Some((seg.repr.seq, seg.payload.len()))
}

/// The old data segment to replay: the highest one that starts inside
/// the new connection's window and straddles one of its segment
/// boundaries (the new server's ISS read from its captured SYN-ACK).
fn pick_stale<'a>(net: &Network, old: &'a [Vec<u8>]) -> Option<&'a Vec<u8>> {
    let capture = net.capture.as_ref()?;
    let syn_ack = capture.iter().rev().find_map(|(from, p)| {
        let ip = ipv4::parse(p).ok()?;
        let seg = tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Trusted).ok()?;
        (*from == 1 && seg.repr.flags.contains(trust::wire::TcpFlags::SYN)).then_some(seg.repr.seq)
    })?;
    let base = syn_ack.wrapping_add(1);
    let mss = 1460;
    old.iter()
        .filter(|p| {
            let Some((seq, len)) = seq_and_len(p) else { return false };
            let (start, end) = (seq.wrapping_sub(base), seq.wrapping_sub(base).wrapping_add(len as u32 - 1));
            start < RESPONSE as u32 / 2 && end < RESPONSE as u32 && start / mss != end / mss
        })
        .max_by_key(|p| seq_and_len(p).map_or(0, |(seq, _)| seq.wrapping_sub(base)))
}

fn drive(net: &mut Network) -> Result<(), String> {
    let listener = net.hosts[1].listen(PORT, 8).map_err(|e| format!("listen: {e:?}"))?;
    let [old_client, _] = exchange(net, listener, 0, None)?;
    // Let the server's LAST-ACK finish; the client sits in TIME-WAIT.
    net.run(net.now + Duration::from_millis(50), |_| false);
    if net.hosts[0].state(old_client.h) != Ok(State::TimeWait) || net.hosts[1].socket_count() != 1 {
        return Err(format!(
            "after the first exchange: client {:?}, {} sockets on the server",
            net.hosts[0].state(old_client.h),
            net.hosts[1].socket_count()
        ));
    }
    net.hosts[0].close(net.now, old_client.h).map_err(|e| format!("close: {e:?}"))?;
    let capture = net.capture.replace(VecDeque::new()).unwrap_or_default();
    // The old server's data segments, and the client's last ACK.
    let old_data: Vec<Vec<u8>> = capture
        .iter()
        .filter(|(from, p)| *from == 1 && seq_and_len(p).is_some_and(|(_, len)| len > 0))
        .map(|(_, p)| p.clone())
        .collect();
    let last_ack = capture.iter().rfind(|(from, _)| *from == 0).map(|(_, p)| p.clone()).ok_or("no ACK")?;
    // A duplicate of that ACK reaches the server, which has no connection
    // left: it answers with a reset (RFC 9293 §3.10.7.2), and the reset
    // reaches the client in TIME-WAIT.
    net.hosts[1].handle_packet(net.now, &last_ack);
    let sent = net.link_stats()[1].sent;
    net.run(net.now + Duration::from_millis(50), |_| false);
    if net.link_stats()[1].sent == sent || net.hosts[1].stats().tx_resets == 0 {
        return Err("the replayed ACK drew no reset".into());
    }
    let time_wait_held = net.hosts[0].socket_count() == 1;
    // The application connects again from the same port at once, and the
    // old server's segment, delayed in the network, arrives once the new
    // connection is up.
    match exchange(net, listener, 1, Some(old_data)) {
        Err(e) if time_wait_held && e.contains("AddrInUse") => Ok(()),
        Err(e) => Err(format!("second exchange (TIME-WAIT held: {time_wait_held}): {e}")),
        Ok([client, _]) => {
            net.hosts[0].close(net.now, client.h).map_err(|e| format!("close: {e:?}"))?;
            expect_quiescent(net, Duration::from_secs(600), [0, 1])
        }
    }
}
