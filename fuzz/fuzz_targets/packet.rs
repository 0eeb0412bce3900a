//! Feeds arbitrary bytes to the packet parsers the way the stack does: by IP
//! version, `ipv4::parse` or `ipv6::parse` (extension headers walked), then
//! `tcp::parse`, or the ICMP parsers (`icmp::parse_echo_request` and
//! `parse_icmpv4_error`, or `icmpv6::parse_echo_request` and
//! `parse_icmpv6_error`) and `quoted_tcp` on what an error quotes. Besides
//! "no panic", it checks that every payload slice lies within the input and
//! that lengths agree with the headers. The ICMP and quote parsers also run
//! on the raw bytes.
//!
//! The first input byte is a control byte, not packet data: bit 0 asks for
//! the IPv4 header checksum and bit 1 for the TCP/ICMP/ICMPv6 checksum to be
//! recomputed before parsing, so the fuzzer gets past the checksum checks
//! (it could not forge a one's-complement sum by itself) and explores the
//! length, offset, option and extension-header handling behind them.

#![no_main]

use core::net::{IpAddr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use trust::wire::checksum::rewrite;
use trust::wire::{
    IcmpError, RxChecksum, icmp, icmpv6, ipv4, ipv6, parse_icmpv4_error, parse_icmpv6_error, quoted_tcp, tcp,
};

fuzz_target!(|data: &[u8]| {
    let Some((&control, packet)) = data.split_first() else {
        return;
    };
    let mut packet = packet.to_vec();
    rewrite(&mut packet, control & 1 != 0, control & 2 != 0);
    match packet.first().map(|b| b >> 4) {
        Some(6) => check_v6(&packet),
        _ => check_v4(&packet),
    }
    // The parsers that take a bare message, on the raw bytes.
    check_icmpv4(&packet);
    check_icmpv6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, &packet);
    check_quote(&packet);
});

fn check_v4(data: &[u8]) {
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
        ipv4::PROTO_TCP => check_tcp(src.into(), dst.into(), packet.payload),
        ipv4::PROTO_ICMP => check_icmpv4(packet.payload),
        _ => {}
    }
}

fn check_v6(data: &[u8]) {
    let Ok(packet) = ipv6::parse(data) else {
        return;
    };
    assert!(within(data, packet.payload));
    assert_eq!(packet.payload.len(), packet.repr.payload_len);
    // The payload is a suffix of what the payload length covers.
    let end = ipv6::HEADER_LEN + usize::from(u16::from_be_bytes([data[4], data[5]]));
    assert_eq!(packet.payload.as_ptr_range().end, data[..end].as_ptr_range().end);
    let (src, dst) = (packet.repr.src, packet.repr.dst);
    match packet.repr.next_header {
        ipv4::PROTO_TCP => check_tcp(src.into(), dst.into(), packet.payload),
        ipv6::PROTO_ICMPV6 => check_icmpv6(src, dst, packet.payload),
        ipv6::NO_NEXT_HEADER => assert!(packet.payload.is_empty()),
        next => assert!(![0, 43, 44, 60].contains(&next), "walk stopped at extension header {next}"),
    }
}

fn check_tcp(src: IpAddr, dst: IpAddr, payload: &[u8]) {
    let verified = tcp::parse(src, dst, payload, RxChecksum::Verify);
    let trusted = tcp::parse(src, dst, payload, RxChecksum::Trusted);
    if let Ok(seg) = &trusted {
        assert!(within(payload, seg.payload));
        let header_len = payload.len() - seg.payload.len();
        assert!((tcp::HEADER_LEN..=60).contains(&header_len));
        assert_eq!(header_len % 4, 0);
        let options = tcp::parse_options(&payload[tcp::HEADER_LEN..header_len]);
        assert_eq!(options, Ok(seg.repr.options));
    }
    match (&verified, &trusted) {
        (Ok(v), Ok(t)) => assert_eq!(v.repr, t.repr),
        (Ok(_), Err(e)) => panic!("verified but trusted fails with {e:?}"),
        _ => {}
    }
}

fn check_icmpv4(message: &[u8]) {
    let echo = icmp::parse_echo_request(message);
    if let Ok(Some(echo)) = &echo {
        assert!(within(message, echo.data));
        assert_eq!(echo.data.len() + 8, message.len());
    }
    match parse_icmpv4_error(message) {
        Ok(Some(err)) => {
            assert_eq!(echo, Ok(None));
            check_error(message, &err);
        }
        Ok(None) => assert!(echo.is_ok()),
        Err(e) => assert_eq!(echo, Err(e)),
    }
}

fn check_icmpv6(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) {
    let echo = icmpv6::parse_echo_request(src, dst, message);
    if let Ok(Some(echo)) = &echo {
        assert!(within(message, echo.data));
        assert_eq!(echo.data.len() + 8, message.len());
    }
    match parse_icmpv6_error(src, dst, message) {
        Ok(Some(err)) => {
            assert_eq!(echo, Ok(None));
            check_error(message, &err);
        }
        Ok(None) => assert!(echo.is_ok()),
        Err(e) => assert_eq!(echo, Err(e)),
    }
}

fn check_error(message: &[u8], err: &IcmpError<'_>) {
    assert!(within(message, err.quoted));
    assert_eq!(err.quoted.len() + 8, message.len());
    check_quote(err.quoted);
}

/// What `quoted_tcp` accepts has the quoted packet's family and addresses.
fn check_quote(quoted: &[u8]) {
    let Ok(q) = quoted_tcp(quoted) else {
        return;
    };
    match quoted[0] >> 4 {
        4 => {
            let src: [u8; 4] = quoted[12..16].try_into().unwrap();
            let dst: [u8; 4] = quoted[16..20].try_into().unwrap();
            assert_eq!((q.src.ip(), q.dst.ip()), (IpAddr::from(src), IpAddr::from(dst)));
            assert_eq!(quoted[9], ipv4::PROTO_TCP);
            let tcp_start = usize::from(quoted[0] & 0xf) * 4;
            assert_eq!(q.src.port(), u16::from_be_bytes([quoted[tcp_start], quoted[tcp_start + 1]]));
        }
        6 => {
            let src: [u8; 16] = quoted[8..24].try_into().unwrap();
            let dst: [u8; 16] = quoted[24..40].try_into().unwrap();
            assert_eq!((q.src.ip(), q.dst.ip()), (IpAddr::from(src), IpAddr::from(dst)));
        }
        v => panic!("quoted version {v} accepted"),
    }
}

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    o.start <= i.start && i.end <= o.end
}
