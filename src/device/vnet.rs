//! The virtio-net header that a TUN device opened with `IFF_VNET_HDR`
//! puts before every packet (virtio 1.x §5.1.6, Linux
//! `include/uapi/linux/virtio_net.h`). With `TUNSETOFFLOAD` it lets the
//! kernel hand over TCP super-segments with checksums vouched for, and take
//! super-segments (cut at `gso_size`) with checksums left to it.

/// Bytes of the header (`struct virtio_net_hdr`, without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;

/// The checksum is partial: complete it from `csum_start` (the receiver
/// may trust the packet).
pub const F_NEEDS_CSUM: u8 = 1;
/// The checksum has been verified.
pub const F_DATA_VALID: u8 = 2;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;

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

    /// The header for an IPv4 packet the engine emitted with a partial TCP
    /// checksum (the pseudo-header sum): the kernel completes it, and cuts
    /// a payload longer than `gso_size` into segments. Anything that is not
    /// TCP carries full checksums and needs nothing.
    pub fn for_ipv4(packet: &[u8], gso_size: Option<u16>) -> VnetHdr {
        let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
        if packet.len() < ihl + 20 || packet.get(9) != Some(&6) {
            return VnetHdr::default();
        }
        let mut hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: ihl as u16,
            csum_offset: TCP_CSUM_OFFSET,
            ..VnetHdr::default()
        };
        let headers = ihl + usize::from(packet[ihl + 12] >> 4) * 4;
        if let Some(mss) = gso_size
            && packet.len().saturating_sub(headers) > usize::from(mss)
        {
            hdr.gso_type = GSO_TCPV4;
            hdr.gso_size = mss;
            hdr.hdr_len = headers as u16;
        }
        hdr
    }
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
        // ICMP: nothing to do.
        p[9] = 1;
        assert_eq!(VnetHdr::for_ipv4(&p, None), VnetHdr::default());
    }
}
