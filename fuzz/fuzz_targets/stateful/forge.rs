//! Forged segments, built relative to the live state of a connection, and
//! the byte pattern every payload carries.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use trust::stack::Stack;
use trust::time::Instant;
use trust::wire::ipv4::{self, Ipv4Repr};
use trust::wire::{RxChecksum, SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps, TxChecksum, tcp};

use super::input::{AckSpec, Checksum, FlagSpec, Injection, LenSpec, SeqSpec, Target, TsSpec, WindowSpec};

pub const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
/// Listening ports the operations and injections use.
pub const PORTS: [u16; 3] = [80, 81, 82];

/// The stream key of the bytes `src` sends to `dst`.
/// An end of a tuple: this harness's hosts speak IPv4 only.
pub fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("an IPv4-only stack made an IPv6 tuple: {a}"),
    }
}

pub fn key(src: SocketAddrV4, dst: SocketAddrV4) -> u64 {
    let end = |a: SocketAddrV4| u64::from(a.ip().to_bits()) << 16 | u64::from(a.port());
    (end(src).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ end(dst)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// The byte every sender, real or forged, puts at sequence number `seq` of
/// stream `key`. It depends on the absolute sequence number, so a byte a
/// receiver delivers at the wrong place (duplicated, reordered, from
/// beyond a gap) shows, whoever sent it.
pub fn byte_at(key: u64, seq: u32) -> u8 {
    ((key ^ u64::from(seq)).wrapping_mul(0x94d0_49bb_1331_11eb) >> 56) as u8
}

/// The pattern from `seq` on.
pub fn pattern(key: u64, seq: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| byte_at(key, seq.wrapping_add(i as u32))).collect()
}

/// What a forged segment is relative to.
struct Live {
    rcv_nxt: u32,
    rcv_wnd: u32,
    irs: u32,
    una: u32,
    nxt: u32,
    iss: u32,
    ts_recent: Option<u32>,
    ts_val: Option<u32>,
}

/// Stand-ins for a segment aimed at no connection.
const NO_CONNECTION: Live = Live {
    rcv_nxt: 0x4000_0000,
    rcv_wnd: 65535,
    irs: 0x3fff_ffff,
    una: 0x2000_0000,
    nxt: 0x2000_0000,
    iss: 0x1fff_ffff,
    ts_recent: None,
    ts_val: None,
};

/// The packet `inj` describes for host `to`, how its checksum is to be
/// taken, and its source and destination; `None` when it aims at a
/// connection and there is none.
pub fn forge(
    stack: &Stack,
    now: Instant,
    inj: &Injection,
) -> Option<(Vec<u8>, RxChecksum, (SocketAddrV4, SocketAddrV4))> {
    let to = usize::from(inj.to);
    let (me, peer) = (ADDRS[to], ADDRS[1 - to]);
    let (src, dst, live) = match inj.target {
        Target::Connection => {
            let n = stack.connections().count();
            let c = stack.connections().nth(usize::from(inj.index) % n.max(1))?;
            let t = c.tuple();
            let live = Live {
                rcv_nxt: c.rcv_nxt().get(),
                rcv_wnd: c.rcv_wnd(),
                irs: c.irs().get(),
                una: c.snd_una().get(),
                nxt: c.snd_nxt().get(),
                iss: c.iss().get(),
                ts_recent: c.ts_recent(),
                ts_val: c.ts_val(now),
            };
            (v4(t.remote), v4(t.local), live)
        }
        Target::Listener { src } => {
            let port = PORTS[usize::from(inj.index) % PORTS.len()];
            let from = SocketAddrV4::new(peer, 40000 + u16::from(src % 8));
            (from, SocketAddrV4::new(me, port), NO_CONNECTION)
        }
        Target::Ports { src, dst } => {
            (SocketAddrV4::new(peer, src), SocketAddrV4::new(me, dst), NO_CONNECTION)
        }
    };
    let flags = match inj.flags {
        FlagSpec::Ack => TcpFlags::ACK,
        FlagSpec::AckPsh => TcpFlags::ACK | TcpFlags::PSH,
        FlagSpec::AckFin => TcpFlags::ACK | TcpFlags::FIN,
        FlagSpec::Syn => TcpFlags::SYN,
        FlagSpec::SynAck => TcpFlags::SYN | TcpFlags::ACK,
        FlagSpec::Rst => TcpFlags::RST,
        FlagSpec::RstAck => TcpFlags::RST | TcpFlags::ACK,
        FlagSpec::AckUrg => TcpFlags::ACK | TcpFlags::URG,
        FlagSpec::Raw(bits) => TcpFlags::from_bits_retain(bits),
    };
    let seq = match inj.seq {
        SeqSpec::RcvNxt(d) => live.rcv_nxt.wrapping_add(d.get()),
        SeqSpec::WindowEdge(d) => live.rcv_nxt.wrapping_add(live.rcv_wnd).wrapping_add(d as i32 as u32),
        SeqSpec::Irs(d) => live.irs.wrapping_add(d as i32 as u32),
    };
    let ack = match inj.ack {
        AckSpec::SndUna(d) => live.una.wrapping_add(d.get()),
        AckSpec::SndNxt(d) => live.nxt.wrapping_add(d.get()),
        AckSpec::Iss(d) => live.iss.wrapping_add(d as i32 as u32),
    };
    let o = &inj.options;
    let mut options = TcpOptions {
        mss: o.mss,
        window_scale: o.wscale,
        sack_permitted: o.sack_permitted,
        timestamps: None,
        sack: SackBlocks::default(),
    };
    options.timestamps = match o.timestamps {
        TsSpec::Auto => match (live.ts_recent, live.ts_val) {
            (Some(recent), Some(val)) => Some(Timestamps { tsval: recent, tsecr: val }),
            // A SYN opening a connection offers timestamps.
            _ if flags.contains(TcpFlags::SYN) => {
                Some(Timestamps { tsval: now.as_millis() as u32, tsecr: 0 })
            }
            _ => None,
        },
        TsSpec::None => None,
        TsSpec::Relative { val, ecr } => Some(Timestamps {
            tsval: live.ts_recent.unwrap_or(0).wrapping_add(val.get()),
            tsecr: live.ts_val.unwrap_or(0).wrapping_add(ecr.get()),
        }),
    };
    for b in o.sack.iter().take(SackBlocks::MAX) {
        let left = live.una.wrapping_add(b.left.get());
        options.sack.push(left, left.wrapping_add(u32::from(b.len)));
    }
    let len = match inj.len {
        LenSpec::Zero => 0,
        LenSpec::Small(n) => usize::from(n),
        LenSpec::Large(n) => usize::from(n % 8192),
    };
    // The payload is what the true sender would have put at those
    // sequence numbers: an early, late or duplicate copy.
    let data_seq = seq.wrapping_add(u32::from(flags.contains(TcpFlags::SYN)));
    let payload = pattern(key(src, dst), data_seq, len);
    let repr = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags,
        window: match inj.window {
            WindowSpec::Max => 65535,
            WindowSpec::Raw(w) => w,
        },
        urgent: inj.urgent,
        options,
    };
    let ip = Ipv4Repr { src: *src.ip(), dst: *dst.ip(), protocol: ipv4::PROTO_TCP, ttl: 64, payload_len: 0 };
    let tx = if matches!(inj.checksum, Checksum::Trusted) { TxChecksum::Partial } else { TxChecksum::Full };
    let mut buf = vec![0u8; ipv4::HEADER_LEN + tcp::HEADER_LEN + tcp::MAX_OPTIONS_LEN + len];
    let n = tcp::emit_packet(&ip, seq as u16, &repr, [&payload, &[]], tx, &mut buf).ok()?;
    buf.truncate(n);
    let rx = match inj.checksum {
        Checksum::Good => RxChecksum::Verify,
        Checksum::Trusted => RxChecksum::Trusted,
        Checksum::Bad => {
            buf[ipv4::HEADER_LEN + 16] ^= 0x5a;
            RxChecksum::Verify
        }
    };
    Some((buf, rx, (src, dst)))
}
