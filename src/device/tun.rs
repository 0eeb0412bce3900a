//! A Linux TUN device: the link between the engine and the kernel's IP layer.
//!
//! [`Tun::open`] implements the protocol of Linux
//! `Documentation/networking/tuntap.rst` §3.2 ("Frame format" and "How does
//! Virtual network device actually work?"): open `/dev/net/tun`, then
//! `TUNSETIFF` with `IFF_TUN | IFF_NO_PI` binds the descriptor to the named
//! interface, creating it unless it exists (a persistent device made by
//! `ip tuntap add mode tun`). Each `read` then returns one IP packet (IPv4
//! or IPv6, told apart by the version nibble), each `write` injects one,
//! with no header in front (`IFF_NO_PI`).
//!
//! The kernel side is configured with the classic interface ioctls of
//! netdevice(7) (`SIOCSIFADDR`, `SIOCSIFNETMASK`, `SIOCSIFMTU`,
//! `SIOCSIFFLAGS`) on an `AF_INET` datagram socket, and for IPv6 with
//! `SIOCSIFADDR` taking a `struct in6_ifreq` on an `AF_INET6` one (ipv6(7)),
//! never by running `ip`. An interface that already has an address (IPv4,
//! or IPv6 other than link-local) is used as it is.

use std::ffi::c_char;
use std::fs::OpenOptions;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

/// The clone device every TUN descriptor is opened from.
const CLONE_DEVICE: &str = "/dev/net/tun";

/// How often, and how far apart, attaching to a busy existing device is
/// retried: together one second.
const BUSY_RETRIES: u32 = 50;
const BUSY_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

/// Configuration of a TUN device.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TunConfig {
    /// Interface name, at most 15 bytes (`IFNAMSIZ - 1`). Empty lets the
    /// kernel choose (`tun0`, `tun1`...); [`Tun::name`] tells which.
    pub name: String,
    /// MTU to set when we configure the device (`None`: leave it as it is,
    /// 1500 for a new device).
    pub mtu: Option<usize>,
    /// The kernel side's IPv4 address and prefix length.
    pub host: Option<(Ipv4Addr, u8)>,
    /// The kernel side's IPv6 address and prefix length (at most 128),
    /// alongside or instead of [`TunConfig::host`]. Setting it turns IPv6
    /// on for the device if it was off (`disable_ipv6`) and needs an MTU of
    /// at least 1280 (RFC 8200 §5).
    ///
    /// A layer-3 TUN (`IFF_TUN`) has no link-layer addresses, so the kernel
    /// needs no Neighbour Discovery on it: the device is `IFF_NOARP`, its
    /// neighbour entries are `NUD_NOARP` (`ndisc_constructor`), and a
    /// packet for any on-link address (the engine's, inside the prefix)
    /// goes straight into the device, unsolicited. For the same reason the
    /// kernel does no Duplicate Address Detection there: the address is
    /// usable (not `tentative`) as soon as it is added.
    pub host6: Option<(Ipv6Addr, u8)>,
    /// How many packets the kernel queues for us before it drops
    /// (`txqueuelen`, `SIOCSIFTXQLEN`), set when we configure the device.
    /// The TUN default is 500, which a burst of ACKs from thousands of
    /// connections closing at once overflows (every drop then costs a
    /// retransmission timeout); default 4096.
    pub tx_queue_len: Option<usize>,
    /// Ask for offloads: `IFF_VNET_HDR` (a virtio-net header before every
    /// packet, [`super::vnet`]) and `TUNSETOFFLOAD` (checksums, TSO). If
    /// the kernel refuses, the device opens without them ([`Tun::vnet_hdr`]
    /// says which).
    pub vnet_hdr: bool,
}

impl TunConfig {
    /// A device named `name`, with the kernel's MTU and no address.
    pub fn new(name: &str) -> TunConfig {
        TunConfig {
            name: name.to_string(),
            mtu: None,
            host: None,
            host6: None,
            tx_queue_len: Some(4096),
            vnet_hdr: false,
        }
    }

    /// The `ifr_flags` for `TUNSETIFF`: the one place device features are
    /// chosen.
    fn tun_flags(&self, vnet_hdr: bool, multi_queue: bool) -> libc::c_short {
        let vnet = if vnet_hdr { IFF_VNET_HDR } else { 0 };
        let multi = if multi_queue { libc::IFF_MULTI_QUEUE } else { 0 };
        (libc::IFF_TUN | libc::IFF_NO_PI | vnet | multi) as libc::c_short
    }

    /// Checks everything that can be checked without the kernel.
    fn validate(&self) -> io::Result<()> {
        if self.name.len() >= libc::IFNAMSIZ || self.name.contains('\0') {
            return Err(invalid(format!(
                "TUN device name `{}` must be at most {} bytes, without NUL",
                self.name.escape_debug(),
                libc::IFNAMSIZ - 1
            )));
        }
        if let Some((_, prefix)) = self.host {
            prefix_to_netmask(prefix)?;
        }
        if let Some((_, prefix)) = self.host6
            && prefix > 128
        {
            return Err(invalid(format!("IPv6 prefix length {prefix} is larger than 128")));
        }
        if let Some(mtu) = self.mtu {
            libc::c_int::try_from(mtu).map_err(|_| invalid(format!("MTU {mtu} is too large")))?;
            if self.host6.is_some() && mtu < IPV6_MIN_MTU {
                return Err(invalid(format!("MTU {mtu} is below IPv6's minimum of {IPV6_MIN_MTU}")));
            }
        }
        if let Some(len) = self.tx_queue_len {
            libc::c_int::try_from(len).map_err(|_| invalid(format!("queue length {len} is too large")))?;
        }
        Ok(())
    }
}

/// The smallest MTU of a link that carries IPv6 (RFC 8200 §5); Linux
/// turns IPv6 off on a device with less.
pub const IPV6_MIN_MTU: usize = 1280;

/// An open TUN device, non-blocking.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
    mtu: usize,
    created: bool,
    vnet_hdr: bool,
}

/// `IFF_VNET_HDR` and `TUNSETOFFLOAD` (`_IOW('T', 208, unsigned int)`) with
/// its flags, from `include/uapi/linux/if_tun.h` (libc lacks them).
const IFF_VNET_HDR: libc::c_int = 0x4000;
const TUNSETOFFLOAD: libc::Ioctl = 0x4004_54d0;
const TUN_F_CSUM: libc::c_ulong = 0x01;
const TUN_F_TSO4: libc::c_ulong = 0x02;
const TUN_F_TSO6: libc::c_ulong = 0x04;

impl Tun {
    /// Opens `/dev/net/tun` (`O_RDWR | O_CLOEXEC | O_NONBLOCK`) and attaches
    /// to the device `cfg.name` with `TUNSETIFF` (`IFF_TUN | IFF_NO_PI`),
    /// creating it if it does not exist (tuntap.rst §3.2).
    ///
    /// If the interface already has an address (IPv4, or IPv6 other than
    /// link-local) it is used as it is (only brought up). Otherwise
    /// `cfg.host` is set (`SIOCSIFADDR`, then `SIOCSIFNETMASK`), then
    /// `cfg.mtu` (`SIOCSIFMTU`), `cfg.tx_queue_len` (`SIOCSIFTXQLEN`) and
    /// `cfg.host6` (IPv6 enabled, DAD off, `SIOCSIFADDR` with an
    /// `in6_ifreq`), and the interface is brought up (`SIOCGIFFLAGS`,
    /// `SIOCSIFFLAGS |= IFF_UP`), whichever addresses were given. The MTU
    /// is then read back (`SIOCGIFMTU`).
    ///
    /// Errors name the step and the device; lacking privileges is
    /// [`io::ErrorKind::PermissionDenied`]. A device this call created
    /// vanishes again when it fails, since its only descriptor is closed.
    pub fn open(cfg: &TunConfig) -> io::Result<Tun> {
        Self::open_queue(cfg, false)
    }

    /// Opens `queues` queues of one multi-queue device (`IFF_MULTI_QUEUE`),
    /// each a descriptor of its own, as [`Tun::open`] opens one, and
    /// attaches the steering program of [`super::multiqueue`]: every
    /// packet reaches the queue [`crate::wire::flow::queue`] names for its
    /// port pair. With offloads asked for, either every queue has them or
    /// none has. An existing device must have been made multi-queue
    /// (`ip tuntap add mode tun multi_queue`).
    pub fn open_queues(cfg: &TunConfig, queues: usize) -> io::Result<Vec<Tun>> {
        if queues == 0 || queues > usize::from(u16::MAX) {
            return Err(invalid(format!("a TUN device has 1 to 65535 queues, not {queues}")));
        }
        let first = Self::open_queue(cfg, true)?;
        let mut rest = TunConfig { name: first.name.clone(), vnet_hdr: first.vnet_hdr, ..cfg.clone() };
        rest.host = None;
        rest.host6 = None;
        let mut all = vec![first];
        for _ in 1..queues {
            let mut tun = Self::open_with(&rest, rest.vnet_hdr, true)?;
            tun.created = false;
            all.push(tun);
        }
        super::multiqueue::attach_steering(&all[0])?;
        Ok(all)
    }

    fn open_queue(cfg: &TunConfig, multi_queue: bool) -> io::Result<Tun> {
        if cfg.vnet_hdr {
            match Self::open_with(cfg, true, multi_queue) {
                Ok(tun) => return Ok(tun),
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(e),
                Err(e) => {
                    crate::log::warn_once!("TUN offloads unavailable ({e}); plain packets");
                }
            }
        }
        Self::open_with(cfg, false, multi_queue)
    }

    fn open_with(cfg: &TunConfig, vnet_hdr: bool, multi_queue: bool) -> io::Result<Tun> {
        cfg.validate()?;
        let created = cfg.name.is_empty() || nix::net::if_::if_nametoindex(cfg.name.as_str()).is_err();

        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK) // std adds O_CLOEXEC
            .open(CLONE_DEVICE)
            .map_err(|e| {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
                open_error(&cfg.name, errno, "opening", CLONE_DEVICE)
            })?;
        let fd = OwnedFd::from(file);

        let mut ifr = ifreq(&cfg.name);
        ifr.ifr_ifru.ifru_flags = cfg.tun_flags(vnet_hdr, multi_queue);
        // A device whose previous holder has just closed it may still be
        // attached for a moment: io_uring drops the files its requests held
        // in a kernel worker after the ring is closed. Retry EBUSY briefly
        // (bounded) before saying the device is in use.
        let mut busy_retries = BUSY_RETRIES;
        loop {
            match ifreq_ioctl(fd.as_fd(), libc::TUNSETIFF, &mut ifr) {
                Ok(()) => break,
                Err(Errno::EBUSY) if !created && busy_retries > 0 => {
                    busy_retries -= 1;
                    std::thread::sleep(BUSY_RETRY_INTERVAL);
                }
                Err(e) => return Err(open_error(&cfg.name, e, "attaching to", "TUNSETIFF")),
            }
        }
        // The kernel writes back the actual name (it chose one if ours was empty).
        let name = ifreq_name(&ifr);

        let ctl = Control::new(&name)?;
        if !ctl.has_ipv4_address()? && !has_ipv6_address(&name) {
            if let Some((addr, prefix)) = cfg.host {
                ctl.set_addr(libc::SIOCSIFADDR, "SIOCSIFADDR", addr)?;
                ctl.set_addr(libc::SIOCSIFNETMASK, "SIOCSIFNETMASK", prefix_to_netmask(prefix)?)?;
            }
            if let Some(mtu) = cfg.mtu {
                let mut ifr = ifreq(&name);
                // Cannot fail: `validate` checked that the MTU fits.
                ifr.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu).unwrap_or(libc::c_int::MAX);
                ctl.ioctl(libc::SIOCSIFMTU, &format!("SIOCSIFMTU {mtu}"), &mut ifr)?;
            }
            if let Some(len) = cfg.tx_queue_len {
                let mut ifr = ifreq(&name);
                // `ifr_qlen` shares the union's `int` with `ifru_mtu`;
                // `validate` checked that the length fits.
                ifr.ifr_ifru.ifru_mtu = libc::c_int::try_from(len).unwrap_or(libc::c_int::MAX);
                ctl.ioctl(libc::SIOCSIFTXQLEN, &format!("SIOCSIFTXQLEN {len}"), &mut ifr)?;
            }
            if let Some((addr, prefix)) = cfg.host6 {
                // After the MTU: the kernel keeps IPv6 off below 1280.
                let mtu = ctl.mtu()?;
                if mtu < IPV6_MIN_MTU {
                    return Err(invalid(format!(
                        "TUN device `{name}` has MTU {mtu}, below IPv6's minimum of {IPV6_MIN_MTU}"
                    )));
                }
                add_ipv6_address(&name, addr, prefix)?;
            }
        }
        ctl.bring_up()?;
        if let Some((addr, _)) = cfg.host6 {
            wait_ipv6_usable(&name, addr)?;
        }
        let mtu = ctl.mtu()?;
        if vnet_hdr {
            // SAFETY: TUNSETOFFLOAD takes its flags by value (no pointer),
            // on a descriptor we own and have just attached.
            let r =
                unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) };
            if r < 0 {
                return Err(step_error(&name, "TUNSETOFFLOAD", Errno::last()));
            }
        }
        Ok(Tun { fd, name, mtu, created, vnet_hdr })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface's MTU, as read back after configuration.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Every packet read or written carries a virtio-net header
    /// ([`super::vnet`]), and the kernel takes and gives super-segments.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// Whether the interface did not exist before [`Tun::open`].
    pub fn created(&self) -> bool {
        self.created
    }

    /// Reads one packet; [`io::ErrorKind::WouldBlock`] when none is queued.
    /// A packet longer than `buf` is truncated (the rest is lost). The
    /// kernel also sends packets of its own (IPv6 multicast listener
    /// reports), which callers must skip.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(nix::unistd::read(&self.fd, buf)?)
    }

    /// Writes one packet; the kernel receives it as if from a wire.
    pub fn write(&self, packet: &[u8]) -> io::Result<usize> {
        Ok(nix::unistd::write(&self.fd, packet)?)
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The netmask of a prefix length: 24 is 255.255.255.0.
pub fn prefix_to_netmask(prefix: u8) -> io::Result<Ipv4Addr> {
    match prefix {
        0 => Ok(Ipv4Addr::UNSPECIFIED),
        1..=32 => Ok(Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix)))),
        _ => Err(invalid(format!("IPv4 prefix length {prefix} is larger than 32"))),
    }
}

/// Interface configuration through an `AF_INET` socket (netdevice(7)).
struct Control<'a> {
    sock: OwnedFd,
    name: &'a str,
}

impl<'a> Control<'a> {
    fn new(name: &'a str) -> io::Result<Control<'a>> {
        let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| step_error(name, "socket(AF_INET, SOCK_DGRAM) for configuration", e))?;
        Ok(Control { sock, name })
    }

    fn ioctl(&self, request: libc::Ioctl, step: &str, ifr: &mut libc::ifreq) -> io::Result<()> {
        ifreq_ioctl(self.sock.as_fd(), request, ifr).map_err(|e| step_error(self.name, step, e))
    }

    /// `SIOCGIFADDR` fails with `EADDRNOTAVAIL` when there is no address.
    fn has_ipv4_address(&self) -> io::Result<bool> {
        let mut ifr = ifreq(self.name);
        match ifreq_ioctl(self.sock.as_fd(), libc::SIOCGIFADDR, &mut ifr) {
            Ok(()) => Ok(true),
            Err(Errno::EADDRNOTAVAIL) => Ok(false),
            Err(e) => Err(step_error(self.name, "SIOCGIFADDR", e)),
        }
    }

    fn set_addr(&self, request: libc::Ioctl, step: &str, addr: Ipv4Addr) -> io::Result<()> {
        let mut ifr = ifreq(self.name);
        ifr.ifr_ifru.ifru_addr = sockaddr_in(addr);
        self.ioctl(request, &format!("{step} {addr}"), &mut ifr)
    }

    fn bring_up(&self) -> io::Result<()> {
        let mut ifr = ifreq(self.name);
        self.ioctl(libc::SIOCGIFFLAGS, "SIOCGIFFLAGS", &mut ifr)?;
        // SAFETY: every field of the union is plain data, so any bit pattern is a
        // valid `c_short`; SIOCGIFFLAGS has just written `ifru_flags`.
        let flags = unsafe { ifr.ifr_ifru.ifru_flags };
        let up = libc::IFF_UP as libc::c_short;
        if flags & up == 0 {
            ifr.ifr_ifru.ifru_flags = flags | up;
            self.ioctl(libc::SIOCSIFFLAGS, "SIOCSIFFLAGS (IFF_UP)", &mut ifr)?;
        }
        Ok(())
    }

    fn mtu(&self) -> io::Result<usize> {
        let mut ifr = ifreq(self.name);
        self.ioctl(libc::SIOCGIFMTU, "SIOCGIFMTU", &mut ifr)?;
        // SAFETY: every field of the union is plain data, so any bit pattern is a
        // valid `c_int`; SIOCGIFMTU has just written `ifru_mtu`.
        let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };
        usize::try_from(mtu).map_err(|_| step_error(self.name, "SIOCGIFMTU", Errno::ERANGE))
    }
}

/// Whether the kernel side of the interface `name` (in the calling
/// thread's network namespace) has an address the kernel can reach the
/// stack from: IPv4 (`SIOCGIFADDR`), or IPv6 other than link-local
/// (`if_inet6`). Without one, nothing on the kernel side can talk to the
/// stack over this device.
pub fn kernel_side_has_address(name: &str) -> io::Result<bool> {
    Ok(Control::new(name)?.has_ipv4_address()? || has_ipv6_address(name))
}

/// Whether `name` has an IPv6 address other than a link-local one, as
/// `/proc/thread-self/net/if_inet6` lists them (one line an address: the
/// address in hex, the interface index, the prefix length, the scope, the
/// flags, the name; link-local scope is `20`). `thread-self`, since
/// `/proc/self/net` shows the namespace of the process's first thread, not
/// the caller's. Without IPv6 in the kernel there is no file, and no address.
fn has_ipv6_address(name: &str) -> bool {
    std::fs::read_to_string("/proc/thread-self/net/if_inet6")
        .is_ok_and(|list| lists_ipv6_address(&list, name))
}

/// How long [`wait_ipv6_usable`] waits.
const IPV6_READY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits until the kernel may use `addr` on `name`. The kernel finishes an
/// address's (skipped) duplicate address detection from a work queue once
/// the device is up: until then the address is `tentative`, and a client
/// that connects at once sends from an address that cannot receive the
/// answer (seen under load in CI). Returns at once for an address the
/// listing does not show as ours (a persistent device used as it is).
fn wait_ipv6_usable(name: &str, addr: Ipv6Addr) -> io::Result<()> {
    let until = std::time::Instant::now() + IPV6_READY_WAIT;
    loop {
        let list = std::fs::read_to_string("/proc/thread-self/net/if_inet6").unwrap_or_default();
        match ipv6_address_flags(&list, name, addr) {
            Some(flags) if flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) != 0 => {}
            _ => return Ok(()),
        }
        if std::time::Instant::now() >= until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("TUN device `{name}`: IPv6 address {addr} still tentative after {IPV6_READY_WAIT:?}"),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// `IFA_F_TENTATIVE` and `IFA_F_DADFAILED` (`linux/if_addr.h`).
const IFA_F_TENTATIVE: u32 = 0x40;
const IFA_F_DADFAILED: u32 = 0x08;

/// The flags an `if_inet6` listing gives `addr` on `name`, if it lists it.
fn ipv6_address_flags(list: &str, name: &str, addr: Ipv6Addr) -> Option<u32> {
    let hex: String = addr.octets().iter().map(|b| format!("{b:02x}")).collect();
    list.lines().find_map(|line| match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        [a, _, _, _, flags, dev] if *dev == name && *a == hex => u32::from_str_radix(flags, 16).ok(),
        _ => None,
    })
}

/// Whether an `if_inet6` listing has an address of `name` that is not
/// link-local.
fn lists_ipv6_address(list: &str, name: &str) -> bool {
    const SCOPE_LINK: &str = "20";
    list.lines().map(|line| line.split_whitespace().collect::<Vec<_>>()).any(|fields| {
        matches!(fields.as_slice(), [_, _, _, scope, _, dev] if *dev == name && *scope != SCOPE_LINK)
    })
}

/// Gives `name` the IPv6 address `addr/prefix` (`SIOCSIFADDR` with a
/// `struct in6_ifreq` on an `AF_INET6` socket: `addrconf_add_ifaddr`, a
/// permanent address with a prefix route, as `ip addr add` makes).
///
/// First IPv6 is turned on for the device if it is off (a device made
/// while `conf/default/disable_ipv6` was 1 refuses addresses with
/// `EACCES`), and Duplicate Address Detection off if it is on.
///
/// DAD would hold the address `tentative` (unusable: binding it fails)
/// until it completes, and on a device without carrier for ever. On a TUN
/// it does not run, whatever `accept_dad` says: every `IFF_TUN` device is
/// `IFF_NOARP`, and `addrconf_dad_begin` completes DAD at once for an
/// `IFF_NOARP` device before it looks at `accept_dad` (besides,
/// `ipv6_add_dev` sets such a device's `accept_dad` to -1). Both hold, as
/// checked on Linux 6.18: with the device's `accept_dad` set to 1 the
/// address came up at once, and stayed `tentative` only after `ip link
/// set arp on` had cleared `IFF_NOARP` (a persistent device can be changed
/// so). Writing 0 (only when the setting is above 0) covers that case, as
/// long as `conf/all/accept_dad` is 0 too, the default (the kernel runs
/// DAD if either is 1).
///
/// An address that is already there (`EEXIST`) is fine.
fn add_ipv6_address(name: &str, addr: Ipv6Addr, prefix: u8) -> io::Result<()> {
    if read_ipv6_conf(name, "disable_ipv6")? == Some(1) {
        write_ipv6_conf(name, "disable_ipv6")?;
    }
    if read_ipv6_conf(name, "accept_dad")?.is_some_and(|dad| dad > 0) {
        write_ipv6_conf(name, "accept_dad")?;
    }
    let ifindex = nix::net::if_::if_nametoindex(name).map_err(|e| step_error(name, "if_nametoindex", e))?;
    let sock = socket(AddressFamily::Inet6, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| step_error(name, "socket(AF_INET6, SOCK_DGRAM) for configuration", e))?;
    let mut req = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr { s6_addr: addr.octets() },
        ifr6_prefixlen: u32::from(prefix),
        // Interface indices are positive `int`s in the kernel.
        ifr6_ifindex: libc::c_int::try_from(ifindex).unwrap_or(libc::c_int::MAX),
    };
    // SAFETY: `sock` is an open AF_INET6 socket for the duration of the call,
    // and SIOCSIFADDR on it (`addrconf_add_ifaddr`) reads exactly one
    // `struct in6_ifreq` through its argument, which points to a live,
    // exclusively borrowed `in6_ifreq` (libc's definition of that struct).
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFADDR, &mut req as *mut libc::in6_ifreq) };
    match Errno::result(rc) {
        Ok(_) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(step_error(name, &format!("SIOCSIFADDR {addr}/{prefix}"), e)),
    }
}

/// `/proc/sys/net/ipv6/conf/NAME/KEY`: a per-device IPv6 setting, in the
/// network namespace of the thread that opens it.
fn ipv6_conf_path(name: &str, key: &str) -> String {
    format!("/proc/sys/net/ipv6/conf/{name}/{key}")
}

/// A per-device IPv6 setting; `None` if the kernel has none (IPv6 off for
/// the whole kernel, or no `/proc`).
fn read_ipv6_conf(name: &str, key: &str) -> io::Result<Option<i64>> {
    let path = ipv6_conf_path(name, key);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("configuring TUN device `{name}`: {path} says {text:?}"),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => {
            Err(io::Error::new(e.kind(), format!("configuring TUN device `{name}`: reading {path}: {e}")))
        }
    }
}

/// Sets a per-device IPv6 setting to 0.
fn write_ipv6_conf(name: &str, key: &str) -> io::Result<()> {
    let path = ipv6_conf_path(name, key);
    std::fs::write(&path, "0").map_err(|e| {
        io::Error::new(e.kind(), format!("configuring TUN device `{name}`: writing 0 to {path}: {e}"))
    })
}

/// A zeroed `ifreq` carrying `name` (validated: shorter than `IFNAMSIZ`).
fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is a C struct of a `c_char` array and a union of integers,
    // `sockaddr`s, byte arrays and a raw pointer; all-zero bytes are a valid value
    // of each (the pointer is null and never dereferenced by us).
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.as_bytes().iter().take(libc::IFNAMSIZ - 1)) {
        *dst = src as c_char;
    }
    ifr
}

/// The NUL-terminated name in an `ifreq` the kernel filled in.
fn ifreq_name(ifr: &libc::ifreq) -> String {
    let bytes: Vec<u8> = ifr.ifr_name.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `sockaddr_in { AF_INET, port 0, addr }` laid out as the `sockaddr` the
/// ioctls take: `sa_data` holds the port (2 bytes) then the address.
fn sockaddr_in(addr: Ipv4Addr) -> libc::sockaddr {
    let mut sa_data = [0 as c_char; 14];
    for (dst, src) in sa_data[2..6].iter_mut().zip(addr.octets()) {
        *dst = src as c_char;
    }
    libc::sockaddr { sa_family: libc::AF_INET as libc::sa_family_t, sa_data }
}

/// One ioctl whose argument is a `struct ifreq`.
fn ifreq_ioctl(fd: BorrowedFd<'_>, request: libc::Ioctl, ifr: &mut libc::ifreq) -> Result<(), Errno> {
    // SAFETY: `fd` is open for the duration of the call, and every request passed
    // here (TUNSETIFF, SIOC[GS]IF*) reads and/or writes exactly one `struct ifreq`
    // through its argument, which points to a live, exclusively borrowed `ifreq`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, ifr as *mut libc::ifreq) };
    Errno::result(rc).map(drop)
}

/// Errors of opening `/dev/net/tun` and of `TUNSETIFF`, in plain words.
fn open_error(name: &str, errno: Errno, doing: &str, what: &str) -> io::Error {
    let kind = io::Error::from(errno).kind();
    let msg = match errno {
        Errno::EPERM | Errno::EACCES => {
            format!("opening TUN device `{name}` needs root or CAP_NET_ADMIN ({what}: {})", errno.desc())
        }
        Errno::ENOENT | Errno::ENODEV => format!(
            "opening TUN device `{name}`: {what} does not exist (is the `tun` module loaded?): {}",
            errno.desc()
        ),
        Errno::EBUSY => format!(
            "TUN device `{name}` is in use by another process (it is not multi-queue): {what}: {}",
            errno.desc()
        ),
        Errno::EINVAL if what == "TUNSETIFF" => format!(
            "`{name}` exists but is not a TUN device with these flags (TAP, or multi-queue?): \
             TUNSETIFF: {}",
            errno.desc()
        ),
        _ => format!("{doing} TUN device `{name}`: {what}: {}", errno.desc()),
    };
    io::Error::new(kind, msg)
}

/// An error of a configuration step.
pub(super) fn step_error(name: &str, step: &str, errno: Errno) -> io::Error {
    io::Error::new(
        io::Error::from(errno).kind(),
        format!("configuring TUN device `{name}`: {step}: {}", errno.desc()),
    )
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_name_is_rejected_before_any_syscall() {
        let err = Tun::open(&TunConfig::new("sixteen-bytes-xx")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("at most 15 bytes"), "{err}");
        assert!(TunConfig::new("fifteen-bytes-x").validate().is_ok());
        assert_eq!(TunConfig::new("a\0b").validate().unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn prefix_to_netmask_covers_the_range() {
        assert_eq!(prefix_to_netmask(0).unwrap(), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(prefix_to_netmask(1).unwrap(), Ipv4Addr::new(128, 0, 0, 0));
        assert_eq!(prefix_to_netmask(24).unwrap(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(prefix_to_netmask(30).unwrap(), Ipv4Addr::new(255, 255, 255, 252));
        assert_eq!(prefix_to_netmask(32).unwrap(), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(prefix_to_netmask(33).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn bad_prefix_and_mtu_are_rejected_before_any_syscall() {
        let mut cfg = TunConfig::new("tunx");
        cfg.host = Some((Ipv4Addr::new(10, 0, 0, 1), 40));
        assert_eq!(Tun::open(&cfg).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        cfg.host = None;
        cfg.mtu = Some(usize::MAX);
        assert_eq!(Tun::open(&cfg).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn bad_ipv6_prefix_and_mtu_are_rejected_before_any_syscall() {
        assert_eq!(TunConfig::new("tunx").host6, None);
        let host6 = Some(("fd00:77::1".parse().unwrap(), 64));
        let mut cfg = TunConfig { host6, ..TunConfig::new("tunx") };
        assert!(cfg.validate().is_ok());
        cfg.host6 = Some(("fd00:77::1".parse().unwrap(), 128));
        assert!(cfg.validate().is_ok());
        cfg.host6 = Some(("fd00:77::1".parse().unwrap(), 129));
        let err = Tun::open(&cfg).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("IPv6 prefix length 129"), "{err}");
        cfg.host6 = host6;
        cfg.mtu = Some(IPV6_MIN_MTU);
        assert!(cfg.validate().is_ok());
        cfg.mtu = Some(IPV6_MIN_MTU - 1);
        let err = Tun::open(&cfg).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("below IPv6's minimum of 1280"), "{err}");
        // Without IPv6 a small MTU is the user's business.
        cfg.host6 = None;
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn ipv6_addresses_other_than_link_local_count() {
        let list = "\
fe800000000000000000000000000001 03 40 20 80   tun6\n\
fd000077000000000000000000000001 04 40 00 80 other6\n\
00000000000000000000000000000001 01 80 10 80       lo\n";
        assert!(!lists_ipv6_address(list, "tun6"), "link-local only");
        assert!(lists_ipv6_address(list, "other6"));
        assert!(lists_ipv6_address(list, "lo"), "host scope");
        assert!(!lists_ipv6_address(list, "tun"), "whole names only");
        assert!(!lists_ipv6_address("", "tun6"));
    }

    #[test]
    fn an_address_flags_come_from_its_own_line() {
        let list = "\
fd000077000000000000000000000001 04 40 00 c0   tun6\n\
fd000077000000000000000000000002 04 40 00 80   tun6\n";
        let a1: Ipv6Addr = "fd00:77::1".parse().unwrap();
        let a2: Ipv6Addr = "fd00:77::2".parse().unwrap();
        assert_eq!(ipv6_address_flags(list, "tun6", a1), Some(0xc0), "tentative");
        assert_eq!(ipv6_address_flags(list, "tun6", a2), Some(0x80), "usable");
        assert_eq!(ipv6_address_flags(list, "tun", a1), None);
    }

    #[test]
    fn sockaddr_and_name_layouts() {
        let sa = sockaddr_in(Ipv4Addr::new(10, 66, 0, 1));
        assert_eq!(sa.sa_family, libc::AF_INET as libc::sa_family_t);
        assert_eq!(sa.sa_data[..6].iter().map(|&c| c as u8).collect::<Vec<_>>(), [0, 0, 10, 66, 0, 1]);
        assert_eq!(ifreq_name(&ifreq("tun7")), "tun7");
    }

    #[test]
    fn errors_say_what_went_wrong() {
        let e = open_error("t0", Errno::EPERM, "opening", CLONE_DEVICE);
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(
            e.to_string(),
            "opening TUN device `t0` needs root or CAP_NET_ADMIN (/dev/net/tun: Operation not permitted)"
        );
        assert!(
            open_error("t0", Errno::ENOENT, "opening", CLONE_DEVICE).to_string().contains("does not exist")
        );
        assert!(open_error("t0", Errno::EBUSY, "attaching to", "TUNSETIFF").to_string().contains("in use"));
        let e = step_error("t0", "SIOCSIFMTU", Errno::EINVAL);
        assert_eq!(e.to_string(), "configuring TUN device `t0`: SIOCSIFMTU: Invalid argument");
    }
}
