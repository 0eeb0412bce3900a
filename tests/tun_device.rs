//! The TUN device against the real kernel, each test in fresh network
//! namespaces (needs root; fails, never skips, without it).

mod common;

use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::netns::{LossyPath, Netns};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use trust::device::tun::{Tun, TunConfig};

const WAIT: Duration = Duration::from_secs(5);

fn config(name: &str, host: Ipv4Addr, prefix: u8, mtu: Option<usize>) -> TunConfig {
    tun_config(name, |c| {
        c.mtu = mtu;
        c.host = Some((host, prefix));
    })
}

/// `TunConfig::new(name)` changed by `f` (the struct is `#[non_exhaustive]`).
fn tun_config(name: &str, f: impl FnOnce(&mut TunConfig)) -> TunConfig {
    let mut cfg = TunConfig::new(name);
    f(&mut cfg);
    cfg
}

/// RFC 1071 Internet checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 =
        data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet (RFC 791, 20-byte header, TTL 64) around `payload`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap();
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, protocol, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An ICMP echo request (RFC 792).
fn echo_request(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let sum = checksum(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

fn src(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[12], p[13], p[14], p[15])
}

fn dst(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[16], p[17], p[18], p[19])
}

/// Whether `ip addr show` output lists the `UP` flag.
fn is_up(show: &str) -> bool {
    show.split(['<', '>']).nth(1).is_some_and(|flags| flags.split(',').any(|f| f == "UP"))
}

/// Reads IPv4 packets until one satisfies `want`, waiting with poll(2)
/// until `deadline`. Other packets (IPv6 chatter...) are skipped.
fn read_until(tun: &Tun, deadline: Instant, want: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    read_packet(tun, deadline, |p| p.len() >= 20 && p[0] >> 4 == 4 && want(p))
}

/// Reads IPv6 packets (a whole fixed header) until one satisfies `want`.
fn read_until6(tun: &Tun, deadline: Instant, want: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    read_packet(tun, deadline, |p| p.len() >= 40 && p[0] >> 4 == 6 && want(p))
}

fn src6(p: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap())
}

fn dst6(p: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap())
}

/// Reads packets until one satisfies `want`, waiting with poll(2) until
/// `deadline`; the others are skipped.
fn read_packet(tun: &Tun, deadline: Instant, want: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    loop {
        match tun.read(&mut buf) {
            Ok(n) => {
                let p = &buf[..n];
                if want(p) {
                    return Some(p.to_vec());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX).max(1);
                let mut fds = [PollFd::new(tun.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::from(ms)).expect("poll on the TUN");
            }
            Err(e) => panic!("reading the TUN: {e}"),
        }
    }
}

/// Sends `count` UDP datagrams from a kernel socket inside `ns`.
fn send_udp(ns: &Netns, to: (Ipv4Addr, u16), count: usize) {
    ns.run(move || {
        let sock = UdpSocket::bind("0.0.0.0:0").expect("bind a UDP socket");
        for i in 0..count {
            sock.send_to(format!("hello {i}").as_bytes(), to).expect("send a UDP datagram");
        }
    });
}

/// Writes an echo request from `from` to `to` and waits for the reply.
fn ping_through(tun: &Tun, from: Ipv4Addr, to: Ipv4Addr) {
    let data = b"trust tun test";
    let packet = ipv4(from, to, 1, &echo_request(0x7275, 1, data));
    assert_eq!(tun.write(&packet).expect("write to the TUN"), packet.len());
    let reply = read_until(tun, Instant::now() + WAIT, |p| p[9] == 1 && dst(p) == from)
        .unwrap_or_else(|| panic!("no ICMP answer from {to} within {WAIT:?}"));
    assert_eq!(src(&reply), to);
    assert_eq!(checksum(&reply[..20]), 0, "reply's IPv4 header checksum");
    let icmp = &reply[20..];
    assert_eq!((icmp[0], icmp[1]), (0, 0), "echo reply");
    assert_eq!(checksum(icmp), 0, "reply's ICMP checksum");
    assert_eq!(&icmp[4..8], &[0x72, 0x75, 0, 1], "identifier and sequence number");
    assert_eq!(&icmp[8..], data);
}

#[test]
fn new_device_is_configured_and_carries_packets_both_ways() {
    let ns = Netns::new("tundev");
    let host = Ipv4Addr::new(10, 66, 0, 1);
    let stack = Ipv4Addr::new(10, 66, 0, 2);
    let cfg = config("tuntest0", host, 24, Some(1500));
    let tun = ns.run(move || Tun::open(&cfg)).expect("open the TUN");
    assert_eq!(tun.name(), "tuntest0");
    assert!(tun.created());
    assert_eq!(tun.mtu(), 1500);

    let show = ns.exec(&["ip", "-4", "addr", "show", "tuntest0"]);
    assert!(show.contains("inet 10.66.0.1/24"), "{show}");
    assert!(is_up(&show), "{show}");
    // The kernel's queue towards us is longer than the TUN default (500).
    let link = ns.exec(&["ip", "link", "show", "tuntest0"]);
    assert!(link.contains("qlen 4096"), "{link}");

    send_udp(&ns, (stack, 9), 1);
    let udp = read_until(&tun, Instant::now() + WAIT, |p| dst(p) == stack)
        .unwrap_or_else(|| panic!("the kernel's UDP datagram did not come out of the TUN"));
    assert_eq!(udp[9], 17, "protocol UDP");
    assert_eq!(src(&udp), host);

    ping_through(&tun, stack, host);
}

#[test]
fn persistent_configured_device_is_used_as_it_is() {
    let ns = Netns::new("tunpers");
    ns.exec(&["ip", "tuntap", "add", "dev", "tunpers0", "mode", "tun"]);
    ns.exec(&["ip", "addr", "add", "10.67.0.1/24", "dev", "tunpers0"]);
    let cfg = config("tunpers0", Ipv4Addr::new(10, 68, 0, 1), 16, Some(1400));
    let tun = ns.run(move || Tun::open(&cfg)).expect("attach to the persistent TUN");
    assert!(!tun.created());
    assert_eq!(tun.mtu(), 1500, "an already configured device keeps its MTU");

    let show = ns.exec(&["ip", "-4", "addr", "show", "tunpers0"]);
    assert!(show.contains("inet 10.67.0.1/24"), "{show}");
    assert!(!show.contains("10.68."), "{show}");
    assert!(is_up(&show), "brought up: {show}");
    let link = ns.exec(&["ip", "link", "show", "tunpers0"]);
    assert!(link.contains("qlen 500"), "an already configured device keeps its queue length: {link}");

    // A second descriptor on a single-queue device is refused, plainly.
    let cfg = TunConfig::new("tunpers0");
    let err = ns.run(move || Tun::open(&cfg)).expect_err("a second attach must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::ResourceBusy, "{err}");
    assert!(err.to_string().contains("in use by another process"), "{err}");

    drop(tun);
    ns.exec(&["ip", "tuntap", "del", "dev", "tunpers0", "mode", "tun"]);
}

#[test]
fn lossless_path_forwards_both_ways() {
    let path = LossyPath::new("path0", "10.77.0.1/24", 0);
    assert!(!path.tun_ns.exec(&["nft", "list", "ruleset"]).contains("lossy"));
    assert_eq!(path.forwarded_drops(), 0);

    let (host, prefix) = path.tun_host();
    let tun = path.tun_ns.run(move || Tun::open(&config("tunpath0", host, prefix, None))).expect("open");
    let stack = Ipv4Addr::new(10, 77, 0, 2);
    let peer = path.peer_addr();

    send_udp(&path.peer_ns, (stack, 9), 1);
    let udp = read_until(&tun, Instant::now() + WAIT, |p| dst(p) == stack)
        .unwrap_or_else(|| panic!("the peer's datagram was not forwarded into the TUN"));
    assert_eq!((src(&udp), udp[9]), (peer, 17));
    assert_eq!(udp[8], 63, "one forwarding hop");

    ping_through(&tun, stack, peer);
}

#[test]
fn lossy_path_drops_forwarded_packets() {
    let path = LossyPath::new("path50", "10.77.0.1/24", 50);
    let ruleset = path.tun_ns.exec(&["nft", "list", "ruleset"]);
    assert!(ruleset.contains("hook forward priority filter; policy accept;"), "{ruleset}");
    assert!(ruleset.contains("numgen random mod 100 < 50"), "{ruleset}");
    assert_eq!(path.forwarded_drops(), 0);

    let (host, prefix) = path.tun_host();
    let tun = path.tun_ns.run(move || Tun::open(&config("tunpath1", host, prefix, None))).expect("open");
    let stack = Ipv4Addr::new(10, 77, 0, 2);
    const SENT: u64 = 200;
    send_udp(&path.peer_ns, (stack, 9), SENT as usize);

    // Every datagram is either forwarded into the TUN or counted as dropped.
    let (mut received, mut drops) = (0, 0);
    let deadline = Instant::now() + WAIT;
    while received + drops < SENT && Instant::now() < deadline {
        let quiet = Instant::now() + Duration::from_millis(200);
        match read_until(&tun, quiet, |p| dst(p) == stack && p[9] == 17) {
            Some(_) => received += 1,
            None => drops = path.forwarded_drops(),
        }
    }
    assert_eq!(received + drops, SENT, "received {received}, dropped {drops}");
    assert!((40..=160).contains(&drops), "50% of {SENT} dropped? {drops}");
}

/// `ip -6 addr show dev NAME` inside `ns`.
fn ipv6_addresses(ns: &Netns, dev: &str) -> String {
    ns.exec(&["ip", "-6", "addr", "show", "dev", dev])
}

#[test]
fn ipv6_only_device_is_configured_and_carries_the_kernels_packets() {
    let ns = Netns::new("tun6");
    // A device made now starts with IPv6 off and DAD on: opening must turn
    // the one on and leave the address usable anyway.
    ns.exec(&["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"]);
    ns.exec(&["sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=1"]);
    let host: Ipv6Addr = "fd00:77::1".parse().unwrap();
    let stack: Ipv6Addr = "fd00:77::2".parse().unwrap();
    let cfg = tun_config("tun6test0", |c| c.host6 = Some((host, 64)));
    let tun = ns.run(move || Tun::open(&cfg)).expect("open the TUN with an IPv6 address only");
    assert!(tun.created());
    assert_eq!(tun.mtu(), 1500);

    let show = ipv6_addresses(&ns, "tun6test0");
    assert!(show.contains("inet6 fd00:77::1/64 scope global"), "{show}");
    assert!(!show.contains("tentative") && !show.contains("dadfailed"), "{show}");
    assert!(is_up(&show), "{show}");
    let v4 = ns.exec(&["ip", "-4", "addr", "show", "dev", "tun6test0"]);
    assert!(!v4.contains("inet "), "no IPv4 address: {v4}");
    let sysctl = |key: &str| ns.exec(&["sysctl", "-n", &format!("net.ipv6.conf.tun6test0.{key}")]);
    assert_eq!(sysctl("disable_ipv6").trim(), "0");
    assert!(sysctl("accept_dad").trim().parse::<i32>().unwrap() < 1);
    let routes = ns.exec(&["ip", "-6", "route", "show", "dev", "tun6test0"]);
    assert!(routes.contains("fd00:77::/64"), "{routes}");

    // Binding the address works only once it is not tentative; the datagram
    // leaves at once, without Neighbour Discovery (nobody would answer).
    ns.run(move || {
        let sock = UdpSocket::bind((host, 0)).expect("bind a UDP socket to the TUN's IPv6 address");
        sock.send_to(b"hello over IPv6", (stack, 9)).expect("send a UDP datagram");
    });
    let udp = read_until6(&tun, Instant::now() + WAIT, |p| p[6] == 17 && dst6(p) == stack)
        .unwrap_or_else(|| panic!("the kernel's IPv6 datagram did not come out of the TUN"));
    assert_eq!(src6(&udp), host);
    assert_eq!(usize::from(u16::from_be_bytes([udp[4], udp[5]])), udp.len() - 40, "payload length");
    let datagram = &udp[40..];
    assert_eq!(u16::from_be_bytes([datagram[2], datagram[3]]), 9, "destination port");
    assert_eq!(usize::from(u16::from_be_bytes([datagram[4], datagram[5]])), datagram.len(), "UDP length");
    assert_eq!(&datagram[8..], b"hello over IPv6");
}

#[test]
fn dual_stack_device_has_both_addresses() {
    let ns = Netns::new("tun46");
    let mut cfg = config("tun46test0", Ipv4Addr::new(10, 69, 0, 1), 24, Some(1280));
    cfg.host6 = Some(("fd00:78::1".parse().unwrap(), 120));
    let tun = ns.run(move || Tun::open(&cfg)).expect("open the TUN with both addresses");
    assert_eq!(tun.mtu(), 1280, "IPv6's minimum MTU is enough");
    let v4 = ns.exec(&["ip", "-4", "addr", "show", "dev", "tun46test0"]);
    assert!(v4.contains("inet 10.69.0.1/24"), "{v4}");
    let v6 = ipv6_addresses(&ns, "tun46test0");
    assert!(v6.contains("inet6 fd00:78::1/120 scope global"), "{v6}");
    assert!(!v6.contains("tentative"), "{v6}");
    assert!(is_up(&v6), "{v6}");
}

#[test]
fn persistent_ipv6_device_is_configured_once_then_used_as_it_is() {
    let ns = Netns::new("tunp6");
    ns.exec(&["ip", "tuntap", "add", "dev", "tunp6test0", "mode", "tun"]);
    let cfg = tun_config("tunp6test0", |c| {
        c.mtu = Some(1400);
        c.host6 = Some(("fd00:79::1".parse().unwrap(), 64))
    });
    let tun = ns.run(move || Tun::open(&cfg)).expect("configure the persistent TUN");
    assert!(!tun.created());
    assert_eq!(tun.mtu(), 1400);
    drop(tun);

    // Reopened: it has an IPv6 address now, so it is used as it is.
    let cfg = tun_config("tunp6test0", |c| {
        c.mtu = Some(1300);
        c.host6 = Some(("fd00:7a::1".parse().unwrap(), 64))
    });
    let tun = ns.run(move || Tun::open(&cfg)).expect("reopen the persistent TUN");
    assert_eq!(tun.mtu(), 1400, "an already configured device keeps its MTU");
    let show = ipv6_addresses(&ns, "tunp6test0");
    assert!(show.contains("inet6 fd00:79::1/64"), "{show}");
    assert!(!show.contains("fd00:7a:"), "{show}");
    assert!(is_up(&show), "{show}");
    drop(tun);

    // A link-local address does not count as configuration: it is added
    // again, which the kernel answers with EEXIST, and that is fine.
    ns.exec(&["ip", "addr", "flush", "dev", "tunp6test0"]);
    for _ in 0..2 {
        let cfg = tun_config("tunp6test0", |c| c.host6 = Some(("fe80::77".parse().unwrap(), 64)));
        drop(ns.run(move || Tun::open(&cfg)).expect("open with an address already there"));
    }
    let show = ipv6_addresses(&ns, "tunp6test0");
    assert!(show.contains("inet6 fe80::77/64 scope link"), "{show}");
    ns.exec(&["ip", "tuntap", "del", "dev", "tunp6test0", "mode", "tun"]);
}

#[test]
fn ipv6_address_is_usable_on_a_device_whose_noarp_was_cleared() {
    // IFF_NOARP is what spares a TUN's address Duplicate Address Detection;
    // cleared (`arp on`) with DAD on, the address would stay tentative (the
    // persistent device has no carrier until it is opened), unless opening
    // turns the device's accept_dad off.
    let ns = Netns::new("tunarp6");
    ns.exec(&["ip", "tuntap", "add", "dev", "tunarp6", "mode", "tun"]);
    ns.exec(&["ip", "link", "set", "dev", "tunarp6", "arp", "on"]);
    ns.exec(&["sysctl", "-q", "-w", "net.ipv6.conf.tunarp6.accept_dad=1"]);
    let link = ns.exec(&["ip", "link", "show", "tunarp6"]);
    assert!(!link.contains("NOARP"), "{link}");
    let cfg = tun_config("tunarp6", |c| c.host6 = Some(("fd00:7b::1".parse().unwrap(), 64)));
    let tun = ns.run(move || Tun::open(&cfg)).expect("open the TUN");
    let show = ipv6_addresses(&ns, "tunarp6");
    // Our address is usable at once. (The kernel's own link-local address,
    // made when the device came up with DAD still on, may be tentative for
    // a moment; it is not ours.)
    let ours = show.lines().find(|l| l.contains("inet6 fd00:7b::1/64")).unwrap_or_else(|| panic!("{show}"));
    assert!(!ours.contains("tentative"), "{show}");
    assert_eq!(ns.exec(&["sysctl", "-n", "net.ipv6.conf.tunarp6.accept_dad"]).trim(), "0");
    drop(tun);
    ns.exec(&["ip", "tuntap", "del", "dev", "tunarp6", "mode", "tun"]);
}

#[test]
fn bad_ipv6_configuration_is_refused() {
    let ns = Netns::new("tunbad6");
    let host6 = Some(("fd00:77::1".parse().unwrap(), 129));
    let cfg = tun_config("tunbad6a", |c| c.host6 = host6);
    let err = ns.run(move || Tun::open(&cfg)).expect_err("prefix 129");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    let host6 = Some(("fd00:77::1".parse().unwrap(), 64));
    let cfg = tun_config("tunbad6b", |c| {
        c.host6 = host6;
        c.mtu = Some(1200)
    });
    let err = ns.run(move || Tun::open(&cfg)).expect_err("MTU 1200 with IPv6");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    // Refused before any device was made.
    let links = ns.exec(&["ip", "-o", "link", "show"]);
    assert!(!links.contains("tunbad6"), "{links}");

    // A persistent device whose MTU is already below 1280, with no MTU
    // asked for: refused once the MTU is read, with IPv6 named.
    ns.exec(&["ip", "tuntap", "add", "dev", "tunbad6c", "mode", "tun"]);
    ns.exec(&["ip", "link", "set", "tunbad6c", "mtu", "1200"]);
    let cfg = tun_config("tunbad6c", |c| c.host6 = host6);
    let err = ns.run(move || Tun::open(&cfg)).expect_err("device MTU 1200 with IPv6");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("MTU 1200, below IPv6's minimum"), "{err}");
    ns.exec(&["ip", "tuntap", "del", "dev", "tunbad6c", "mode", "tun"]);
}
