//! Software segmentation of TCP/IPv4 super-segments, as a device with TSO
//! (or the kernel's GSO behind a TUN) performs it: the simulator uses it to
//! put an engine's super-segments on an MSS-sized link.

use crate::wire::{self, checksum, ipv4, tcp};

/// Cuts `packet` (IPv4 + TCP, any length) into packets carrying at most
/// `gso_size` payload bytes each and hands each to `emit`. Every piece gets
/// the original headers with its own sequence number, IPv4 total length,
/// identification and checksums; FIN and PSH stay only on the last piece
/// and CWR only on the first, as Linux's `tcp_gso_segment` does.
pub fn segment(packet: &[u8], gso_size: usize, mut emit: impl FnMut(&[u8])) -> Result<(), wire::Error> {
    let ip = ipv4::parse(packet)?;
    // The IPv4 header is IHL words; bytes after the total length (link
    // padding) are no part of the packet.
    let ip_len = usize::from(packet[0] & 0x0f) * 4;
    let packet = &packet[..ip_len + ip.payload.len()];
    let seg = ip.payload;
    let tcp_len = usize::from(*seg.get(12).ok_or(wire::Error::Truncated)? >> 4) * 4;
    if tcp_len < tcp::HEADER_LEN || tcp_len > seg.len() || gso_size == 0 {
        return Err(wire::Error::BadDataOffset);
    }
    let payload = &seg[tcp_len..];
    if payload.len() <= gso_size {
        emit(packet);
        return Ok(());
    }
    let seq = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
    let ident = u16::from_be_bytes([packet[4], packet[5]]);
    let flags = seg[13];
    let mut out = vec![0u8; ip_len + tcp_len + gso_size];
    let pieces = payload.len().div_ceil(gso_size);
    for (i, chunk) in payload.chunks(gso_size).enumerate() {
        let total = ip_len + tcp_len + chunk.len();
        let out = &mut out[..total];
        out[..ip_len + tcp_len].copy_from_slice(&packet[..ip_len + tcp_len]);
        out[ip_len + tcp_len..].copy_from_slice(chunk);
        out[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        out[4..6].copy_from_slice(&ident.wrapping_add(i as u16).to_be_bytes());
        let t = &mut out[ip_len..];
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
        checksum::rewrite(out, true, true);
        emit(out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{RxChecksum, TcpFlags, TcpRepr, TxChecksum};
    use core::net::Ipv4Addr;

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
    }
}
