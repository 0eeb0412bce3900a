//! The engine: every TCP connection and listener of one IPv4 interface,
//! behind a sans-IO interface.
//!
//! Whoever drives a [`Stack`] (the reactor, an application's own loop, or
//! the simulator) does four things, passing the current time each time:
//!
//! - hands it each received packet: [`Stack::handle_packet`];
//! - drains what it wants to send: [`Stack::poll_transmit`] until `None`;
//! - sleeps no longer than [`Stack::poll_timeout`] and then calls
//!   [`Stack::handle_timeout`];
//! - reacts to readiness changes: [`Stack::poll_event`].
//!
//! Applications use handles: [`Stack::listen`], [`Stack::accept`],
//! [`Stack::connect`], [`Stack::send`], [`Stack::recv`],
//! [`Stack::shutdown`], [`Stack::close`], [`Stack::abort`].
//!
//! Demultiplexing is a hash lookup on the 4-tuple (then the listening
//! port), never a scan. IPv4 fragments are dropped and counted, not
//! reassembled. ICMP echo requests are answered.

mod icmp;
mod input;
mod ip;
mod lifecycle;
mod limits;
mod listener;
mod options;
mod output;
mod pmtu;
mod ports;
mod ratelimit;
mod sockets;
mod tablehash;
mod timers;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::{HashMap, VecDeque};

pub use crate::tcp::Transmit;
pub use limits::{Limits, MemoryLimits, RateLimit};
pub use sockets::SocketHandle;
pub use tablehash::{TableHash, TableHasher};

use self::ip::NetworkLayer;
use self::listener::Listener;
use self::output::Control;
use self::pmtu::PmtuCache;
pub use self::pmtu::{MIN_MTU_V4, MIN_MTU_V6, PMTU_EXPIRY};
use self::ports::EphemeralPorts;
use self::ratelimit::{ChallengeBudget, TokenBucket};
use self::sockets::{Socket, SocketSet, TcpSocket, readiness_of};
use self::timers::TimerQueue;
use crate::error::Error;
use crate::tcp::isn::{IsnGenerator, IsnKey, Purpose};
use crate::tcp::{Connection, FourTuple, Readiness, Reset, Shutdown, State, TcpConfig, TxLimits};
use crate::time::Instant;
use crate::wire::{RxChecksum, TxChecksum};

/// What the device does for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Offload {
    /// Largest TCP payload per emitted packet when the device segments
    /// (TSO); 0 (the default) emits MSS-sized packets.
    pub tso_max_payload: usize,
    /// How emitted TCP checksums are filled.
    pub tx_checksum: TxChecksum,
}

/// Settings of a [`Stack`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StackConfig {
    /// The interface's own IPv4 address; `0.0.0.0` for an interface that
    /// speaks IPv6 only ([`StackConfig::addr6`]).
    pub addr: Ipv4Addr,
    /// The interface's own IPv6 address, if it speaks IPv6 (RFC 8200); a
    /// listener then takes connections on both families.
    pub addr6: Option<Ipv6Addr>,
    /// Link MTU (default 1500); the advertised MSS is MTU − 40 for IPv4
    /// and MTU − 60 for IPv6.
    pub mtu: usize,
    /// Defaults for every new connection.
    pub tcp: TcpConfig,
    /// Secret for ISNs (RFC 6528) and timestamp offsets.
    pub isn_key: IsnKey,
    pub offload: Offload,
    /// Most sockets (listeners and connections, including orphans and
    /// TIME-WAIT) at once (default 65536).
    pub max_sockets: usize,
    /// Local ports for `connect` (default 49152-65535, RFC 6335), chosen
    /// as RFC 6056 §3.3.4 algorithm 4 describes.
    pub ephemeral_ports: (u16, u16),
    /// Most resets, ICMP replies and SYN-cookie SYN-ACKs waiting to be
    /// sent (default 1024); beyond it they are dropped and counted.
    pub control_queue: usize,
    /// Bounds on what peers can make the stack hold or send.
    pub limits: Limits,
    /// On a multi-queue device, the queue this engine owns (default: the
    /// only one). Ephemeral ports for `connect` are then picked so that
    /// [`crate::wire::flow::queue`] brings the connection's packets back
    /// to this queue.
    pub queue: DeviceQueue,
    /// The IPv4 TTL and IPv6 hop limit of every packet, unless a socket
    /// sets its own ([`Stack::set_ttl`]): 64 by default, Linux's
    /// `net.ipv4.ip_default_ttl` (RFC 1122 §3.2.1.7, RFC 8200 §3).
    pub ttl: u8,
}

/// Queue `index` of a device with `count` queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceQueue {
    pub index: u16,
    pub count: u16,
}

impl Default for DeviceQueue {
    fn default() -> DeviceQueue {
        DeviceQueue { index: 0, count: 1 }
    }
}

impl DeviceQueue {
    /// Whether the flow between these ports arrives on this queue.
    pub fn carries(self, local_port: u16, remote_port: u16) -> bool {
        self.count <= 1 || crate::wire::flow::queue(local_port, remote_port, self.count) == self.index
    }
}

impl StackConfig {
    /// Defaults for the interface address `addr`, with an ISN key from the
    /// OS random source.
    pub fn new(addr: Ipv4Addr) -> std::io::Result<StackConfig> {
        Ok(StackConfig::with_key(addr, IsnKey::random()?))
    }

    /// Defaults with a given key (the simulator seeds it).
    pub fn with_key(addr: Ipv4Addr, isn_key: IsnKey) -> StackConfig {
        StackConfig {
            addr,
            addr6: None,
            mtu: 1500,
            tcp: TcpConfig::default(),
            isn_key,
            offload: Offload::default(),
            max_sockets: 65536,
            ephemeral_ports: (49152, 65535),
            control_queue: 1024,
            limits: Limits::default(),
            queue: DeviceQueue::default(),
            ttl: crate::wire::ipv4::DEFAULT_TTL,
        }
    }
}

/// Counters of what the stack saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    pub rx_packets: u64,
    /// Dropped: an IP version the interface does not speak (IPv6 without
    /// an IPv6 address: a TUN device also carries the kernel's own IPv6).
    pub rx_unknown_version: u64,
    /// Dropped: failed validation (lengths, checksums, options).
    pub rx_malformed: u64,
    /// Of those, checksum failures.
    pub rx_bad_checksum: u64,
    /// Dropped: IP fragments.
    pub rx_fragments: u64,
    /// Dropped: not addressed to us, or from an invalid source.
    pub rx_not_for_us: u64,
    /// Dropped: a protocol other than TCP and ICMP.
    pub rx_unknown_protocol: u64,
    /// TCP segments that matched no socket.
    pub rx_no_socket: u64,
    /// SYNs (and cookie ACKs) dropped because the accept queue or the
    /// socket table was full.
    pub syn_dropped: u64,
    /// Handshake-completing ACKs dropped because the listener's accept
    /// queue was full (Linux: `ListenOverflows`); the peer retries.
    pub listen_overflows: u64,
    /// Half-open connections evicted, oldest first, for a new SYN while the
    /// SYN queue was full (SYN cookies off).
    pub syn_queue_evicted: u64,
    /// Half-open connections dropped after fewer SYN-ACK retransmissions
    /// because their SYN queue was more than half full.
    pub syn_queue_pruned: u64,
    /// SYNs answered with a SYN cookie (RFC 4987 §3.6) because the
    /// listener's SYN queue was full.
    pub syn_cookies_sent: u64,
    /// ACKs whose cookie was valid: each opened a connection.
    pub syn_cookies_validated: u64,
    /// ACKs checked as cookies that failed (wrong MAC, too old, or an
    /// acknowledgment number no cookie of ours makes).
    pub syn_cookies_rejected: u64,
    pub icmp_echo_replies: u64,
    /// Echo replies not sent: over the ICMP rate limit.
    pub icmp_rate_limited: u64,
    /// ICMP errors (unreachable, packet too big, time exceeded, parameter
    /// problem) received.
    pub icmp_errors: u64,
    /// Of those, ignored: quoting no connection of ours, a sequence number
    /// not in flight (RFC 5927 §4.1), or a path MTU not below the link's.
    pub icmp_errors_ignored: u64,
    /// Path MTUs lowered by a "packet too big" (RFC 1191, RFC 8201).
    pub pmtu_lowered: u64,
    pub tx_packets: u64,
    pub tx_resets: u64,
    /// Resets to segments that matched no socket not sent: over the reset
    /// rate limit.
    pub resets_rate_limited: u64,
    /// Challenge ACKs withheld: over the stack-wide budget (RFC 5961 §7).
    pub challenge_acks_suppressed: u64,
    /// Connections reset at `close` because [`Limits::max_orphans`]
    /// connections were already finishing on their own.
    pub orphans_reset: u64,
    /// TIME-WAIT connections ended early because [`Limits::max_time_wait`]
    /// were in TIME-WAIT.
    pub time_wait_recycled: u64,
    /// Received bytes within the window not taken because buffers could
    /// not grow (memory pressure, or out-of-order bytes too sparse).
    pub rx_bytes_refused: u64,
    /// Resets or replies dropped because the control queue was full.
    pub control_dropped: u64,
}

/// The engine. See the module documentation.
#[derive(Debug)]
pub struct Stack {
    cfg: StackConfig,
    isn: IsnGenerator,
    sockets: SocketSet,
    connections: HashMap<FourTuple, u32, TableHash>,
    listeners: HashMap<u16, u32, TableHash>,
    timers: TimerQueue,
    tx_queue: VecDeque<u32>,
    control: VecDeque<Control>,
    events: VecDeque<u32>,
    ports: EphemeralPorts,
    stats: Stats,
    resets: TokenBucket,
    icmp: TokenBucket,
    challenges: ChallengeBudget,
    /// TIME-WAIT connections by (slot index, generation), oldest first;
    /// entries that left TIME-WAIT are skipped.
    time_wait_order: VecDeque<(u32, u32)>,
    net: NetworkLayer,
    pmtu: PmtuCache,
}

impl Stack {
    /// A stack for `cfg`. Its TCP defaults should pass
    /// [`TcpConfig::validate`]; out-of-range values are clamped.
    pub fn new(cfg: StackConfig) -> Stack {
        let isn = IsnGenerator::new(cfg.isn_key);
        let local = SocketAddr::from((cfg.addr, 0));
        let ports = EphemeralPorts::new(&isn, local);
        let challenge_seed = isn.hash(local, local, Purpose::TsOffset, 1);
        let table_hash = TableHash::with_key((
            isn.hash(local, local, Purpose::TableKey, 0),
            isn.hash(local, local, Purpose::TableKey, 1),
        ));
        Stack {
            isn,
            sockets: SocketSet::default(),
            connections: HashMap::with_hasher(table_hash),
            listeners: HashMap::with_hasher(table_hash),
            timers: TimerQueue::default(),
            tx_queue: VecDeque::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            ports,
            stats: Stats::default(),
            resets: TokenBucket::new(cfg.limits.resets),
            icmp: TokenBucket::new(cfg.limits.icmp),
            challenges: ChallengeBudget::new(cfg.limits.challenge_acks, challenge_seed),
            time_wait_order: VecDeque::new(),
            net: NetworkLayer::default(),
            pmtu: PmtuCache::default(),
            cfg,
        }
    }

    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Live sockets (listeners, connections, orphans, TIME-WAIT).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// Entries in the timer heap, stale ones included (for checking that
    /// it stays bounded).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Bytes of buffer storage held by every connection together (what
    /// [`Limits::memory`] bounds).
    pub fn buffer_memory(&self) -> usize {
        self.sockets.memory()
    }

    /// Connections the application has closed that are still finishing
    /// (what [`Limits::max_orphans`] bounds).
    pub fn orphan_count(&self) -> usize {
        self.sockets.orphans()
    }

    /// Connections in TIME-WAIT (what [`Limits::max_time_wait`] bounds).
    pub fn time_wait_count(&self) -> usize {
        self.sockets.time_wait()
    }

    fn tx_limits(&self) -> TxLimits {
        TxLimits { max_payload: self.cfg.offload.tso_max_payload.min(ip::MAX_TCP_PAYLOAD) }
    }

    /// Hands the engine a received IPv4 packet whose checksums must be
    /// verified.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.handle_packet_with(now, packet, RxChecksum::Verify);
    }

    /// Starts listening on `port` of the interface address (0 picks a free
    /// ephemeral port). `backlog` bounds the established connections
    /// waiting for [`Stack::accept`] (half-open ones are bounded by
    /// [`Limits::syn_backlog`]); they get the stack's default
    /// [`TcpConfig`].
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<SocketHandle, Error> {
        self.listen_with(port, backlog, None)
    }

    /// As [`Stack::listen`], with the settings accepted connections get.
    pub fn listen_with(
        &mut self,
        port: u16,
        backlog: usize,
        tcp: Option<TcpConfig>,
    ) -> Result<SocketHandle, Error> {
        if let Some(cfg) = &tcp {
            cfg.validate()?;
        }
        let port = if port == 0 { self.free_port(None)? } else { port };
        if self.listeners.contains_key(&port) {
            return Err(Error::AddrInUse);
        }
        self.check_capacity()?;
        let h = self.sockets.insert(Socket::Listener(Listener::new(port, backlog, tcp, self.cfg.ttl)));
        self.listeners.insert(port, h.index);
        Ok(h)
    }

    /// Takes an established connection from a listener's accept queue.
    pub fn accept(&mut self, listener: SocketHandle) -> Result<SocketHandle, Error> {
        self.sockets.get(listener).ok_or(Error::InvalidHandle)?;
        let l = self.sockets.listener_mut(listener.index).ok_or(Error::InvalidHandle)?;
        let Some(index) = l.accept_queue.pop_front() else {
            self.refresh_readiness(listener.index);
            return Err(Error::WouldBlock);
        };
        if let Some(t) = self.sockets.tcp_mut(index) {
            t.parent = None;
        }
        self.refresh_readiness(listener.index);
        self.refresh_readiness(index);
        self.sockets.handle(index).ok_or(Error::InvalidHandle)
    }

    /// Active open to `remote` from an ephemeral port, with the stack's
    /// default settings. The handle is usable at once (data written now is
    /// sent once the handshake completes); [`Readiness::CONNECTED`] or an
    /// error follows.
    pub fn connect(&mut self, now: Instant, remote: impl Into<SocketAddr>) -> Result<SocketHandle, Error> {
        self.connect_with(now, remote, 0, None)
    }

    /// Active open from `local_port` (0 picks an ephemeral port), with
    /// `tcp` settings instead of the stack's defaults if given.
    pub fn connect_with(
        &mut self,
        now: Instant,
        remote: impl Into<SocketAddr>,
        local_port: u16,
        tcp: Option<TcpConfig>,
    ) -> Result<SocketHandle, Error> {
        let remote = remote.into();
        // RFC 9293 §3.9.1.1 (MUST-46): no OPEN to a broadcast or multicast
        // address.
        let ip = remote.ip();
        let broadcast = matches!(ip, IpAddr::V4(a) if a.is_broadcast());
        if remote.port() == 0 || ip.is_unspecified() || broadcast || ip.is_multicast() {
            return Err(Error::InvalidInput);
        }
        let local_ip = self.local_ip_for(ip)?;
        if let Some(cfg) = &tcp {
            cfg.validate()?;
        }
        let port = if local_port == 0 { self.free_port(Some(remote))? } else { local_port };
        let tuple = FourTuple { local: SocketAddr::new(local_ip, port), remote };
        if self.connections.contains_key(&tuple) {
            return Err(Error::AddrInUse);
        }
        self.check_capacity()?;
        let iss = self.isn.isn(tuple.local, tuple.remote, now);
        let offset = self.isn.ts_offset(tuple.local, tuple.remote);
        let cfg = tcp.as_ref().unwrap_or(&self.cfg.tcp);
        let mut conn = Connection::connect(tuple, iss, offset, ip::mss_for(self.cfg.mtu, &tuple), cfg);
        if let Some(s) = self.pmtu.signal_for(&tuple, now) {
            conn.handle_path_signal(s);
        }
        let h = self.sockets.insert(Socket::Tcp(TcpSocket { conn, parent: None, ttl: self.cfg.ttl }));
        self.connections.insert(tuple, h.index);
        self.follow_up(h.index);
        Ok(h)
    }

    /// Our address of `remote`'s family: `AddrNotAvailable` when the
    /// interface has none.
    fn local_ip_for(&self, remote: IpAddr) -> Result<IpAddr, Error> {
        match remote {
            IpAddr::V4(_) if self.cfg.addr.is_unspecified() => Err(Error::AddrNotAvailable),
            IpAddr::V4(_) => Ok(IpAddr::V4(self.cfg.addr)),
            IpAddr::V6(_) => self.cfg.addr6.map(IpAddr::V6).ok_or(Error::AddrNotAvailable),
        }
    }

    fn check_capacity(&self) -> Result<(), Error> {
        if self.sockets.len() >= self.cfg.max_sockets {
            return Err(Error::AddrNotAvailable);
        }
        Ok(())
    }

    /// An ephemeral port free for `remote` (or for listening), whose flow
    /// to `remote` arrives on this engine's device queue.
    fn free_port(&mut self, remote: Option<SocketAddr>) -> Result<u16, Error> {
        let local_ip = match remote {
            Some(r) => self.local_ip_for(r.ip())?,
            None => IpAddr::V4(self.cfg.addr),
        };
        let local = SocketAddr::new(local_ip, 0);
        let (listeners, connections, queue) = (&self.listeners, &self.connections, self.cfg.queue);
        let usable = |port: u16| {
            !listeners.contains_key(&port)
                && remote.is_none_or(|remote| {
                    let local = SocketAddr::new(local.ip(), port);
                    queue.carries(port, remote.port())
                        && !connections.contains_key(&FourTuple { local, remote })
                })
        };
        self.ports
            .pick(&self.isn, local, remote, self.cfg.ephemeral_ports, usable)
            .ok_or(Error::AddrNotAvailable)
    }

    /// Runs `f` on the connection behind `h` (not orphaned), then updates
    /// its bookkeeping.
    fn with_conn<R>(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&mut Connection) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let pressure = self.memory_pressure();
        let slot = self.sockets.get_mut(h).ok_or(Error::InvalidHandle)?;
        let Some(Socket::Tcp(t)) = slot.socket.as_mut() else {
            return Err(Error::InvalidHandle);
        };
        if t.conn.is_orphaned() {
            return Err(Error::InvalidHandle);
        }
        t.conn.set_memory_pressure(pressure);
        let r = f(&mut t.conn);
        self.follow_up(h.index);
        r
    }

    /// Queues data for sending; see [`Connection::send`].
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.with_conn(h, |c| c.send(data))
    }

    /// Reads received data; see [`Connection::recv`].
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error> {
        self.with_conn(h, |c| c.recv(buf))
    }

    /// The soft error an ICMP message last reported for `h` (RFC 1122
    /// §4.2.3.9), taken: `None` the second time.
    pub fn take_soft_error(&mut self, h: SocketHandle) -> Result<Option<Error>, Error> {
        self.with_conn(h, |c| Ok(c.take_soft_error()))
    }

    /// The error `SO_ERROR` reports for `h`, taken: the one that ended the
    /// connection if no read or write has reported it yet, else the soft
    /// error an ICMP message last reported. `None` the second time; a
    /// connection whose error was taken reads the end of the stream and
    /// writes fail with `BrokenPipe`, as on Linux once `sk_err` is taken.
    pub fn take_error(&mut self, h: SocketHandle) -> Result<Option<Error>, Error> {
        self.with_conn(h, |c| Ok(c.take_error().err().or_else(|| c.take_soft_error())))
    }

    /// Destinations whose lowered path MTU is remembered (what
    /// [`Limits::pmtu_entries`] bounds).
    pub fn pmtu_entries(&self) -> usize {
        self.pmtu.len()
    }

    /// Lends received data to `f` without copying it; see
    /// [`Connection::recv_with`].
    pub fn recv_with<R>(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&[u8], &[u8]) -> (usize, R),
    ) -> Result<R, Error> {
        self.with_conn(h, |c| c.recv_with(f))
    }

    /// Shuts down reading, writing or both.
    pub fn shutdown(&mut self, h: SocketHandle, how: Shutdown) -> Result<(), Error> {
        self.with_conn(h, |c| c.shutdown(how))
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&mut self, h: SocketHandle, nodelay: bool) -> Result<(), Error> {
        self.with_conn(h, |c| {
            c.set_nodelay(nodelay);
            Ok(())
        })
    }

    /// Turns keep-alive probing on (with its timing) or off.
    pub fn set_keepalive(
        &mut self,
        now: Instant,
        h: SocketHandle,
        keepalive: Option<crate::tcp::Keepalive>,
    ) -> Result<(), Error> {
        self.with_conn(h, |c| {
            c.set_keepalive(now, keepalive);
            Ok(())
        })
    }

    /// Whether everything sent on `h` has been acknowledged.
    pub fn all_acknowledged(&self, h: SocketHandle) -> Result<bool, Error> {
        self.connection(h).map(Connection::all_acknowledged)
    }

    /// The socket behind a handle the application still holds: a listener,
    /// or a connection it has not closed (an orphan finishing its close on
    /// its own is no longer the application's).
    fn held(&self, h: SocketHandle) -> Result<&Socket, Error> {
        match self.sockets.get(h).and_then(|s| s.socket.as_ref()) {
            Some(Socket::Tcp(t)) if t.conn.is_orphaned() => Err(Error::InvalidHandle),
            Some(s) => Ok(s),
            None => Err(Error::InvalidHandle),
        }
    }

    /// Read access to a connection (state, windows, RTT).
    pub fn connection(&self, h: SocketHandle) -> Result<&Connection, Error> {
        match self.held(h)? {
            Socket::Tcp(t) => Ok(&t.conn),
            Socket::Listener(_) => Err(Error::InvalidHandle),
        }
    }

    /// Every connection, those closed and finishing on their own included
    /// (for diagnostics).
    pub fn connections(&self) -> impl Iterator<Item = &Connection> + '_ {
        self.sockets.iter().filter_map(|s| match s {
            Socket::Tcp(t) => Some(&t.conn),
            Socket::Listener(_) => None,
        })
    }

    /// The state of a connection, or LISTEN for a listener.
    pub fn state(&self, h: SocketHandle) -> Result<State, Error> {
        Ok(match self.held(h)? {
            Socket::Listener(_) => State::Listen,
            Socket::Tcp(t) => t.conn.state(),
        })
    }

    /// Local and remote addresses of a connection; for a listener (which
    /// takes connections on every family the interface speaks), the IPv4
    /// address, or the IPv6 one on an IPv6-only interface, and an
    /// unspecified remote.
    pub fn addresses(&self, h: SocketHandle) -> Result<FourTuple, Error> {
        Ok(match self.held(h)? {
            Socket::Listener(l) => {
                let ip = match self.cfg.addr6 {
                    Some(a6) if self.cfg.addr.is_unspecified() => IpAddr::V6(a6),
                    _ => IpAddr::V4(self.cfg.addr),
                };
                let unspecified = if ip.is_ipv6() {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                } else {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                };
                FourTuple { local: SocketAddr::new(ip, l.port), remote: SocketAddr::new(unspecified, 0) }
            }
            Socket::Tcp(t) => t.conn.tuple(),
        })
    }

    /// Lets go of a socket. A connection closes gracefully on its own (or
    /// is reset if unread data remains, RFC 1122 §4.2.2.13, or if
    /// [`Limits::max_orphans`] connections are already finishing on their
    /// own); a listener resets every connection it opened that was not
    /// accepted. The handle is invalid afterwards.
    pub fn close(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        if self.sockets.orphans() >= self.cfg.limits.max_orphans {
            // No room for another connection finishing on its own: reset
            // it instead (Linux: "too many orphaned sockets").
            let mut reset = false;
            let r = self.release_handle(now, h, |c| {
                let rst = abort_and_release(c, now);
                reset = rst.is_some();
                rst
            });
            self.stats.orphans_reset += u64::from(reset);
            return r;
        }
        self.release_handle(now, h, |c| c.close(now))
    }

    /// Resets a connection at once (RFC 9293 §3.10.5) and frees the
    /// handle; for a listener, the same as [`Stack::close`].
    pub fn abort(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        self.release_handle(now, h, |c| abort_and_release(c, now))
    }

    /// Ends the application's hold on `h`: `finish` closes or aborts a
    /// connection; a listener is closed.
    fn release_handle(
        &mut self,
        now: Instant,
        h: SocketHandle,
        finish: impl FnOnce(&mut Connection) -> Option<Reset>,
    ) -> Result<(), Error> {
        let slot = self.sockets.get_mut(h).ok_or(Error::InvalidHandle)?;
        match slot.socket.as_mut() {
            Some(Socket::Tcp(t)) if !t.conn.is_orphaned() => {
                let rst = finish(&mut t.conn);
                let ttl = t.ttl;
                self.queue_reset(rst, ttl);
                self.follow_up(h.index);
                Ok(())
            }
            Some(Socket::Listener(_)) => {
                self.close_listener(now, h.index);
                Ok(())
            }
            _ => Err(Error::InvalidHandle),
        }
    }

    fn close_listener(&mut self, now: Instant, index: u32) {
        let Some(Socket::Listener(mut l)) = self.sockets.remove(index) else { return };
        self.listeners.remove(&l.port);
        // Reset every connection it opened that nobody accepted: those in
        // the accept queue and those still half-open.
        let half_open = l.syn_queue.drain();
        for i in l.accept_queue.into_iter().chain(half_open) {
            if let Some(t) = self.sockets.tcp_mut(i) {
                t.parent = None;
                let rst = abort_and_release(&mut t.conn, now);
                let ttl = t.ttl;
                self.queue_reset(rst, ttl);
                self.follow_up(i);
            }
        }
    }

    /// What a socket is ready for now (level-triggered).
    pub fn readiness(&self, h: SocketHandle) -> Result<Readiness, Error> {
        self.held(h).map(|s| readiness_of(Some(s)))
    }

    /// The next socket whose readiness changed since it was last reported,
    /// with its readiness now. Sockets are reported once per change.
    pub fn poll_event(&mut self) -> Option<(SocketHandle, Readiness)> {
        while let Some(index) = self.events.pop_front() {
            let Some(slot) = self.sockets.slot_mut(index) else { continue };
            slot.event_queued = false;
            let readiness = match slot.socket.as_ref() {
                Some(Socket::Tcp(t)) if t.conn.is_orphaned() || t.parent.is_some() => continue,
                s => readiness_of(s),
            };
            if readiness != slot.reported {
                slot.reported = readiness;
                return Some((SocketHandle { index, generation: slot.generation }, readiness));
            }
        }
        None
    }
}

/// Resets a connection and lets go of it: the RST to send, if any.
pub(super) fn abort_and_release(conn: &mut Connection, now: Instant) -> Option<Reset> {
    let rst = conn.abort(now);
    conn.close(now);
    rst
}
