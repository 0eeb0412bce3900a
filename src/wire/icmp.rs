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
    let icmp_len = HEADER_LEN + request.data.len();
    let total = ipv4::HEADER_LEN + icmp_len;
    if total > buf.len() {
        return Err(Error::BufferTooSmall);
    }
    let ip = Ipv4Repr { protocol: PROTO_ICMP, payload_len: icmp_len, ..*ip };
    let (ip_buf, msg) = buf[..total].split_at_mut(ipv4::HEADER_LEN);
    ipv4::emit(&ip, request.seq, ip_buf)?;
    msg[0] = TYPE_ECHO_REPLY;
    msg[1] = 0;
    msg[2..4].copy_from_slice(&[0, 0]);
    msg[4..6].copy_from_slice(&request.ident.to_be_bytes());
    msg[6..8].copy_from_slice(&request.seq.to_be_bytes());
    msg[HEADER_LEN..].copy_from_slice(request.data);
    let c = checksum::checksum(msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}
