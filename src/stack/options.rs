//! Per-socket options of the network layer: the TTL (IPv4, RFC 791 §3.1)
//! or hop limit (IPv6, RFC 8200 §3) of a socket's packets, as Linux's
//! `IP_TTL` and `IPV6_UNICAST_HOPS` set it.

use super::sockets::Socket;
use super::{SocketHandle, Stack};
use crate::error::Error;

impl Stack {
    /// Sets the TTL (IPv4) or hop limit (IPv6) of the packets of `h` from
    /// now on: a connection's segments and resets, or a listener's SYN-ACKs
    /// and the connections it opens after this call (as Linux's `IP_TTL`,
    /// inherited by accepted sockets). 0 is `InvalidInput`, as on Linux.
    pub fn set_ttl(&mut self, h: SocketHandle, ttl: u8) -> Result<(), Error> {
        if ttl == 0 {
            return Err(Error::InvalidInput);
        }
        self.held(h)?;
        match self.sockets.get_mut(h).and_then(|s| s.socket.as_mut()) {
            Some(Socket::Tcp(t)) => t.ttl = ttl,
            Some(Socket::Listener(l)) => l.ttl = ttl,
            None => return Err(Error::InvalidHandle),
        }
        Ok(())
    }

    /// The TTL (hop limit) of the packets of `h`: [`super::StackConfig::ttl`]
    /// unless set.
    pub fn ttl(&self, h: SocketHandle) -> Result<u8, Error> {
        Ok(match self.held(h)? {
            Socket::Tcp(t) => t.ttl,
            Socket::Listener(l) => l.ttl,
        })
    }
}
