//! ICMP echo request and reply (RFC 792, RFC 1122 §3.2.2.6).

use super::ipv4::{self, Ipv4Repr, PROTO_ICMP};
use super::{Error, checksum};

const TYPE_ECHO_REPLY: u8 = 0;
const TYPE_ECHO_REQUEST: u8 = 8;
const HEADER_LEN: usize = 8;

/// An ICMP echo message: identifier, sequence number and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpEcho<'a> {
    pub ident: u16,
    pub seq: u16,
    pub data: &'a [u8],
}

/// Parses an ICMP message; `Ok(Some(_))` for a valid echo request,
/// `Ok(None)` for any other valid ICMP message (which the stack ignores).
pub fn parse_echo_request(message: &[u8]) -> Result<Option<IcmpEcho<'_>>, Error> {
    if message.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    if checksum::checksum(message) != 0 {
        return Err(Error::BadChecksum);
    }
    if message[0] != TYPE_ECHO_REQUEST || message[1] != 0 {
        return Ok(None);
    }
    Ok(Some(IcmpEcho {
        ident: u16::from_be_bytes([message[4], message[5]]),
        seq: u16::from_be_bytes([message[6], message[7]]),
        data: &message[HEADER_LEN..],
    }))
}

/// Writes an IPv4 packet carrying an echo reply to `request` into `buf`;
/// `ip` gives the addresses. Returns the packet length.
pub fn emit_echo_reply(ip: &Ipv4Repr, request: &IcmpEcho<'_>, buf: &mut [u8]) -> Result<usize, Error> {
    let mut header = [TYPE_ECHO_REPLY, 0, 0, 0, 0, 0, 0, 0];
    header[4..6].copy_from_slice(&request.ident.to_be_bytes());
    header[6..8].copy_from_slice(&request.seq.to_be_bytes());
    emit_message(ip, request.seq, header, request.data, buf)
}

/// Writes an IPv4 packet carrying one ICMP message (RFC 792): the 8-byte
/// `header` (its checksum field is filled here), then `body`. `ip` gives
/// the addresses and TTL (its protocol and payload length are set here),
/// `ident` the identification. Returns the packet length.
pub(crate) fn emit_message(
    ip: &Ipv4Repr,
    ident: u16,
    header: [u8; HEADER_LEN],
    body: &[u8],
    buf: &mut [u8],
) -> Result<usize, Error> {
    let icmp_len = HEADER_LEN.checked_add(body.len()).ok_or(Error::Unencodable)?;
    let total = ipv4::HEADER_LEN.checked_add(icmp_len).ok_or(Error::Unencodable)?;
    if total > usize::from(u16::MAX) {
        return Err(Error::Unencodable);
    }
    let packet = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
    let (ip_buf, msg) = packet.split_at_mut(ipv4::HEADER_LEN);
    let ip = Ipv4Repr { protocol: PROTO_ICMP, payload_len: icmp_len, ..*ip };
    ipv4::emit(&ip, ident, ip_buf)?;
    let (head, rest) = msg.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&header);
    head[2..4].fill(0);
    rest.copy_from_slice(body);
    let c = checksum::checksum(msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}
