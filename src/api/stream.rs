//! [`TcpStream`]: a connection, used like `std::net::TcpStream`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::socket::{Kick, OwnedSocket, check_timeout, first_reachable};
use super::{Interface, Source};
use crate::Error;
use crate::tcp::{self, Readiness};

/// A TCP connection on an [`Interface`].
///
/// Reads block until data, the end of the stream or an error arrives;
/// writes block until the send buffer takes at least one byte; `flush`
/// blocks until the peer has acknowledged everything written. Dropping the
/// last handle to the stream closes it gracefully (see
/// [`TcpStream::set_linger`] for the other ways).
///
/// [`TcpStream::try_clone`] makes another handle to the same connection.
///
/// ```
/// # use std::net::Ipv4Addr;
/// use std::io::{Read, Write};
/// use trust::api::{Config, Interface, TcpListener, TcpStream};
///
/// # fn main() -> std::io::Result<()> {
/// # let (iface, server) = Interface::pair(
/// #     Config::for_device(Ipv4Addr::new(10, 0, 0, 1)),
/// #     Config::for_device(Ipv4Addr::new(10, 0, 0, 2)),
/// # )?;
/// # let listener = TcpListener::bind(&server, 80)?;
/// let mut stream = TcpStream::connect(&iface, "10.0.0.2:80")?;
/// stream.write_all(b"ping")?;
/// # let (mut peer, _) = listener.accept()?;
/// # let mut ping = [0; 4];
/// # peer.read_exact(&mut ping)?;
/// # peer.write_all(b"pong")?;
/// let mut reply = [0; 4];
/// stream.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"pong");
/// # Ok(()) }
/// ```
pub struct TcpStream(Arc<Shared>);

/// What every handle to one connection shares, as the file description of
/// `dup`'d sockets: the socket, its non-blocking flag, its timeouts
/// (`SO_RCVTIMEO`, `SO_SNDTIMEO`) and its linger time.
struct Shared {
    sock: OwnedSocket,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
}

impl TcpStream {
    pub(crate) fn from_socket(sock: OwnedSocket) -> TcpStream {
        TcpStream(Arc::new(Shared { sock, read_timeout: Mutex::new(None), write_timeout: Mutex::new(None) }))
    }

    fn sock(&self) -> &OwnedSocket {
        &self.0.sock
    }

    /// Another handle to the same connection, as `dup(2)` makes: both read
    /// and write the same stream, share the non-blocking mode, the
    /// timeouts and the linger time, and the connection closes when the
    /// last handle is dropped.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream(self.0.clone()))
    }

    /// Opens a connection to `addr` (its first IPv4 address) and waits for
    /// the handshake: `ConnectionRefused` if the peer resets, `TimedOut`
    /// after the configured SYN retries.
    pub fn connect(iface: &Interface, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        Self::connect_inner(iface, addr, None)
    }

    /// [`TcpStream::connect`], giving up with `TimedOut` after `timeout`.
    pub fn connect_timeout(iface: &Interface, addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        check_timeout(Some(timeout))?;
        Self::connect_inner(iface, addr, Some(timeout))
    }

    /// Starts a connection to `addr` without waiting for the handshake,
    /// as mio's `TcpStream::connect` does. The stream is non-blocking. It
    /// becomes writable ([`Interest::WRITABLE`](super::Interest), with a
    /// [`Poll`](super::Poll)) once connected; if the connection fails, the
    /// event carries an error and [`TcpStream::take_error`] says which
    /// (`ConnectionRefused`, `TimedOut`, ...). Until then reads say
    /// `WouldBlock`; data written is queued and sent once connected.
    pub fn connect_nonblocking(iface: &Interface, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let sock = Self::start_connect(iface, addr)?;
        sock.set_nonblocking(true);
        Ok(TcpStream::from_socket(sock))
    }

    /// Opens the connection and sends its SYN.
    fn start_connect(iface: &Interface, addr: impl ToSocketAddrs) -> io::Result<OwnedSocket> {
        let inner = iface.inner();
        let remote = first_reachable(addr, (!inner.addr.is_unspecified(), inner.addr6.is_some()))?;
        let sock = {
            let mut core = inner.lock();
            let now = crate::reactor::clock::now();
            let h = core.stack.connect(now, remote)?;
            OwnedSocket::new(inner, &mut core, h)
        };
        inner.kick();
        Ok(sock)
    }

    fn connect_inner(
        iface: &Interface,
        addr: impl ToSocketAddrs,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let sock = Self::start_connect(iface, addr)?;
        // On failure `sock` drops here, releasing the handle.
        sock.call(sock.blocking(timeout, io::ErrorKind::TimedOut), Kick::Never, |core, h, _| {
            let r = core.stack.readiness(h)?;
            if r.contains(Readiness::ERROR) {
                // Reading with no room reports the pending error.
                core.stack.recv(h, &mut [])?;
                Err(Error::NotConnected)
            } else if r.contains(Readiness::CONNECTED) {
                Ok(())
            } else {
                Err(Error::WouldBlock)
            }
        })?;
        Ok(TcpStream::from_socket(sock))
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock().addresses().map(|(_, remote)| remote)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock().addresses().map(|(local, _)| local)
    }

    /// Shuts down reading, writing (a FIN after the queued data) or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => tcp::Shutdown::Read,
            Shutdown::Write => tcp::Shutdown::Write,
            Shutdown::Both => tcp::Shutdown::Both,
        };
        self.sock().now(|core, h| core.stack.shutdown(h, how))?;
        self.sock().inner.kick();
        Ok(())
    }

    /// Turns Nagle's algorithm off (`true`) or on (RFC 1122 §4.2.3.4).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock().now(|core, h| core.stack.set_nodelay(h, nodelay))?;
        self.sock().inner.kick();
        Ok(())
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock().now(|core, h| Ok(core.stack.connection(h)?.nodelay()))
    }

    /// Limits how long a read blocks (`None`: forever). A read that runs
    /// out of time fails with `WouldBlock`, as `std` does on Linux.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self.0.read_timeout.lock().unwrap_or_else(|e| e.into_inner()) = timeout;
        Ok(())
    }

    /// Limits how long a write or flush blocks.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self.0.write_timeout.lock().unwrap_or_else(|e| e.into_inner()) = timeout;
        Ok(())
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self.0.read_timeout.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self.0.write_timeout.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// In non-blocking mode, calls that would block fail with `WouldBlock`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock().set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the socket's error, as `SO_ERROR` does: the error that ended
    /// the connection, unless a read or write has reported it already;
    /// otherwise the soft error an ICMP message last reported (RFC 1122
    /// §4.2.3.9: host or network unreachable, time exceeded). Either is
    /// cleared by being taken: the next call says `Ok(None)`. After a
    /// reset whose error was taken, reads return 0 (the end of the stream)
    /// and writes fail with `BrokenPipe`, as on Linux.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock().now(|core, h| Ok(core.stack.take_error(h)?.map(io::Error::from)))
    }

    /// Sets the TTL (IPv4) or hop limit (IPv6) of this connection's
    /// packets, as `IP_TTL` and `IPV6_UNICAST_HOPS` do: 1 to 255 (0 and
    /// larger values are `InvalidInput`, as on Linux). The default is
    /// [`Config::ttl`](super::Config::ttl), or the listener's for an
    /// accepted stream.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock().set_ttl(ttl)
    }

    /// The TTL (hop limit) of this connection's packets.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock().ttl()
    }

    /// How dropping the last handle closes the connection, as `SO_LINGER`
    /// does on Linux:
    /// - `None` (the default): at once, gracefully; the stack sends what
    ///   is queued and the FIN in the background.
    /// - `Some(Duration::ZERO)`: aborts it: a reset, queued data dropped;
    ///   the peer's reads fail with `ConnectionReset`.
    /// - `Some(t)`: the drop of a blocking stream sends the FIN and blocks
    ///   until the peer has acknowledged everything, FIN included, or `t`
    ///   passes; then, as on Linux, the close goes on in the background
    ///   (it is not reset when `t` runs out). A non-blocking stream does
    ///   not wait (Linux waits even then; an event loop must not block).
    ///
    /// In every case a connection with unread data is reset (RFC 1122
    /// §4.2.2.13), as Linux does.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.sock().set_linger(linger);
        Ok(())
    }

    /// The linger time [`TcpStream::set_linger`] set.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock().linger())
    }

    /// A snapshot of the connection, like Linux's `TCP_INFO`: state, RTT,
    /// congestion window, retransmissions, bytes.
    pub fn stats(&self) -> io::Result<tcp::TcpInfo> {
        self.sock().now(|core, h| Ok(core.stack.connection(h)?.info()))
    }

    /// Reads like [`Read::read`] without consuming: the same bytes are read
    /// again by the next read or peek (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(|a, b| (0, crate::tcp::recv_buffer::copy_slices(buf, a, b)))
    }

    /// Reads without a copy: lends the received bytes to `f` where they
    /// lie in the stack's receive buffer, instead of copying them into a
    /// buffer of the caller's as [`Read::read`] does.
    ///
    /// `f` gets the readable bytes as two slices, in order (the second is
    /// empty unless the buffer wraps around its end), and returns how many
    /// bytes it consumed, which are then gone from the stream as if read,
    /// and a value that `read_with` returns. It blocks (or reports
    /// `WouldBlock`, or times out) as `read` does until a byte is
    /// readable; at the end of the stream `f` is lent two empty slices.
    ///
    /// `f` runs with the stack locked: the reactor and every other socket
    /// wait for it, so keep it short, and do not use this interface's
    /// sockets from inside it (that deadlocks).
    ///
    /// ```no_run
    /// # fn demo(stream: &trust::api::TcpStream) -> std::io::Result<()> {
    /// // Count the line ends in what has arrived, consuming all of it.
    /// let newlines = stream.read_with(|a, b| {
    ///     let count = a.iter().chain(b).filter(|&&c| c == b'\n').count();
    ///     (a.len() + b.len(), count)
    /// })?;
    /// # let _ = newlines; Ok(()) }
    /// ```
    pub fn read_with<R>(&self, f: impl FnOnce(&[u8], &[u8]) -> (usize, R)) -> io::Result<R> {
        // `f` is called at most once: the engine calls it only when it
        // succeeds, and the first success ends the call.
        let mut f = Some(f);
        let mut out = None;
        self.sock().call(self.read_blocking(), Kick::IfAckDue, |core, h, _| {
            core.stack.recv_with(h, |a, b| match f.take() {
                Some(f) => {
                    let (n, r) = f(a, b);
                    out = Some(r);
                    (n, ())
                }
                None => (0, ()),
            })
        })?;
        out.ok_or_else(|| io::Error::other("read_with: the stack did not lend the data"))
    }

    fn read_blocking(&self) -> super::Blocking {
        let t = *self.0.read_timeout.lock().unwrap_or_else(|e| e.into_inner());
        self.sock().blocking(t, io::ErrorKind::WouldBlock)
    }

    fn write_blocking(&self) -> super::Blocking {
        let t = *self.0.write_timeout.lock().unwrap_or_else(|e| e.into_inner());
        self.sock().blocking(t, io::ErrorKind::WouldBlock)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock().call(self.read_blocking(), Kick::IfAckDue, |core, h, _| core.stack.recv(h, buf))
    }

    /// Fills `bufs` in order from one look at the receive buffer, under one
    /// lock of the stack.
    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_with(|a, b| {
            let mut n = 0;
            for buf in bufs.iter_mut() {
                // What is left of the two slices after the `n` bytes taken.
                let (a, b) = if n <= a.len() { (&a[n..], b) } else { (&[][..], &b[n - a.len()..]) };
                let m = crate::tcp::recv_buffer::copy_slices(buf, a, b);
                n += m;
                if m < buf.len() {
                    break;
                }
            }
            (n, n)
        })
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock().call(self.write_blocking(), Kick::Always, |core, h, _| core.stack.send(h, buf))
    }

    /// Queues as much of `bufs`, in order, as the send buffer takes, under
    /// one lock of the stack (not one buffer per call).
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.sock().call(self.write_blocking(), Kick::Always, |core, h, _| {
            let mut total = 0;
            for buf in bufs.iter().filter(|b| !b.is_empty()) {
                match core.stack.send(h, buf) {
                    Ok(n) => {
                        total += n;
                        if n < buf.len() {
                            break;
                        }
                    }
                    Err(_) if total > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(total)
        })
    }

    /// Blocks until the peer has acknowledged everything written.
    fn flush(&mut self) -> io::Result<()> {
        self.sock().call(self.write_blocking(), Kick::Never, |core, h, _| {
            let c = core.stack.connection(h)?;
            match c.error() {
                _ if c.all_acknowledged() => Ok(()),
                Some(e) => Err(e),
                None if c.state() == tcp::State::Closed => Err(Error::NotConnected),
                None => Err(Error::WouldBlock),
            }
        })
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl Source for TcpStream {}

impl super::sealed::Sealed for TcpStream {
    fn socket(&self) -> &OwnedSocket {
        self.sock()
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok((local, peer)) = self.sock().addresses() {
            d.field("local", &local).field("peer", &peer);
        }
        d.finish()
    }
}
