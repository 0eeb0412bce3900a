//! ICMP error messages as TCP uses them (RFC 1122 §4.2.3.9, RFC 5927):
//! Packet Too Big for path-MTU discovery (RFC 1191 §4, RFC 8201 §4), and
//! Destination Unreachable, Time Exceeded and Parameter Problem as soft or
//! hard errors; for ICMPv4 (RFC 792) and ICMPv6 (RFC 4443 §3). Each quotes
//! the start of the packet that caused it, from which [`quoted_tcp`] takes
//! the connection it concerns.
//!
//! Nothing here judges whether an error is believable: the caller checks the
//! quoted sequence number against its window (RFC 5927 §4.1) and clamps a
//! reported MTU (RFC 1191 §3, RFC 8201 §4: never below 68 or 1280 bytes).

use core::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::ipv4::{self, Ipv4Repr, PROTO_TCP};
use super::ipv6::{self, Ipv6Repr, Walk};
use super::{Error, checksum, icmp, icmpv6};

/// ICMP header length: type, code, checksum and four type-specific bytes
/// (RFC 792, RFC 4443 §2.1).
const HEADER_LEN: usize = 8;
/// What of the quoted TCP header an error is sure to carry: ports and
/// sequence number (RFC 792 quotes 64 bits of the datagram's data).
const QUOTED_TCP_LEN: usize = 8;

const V4_DEST_UNREACHABLE: u8 = 3;
/// Destination Unreachable code "fragmentation needed and DF set".
const V4_FRAG_NEEDED: u8 = 4;
const V4_TIME_EXCEEDED: u8 = 11;
const V4_PARAMETER_PROBLEM: u8 = 12;

const V6_DEST_UNREACHABLE: u8 = 1;
const V6_PACKET_TOO_BIG: u8 = 2;
const V6_TIME_EXCEEDED: u8 = 3;
const V6_PARAMETER_PROBLEM: u8 = 4;

/// What an ICMP error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpErrorKind {
    /// ICMPv4 type 3 code 4 (next-hop MTU from the header, RFC 1191 §4; 0
    /// when the router did not say) or ICMPv6 Packet Too Big (type 2,
    /// RFC 8201).
    PacketTooBig { mtu: u32 },
    /// ICMPv4 type 3 (any other code) or ICMPv6 type 1: the code as
    /// received.
    Unreachable { code: u8 },
    /// ICMPv4 type 11 or ICMPv6 type 3.
    TimeExceeded,
    /// ICMPv4 type 12 or ICMPv6 type 4.
    ParameterProblem,
}

/// A valid ICMP error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError<'a> {
    pub kind: IcmpErrorKind,
    /// The start of the packet that caused the error, as quoted (IP header
    /// first).
    pub quoted: &'a [u8],
}

/// What a quoted TCP packet says: the addresses and ports as the quoted (our
/// outgoing) packet had them, and its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTcp {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
}

/// Parses an ICMPv4 message (the payload of an IPv4 packet, checksum
/// verified, RFC 792); `Ok(Some)` for Destination Unreachable, Time Exceeded
/// or Parameter Problem, `Ok(None)` for any other valid message (echo,
/// Redirect, and Source Quench, which RFC 6633 deprecates).
pub fn parse_icmpv4_error(message: &[u8]) -> Result<Option<IcmpError<'_>>, Error> {
    let (header, quoted) = message.split_first_chunk::<HEADER_LEN>().ok_or(Error::Truncated)?;
    if checksum::checksum(message) != 0 {
        return Err(Error::BadChecksum);
    }
    let [ty, code, _, _, _, _, m0, m1] = *header;
    let kind = match (ty, code) {
        // RFC 1191 §4: the next-hop MTU in the low 16 bits of the second word.
        (V4_DEST_UNREACHABLE, V4_FRAG_NEEDED) => {
            IcmpErrorKind::PacketTooBig { mtu: u32::from(u16::from_be_bytes([m0, m1])) }
        }
        (V4_DEST_UNREACHABLE, code) => IcmpErrorKind::Unreachable { code },
        (V4_TIME_EXCEEDED, _) => IcmpErrorKind::TimeExceeded,
        (V4_PARAMETER_PROBLEM, _) => IcmpErrorKind::ParameterProblem,
        _ => return Ok(None),
    };
    Ok(Some(IcmpError { kind, quoted }))
}

/// Parses an ICMPv6 message from `src` to `dst` (checksum verified over the
/// pseudo-header, RFC 4443 §2.3); `Ok(Some)` for the errors of RFC 4443 §3,
/// `Ok(None)` for informational messages (types 128 and up) and for error
/// types we do not know (RFC 4443 §2.4 (a) would pass those up; TCP has no
/// use for them).
pub fn parse_icmpv6_error(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    message: &[u8],
) -> Result<Option<IcmpError<'_>>, Error> {
    let (header, quoted) = icmpv6::verify(src, dst, message)?;
    let [ty, code, _, _, m0, m1, m2, m3] = *header;
    let kind = match ty {
        V6_DEST_UNREACHABLE => IcmpErrorKind::Unreachable { code },
        // RFC 4443 §3.2: the MTU is the whole second word; the code is ignored.
        V6_PACKET_TOO_BIG => IcmpErrorKind::PacketTooBig { mtu: u32::from_be_bytes([m0, m1, m2, m3]) },
        V6_TIME_EXCEEDED => IcmpErrorKind::TimeExceeded,
        V6_PARAMETER_PROBLEM => IcmpErrorKind::ParameterProblem,
        _ => return Ok(None),
    };
    Ok(Some(IcmpError { kind, quoted }))
}

/// Reads the TCP packet an ICMP error quotes: the IP header (IPv4 or IPv6 by
/// the version nibble), then the first 8 bytes of TCP (ports and sequence
/// number).
///
/// The quote is usually truncated (RFC 792 promises 64 bits of data,
/// RFC 1812 §4.3.2.3 and RFC 4443 §2.4 (c) as much as fits), so the quoted
/// IP length fields are not checked against it, and no checksum of the quote
/// is verified. Required: the whole IPv4 header (IHL) or the IPv6 header and
/// its extension headers (skipped by length, [`ipv6`]), then 8 bytes of TCP
/// ([`Error::Truncated`] otherwise); TCP as the protocol
/// ([`Error::NotTcp`]); and not a later fragment, which holds no TCP header
/// ([`Error::Fragment`]).
pub fn quoted_tcp(quoted: &[u8]) -> Result<QuotedTcp, Error> {
    let (src, dst, tcp) = match quoted.first().map(|b| b >> 4) {
        None => return Err(Error::Truncated),
        Some(4) => quoted_ipv4(quoted)?,
        Some(6) => quoted_ipv6(quoted)?,
        Some(_) => return Err(Error::BadVersion),
    };
    let t = tcp.first_chunk::<QUOTED_TCP_LEN>().ok_or(Error::Truncated)?;
    Ok(QuotedTcp {
        src: SocketAddr::new(src, u16::from_be_bytes([t[0], t[1]])),
        dst: SocketAddr::new(dst, u16::from_be_bytes([t[2], t[3]])),
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
    })
}

/// The addresses of a quoted IPv4 header (RFC 791) and what follows it.
fn quoted_ipv4(quoted: &[u8]) -> Result<(IpAddr, IpAddr, &[u8]), Error> {
    let h = quoted.first_chunk::<{ ipv4::HEADER_LEN }>().ok_or(Error::Truncated)?;
    let header_len = usize::from(h[0] & 0xf) * 4;
    if header_len < ipv4::HEADER_LEN {
        return Err(Error::BadHeaderLength);
    }
    let rest = quoted.get(header_len..).ok_or(Error::Truncated)?;
    if h[9] != PROTO_TCP {
        return Err(Error::NotTcp);
    }
    if u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 {
        return Err(Error::Fragment);
    }
    let src = IpAddr::from([h[12], h[13], h[14], h[15]]);
    let dst = IpAddr::from([h[16], h[17], h[18], h[19]]);
    Ok((src, dst, rest))
}

/// The addresses of a quoted IPv6 header (RFC 8200 §3) and what follows its
/// extension headers.
fn quoted_ipv6(quoted: &[u8]) -> Result<(IpAddr, IpAddr, &[u8]), Error> {
    let header = ipv6::fixed_header(quoted)?;
    let body = quoted.get(ipv6::HEADER_LEN..).ok_or(Error::Truncated)?;
    let (next, rest) = ipv6::walk_extension_headers(header.next_header().0, body, Walk::Quote)?;
    if next != PROTO_TCP {
        return Err(Error::NotTcp);
    }
    Ok((header.source_addr().into(), header.destination_addr().into(), rest))
}

/// Writes an IPv4 packet (identification 0, DF set) carrying an ICMPv4 error
/// of `kind` that quotes `quoted` into `buf`; `ip` gives src/dst/TTL (its
/// `protocol` and `payload_len` are ignored and set). Returns the packet
/// length. For tests, fuzzers and the simulator: nothing trims the quote to
/// RFC 1812 §4.3.2.3's 576 bytes.
///
/// `Unreachable { code: 4 }` is written as type 3 code 4 with no MTU, which
/// reads back as `PacketTooBig { mtu: 0 }`; a `PacketTooBig` MTU above 65535
/// is [`Error::Unencodable`].
pub fn emit_icmpv4_error(
    kind: IcmpErrorKind,
    ip: &Ipv4Repr,
    quoted: &[u8],
    buf: &mut [u8],
) -> Result<usize, Error> {
    let mut header = [0u8; HEADER_LEN];
    (header[0], header[1]) = match kind {
        IcmpErrorKind::PacketTooBig { mtu } => {
            let mtu = u16::try_from(mtu).map_err(|_| Error::Unencodable)?;
            header[6..8].copy_from_slice(&mtu.to_be_bytes());
            (V4_DEST_UNREACHABLE, V4_FRAG_NEEDED)
        }
        IcmpErrorKind::Unreachable { code } => (V4_DEST_UNREACHABLE, code),
        IcmpErrorKind::TimeExceeded => (V4_TIME_EXCEEDED, 0),
        IcmpErrorKind::ParameterProblem => (V4_PARAMETER_PROBLEM, 0),
    };
    icmp::emit_message(ip, 0, header, quoted, buf)
}

/// Writes an IPv6 packet carrying an ICMPv6 error of `kind` (code 0 but for
/// `Unreachable`, pointer 0 for `ParameterProblem`) that quotes `quoted`
/// into `buf`; `ip` gives src/dst/hop limit (its `next_header` and
/// `payload_len` are ignored and set). Returns the packet length. For tests,
/// fuzzers and the simulator: nothing trims the quote to RFC 4443 §2.4 (c)'s
/// 1280-byte packet.
pub fn emit_icmpv6_error(
    kind: IcmpErrorKind,
    ip: &Ipv6Repr,
    quoted: &[u8],
    buf: &mut [u8],
) -> Result<usize, Error> {
    let mut header = [0u8; HEADER_LEN];
    (header[0], header[1]) = match kind {
        IcmpErrorKind::PacketTooBig { mtu } => {
            header[4..8].copy_from_slice(&mtu.to_be_bytes());
            (V6_PACKET_TOO_BIG, 0)
        }
        IcmpErrorKind::Unreachable { code } => (V6_DEST_UNREACHABLE, code),
        IcmpErrorKind::TimeExceeded => (V6_TIME_EXCEEDED, 0),
        IcmpErrorKind::ParameterProblem => (V6_PARAMETER_PROBLEM, 0),
    };
    icmpv6::emit_message(ip, header, quoted, buf)
}
