//! Edge cases that need more than the segment harness: a connection
//! driven directly through its sans-IO interface far enough for its
//! sequence space to wrap (2 GiB and more), and simulated transfers over
//! lossy links whose ISNs or timestamp clocks sit just below 2^32.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;
use std::time::Duration;

use trust::device::sim::LinkConfig;
use trust::sim::Network;
use trust::sim::apps::{BulkReceiver, BulkSender};
use trust::stack::{SocketHandle, StackConfig};
use trust::tcp::isn::{IsnGenerator, IsnKey};
use trust::tcp::{Connection, FourTuple, Segment, SeqNum, State, TcpConfig, TxLimits};
use trust::time::Instant;
use trust::wire::{RxChecksum, TcpFlags, TcpOptions, ipv4, tcp};

// ---- one connection, driven by hand --------------------------------------

const OURS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000);
const PEER_ISS: u32 = 7_000_000;
/// Window field the peer sends: 65535 << 7, about 8 MiB.
const PEER_WIN: u16 = 65535;

/// Our passive connection (ISS `iss`) and a scripted peer that
/// acknowledges what it is told to.
struct Driver {
    conn: Connection,
    now: Instant,
    buf: Vec<u8>,
}

/// (sequence number, payload length) of a segment we sent.
type Sent = (SeqNum, usize);

impl Driver {
    fn new(iss: u32) -> Driver {
        let mut cfg = TcpConfig::default();
        cfg.timestamps = false;
        cfg.sack = false;
        cfg.send_buffer = 4 << 20;
        let syn = Segment {
            seq: SeqNum::new(PEER_ISS),
            ack: SeqNum::new(0),
            flags: TcpFlags::SYN,
            window: PEER_WIN.into(),
            options: TcpOptions { mss: Some(1460), window_scale: Some(7), ..TcpOptions::default() },
            payload: &[],
        };
        let tuple = FourTuple { local: OURS.into(), remote: PEER.into() };
        let now = Instant::from_millis(1);
        let conn = Connection::accept(now, tuple, SeqNum::new(iss), 0, 1500, &cfg, &syn);
        let mut d = Driver { conn, now, buf: vec![0; 70_000] };
        let synack = d.transmit(TxLimits::PLAIN);
        assert_eq!(synack, [(SeqNum::new(iss), 0)]);
        d.ack(SeqNum::new(iss).add(1));
        assert_eq!(d.conn.state(), State::Established);
        d
    }

    /// Everything the connection sends now.
    fn transmit(&mut self, limits: TxLimits) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(tx) = self.conn.poll_transmit(self.now, &mut self.buf, limits) {
            // A TCP segment: the checksum is the network layer's.
            let seg =
                tcp::parse(*OURS.ip(), *PEER.ip(), &self.buf[..tx.len], RxChecksum::Trusted).expect("TCP");
            out.push((SeqNum::new(seg.repr.seq), seg.payload.len()));
        }
        out
    }

    /// The peer's pure ACK (its window unchanged).
    fn ack(&mut self, ack: SeqNum) {
        let seg = Segment {
            seq: SeqNum::new(PEER_ISS + 1),
            ack,
            flags: TcpFlags::ACK,
            window: PEER_WIN.into(),
            options: TcpOptions::default(),
            payload: &[],
        };
        assert_eq!(self.conn.handle_segment(self.now, &seg), None);
    }

    fn tick(&mut self) {
        self.now += Duration::from_millis(1);
        self.conn.handle_timeout(self.now);
    }

    /// Sends `total` bytes as TSO super-segments, each round acknowledged
    /// in full 1 ms later, and returns one past the last byte.
    fn bulk(&mut self, start: SeqNum, total: u64) -> SeqNum {
        let tso = TxLimits { max_payload: 65_000 };
        let chunk = vec![0x5a; 1 << 20];
        let (mut written, mut acked) = (0u64, 0u64);
        while acked < total {
            while written < total {
                let n = (total - written).min(chunk.len() as u64) as usize;
                match self.conn.send(&chunk[..n]) {
                    Ok(k) => written += k as u64,
                    Err(trust::Error::WouldBlock) => break,
                    Err(e) => panic!("send: {e:?}"),
                }
            }
            let sent = self.transmit(tso);
            let end = sent.iter().map(|&(s, l)| s.add_len(l)).fold(start.add(acked as u32), SeqNum::max);
            acked = u64::from(end.distance_from(start)) + (acked >> 32 << 32);
            self.tick();
            self.ack(end);
            assert!(!sent.is_empty() || written == acked, "stalled at {acked} of {total}");
        }
        assert!(self.conn.all_acknowledged());
        start.add(total as u32)
    }

    /// Ten segments, three duplicate ACKs for the first: is it sent again
    /// at once (RFC 5681 §3.2 steps 2-3)? Repairs the flight either way.
    fn fast_retransmits(&mut self, una: SeqNum) -> bool {
        self.tick();
        self.conn.send(&[0xa5; 14_600]).unwrap();
        let sent = self.transmit(TxLimits::PLAIN);
        assert_eq!(sent.len(), 10, "{sent:?}");
        assert_eq!(sent[0], (una, 1460));
        self.tick();
        for _ in 0..3 {
            self.ack(una);
        }
        let resent = self.transmit(TxLimits::PLAIN);
        let fast = resent.first() == Some(&(una, 1460));
        // Let a timeout repair it if fast retransmit did not, then ACK all.
        for _ in 0..2000 {
            if fast || !self.transmit(TxLimits::PLAIN).is_empty() {
                break;
            }
            self.tick();
        }
        self.ack(una.add(14_600));
        self.transmit(TxLimits::PLAIN);
        assert!(self.conn.all_acknowledged());
        fast
    }
}

#[test]
fn fast_retransmit_still_works_after_2_gib_without_loss() {
    // RFC 6582 §3.2 step 2 compares SND.UNA with `recover` to tell a new
    // loss from the tail of the last recovery. `recover` starts at the
    // ISS and moves only when a recovery or a timeout happens, so after
    // 2^31 bytes without loss it lies "after" SND.UNA in modular
    // arithmetic, and three duplicate ACKs no longer start fast
    // retransmit: every loss then waits for an RTO (with cwnd = 1 SMSS)
    // for the next 2 GiB. Linux only consults its recovery point while in
    // recovery.
    let iss = SeqNum::new(0x8000_0000);
    let mut d = Driver::new(iss.get());
    let mut una = iss.add(1);
    assert!(d.fast_retransmits(una), "fast retransmit works at the start");
    una = una.add(14_600);
    let before = d.conn.stats().recoveries;
    // 2^31 + 1 MiB more, without a single loss.
    una = d.bulk(una, (1 << 31) + (1 << 20));
    assert_eq!(d.conn.stats().recoveries, before);
    assert!(
        d.fast_retransmits(una),
        "three duplicate ACKs after 2 GiB without loss: no fast retransmit ({:?})",
        d.conn.stats()
    );
}

// ---- simulated transfers at the wrap ------------------------------------

const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
const PORT: u16 = 80;
const CLIENT_PORT: u16 = 50_000;
const DELAY: Duration = Duration::from_millis(10);

fn tuple(side: usize) -> (SocketAddrV4, SocketAddrV4) {
    let client = SocketAddrV4::new(ADDRS[0], CLIENT_PORT);
    let server = SocketAddrV4::new(ADDRS[1], PORT);
    if side == 0 { (client, server) } else { (server, client) }
}

fn host(side: usize, seed: u64) -> StackConfig {
    let mut c = StackConfig::with_key(ADDRS[side], IsnKey::from_seed(seed));
    c.tcp.time_wait = Duration::from_secs(5);
    c.tcp.send_buffer = 64 * 1024;
    c.tcp.recv_buffer = 48 * 1024;
    c
}

fn lossy(seed: u64) -> LinkConfig {
    LinkConfig {
        delay: DELAY,
        loss: 0.03,
        duplicate: 0.02,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(7),
        jitter: Duration::from_micros(seed % 3 * 500),
        ..LinkConfig::default()
    }
}

/// Connects at `start` over ideal links, then moves `bytes` each way over
/// lossy ones and closes; returns the ISNs seen on the SYN and SYN-ACK,
/// and how long the transfer took.
fn transfer(seeds: [u64; 2], start: Instant, bytes: [u64; 2]) -> ([u32; 2], Duration) {
    let mut net = Network::new(
        [host(0, seeds[0]), host(1, seeds[1])],
        [LinkConfig::ideal(DELAY), LinkConfig::ideal(DELAY)],
        seeds[0],
    );
    net.now = start;
    let l = net.hosts[1].listen(PORT, 4).unwrap();
    net.capture = Some(VecDeque::new());
    let h0 = net.hosts[0].connect_with(net.now, tuple(0).1, CLIENT_PORT, None).unwrap();
    let mut h1: Option<SocketHandle> = None;
    let until = start + Duration::from_secs(5);
    let up = net.run(until, |net| {
        h1 = h1.or_else(|| net.hosts[1].accept(l).ok());
        h1.is_some() && net.hosts[0].state(h0) == Ok(State::Established)
    });
    assert!(up, "handshake");
    let h1 = h1.unwrap();
    let mut isn = [0u32; 2];
    for (side, p) in net.capture.take().unwrap() {
        let ip = ipv4::parse(&p).unwrap();
        let s = tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify).unwrap();
        if s.repr.flags.contains(TcpFlags::SYN) {
            isn[side] = s.repr.seq;
        }
    }
    for (i, link) in net.links.iter_mut().enumerate() {
        link.set_config(lossy(seeds[i]));
    }
    let handles = [h0, h1];
    let mut senders = [0, 1].map(|i| BulkSender::new(handles[i], 10 + i as u64, bytes[i], true));
    let mut receivers = [0, 1].map(|i| BulkReceiver::new(handles[i], 11 - i as u64));
    let done = net.run(start + Duration::from_secs(3600), |net| {
        for i in 0..2 {
            senders[i].poll(&mut net.hosts[i]);
            receivers[i].poll(&mut net.hosts[i]);
        }
        (0..2).all(|i| senders[i].done() && (receivers[i].eof || receivers[i].error.is_some()))
    });
    assert!(done, "stalled: sent {:?}", senders.iter().map(|s| s.sent).collect::<Vec<_>>());
    for i in 0..2 {
        let (s, r) = (&senders[i], &receivers[1 - i]);
        assert_eq!((s.error, r.error, r.mismatch), (None, None, None), "side {i}");
        assert_eq!((r.received, r.hash), (s.total, s.hash), "side {i}'s stream");
    }
    (isn, net.now.saturating_since(start))
}

/// RFC 6528's `F` of a host's 4-tuple: its ISN at time zero.
fn isn_base(side: usize, seed: u64) -> u32 {
    let (local, remote) = tuple(side);
    IsnGenerator::new(IsnKey::from_seed(seed)).isn(local.into(), remote.into(), Instant::ZERO).get()
}

#[test]
fn lossy_transfer_both_ways_with_both_isns_just_below_the_wrap() {
    // Host 0's ISN is 2^32 - 100 000 and host 1's within 50 000 of
    // 2^32 - 150 000, so both streams cross zero early, under loss,
    // duplication and reordering (SACK, timestamps and scaling on).
    let seed0 = 7;
    let (want0, want1) = (u32::MAX - 99_999, u32::MAX - 149_999);
    let b0 = isn_base(0, seed0);
    // ISN1 - ISN0 = F1 - F0 + DELAY / 4 µs: find a key for host 1 that
    // puts it near `want1`.
    let ticks = (DELAY.as_micros() / 4) as u32;
    let seed1 = (1..200_000u64)
        .find(|&s| {
            let d = isn_base(1, s).wrapping_sub(b0).wrapping_add(ticks);
            (d.wrapping_sub(want1.wrapping_sub(want0)) as i32).unsigned_abs() < 50_000
        })
        .expect("a key for host 1");
    let start = Instant::from_micros(4 * u64::from(want0.wrapping_sub(b0)));
    let (isn, _) = transfer([seed0, seed1], start, [300_000, 250_000]);
    assert_eq!(isn[0], want0);
    assert!((isn[1].wrapping_sub(want1) as i32).unsigned_abs() < 50_000, "{isn:?}");
}

#[test]
fn lossy_transfer_while_each_timestamp_clock_wraps() {
    // RFC 7323 §5.2: PAWS and RTT measurement across a TSval wrap, for
    // each host's clock in turn (2^32 - 300 ms when the connection opens,
    // so it wraps early in a transfer that lasts several times that).
    for side in 0..2 {
        let seeds = [21, 22];
        let (local, remote) = tuple(side);
        let offset = IsnGenerator::new(IsnKey::from_seed(seeds[side])).ts_offset(local.into(), remote.into());
        let start_ms = u64::from((u32::MAX - 299).wrapping_sub(offset));
        let (_, took) = transfer(seeds, Instant::from_millis(start_ms), [400_000, 400_000]);
        assert!(took > Duration::from_millis(600), "side {side}: over before the clock wrapped ({took:?})");
    }
}
