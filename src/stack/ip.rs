//! The network layer under TCP (RFC 791 for IPv4, RFC 8200 for IPv6,
//! RFC 1122 §3.2): everything that `tcp` leaves out of its segments. It
//! puts the IP header of the tuple's family in front of every segment a
//! connection or the stack writes, completes the TCP checksum over that
//! family's pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1), and says what
//! MSS and what largest segment a packet of the link can carry.

use core::net::IpAddr;

use crate::tcp::FourTuple;
use crate::wire::ipv4::{self, Ipv4Repr, PROTO_TCP};
use crate::wire::ipv6::{self, Ipv6Repr};
use crate::wire::tcp::{HEADER_LEN as TCP_HEADER_LEN, MAX_PAYLOAD_V4, fill_checksum};
use crate::wire::{TxChecksum, checksum};

/// The largest TCP payload one packet of either family carries: the bound
/// on super-segments handed to an offloading device. (An IPv6 packet's
/// length field leaves out its 40-byte header, so IPv6 could carry 20
/// bytes more; one bound keeps one rule.)
pub(super) const MAX_TCP_PAYLOAD: usize = MAX_PAYLOAD_V4;

/// Room to leave in front of a TCP segment to `remote` for its network
/// header (we send no options and no extension headers).
pub(super) fn header_room(remote: IpAddr) -> usize {
    match remote {
        IpAddr::V4(_) => ipv4::HEADER_LEN,
        IpAddr::V6(_) => ipv6::HEADER_LEN,
    }
}

/// What the network layer keeps between packets.
#[derive(Debug, Default)]
pub(super) struct NetworkLayer {
    /// The identification of the last IPv4 packet sent. Every packet is
    /// sent with DF, so the field only needs to differ between packets
    /// that could be fragments of one another (RFC 6864 §4.1): a counter.
    ident: u16,
}

impl NetworkLayer {
    /// Turns the TCP segment at `buf[header_room(..)..][..seg_len]`, sent
    /// from `tuple.local` to `tuple.remote`, into a packet: writes the IP
    /// header in front, with `ttl` as its TTL (IPv4) or hop limit (IPv6),
    /// and fills the TCP checksum as `tx` says. Returns the
    /// packet's length (`None` if `buf` cannot hold it, or the tuple mixes
    /// families).
    pub fn wrap_tcp(
        &mut self,
        tuple: &FourTuple,
        ttl: u8,
        buf: &mut [u8],
        seg_len: usize,
        tx: TxChecksum,
    ) -> Option<usize> {
        let room = header_room(tuple.remote.ip());
        let (header, rest) = buf.split_at_mut_checked(room)?;
        let segment = rest.get_mut(..seg_len)?;
        let pseudo = match (tuple.local.ip(), tuple.remote.ip()) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let ip = Ipv4Repr { src, dst, protocol: PROTO_TCP, ttl, payload_len: seg_len };
                self.ident = self.ident.wrapping_add(1);
                ipv4::emit(&ip, self.ident, header).ok()?;
                checksum::pseudo_header(src, dst, PROTO_TCP, u16::try_from(seg_len).ok()?)
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let ip = Ipv6Repr { src, dst, next_header: PROTO_TCP, hop_limit: ttl, payload_len: seg_len };
                ipv6::emit(&ip, header).ok()?;
                checksum::pseudo_header_v6(src, dst, PROTO_TCP, u32::try_from(seg_len).ok()?)
            }
            _ => return None,
        };
        fill_checksum(segment, pseudo, tx);
        Some(room + seg_len)
    }
}

/// The MSS a connection on `tuple` advertises over a link of `mtu` bytes
/// (RFC 9293 §3.7.1: the MTU less the IP and TCP headers, so 40 bytes less
/// for IPv4 and 60 for IPv6), kept within 64..=65495.
pub(super) fn mss_for(mtu: usize, tuple: &FourTuple) -> u32 {
    mtu.saturating_sub(header_room(tuple.remote.ip()) + TCP_HEADER_LEN).clamp(64, 65495) as u32
}
