//! Feeds arbitrary bytes to the packet parsers the way the stack does:
//! `ipv4::parse`, then `tcp::parse` or `icmp::parse_echo_request` by protocol.
//! Besides "no panic", it checks that every payload slice lies within the
//! input and that lengths agree with the headers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trust::wire::{RxChecksum, icmp, ipv4, tcp};

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    o.start <= i.start && i.end <= o.end
}

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = ipv4::parse(data) else {
        return;
    };
    assert!(within(data, packet.payload));
    assert_eq!(packet.payload.len(), packet.repr.payload_len);
    let (src, dst) = (packet.repr.src, packet.repr.dst);
    match packet.repr.protocol {
        ipv4::PROTO_TCP => {
            let verified = tcp::parse(src, dst, packet.payload, RxChecksum::Verify);
            // Trusted skips the checksum, so the fuzzer reaches the option
            // walk without having to forge checksums.
            let trusted = tcp::parse(src, dst, packet.payload, RxChecksum::Trusted);
            if let Ok(seg) = &trusted {
                assert!(within(packet.payload, seg.payload));
                let header_len = packet.payload.len() - seg.payload.len();
                assert!((tcp::HEADER_LEN..=60).contains(&header_len));
                assert_eq!(header_len % 4, 0);
            }
            if let Ok(seg) = &verified {
                let t = trusted.as_ref().expect("verified but not trusted");
                assert_eq!(seg.repr, t.repr);
            }
        }
        ipv4::PROTO_ICMP => {
            if let Ok(Some(echo)) = icmp::parse_echo_request(packet.payload) {
                assert!(within(packet.payload, echo.data));
            }
        }
        _ => {}
    }
});
