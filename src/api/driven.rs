//! An embedded interface driven from an event loop the application owns
//! (mio, a hand-written epoll loop, a runtime of its own): the loop waits
//! on [`Interface::wait_fd`] beside its other sources, for at most
//! [`Interface::poll_delay`], then runs one turn with
//! [`Interface::run_once`]`(Some(Duration::ZERO))`.
//!
//! With the feature `mio`, the interface itself is a `mio::event::Source`
//! (its [`Interface::wait_fd`]), beside its sockets:
//!
//! ```no_run
//! # #[cfg(feature = "mio")]
//! # fn demo(cfg: trust::api::Config) -> std::io::Result<()> {
//! use std::time::Duration;
//! use mio::{Events, Interest, Poll, Token};
//!
//! let mut iface = trust::api::Interface::open_embedded(cfg)?;
//! let mut poll = Poll::new()?;
//! poll.registry().register(&mut iface, Token(0), Interest::READABLE)?;
//! let mut listener = trust::api::TcpListener::bind(&iface, 7)?;
//! listener.set_nonblocking(true)?;
//! poll.registry().register(&mut listener, Token(1), Interest::READABLE)?;
//! let mut events = Events::with_capacity(64);
//! loop {
//!     match poll.poll(&mut events, iface.poll_delay()?) {
//!         Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {} // a wake-up too
//!         r => r?,
//!     }
//!     iface.run_once(Some(Duration::ZERO))?;
//!     // ... accept and serve until WouldBlock; the sockets' events come
//!     // from the turn just run ...
//! }
//! # }
//! ```

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::TryLockError;
use std::time::Duration;

use super::Interface;
use crate::reactor::Host;

fn threaded() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the reactor runs on its own thread: there is no loop to drive (register sockets or a Poll instead)",
    )
}

impl Interface {
    /// For an embedded interface ([`Interface::open_embedded`]): a
    /// descriptor that polls readable, level- and edge-triggered, when a
    /// turn of the loop would find work: a packet, a completion, or a
    /// wake-up from another thread's call. (The ring's descriptor on
    /// io_uring, the backend's epoll instance on epoll.) Timers are not on
    /// it: wait no longer than [`Interface::poll_delay`]. A wait may also
    /// end with `EINTR` when io_uring has completions to post; that is a
    /// wake-up like any other. An interface whose reactor has its own
    /// thread says `InvalidInput`.
    pub fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        let reactor = self.inner.embedded.as_ref().ok_or_else(threaded)?;
        if let Some(fd) = self.inner.wait_fd.get() {
            return Ok(fd.as_fd());
        }
        let fd = reactor.lock().unwrap_or_else(|e| e.into_inner()).wait_fd()?;
        Ok(self.inner.wait_fd.get_or_init(|| fd).as_fd())
    }

    /// For an embedded interface: how long its loop may wait on
    /// [`Interface::wait_fd`] before the next [`Interface::run_once`]: until
    /// the engine's next timer (`None`: no timer), or zero when the last
    /// turn left received packets behind or a call since has queued output
    /// (a write, a close). An interface whose reactor has its own thread
    /// says `InvalidInput`.
    pub fn poll_delay(&self) -> io::Result<Option<Duration>> {
        let reactor = self.inner.embedded.as_ref().ok_or_else(threaded)?;
        match reactor.try_lock() {
            Ok(r) => Ok(r.poll_delay()),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner().poll_delay()),
            // Another thread is in the loop: only the timer counts.
            Err(TryLockError::WouldBlock) => Ok(crate::reactor::engine_delay(self.inner.lock().stack())),
        }
    }
}
