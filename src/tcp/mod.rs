//! One TCP connection's state machine (RFC 9293), sans-IO.
//!
//! A [`Connection`] takes segments in ([`Connection::handle_segment`]),
//! hands segments out ([`Connection::poll_transmit`]), reports its next
//! deadline ([`Connection::poll_timeout`]) and is told when it passes
//! ([`Connection::handle_timeout`]). The application side is
//! [`Connection::send`], [`Connection::recv`], [`Connection::shutdown`],
//! [`Connection::close`] and [`Connection::abort`].
//!
//! Submodules hold one concept each: sequence numbers ([`seq`]), the
//! buffers, the RTT estimator, congestion control, ISNs, timers, and the
//! input and output halves of the state machine.

pub mod assembler;
pub mod config;
pub mod congestion;
mod connection;
mod info;
mod input;
mod inspect;
pub mod isn;
mod output;
pub mod path;
mod recovery;
pub mod recv_buffer;
pub mod rtt;
pub mod sack;
pub mod send_buffer;
pub mod seq;
pub mod state;
pub mod syncookie;
pub mod timers;
pub mod window;

use core::net::{IpAddr, SocketAddr};

use bitflags::bitflags;

pub use config::{Keepalive, TcpConfig};
pub use connection::{ConnStats, Connection, MemoryPressure};
pub use info::TcpInfo;
pub use output::{SynAck, Transmit, TxLimits, emit_reset, emit_syn_ack};
pub use path::PathSignal;
pub use seq::SeqNum;
pub use state::State;
pub use window::{UnscaledWindow, WindowScale};

use crate::wire::{TcpFlags, TcpOptions, TcpSegment};

/// A connection's endpoints: both IPv4 or both IPv6 (the stack never
/// makes a tuple of mixed families, and IPv6 addresses carry no flow label
/// or scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Few words: for IPv4 the addresses in one and the ports in another, so
/// that a table's hasher does two steps per lookup (consistent with `Eq`:
/// equal tuples write equal words).
impl core::hash::Hash for FourTuple {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        match (self.local.ip(), self.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                state.write_u64((u64::from(l.to_bits()) << 32) | u64::from(r.to_bits()))
            }
            (l, r) => {
                state.write_u128(ip_bits(l));
                state.write_u128(ip_bits(r));
            }
        }
        state.write_u32((u32::from(self.local.port()) << 16) | u32::from(self.remote.port()));
    }
}

/// An address as a number (IPv4 addresses below 2^32).
fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}

/// A received segment as the state machine sees it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    /// The window field as received.
    pub window: UnscaledWindow,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> Segment<'a> {
    /// Wraps a parsed wire segment.
    pub fn from_wire(seg: &TcpSegment<'a>) -> Segment<'a> {
        Segment {
            seq: SeqNum::new(seg.repr.seq),
            ack: SeqNum::new(seg.repr.ack),
            flags: seg.repr.flags,
            window: UnscaledWindow::new(seg.repr.window),
            options: seg.repr.options,
            payload: seg.payload,
        }
    }

    /// SEG.LEN of RFC 9293 §3.4: payload plus one for each of SYN and FIN.
    pub fn len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.flags.contains(TcpFlags::SYN))
            + u32::from(self.flags.contains(TcpFlags::FIN))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has(&self, flag: TcpFlags) -> bool {
        self.flags.contains(flag)
    }
}

/// A reset the connection asks the stack to send on its behalf (the
/// connection may already be closed when it is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    pub tuple: FourTuple,
    pub seq: SeqNum,
    /// `Some` sets the ACK bit with this acknowledgment number.
    pub ack: Option<SeqNum>,
    /// The timestamps option, once negotiated (RFC 7323 §3.2: every
    /// segment carries it, resets too).
    pub timestamps: Option<crate::wire::Timestamps>,
}

impl Reset {
    /// A reset for `tuple`: `<SEQ=seq><CTL=RST>`, or `<SEQ=0><ACK=ack>
    /// <CTL=RST,ACK>` when `ack` is given (RFC 9293 §3.10.7.1).
    pub fn new(tuple: FourTuple, seq: SeqNum, ack: Option<SeqNum>) -> Reset {
        Reset { tuple, seq, ack, timestamps: None }
    }
}

bitflags! {
    /// What a socket is ready for. Level-triggered: each flag says what is
    /// true now.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Readiness: u8 {
        /// `recv` (or `accept`) will not block: data, end of stream, or an
        /// error is waiting.
        const READABLE = 0x01;
        /// `send` will not block: buffer room, or an error.
        const WRITABLE = 0x02;
        /// The peer finished sending (FIN received) or the connection ended.
        const READ_CLOSED = 0x04;
        /// No more data can be sent.
        const WRITE_CLOSED = 0x08;
        /// An error is pending (reset, refused, timed out).
        const ERROR = 0x10;
        /// The connection has been established (the handshake completed).
        const CONNECTED = 0x20;
        /// Everything sent, FIN included, has been acknowledged (what a
        /// blocking `flush` waits for).
        const ACKED = 0x40;
    }
}

/// How to shut a connection down (as `std::net::Shutdown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}
