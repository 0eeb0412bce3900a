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
}

impl Client {
    /// Moves bytes until the socket would block. `Ok(false)`: finished.
    fn pump(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        loop {
            while !self.pending.is_empty() {
                match (&self.stream).write(&self.pending) {
                    Ok(n) => drop(self.pending.drain(..n)),
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

/// Serves echo on `port` until `stop` is set (checked every 100 ms), or
/// forever without one. Every byte comes back; when a client closes its
/// side, the server finishes sending and closes its own.
pub fn serve(iface: &Interface, port: u16, stop: Option<&AtomicBool>) -> io::Result<()> {
    let listener = TcpListener::bind(iface, port)?;
    listener.set_nonblocking(true)?;
    let poll = Poll::new(iface)?;
    const LISTENER: Token = Token(usize::MAX);
    poll.register(&listener, LISTENER, Interest::READABLE)?;
    let timeout = stop.map(|_| Duration::from_millis(100));

    let mut clients: HashMap<usize, Client> = HashMap::new();
    let mut next_token = 0usize;
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
        poll.poll(&mut events, timeout)?;
        for ev in &events {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(true)?;
                            stream.set_nodelay(true)?;
                            let token = Token(next_token);
                            next_token = next_token.wrapping_add(1) % (usize::MAX - 1);
                            poll.register(&stream, token, Interest::READABLE)?;
                            clients
                                .insert(token.0, Client { stream, pending: Vec::new(), peer_closed: false });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let token = ev.token();
            let Some(client) = clients.get_mut(&token.0) else { continue };
            match client.pump(&mut buf) {
                Ok(true) => poll.reregister(&client.stream, token, client.interest())?,
                // Done (every byte echoed, peer closed) or failed (reset):
                // dropping the stream closes our side.
                Ok(false) | Err(_) => drop(clients.remove(&token.0)),
            }
        }
    }
    Ok(())
}
