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
use trust::wire::checksum::rewrite;
use trust::wire::{RxChecksum, icmp, ipv4, tcp};

fuzz_target!(|data: &[u8]| {
    let Some((&control, packet)) = data.split_first() else {
        return;
    };
    let mut packet = packet.to_vec();
    rewrite(&mut packet, control & 1 != 0, control & 2 != 0);
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
