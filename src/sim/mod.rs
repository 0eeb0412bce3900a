//! A deterministic network simulator: engines joined by simulated links,
//! driven in virtual time.
//!
//! [`Network`] is a reactor for tests and benchmarks: it owns two
//! [`Stack`]s and a [`SimLink`] in each direction, and advances a virtual
//! clock from event to event (packet deliveries and engine deadlines),
//! never sleeping. With the same seed and the same application behaviour,
//! every run is identical, so a failure replays from its seed.
//!
//! [`apps`] holds small applications (bulk senders and receivers that
//! check every byte) that scenarios compose.

pub mod apps;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::VecDeque;

use crate::device::gso;
use crate::device::sim::{LinkConfig, LinkStats, Rng, SimLink};
use crate::stack::{SocketHandle, Stack, StackConfig};
use crate::tcp::congestion::Algorithm;
use crate::tcp::isn::IsnKey;
use crate::time::Instant;

/// Largest packet the simulator moves (a TSO super-segment).
const BUF_LEN: usize = 65536 + 128;

/// Two engines, `hosts[0]` and `hosts[1]`, and the links between them.
#[derive(Debug)]
pub struct Network {
    pub now: Instant,
    pub hosts: [Stack; 2],
    /// `links[0]` carries host 0's packets to host 1; `links[1]` the reverse.
    pub links: [SimLink; 2],
    buf: Vec<u8>,
    /// When set, every packet handed to a link is described here.
    pub trace: Option<Vec<String>>,
    /// An application-requested wake-up (see [`Network::wake_at`]).
    wake: Option<Instant>,
    /// When set, copies of the most recent packets handed to links (up to
    /// [`CAPTURE_LEN`]), oldest first, with the sending host's index.
    pub capture: Option<VecDeque<(usize, Vec<u8>)>>,
    /// Packets a host sent to an address neither host has (answers to
    /// forged sources, say): no link carries them.
    pub unroutable: u64,
}

/// How many packets [`Network::capture`] keeps.
pub const CAPTURE_LEN: usize = 64;

impl Network {
    /// Joins two stacks by links with the given fault models; `seed`
    /// seeds both links' fault draws.
    pub fn new(hosts: [StackConfig; 2], links: [LinkConfig; 2], seed: u64) -> Network {
        let [a, b] = hosts;
        let [ab, ba] = links;
        Network {
            now: Instant::ZERO,
            hosts: [Stack::new(a), Stack::new(b)],
            links: [SimLink::new(ab, seed ^ 0x5eed_0001), SimLink::new(ba, seed ^ 0x5eed_0002)],
            buf: vec![0; BUF_LEN],
            trace: None,
            capture: None,
            wake: None,
            unroutable: 0,
        }
    }

    /// Sends everything both engines want to send now.
    pub fn flush(&mut self) {
        for i in 0..2 {
            let peer = self.hosts[1 - i].config();
            let (peer4, peer6) = (IpAddr::V4(peer.addr), peer.addr6.map(IpAddr::V6));
            while let Some(tx) = self.hosts[i].poll_transmit(self.now, &mut self.buf) {
                let packet = &self.buf[..tx.len];
                if destination(packet).is_some_and(|dst| dst != peer4 && Some(dst) != peer6) {
                    self.unroutable += 1;
                    continue;
                }
                if let Some(trace) = self.trace.as_mut() {
                    trace.push(format!("{:?} {}->{} {}", self.now, i, 1 - i, describe(packet)));
                }
                if let Some(capture) = self.capture.as_mut() {
                    if capture.len() == CAPTURE_LEN {
                        capture.pop_front();
                    }
                    capture.push_back((i, packet.to_vec()));
                }
                let (now, link) = (self.now, &mut self.links[i]);
                match tx.gso_size {
                    // The device cuts super-segments the link cannot carry.
                    Some(mss) if packet.len() > link.config().mtu => {
                        gso::segment(packet, usize::from(mss), |p| link.send(now, p))
                            .expect("the engine emitted a malformed super-segment");
                    }
                    _ => link.send(now, packet),
                }
            }
        }
    }

    /// Makes the network step at `at` even if nothing else happens then,
    /// so an application can act at a time of its choosing.
    pub fn wake_at(&mut self, at: Instant) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }

    /// The next instant anything happens: a delivery, an engine deadline
    /// or a requested wake-up.
    pub fn next_event(&self) -> Option<Instant> {
        let deliveries = self.links.iter().filter_map(SimLink::next_delivery);
        let deadlines = self.hosts.iter().filter_map(Stack::poll_timeout);
        deliveries.chain(deadlines).chain(self.wake).min()
    }

    /// Advances to the next event (no further than `limit`) and processes
    /// it: deliveries, then due timers, then output. Returns false when
    /// nothing is scheduled before `limit` (the clock then moves to
    /// `limit`).
    pub fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let Some(at) = self.next_event().filter(|&t| t <= limit) else {
            self.now = self.now.max(limit);
            return false;
        };
        self.now = self.now.max(at);
        if self.wake.is_some_and(|w| w <= self.now) {
            self.wake = None;
        }
        for i in 0..2 {
            while let Some(p) = self.links[i].poll_deliver(self.now) {
                self.hosts[1 - i].handle_packet(self.now, &p.data);
                self.links[i].recycle(p.data);
            }
        }
        for host in &mut self.hosts {
            if host.poll_timeout().is_some_and(|t| t <= self.now) {
                host.handle_timeout(self.now);
            }
        }
        self.flush();
        true
    }

    /// Runs until `app` returns true (checked after every step) or virtual
    /// time reaches `limit`. Returns whether `app` finished.
    pub fn run(&mut self, limit: Instant, mut app: impl FnMut(&mut Network) -> bool) -> bool {
        loop {
            if app(self) {
                return true;
            }
            self.flush();
            if !self.step(limit) && self.now >= limit {
                return app(self);
            }
        }
    }

    /// As [`Network::run`], for an application that can fail: `app` says
    /// whether it has finished, and its first error stops the run and is
    /// returned.
    pub fn try_run<E>(
        &mut self,
        limit: Instant,
        mut app: impl FnMut(&mut Network) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let mut error = None;
        let finished = self.run(limit, |net| {
            app(net).unwrap_or_else(|e| {
                error = Some(e);
                true
            })
        });
        error.map_or(Ok(finished), Err)
    }

    /// A one-way bulk transfer: host 1 listens on `port`, host 0 connects
    /// and sends `bytes` of the [`apps::Pattern`] seeded by `seed`, then
    /// shuts down writing; host 1 reads and checks every byte. `between`
    /// runs before every application step (to inject packets, say). Runs
    /// until host 1 reads the end of the stream, either side sees an
    /// error, or virtual time reaches `limit`.
    pub fn bulk_transfer(
        &mut self,
        port: u16,
        bytes: u64,
        seed: u64,
        limit: Instant,
        mut between: impl FnMut(&mut Network),
    ) -> Result<BulkTransfer, crate::Error> {
        let listener = self.hosts[1].listen(port, 8)?;
        let started = self.now;
        let server = SocketAddr::from((self.hosts[1].config().addr, port));
        let client = self.hosts[0].connect(started, server)?;
        let mut sender = apps::BulkSender::new(client, seed, bytes, true);
        let mut receiver: Option<apps::BulkReceiver> = None;
        let finished = self.run(limit, |net| {
            between(net);
            if receiver.is_none() {
                receiver = net.hosts[1].accept(listener).ok().map(|h| apps::BulkReceiver::new(h, seed));
            }
            sender.poll(&mut net.hosts[0]);
            receiver.as_mut().is_some_and(|r| {
                r.poll(&mut net.hosts[1]);
                r.eof || r.error.is_some() || sender.error.is_some()
            })
        });
        Ok(BulkTransfer { finished, listener, started, sender, receiver })
    }

    /// Both links' counters.
    pub fn link_stats(&self) -> [LinkStats; 2] {
        [self.links[0].stats(), self.links[1].stats()]
    }
}

/// The outcome of [`Network::bulk_transfer`].
#[derive(Debug)]
pub struct BulkTransfer {
    /// The receiver read the end of the stream, or an error ended it.
    pub finished: bool,
    /// Host 1's listener (still open).
    pub listener: SocketHandle,
    /// When host 0 connected.
    pub started: Instant,
    pub sender: apps::BulkSender,
    /// Host 1's side, once it accepted the connection.
    pub receiver: Option<apps::BulkReceiver>,
}

/// Where an IPv4 or IPv6 packet is going, if its header says.
fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => <[u8; 4]>::try_from(packet.get(16..20)?).ok().map(IpAddr::from),
        6 => <[u8; 16]>::try_from(packet.get(24..40)?).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The IPv6 address the simulator gives a host whose IPv4 address is
/// `addr` ([`random_host`]): `fd00::` followed by the IPv4 address.
pub fn ipv6_for(addr: Ipv4Addr) -> Ipv6Addr {
    let bits = addr.to_bits();
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (bits >> 16) as u16, bits as u16)
}

/// A one-line summary of an IPv4 or IPv6 TCP packet, for traces.
pub fn describe(packet: &[u8]) -> String {
    use crate::wire::{RxChecksum, ipv4, ipv6, tcp};
    let parsed = match packet.first().map(|b| b >> 4) {
        Some(6) => ipv6::parse(packet)
            .map(|ip| (IpAddr::V6(ip.repr.src), IpAddr::V6(ip.repr.dst), ip.repr.next_header, ip.payload)),
        _ => ipv4::parse(packet)
            .map(|ip| (IpAddr::V4(ip.repr.src), IpAddr::V4(ip.repr.dst), ip.repr.protocol, ip.payload)),
    };
    let Ok((src, dst, protocol, payload)) = parsed else { return format!("<bad ip {} bytes>", packet.len()) };
    let Ok(seg) = tcp::parse(src, dst, payload, RxChecksum::Trusted) else {
        return format!("<non-tcp proto {protocol}>");
    };
    let r = &seg.repr;
    format!(
        "{}>{} [{:?}] seq={} ack={} win={} len={} {:?}",
        r.src_port,
        r.dst_port,
        r.flags,
        r.seq,
        r.ack,
        r.window,
        seg.payload.len(),
        r.options
    )
}

/// A host for a seeded simulation, with both an IPv4 address and an IPv6
/// one ([`ipv6_for`]): patient SYN retries and a random mix of
/// the negotiable options (timestamps, SACK, window scaling), Nagle,
/// congestion control and TSO, so that runs over many seeds cover every
/// combination. Callers add their own settings after it (the random draws
/// come in this fixed order, so a seed always means the same host).
pub fn random_host(addr: Ipv4Addr, key_seed: u64, rng: &mut Rng) -> StackConfig {
    let mut c = StackConfig::with_key(addr, IsnKey::from_seed(key_seed));
    c.addr6 = Some(ipv6_for(addr));
    c.tcp.syn_retries = 15;
    c.tcp.timestamps = rng.chance(0.8);
    c.tcp.sack = rng.chance(0.8);
    c.tcp.window_scaling = rng.chance(0.8);
    c.tcp.nodelay = rng.chance(0.3);
    if rng.chance(0.3) {
        c.tcp.congestion = Algorithm::Cubic;
    }
    if rng.chance(0.3) {
        // TSO: super-segments, cut by the device or delivered whole.
        c.offload.tso_max_payload = rng.range_u64(3_000..=65_000) as usize;
    }
    c
}
