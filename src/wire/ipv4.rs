//! IPv4 headers (RFC 791), parsed through `etherparse::Ipv4HeaderSlice`.

use core::net::Ipv4Addr;

use etherparse::Ipv4HeaderSlice;

use super::{Error, checksum};

/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// Length of an IPv4 header without options; we never emit options.
pub const HEADER_LEN: usize = 20;
/// Default TTL of emitted packets (RFC 1122 §3.2.1.7 recommends 64).
pub const DEFAULT_TTL: u8 = 64;

/// The fields of an IPv4 header the stack uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    /// Length of the payload following the header.
    pub payload_len: usize,
}

/// A validated IPv4 packet: its header fields and its payload, trimmed to the
/// header's total length (link-layer padding is dropped).
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a> {
    pub repr: Ipv4Repr,
    pub payload: &'a [u8],
}

/// Parses and validates an IPv4 packet: version, IHL, total length against
/// the slice, the header checksum, and no fragmentation.
pub fn parse(packet: &[u8]) -> Result<Ipv4Packet<'_>, Error> {
    use etherparse::err::ipv4::{HeaderError, HeaderSliceError};
    let header = Ipv4HeaderSlice::from_slice(packet).map_err(|e| match e {
        HeaderSliceError::Len(_) => Error::Truncated,
        HeaderSliceError::Content(HeaderError::UnexpectedVersion { .. }) => Error::BadVersion,
        HeaderSliceError::Content(_) => Error::BadHeaderLength,
    })?;
    let header_len = header.slice().len();
    let total_len = usize::from(header.total_len());
    if total_len < header_len {
        return Err(Error::BadHeaderLength);
    }
    if total_len > packet.len() {
        return Err(Error::Truncated);
    }
    if checksum::checksum(header.slice()) != 0 {
        return Err(Error::BadChecksum);
    }
    if header.more_fragments() || header.fragments_offset().value() != 0 {
        return Err(Error::Fragment);
    }
    let payload = packet.get(header_len..total_len).ok_or(Error::Truncated)?;
    Ok(Ipv4Packet {
        repr: Ipv4Repr {
            src: header.source_addr(),
            dst: header.destination_addr(),
            protocol: header.protocol().0,
            ttl: header.ttl(),
            payload_len: payload.len(),
        },
        payload,
    })
}

/// Writes a 20-byte IPv4 header (DF set, no options) for `repr` into the
/// start of `buf` and returns its length. `ident` is the identification
/// field; with DF set it only has to be unique per flow (RFC 6864).
pub fn emit(repr: &Ipv4Repr, ident: u16, buf: &mut [u8]) -> Result<usize, Error> {
    let total = HEADER_LEN.checked_add(repr.payload_len).ok_or(Error::Unencodable)?;
    let total = u16::try_from(total).map_err(|_| Error::Unencodable)?;
    let h = buf.get_mut(..HEADER_LEN).ok_or(Error::BufferTooSmall)?;
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    h[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF, offset 0
    h[8] = repr.ttl;
    h[9] = repr.protocol;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&repr.src.octets());
    h[16..20].copy_from_slice(&repr.dst.octets());
    let c = checksum::checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    Ok(HEADER_LEN)
}
