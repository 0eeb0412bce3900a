//! The virtio-net header that a TUN device opened with `IFF_VNET_HDR`
//! puts before every packet (virtio 1.x §5.1.6, Linux
//! `include/uapi/linux/virtio_net.h`). With `TUNSETOFFLOAD` it lets the
//! kernel hand over TCP super-segments with checksums vouched for, and take
//! super-segments (cut at `gso_size`) with checksums left to it, for IPv4
//! (`GSO_TCPV4`) and IPv6 (`GSO_TCPV6`) alike.
//!
//! On receive nothing depends on the IP version: the packet after the
//! header is handed on whole, a `GSO_TCPV6` super-segment as a `GSO_TCPV4`
//! one (the kernel sets `gso_type` as it coalesced, and may add
//! `GSO_ECN`), and [`VnetHdr::checksum_trusted`] reads only the flags,
//! which mean the same for both (for IPv6 `NEEDS_CSUM` leaves the sum of
//! the RFC 8200 §8.1 pseudo-header in the TCP checksum field).

/// Bytes of the header (`struct virtio_net_hdr`, without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;

/// The checksum is partial: complete it from `csum_start` (the receiver
/// may trust the packet).
pub const F_NEEDS_CSUM: u8 = 1;
/// The checksum has been verified.
pub const F_DATA_VALID: u8 = 2;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_TCPV6: u8 = 4;
/// Or'ed into `gso_type`: the super-segment carries ECN CWR (the kernel
/// sets it on what it hands over; we never send it).
pub const GSO_ECN: u8 = 0x80;

/// Offset of the TCP checksum within the TCP header.
const TCP_CSUM_OFFSET: u16 = 16;

/// `struct virtio_net_hdr`, fields in little-endian order on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Bytes of headers (IP + TCP) before the payload of a super-segment.
    pub hdr_len: u16,
    /// Payload per segment the device cuts a super-segment into.
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The header and the packet after it; `None` if `frame` is too short.
    pub fn parse(frame: &[u8]) -> Option<(VnetHdr, &[u8])> {
        let h = frame.get(..VNET_HDR_LEN)?;
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let hdr = VnetHdr {
            flags: h[0],
            gso_type: h[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        };
        Some((hdr, &frame[VNET_HDR_LEN..]))
    }

    pub fn write(&self, out: &mut [u8; VNET_HDR_LEN]) {
        out[0] = self.flags;
        out[1] = self.gso_type;
        out[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }

    /// Whether the kernel vouches for the packet's checksums: it verified
    /// them, or it left a partial sum it never computed (a packet that
    /// never left the host).
    pub fn checksum_trusted(&self) -> bool {
        self.flags & (F_NEEDS_CSUM | F_DATA_VALID) != 0
    }

    /// The header for a packet the engine emitted, IPv4 or IPv6 by its
    /// version nibble: for TCP, whose checksum field holds the partial sum
    /// (the pseudo-header's), the kernel completes the checksum from
    /// `csum_start` (the TCP header), and cuts a payload longer than
    /// `gso_size` into segments (`GSO_TCPV4` or `GSO_TCPV6`, `hdr_len` the
    /// IP and TCP headers). Anything that is not TCP carries full checksums
    /// and needs nothing.
    pub fn for_packet(packet: &[u8], gso_size: Option<u16>) -> VnetHdr {
        match packet.first().map(|b| b >> 4) {
            Some(4) => VnetHdr::for_ipv4(packet, gso_size),
            Some(6) => match ipv6_upper_layer(packet) {
                Some((PROTO_TCP, start)) => VnetHdr::for_tcp(packet, start, GSO_TCPV6, gso_size),
                _ => VnetHdr::default(),
            },
            _ => VnetHdr::default(),
        }
    }

    /// [`VnetHdr::for_packet`] for a packet known to be IPv4 (its version
    /// nibble is not looked at).
    pub fn for_ipv4(packet: &[u8], gso_size: Option<u16>) -> VnetHdr {
        let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
        if packet.get(9) != Some(&PROTO_TCP) {
            return VnetHdr::default();
        }
        VnetHdr::for_tcp(packet, ihl, GSO_TCPV4, gso_size)
    }

    /// The header for a TCP segment at `start` in `packet`.
    fn for_tcp(packet: &[u8], start: usize, gso_type: u8, gso_size: Option<u16>) -> VnetHdr {
        let (Some(&offset), Ok(csum_start)) = (packet.get(start + 12), u16::try_from(start)) else {
            return VnetHdr::default();
        };
        if packet.len() < start + 20 {
            return VnetHdr::default();
        }
        let mut hdr =
            VnetHdr { flags: F_NEEDS_CSUM, csum_start, csum_offset: TCP_CSUM_OFFSET, ..VnetHdr::default() };
        let headers = start + usize::from(offset >> 4) * 4;
        if let Some(mss) = gso_size
            && packet.len().saturating_sub(headers) > usize::from(mss)
        {
            hdr.gso_type = gso_type;
            hdr.gso_size = mss;
            hdr.hdr_len = headers as u16;
        }
        hdr
    }
}

/// Next-header value of TCP (in IPv4's protocol field too).
const PROTO_TCP: u8 = 6;
/// Bytes of the fixed IPv6 header.
const IPV6_HEADER_LEN: usize = 40;
/// The most option headers [`ipv6_upper_layer`] steps over.
const IPV6_MAX_OPTION_HEADERS: usize = 4;

/// The header after an IPv6 packet's Hop-by-Hop and Destination Options
/// headers (RFC 8200 §4.3, §4.6; the engine emits none, so normally the
/// one after the fixed header): its next-header value and its offset.
/// Any other extension header ends the walk (a Routing header would change
/// the destination the transport checksum covers, a Fragment header means
/// no whole segment follows), and so does a header running past the
/// packet. `None` if the packet is too short for its fixed header.
pub(crate) fn ipv6_upper_layer(packet: &[u8]) -> Option<(u8, usize)> {
    const HOP_BY_HOP: u8 = 0;
    const DESTINATION_OPTIONS: u8 = 60;
    let mut next = *packet.get(6).filter(|_| packet.len() >= IPV6_HEADER_LEN)?;
    let mut at = IPV6_HEADER_LEN;
    for _ in 0..IPV6_MAX_OPTION_HEADERS {
        if next != HOP_BY_HOP && next != DESTINATION_OPTIONS {
            break;
        }
        // Next header, then the length in 8-octet units beyond the first 8.
        let (Some(&after), Some(&units)) = (packet.get(at), packet.get(at + 1)) else { break };
        next = after;
        at += (usize::from(units) + 1) * 8;
    }
    Some((next, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_short_frames() {
        let h =
            VnetHdr { flags: 1, gso_type: 1, hdr_len: 52, gso_size: 1448, csum_start: 20, csum_offset: 16 };
        let mut b = [0u8; VNET_HDR_LEN];
        h.write(&mut b);
        let mut frame = b.to_vec();
        frame.extend_from_slice(b"packet");
        assert_eq!(VnetHdr::parse(&frame), Some((h, &b"packet"[..])));
        assert_eq!(VnetHdr::parse(&frame[..9]), None);
        assert!(h.checksum_trusted());
        assert!(!VnetHdr::default().checksum_trusted());
    }

    #[test]
    fn ipv6_super_segments_from_the_kernel_are_taken_whole() {
        // What the kernel hands over after coalescing IPv6 TCP (GRO):
        // GSO_TCPV6, maybe with GSO_ECN, a partial checksum.
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV6 | GSO_ECN,
            hdr_len: 72,
            gso_size: 1428,
            csum_start: 40,
            csum_offset: 16,
        };
        let mut b = [0u8; VNET_HDR_LEN];
        h.write(&mut b);
        let mut frame = b.to_vec();
        frame.extend_from_slice(&[0x60; 72 + 3000]);
        let (got, packet) = VnetHdr::parse(&frame).unwrap();
        assert_eq!((got, packet.len()), (h, 72 + 3000));
        assert!(got.checksum_trusted());
        let valid = VnetHdr { flags: F_DATA_VALID, gso_type: GSO_TCPV6, ..h };
        assert!(valid.checksum_trusted());
    }

    /// An IPv6 packet: fixed header with `next`, then `body`.
    fn ipv6(next: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; IPV6_HEADER_LEN];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(body.len() as u16).to_be_bytes());
        p[6] = next;
        p[7] = 64;
        p.extend_from_slice(body);
        p
    }

    /// A TCP header of `len` bytes followed by `payload` zero bytes.
    fn tcp(len: usize, payload: usize) -> Vec<u8> {
        let mut t = vec![0u8; len + payload];
        t[12] = ((len / 4) as u8) << 4;
        t
    }

    #[test]
    fn headers_for_emitted_ipv6_packets() {
        // IPv6 (40 bytes) + TCP with a 32-byte header + 3000 bytes.
        let p = ipv6(6, &tcp(32, 3000));
        let h = VnetHdr::for_packet(&p, Some(1428));
        assert_eq!((h.flags, h.gso_type, h.hdr_len, h.gso_size), (F_NEEDS_CSUM, GSO_TCPV6, 72, 1428));
        assert_eq!((h.csum_start, h.csum_offset), (40, 16));
        // One segment's worth: no GSO, checksum still partial.
        let h = VnetHdr::for_packet(&p[..40 + 32 + 1000], Some(1428));
        assert_eq!((h.flags, h.gso_type, h.hdr_len, h.csum_start), (F_NEEDS_CSUM, GSO_NONE, 0, 40));
        let h = VnetHdr::for_packet(&p, None);
        assert_eq!((h.flags, h.gso_type, h.csum_start), (F_NEEDS_CSUM, GSO_NONE, 40));
        // ICMPv6 carries its full checksum: nothing to do.
        assert_eq!(VnetHdr::for_packet(&ipv6(58, &[0; 64]), Some(1428)), VnetHdr::default());
        // A Destination Options header (8 bytes) moves the TCP header.
        let mut body = vec![6, 0, 1, 4, 0, 0, 0, 0];
        body.extend_from_slice(&tcp(20, 3000));
        let h = VnetHdr::for_packet(&ipv6(60, &body), Some(1428));
        assert_eq!((h.gso_type, h.csum_start, h.hdr_len), (GSO_TCPV6, 48, 68));
        // A Fragment header: no whole segment follows.
        let mut body = vec![6, 0, 0, 0, 0, 0, 0, 1];
        body.extend_from_slice(&tcp(20, 3000));
        assert_eq!(VnetHdr::for_packet(&ipv6(44, &body), Some(1428)), VnetHdr::default());
        // Too short for a TCP header, or for the fixed header.
        assert_eq!(VnetHdr::for_packet(&ipv6(6, &[0; 19]), Some(1428)), VnetHdr::default());
        assert_eq!(VnetHdr::for_packet(&[0x60; 39], Some(1428)), VnetHdr::default());
        assert_eq!(VnetHdr::for_packet(&[], Some(1428)), VnetHdr::default());
        assert_eq!(VnetHdr::for_packet(&[0x50; 100], Some(1428)), VnetHdr::default());
    }

    #[test]
    fn option_headers_are_stepped_over_within_bounds() {
        assert_eq!(ipv6_upper_layer(&ipv6(6, &[])), Some((6, 40)));
        // Hop-by-Hop (16 bytes) then Destination Options (8) then TCP.
        let mut body = vec![60, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ipv6_upper_layer(&ipv6(0, &body)), Some((6, 64)));
        // A header running past the packet ends the walk there.
        assert_eq!(ipv6_upper_layer(&ipv6(0, &[])), Some((0, 40)));
        // Endless option headers: the walk stops after a few.
        let (next, at) = ipv6_upper_layer(&ipv6(60, &[60, 0, 0, 0, 0, 0, 0, 0].repeat(10))).unwrap();
        assert_eq!((next, at), (60, 40 + 8 * IPV6_MAX_OPTION_HEADERS));
    }

    #[test]
    fn headers_for_emitted_packets() {
        // IPv4 (20 bytes) + TCP with a 32-byte header + 3000 bytes.
        let mut p = vec![0u8; 20 + 32 + 3000];
        p[0] = 0x45;
        p[9] = 6;
        p[20 + 12] = 8 << 4;
        let h = VnetHdr::for_ipv4(&p, Some(1448));
        assert_eq!((h.flags, h.gso_type, h.hdr_len, h.gso_size), (F_NEEDS_CSUM, GSO_TCPV4, 52, 1448));
        assert_eq!((h.csum_start, h.csum_offset), (20, 16));
        // One segment's worth: no GSO, checksum still partial.
        let h = VnetHdr::for_ipv4(&p[..20 + 32 + 1000], Some(1448));
        assert_eq!((h.flags, h.gso_type), (F_NEEDS_CSUM, GSO_NONE));
        // The same through the version dispatch.
        assert_eq!(VnetHdr::for_packet(&p, Some(1448)), VnetHdr::for_ipv4(&p, Some(1448)));
        // ICMP: nothing to do.
        p[9] = 1;
        assert_eq!(VnetHdr::for_ipv4(&p, None), VnetHdr::default());
        assert_eq!(VnetHdr::for_packet(&p, None), VnetHdr::default());
    }
}
