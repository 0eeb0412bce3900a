//! A segment-level driver for one [`Stack`] (our side, 10.0.0.1) talking to
//! a scripted peer (10.0.0.2).
//!
//! Tests inject crafted segments at explicit virtual times with
//! [`Harness::send_at`] and assert the exact segments that come out with
//! [`Harness::expect`] / [`Harness::expect_nothing`]. Time only moves when
//! a test says so; timers fire at their own deadlines on the way
//! ([`Harness::advance_to`]), and every packet the stack emits is recorded
//! with the instant it left. Output is strict: a packet nobody looked at
//! makes the next injection panic, so no segment goes unasserted.
//!
//! Sequence numbers are written relative to the two ISSs: `h.l(n)` is our
//! ISS + n (read from our SYN or SYN-ACK, never hard-coded), `h.r(n)` the
//! peer's ISS + n.

#![allow(dead_code)] // not every test uses every helper

use core::net::{Ipv4Addr, SocketAddrV4};

pub use core::time::Duration;
pub use trust::Error;
pub use trust::stack::{Limits, SocketHandle, Stack, StackConfig, Stats};
pub use trust::tcp::isn::IsnKey;
pub use trust::tcp::{Keepalive, Readiness, Shutdown, State, TcpConfig};
pub use trust::time::Instant;
use trust::wire::ipv4;
pub use trust::wire::{TcpFlags, Timestamps};

mod seg;
mod stream;
pub use seg::*;
pub use stream::*;

/// One connection as the tests see it.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    pub sock: Option<SocketHandle>,
    pub our_port: u16,
    pub peer_port: u16,
    pub peer_ip: Ipv4Addr,
    /// Our ISS, once seen.
    pub iss: u32,
    /// The peer's ISS.
    pub irs: u32,
}

impl Conn {
    pub fn l(&self, n: u32) -> u32 {
        self.iss.wrapping_add(n)
    }
    pub fn r(&self, n: u32) -> u32 {
        self.irs.wrapping_add(n)
    }
    pub fn sock(&self) -> SocketHandle {
        self.sock.expect("no socket")
    }
}

/// Our stack, its clock, and what it emitted that no test has looked at.
pub struct Harness {
    pub stack: Stack,
    pub now: Instant,
    pending: Vec<(Instant, Vec<u8>)>,
    pub listener: Option<SocketHandle>,
    /// The connection that `seg()` defaults and `l`/`r` refer to.
    pub c: Conn,
    /// Our TSval minus the millisecond clock, once seen.
    pub ts_offset: Option<u32>,
}

impl Harness {
    /// A stack with `cfg` for every connection and nothing open yet. The
    /// default connection is peer:40000 → us:80.
    pub fn new(cfg: TcpConfig) -> Harness {
        let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
        sc.tcp = cfg;
        Harness::with_stack(sc)
    }

    /// A stack with `cfg` for every connection and `limits` for the stack.
    pub fn with_limits(cfg: TcpConfig, limits: Limits) -> Harness {
        let mut sc = StackConfig::with_key(OUR_IP, IsnKey::from_seed(1));
        sc.tcp = cfg;
        sc.limits = limits;
        Harness::with_stack(sc)
    }

    pub fn with_stack(sc: StackConfig) -> Harness {
        Harness {
            stack: Stack::new(sc),
            now: Instant::ZERO,
            pending: Vec::new(),
            listener: None,
            c: Conn {
                sock: None,
                our_port: LISTEN_PORT,
                peer_port: PEER_PORT,
                peer_ip: PEER_IP,
                iss: 0,
                irs: PEER_ISS,
            },
            ts_offset: None,
        }
    }

    pub fn l(&self, n: u32) -> u32 {
        self.c.l(n)
    }
    pub fn r(&self, n: u32) -> u32 {
        self.c.r(n)
    }
    pub fn sock(&self) -> SocketHandle {
        self.c.sock()
    }
    /// Our TSval at `t` (needs a segment with timestamps seen first).
    pub fn our_ts(&self, t: impl At) -> u32 {
        (t.at().as_millis() as u32).wrapping_add(self.ts_offset.expect("no TSval seen yet"))
    }

    /// Listens on port 80 with a backlog of 16.
    pub fn listen(&mut self) -> SocketHandle {
        self.listen_backlog(16)
    }

    pub fn listen_backlog(&mut self, backlog: usize) -> SocketHandle {
        let l = self.stack.listen(LISTEN_PORT, backlog).expect("listen");
        self.listener = Some(l);
        l
    }

    // ---- time and I/O ------------------------------------------------

    /// Moves the clock to `t`, firing every timer due on the way at its own
    /// deadline and recording what it emits.
    pub fn advance_to(&mut self, t: impl At) {
        let t = t.at();
        assert!(t >= self.now, "time goes backwards: {:?} < {:?}", t, self.now);
        for _ in 0..1_000_000 {
            match self.stack.poll_timeout() {
                Some(d) if d <= t => {
                    let at = d.max(self.now);
                    self.now = at;
                    self.stack.handle_timeout(at);
                    self.drain();
                }
                _ => {
                    self.now = t;
                    return;
                }
            }
        }
        panic!("timers keep firing before {t:?}");
    }

    /// Collects everything the stack wants to send now.
    pub fn drain(&mut self) {
        let mut buf = vec![0u8; 70_000];
        for _ in 0..100_000 {
            match self.stack.poll_transmit(self.now, &mut buf) {
                Some(tx) => self.pending.push((self.now, buf[..tx.len].to_vec())),
                None => return,
            }
        }
        panic!("poll_transmit never returns None");
    }

    fn assert_no_pending(&self, what: &str) {
        if !self.pending.is_empty() {
            let segs: Vec<String> =
                self.pending.iter().map(|(t, p)| format!("  at {t:?}: {}", self.describe(p))).collect();
            panic!("unexpected output before {what} at {:?}:\n{}", self.now, segs.join("\n"));
        }
    }

    fn describe(&self, p: &[u8]) -> String {
        match ipv4::parse(p) {
            Ok(ip) if ip.repr.protocol == ipv4::PROTO_TCP => {
                let (_, _, s) = parse_tcp(p);
                let rel = |x: u32, base: u32| x.wrapping_sub(base) as i32;
                format!("{s:?} (seq=L{:+} ack=R{:+})", rel(s.seq, self.c.iss), rel(s.ack, self.c.irs))
            }
            Ok(ip) => format!("IPv4 proto {} to {}", ip.repr.protocol, ip.repr.dst),
            Err(e) => format!("unparsable: {e:?}"),
        }
    }

    /// Fills the connection's ports and address into a segment the peer
    /// sends.
    pub fn inbound(&self, mut s: Seg) -> Seg {
        s.src_port.get_or_insert(self.c.peer_port);
        s.dst_port.get_or_insert(self.c.our_port);
        s.peer_ip.get_or_insert(self.c.peer_ip);
        s
    }

    /// Fills the connection's ports and address into a segment we are
    /// expected to send.
    pub fn outbound(&self, mut s: Seg) -> Seg {
        s.src_port.get_or_insert(self.c.our_port);
        s.dst_port.get_or_insert(self.c.peer_port);
        s.peer_ip.get_or_insert(self.c.peer_ip);
        s
    }

    /// The peer sends `s` at `t` (after the timers due by then have run).
    /// Panics if earlier output was never looked at.
    pub fn send_at(&mut self, t: impl At, s: Seg) {
        self.advance_to(t);
        self.assert_no_pending("send_at");
        let s = self.inbound(s);
        let to = s.to_ip.unwrap_or(OUR_IP);
        let p = tcp_packet(s.peer_ip.unwrap_or(PEER_IP), to, &s);
        self.stack.handle_packet(self.now, &p);
        self.drain();
    }

    /// The peer sends all of `segs` at `t`, back to back: what they make
    /// the stack send is collected once, after the last.
    pub fn send_burst(&mut self, t: impl At, segs: impl IntoIterator<Item = Seg>) {
        self.advance_to(t);
        self.assert_no_pending("send_burst");
        for s in segs {
            let s = self.inbound(s);
            let p = tcp_packet(s.peer_ip.unwrap_or(PEER_IP), s.to_ip.unwrap_or(OUR_IP), &s);
            self.stack.handle_packet(self.now, &p);
        }
        self.drain();
    }

    /// Hands the stack raw packet bytes at `t`.
    pub fn send_raw(&mut self, t: impl At, p: &[u8]) {
        self.advance_to(t);
        self.assert_no_pending("send_raw");
        self.stack.handle_packet(self.now, p);
        self.drain();
    }

    /// Everything emitted up to `t`, with emission times, as raw packets.
    pub fn recv_raw(&mut self, t: impl At) -> Vec<(Instant, Vec<u8>)> {
        self.advance_to(t);
        core::mem::take(&mut self.pending)
    }

    /// Every TCP segment emitted up to `t`, with emission times.
    pub fn recv_timed(&mut self, t: impl At) -> Vec<(Instant, Seg)> {
        self.recv_raw(t)
            .into_iter()
            .map(|(at, p)| {
                let (src, _, s) = parse_tcp(&p);
                assert_eq!(src, OUR_IP, "source address of {s:?}");
                (at, s)
            })
            .collect()
    }

    /// Every TCP segment emitted up to `t`.
    pub fn recv_all(&mut self, t: impl At) -> Vec<Seg> {
        self.recv_timed(t).into_iter().map(|(_, s)| s).collect()
    }

    /// Asserts that exactly `want` was emitted, all of it at `t`.
    pub fn expect(&mut self, t: impl At, want: &[Seg]) {
        let t = t.at();
        let got = self.recv_timed(t);
        let want: Vec<Seg> = want.iter().cloned().map(|s| self.outbound(s)).collect();
        let ok = got.len() == want.len() && got.iter().zip(&want).all(|((at, g), w)| *at == t && g == w);
        if !ok {
            let fmt_got: Vec<String> =
                got.iter().map(|(at, s)| format!("  at {at:?}: {}", self.rel(s))).collect();
            let fmt_want: Vec<String> = want.iter().map(|s| format!("  at {t:?}: {}", self.rel(s))).collect();
            panic!("segments differ\nexpected:\n{}\ngot:\n{}", fmt_want.join("\n"), fmt_got.join("\n"));
        }
    }

    /// Asserts that exactly one segment, `want`, was emitted, at `t`.
    pub fn expect1(&mut self, t: impl At, want: Seg) {
        self.expect(t, &[want]);
    }

    /// Asserts that nothing was emitted up to and including `t`.
    pub fn expect_nothing(&mut self, t: impl At) {
        let got = self.recv_raw(t);
        if !got.is_empty() {
            let segs: Vec<String> =
                got.iter().map(|(at, p)| format!("  at {at:?}: {}", self.describe(p))).collect();
            panic!("expected nothing up to {:?}, got:\n{}", self.now, segs.join("\n"));
        }
    }

    fn rel(&self, s: &Seg) -> String {
        let rel = |x: u32, base: u32| x.wrapping_sub(base) as i32;
        format!("{s:?} (seq=L{:+} ack=R{:+})", rel(s.seq, self.c.iss), rel(s.ack, self.c.irs))
    }

    // ---- the application side ----------------------------------------

    /// Runs an operation on the stack at `t`, then collects its output.
    pub fn app<R>(&mut self, t: impl At, f: impl FnOnce(&mut Stack, SocketHandle) -> R) -> R {
        self.advance_to(t);
        let sock = self.sock();
        let r = f(&mut self.stack, sock);
        self.drain();
        r
    }

    /// The application writes `data` at `t`; returns how much was taken.
    pub fn write(&mut self, t: impl At, data: &[u8]) -> usize {
        self.app(t, |s, h| s.send(h, data)).expect("send")
    }

    /// The application reads everything readable at `t`.
    pub fn read(&mut self, t: impl At) -> Vec<u8> {
        self.read_max(t, usize::MAX)
    }

    /// The application reads at most `max` bytes at `t`.
    pub fn read_max(&mut self, t: impl At, max: usize) -> Vec<u8> {
        self.app(t, |s, h| {
            let mut out = Vec::new();
            let mut buf = vec![0u8; 65536];
            while out.len() < max {
                let want = (max - out.len()).min(buf.len());
                match s.recv(h, &mut buf[..want]) {
                    Ok(0) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
            out
        })
    }

    /// What `recv` returns at `t` (one call, 64 KiB buffer).
    pub fn recv_result(&mut self, t: impl At) -> Result<usize, Error> {
        self.app(t, |s, h| s.recv(h, &mut [0u8; 65536]))
    }

    pub fn shutdown(&mut self, t: impl At, how: Shutdown) {
        self.app(t, |s, h| s.shutdown(h, how)).expect("shutdown");
    }

    /// `close` at `t`; the handle is gone afterwards.
    pub fn close(&mut self, t: impl At) {
        let now = t.at();
        self.app(now, |s, h| s.close(now, h)).expect("close");
    }

    pub fn abort(&mut self, t: impl At) {
        let now = t.at();
        self.app(now, |s, h| s.abort(now, h)).expect("abort");
    }

    pub fn state(&self) -> State {
        self.stack.state(self.sock()).expect("state")
    }

    pub fn readiness(&self) -> Readiness {
        self.stack.readiness(self.sock()).expect("readiness")
    }

    /// (cwnd, ssthresh) of the default connection.
    pub fn cwnd(&self) -> (u32, u32) {
        self.stack.connection(self.sock()).expect("connection").congestion_window()
    }

    // ---- handshakes ----------------------------------------------------

    /// Learns our ISS (and TSval offset) from our SYN or SYN-ACK.
    pub fn learn_syn(&mut self, s: &Seg, at: Instant) {
        assert!(s.has(TcpFlags::SYN), "not a SYN: {s:?}");
        self.c.iss = s.seq;
        if let Some(ts) = s.options.timestamps {
            self.ts_offset = Some(ts.tsval.wrapping_sub(at.as_millis() as u32));
        }
    }

    /// Asserts that exactly one segment, a SYN or SYN-ACK equal to `want`
    /// apart from its sequence number (our ISS, learned here) and its TSval
    /// (checked by the caller against [`Harness::our_ts`]), left at `t`.
    pub fn expect_syn(&mut self, t: impl At, want: Seg) -> Seg {
        let t = t.at();
        let got = self.recv_timed(t);
        assert_eq!(got.len(), 1, "one SYN expected at {t:?}, got {got:?}");
        let (at, s) = got.into_iter().next().unwrap();
        assert_eq!(at, t, "SYN left at {at:?}, expected at {t:?}: {s:?}");
        self.learn_syn(&s, at);
        let mut want = self.outbound(want.seq(self.l(0)));
        if let (Some(w), Some(g)) = (want.options.timestamps.as_mut(), s.options.timestamps) {
            w.tsval = g.tsval;
        }
        assert_eq!(s, want, "SYN differs");
        s
    }

    /// The peer's SYN (seq = PEER_ISS) with `opts`, to port 80.
    pub fn peer_syn(&self, opts: PeerOpts) -> Seg {
        opts.apply(seg().syn().seq(self.r(0)))
    }

    /// Passive open at t = 0 with `opts` on the peer's SYN; the peer's ACK
    /// comes at t = 100 ms (so SRTT = 100 ms, RTO = 300 ms). Returns with
    /// the connection accepted and nothing pending.
    pub fn passive(cfg: TcpConfig, opts: PeerOpts) -> Harness {
        let mut h = Harness::new(cfg);
        h.listen();
        h.open_passive(0, 100, opts);
        h
    }

    /// A passive connection with a 4096-byte receive buffer that the peer
    /// fills by t = 242 ms: two full segments (ACKed at once, RFC 5681
    /// §4.2, offering 1176), then 1176 bytes (the delayed ACK offers 0).
    /// The application has read nothing.
    pub fn full_4096_window() -> Harness {
        let mut h = Harness::passive(with(simple(), |c| c.recv_buffer = 4096), PeerOpts::plain());
        for (i, t) in [(0, 200), (1, 201)] {
            h.send_at(t, seg().seq(h.r(1 + 1460 * i)).ack(h.l(1)).data(1460 * i as usize, 1460));
        }
        h.expect1(201, seg().seq(h.l(1)).ack(h.r(2921)).win(1176));
        h.send_at(202, seg().seq(h.r(2921)).ack(h.l(1)).data(2920, 1176));
        h.expect1(242, seg().seq(h.l(1)).ack(h.r(4097)).win(0));
        h
    }

    /// The peer opens a connection from `self.c`'s port: SYN at `t_syn`,
    /// ACK at `t_ack`; accepts it into `self.c.sock`.
    pub fn open_passive(&mut self, t_syn: impl At, t_ack: impl At, opts: PeerOpts) {
        let t_syn = t_syn.at();
        self.send_at(t_syn, self.peer_syn(opts));
        let got = self.recv_timed(t_syn);
        assert_eq!(got.len(), 1, "one SYN-ACK expected: {got:?}");
        let sa = got[0].1.clone();
        assert_eq!(sa.flags, TcpFlags::SYN | TcpFlags::ACK, "{sa:?}");
        assert_eq!(sa.ack, self.r(1));
        self.learn_syn(&sa, t_syn);
        let mut ack = seg().seq(self.r(1)).ack(self.l(1)).win(opts.win.unwrap_or(PEER_WIN));
        if let Some(ts) = opts.ts {
            let ecr = sa.options.timestamps.map_or(0, |t| t.tsval);
            ack = ack.ts(ts + 1, ecr);
        }
        self.send_at(t_ack, ack);
        self.assert_no_pending("accept");
        let l = self.listener.expect("listening");
        self.c.sock = Some(self.stack.accept(l).expect("accept"));
    }

    /// Active open at t = 0 from port 50000 to the peer's port 80; the
    /// peer's SYN-ACK (with `opts`) comes at t = 100 ms. Returns with the
    /// connection established and our ACK consumed.
    pub fn active(cfg: TcpConfig, opts: PeerOpts) -> Harness {
        let mut h = Harness::new(cfg);
        h.connect(0);
        let syn = h.recv_all(0);
        assert_eq!(syn.len(), 1, "{syn:?}");
        let syn = syn[0].clone();
        h.learn_syn(&syn, Instant::ZERO);
        let tsecr = syn.options.timestamps.map_or(0, |t| t.tsval);
        let mut sa = opts.apply(seg().syn().seq(h.r(0)).ack(h.l(1)));
        if let Some(t) = sa.options.timestamps.as_mut() {
            t.tsecr = tsecr;
        }
        h.send_at(100, sa);
        let ack = h.recv_all(100);
        assert_eq!(ack.len(), 1, "{ack:?}");
        assert_eq!(ack[0].flags, TcpFlags::ACK);
        assert_eq!(h.state(), State::Established);
        h
    }

    /// `connect_with(peer:80, from port 50000)` at `t`; sets up `self.c` for it.
    pub fn connect(&mut self, t: impl At) -> SocketHandle {
        let now = t.at();
        self.advance_to(now);
        let h = self
            .stack
            .connect_with(now, SocketAddrV4::new(PEER_IP, LISTEN_PORT), ACTIVE_PORT, None)
            .expect("connect");
        self.c.sock = Some(h);
        self.c.our_port = ACTIVE_PORT;
        self.c.peer_port = LISTEN_PORT;
        self.drain();
        h
    }

    pub fn stats(&self) -> Stats {
        self.stack.stats().clone()
    }

    /// Drains and returns readiness events.
    pub fn events(&mut self) -> Vec<(SocketHandle, Readiness)> {
        core::iter::from_fn(|| self.stack.poll_event()).collect()
    }
}
