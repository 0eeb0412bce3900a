//! Segments: the builder tests use, and building and parsing packets.

use core::fmt;
use core::net::Ipv4Addr;

use trust::tcp::TcpConfig;
use trust::time::Instant;
use trust::wire::checksum;
use trust::wire::ipv4::{self, Ipv4Repr};
use trust::wire::{RxChecksum, SackBlocks, TcpFlags, TcpOptions, Timestamps, TxChecksum, tcp};

pub const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Our listening port (passive opens).
pub const LISTEN_PORT: u16 = 80;
/// The peer's port when we listen.
pub const PEER_PORT: u16 = 40000;
/// Our port for active opens (`connect_with`).
pub const ACTIVE_PORT: u16 = 50000;
/// The peer's initial sequence number.
pub const PEER_ISS: u32 = 1_000_000;
/// The default window field the peer advertises.
pub const PEER_WIN: u16 = 65535;

/// Anything that names an instant: a plain integer is milliseconds.
pub trait At {
    fn at(self) -> Instant;
}

impl At for Instant {
    fn at(self) -> Instant {
        self
    }
}

impl At for u64 {
    fn at(self) -> Instant {
        Instant::from_millis(self)
    }
}

impl At for u32 {
    fn at(self) -> Instant {
        Instant::from_millis(u64::from(self))
    }
}

impl At for i32 {
    fn at(self) -> Instant {
        Instant::from_millis(u64::try_from(self).expect("negative time"))
    }
}

pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub fn us(n: u64) -> Instant {
    Instant::from_micros(n)
}

/// `len` bytes of a recognisable stream starting at stream offset `from`.
pub fn pattern(from: usize, len: usize) -> Vec<u8> {
    (from..from + len).map(|i| (i % 251) as u8).collect()
}

/// `value` changed by `f`: a test's variant of a configuration, since the
/// library's configs are `#[non_exhaustive]` (no struct literals outside
/// the crate): `with(simple(), |c| c.sack = true)`.
pub fn with<T>(mut value: T, f: impl FnOnce(&mut T)) -> T {
    f(&mut value);
    value
}

/// The config most tests use: no timestamps, window scaling or SACK, so
/// every segment is plain and our window field is a constant 65535.
pub fn simple() -> TcpConfig {
    with(TcpConfig::default(), |c| {
        c.timestamps = false;
        c.window_scaling = false;
        c.sack = false
    })
}

/// One TCP segment, either crafted for the peer to send or parsed from (or
/// expected of) our side. Ports and the peer address left `None` are
/// filled in from the harness's connection.
#[derive(Clone, PartialEq, Eq)]
pub struct Seg {
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// The peer's address: the source of a crafted segment, the
    /// destination of ours.
    pub peer_ip: Option<Ipv4Addr>,
    /// The address the peer's segment is sent to (default: ours).
    pub to_ip: Option<Ipv4Addr>,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    /// Raw option bytes to send instead of `options` (crafted only).
    pub raw_options: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// A fresh segment: no flags, window 65535, no options, no payload.
pub fn seg() -> Seg {
    Seg {
        src_port: None,
        dst_port: None,
        peer_ip: None,
        to_ip: None,
        seq: 0,
        ack: 0,
        flags: TcpFlags::empty(),
        window: PEER_WIN,
        options: TcpOptions::default(),
        raw_options: None,
        payload: Vec::new(),
    }
}

impl Seg {
    pub fn seq(mut self, seq: u32) -> Seg {
        self.seq = seq;
        self
    }
    /// Sets the ACK flag and the acknowledgment number.
    pub fn ack(mut self, ack: u32) -> Seg {
        self.flags |= TcpFlags::ACK;
        self.ack = ack;
        self
    }
    /// An acknowledgment field without the ACK flag (for RST in reply to a
    /// segment without ACK, the ACK flag is set separately).
    pub fn ack_field(mut self, ack: u32) -> Seg {
        self.ack = ack;
        self
    }
    pub fn syn(mut self) -> Seg {
        self.flags |= TcpFlags::SYN;
        self
    }
    pub fn fin(mut self) -> Seg {
        self.flags |= TcpFlags::FIN;
        self
    }
    pub fn rst(mut self) -> Seg {
        self.flags |= TcpFlags::RST;
        self
    }
    pub fn psh(mut self) -> Seg {
        self.flags |= TcpFlags::PSH;
        self
    }
    pub fn flags(mut self, flags: TcpFlags) -> Seg {
        self.flags = flags;
        self
    }
    pub fn win(mut self, window: u16) -> Seg {
        self.window = window;
        self
    }
    pub fn mss(mut self, mss: u16) -> Seg {
        self.options.mss = Some(mss);
        self
    }
    pub fn ws(mut self, shift: u8) -> Seg {
        self.options.window_scale = Some(shift);
        self
    }
    pub fn sack_perm(mut self) -> Seg {
        self.options.sack_permitted = true;
        self
    }
    pub fn ts(mut self, tsval: u32, tsecr: u32) -> Seg {
        self.options.timestamps = Some(Timestamps { tsval, tsecr });
        self
    }
    pub fn sack(mut self, blocks: &[(u32, u32)]) -> Seg {
        let mut s = SackBlocks::default();
        for &(l, r) in blocks {
            assert!(s.push(l, r), "too many SACK blocks");
        }
        self.options.sack = s;
        self
    }
    pub fn raw_options(mut self, bytes: &[u8]) -> Seg {
        assert!(bytes.len().is_multiple_of(4) && bytes.len() <= 40);
        self.raw_options = Some(bytes.to_vec());
        self
    }
    pub fn payload(mut self, data: &[u8]) -> Seg {
        self.payload = data.to_vec();
        self
    }
    /// `len` bytes of [`pattern`] at stream offset `from`.
    pub fn data(self, from: usize, len: usize) -> Seg {
        self.payload(&pattern(from, len))
    }
    pub fn ports(mut self, src: u16, dst: u16) -> Seg {
        self.src_port = Some(src);
        self.dst_port = Some(dst);
        self
    }
    pub fn src_addr(mut self, ip: Ipv4Addr) -> Seg {
        self.peer_ip = Some(ip);
        self
    }
    pub fn dst_addr(mut self, ip: Ipv4Addr) -> Seg {
        self.to_ip = Some(ip);
        self
    }
    /// SEG.LEN: payload plus SYN and FIN.
    pub fn len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.flags.contains(TcpFlags::SYN))
            + u32::from(self.flags.contains(TcpFlags::FIN))
    }
    pub fn has(&self, f: TcpFlags) -> bool {
        self.flags.contains(f)
    }
}

fn flag_names(f: TcpFlags) -> String {
    let names = [
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
    ];
    let v: Vec<&str> = names.iter().filter(|(b, _)| f.contains(*b)).map(|(_, n)| *n).collect();
    if v.is_empty() { "-".into() } else { v.join("|") }
}

impl fmt::Debug for Seg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}", flag_names(self.flags))?;
        if let (Some(s), Some(d)) = (self.src_port, self.dst_port) {
            write!(f, " {s}->{d}")?;
        }
        write!(f, " seq={} ack={} win={}", self.seq, self.ack, self.window)?;
        let o = &self.options;
        if let Some(m) = o.mss {
            write!(f, " mss={m}")?;
        }
        if let Some(w) = o.window_scale {
            write!(f, " ws={w}")?;
        }
        if o.sack_permitted {
            write!(f, " sackOK")?;
        }
        if let Some(t) = o.timestamps {
            write!(f, " ts={}/{}", t.tsval, t.tsecr)?;
        }
        if !o.sack.is_empty() {
            write!(f, " sack={:?}", o.sack)?;
        }
        if let Some(r) = &self.raw_options {
            write!(f, " rawopts={r:?}")?;
        }
        if !self.payload.is_empty() {
            write!(f, " len={}", self.payload.len())?;
        }
        write!(f, "]")
    }
}

/// Builds the IPv4 packet for a TCP segment from `src` to `dst`.
pub fn tcp_packet(src: Ipv4Addr, dst: Ipv4Addr, s: &Seg) -> Vec<u8> {
    let repr = tcp::TcpRepr {
        src_port: s.src_port.expect("src port"),
        dst_port: s.dst_port.expect("dst port"),
        seq: s.seq,
        ack: s.ack,
        flags: s.flags,
        window: s.window,
        urgent: 0,
        options: if s.raw_options.is_some() { TcpOptions::default() } else { s.options },
    };
    let ip = Ipv4Repr { src, dst, protocol: ipv4::PROTO_TCP, ttl: 64, payload_len: 0 };
    let mut buf = vec![0u8; 20 + 60 + s.payload.len()];
    let len = tcp::emit_packet(&ip, 1, &repr, [&s.payload, &[]], TxChecksum::Full, &mut buf).expect("emit");
    buf.truncate(len);
    if let Some(raw) = &s.raw_options {
        // Splice the raw options in after the 20-byte TCP header.
        let mut out = buf[..40].to_vec();
        out.extend_from_slice(raw);
        out.extend_from_slice(&s.payload);
        out[32] = (((20 + raw.len()) / 4) as u8) << 4;
        finish_tcp(&mut out);
        buf = out;
    }
    buf
}

/// Recomputes the IPv4 total length and header checksum and the TCP
/// checksum of a packet without IP options.
pub fn finish_tcp(p: &mut [u8]) {
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    fix_ip_checksum(p);
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let seg = &mut p[20..];
    seg[16] = 0;
    seg[17] = 0;
    let pseudo = checksum::pseudo_header(src, dst, ipv4::PROTO_TCP, seg.len() as u16);
    let c = !checksum::fold(checksum::add_bytes(pseudo, seg));
    seg[16..18].copy_from_slice(&c.to_be_bytes());
}

pub fn fix_ip_checksum(p: &mut [u8]) {
    p[10] = 0;
    p[11] = 0;
    let c = checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// An ICMP echo request from `src` to `dst`.
pub fn icmp_echo_request(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 28 + data.len()];
    p[0] = 0x45;
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = ipv4::PROTO_ICMP;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    fix_ip_checksum(&mut p);
    let m = &mut p[20..];
    m[0] = 8;
    m[4..6].copy_from_slice(&ident.to_be_bytes());
    m[6..8].copy_from_slice(&seq.to_be_bytes());
    m[8..].copy_from_slice(data);
    let c = checksum::checksum(m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// Parses a TCP packet the stack emitted (checksums verified).
pub fn parse_tcp(p: &[u8]) -> (Ipv4Addr, Ipv4Addr, Seg) {
    let ip = ipv4::parse(p).expect("our packet parses as IPv4");
    assert_eq!(ip.repr.protocol, ipv4::PROTO_TCP, "not TCP: {p:?}");
    let t =
        tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify).expect("our TCP segment parses");
    let s = Seg {
        src_port: Some(t.repr.src_port),
        dst_port: Some(t.repr.dst_port),
        peer_ip: Some(ip.repr.dst),
        to_ip: None,
        seq: t.repr.seq,
        ack: t.repr.ack,
        flags: t.repr.flags,
        window: t.repr.window,
        options: t.repr.options,
        raw_options: None,
        payload: t.payload.to_vec(),
    };
    (ip.repr.src, ip.repr.dst, s)
}

/// Options a peer puts on its SYN or SYN-ACK.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerOpts {
    pub mss: Option<u16>,
    pub ws: Option<u8>,
    pub sack: bool,
    /// TSval of the peer's SYN.
    pub ts: Option<u32>,
    /// The window field of the peer's SYN and handshake ACK (default
    /// 65535).
    pub win: Option<u16>,
}

impl PeerOpts {
    /// MSS 1460 and nothing else.
    pub fn plain() -> PeerOpts {
        PeerOpts { mss: Some(1460), ..PeerOpts::default() }
    }
    /// Everything: MSS 1460, window scale 7, SACK-permitted, timestamps.
    pub fn full() -> PeerOpts {
        PeerOpts { mss: Some(1460), ws: Some(7), sack: true, ts: Some(PEER_TS0), win: None }
    }
    /// These options with the window field `win`.
    pub fn win(self, win: u16) -> PeerOpts {
        PeerOpts { win: Some(win), ..self }
    }
    pub fn apply(self, mut s: Seg) -> Seg {
        s.options.mss = self.mss;
        s.options.window_scale = self.ws;
        s.options.sack_permitted = self.sack;
        if let Some(w) = self.win {
            s.window = w;
        }
        if let Some(v) = self.ts {
            s.options.timestamps =
                Some(Timestamps { tsval: v, tsecr: s.options.timestamps.map_or(0, |t| t.tsecr) });
        }
        s
    }
}

/// The peer's first TSval.
pub const PEER_TS0: u32 = 5000;
