//! Links that carry IP packets to and from the engine.
//!
//! [`Device`] is what the reactor drives, in the spirit of smoltcp's
//! `phy::Device`: receive a packet, send one, and a descriptor to sleep on.
//! Devices stack: a middleware such as [`pcap::Pcap`] wraps any device and
//! is one itself.
//!
//! - [`gso`]: software segmentation of TSO super-segments;
//! - [`loopback`]: two in-process devices wired to each other (tests of the
//!   API without root, namespaces or a TUN);
//! - [`multiqueue`]: which queue of a multi-queue TUN each packet reaches;
//! - [`pcap`]: packet captures in the classic pcap format, as a writer and
//!   as a middleware;
//! - [`sim`]: a simulated point-to-point link with a virtual clock and
//!   seeded faults (loss, reordering, duplication, corruption, delay with
//!   jitter, a bandwidth limit with a drop-tail queue);
//! - [`tun`]: a Linux TUN device (`/dev/net/tun`), non-blocking, one IPv4
//!   packet per `read`/`write`, configured through interface ioctls;
//! - [`vnet`]: the virtio-net header a TUN opened with offloads puts
//!   before each packet (checksum state, TSO super-segments).

pub mod gso;
pub mod loopback;
pub mod multiqueue;
pub mod pcap;
pub mod sim;
pub mod tun;
pub mod vnet;

use std::io;
use std::os::fd::BorrowedFd;

/// A link that carries whole IP packets (IPv4 or IPv6, no link-layer
/// header), non-blocking: what a reactor drives.
///
/// The reactor sleeps on [`Device::fd`] beside its own wake-up eventfd
/// and timer, then calls [`Device::recv`] until it says `WouldBlock`. A
/// [`tun::Tun`] keeps its io_uring path (`Interface::open_device` sees
/// it is one); every other device runs under the epoll backend.
pub trait Device: Send + 'static {
    /// Receives one packet into `buf`, returning its length;
    /// [`io::ErrorKind::WouldBlock`] when none is queued. A packet longer
    /// than `buf` is truncated.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Sends one packet. A link that is full may drop it (and count it) as
    /// a wire would; an error is counted by the reactor as a lost packet.
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;

    /// A descriptor that polls readable (level-triggered) while
    /// [`Device::recv`] may return a packet.
    fn fd(&self) -> BorrowedFd<'_>;

    /// The largest packet the link carries (without a virtio-net header).
    fn mtu(&self) -> usize;

    /// Whether every packet carries a virtio-net header ([`vnet`]) and the
    /// link takes and gives TCP super-segments.
    fn vnet_hdr(&self) -> bool {
        false
    }

    /// The device's name, for messages.
    fn name(&self) -> &str;
}

/// A TUN device as a [`Device`].
impl Device for tun::Tun {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.write(packet).map(|_| ())
    }

    fn fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }

    fn mtu(&self) -> usize {
        tun::Tun::mtu(self)
    }

    fn vnet_hdr(&self) -> bool {
        tun::Tun::vnet_hdr(self)
    }

    fn name(&self) -> &str {
        tun::Tun::name(self)
    }
}
