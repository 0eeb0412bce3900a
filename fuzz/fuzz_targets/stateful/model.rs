//! What the applications hold and what they sent and read, and the
//! invariants checked after every step.

use core::net::SocketAddrV4;
use std::collections::{HashMap, HashSet};

use trust::Error;
use trust::stack::{SocketHandle, Stack};
use trust::tcp::{Connection, FourTuple, Readiness, State};

use super::forge::{byte_at, key, pattern, v4};

/// A socket the application opened, listening or connected.
#[derive(Debug)]
pub struct Sock {
    pub handle: SocketHandle,
    /// The application still holds it; once false the handle is stale and
    /// every call on it must fail with `InvalidHandle`.
    pub live: bool,
    /// `None` for a listener.
    pub stream: Option<Stream>,
}

/// Both directions of one connection as its application sees them.
#[derive(Debug)]
pub struct Stream {
    pub tuple: FourTuple,
    /// Our ISS: byte `i` written sits at ISS + 1 + i.
    pub iss: u32,
    pub written: u64,
    pub read: u64,
    /// The IRS when data was first read (it must never change).
    pub irs: Option<u32>,
    /// `recv` reported the end of the stream, or reading was shut down:
    /// no byte may be read any more.
    pub eof: bool,
    /// Reading was shut down: what arrives is discarded.
    pub shut_read: bool,
}

/// Most bytes an application writes to one connection.
const MAX_STREAM: usize = 256 * 1024;

/// Most sockets a host's model remembers (the oldest stale ones go).
const MAX_REMEMBERED: usize = 48;

#[derive(Debug, Default)]
pub struct Apps {
    pub socks: [Vec<Sock>; 2],
    /// Connections (4-tuples, either way round) whose segments may not all
    /// come from their peer: a forged segment was aimed at them, or an
    /// earlier incarnation's may still arrive.
    pub tainted: HashSet<(SocketAddrV4, SocketAddrV4)>,
    /// The 4-tuples each host's applications have had connections on.
    seen: [HashSet<(SocketAddrV4, SocketAddrV4)>; 2],
    /// The readiness last reported by `poll_event` for each handle.
    pub reported: [HashMap<SocketHandle, Readiness>; 2],
}

impl Apps {
    pub fn add(&mut self, host: usize, handle: SocketHandle, stack: &Stack) {
        let stream = stack.connection(handle).ok().map(|c| Stream {
            tuple: c.tuple(),
            iss: c.iss().get(),
            written: 0,
            read: 0,
            irs: None,
            eof: false,
            shut_read: false,
        });
        if let Some(s) = &stream {
            let pair = ends(&s.tuple);
            if !self.seen[host].insert(pair) {
                self.tainted.insert(pair);
            }
        }
        let socks = &mut self.socks[host];
        if socks.len() >= MAX_REMEMBERED
            && let Some(i) = socks.iter().position(|s| !s.live)
        {
            socks.remove(i);
        }
        socks.push(Sock { handle, live: true, stream });
    }

    pub fn pick(&mut self, host: usize, index: u8) -> Option<&mut Sock> {
        let socks = &mut self.socks[host];
        let n = socks.len();
        socks.get_mut(usize::from(index) % n.max(1))
    }

    pub fn holds(&self, host: usize, h: SocketHandle) -> bool {
        self.socks[host].iter().any(|s| s.live && s.handle == h)
    }

    pub fn is_tainted(&self, t: &FourTuple) -> bool {
        self.tainted.contains(&ends(t))
    }

    pub fn note_forged(&mut self, a: SocketAddrV4, b: SocketAddrV4) {
        self.tainted.insert((a.min(b), a.max(b)));
    }

    /// For two connections that only ever exchanged each other's segments
    /// (not tainted), on a network that has settled with the
    /// applications reading: what one side has seen acknowledged, the
    /// other has delivered, byte for byte (nothing acknowledged is lost),
    /// and two open, idle ends agree on both sequence spaces.
    pub fn check_pairs(&self, hosts: &[Stack; 2]) {
        for (h, stack) in hosts.iter().enumerate() {
            for x in self.socks[h].iter().filter(|s| s.live) {
                let Some(xs) = x.stream.as_ref() else { continue };
                if self.is_tainted(&xs.tuple) {
                    continue;
                }
                let peer = &hosts[1 - h];
                let Some((y, ys)) = self.socks[1 - h].iter().filter(|s| s.live).find_map(|y| {
                    let ys = y.stream.as_ref()?;
                    let same = ys.tuple.local == xs.tuple.remote && ys.tuple.remote == xs.tuple.local;
                    let irs = peer.connection(y.handle).ok()?.irs().get();
                    (same && irs == xs.iss).then_some((y, ys))
                }) else {
                    continue;
                };
                let (Ok(xc), Ok(yc)) = (stack.connection(x.handle), peer.connection(y.handle)) else {
                    continue;
                };
                let describe = || format!("\n  {}\n  {}", xc.describe(), yc.describe());
                assert!(
                    ys.read <= xs.written,
                    "{} bytes read of {} written:{}",
                    ys.read,
                    xs.written,
                    describe()
                );
                let open = matches!(xc.state(), State::Established | State::CloseWait | State::FinWait2);
                if open && xc.all_acknowledged() && !ys.shut_read {
                    assert_eq!(ys.read, xs.written, "acknowledged bytes were never read:{}", describe());
                }
                let idle = |c: &Connection| c.state() == State::Established && c.all_acknowledged();
                if idle(xc) && idle(yc) {
                    assert_eq!(xc.snd_nxt(), yc.rcv_nxt(), "sequence spaces differ:{}", describe());
                }
            }
        }
    }
}

/// A connection's two ends, in a fixed order.
fn ends(t: &FourTuple) -> (SocketAddrV4, SocketAddrV4) {
    let (a, b) = (v4(t.local), v4(t.remote));
    (a.min(b), a.max(b))
}

/// Stale handles must be refused, never reach another socket.
pub fn expect_stale<T: core::fmt::Debug>(sock: &Sock, r: Result<T, Error>) {
    if !sock.live {
        assert!(matches!(r, Err(Error::InvalidHandle)), "a stale handle {:?} gave {r:?}", sock.handle);
    }
}

/// The application writes up to `len` bytes of its stream.
pub fn send(stack: &mut Stack, sock: &mut Sock, len: usize) {
    let Some(s) = sock.stream.as_mut() else {
        let r = stack.send(sock.handle, &[0; 8]);
        expect_stale(sock, r);
        return;
    };
    // A stream carries at most MAX_STREAM bytes: through a 1-byte window
    // every byte takes a round trip.
    let len = len.min(MAX_STREAM.saturating_sub(s.written as usize));
    let at = s.iss.wrapping_add(1).wrapping_add(s.written as u32);
    let data = pattern(key(v4(s.tuple.local), v4(s.tuple.remote)), at, len);
    let ready = stack.readiness(sock.handle);
    let r = stack.send(sock.handle, &data);
    // Level-triggered readiness: WRITABLE promises a send that does not block.
    if let Ok(ready) = ready
        && len > 0
    {
        let blocked = r == Err(Error::WouldBlock);
        assert!(!(ready.contains(Readiness::WRITABLE) && blocked), "WRITABLE, yet send would block");
    }
    if let Ok(n) = r {
        assert!(n <= len, "send took {n} of {len} bytes");
        s.written += n as u64;
    }
    expect_stale(sock, r);
}

/// The application reads up to `len` bytes and checks them against the
/// peer's stream: each byte must be the one sent at its sequence number.
pub fn recv(stack: &mut Stack, sock: &mut Sock, len: usize) -> Result<usize, Error> {
    let mut buf = vec![0u8; len];
    let ready = stack.readiness(sock.handle);
    let r = stack.recv(sock.handle, &mut buf);
    expect_stale(sock, r);
    // READABLE exactly when recv (or accept) does not block.
    if let Ok(ready) = ready
        && len > 0
        && sock.stream.is_some()
    {
        let blocked = r == Err(Error::WouldBlock);
        assert_eq!(ready.contains(Readiness::READABLE), !blocked, "readiness {ready:?}, recv gave {r:?}");
    }
    let Some(s) = sock.stream.as_mut() else { return r };
    match r {
        Ok(0) if len > 0 => s.eof = true,
        Ok(n) if n > 0 => {
            assert!(n <= len, "recv returned {n} into {len} bytes");
            assert!(!s.eof, "{n} bytes read after the end of the stream on {:?}", s.tuple);
            let irs = stack.connection(sock.handle).expect("a held connection").irs().get();
            assert_eq!(*s.irs.get_or_insert(irs), irs, "IRS changed under {:?}", s.tuple);
            let k = key(v4(s.tuple.remote), v4(s.tuple.local));
            let base = irs.wrapping_add(1).wrapping_add(s.read as u32);
            for (i, &b) in buf[..n].iter().enumerate() {
                let seq = base.wrapping_add(i as u32);
                assert_eq!(
                    b,
                    byte_at(k, seq),
                    "byte {} of the stream {:?} (seq {seq}) is not the byte sent there",
                    s.read + i as u64,
                    s.tuple
                );
            }
            s.read += n as u64;
        }
        _ => {}
    }
    r
}

/// Bounds a host's resources must stay within, whatever arrives.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_sockets: usize,
    /// Most buffer bytes any one connection may hold.
    pub per_connection: usize,
    /// Whether to check the timer heap's bound (see `KNOWN`).
    pub timer_heap: bool,
}

/// The invariants of one host after any step.
pub fn check(stack: &mut Stack, host: usize, bounds: Bounds, apps: &mut Apps) {
    let sockets = stack.socket_count();
    assert!(sockets <= bounds.max_sockets, "host {host}: {sockets} sockets > {}", bounds.max_sockets);
    let memory = stack.buffer_memory();
    let mut capacity = 0;
    for c in stack.connections() {
        let (snd, rcv) = c.buffer_capacity();
        // A window rounded up to whole scaling units may offer (and take)
        // one unit more than the buffer holds (RFC 7323 §2.4).
        let unit = c.window_scales().map_or(0, |(_, r)| 1usize << r);
        capacity += snd + rcv + unit;
        assert!(
            c.snd_una().before_or_eq(c.snd_nxt()),
            "host {host}: SND.UNA beyond SND.NXT: {}",
            c.describe()
        );
        assert!(
            c.rcv_wnd() as usize <= rcv + unit,
            "host {host}: a window of {} offered with a {rcv}-byte buffer: {}",
            c.rcv_wnd(),
            c.describe()
        );
    }
    assert!(memory <= capacity, "host {host}: {memory} buffer bytes > capacities {capacity}");
    let global = bounds.max_sockets.saturating_mul(bounds.per_connection);
    assert!(memory <= global, "host {host}: {memory} buffer bytes > {global}");
    if bounds.timer_heap {
        let entries = stack.timer_entries();
        assert!(
            entries <= 2 * sockets + 64,
            "host {host}: {entries} timer heap entries for {sockets} sockets"
        );
    }
    for s in apps.socks[host].iter().filter(|s| s.live) {
        assert!(stack.state(s.handle).is_ok(), "host {host}: held handle {:?} went stale", s.handle);
    }
    while let Some((h, readiness)) = stack.poll_event() {
        assert!(apps.holds(host, h), "host {host}: event for {h:?}, which the application does not hold");
        assert_eq!(stack.readiness(h), Ok(readiness), "host {host}: event and readiness differ");
        apps.reported[host].insert(h, readiness);
    }
    // Every change was reported: an application that waits for events
    // never misses one.
    for s in apps.socks[host].iter().filter(|s| s.live) {
        let reported = apps.reported[host].get(&s.handle).copied().unwrap_or_default();
        let now = stack.readiness(s.handle).expect("a held handle");
        assert_eq!(now, reported, "host {host}: readiness of {:?} changed without an event", s.handle);
    }
}
