//! The network layer under TCP (RFC 791, RFC 1122 §3.2): everything that
//! `tcp` leaves out of its segments. It puts the IP header in front of
//! every segment a connection or the stack writes, completes the TCP
//! checksum over the pseudo-header (RFC 9293 §3.1), and says what MSS and
//! what largest segment a packet of the link can carry.

use core::net::IpAddr;

use crate::tcp::FourTuple;
use crate::wire::ipv4::{self, DEFAULT_TTL, Ipv4Repr, PROTO_TCP};
use crate::wire::tcp::{HEADER_LEN as TCP_HEADER_LEN, MAX_PAYLOAD_V4, fill_checksum};
use crate::wire::{TxChecksum, checksum};

/// Room to leave in front of a TCP segment for its network header.
pub(super) const HEADER_ROOM: usize = ipv4::HEADER_LEN;

/// The largest TCP payload one packet carries: the bound on super-segments
/// handed to an offloading device.
pub(super) const MAX_TCP_PAYLOAD: usize = MAX_PAYLOAD_V4;

/// What the network layer keeps between packets.
#[derive(Debug, Default)]
pub(super) struct NetworkLayer {
    /// The identification of the last IPv4 packet sent. Every packet is
    /// sent with DF, so the field only needs to differ between packets
    /// that could be fragments of one another (RFC 6864 §4.1): a counter.
    ident: u16,
}

impl NetworkLayer {
    /// Turns the TCP segment at `buf[HEADER_ROOM..][..seg_len]`, sent from
    /// `tuple.local` to `tuple.remote`, into a packet: writes the IP header
    /// in front and fills the TCP checksum as `tx` says. Returns the
    /// packet's length (`None` if `buf` cannot hold it).
    pub fn wrap_tcp(
        &mut self,
        tuple: &FourTuple,
        buf: &mut [u8],
        seg_len: usize,
        tx: TxChecksum,
    ) -> Option<usize> {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (tuple.local.ip(), tuple.remote.ip()) else { return None };
        let (header, rest) = buf.split_at_mut_checked(HEADER_ROOM)?;
        let segment = rest.get_mut(..seg_len)?;
        let ip = Ipv4Repr { src, dst, protocol: PROTO_TCP, ttl: DEFAULT_TTL, payload_len: seg_len };
        self.ident = self.ident.wrapping_add(1);
        ipv4::emit(&ip, self.ident, header).ok()?;
        let pseudo = checksum::pseudo_header(ip.src, ip.dst, PROTO_TCP, u16::try_from(seg_len).ok()?);
        fill_checksum(segment, pseudo, tx);
        Some(HEADER_ROOM + seg_len)
    }
}

/// The MSS we advertise on a link of `mtu` bytes (RFC 9293 §3.7.1: the
/// MTU less the IP and TCP headers), kept within 64..=65495.
pub(super) fn mss_for_mtu(mtu: usize) -> u32 {
    mtu.saturating_sub(HEADER_ROOM + TCP_HEADER_LEN).clamp(64, 65495) as u32
}
