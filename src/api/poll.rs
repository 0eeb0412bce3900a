//! The readiness API, for applications that run their own event loop.
//!
//! Register sockets with a [`Token`] and an [`Interest`], then call
//! [`Poll::poll`]. Semantics are **level-triggered**: every call reports
//! each registered socket that is ready for its interest at that moment,
//! until the application makes it unready (reads until `WouldBlock`,
//! fills the send buffer, accepts every pending connection). Finding the
//! ready sockets costs O(ready), not O(registered): a socket enters its
//! poll's ready queue when the engine reports a readiness change and
//! leaves it when a poll finds it no longer ready.
//!
//! [`Poll`] is also a file descriptor (an eventfd, through `AsFd` or
//! `AsRawFd`), so `epoll`, `mio` or tokio's `AsyncFd` can wait on the
//! stack beside their other sources and then call `poll` with a zero
//! timeout. (The eventfd is maintained only once the application has
//! taken it.) Its contract, for both ways of waiting on it:
//!
//! - **Level-triggered** (plain `epoll`, `poll(2)`): it is readable
//!   exactly while some registered socket is ready.
//! - **Edge-triggered** (`EPOLLET`, mio, `AsyncFd`): every time a
//!   registered socket becomes ready for its interest, the eventfd is
//!   written again, so a waiter gets a new edge even while another socket
//!   stays ready (left unread for back-pressure, say). A socket that stays
//!   ready makes no new edge: as with mio, after an event the application
//!   either makes the socket unready (reads or writes until `WouldBlock`)
//!   or keeps it in mind; the next `poll` still reports it, since
//!   collection is level-triggered. Nothing wakes the waiter without a
//!   change, so it never spins.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use nix::sys::eventfd::{EfdFlags, EventFd};

use super::host::Waiter;
use super::{Inner, Interface, Source};
use crate::tcp::Readiness;

/// The application's name for a registered socket, returned in its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

bitflags::bitflags! {
    /// What a registration waits for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Interest: u8 {
        /// Data, the end of the stream, an error, or (for a listener) a
        /// connection to accept.
        const READABLE = 0x01;
        /// Room in the send buffer, or an error.
        const WRITABLE = 0x02;
    }
}

impl Interest {
    /// Whether readiness `r` satisfies this interest.
    pub(crate) fn matches(self, r: Readiness) -> bool {
        (self.contains(Interest::READABLE) && r.contains(Readiness::READABLE))
            || (self.contains(Interest::WRITABLE) && r.contains(Readiness::WRITABLE))
    }
}

/// A registered socket that is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    token: Token,
    readiness: Readiness,
}

impl Event {
    pub(crate) fn new(token: Token, readiness: Readiness) -> Event {
        Event { token, readiness }
    }

    pub fn token(&self) -> Token {
        self.token
    }

    /// Everything the socket is ready for.
    pub fn readiness(&self) -> Readiness {
        self.readiness
    }

    pub fn is_readable(&self) -> bool {
        self.readiness.contains(Readiness::READABLE)
    }

    pub fn is_writable(&self) -> bool {
        self.readiness.contains(Readiness::WRITABLE)
    }

    /// The peer finished sending, or the connection ended.
    pub fn is_read_closed(&self) -> bool {
        self.readiness.contains(Readiness::READ_CLOSED)
    }

    pub fn is_write_closed(&self) -> bool {
        self.readiness.contains(Readiness::WRITE_CLOSED)
    }

    /// An error (reset, refused, timed out) waits to be read.
    pub fn is_error(&self) -> bool {
        self.readiness.contains(Readiness::ERROR)
    }
}

/// Room for the events one [`Poll::poll`] returns.
#[derive(Debug)]
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
}

impl Events {
    /// At most `capacity` events per poll (at least one).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events { list: Vec::with_capacity(capacity), capacity }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn push(&mut self, e: Event) {
        self.list.push(e);
    }

    pub(crate) fn is_full(&self) -> bool {
        self.list.len() >= self.capacity
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// A set of registered sockets and their ready queue. See the module docs.
///
/// A non-blocking listener, accepting whenever the poll says it is
/// readable:
///
/// ```
/// # use std::net::Ipv4Addr;
/// use std::io::ErrorKind;
/// use std::time::Duration;
/// use trust::api::{Config, Events, Interest, Interface, Poll, TcpListener, TcpStream, Token};
///
/// # fn main() -> std::io::Result<()> {
/// # let (client, iface) = Interface::pair(
/// #     Config::for_device(Ipv4Addr::new(10, 0, 0, 1)),
/// #     Config::for_device(Ipv4Addr::new(10, 0, 0, 2)),
/// # )?;
/// let poll = Poll::new(&iface)?;
/// let listener = TcpListener::bind(&iface, 80)?;
/// listener.set_nonblocking(true)?;
/// poll.register(&listener, Token(0), Interest::READABLE)?;
/// # let _connected = TcpStream::connect(&client, "10.0.0.2:80")?;
///
/// let mut events = Events::with_capacity(64);
/// let mut accepted = Vec::new();
/// while accepted.is_empty() {
///     poll.poll(&mut events, Some(Duration::from_secs(1)))?;
///     for event in &events {
///         if event.token() == Token(0) {
///             // Accept until `WouldBlock`, which makes the listener unready.
///             loop {
///                 match listener.accept() {
///                     Ok((stream, _)) => accepted.push(stream),
///                     Err(e) if e.kind() == ErrorKind::WouldBlock => break,
///                     Err(e) => return Err(e),
///                 }
///             }
///         }
///     }
/// }
/// # assert_eq!(accepted.len(), 1);
/// # Ok(()) }
/// ```
pub struct Poll {
    inner: Arc<Inner>,
    id: usize,
    waiter: Arc<Waiter>,
    efd: Arc<EventFd>,
}

impl Poll {
    pub fn new(iface: &Interface) -> io::Result<Poll> {
        let inner = iface.inner().clone();
        let waiter = Arc::new(Waiter::default());
        let efd = Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?);
        let id = inner.lock().add_poll(waiter.clone(), efd.clone());
        Ok(Poll { inner, id, waiter, efd })
    }

    /// Watches `source` for `interest`, reporting it as `token`. A socket
    /// belongs to one poll at a time; registering it again replaces its
    /// token and interest.
    pub fn register(&self, source: &impl Source, token: Token, interest: Interest) -> io::Result<()> {
        let sock = self.own(source)?;
        if interest.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty interest"));
        }
        self.inner.lock().register(self.id, sock.handle, token, interest);
        Ok(())
    }

    /// Changes a registration's token or interest.
    pub fn reregister(&self, source: &impl Source, token: Token, interest: Interest) -> io::Result<()> {
        let sock = self.own(source)?;
        if !self.inner.lock().is_registered(self.id, sock.handle) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "socket is not registered with this poll"));
        }
        self.register(source, token, interest)
    }

    /// Stops watching `source`.
    pub fn deregister(&self, source: &impl Source) -> io::Result<()> {
        let sock = self.own(source)?;
        let mut core = self.inner.lock();
        if !core.is_registered(self.id, sock.handle) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "socket is not registered with this poll"));
        }
        core.deregister(sock.handle);
        Ok(())
    }

    /// The socket behind `source`, if it belongs to this poll's interface.
    fn own<'a>(&self, source: &'a impl Source) -> io::Result<&'a super::socket::OwnedSocket> {
        let sock = super::sealed::Sealed::socket(source);
        if !Arc::ptr_eq(&sock.inner, &self.inner) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "socket belongs to another interface"));
        }
        Ok(sock)
    }

    /// Fills `events` with the registered sockets ready now, waiting up to
    /// `timeout` (`None`: forever) for one if none is. On an embedded
    /// interface the wait drives the stack.
    pub fn poll(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let deadline = timeout.map(|t| StdInstant::now() + t);
        let mut core = self.inner.lock();
        loop {
            if core.stopped {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "the trust interface has shut down"));
            }
            core.collect(self.id, events);
            if !events.is_empty() {
                return Ok(());
            }
            let remaining = match deadline {
                Some(d) => match d.checked_duration_since(StdInstant::now()) {
                    Some(r) if !r.is_zero() => Some(r),
                    _ => return Ok(()),
                },
                None => None,
            };
            core = self.inner.wait(core, &self.waiter, remaining)?;
        }
    }
}

impl Drop for Poll {
    fn drop(&mut self) {
        self.inner.lock().remove_poll(self.id);
    }
}

impl AsFd for Poll {
    /// The eventfd: readable while some registered socket is ready.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.lock().want_efd(self.id);
        self.efd.as_fd()
    }
}

impl AsRawFd for Poll {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
