//! Links that carry IP packets to and from the engine.
//!
//! - [`gso`]: software segmentation of TSO super-segments;
//! - [`multiqueue`]: which queue of a multi-queue TUN each packet reaches;
//! - [`sim`]: a simulated point-to-point link with a virtual clock and
//!   seeded faults (loss, reordering, duplication, corruption, delay with
//!   jitter, a bandwidth limit with a drop-tail queue);
//! - [`tun`]: a Linux TUN device (`/dev/net/tun`), non-blocking, one IPv4
//!   packet per `read`/`write`, configured through interface ioctls;
//! - [`vnet`]: the virtio-net header a TUN opened with offloads puts
//!   before each packet (checksum state, TSO super-segments).

pub mod gso;
pub mod multiqueue;
pub mod sim;
pub mod tun;
pub mod vnet;
