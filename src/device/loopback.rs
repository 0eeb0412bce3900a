//! Two in-process devices wired to each other: a packet sent on one is
//! received on the other. Each direction is a bounded queue (full: the
//! packet is dropped and counted, as a wire's drop-tail queue drops it)
//! with an eventfd that is readable exactly while the queue holds a
//! packet, so the reactor sleeps on it as on a TUN.
//!
//! With it, two `Interface`s talk TCP inside one process, with no root,
//! no namespace and no TUN: the API's tests run in plain `cargo test`.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::eventfd::{EfdFlags, EventFd};

use super::Device;

/// Packets each direction holds by default before it drops.
pub const DEFAULT_CAPACITY: usize = 1024;

/// One direction of the pair.
#[derive(Debug)]
struct Queue {
    state: Mutex<QueueState>,
    /// Readable (counter > 0) exactly while `state.packets` is non-empty:
    /// both change under the mutex.
    ready: EventFd,
    capacity: usize,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct QueueState {
    packets: VecDeque<Vec<u8>>,
    /// Buffers of received packets, reused by later sends.
    spare: Vec<Vec<u8>>,
}

impl Queue {
    fn new(capacity: usize) -> io::Result<Arc<Queue>> {
        let ready = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        Ok(Arc::new(Queue { state: Mutex::default(), ready, capacity, dropped: AtomicU64::new(0) }))
    }

    fn push(&self, packet: &[u8]) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.packets.len() >= self.capacity {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut buf = s.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(packet);
        s.packets.push_back(buf);
        if s.packets.len() == 1 {
            // The counter is 0 (the queue was empty), so this cannot block.
            let _ = self.ready.write(1);
        }
    }

    fn pop(&self, out: &mut [u8]) -> io::Result<usize> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(packet) = s.packets.pop_front() else { return Err(io::ErrorKind::WouldBlock.into()) };
        if s.packets.is_empty() {
            // Resets the counter to 0: not readable until the next push.
            let _ = self.ready.read();
        }
        let n = packet.len().min(out.len());
        out[..n].copy_from_slice(&packet[..n]);
        if s.spare.len() < 64 {
            s.spare.push(packet);
        }
        Ok(n)
    }
}

/// One end of a [`pair`].
#[derive(Debug)]
pub struct Loopback {
    name: String,
    mtu: usize,
    rx: Arc<Queue>,
    tx: Arc<Queue>,
}

/// Two devices wired to each other, each direction holding up to
/// [`DEFAULT_CAPACITY`] packets of up to `mtu` bytes.
pub fn pair(mtu: usize) -> io::Result<(Loopback, Loopback)> {
    pair_with_capacity(mtu, DEFAULT_CAPACITY)
}

/// [`pair`] with each direction holding up to `capacity` packets.
pub fn pair_with_capacity(mtu: usize, capacity: usize) -> io::Result<(Loopback, Loopback)> {
    let (ab, ba) = (Queue::new(capacity)?, Queue::new(capacity)?);
    let a = Loopback { name: "loopback-a".into(), mtu, rx: ba.clone(), tx: ab.clone() };
    let b = Loopback { name: "loopback-b".into(), mtu, rx: ab, tx: ba };
    Ok((a, b))
}

impl Loopback {
    /// Packets sent from this end that were dropped because the other
    /// end's queue was full.
    pub fn dropped(&self) -> u64 {
        self.tx.dropped.load(Ordering::Relaxed)
    }

    /// Packets waiting for this end to receive them.
    pub fn queued(&self) -> usize {
        self.rx.state.lock().unwrap_or_else(|e| e.into_inner()).packets.len()
    }
}

impl Device for Loopback {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.rx.pop(buf)
    }

    /// A packet longer than the MTU is refused (`InvalidInput`), as a
    /// link refuses it; one that finds the other end's queue full is
    /// dropped and counted ([`Loopback::dropped`]).
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        if packet.len() > self.mtu {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "packet longer than the MTU"));
        }
        self.tx.push(packet);
        Ok(())
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.rx.ready.as_fd()
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: BorrowedFd<'_>) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap() == 1
    }

    #[test]
    fn packets_cross_in_order_and_the_fd_is_readable_exactly_while_some_wait() {
        let (mut a, mut b) = pair(1500).unwrap();
        assert!(!readable(b.fd()));
        a.send(b"one").unwrap();
        a.send(b"two").unwrap();
        assert!(readable(b.fd()));
        assert!(!readable(a.fd()), "a packet came back to its sender");
        let recv = |d: &mut Loopback| {
            let mut buf = [0u8; 16];
            d.recv(&mut buf).map(|n| buf[..n].to_vec())
        };
        assert_eq!(recv(&mut b).unwrap(), b"one");
        assert!(readable(b.fd()));
        assert_eq!(recv(&mut b).unwrap(), b"two");
        assert!(!readable(b.fd()));
        assert_eq!(recv(&mut b).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        b.send(b"back").unwrap();
        assert_eq!(recv(&mut a).unwrap(), b"back");
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_oversize_packets_are_refused() {
        let (mut a, mut b) = pair_with_capacity(100, 2).unwrap();
        for i in 0..5u8 {
            a.send(&[i]).unwrap();
        }
        assert_eq!((a.dropped(), b.queued()), (3, 2));
        let mut buf = [0u8; 4];
        assert_eq!((b.recv(&mut buf).unwrap(), buf[0]), (1, 0));
        assert_eq!((b.recv(&mut buf).unwrap(), buf[0]), (1, 1));
        assert_eq!(a.send(&[0; 101]).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
