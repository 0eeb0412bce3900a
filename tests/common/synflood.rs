//! A SYN flood and the legitimate clients that try to get through it,
//! shared by the kernel-peer test (`tests/synflood/flood.rs`) and the
//! benchmark (`bench/synflood.rs`).
//!
//! [`flood`] writes spoofed IPv4 TCP SYNs straight onto a device from its
//! kernel side: an `AF_PACKET` socket (`SOCK_DGRAM`, so the kernel adds the
//! link header, if the device has one) on the interface named in
//! [`FloodConfig`], in the network namespace of the calling thread. Every
//! SYN has valid IP and TCP checksums, a source address drawn from a range
//! that nothing in the namespace routes or answers (198.18.0.0/15 by
//! default, RFC 2544's benchmarking range), a random source port, ISN and
//! timestamp, and the options Linux puts on a SYN (MSS, SACK-permitted,
//! timestamps, window scale), so that a SYN-cookie implementation has to
//! encode them. It writes with `sendmmsg(2)` in batches, as fast as one
//! core allows, until a deadline or a packet count, whichever comes first.
//!
//! [`drive_clients`] is the legitimate user: kernel TCP connections to an
//! echo server, started on a fixed schedule (open loop, so a slow server
//! does not thin out the attempts) while the flood runs, each sending
//! [`ClientPlan::payload`] bytes, reading them back, checking them and
//! closing; then one more the moment the flood ends. Every attempt is
//! recorded ([`Attempt`]); [`Summary`] counts them.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::net::if_::if_nametoindex;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, LinkAddr, MsgFlags, MultiHeaders, SockFlag, SockType, SockaddrIn, SockaddrLike, bind,
    connect, getsockopt, sendmmsg, socket, sockopt,
};

// ------------------------------------------------------------------ the flood

/// What [`flood`] sends, where, and for how long.
#[derive(Debug, Clone)]
pub struct FloodConfig {
    /// The interface to write on, in the calling thread's namespace.
    pub ifname: String,
    /// The destination MAC, for a device with a link layer (a veth end:
    /// its peer's address); `None` for a TUN device.
    pub dst_mac: Option<[u8; 6]>,
    /// Where the SYNs go.
    pub target: SocketAddrV4,
    /// The forged source range: network and prefix length.
    pub sources: (Ipv4Addr, u8),
    /// Stop after this long...
    pub duration: Duration,
    /// ...or after this many packets.
    pub max_packets: u64,
    /// Packets per `sendmmsg(2)` call.
    pub batch: usize,
    /// At most this many packets a second (`None`: as fast as it goes).
    pub max_rate: Option<f64>,
}

/// The benchmarking range of RFC 2544 (198.18.0.0/15): nothing in a test
/// namespace routes or answers it.
pub const FORGED_SOURCES: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 15);

/// Packets per `sendmmsg(2)` by default. Measured on the 2-core test
/// machine into a TUN device that trust reads: 1.15 M/s one at a time (as
/// `sendto(2)` would), 1.3 M/s in fours, 1.8 M/s in sixteens, 2.15 M/s in
/// batches of 64 and of 256. Over veth to a kernel server, whose SYN
/// handling runs in the writing thread: 0.57 M/s one at a time, 0.61 M/s
/// in 64s.
pub const DEFAULT_BATCH: usize = 64;

impl FloodConfig {
    /// A flood of `target` on `ifname` for `duration`, bounded at 100
    /// million packets (about 50 s at the fastest rate measured on the
    /// 2-core test machines, 2 million a second into a TUN device).
    pub fn new(ifname: &str, target: SocketAddrV4, duration: Duration) -> FloodConfig {
        FloodConfig {
            ifname: ifname.to_string(),
            dst_mac: None,
            target,
            sources: FORGED_SOURCES,
            duration,
            max_packets: 100_000_000,
            batch: DEFAULT_BATCH,
            max_rate: None,
        }
    }
}

/// What [`flood`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct FloodReport {
    /// Packets the kernel accepted from us.
    pub sent: u64,
    /// `sendmmsg` calls that failed (`ENOBUFS` and the like), each losing
    /// at least one packet.
    pub errors: u64,
    pub elapsed: Duration,
}

impl FloodReport {
    /// Packets per second.
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `ETH_P_IP` in network byte order, as `sll_protocol` wants it.
fn eth_p_ip() -> u16 {
    (libc::ETH_P_IP as u16).to_be()
}

/// A link-layer address: interface `ifindex`, protocol `protocol`
/// (network byte order), destination `mac` if any.
fn link_addr(ifindex: u32, protocol: u16, mac: Option<[u8; 6]>) -> LinkAddr {
    let mut sll_addr = [0u8; 8];
    if let Some(m) = mac {
        sll_addr[..6].copy_from_slice(&m);
    }
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: protocol,
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: if mac.is_some() { 6 } else { 0 },
        sll_addr,
    };
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a fully initialised `sockaddr_ll` that lives across
    // the call, and `len` is its size; `from_raw` copies it (and checks the
    // family).
    unsafe { LinkAddr::from_raw((&raw const sll).cast(), Some(len)) }.expect("an AF_PACKET address")
}

/// The MAC address of `ifname` in the calling thread's namespace (for a
/// flood over a veth pair: the address of the receiving end).
pub fn mac_address(ifname: &str) -> io::Result<[u8; 6]> {
    nix::ifaddrs::getifaddrs()?
        .filter(|a| a.interface_name == ifname)
        .find_map(|a| a.address?.as_link_addr()?.addr())
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no link address for {ifname}")))
}

/// A small, fast generator (xorshift64*) for the forged fields.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        Rng(RandomState::new().build_hasher().finish() | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// IPv4 (20) + TCP (20) + options (20) bytes.
pub const SYN_LEN: usize = 60;

/// The Internet checksum's 16-bit one's-complement sum of `data`, added to `sum`.
fn sum16(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes one SYN from `src` to `dst` into `p`, as Linux would send it:
/// DF set, TTL 64, window 64240, options MSS 1460, SACK-permitted,
/// timestamps (`tsval`, echo 0), NOP, window scale 7.
pub fn write_syn(p: &mut [u8; SYN_LEN], src: SocketAddrV4, dst: SocketAddrV4, isn: u32, tsval: u32, id: u16) {
    // IPv4 header (RFC 791).
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(SYN_LEN as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
    p[8] = 64;
    p[9] = 6; // TCP
    p[10..12].fill(0);
    p[12..16].copy_from_slice(&src.ip().octets());
    p[16..20].copy_from_slice(&dst.ip().octets());
    let ip_sum = fold(sum16(0, &p[..20]));
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    // TCP header (RFC 9293 §3.1) with 20 bytes of options.
    let t = &mut p[20..];
    t[0..2].copy_from_slice(&src.port().to_be_bytes());
    t[2..4].copy_from_slice(&dst.port().to_be_bytes());
    t[4..8].copy_from_slice(&isn.to_be_bytes());
    t[8..12].fill(0);
    t[12] = 10 << 4; // data offset: 40 bytes
    t[13] = 0x02; // SYN
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t[16..20].fill(0); // checksum (below), urgent pointer
    t[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
    t[24..26].copy_from_slice(&[4, 2]); // SACK permitted
    t[26..28].copy_from_slice(&[8, 10]); // timestamps
    t[28..32].copy_from_slice(&tsval.to_be_bytes());
    t[32..36].fill(0);
    t[36..40].copy_from_slice(&[1, 3, 3, 7]); // NOP, window scale 7
    // Pseudo-header: source, destination, protocol, TCP length.
    let mut sum = sum16(0, &src.ip().octets());
    sum = sum16(sum, &dst.ip().octets());
    sum += 6 + (SYN_LEN - 20) as u32;
    let tcp_sum = fold(sum16(sum, &p[20..]));
    p[36..38].copy_from_slice(&tcp_sum.to_be_bytes());
}

/// A random address of `net/prefix` and a random port of 1024-65535.
fn forged_source(rng: &mut Rng, (net, prefix): (Ipv4Addr, u8)) -> SocketAddrV4 {
    let r = rng.next();
    let host_bits = 32 - u32::from(prefix.min(32));
    let mask = if host_bits == 32 { u32::MAX } else { (1u32 << host_bits) - 1 };
    let addr = (u32::from(net) & !mask) | (r as u32 & mask);
    let port = 1024 + ((r >> 32) % (65536 - 1024)) as u16;
    SocketAddrV4::new(Ipv4Addr::from(addr), port)
}

/// Opens the packet socket for `cfg`: bound to the interface, with
/// protocol 0 so that it receives nothing (a socket of protocol
/// `ETH_P_IP` would be handed a copy of every IP packet on the device).
/// Returns it and the destination address each packet is sent to
/// (`sll_protocol` `ETH_P_IP`).
fn packet_socket(cfg: &FloodConfig) -> io::Result<(OwnedFd, LinkAddr)> {
    let ifindex = if_nametoindex(cfg.ifname.as_str())
        .map_err(|e| io::Error::other(format!("no interface {} here: {e}", cfg.ifname)))?;
    let fd = socket(AddressFamily::Packet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| io::Error::other(format!("AF_PACKET socket (needs CAP_NET_RAW): {e}")))?;
    bind(fd.as_raw_fd(), &link_addr(ifindex, 0, None))?;
    Ok((fd, link_addr(ifindex, eth_p_ip(), cfg.dst_mac)))
}

/// Floods `cfg.target` with forged SYNs on `cfg.ifname` (in the calling
/// thread's namespace) until `cfg.duration` has passed, `cfg.max_packets`
/// are sent, or `stop` is set; no faster than `cfg.max_rate` if given. Fails only if the socket cannot be opened
/// or every send fails.
pub fn flood(cfg: &FloodConfig, stop: Option<&AtomicBool>) -> io::Result<FloodReport> {
    let (fd, dst) = packet_socket(cfg)?;
    let batch = cfg.batch.clamp(1, 1024);
    let mut rng = Rng::seeded();
    let mut packets = vec![[0u8; SYN_LEN]; batch];
    let addrs = vec![Some(dst); batch];
    let mut headers = MultiHeaders::<LinkAddr>::preallocate(batch, None);
    let mut report = FloodReport::default();
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let mut last_error = None;
    while report.sent < cfg.max_packets
        && Instant::now() < deadline
        && !stop.is_some_and(|s| s.load(Ordering::Relaxed))
    {
        if let Some(rate) = cfg.max_rate.filter(|r| *r > 0.0) {
            let due = start + Duration::from_secs_f64(report.sent as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let n = batch.min((cfg.max_packets - report.sent) as usize);
        for p in &mut packets[..n] {
            let r = rng.next();
            let src = forged_source(&mut rng, cfg.sources);
            write_syn(p, src, cfg.target, r as u32, (r >> 32) as u32, (r >> 16) as u16);
        }
        let slices: Vec<[IoSlice<'_>; 1]> = packets[..n].iter().map(|p| [IoSlice::new(p)]).collect();
        match sendmmsg(fd.as_raw_fd(), &mut headers, &slices, &addrs[..n], [], MsgFlags::empty()) {
            Ok(results) => report.sent += results.count() as u64,
            Err(Errno::EINTR) => {}
            Err(e) => {
                report.errors += 1;
                last_error = Some(e);
            }
        }
    }
    report.elapsed = start.elapsed();
    if let (0, Some(e)) = (report.sent, last_error) {
        return Err(io::Error::other(format!("every sendmmsg on {} failed: {e}", cfg.ifname)));
    }
    Ok(report)
}

// ------------------------------------------------------------------ the legitimate client

/// When an attempt started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// While the flood ran.
    During,
    /// The moment the flood ended.
    After,
}

/// One legitimate connect, echo, close.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub phase: Phase,
    /// Since [`drive_clients`] began.
    pub started: Duration,
    /// `connect` to established, if it got that far.
    pub connect: Option<Duration>,
    /// Start to the last echoed byte checked: set only on success.
    pub total: Option<Duration>,
    /// Why it failed.
    pub error: Option<String>,
}

impl Attempt {
    pub fn ok(&self) -> bool {
        self.total.is_some()
    }

    /// Succeeded, and within `limit` of its start.
    pub fn ok_within(&self, limit: Duration) -> bool {
        self.total.is_some_and(|t| t <= limit)
    }
}

/// How [`drive_clients`] behaves.
#[derive(Debug, Clone, Copy)]
pub struct ClientPlan {
    pub server: SocketAddrV4,
    /// A new attempt starts this often while the flood runs.
    pub interval: Duration,
    /// An attempt not finished this long after its start has failed (a
    /// hang guard, not a target).
    pub guard: Duration,
    /// Bytes sent and echoed per attempt.
    pub payload: usize,
    /// At most this many attempts during the flood.
    pub max_attempts: usize,
    /// At most this many attempts in progress at once (each holds a
    /// descriptor); an attempt due beyond it is not started and counts as
    /// failed.
    pub max_in_flight: usize,
}

impl ClientPlan {
    /// An attempt every 10 ms, 1 KiB each, a 10 s guard (long enough for
    /// three SYN retransmissions at 1, 3 and 7 s), at most 100,000.
    pub fn new(server: SocketAddrV4) -> ClientPlan {
        ClientPlan {
            server,
            interval: Duration::from_millis(10),
            guard: Duration::from_secs(10),
            payload: 1024,
            max_attempts: 100_000,
            max_in_flight: 512,
        }
    }
}

enum Step {
    Connecting,
    Echoing { sent: usize, got: usize, stream: std::net::TcpStream },
}

/// An attempt in progress.
struct Live {
    id: u64,
    record: Attempt,
    begun: Instant,
    fd: Option<OwnedFd>,
    step: Step,
    data: Vec<u8>,
    back: Vec<u8>,
}

/// The bytes attempt `id` sends.
fn payload(id: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u64).wrapping_mul(31).wrapping_add(id.wrapping_mul(7)) as u8).collect()
}

impl Live {
    fn start(id: u64, phase: Phase, origin: Instant, plan: &ClientPlan) -> Live {
        let begun = Instant::now();
        let record = Attempt { phase, started: begun - origin, connect: None, total: None, error: None };
        let mut live = Live {
            id,
            record,
            begun,
            fd: None,
            step: Step::Connecting,
            data: payload(id, plan.payload),
            back: vec![0u8; plan.payload],
        };
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        match socket(AddressFamily::Inet, SockType::Stream, flags, None) {
            Err(e) => live.fail(format!("socket: {e}")),
            Ok(fd) => match connect(fd.as_raw_fd(), &SockaddrIn::from(plan.server)) {
                Ok(()) | Err(Errno::EINPROGRESS) => live.fd = Some(fd),
                Err(e) => live.fail(format!("connect: {e}")),
            },
        }
        live
    }

    fn done(&self) -> bool {
        self.record.total.is_some() || self.record.error.is_some()
    }

    fn fail(&mut self, why: String) {
        self.record.error = Some(why);
        self.fd = None;
        self.step = Step::Connecting;
    }

    fn interest(&self) -> PollFlags {
        match &self.step {
            Step::Connecting => PollFlags::POLLOUT,
            Step::Echoing { sent, .. } if *sent < self.data.len() => PollFlags::POLLOUT | PollFlags::POLLIN,
            Step::Echoing { .. } => PollFlags::POLLIN,
        }
    }

    /// Moves the attempt on after poll said `ev`.
    fn advance(&mut self) {
        if let Step::Connecting = self.step {
            let Some(fd) = self.fd.take() else { return };
            match getsockopt(&fd, sockopt::SocketError) {
                Ok(0) => {}
                Ok(e) => return self.fail(format!("connect: {}", Errno::from_raw(e))),
                Err(e) => return self.fail(format!("SO_ERROR: {e}")),
            }
            self.record.connect = Some(self.begun.elapsed());
            let stream = std::net::TcpStream::from(fd);
            self.step = Step::Echoing { sent: 0, got: 0, stream };
        }
        match self.echo() {
            Ok(false) => return,
            Ok(true) => {}
            Err(why) => return self.fail(why),
        }
        if self.back != self.data {
            let at = self.back.iter().zip(&self.data).position(|(a, b)| a != b).unwrap_or(0);
            return self.fail(format!("attempt {}: echoed byte {at} differs", self.id));
        }
        // Dropping the stream closes it (a FIN: everything was read).
        self.record.total = Some(self.begun.elapsed());
        self.step = Step::Connecting;
    }

    /// Writes what is left and reads what has come back, without blocking.
    /// `Ok(true)`: all of it is back.
    fn echo(&mut self) -> Result<bool, String> {
        let Step::Echoing { sent, got, stream } = &mut self.step else { return Ok(false) };
        while *sent < self.data.len() {
            match stream.write(&self.data[*sent..]) {
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write after {sent} bytes: {e}")),
            }
        }
        while *got < self.back.len() {
            match stream.read(&mut self.back[*got..]) {
                Ok(0) => return Err(format!("end of stream after {got} echoed bytes")),
                Ok(n) => *got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read after {got} echoed bytes: {e}")),
            }
        }
        Ok(true)
    }

    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        match &self.step {
            Step::Connecting => self.fd.as_ref().map(|f| f.as_fd()),
            Step::Echoing { stream, .. } => Some(stream.as_fd()),
        }
    }
}

/// Runs legitimate attempts against `plan.server` from the calling
/// thread's namespace: one every `plan.interval` while `flooding` is set
/// (at most `plan.max_attempts`), then one more as soon as it clears; and
/// waits for all of them (each ends within `plan.guard`). Attempts run
/// concurrently, driven by poll(2); the schedule does not wait for them.
pub fn drive_clients(plan: &ClientPlan, flooding: &AtomicBool) -> Vec<Attempt> {
    let origin = Instant::now();
    let mut live: Vec<Live> = Vec::new();
    let mut finished = Vec::new();
    let mut next_id = 0u64;
    let mut next_start = origin;
    let mut after_started = false;
    loop {
        let now = Instant::now();
        if !after_started {
            if flooding.load(Ordering::Acquire) {
                if now >= next_start && (next_id as usize) < plan.max_attempts {
                    if live.len() < plan.max_in_flight {
                        live.push(Live::start(next_id, Phase::During, origin, plan));
                    } else {
                        finished.push(Attempt {
                            phase: Phase::During,
                            started: now - origin,
                            connect: None,
                            total: None,
                            error: Some(format!("not started: {} attempts in flight", plan.max_in_flight)),
                        });
                    }
                    next_id += 1;
                    // On schedule; never in a burst to catch up after a stall.
                    next_start += plan.interval;
                    if next_start < now {
                        next_start = now + plan.interval;
                    }
                }
            } else {
                live.push(Live::start(next_id, Phase::After, origin, plan));
                next_id += 1;
                after_started = true;
            }
        }
        for l in &mut live {
            if !l.done() && l.begun.elapsed() >= plan.guard {
                let at = match l.step {
                    Step::Connecting => "connecting",
                    Step::Echoing { .. } => "echoing",
                };
                l.fail(format!("still {at} after the {:?} guard", plan.guard));
            }
        }
        let (done, rest): (Vec<Live>, Vec<Live>) = live.into_iter().partition(Live::done);
        finished.extend(done.into_iter().map(|l| l.record));
        live = rest;
        if after_started && live.is_empty() {
            break;
        }
        // Sleep until the next start is due, at most 5 ms (to notice the
        // flood's end and the guards promptly).
        let wait = next_start.saturating_duration_since(Instant::now()).min(Duration::from_millis(5));
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> =
                live.iter().filter_map(|l| Some(PollFd::new(l.fd()?, l.interest()))).collect();
            let timeout = PollTimeout::try_from(wait.as_millis().max(1) as i32).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => panic!("poll(2) on the legitimate clients: {e}"),
            }
            fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect()
        };
        for (l, ready) in live.iter_mut().filter(|l| l.fd().is_some()).zip(ready) {
            if ready {
                l.advance();
            }
        }
    }
    finished.sort_by_key(|a| a.started);
    finished
}

/// One attempt without a flood, repeated (for up to 5 s) while the server
/// is still starting; returns the last one. A harness check: it must
/// succeed before a flood means anything.
pub fn warm_up(plan: &ClientPlan) -> Attempt {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let a = drive_clients(plan, &AtomicBool::new(false)).pop().expect("one attempt");
        if a.ok() || Instant::now() >= deadline {
            return a;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Counts over the attempts of one phase.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub attempts: usize,
    pub ok: usize,
    pub ok_within_1s: usize,
    /// Connect times of the successful attempts, sorted.
    pub connect_times: Vec<Duration>,
    /// Up to three distinct failure reasons with their counts.
    pub failures: Vec<(String, usize)>,
}

impl Summary {
    pub fn of(attempts: &[Attempt], phase: Phase) -> Summary {
        let mut s = Summary::default();
        for a in attempts.iter().filter(|a| a.phase == phase) {
            s.attempts += 1;
            if a.ok() {
                s.ok += 1;
                s.ok_within_1s += usize::from(a.ok_within(Duration::from_secs(1)));
                s.connect_times.extend(a.connect);
            } else if let Some(e) = &a.error {
                match s.failures.iter_mut().find(|(w, _)| w == e) {
                    Some((_, n)) => *n += 1,
                    None => s.failures.push((e.clone(), 1)),
                }
            }
        }
        s.connect_times.sort();
        s.failures.sort_by_key(|f| std::cmp::Reverse(f.1));
        s.failures.truncate(3);
        s
    }

    /// Share of attempts that succeeded, in percent (0 without attempts).
    pub fn ok_percent(&self) -> f64 {
        100.0 * self.ok as f64 / self.attempts.max(1) as f64
    }

    pub fn within_1s_percent(&self) -> f64 {
        100.0 * self.ok_within_1s as f64 / self.attempts.max(1) as f64
    }

    /// The `q`-quantile (0-1) of the successful connect times.
    pub fn connect_quantile(&self, q: f64) -> Option<Duration> {
        let n = self.connect_times.len();
        (n > 0).then(|| self.connect_times[((n as f64 * q).ceil() as usize).clamp(1, n) - 1])
    }

    /// One line: counts, rates, connect p50/p99, the main failure reasons.
    pub fn describe(&self) -> String {
        let ms =
            |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.2} ms", d.as_secs_f64() * 1e3));
        format!(
            "{} attempts, {} succeeded ({:.1} %), {} within 1 s ({:.1} %); connect p50 {} p99 {}; failures: {:?}",
            self.attempts,
            self.ok,
            self.ok_percent(),
            self.ok_within_1s,
            self.within_1s_percent(),
            ms(self.connect_quantile(0.5)),
            ms(self.connect_quantile(0.99)),
            self.failures
        )
    }
}

/// A `kB` field (like `VmRSS`, `VmHWM`) of `/proc/<pid>/status`, in bytes.
pub fn status_bytes(pid: &str, field: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other(format!("no {field} in /proc/{pid}/status")))
}

/// Counters of device `dev` as the calling thread's namespace sees them
/// (`/proc/thread-self/net/dev`): packets the kernel sent into it and
/// dropped on the way (for a TUN device: packets the user-space side read,
/// and packets lost because its queue was full), and packets it received.
#[derive(Debug, Clone, Copy, Default)]
pub struct DevCounters {
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
}

pub fn dev_counters(dev: &str) -> io::Result<DevCounters> {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev")?;
    let line = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(dev)?.strip_prefix(':'))
        .ok_or_else(|| io::Error::other(format!("no device {dev} in /proc/net/dev")))?;
    // Receive: bytes packets errs drop fifo frame compressed multicast;
    // transmit: bytes packets errs drop ...
    let f: Vec<u64> = line.split_whitespace().map(|w| w.parse().unwrap_or(0)).collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    Ok(DevCounters { rx_packets: at(1), rx_dropped: at(3), tx_packets: at(9), tx_dropped: at(11) })
}
