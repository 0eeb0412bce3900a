//! Packets on the wire: IPv4, TCP and ICMP echo, parsed from and written to
//! byte slices, and the flow hash that spreads TCP flows over device queues
//! ([`flow`]).
//!
//! Parsing builds on `etherparse`'s zero-copy header slices and adds what the
//! stack needs on top: header checksum checks (RFC 791, RFC 9293 §3.1), the
//! consistency checks on lengths and offsets, and our own walk of the TCP
//! options (RFC 9293 §3.1 asks that unknown options be skipped by their
//! length; `etherparse`'s iterator stops at them). Emitting writes headers
//! directly into the caller's buffer, with no allocation.
//!
//! Every function here takes untrusted bytes: malformed input is an
//! [`Error`], never a panic and never a read out of bounds.
//!
//! IPv4 fragments are not reassembled: [`Error::Fragment`] reports them and
//! the stack drops them (TCP peers use path-MTU discovery with DF set).

pub mod checksum;
pub mod flow;
pub mod icmp;
pub mod ipv4;
pub mod tcp;

pub use icmp::IcmpEcho;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use tcp::{SackBlocks, TcpFlags, TcpOptions, TcpRepr, TcpSegment, Timestamps};

/// Why a packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than its headers or its own length fields say.
    Truncated,
    /// IP version other than 4.
    BadVersion,
    /// IPv4 IHL below 5, or an IPv4 total length below the header length.
    BadHeaderLength,
    /// IPv4 header checksum, TCP checksum or ICMP checksum mismatch.
    BadChecksum,
    /// TCP data offset below 5 or beyond the segment.
    BadDataOffset,
    /// A TCP option whose length is below 2, runs past the header, or does
    /// not match the fixed length of its kind.
    BadOption,
    /// An IPv4 fragment (MF set or a non-zero fragment offset).
    Fragment,
    /// The output buffer is too small for the packet.
    BufferTooSmall,
    /// A field that cannot be encoded (e.g. payload longer than 65535 bytes).
    Unencodable,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = match self {
            Error::Truncated => "truncated packet",
            Error::BadVersion => "not IPv4",
            Error::BadHeaderLength => "bad IPv4 header or total length",
            Error::BadChecksum => "checksum mismatch",
            Error::BadDataOffset => "bad TCP data offset",
            Error::BadOption => "malformed TCP option",
            Error::Fragment => "IPv4 fragment",
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
