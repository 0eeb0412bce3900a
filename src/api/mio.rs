//! `mio` integration (feature `mio`): [`TcpStream`], [`TcpListener`] and
//! [`Poll`] are `mio::event::Source`s, so a mio event loop waits on
//! `trust` sockets beside its other sources.
//!
//! Each socket registers an eventfd of its own (made on first
//! registration), written every time the socket becomes ready for the
//! registered interest: readable (data, the end of the stream, or an
//! accepted connection waiting), writable (room, or connected), an error;
//! and at registration if it is ready already. mio registers it
//! edge-triggered, so every transition to ready is one event, and a socket
//! left ready (unread, for back-pressure) makes no more events and does
//! not hide the others'. As with mio's own sockets, after an event the
//! application reads or writes until `WouldBlock`; the next transition
//! then brings the next event. An event's readable and writable flags are
//! hints (the eventfd is both once written): try the operation.
//!
//! The sockets should be non-blocking ([`TcpStream::set_nonblocking`],
//! [`TcpStream::connect_nonblocking`]; a non-blocking listener's accepted
//! streams are non-blocking already). The interface either runs its
//! reactor on its own thread ([`super::Interface::open`]), or is embedded
//! ([`super::Interface::open_embedded`]) and registered with the same mio
//! loop, which then drives it: the [`Interface`] is a source too, readable
//! when a turn of its loop has work; after each poll (waiting no longer
//! than [`Interface::poll_delay`]) the loop calls
//! [`Interface::run_once`]`(Some(Duration::ZERO))`, which also makes the
//! sockets' events ([`super::driven`]).
//!
//! [`Poll`] registers its own eventfd instead: one mio event whenever a
//! socket registered with that poll becomes ready, after which
//! `Poll::poll` with a zero timeout lists them.
//!
//! ```no_run
//! # fn demo(iface: &trust::api::Interface) -> std::io::Result<()> {
//! use mio::{Events, Interest, Poll, Token};
//! let mut poll = Poll::new()?;
//! let mut listener = trust::api::TcpListener::bind(iface, 7)?;
//! listener.set_nonblocking(true)?;
//! poll.registry().register(&mut listener, Token(0), Interest::READABLE)?;
//! let mut events = Events::with_capacity(64);
//! poll.poll(&mut events, None)?;
//! while let Ok((stream, peer)) = listener.accept() {
//!     // Register `stream` with its own token, read and write until WouldBlock...
//! #   let _ = (stream, peer);
//! }
//! # Ok(()) }
//! ```

use std::io;
use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::socket::OwnedSocket;
use super::{Interface, Poll, TcpListener, TcpStream};

/// Registers `sock`'s eventfd, written on transitions to `interests`; mio
/// always waits for it to be readable, since that is what an eventfd
/// write signals.
fn register(
    sock: &OwnedSocket,
    registry: &Registry,
    token: Token,
    interests: Interest,
    again: bool,
) -> io::Result<()> {
    let fd = sock.notify_fd(interests.is_readable(), interests.is_writable())?;
    let interests = interests | Interest::READABLE;
    if again {
        registry.reregister(&mut SourceFd(&fd), token, interests)
    } else {
        registry.register(&mut SourceFd(&fd), token, interests)
    }
}

macro_rules! socket_source {
    ($t:ty) => {
        impl mio::event::Source for $t {
            fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
                register(super::sealed::Sealed::socket(self), registry, token, interests, false)
            }

            fn reregister(
                &mut self,
                registry: &Registry,
                token: Token,
                interests: Interest,
            ) -> io::Result<()> {
                register(super::sealed::Sealed::socket(self), registry, token, interests, true)
            }

            fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
                let fd = super::sealed::Sealed::socket(self).notify_fd(false, false)?;
                registry.deregister(&mut SourceFd(&fd))
            }
        }
    };
}

socket_source!(TcpStream);
socket_source!(TcpListener);

impl mio::event::Source for Poll {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        registry.register(&mut SourceFd(&self.as_raw_fd()), token, interests | Interest::READABLE)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        registry.reregister(&mut SourceFd(&self.as_raw_fd()), token, interests | Interest::READABLE)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        registry.deregister(&mut SourceFd(&self.as_raw_fd()))
    }
}

/// An embedded interface ([`Interface::open_embedded`]) as a source: its
/// [`Interface::wait_fd`], readable when a turn of its loop has work, so
/// that mio's loop drives the stack (see [`super::driven`]'s example). An
/// interface whose reactor has its own thread says `InvalidInput`.
impl mio::event::Source for Interface {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        registry.register(&mut SourceFd(&self.wait_fd()?.as_raw_fd()), token, interests | Interest::READABLE)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        registry.reregister(
            &mut SourceFd(&self.wait_fd()?.as_raw_fd()),
            token,
            interests | Interest::READABLE,
        )
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        registry.deregister(&mut SourceFd(&self.wait_fd()?.as_raw_fd()))
    }
}
