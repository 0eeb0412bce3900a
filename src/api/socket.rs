//! What listeners and streams share: the handle, the condition variable
//! its blocked callers sleep on, the non-blocking flag, the linger time,
//! and closing on drop.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use super::host::{Core, Waiter};
use super::{Blocking, Inner};
use crate::reactor::Host;
use crate::stack::SocketHandle;

/// When a successful call must wake the reactor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kick {
    /// The call may have queued output or moved a deadline.
    Always,
    /// Only if it left an acknowledgment due (a read that opened the
    /// window enough to announce).
    IfAckDue,
    /// The call changes nothing the reactor must act on.
    Never,
}

/// A socket handle that a listener or stream owns: released (the
/// connection closed as its linger time says) when dropped. Like an open
/// file description, it is shared by every clone of its socket (`dup(2)`):
/// the non-blocking flag and the linger time are its own.
pub struct OwnedSocket {
    pub(crate) inner: Arc<Inner>,
    pub(crate) handle: SocketHandle,
    pub(crate) waiter: Arc<Waiter>,
    nonblocking: AtomicBool,
    linger: Mutex<Option<Duration>>,
}

impl OwnedSocket {
    /// Wraps a handle just made under `core`'s lock and subscribes to its
    /// readiness changes.
    pub(crate) fn new(inner: &Arc<Inner>, core: &mut Core, handle: SocketHandle) -> OwnedSocket {
        let waiter = Arc::new(Waiter::default());
        core.add_waiter(handle, waiter.clone());
        OwnedSocket {
            inner: inner.clone(),
            handle,
            waiter,
            nonblocking: AtomicBool::new(false),
            linger: Mutex::new(None),
        }
    }

    /// How dropping the socket closes it (`SO_LINGER`); see
    /// [`super::TcpStream::set_linger`].
    pub(crate) fn set_linger(&self, linger: Option<Duration>) {
        *self.linger.lock().unwrap_or_else(|e| e.into_inner()) = linger;
    }

    pub(crate) fn linger(&self) -> Option<Duration> {
        *self.linger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the TTL (hop limit) of the socket's packets: 1 to 255.
    pub(crate) fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = u8::try_from(ttl).map_err(|_| crate::Error::InvalidInput)?;
        self.now(|core, h| core.stack.set_ttl(h, ttl))
    }

    pub(crate) fn ttl(&self) -> io::Result<u32> {
        self.now(|core, h| core.stack.ttl(h)).map(u32::from)
    }

    /// With a linger time on a blocking connection that has nothing unread:
    /// sends the FIN and waits until the peer acknowledges it or the time
    /// passes, as Linux's `close` does (`sk_stream_wait_close`). The close
    /// goes on in the background either way.
    fn linger_on_close(&self, linger: Duration) {
        let h = self.handle;
        let unread = |core: &Core| core.stack.connection(h).map_or(0, |c| c.recv_queue());
        if self.is_nonblocking() || unread(&self.inner.lock()) > 0 {
            // Unread data resets the connection at once (RFC 1122
            // §4.2.2.13), with or without lingering.
            return;
        }
        if self.now(|core, h| core.stack.shutdown(h, crate::tcp::Shutdown::Write)).is_err() {
            return;
        }
        self.inner.kick();
        let fin_acknowledged = |core: &Core| {
            use crate::tcp::State;
            core.stack
                .state(h)
                .ok()
                .is_none_or(|s| matches!(s, State::FinWait2 | State::TimeWait | State::Closed))
        };
        let _ = self.inner.wait_until(StdInstant::now() + linger, fin_acknowledged);
    }

    pub fn set_nonblocking(&self, nonblocking: bool) {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
    }

    pub fn is_nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    /// The socket's eventfd for edge-triggered waiters (mio, tokio), made
    /// on first use, registered for `readable` and `writable` readiness:
    /// see [`Waiter::notify_fd`] for its contract.
    #[cfg_attr(not(any(feature = "mio", feature = "tokio")), allow(dead_code))]
    pub(crate) fn notify_fd(&self, readable: bool, writable: bool) -> io::Result<std::os::fd::RawFd> {
        use crate::tcp::Readiness as R;
        use std::os::fd::AsRawFd;
        let mut wanted = R::ERROR;
        if readable {
            wanted |= R::READABLE | R::READ_CLOSED;
        }
        if writable {
            wanted |= R::WRITABLE | R::WRITE_CLOSED | R::CONNECTED;
        }
        // Under the lock: the readiness it starts from is the one the
        // engine last reported.
        let core = self.inner.lock();
        let now = core.stack.readiness(self.handle).map_err(io::Error::from)?;
        Ok(self.waiter.notify_fd(now, wanted)?.as_raw_fd())
    }

    /// The socket's readiness now.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn readiness(&self) -> io::Result<crate::tcp::Readiness> {
        self.now(|core, h| core.stack.readiness(h))
    }

    /// Blocking settings for a call limited by `timeout`.
    pub(crate) fn blocking(&self, timeout: Option<Duration>, timeout_kind: io::ErrorKind) -> Blocking {
        Blocking {
            nonblocking: self.nonblocking.load(Ordering::Relaxed),
            deadline: timeout.map(|t| StdInstant::now() + t),
            timeout_kind,
        }
    }

    /// Runs `op` on this socket's handle, blocking as `blocking` allows;
    /// then wakes the reactor as `kick` says.
    pub(crate) fn call<T>(
        &self,
        blocking: Blocking,
        kick: Kick,
        mut op: impl FnMut(&mut Core, SocketHandle, crate::time::Instant) -> Result<T, crate::Error>,
    ) -> io::Result<T> {
        let h = self.handle;
        let kick = |core: &Core| match kick {
            Kick::Always => true,
            Kick::Never => false,
            Kick::IfAckDue => core.stack.connection(h).is_ok_and(|c| c.ack_due()),
        };
        self.inner.block_on(&self.waiter, blocking, |core, now| op(core, h, now), kick)
    }

    /// Runs a non-blocking `op` that cannot report `WouldBlock`.
    pub(crate) fn now<T>(
        &self,
        op: impl FnOnce(&mut Core, SocketHandle) -> Result<T, crate::Error>,
    ) -> io::Result<T> {
        let mut core = self.inner.lock();
        let r = op(&mut core, self.handle);
        core.dispatch_events();
        core.flush_wakes();
        r.map_err(io::Error::from)
    }

    /// (local, remote) addresses.
    pub fn addresses(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        let t = self.now(|core, h| core.stack.addresses(h))?;
        Ok((t.local, t.remote))
    }
}

impl Drop for OwnedSocket {
    /// Lets go of the handle: a stream closes gracefully (the engine
    /// finishes the close, TIME-WAIT included, on its own), after waiting
    /// for its FIN's acknowledgment if it lingers, or is reset if its
    /// linger time is 0; a listener resets the connections nobody accepted.
    fn drop(&mut self) {
        let linger = self.linger();
        if let Some(t) = linger.filter(|t| !t.is_zero()) {
            self.linger_on_close(t);
        }
        let mut core = self.inner.lock();
        core.forget(self.handle);
        let now = crate::reactor::clock::now();
        let _ = match linger {
            Some(Duration::ZERO) => core.stack.abort(now, self.handle),
            _ => core.stack.close(now, self.handle),
        };
        core.dispatch_events();
        core.flush_wakes();
        drop(core);
        self.inner.kick();
    }
}

/// The first address of `addr` of a family the interface has an address
/// of (`ipv4`, `ipv6`).
pub(crate) fn first_reachable(
    addr: impl std::net::ToSocketAddrs,
    (ipv4, ipv6): (bool, bool),
) -> io::Result<SocketAddr> {
    let mut others = None;
    for a in addr.to_socket_addrs()? {
        if (a.is_ipv4() && ipv4) || (a.is_ipv6() && ipv6) {
            return Ok(a);
        }
        others = Some(if a.is_ipv4() { "IPv4" } else { "IPv6" });
    }
    Err(match others {
        Some(family) => {
            io::Error::new(io::ErrorKind::AddrNotAvailable, format!("the interface has no {family} address"))
        }
        None => io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses"),
    })
}

/// `std`'s rule for timeouts: `Some(0)` is an error.
pub(crate) fn check_timeout(t: Option<Duration>) -> io::Result<()> {
    if t == Some(Duration::ZERO) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
    }
    Ok(())
}
