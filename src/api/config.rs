//! [`Config`]: everything an [`Interface`] needs, with the defaults an
//! application gets without asking.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

#[cfg(doc)]
use super::Interface;
#[cfg(doc)]
use crate::device::Device;
use crate::device::tun::TunConfig;
use crate::reactor::{BackendKind, ReactorConfig};
use crate::stack::Limits;
use crate::tcp::TcpConfig;

/// Everything an [`Interface`] needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The TUN device: its name, and the kernel side's address and MTU if
    /// it has to be configured.
    pub tun: TunConfig,
    /// The stack's own IPv4 address (on the TUN's subnet); `0.0.0.0` for
    /// an interface that speaks IPv6 only ([`Config::ipv6_only`]).
    pub addr: Ipv4Addr,
    /// The stack's own IPv6 address (on the subnet of the TUN's
    /// `host6`), if it speaks IPv6: listeners then take connections on
    /// both families, as a `[::]` socket does on Linux, and streams
    /// connect to IPv6 addresses.
    pub addr6: Option<Ipv6Addr>,
    /// Defaults for every connection.
    pub tcp: TcpConfig,
    pub reactor: ReactorConfig,
    /// Most sockets at once (listeners, connections, TIME-WAIT).
    pub max_sockets: usize,
    /// Bounds on what peers can make the stack hold or send: the SYN queue
    /// and SYN cookies, orphans, TIME-WAIT, buffer memory, reply rates.
    pub limits: Limits,
    /// Use the TUN offloads where the kernel offers them (on by default): a
    /// virtio-net header on every packet, TCP super-segments of up to 64 KB
    /// both ways, checksums left to the kernel. A packet capture on the
    /// device then shows super-segments with partial checksums, as one on a
    /// NIC with GSO and GRO does; `false` puts real MSS-sized segments with
    /// full checksums on the TUN. Where the kernel refuses, the device runs
    /// plain, and says so once (on stderr, or a `tracing` warning with the
    /// feature `tracing`). Devices other than a TUN say themselves
    /// whether they have offloads ([`Device::vnet_hdr`]).
    pub offload: bool,
    /// Record every packet the interface receives and sends into a classic
    /// pcap file at this path (`LINKTYPE_RAW`; [`crate::device::pcap`]),
    /// which `tshark -r`, `tcpdump -r` and Wireshark open; flushed when the
    /// interface is dropped. It works with every backend, io_uring
    /// included. With offloads the records are super-segments. With
    /// [`Interface::open_queues`], queue `i` of several writes `PATH.i`.
    pub pcap: Option<PathBuf>,
    /// The IPv4 TTL and IPv6 hop limit of every packet, unless a socket
    /// sets its own (`set_ttl`): 64 by default, as Linux's
    /// `net.ipv4.ip_default_ttl`.
    pub ttl: u8,
}

impl Config {
    /// An interface that speaks IPv6 only, at `addr6` (the TUN's
    /// `host6` gives the kernel side its address): [`Config::addr`] is
    /// `0.0.0.0`, IPv4 packets are dropped and counted, and connecting to
    /// an IPv4 address says `AddrNotAvailable`.
    pub fn ipv6_only(tun: TunConfig, addr6: Ipv6Addr) -> Config {
        Config { addr6: Some(addr6), ..Config::new(tun, Ipv4Addr::UNSPECIFIED) }
    }

    /// Defaults for the device `tun` and the stack address `addr`.
    pub fn new(tun: TunConfig, addr: Ipv4Addr) -> Config {
        Config {
            tun,
            addr,
            addr6: None,
            tcp: TcpConfig::default(),
            reactor: ReactorConfig::default(),
            max_sockets: 65536,
            limits: Limits::default(),
            offload: true,
            pcap: None,
            ttl: crate::wire::ipv4::DEFAULT_TTL,
        }
    }

    /// Defaults for an interface on a device other than a TUN
    /// ([`Interface::open_device`]), with the stack address `addr`:
    /// [`Config::tun`] is left unnamed and unused.
    pub fn for_device(addr: Ipv4Addr) -> Config {
        Config::new(TunConfig::new(""), addr)
    }

    /// Lets the environment switch what examples, tests and benchmarks run
    /// on without a rebuild: `TRUST_OFFLOAD=0|1` sets [`Config::offload`],
    /// `TRUST_REACTOR=uring|uring-single|epoll` the backend,
    /// `TRUST_SPIN=MICROS` [`ReactorConfig::spin`] and `TRUST_SQPOLL=MILLIS`
    /// [`ReactorConfig::sqpoll`]. The library never
    /// calls this itself, so a variable never overrides an application's
    /// explicit setting unless the application asks for it. A value that
    /// does not parse is an `InvalidInput` error.
    pub fn apply_env(&mut self) -> io::Result<()> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let bad = |name: &str, v: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{name}={v}"));
        if let Some(v) = var("TRUST_OFFLOAD") {
            self.offload = match v.as_str() {
                "1" => true,
                "0" => false,
                _ => return Err(bad("TRUST_OFFLOAD", &v)),
            };
        }
        if let Some(v) = var("TRUST_REACTOR") {
            self.reactor.backend = match v.as_str() {
                "uring" => BackendKind::Uring,
                "uring-single" => BackendKind::UringSingleReads,
                "epoll" => BackendKind::Epoll,
                "auto" => BackendKind::Auto,
                _ => return Err(bad("TRUST_REACTOR", &v)),
            };
        }
        if let Some(v) = var("TRUST_SPIN") {
            let us: u64 = v.parse().map_err(|_| bad("TRUST_SPIN", &v))?;
            self.reactor.spin = Duration::from_micros(us);
        }
        if let Some(v) = var("TRUST_SQPOLL") {
            let ms: u64 = v.parse().map_err(|_| bad("TRUST_SQPOLL", &v))?;
            self.reactor.sqpoll = Some(Duration::from_millis(ms));
        }
        Ok(())
    }
}
