//! Software segmentation of TCP super-segments over IPv4 or IPv6, as a
//! device with TSO (or the kernel's GSO behind a TUN) performs it: the
//! simulator uses it to put an engine's super-segments on an MSS-sized link.

use super::vnet::ipv6_upper_layer;
use crate::wire::{self, checksum, ipv4, tcp};

/// Bytes of the fixed IPv6 header.
const IPV6_HEADER_LEN: usize = 40;
/// IPv6 next-header values: TCP, and the Fragment header.
const IPV6_TCP: u8 = 6;
const IPV6_FRAGMENT: u8 = 44;

/// Cuts `packet` (IPv4 or IPv6, by its version nibble, carrying TCP; any
/// length) into packets carrying at most `gso_size` payload bytes each and
/// hands each to `emit`. Every piece gets the original headers with its own
/// sequence number, IP length (IPv4 total length, IPv6 payload length) and
/// checksums, and for IPv4 its own identification; FIN and PSH stay only on
/// the last piece and CWR only on the first, as Linux's `tcp_gso_segment`
/// does. A packet whose payload fits is handed on as it is.
///
/// IPv6 Hop-by-Hop and Destination Options headers before the TCP header
/// are copied into every piece (the engine emits none). A packet that does
/// not carry TCP, or only after another extension header, is
/// [`wire::Error::Unencodable`] (an IPv6 fragment: [`wire::Error::Fragment`]).
pub fn segment(packet: &[u8], gso_size: usize, emit: impl FnMut(&[u8])) -> Result<(), wire::Error> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => segment_v4(packet, gso_size, emit),
        Some(6) => segment_v6(packet, gso_size, emit),
        Some(_) => Err(wire::Error::BadVersion),
        None => Err(wire::Error::Truncated),
    }
}

fn segment_v4(packet: &[u8], gso_size: usize, emit: impl FnMut(&[u8])) -> Result<(), wire::Error> {
    let ip = ipv4::parse(packet)?;
    if ip.repr.protocol != ipv4::PROTO_TCP {
        return Err(wire::Error::Unencodable);
    }
    // The IPv4 header is IHL words; bytes after the total length (link
    // padding) are no part of the packet.
    let ip_len = usize::from(packet[0] & 0x0f) * 4;
    let packet = &packet[..ip_len + ip.payload.len()];
    let ident = u16::from_be_bytes([packet[4], packet[5]]);
    cut(packet, ip_len, gso_size, emit, |out, i| {
        let total = out.len() as u16;
        out[2..4].copy_from_slice(&total.to_be_bytes());
        out[4..6].copy_from_slice(&ident.wrapping_add(i as u16).to_be_bytes());
        checksum::rewrite(out, true, true);
    })
}

fn segment_v6(packet: &[u8], gso_size: usize, emit: impl FnMut(&[u8])) -> Result<(), wire::Error> {
    let payload_len = usize::from(u16::from_be_bytes([
        *packet.get(4).ok_or(wire::Error::Truncated)?,
        *packet.get(5).ok_or(wire::Error::Truncated)?,
    ]));
    // Bytes after the payload length (link padding) are no part of it.
    let packet = packet.get(..IPV6_HEADER_LEN + payload_len).ok_or(wire::Error::Truncated)?;
    let tcp_at = match ipv6_upper_layer(packet) {
        Some((IPV6_TCP, at)) if at <= packet.len() => at,
        Some((IPV6_TCP, _)) | None => return Err(wire::Error::Truncated),
        Some((IPV6_FRAGMENT, _)) => return Err(wire::Error::Fragment),
        Some(_) => return Err(wire::Error::Unencodable),
    };
    cut(packet, tcp_at, gso_size, emit, |out, _| {
        let payload_len = (out.len() - IPV6_HEADER_LEN) as u16;
        out[4..6].copy_from_slice(&payload_len.to_be_bytes());
        let (header, segment) = out.split_at_mut(tcp_at);
        segment[16..18].fill(0);
        // The IPv6 pseudo-header (RFC 8200 §8.1): source and destination
        // (adjacent in the fixed header), the upper-layer length as 32
        // bits, three zero bytes and the next header.
        let length = segment.len() as u32;
        let pseudo = checksum::add_bytes(0, &header[8..IPV6_HEADER_LEN])
            + u64::from(length >> 16)
            + u64::from(length & 0xffff)
            + u64::from(IPV6_TCP);
        let sum = !checksum::fold(checksum::add_bytes(pseudo, segment));
        segment[16..18].copy_from_slice(&sum.to_be_bytes());
    })
}

/// The segmentation common to both families: `packet` (trimmed to its IP
/// length) holds a TCP segment at `tcp_at`. Each piece is the headers with
/// its own sequence number and flags, then its share of the payload;
/// `finish(piece, index)` fixes the IP length fields and the checksums.
fn cut(
    packet: &[u8],
    tcp_at: usize,
    gso_size: usize,
    mut emit: impl FnMut(&[u8]),
    mut finish: impl FnMut(&mut [u8], usize),
) -> Result<(), wire::Error> {
    let seg = &packet[tcp_at..];
    let tcp_len = usize::from(*seg.get(12).ok_or(wire::Error::Truncated)? >> 4) * 4;
    if tcp_len < tcp::HEADER_LEN || tcp_len > seg.len() || gso_size == 0 {
        return Err(wire::Error::BadDataOffset);
    }
    let payload = &seg[tcp_len..];
    if payload.len() <= gso_size {
        emit(packet);
        return Ok(());
    }
    let headers = tcp_at + tcp_len;
    let seq = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
    let flags = seg[13];
    let mut out = vec![0u8; headers + gso_size];
    let pieces = payload.len().div_ceil(gso_size);
    for (i, chunk) in payload.chunks(gso_size).enumerate() {
        let out = &mut out[..headers + chunk.len()];
        out[..headers].copy_from_slice(&packet[..headers]);
        out[headers..].copy_from_slice(chunk);
        let t = &mut out[tcp_at..];
        let piece_seq = seq.wrapping_add((i * gso_size) as u32);
        t[4..8].copy_from_slice(&piece_seq.to_be_bytes());
        let mut f = flags;
        if i + 1 < pieces {
            f &= !(wire::TcpFlags::FIN | wire::TcpFlags::PSH).bits();
        }
        if i > 0 {
            f &= !wire::TcpFlags::CWR.bits();
        }
        t[13] = f;
        finish(out, i);
        emit(out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{RxChecksum, TcpFlags, TcpRepr, TxChecksum};
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn cuts_a_super_segment_into_valid_pieces() {
        let ip = ipv4::Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: ipv4::PROTO_TCP,
            ttl: 64,
            payload_len: 0,
        };
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: u32::MAX - 1000,
            ack: 7,
            flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
            window: 100,
            ..TcpRepr::default()
        };
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut buf = vec![0; 6000];
        let n = tcp::emit_packet(&ip, 9, &repr, [&data[..3000], &data[3000..]], TxChecksum::Full, &mut buf)
            .unwrap();
        let mut got = Vec::new();
        let mut pieces = Vec::new();
        segment(&buf[..n], 1448, |p| pieces.push(p.to_vec())).unwrap();
        assert_eq!(pieces.len(), 4);
        for (i, p) in pieces.iter().enumerate() {
            let pkt = ipv4::parse(p).unwrap();
            let seg = tcp::parse(pkt.repr.src, pkt.repr.dst, pkt.payload, RxChecksum::Verify).unwrap();
            assert_eq!(seg.repr.seq, repr.seq.wrapping_add(i as u32 * 1448));
            assert_eq!(seg.repr.flags.contains(TcpFlags::FIN), i == 3);
            got.extend_from_slice(seg.payload);
        }
        assert_eq!(got, data);
        // Not TCP: no super-segment.
        buf[9] = ipv4::PROTO_ICMP;
        checksum::rewrite(&mut buf[..n], true, false);
        assert_eq!(segment(&buf[..n], 1448, |_| {}), Err(wire::Error::Unencodable));
    }

    const SRC6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 1);
    const DST6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0xffff, 0, 0, 0, 0xabcd, 2);

    /// An IPv6 packet from `SRC6` to `DST6`: `options` (extension headers,
    /// the first's type in `next`), then a TCP header with 12 bytes of
    /// options and `data`. Its TCP checksum is left zero: segmentation
    /// recomputes every piece's.
    fn ipv6_tcp(next: u8, options: &[u8], seq: u32, flags: TcpFlags, data: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, next, 57];
        p.extend_from_slice(&SRC6.octets());
        p.extend_from_slice(&DST6.octets());
        p.extend_from_slice(options);
        let mut t = vec![0u8; 32];
        t[0..4].copy_from_slice(&[0x1f, 0x90, 0xc3, 0x50]);
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&7u32.to_be_bytes());
        t[12] = 8 << 4;
        t[13] = flags.bits();
        t[14..16].copy_from_slice(&512u16.to_be_bytes());
        t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        p.extend_from_slice(&t);
        p.extend_from_slice(data);
        let payload_len = (p.len() - IPV6_HEADER_LEN) as u16;
        p[4..6].copy_from_slice(&payload_len.to_be_bytes());
        p
    }

    /// RFC 8200 §8.1 the plain way: the pseudo-header and the segment as
    /// big-endian 16-bit words, folded; a correct checksum makes 0xffff.
    fn verifies_v6(src: Ipv6Addr, dst: Ipv6Addr, segment: &[u8]) -> bool {
        let len = segment.len() as u32;
        let mut sum: u64 = src.segments().iter().chain(&dst.segments()).map(|&w| u64::from(w)).sum();
        sum += u64::from(len >> 16) + u64::from(len & 0xffff) + 6;
        sum += segment
            .chunks(2)
            .map(|c| u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum::<u64>();
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum == 0xffff
    }

    /// Cuts an IPv6 super-segment with `options` before TCP and checks
    /// every piece.
    fn check_v6_cut(next: u8, options: &[u8]) {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let flags = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN | TcpFlags::CWR;
        let seq = u32::MAX - 1000;
        let mut packet = ipv6_tcp(next, options, seq, flags, &data);
        packet.extend_from_slice(&[0xee; 6]); // link padding: no part of it
        let mut pieces = Vec::new();
        segment(&packet, 1428, |p| pieces.push(p.to_vec())).unwrap();
        assert_eq!(pieces.len(), 4);
        let tcp_at = IPV6_HEADER_LEN + options.len();
        let mut got = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            assert_eq!(p[..4], packet[..4], "version, class, flow label of piece {i}");
            assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), p.len() - IPV6_HEADER_LEN, "piece {i}");
            assert_eq!(p[6..tcp_at], packet[6..tcp_at], "next header, hop limit, addresses, options");
            let t = &p[tcp_at..];
            assert!(verifies_v6(SRC6, DST6, t), "TCP checksum of piece {i}");
            assert_eq!(t[..4], packet[tcp_at..tcp_at + 4], "ports");
            assert_eq!(u32::from_be_bytes([t[4], t[5], t[6], t[7]]), seq.wrapping_add(i as u32 * 1428));
            assert_eq!(t[8..13], packet[tcp_at + 8..tcp_at + 13], "ACK number and data offset");
            let f = TcpFlags::from_bits_truncate(t[13]);
            assert_eq!(f.contains(TcpFlags::FIN) || f.contains(TcpFlags::PSH), i == 3, "piece {i}: {f:?}");
            assert_eq!(f.contains(TcpFlags::CWR), i == 0, "piece {i}: {f:?}");
            assert!(f.contains(TcpFlags::ACK));
            assert_eq!(t[14..16], packet[tcp_at + 14..tcp_at + 16], "window");
            assert_eq!(t[20..32], packet[tcp_at + 20..tcp_at + 32], "options");
            assert!(t.len() - 32 == 1428 || i == 3);
            got.extend_from_slice(&t[32..]);
        }
        assert_eq!(got, data);
    }

    #[test]
    fn cuts_an_ipv6_super_segment_into_valid_pieces() {
        check_v6_cut(IPV6_TCP, &[]);
        // A Destination Options header (PadN) is copied into every piece.
        check_v6_cut(60, &[IPV6_TCP, 0, 1, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn ipv6_packets_that_fit_or_are_not_tcp_segments() {
        // One piece's worth: handed on as it is, without the padding.
        let p = ipv6_tcp(IPV6_TCP, &[], 1, TcpFlags::ACK, &[9; 1000]);
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 4]);
        let mut pieces = Vec::new();
        segment(&padded, 1428, |q| pieces.push(q.to_vec())).unwrap();
        assert_eq!(pieces, std::slice::from_ref(&p));
        // Truncated: the payload length says more than there is.
        assert_eq!(segment(&p[..p.len() - 1], 100, |_| {}), Err(wire::Error::Truncated));
        assert_eq!(segment(&p[..39], 100, |_| {}), Err(wire::Error::Truncated));
        // Not TCP (UDP), or after a Fragment or Routing header.
        let mut q = p.clone();
        q[6] = 17;
        assert_eq!(segment(&q, 100, |_| {}), Err(wire::Error::Unencodable));
        let frag = ipv6_tcp(IPV6_FRAGMENT, &[IPV6_TCP, 0, 0, 0, 0, 0, 0, 1], 1, TcpFlags::ACK, &[9; 1000]);
        assert_eq!(segment(&frag, 100, |_| {}), Err(wire::Error::Fragment));
        let routing = ipv6_tcp(43, &[IPV6_TCP, 0, 0, 0, 0, 0, 0, 0], 1, TcpFlags::ACK, &[9; 1000]);
        assert_eq!(segment(&routing, 100, |_| {}), Err(wire::Error::Unencodable));
        // A bad data offset, and a zero segment size.
        let mut q = p.clone();
        q[IPV6_HEADER_LEN + 12] = 4 << 4;
        assert_eq!(segment(&q, 100, |_| {}), Err(wire::Error::BadDataOffset));
        assert_eq!(segment(&p, 0, |_| {}), Err(wire::Error::BadDataOffset));
        // Neither version.
        assert_eq!(segment(&[0x50; 60], 100, |_| {}), Err(wire::Error::BadVersion));
        assert_eq!(segment(&[], 100, |_| {}), Err(wire::Error::Truncated));
    }
}
