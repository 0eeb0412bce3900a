//! IPv6 headers (RFC 8200): the fixed header through
//! `etherparse::Ipv6HeaderSlice`, the extension headers (§4) through
//! `etherparse`'s raw extension and fragment header slices, with our own
//! processing rules on top:
//!
//! - Hop-by-Hop Options (0) only as the first extension header (§4.1);
//!   anywhere else the packet is discarded.
//! - Hop-by-Hop and Destination Options (60): the TLV options are walked
//!   (§4.2); Pad1 and PadN are skipped, and an unrecognised option is skipped
//!   only if the two high bits of its type are `00`; any other action
//!   discards the packet. A host recognises no other option.
//! - Routing (43): ignored when Segments Left is 0, otherwise the packet is
//!   discarded (§4.4; a host is never the next hop, and RFC 5095 forbids
//!   type 0 anyway).
//! - Fragment (44): a fragment is [`Error::Fragment`], as for IPv4 (we do not
//!   reassemble); an atomic fragment (offset 0, M clear) is processed as an
//!   unfragmented packet (RFC 6946 §4).
//! - No Next Header (59): the packet ends there (§4.7).
//!
//! Any other next-header value ends the walk and is the upper-layer
//! protocol. The walk is bounded by [`MAX_EXTENSION_HEADERS`].

use core::net::Ipv6Addr;

use etherparse::{Ipv6FragmentHeaderSlice, Ipv6HeaderSlice, Ipv6RawExtHeaderSlice};

use super::Error;

/// Length of the fixed IPv6 header; we never emit extension headers.
pub const HEADER_LEN: usize = 40;
/// Next-header value of ICMPv6 (RFC 4443 §1).
pub const PROTO_ICMPV6: u8 = 58;
/// Default hop limit of emitted packets (as Linux; RFC 8200 §3 leaves it to
/// the node).
pub const DEFAULT_HOP_LIMIT: u8 = 64;
/// Next-header value "No Next Header" (RFC 8200 §4.7).
pub const NO_NEXT_HEADER: u8 = 59;
/// The most extension headers one packet may carry before we give up: more
/// than any legitimate packet uses (RFC 8200 §4.1 orders at most eight
/// kinds), and a bound on the work one packet costs.
pub const MAX_EXTENSION_HEADERS: usize = 16;

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DESTINATION_OPTIONS: u8 = 60;

const OPT_PAD1: u8 = 0;
const OPT_PADN: u8 = 1;

/// The fields of an IPv6 header the stack uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The upper-layer protocol after any extension headers.
    pub next_header: u8,
    pub hop_limit: u8,
    /// Length of the upper-layer payload.
    pub payload_len: usize,
}

/// A validated IPv6 packet: its header fields and its upper-layer payload.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a> {
    pub repr: Ipv6Repr,
    /// The upper-layer payload, after the extension headers, trimmed to the
    /// payload length (link-layer padding is dropped).
    pub payload: &'a [u8],
}

/// Parses and validates an IPv6 packet (RFC 8200 §3, §4): version, the
/// payload length against the slice, and the extension headers by the
/// rules in the module documentation.
pub fn parse(packet: &[u8]) -> Result<Ipv6Packet<'_>, Error> {
    let header = fixed_header(packet)?;
    let end = HEADER_LEN + usize::from(header.payload_length());
    let body = packet.get(HEADER_LEN..end).ok_or(Error::Truncated)?;
    let (next_header, payload) = walk_extension_headers(header.next_header().0, body, Walk::Receive)?;
    Ok(Ipv6Packet {
        repr: Ipv6Repr {
            src: header.source_addr(),
            dst: header.destination_addr(),
            next_header,
            hop_limit: header.hop_limit(),
            payload_len: payload.len(),
        },
        payload,
    })
}

/// The fixed header at the start of `packet` (RFC 8200 §3).
pub(crate) fn fixed_header(packet: &[u8]) -> Result<Ipv6HeaderSlice<'_>, Error> {
    use etherparse::err::ipv6::HeaderSliceError;
    Ipv6HeaderSlice::from_slice(packet).map_err(|e| match e {
        HeaderSliceError::Len(_) => Error::Truncated,
        HeaderSliceError::Content(_) => Error::BadVersion,
    })
}

/// Writes a 40-byte header (traffic class 0, flow label 0, no extension
/// headers; RFC 8200 §3) for `repr` into the start of `buf`; returns 40.
/// A payload longer than 65535 bytes (a jumbogram, RFC 2675) is
/// [`Error::Unencodable`].
pub fn emit(repr: &Ipv6Repr, buf: &mut [u8]) -> Result<usize, Error> {
    let payload_len = u16::try_from(repr.payload_len).map_err(|_| Error::Unencodable)?;
    let h = buf.get_mut(..HEADER_LEN).ok_or(Error::BufferTooSmall)?;
    h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    h[4..6].copy_from_slice(&payload_len.to_be_bytes());
    h[6] = repr.next_header;
    h[7] = repr.hop_limit;
    h[8..24].copy_from_slice(&repr.src.octets());
    h[24..40].copy_from_slice(&repr.dst.octets());
    Ok(HEADER_LEN)
}

/// How the extension headers are walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// A packet received for us: RFC 8200 §4's processing rules apply.
    Receive,
    /// A packet quoted in an ICMPv6 error (one we sent): the headers are only
    /// skipped, by their lengths, to find the upper-layer header. A fragment
    /// with offset 0 holds that header and is walked through.
    Quote,
}

/// Walks the extension headers in `body` (the bytes after the fixed header),
/// starting with the fixed header's next-header value. Returns the
/// upper-layer protocol and its payload, a suffix of `body` (empty after No
/// Next Header). A header running past `body` is [`Error::Truncated`].
pub(crate) fn walk_extension_headers(
    mut next: u8,
    mut body: &[u8],
    mode: Walk,
) -> Result<(u8, &[u8]), Error> {
    let mut count = 0;
    loop {
        if next == NO_NEXT_HEADER {
            // §4.7: anything after the header is ignored.
            return Ok((NO_NEXT_HEADER, &body[body.len()..]));
        }
        if !matches!(next, HOP_BY_HOP | ROUTING | FRAGMENT | DESTINATION_OPTIONS) {
            return Ok((next, body));
        }
        if count == MAX_EXTENSION_HEADERS {
            return Err(Error::ExtensionHeader);
        }
        let (following, len) = if next == FRAGMENT {
            fragment_header(body, mode)?
        } else {
            let h = Ipv6RawExtHeaderSlice::from_slice(body).map_err(|_| Error::Truncated)?;
            if mode == Walk::Receive {
                check_header(next, count, h.payload())?;
            }
            (h.next_header().0, h.slice().len())
        };
        body = body.get(len..).ok_or(Error::Truncated)?;
        next = following;
        count += 1;
    }
}

/// The Fragment header at the start of `body` (RFC 8200 §4.5): its next
/// header and length, or [`Error::Fragment`] for a packet that needs
/// reassembly.
fn fragment_header(body: &[u8], mode: Walk) -> Result<(u8, usize), Error> {
    let h = Ipv6FragmentHeaderSlice::from_slice(body).map_err(|_| Error::Truncated)?;
    let first = h.fragment_offset().value() == 0;
    let passes = match mode {
        Walk::Receive => first && !h.more_fragments(), // atomic, RFC 6946 §4
        Walk::Quote => first,
    };
    if !passes {
        return Err(Error::Fragment);
    }
    Ok((h.next_header().0, h.slice().len()))
}

/// Applies RFC 8200 §4's rules to the extension header of type `kind`,
/// number `index` (from 0) in the chain, whose bytes after the next-header
/// and length fields are `data`.
fn check_header(kind: u8, index: usize, data: &[u8]) -> Result<(), Error> {
    match kind {
        // §4.1, §4.3: Hop-by-Hop Options only immediately after the header.
        HOP_BY_HOP if index != 0 => Err(Error::ExtensionHeader),
        HOP_BY_HOP | DESTINATION_OPTIONS => check_options(data),
        // §4.4: Routing Type at data[0], Segments Left at data[1].
        ROUTING => match data.get(1) {
            Some(0) => Ok(()),
            _ => Err(Error::ExtensionHeader),
        },
        _ => Ok(()),
    }
}

/// Walks the TLV-encoded options of a Hop-by-Hop or Destination Options
/// header (RFC 8200 §4.2). Pad1 is a single byte; every other option has a
/// length byte, and one running past the header is malformed. We recognise
/// only Pad1 and PadN: another option is skipped if the two high bits of its
/// type are `00` and otherwise means the packet is discarded
/// ([`Error::ExtensionHeader`]; we send no ICMP Parameter Problem).
fn check_options(mut area: &[u8]) -> Result<(), Error> {
    while let Some((&kind, rest)) = area.split_first() {
        if kind == OPT_PAD1 {
            area = rest;
            continue;
        }
        let (&len, data) = rest.split_first().ok_or(Error::ExtensionHeader)?;
        let after = data.get(usize::from(len)..).ok_or(Error::ExtensionHeader)?;
        if kind != OPT_PADN && kind >> 6 != 0b00 {
            return Err(Error::ExtensionHeader);
        }
        area = after;
    }
    Ok(())
}
