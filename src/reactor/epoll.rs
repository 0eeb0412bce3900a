//! The generic backend: non-blocking [`Device::recv`]/[`Device::send`] and
//! `epoll_wait` on the device's fd and the wake-up eventfd. It drives every
//! device other than a TUN, and a TUN where io_uring is refused (old
//! kernels, seccomp profiles) or epoll is asked for.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};

use nix::sys::epoll::{Epoll as EpollFd, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::{Backend, clock};
use crate::device::Device;
use crate::time::Instant;

/// Most packets read or written per turn.
const BATCH: usize = 64;
const DEVICE_TOKEN: u64 = 1;
const WAKE_TOKEN: u64 = 2;

/// Size of each packet buffer for `dev`, as [`super::uring`] sizes its
/// buffers for a TUN: the MTU (at least 1500) with room to spare, or, with
/// a virtio-net header, the header and a 64 KB super-segment.
fn packet_buffer_size(dev: &impl Device) -> usize {
    if dev.vnet_hdr() {
        return (crate::device::vnet::VNET_HDR_LEN + 65535).next_multiple_of(64);
    }
    (dev.mtu().max(1500) + 64).next_multiple_of(64)
}

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

pub struct Epoll<D: Device> {
    dev: D,
    epoll: EpollFd,
    wake_fd: RawFd,
    rx: Batch,
    tx: Batch,
    dev_readable: bool,
    /// Device writes that failed since the reactor last asked.
    tx_errors: u64,
}

impl<D: Device> Epoll<D> {
    pub(super) fn new(dev: D, wake_fd: RawFd) -> io::Result<Epoll<D>> {
        let epoll = EpollFd::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(dev.fd(), EpollEvent::new(EpollFlags::EPOLLIN, DEVICE_TOKEN))?;
        epoll.add(borrow(wake_fd), EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN))?;
        let size = packet_buffer_size(&dev);
        let (rx, tx) = (Batch::new(size), Batch::new(size));
        Ok(Epoll { dev, epoll, wake_fd, rx, tx, dev_readable: true, tx_errors: 0 })
    }

    fn read_packets(&mut self) -> io::Result<()> {
        while let Some(buf) = self.rx.next_free() {
            match self.dev.recv(buf) {
                Ok(n) => self.rx.lens.push(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.dev_readable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

use super::borrow_wake_fd as borrow;

impl<D: Device> Backend for Epoll<D> {
    fn wait(&mut self, deadline: Option<Instant>, _spin: bool) -> io::Result<()> {
        self.flush()?;
        if self.dev_readable {
            // Packets left behind by a full batch: no need to sleep.
            return self.read_packets();
        }
        let timeout = match deadline {
            None => EpollTimeout::NONE,
            Some(at) => {
                // Round up: a timer may fire late by under a millisecond,
                // never early enough to find nothing due.
                let millis = u64::try_from(clock::until(at).as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
                EpollTimeout::try_from(millis).unwrap_or(EpollTimeout::MAX)
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
                DEVICE_TOKEN => self.dev_readable = true,
                _ => {
                    let mut counter = [0u8; 8];
                    let _ = nix::unistd::read(borrow(self.wake_fd), &mut counter);
                }
            }
        }
        if self.dev_readable { self.read_packets() } else { Ok(()) }
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
            // A device write does not block; a failed one is a lost
            // packet, which TCP recovers from. It is counted.
            self.tx_errors += u64::from(self.dev.send(p).is_err());
        }
        self.tx.lens.clear();
        Ok(())
    }

    fn take_tx_errors(&mut self) -> u64 {
        core::mem::take(&mut self.tx_errors)
    }

    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        Ok(self.epoll.0.as_fd())
    }

    fn has_pending(&self) -> bool {
        self.dev_readable
    }

    fn name(&self) -> &'static str {
        "epoll"
    }
}
