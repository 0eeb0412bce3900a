//! The errors socket operations report, and their `std::io` kinds.

use std::io;

/// Why a socket operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// Nothing to do yet: no data, no room, no pending connection.
    WouldBlock,
    /// The operation needs an established connection.
    NotConnected,
    /// The peer answered our SYN with a RST (RFC 9293 §3.10.7.3).
    ConnectionRefused,
    /// The peer reset the connection (RFC 9293 §3.10.7.4, second step).
    ConnectionReset,
    /// Retransmissions, probes or keep-alives went unanswered
    /// (RFC 9293 §3.8.3, RFC 1122 §4.2.3.5).
    TimedOut,
    /// Writing after the write side was shut down or the connection closed.
    BrokenPipe,
    /// The local port is taken.
    AddrInUse,
    /// No free ephemeral port, or the connection table is full.
    AddrNotAvailable,
    /// The handle is unknown, stale, or of the wrong kind.
    InvalidHandle,
    /// An argument is out of range.
    InvalidInput,
    /// ICMP says the destination host cannot be reached (RFC 1122
    /// §4.2.3.9; a soft error unless the connection is still opening).
    HostUnreachable,
    /// ICMP says the destination network cannot be reached.
    NetworkUnreachable,
}

impl Error {
    /// The `std::io::ErrorKind` a `std::net` user expects.
    pub fn kind(self) -> io::ErrorKind {
        match self {
            Error::WouldBlock => io::ErrorKind::WouldBlock,
            Error::NotConnected => io::ErrorKind::NotConnected,
            Error::ConnectionRefused => io::ErrorKind::ConnectionRefused,
            Error::ConnectionReset => io::ErrorKind::ConnectionReset,
            Error::TimedOut => io::ErrorKind::TimedOut,
            Error::BrokenPipe => io::ErrorKind::BrokenPipe,
            Error::AddrInUse => io::ErrorKind::AddrInUse,
            Error::AddrNotAvailable => io::ErrorKind::AddrNotAvailable,
            Error::InvalidHandle | Error::InvalidInput => io::ErrorKind::InvalidInput,
            Error::HostUnreachable => io::ErrorKind::HostUnreachable,
            Error::NetworkUnreachable => io::ErrorKind::NetworkUnreachable,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = match self {
            Error::WouldBlock => "operation would block",
            Error::NotConnected => "socket is not connected",
            Error::ConnectionRefused => "connection refused",
            Error::ConnectionReset => "connection reset by peer",
            Error::TimedOut => "connection timed out",
            Error::BrokenPipe => "broken pipe",
            Error::AddrInUse => "address in use",
            Error::AddrNotAvailable => "address not available",
            Error::InvalidHandle => "invalid socket handle",
            Error::InvalidInput => "invalid argument",
            Error::HostUnreachable => "host unreachable",
            Error::NetworkUnreachable => "network unreachable",
        };
        f.write_str(text)
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}
