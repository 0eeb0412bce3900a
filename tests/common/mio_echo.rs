//! An echo server written as a mio event loop that also drives an
//! embedded interface (the interface is a mio source: `Interface::wait_fd`,
//! `poll_delay`, `run_once`), checked the same way over a loopback pair
//! (`tests/loopback_runtimes.rs`) and a real TUN on io_uring
//! (`tests/kernel/runtimes.rs`).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use trust::api::{Interface, TcpListener, TcpStream};

const IFACE: Token = Token(0);
const LISTENER: Token = Token(1);

/// One connection: bytes read and not yet echoed.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    read_closed: bool,
}

/// Serves echo with `listener` of the embedded `iface` from a mio loop on
/// this thread until `conns` connections have been echoed to their end and
/// closed; returns the bytes echoed. Panics after `limit` (a hang guard).
pub fn serve(
    mut iface: Interface,
    mut listener: TcpListener,
    conns: usize,
    limit: Duration,
) -> (Interface, u64) {
    let deadline = Instant::now() + limit;
    let mut poll = Poll::new().unwrap();
    poll.registry().register(&mut iface, IFACE, Interest::READABLE).unwrap();
    listener.set_nonblocking(true).unwrap();
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).unwrap();
    let mut events = Events::with_capacity(256);
    let mut open: HashMap<usize, Conn> = HashMap::new();
    let (mut next, mut done, mut echoed) = (2usize, 0usize, 0u64);
    let mut buf = vec![0u8; 64 * 1024];
    while done < conns {
        assert!(Instant::now() < deadline, "mio loop: {done} of {conns} connections done after {limit:?}");
        let delay =
            iface.poll_delay().unwrap().map_or(Duration::from_secs(1), |d| d.min(Duration::from_secs(1)));
        match poll.poll(&mut events, Some(delay)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => r.unwrap(),
        }
        iface.run_once(Some(Duration::ZERO)).unwrap();
        // Edge-triggered: after any event, every socket it names is served
        // until WouldBlock (the interface's own event only says a turn was
        // due, and the turn just ran).
        let mut woken: Vec<usize> = events.iter().map(|e| e.token().0).collect();
        if woken.contains(&LISTENER.0) {
            loop {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        poll.registry()
                            .register(&mut stream, Token(next), Interest::READABLE | Interest::WRITABLE)
                            .unwrap();
                        open.insert(next, Conn { stream, pending: Vec::new(), read_closed: false });
                        woken.push(next);
                        next += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("mio loop: accept: {e}"),
                }
            }
        }
        for t in woken {
            let Some(c) = open.get_mut(&t) else { continue };
            echoed += pump(c, &mut buf);
            if c.read_closed && c.pending.is_empty() {
                let mut c = open.remove(&t).unwrap();
                poll.registry().deregister(&mut c.stream).unwrap();
                c.stream.shutdown(std::net::Shutdown::Write).unwrap();
                done += 1;
            }
        }
    }
    // Let the last FINs go out and be acknowledged (drain drives the
    // embedded loop itself).
    assert!(iface.drain(Duration::from_secs(10)).unwrap(), "the closed connections did not drain");
    (iface, echoed)
}

/// Reads and writes `c` until it would block; the bytes echoed.
fn pump(c: &mut Conn, buf: &mut [u8]) -> u64 {
    let mut echoed = 0;
    loop {
        while !c.pending.is_empty() {
            match (&c.stream).write(&c.pending) {
                Ok(n) => {
                    c.pending.drain(..n);
                    echoed += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return echoed,
                Err(e) => panic!("mio loop: write: {e}"),
            }
        }
        if c.read_closed {
            return echoed;
        }
        match (&c.stream).read(buf) {
            Ok(0) => c.read_closed = true,
            Ok(n) => c.pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return echoed,
            Err(e) => panic!("mio loop: read: {e}"),
        }
    }
}
