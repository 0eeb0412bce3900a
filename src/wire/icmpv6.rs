//! ICMPv6 echo request and reply (RFC 4443 §4.1, §4.2), checksummed over the
//! IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1). ICMPv6 errors are in
//! [`super::icmp_error`].

use core::net::Ipv6Addr;

use super::icmp::IcmpEcho;
use super::ipv6::{self, Ipv6Repr, PROTO_ICMPV6};
use super::{Error, checksum};

const TYPE_ECHO_REQUEST: u8 = 128;
const TYPE_ECHO_REPLY: u8 = 129;
/// Type, code, checksum and the four bytes every message has (RFC 4443 §2.1).
pub(crate) const HEADER_LEN: usize = 8;

/// Parses an ICMPv6 message (checksum verified over the IPv6 pseudo-header
/// with `src`/`dst`); `Ok(Some)` for a valid Echo Request (type 128 code 0),
/// `Ok(None)` for any other valid message (which the stack ignores).
pub fn parse_echo_request(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    message: &[u8],
) -> Result<Option<IcmpEcho<'_>>, Error> {
    let (header, data) = verify(src, dst, message)?;
    let [ty, code, _, _, i0, i1, s0, s1] = *header;
    if ty != TYPE_ECHO_REQUEST || code != 0 {
        return Ok(None);
    }
    Ok(Some(IcmpEcho { ident: u16::from_be_bytes([i0, i1]), seq: u16::from_be_bytes([s0, s1]), data }))
}

/// Writes an IPv6 packet carrying an Echo Reply (type 129, RFC 4443 §4.2) to
/// `request` into `buf`; `ip` gives src/dst/hop limit (its `next_header` and
/// `payload_len` are ignored and set). Returns the packet length.
pub fn emit_echo_reply(ip: &Ipv6Repr, request: &IcmpEcho<'_>, buf: &mut [u8]) -> Result<usize, Error> {
    let mut header = [TYPE_ECHO_REPLY, 0, 0, 0, 0, 0, 0, 0];
    header[4..6].copy_from_slice(&request.ident.to_be_bytes());
    header[6..8].copy_from_slice(&request.seq.to_be_bytes());
    emit_message(ip, header, request.data, buf)
}

/// Checks an ICMPv6 message's length and checksum (RFC 4443 §2.3); returns
/// its 8-byte header and the bytes after it.
pub(crate) fn verify(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    message: &[u8],
) -> Result<(&[u8; HEADER_LEN], &[u8]), Error> {
    let split = message.split_first_chunk::<HEADER_LEN>().ok_or(Error::Truncated)?;
    let length = u32::try_from(message.len()).map_err(|_| Error::Truncated)?;
    let sum = checksum::add_bytes(checksum::pseudo_header_v6(src, dst, PROTO_ICMPV6, length), message);
    if checksum::fold(sum) != 0xffff {
        return Err(Error::BadChecksum);
    }
    Ok(split)
}

/// Writes an IPv6 packet carrying the ICMPv6 message `header` (checksum
/// field ignored) followed by `body` into `buf`, the checksum filled in;
/// `ip` gives src/dst/hop limit. Returns the packet length.
pub(crate) fn emit_message(
    ip: &Ipv6Repr,
    header: [u8; HEADER_LEN],
    body: &[u8],
    buf: &mut [u8],
) -> Result<usize, Error> {
    // The payload length is 16 bits (no jumbograms, RFC 2675).
    let length =
        HEADER_LEN.checked_add(body.len()).and_then(|n| u16::try_from(n).ok()).ok_or(Error::Unencodable)?;
    let icmp_len = usize::from(length);
    let ip = Ipv6Repr { next_header: PROTO_ICMPV6, payload_len: icmp_len, ..*ip };
    let total = ipv6::HEADER_LEN + icmp_len;
    let packet = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
    let (ip_buf, msg) = packet.split_at_mut(ipv6::HEADER_LEN);
    ipv6::emit(&ip, ip_buf)?;
    let (head, rest) = msg.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&header);
    head[2..4].fill(0);
    rest.copy_from_slice(body);
    let c = !checksum::fold(checksum::add_bytes(
        checksum::pseudo_header_v6(ip.src, ip.dst, PROTO_ICMPV6, u32::from(length)),
        msg,
    ));
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}
