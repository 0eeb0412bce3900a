//! Packets on the wire: IPv4 ([`ipv4`]) and IPv6 ([`ipv6`]), TCP
//! ([`tcp`]), ICMP and ICMPv6 echo ([`icmp`], [`icmpv6`]), and the ICMP
//! errors path-MTU discovery and soft errors need ([`icmp_error`]), parsed
//! from and written to byte slices; and the flow hash that spreads TCP flows
//! over device queues ([`flow`]).
//!
//! Parsing builds on `etherparse`'s zero-copy header slices and adds what the
//! stack needs on top: checksum checks (RFC 791, RFC 9293 §3.1, RFC 4443
//! §2.3), the consistency checks on lengths and offsets, our own walk of the
//! TCP options (RFC 9293 §3.1 asks that unknown options be skipped by their
//! length; `etherparse`'s iterator stops at them), and RFC 8200 §4's rules
//! for IPv6 extension headers. Emitting writes headers directly into the
//! caller's buffer, with no allocation.
//!
//! Every function here takes untrusted bytes: malformed input is an
//! [`Error`], never a panic and never a read out of bounds.
//!
//! Fragments (IPv4, or IPv6 with a Fragment header) are not reassembled:
//! [`Error::Fragment`] reports them and the stack drops them (TCP peers use
//! path-MTU discovery, RFC 1191 and RFC 8201).

pub mod checksum;
pub mod flow;
pub mod icmp;
pub mod icmp_error;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;

pub use icmp::IcmpEcho;
pub use icmp_error::{
    IcmpError, IcmpErrorKind, QuotedTcp, emit_icmpv4_error, emit_icmpv6_error, parse_icmpv4_error,
    parse_icmpv6_error, quoted_tcp,
};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use tcp::{SackBlocks, TcpFlags, TcpOptions, TcpRepr, TcpSegment, Timestamps};

/// Why a packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than its headers or its own length fields say.
    Truncated,
    /// An IP version other than the one expected (4 for `ipv4`, 6 for
    /// `ipv6`, either for a quoted packet).
    BadVersion,
    /// IPv4 IHL below 5, or an IPv4 total length below the header length.
    BadHeaderLength,
    /// IPv4 header checksum, TCP checksum, ICMP or ICMPv6 checksum mismatch.
    BadChecksum,
    /// TCP data offset below 5 or beyond the segment.
    BadDataOffset,
    /// A TCP option whose length is below 2, runs past the header, or does
    /// not match the fixed length of its kind.
    BadOption,
    /// An IPv4 fragment (MF set or a non-zero fragment offset), or an IPv6
    /// packet with a Fragment header that is not atomic (RFC 8200 §4.5,
    /// RFC 6946).
    Fragment,
    /// An IPv6 extension header we must discard the packet for (RFC 8200
    /// §4): Hop-by-Hop Options other than first, an option whose type says
    /// discard or that runs past its header, a Routing header with Segments
    /// Left above 0, or more than [`ipv6::MAX_EXTENSION_HEADERS`] headers.
    ExtensionHeader,
    /// The packet an ICMP error quotes does not carry TCP.
    NotTcp,
    /// The output buffer is too small for the packet.
    BufferTooSmall,
    /// A field that cannot be encoded (e.g. payload longer than 65535 bytes).
    Unencodable,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = match self {
            Error::Truncated => "truncated packet",
            Error::BadVersion => "unknown IP version",
            Error::BadHeaderLength => "bad IPv4 header or total length",
            Error::BadChecksum => "checksum mismatch",
            Error::BadDataOffset => "bad TCP data offset",
            Error::BadOption => "malformed TCP option",
            Error::Fragment => "IP fragment",
            Error::ExtensionHeader => "IPv6 extension header we must discard",
            Error::NotTcp => "quoted packet is not TCP",
            Error::BufferTooSmall => "output buffer too small",
            Error::Unencodable => "field cannot be encoded",
        };
        f.write_str(text)
    }
}

impl std::error::Error for Error {}

/// How to treat the transport checksum of a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RxChecksum {
    /// Verify it (the default).
    #[default]
    Verify,
    /// The device vouches for the payload (e.g. a TUN packet flagged
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM` or `DATA_VALID`): the field may hold only
    /// the pseudo-header sum, so it is not checked.
    Trusted,
}

/// How to fill the transport checksum of an emitted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxChecksum {
    /// Compute the full checksum (the default).
    #[default]
    Full,
    /// Write only the folded pseudo-header sum, uncomplemented, for a device
    /// that completes it (`VIRTIO_NET_HDR_F_NEEDS_CSUM`, `csum_start` at the
    /// transport header, `csum_offset` 16 for TCP).
    Partial,
}

#[cfg(test)]
mod tests;
