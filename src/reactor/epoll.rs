//! The fallback backend: non-blocking `read`/`write` on the TUN fd and
//! `epoll_wait` on it and the wake-up eventfd. Used where io_uring is
//! refused (old kernels, seccomp profiles) or asked for.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};

use nix::sys::epoll::{Epoll as EpollFd, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::{Backend, clock};
use crate::device::tun::Tun;
use crate::time::Instant;

/// Most packets read or written per turn.
const BATCH: usize = 64;
const TUN_TOKEN: u64 = 1;
const WAKE_TOKEN: u64 = 2;

/// `BATCH` fixed-size packet buffers in one allocation.
struct Batch {
    data: Vec<u8>,
    lens: Vec<usize>,
    size: usize,
}

impl Batch {
    fn new(size: usize) -> Batch {
        Batch { data: vec![0; size * BATCH], lens: Vec::with_capacity(BATCH), size }
    }

    fn next_free(&mut self) -> Option<&mut [u8]> {
        let i = self.lens.len();
        (i < BATCH).then(|| &mut self.data[i * self.size..(i + 1) * self.size])
    }

    fn packets(&self) -> impl Iterator<Item = &[u8]> {
        self.lens.iter().enumerate().map(|(i, &len)| &self.data[i * self.size..i * self.size + len])
    }
}

pub struct Epoll {
    tun: Tun,
    epoll: EpollFd,
    wake_fd: RawFd,
    rx: Batch,
    tx: Batch,
    tun_readable: bool,
    /// TUN writes that failed since the reactor last asked.
    tx_errors: u64,
}

impl Epoll {
    pub(super) fn new(tun: Tun, wake_fd: RawFd) -> io::Result<Epoll> {
        let epoll = EpollFd::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(tun.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, TUN_TOKEN))?;
        epoll.add(borrow(wake_fd), EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN))?;
        let size = super::uring::packet_buffer_size(&tun);
        let (rx, tx) = (Batch::new(size), Batch::new(size));
        Ok(Epoll { tun, epoll, wake_fd, rx, tx, tun_readable: true, tx_errors: 0 })
    }

    fn read_packets(&mut self) -> io::Result<()> {
        while let Some(buf) = self.rx.next_free() {
            match self.tun.read(buf) {
                Ok(n) => self.rx.lens.push(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.tun_readable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The eventfd as a borrowed fd.
fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: the eventfd belongs to the reactor's `Shared`, which the
    // reactor holds for as long as this backend lives, so the descriptor
    // stays open while it is borrowed.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl Backend for Epoll {
    fn wait(&mut self, deadline: Option<Instant>, _spin: bool) -> io::Result<()> {
        self.flush()?;
        if self.tun_readable {
            // Packets left behind by a full batch: no need to sleep.
            return self.read_packets();
        }
        let timeout = match deadline {
            None => EpollTimeout::NONE,
            Some(at) => {
                // Round up: a timer may fire late by under a millisecond,
                // never early enough to find nothing due.
                let micros = at.as_micros().saturating_sub(clock::now().as_micros());
                EpollTimeout::try_from(micros.div_ceil(1000)).unwrap_or(EpollTimeout::MAX)
            }
        };
        let mut events = [EpollEvent::empty(); 2];
        let n = match self.epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        for ev in &events[..n] {
            match ev.data() {
                TUN_TOKEN => self.tun_readable = true,
                _ => {
                    let mut counter = [0u8; 8];
                    let _ = nix::unistd::read(borrow(self.wake_fd), &mut counter);
                }
            }
        }
        if self.tun_readable { self.read_packets() } else { Ok(()) }
    }

    fn drain_received(&mut self, f: &mut dyn FnMut(&[u8])) {
        for p in self.rx.packets() {
            f(p);
        }
        self.rx.lens.clear();
    }

    fn tx_buffer(&mut self) -> Option<&mut [u8]> {
        self.tx.next_free()
    }

    fn tx_commit(&mut self, len: usize) {
        self.tx.lens.push(len);
    }

    fn flush(&mut self) -> io::Result<()> {
        for p in self.tx.packets() {
            // A TUN write does not block; a failed one is a lost packet,
            // which TCP recovers from. It is counted.
            self.tx_errors += u64::from(self.tun.write(p).is_err());
        }
        self.tx.lens.clear();
        Ok(())
    }

    fn take_tx_errors(&mut self) -> u64 {
        core::mem::take(&mut self.tx_errors)
    }

    fn name(&self) -> &'static str {
        "epoll"
    }
}
