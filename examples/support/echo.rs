//! The echo service shared by `examples/echo_server.rs` and the latency
//! benchmark: one thread serves every connection through the poll API.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use trust::api::{Events, Interest, Interface, Poll, TcpListener, TcpStream, Token};

/// One client: what it sent that has not gone back yet.
struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
    peer_closed: bool,
    /// Bytes echoed so far.
    written: u64,
}

impl Client {
    /// Moves bytes until the socket would block. `Ok(false)`: finished.
    fn pump(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        loop {
            while !self.pending.is_empty() {
                match (&self.stream).write(&self.pending) {
                    Ok(n) => {
                        self.written += n as u64;
                        drop(self.pending.drain(..n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                    Err(e) => return Err(e),
                }
            }
            if self.peer_closed {
                return Ok(false);
            }
            match (&self.stream).read(buf) {
                Ok(0) => self.peer_closed = true,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }

    fn interest(&self) -> Interest {
        if self.pending.is_empty() { Interest::READABLE } else { Interest::WRITABLE }
    }
}

/// The echo service's state: a non-blocking listener and its clients,
/// all registered with one [`Poll`].
pub struct EchoService {
    listener: TcpListener,
    clients: HashMap<usize, Client>,
    next_token: usize,
    buf: Vec<u8>,
    /// Connections served to the end.
    pub finished: u64,
    /// Bytes echoed.
    pub echoed: u64,
}

const LISTENER: Token = Token(usize::MAX);

impl EchoService {
    /// Listens on `port` and registers the listener with `poll`.
    pub fn new(iface: &Interface, poll: &Poll, port: u16) -> io::Result<EchoService> {
        let listener = TcpListener::bind(iface, port)?;
        listener.set_nonblocking(true)?;
        poll.register(&listener, LISTENER, Interest::READABLE)?;
        let buf = vec![0u8; 64 * 1024];
        Ok(EchoService { listener, clients: HashMap::new(), next_token: 0, buf, finished: 0, echoed: 0 })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.clients.len()
    }

    /// Acts on one poll's events: accepts, echoes, closes.
    pub fn handle(&mut self, poll: &Poll, events: &Events) -> io::Result<()> {
        for ev in events {
            if ev.token() == LISTENER {
                self.accept_all(poll)?;
                continue;
            }
            let token = ev.token();
            let Some(client) = self.clients.get_mut(&token.0) else { continue };
            let before = client.written;
            let result = client.pump(&mut self.buf);
            self.echoed += client.written - before;
            match result {
                Ok(true) => poll.reregister(&client.stream, token, client.interest())?,
                // Done (every byte echoed, peer closed) or failed (reset):
                // dropping the stream closes our side.
                Ok(false) | Err(_) => {
                    self.finished += 1;
                    drop(self.clients.remove(&token.0));
                }
            }
        }
        Ok(())
    }

    fn accept_all(&mut self, poll: &Poll) -> io::Result<()> {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(true)?;
                    stream.set_nodelay(true)?;
                    let token = Token(self.next_token);
                    self.next_token = (self.next_token + 1) % (usize::MAX - 1);
                    poll.register(&stream, token, Interest::READABLE)?;
                    self.clients.insert(
                        token.0,
                        Client { stream, pending: Vec::new(), peer_closed: false, written: 0 },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Serves echo on `port` until `stop` is set (checked every 100 ms), or
/// forever without one. Every byte comes back; when a client closes its
/// side, the server finishes sending and closes its own.
pub fn serve(iface: &Interface, port: u16, stop: Option<&AtomicBool>) -> io::Result<()> {
    let poll = Poll::new(iface)?;
    let mut service = EchoService::new(iface, &poll, port)?;
    let timeout = stop.map(|_| Duration::from_millis(100));
    let mut events = Events::with_capacity(256);
    while !stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
        poll.poll(&mut events, timeout)?;
        service.handle(&poll, &events)?;
    }
    Ok(())
}
