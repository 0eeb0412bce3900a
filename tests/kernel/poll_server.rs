//! A server that serves many echo connections on one thread through the
//! readiness API alone (`Poll`), driven in one of the ways [`Drive`] names.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use trust::api::{Events, Interest, Interface, Poll, TcpListener, TcpStream, Token};

use crate::util::{CHUNK, report};

/// How [`poll_echo_server`] waits for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// `Poll::poll` with a timeout (on an embedded interface it drives the
    /// reactor itself).
    Poll,
    /// `Interface::run_once`, then `Poll::poll` with a zero timeout.
    RunOnce,
    /// epoll(7) on the poll's eventfd, then `Poll::poll` with a zero timeout.
    Epoll,
}

/// Echo state of one connection of [`poll_echo_server`].
struct EchoConn {
    stream: TcpStream,
    pending: Vec<u8>,
    at: usize,
    eof: bool,
    interest: Interest,
    echoed: u64,
}

/// Most bytes read and not yet echoed per connection.
const ECHO_BACKLOG: usize = 256 * 1024;

impl EchoConn {
    /// Reads and writes until both would block; `true` once the peer has
    /// finished and everything has been echoed.
    fn service(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        loop {
            while self.at < self.pending.len() {
                match (&self.stream).write(&self.pending[self.at..]) {
                    Ok(n) => {
                        self.at += n;
                        self.echoed += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if self.at == self.pending.len() {
                self.pending.clear();
                self.at = 0;
            }
            if self.eof {
                return Ok(self.pending.is_empty());
            }
            if self.pending.len() >= ECHO_BACKLOG {
                return Ok(false);
            }
            match (&self.stream).read(buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    fn wanted(&self) -> Interest {
        if self.eof || self.pending.len() >= ECHO_BACKLOG {
            Interest::WRITABLE
        } else if self.pending.is_empty() {
            Interest::READABLE
        } else {
            Interest::READABLE | Interest::WRITABLE
        }
    }
}

const LISTENER: Token = Token(usize::MAX);

/// Serves `conns` echo connections from `listener` on this thread alone,
/// through readiness events: a non-blocking listener and non-blocking
/// streams, all registered with one [`Poll`]. Each connection is closed
/// once its peer has finished and everything was echoed. Returns the
/// bytes echoed.
pub fn poll_echo_server(
    iface: &Interface,
    listener: TcpListener,
    conns: usize,
    drive: Drive,
    limit: Duration,
) -> u64 {
    let deadline = Instant::now() + limit;
    let poll = Poll::new(iface).expect("Poll::new");
    listener.set_nonblocking(true).unwrap();
    poll.register(&listener, LISTENER, Interest::READABLE).expect("register the listener");
    let epoll = (drive == Drive::Epoll).then(|| {
        let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("epoll_create1");
        ep.add(&poll, EpollEvent::new(EpollFlags::EPOLLIN, 7)).expect("epoll_ctl ADD the poll's eventfd");
        ep
    });
    let mut events = Events::with_capacity(64);
    let mut table: HashMap<usize, EchoConn> = HashMap::new();
    let mut buf = vec![0u8; CHUNK];
    let (mut accepted, mut finished, mut echoed, mut wakeups) = (0usize, 0usize, 0u64, 0u64);
    while finished < conns {
        if Instant::now() >= deadline {
            let open: Vec<String> = table
                .iter()
                .map(|(t, c)| {
                    format!(
                        "#{t} echoed {} pending {} eof {} interest {:?} error {:?}",
                        c.echoed,
                        c.pending.len() - c.at,
                        c.eof,
                        c.interest,
                        c.stream.take_error()
                    )
                })
                .collect();
            panic!(
                "poll echo server ({drive:?}): {finished} of {conns} finished, {accepted} accepted, \
                 {wakeups} wakeups at the deadline; {}; open connections:\n{}",
                report(iface),
                open.join("\n")
            );
        }
        match &epoll {
            None if drive == Drive::RunOnce => {
                iface.run_once(Some(Duration::from_millis(100))).expect("run_once");
                poll.poll(&mut events, Some(Duration::ZERO)).expect("poll");
            }
            None => poll.poll(&mut events, Some(Duration::from_secs(1))).expect("poll"),
            Some(ep) => {
                let mut ev = [EpollEvent::empty(); 4];
                let n = ep.wait(&mut ev, PollTimeout::from(1000u16)).expect("epoll_wait");
                if n > 0 {
                    assert_eq!(ev[0].data(), 7);
                    wakeups += 1;
                }
                poll.poll(&mut events, Some(Duration::ZERO)).expect("poll");
            }
        }
        for ev in &events {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(true).unwrap();
                            let token = accepted;
                            poll.register(&stream, Token(token), Interest::READABLE).expect("register");
                            let c = EchoConn {
                                stream,
                                pending: Vec::new(),
                                at: 0,
                                eof: false,
                                interest: Interest::READABLE,
                                echoed: 0,
                            };
                            table.insert(token, c);
                            accepted += 1;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("poll echo server: accept: {e}"),
                    }
                }
                continue;
            }
            let token = ev.token().0;
            let Some(c) = table.get_mut(&token) else { continue };
            let done = c.service(&mut buf).unwrap_or_else(|e| {
                panic!("poll echo server: connection {token} after {} bytes: {e}", c.echoed)
            });
            if done {
                let c = table.remove(&token).unwrap();
                poll.deregister(&c.stream).expect("deregister");
                echoed += c.echoed;
                finished += 1;
            } else if c.wanted() != c.interest {
                c.interest = c.wanted();
                poll.reregister(&c.stream, Token(token), c.interest).expect("reregister");
            }
        }
    }
    if drive == Drive::Epoll {
        assert!(wakeups > 0, "the eventfd never woke epoll");
    }
    echoed
}
