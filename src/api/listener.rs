//! [`TcpListener`]: accepts connections, used like `std::net::TcpListener`.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use super::socket::{Kick, OwnedSocket};
use super::{Interface, Source, TcpStream};

/// Pending connections a listener queues by default (completed
/// handshakes not yet accepted, plus half-open ones).
pub const DEFAULT_BACKLOG: usize = 1024;

/// A listening socket on an [`Interface`]'s address. Dropping the last
/// handle to it ([`TcpListener::try_clone`]) resets the connections it
/// queued that nobody accepted.
///
/// A server that answers each connection on a thread of its own:
///
/// ```
/// # use std::net::Ipv4Addr;
/// use std::io::{Read, Write};
/// use trust::api::{Config, Interface, TcpListener, TcpStream};
///
/// # fn main() -> std::io::Result<()> {
/// # let (client, iface) = Interface::pair(
/// #     Config::for_device(Ipv4Addr::new(10, 0, 0, 1)),
/// #     Config::for_device(Ipv4Addr::new(10, 0, 0, 2)),
/// # )?;
/// let listener = TcpListener::bind(&iface, 80)?;
/// std::thread::spawn(move || {
///     for stream in listener.incoming() {
///         let mut stream = stream?;
///         std::thread::spawn(move || stream.write_all(b"hello\n"));
///     }
///     Ok::<_, std::io::Error>(())
/// });
/// # let mut greeting = String::new();
/// # TcpStream::connect(&client, "10.0.0.2:80")?.read_to_string(&mut greeting)?;
/// # assert_eq!(greeting, "hello\n");
/// # Ok(()) }
/// ```
pub struct TcpListener {
    sock: Arc<OwnedSocket>,
}

impl TcpListener {
    /// Listens on `port` of the interface's address (`AddrInUse` if it
    /// is taken).
    pub fn bind(iface: &Interface, port: u16) -> io::Result<TcpListener> {
        Self::bind_with_backlog(iface, port, DEFAULT_BACKLOG)
    }

    /// Listens on `addr`, as `std::net::TcpListener::bind` takes it: its
    /// address must be unspecified (`0.0.0.0`, `[::]`) or one of the
    /// interface's own, and the listener then takes connections on every
    /// family the interface speaks. `AddrNotAvailable` for an address the
    /// interface does not have.
    ///
    /// ```no_run
    /// # fn demo(iface: &trust::api::Interface) -> std::io::Result<()> {
    /// let listener = trust::api::TcpListener::bind_addr(iface, "0.0.0.0:8080")?;
    /// # let _ = listener; Ok(()) }
    /// ```
    pub fn bind_addr(iface: &Interface, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let ours = |ip: IpAddr| {
            ip.is_unspecified()
                || ip == IpAddr::V4(iface.addr())
                || iface.addr6().is_some_and(|a| ip == IpAddr::V6(a))
        };
        let mut seen = None;
        for a in addr.to_socket_addrs()? {
            if ours(a.ip()) {
                return Self::bind(iface, a.port());
            }
            seen = Some(a);
        }
        Err(match seen {
            Some(a) => io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{} is not an address of this interface", a.ip()),
            ),
            None => io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses"),
        })
    }

    /// [`TcpListener::bind`] with the length of the queue of pending
    /// connections; SYNs beyond it are dropped (the peer retries).
    pub fn bind_with_backlog(iface: &Interface, port: u16, backlog: usize) -> io::Result<TcpListener> {
        let inner = iface.inner();
        let mut core = inner.lock();
        let h = core.stack.listen(port, backlog)?;
        let sock = Arc::new(OwnedSocket::new(inner, &mut core, h));
        Ok(TcpListener { sock })
    }

    /// Waits for a connection whose handshake has completed. The stream
    /// is non-blocking if the listener is, as mio's accepted streams are.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let inner = &self.sock.inner;
        let blocking = self.sock.blocking(None, io::ErrorKind::WouldBlock);
        let stream = self.sock.call(blocking, Kick::Never, |core, h, _| {
            let conn = core.stack.accept(h)?;
            let sock = OwnedSocket::new(inner, core, conn);
            sock.set_nonblocking(blocking.nonblocking);
            Ok(TcpStream::from_socket(sock))
        })?;
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }

    /// Another handle to the same listener, as `dup(2)` makes: either
    /// accepts, they share the non-blocking mode, and the listener closes
    /// when the last handle is dropped.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener { sock: self.sock.clone() })
    }

    /// Sets the TTL (IPv4) or hop limit (IPv6) of the listener's SYN-ACKs
    /// and of the connections it opens from now on (`IP_TTL`, inherited
    /// by accepted sockets as on Linux): 1 to 255, else `InvalidInput`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.set_ttl(ttl)
    }

    /// The TTL (hop limit) the listener gives its connections.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.ttl()
    }

    /// An endless iterator over accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.addresses().map(|(local, _)| local)
    }

    /// In non-blocking mode `accept` fails with `WouldBlock` when no
    /// connection is waiting, and the streams it returns are non-blocking
    /// too.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking);
        Ok(())
    }
}

/// What [`TcpListener::incoming`] returns.
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl Source for TcpListener {}

impl super::sealed::Sealed for TcpListener {
    fn socket(&self) -> &OwnedSocket {
        &self.sock
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener").field("local", &self.local_addr().ok()).finish()
    }
}
