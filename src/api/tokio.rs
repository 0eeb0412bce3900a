//! tokio integration (feature `tokio`): an async [`TcpListener`] and a
//! [`TcpStream`] with `AsyncRead` and `AsyncWrite`, driven through tokio's
//! `AsyncFd` on each socket's eventfd.
//!
//! The eventfd is written every time the socket gains a readiness flag
//! (see [`super::mio`] for the contract); tokio registers it
//! edge-triggered, and a task that meets `WouldBlock` clears its readiness
//! and sleeps until the next transition. Nothing else wakes it, so an idle
//! or back-pressured connection costs nothing. The sockets are
//! non-blocking. The interface runs its reactor on its own thread
//! ([`Interface::open`]), or is embedded ([`Interface::open_embedded`])
//! and driven by a task of the runtime ([`driver`]); an embedded interface
//! without a driver says `InvalidInput`, since nothing would drive it
//! while tasks wait.
//!
//! ```no_run
//! # async fn demo(iface: &trust::api::Interface) -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let listener = trust::api::tokio::TcpListener::bind(iface, 7)?;
//! loop {
//!     let (mut stream, _peer) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let mut buf = vec![0u8; 16384];
//!         while let Ok(n @ 1..) = stream.read(&mut buf).await {
//!             if stream.write_all(&buf[..n]).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! # }
//! ```

use std::future::poll_fn;
use std::io::{self, IoSlice, Write as _};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::host::Waiter;
use super::socket::OwnedSocket;
use super::{Interface, sealed::Sealed};
use crate::tcp::{Readiness, TcpInfo};

/// A socket's eventfd, as `AsyncFd` holds it. The fd belongs to the
/// socket's waiter, which this keeps alive: the fd stays open, and the
/// same, for as long as the `AsyncFd` exists.
struct NotifyFd {
    fd: RawFd,
    _owner: Arc<Waiter>,
}

impl AsRawFd for NotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

/// Makes `sock` non-blocking and registers its eventfd with the current
/// tokio runtime.
fn register(sock: &OwnedSocket) -> io::Result<AsyncFd<NotifyFd>> {
    if sock.inner.embedded.is_some() && sock.inner.wait_fd.get().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an embedded interface needs a driver in the runtime (trust::api::tokio::driver) before its sockets; \
             or open it with Interface::open",
        ));
    }
    sock.set_nonblocking(true);
    let fd = NotifyFd { fd: sock.notify_fd(true, true)?, _owner: sock.waiter.clone() };
    // `new` is deprecated for types whose fd may close or change while
    // registered; `NotifyFd` owns its waiter, so its fd can do neither
    // (and `register`, the replacement, is `unsafe`, which this crate
    // keeps to `device` and `reactor`).
    #[allow(deprecated)]
    AsyncFd::new(fd)
}

/// A listener whose `accept` is a future.
pub struct TcpListener {
    io: AsyncFd<NotifyFd>,
    listener: super::TcpListener,
}

impl TcpListener {
    /// Listens on `port` of the interface's addresses (in a tokio
    /// runtime).
    pub fn bind(iface: &Interface, port: u16) -> io::Result<TcpListener> {
        Self::from_std(super::TcpListener::bind(iface, port)?)
    }

    /// Listens on `addr`, as [`super::TcpListener::bind_addr`] takes it.
    pub fn bind_addr(iface: &Interface, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::from_std(super::TcpListener::bind_addr(iface, addr)?)
    }

    /// Wraps a listener (made non-blocking) for the current runtime.
    pub fn from_std(listener: super::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener { io: register(listener.socket())?, listener })
    }

    /// Waits for a connection whose handshake has completed.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection whose handshake has completed.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        loop {
            let mut guard = ready!(self.io.poll_read_ready(cx))?;
            if let Ok(r) = guard.try_io(|_| self.listener.accept()) {
                return Poll::Ready(r.and_then(|(s, peer)| Ok((TcpStream::from_std(s)?, peer))));
            }
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// A connection with `AsyncRead` and `AsyncWrite`. Dropping it closes the
/// connection gracefully, as [`super::TcpStream`] does.
pub struct TcpStream {
    io: AsyncFd<NotifyFd>,
    stream: super::TcpStream,
}

impl TcpStream {
    /// Connects to `addr` (its first address of a family the interface
    /// speaks): `ConnectionRefused` if the peer resets, `TimedOut` after
    /// the configured SYN retries.
    pub async fn connect(iface: &Interface, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let stream = Self::from_std(super::TcpStream::connect_nonblocking(iface, addr)?)?;
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    /// Wraps a stream (made non-blocking) for the current runtime.
    pub fn from_std(stream: super::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream { io: register(stream.socket())?, stream })
    }

    /// Ready once the handshake has completed, or with the error that
    /// ended it.
    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.io.poll_write_ready(cx))?;
            let r = self.stream.socket().readiness()?;
            if r.contains(Readiness::ERROR) {
                let e = self.stream.take_error()?;
                return Poll::Ready(Err(e.unwrap_or_else(|| io::ErrorKind::NotConnected.into())));
            }
            if r.contains(Readiness::CONNECTED) {
                return Poll::Ready(Ok(()));
            }
            guard.clear_ready();
        }
    }

    /// The blocking-API stream underneath (non-blocking).
    pub fn get_ref(&self) -> &super::TcpStream {
        &self.stream
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.stream.set_nodelay(nodelay)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.stream.nodelay()
    }

    /// A snapshot of the connection ([`super::TcpStream::stats`]).
    pub fn stats(&self) -> io::Result<TcpInfo> {
        self.stream.stats()
    }

    /// Splits the stream into halves that two tasks can own.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let both = Arc::new(self);
        (OwnedReadHalf(both.clone()), OwnedWriteHalf(both))
    }

    fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let mut guard = ready!(self.io.poll_read_ready(cx))?;
            // The received bytes are copied straight into the caller's
            // buffer (no zeroing of it first); none at the end of stream.
            let read = guard.try_io(|_| {
                self.stream.read_with(|a, b| {
                    let n = a.len().min(buf.remaining());
                    buf.put_slice(&a[..n]);
                    let m = b.len().min(buf.remaining());
                    buf.put_slice(&b[..m]);
                    (n + m, ())
                })
            });
            if let Ok(r) = read {
                return Poll::Ready(r);
            }
        }
    }

    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&super::TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.io.poll_write_ready(cx))?;
            if let Ok(r) = guard.try_io(|_| write(&self.stream)) {
                return Poll::Ready(r);
            }
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.poll_read_buf(cx, buf)
    }
}

/// Writes go into the stack's send buffer; `poll_flush` has nothing to do
/// (as for tokio's own `TcpStream`), and `poll_shutdown` sends a FIN after
/// the queued data.
impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut s| s.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut s| s.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.stream.shutdown(Shutdown::Write))
    }
}

/// The reading half of [`TcpStream::into_split`].
pub struct OwnedReadHalf(Arc<TcpStream>);

/// The writing half of [`TcpStream::into_split`]; dropping it does not
/// shut the stream down (call `shutdown`), and the connection closes when
/// both halves are gone.
pub struct OwnedWriteHalf(Arc<TcpStream>);

impl AsyncRead for OwnedReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.0.poll_read_buf(cx, buf)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.0.poll_write_with(cx, |mut s| s.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_with(cx, |mut s| s.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.stream.shutdown(Shutdown::Write))
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.stream.fmt(f)
    }
}

/// Drives an embedded interface ([`Interface::open_embedded`]) from the
/// current tokio runtime: the returned future runs the interface's loop
/// for as long as it is polled (spawn it), one turn each time its
/// [`Interface::wait_fd`] is readable or its [`Interface::poll_delay`]
/// runs out. The stack then lives on the runtime's threads, as
/// `echo_server` (embedded) keeps it on its own: with a current-thread
/// runtime, packets, timers and tasks share one thread and nothing hops
/// between threads. Call it before making the interface's tokio sockets
/// (they refuse an embedded interface without a driver); it needs the
/// runtime's I/O and time drivers (`enable_all`). The future ends only
/// with an error (the interface shut down, say).
///
/// ```no_run
/// # async fn demo(cfg: trust::api::Config) -> std::io::Result<()> {
/// use std::sync::Arc;
/// let iface = Arc::new(trust::api::Interface::open_embedded(cfg)?);
/// tokio::spawn(trust::api::tokio::driver(&iface)?);
/// let listener = trust::api::tokio::TcpListener::bind(&iface, 7)?;
/// # let _ = listener; Ok(()) }
/// ```
pub fn driver(
    iface: &Arc<Interface>,
) -> io::Result<impl std::future::Future<Output = io::Result<()>> + Send + 'static> {
    let fd = iface.wait_fd()?.try_clone_to_owned()?;
    // `new` is deprecated for fds that may close while registered; this
    // one is owned by the `AsyncFd` itself.
    #[allow(deprecated)]
    let fd = AsyncFd::with_interest(fd, ::tokio::io::Interest::READABLE)?;
    let iface = iface.clone();
    Ok(async move {
        loop {
            match iface.poll_delay()? {
                Some(d) if d.is_zero() => {}
                Some(d) => {
                    if let Ok(guard) = ::tokio::time::timeout(d, fd.readable()).await {
                        guard?.clear_ready();
                    }
                }
                None => fd.readable().await?.clear_ready(),
            }
            iface.run_once(Some(std::time::Duration::ZERO))?;
        }
    })
}
