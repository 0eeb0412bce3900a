//! Feeds arbitrary bytes to the packet parsers the way the stack does:
//! `ipv4::parse`, then `tcp::parse` or `icmp::parse_echo_request` by protocol.
//! Besides "no panic", it checks that every payload slice lies within the
//! input and that lengths agree with the headers.
//!
//! The first input byte is a control byte, not packet data: bit 0 asks for
//! the IPv4 header checksum and bit 1 for the TCP/ICMP checksum to be
//! recomputed before parsing, so the fuzzer gets past the checksum checks
//! (it could not forge a one's-complement sum by itself) and explores the
//! length, offset and option handling behind them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trust::wire::checksum::{add_bytes, checksum, fold, pseudo_header};
use trust::wire::{RxChecksum, icmp, ipv4, tcp};

fuzz_target!(|data: &[u8]| {
    let Some((&control, packet)) = data.split_first() else {
        return;
    };
    let mut packet = packet.to_vec();
    fix_checksums(&mut packet, control & 1 != 0, control & 2 != 0);
    check(&packet);
});

fn check(data: &[u8]) {
    let Ok(packet) = ipv4::parse(data) else {
        return;
    };
    assert!(within(data, packet.payload));
    assert_eq!(packet.payload.len(), packet.repr.payload_len);
    let header_len = usize::from(data[0] & 0xf) * 4;
    let total_len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    assert_eq!(header_len + packet.payload.len(), total_len);
    let (src, dst) = (packet.repr.src, packet.repr.dst);
    match packet.repr.protocol {
        ipv4::PROTO_TCP => {
            let verified = tcp::parse(src, dst, packet.payload, RxChecksum::Verify);
            let trusted = tcp::parse(src, dst, packet.payload, RxChecksum::Trusted);
            if let Ok(seg) = &trusted {
                assert!(within(packet.payload, seg.payload));
                let header_len = packet.payload.len() - seg.payload.len();
                assert!((tcp::HEADER_LEN..=60).contains(&header_len));
                assert_eq!(header_len % 4, 0);
                let options = tcp::parse_options(&packet.payload[tcp::HEADER_LEN..header_len]);
                assert_eq!(options, Ok(seg.repr.options));
            }
            match (&verified, &trusted) {
                (Ok(v), Ok(t)) => assert_eq!(v.repr, t.repr),
                (Ok(_), Err(e)) => panic!("verified but trusted fails with {e:?}"),
                _ => {}
            }
        }
        ipv4::PROTO_ICMP => {
            if let Ok(Some(echo)) = icmp::parse_echo_request(packet.payload) {
                assert!(within(packet.payload, echo.data));
                assert_eq!(echo.data.len() + 8, packet.payload.len());
            }
        }
        _ => {}
    }
}

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    o.start <= i.start && i.end <= o.end
}

/// Recomputes the checksums where the header's own lengths allow it.
fn fix_checksums(p: &mut [u8], ip: bool, transport: bool) {
    let Some(&first) = p.first() else {
        return;
    };
    let header_len = usize::from(first & 0xf) * 4;
    if header_len < 20 || p.len() < header_len {
        return;
    }
    if transport {
        let total = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(header_len, p.len());
        let protocol = p[9];
        let src = [p[12], p[13], p[14], p[15]].into();
        let dst = [p[16], p[17], p[18], p[19]].into();
        let body = &mut p[header_len..total];
        if protocol == ipv4::PROTO_TCP && body.len() >= tcp::HEADER_LEN {
            body[16..18].fill(0);
            let len = body.len() as u16;
            let c = !fold(add_bytes(pseudo_header(src, dst, protocol, len), body));
            body[16..18].copy_from_slice(&c.to_be_bytes());
        } else if protocol == ipv4::PROTO_ICMP && body.len() >= 8 {
            body[2..4].fill(0);
            let c = checksum(body);
            body[2..4].copy_from_slice(&c.to_be_bytes());
        }
    }
    if ip {
        p[10..12].fill(0);
        let c = checksum(&p[..header_len]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
}
