//! What a peer can make the stack hold is bounded: orphans (connections
//! the application closed), TIME-WAIT connections and buffer memory
//! (Linux's `tcp_orphan_retries`, `tcp_max_orphans`, `tcp_max_tw_buckets`
//! and `tcp_mem`).

use crate::harness::*;

#[test]
fn an_orphan_whose_peer_answers_every_probe_gives_up() {
    // The peer's window stays closed and it answers each zero-window probe.
    // Once the application has closed the connection, the probes count
    // against `orphan_retries` (8) whether answered or not; then a reset.
    let mut h = Harness::passive(simple(), PeerOpts::plain().win(0));
    assert_eq!(h.write(200, &pattern(0, 1000)), 1000);
    h.close(300);
    let (mut t, mut probes, mut reset) = (300, 0, false);
    while t < 3_600_000 && h.stack.socket_count() > 1 {
        t += 100;
        for s in h.recv_all(t) {
            assert_eq!(s.payload.len(), 0, "nothing fits a closed window: {s:?}");
            if s.has(TcpFlags::RST) {
                reset = true;
            } else {
                probes += 1;
            }
        }
        if h.stack.socket_count() > 1 {
            h.send_at(t, seg().seq(h.r(1)).ack(h.l(1)).win(0));
        }
    }
    assert_eq!(h.stack.socket_count(), 1, "the orphan is still there after an hour");
    assert!(reset, "the peer learns the connection is gone");
    assert_eq!(probes, 8, "orphan_retries probes, then the reset");
}

#[test]
fn a_connection_the_application_still_holds_keeps_probing() {
    // RFC 1122 §4.2.2.17: while the application holds it, a connection
    // whose peer answers probes stays open indefinitely.
    let mut h = Harness::passive(simple(), PeerOpts::plain().win(0));
    h.write(200, &pattern(0, 1000));
    let mut t = 200;
    while t < 3_600_000 {
        t += 1000;
        if !h.recv_all(t).is_empty() {
            h.send_at(t, seg().seq(h.r(1)).ack(h.l(1)).win(0));
        }
    }
    assert_eq!(h.state(), State::Established);
}

#[test]
fn beyond_max_orphans_a_close_resets() {
    let mut h = Harness::with_limits(simple(), with(Limits::default(), |l| l.max_orphans = 2));
    h.listen_backlog(16);
    let mut conns = Vec::new();
    for i in 0..3u16 {
        h.c.peer_port = 40000 + i;
        h.open_passive(u64::from(i), u64::from(i) + 1, PeerOpts::plain());
        conns.push(h.c);
    }
    for (i, c) in conns.iter().enumerate() {
        h.c = *c;
        h.close(10 + i as u64);
    }
    let got = h.recv_all(12);
    let fins = got.iter().filter(|s| s.has(TcpFlags::FIN)).count();
    let rsts: Vec<_> = got.iter().filter(|s| s.has(TcpFlags::RST)).collect();
    assert_eq!((fins, rsts.len()), (2, 1), "{got:?}");
    assert_eq!(rsts[0].dst_port, Some(40002));
    assert_eq!((h.stack.orphan_count(), h.stats().orphans_reset), (2, 1));
}

#[test]
fn beyond_max_time_wait_the_oldest_is_recycled() {
    let mut h = Harness::with_limits(simple(), with(Limits::default(), |l| l.max_time_wait = 2));
    h.listen_backlog(16);
    for i in 0..3u16 {
        // Each connection: opened by the peer, closed by us first, so that
        // we end in TIME-WAIT.
        let t = 100 * u64::from(i);
        h.c.peer_port = 40000 + i;
        h.open_passive(t, t + 1, PeerOpts::plain());
        h.close(t + 2);
        h.expect1(t + 2, seg().fin().seq(h.l(1)).ack(h.r(1)));
        h.send_at(t + 3, seg().fin().seq(h.r(1)).ack(h.l(2)));
        h.expect1(t + 3, seg().seq(h.l(2)).ack(h.r(2)));
    }
    assert_eq!((h.stack.time_wait_count(), h.stats().time_wait_recycled), (2, 1));
    assert_eq!(h.stack.socket_count(), 3, "the listener and two TIME-WAIT");
}

#[test]
fn under_memory_pressure_windows_shrink_to_what_is_held() {
    // Pressure from the start: the window stops at the first 4 KiB ring
    // once the peer has used the window the SYN-ACK offered.
    let memory = trust::stack::MemoryLimits::new(0, usize::MAX);
    let mut h = Harness::with_limits(simple(), with(Limits::default(), |l| l.memory = memory));
    h.listen();
    h.open_passive(0, 100, PeerOpts::plain());
    let mut windows = Vec::new();
    for k in 0..70usize {
        let t = 200 + 10 * k as u64;
        h.send_at(t, peer_bytes(&h, 1000 * k, 1000 * (k + 1)));
        assert_eq!(h.read(t).len(), 1000);
        windows.extend(h.recv_all(t + 9).iter().map(|s| s.window));
    }
    let last = *windows.last().unwrap();
    assert!(last as usize <= 4096, "window {last} under pressure: {windows:?}");
    assert!(h.stack.buffer_memory() <= 4096);
}

#[test]
fn with_memory_exhausted_bytes_needing_more_storage_are_refused() {
    let memory = trust::stack::MemoryLimits::new(0, 0);
    let mut h = Harness::with_limits(simple(), with(Limits::default(), |l| l.memory = memory));
    h.listen();
    h.open_passive(0, 100, PeerOpts::plain());
    for k in 0..10usize {
        h.send_at(200, peer_bytes(&h, 1000 * k, 1000 * (k + 1)));
        let _ = h.recv_all(200);
    }
    // Every connection keeps its first 4 KiB; the rest waits for the peer
    // to send it again.
    assert_eq!(h.read(200).len(), 4096);
    assert_eq!(h.stats().rx_bytes_refused, 10_000 - 4096);
    assert_eq!(h.stack.buffer_memory(), 4096);
}

#[test]
fn an_out_of_order_byte_at_the_window_edge_allocates_nothing() {
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    h.send_at(200, peer_bytes(&h, 65_000, 65_001));
    h.expect1(200, our_ack(&h, 0));
    assert_eq!(h.stack.buffer_memory(), 0);
    assert_eq!(h.stats().rx_bytes_refused, 1);
    // In order, the bytes are taken as usual.
    h.send_at(210, peer_bytes(&h, 0, 3000));
    assert_eq!(h.read(210), pattern(0, 3000));
}
