//! The socket API's contract beyond data transfer: misuse gets an
//! `io::Error` of the right kind, the reactor sleeps when idle, and a
//! dropped interface leaves its sockets failing cleanly. Each test runs in a
//! namespace of its own.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::Ipv4Addr;
use std::time::Duration;

use common::netns::Netns;
use trust::api::{Config, Interest, Interface, Poll, TcpListener, TcpStream, Token};
use trust::device::tun::TunConfig;

fn config(name: &str, net: u8) -> Config {
    let mut tun = TunConfig::new(name);
    tun.host = Some((Ipv4Addr::new(10, 102, net, 1), 24));
    let mut cfg = Config::new(tun, Ipv4Addr::new(10, 102, net, 2));
    // CI runs these again with `TRUST_OFFLOAD=0` and other backends.
    cfg.apply_env().expect("TRUST_* variables");
    cfg
}

#[test]
fn misuse_gets_the_right_error_kinds() {
    let ns = Netns::new("apimisuse");
    ns.run(|| {
        let iface = Interface::open(config("tapi1", 1)).unwrap();
        let other = Interface::open(config("tapi2", 2)).unwrap();
        let l = TcpListener::bind(&iface, 80).unwrap();
        assert_eq!(TcpListener::bind(&iface, 80).unwrap_err().kind(), ErrorKind::AddrInUse);
        assert_eq!(l.local_addr().unwrap(), "10.102.1.2:80".parse().unwrap());
        assert_eq!(iface.run_once(Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::InvalidInput);
        let no_queues = Interface::open_queues(config("tapi3", 3), 0).err().expect("zero queues");
        assert_eq!(no_queues.kind(), ErrorKind::InvalidInput);
        // `tapi1` was not made multi-queue: attaching queues to it fails
        // and says so.
        let single = Interface::open_queues(config("tapi1", 1), 2).err().expect("not multi-queue");
        assert!(single.to_string().contains("multi-queue"), "{single}");

        // A listener with nothing pending, in non-blocking mode.
        l.set_nonblocking(true).unwrap();
        assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);

        // A connection to a kernel listener, to misuse.
        let k = std::net::TcpListener::bind("10.102.1.1:81").unwrap();
        let s = TcpStream::connect(&iface, "10.102.1.1:81").unwrap();
        let (mut ks, _) = k.accept().unwrap();
        assert_eq!(s.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::InvalidInput);
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert_eq!((&s).read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock, "read timeout");
        s.set_nonblocking(true).unwrap();
        assert_eq!((&s).read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
        s.set_nonblocking(false).unwrap();

        // No IPv6 address on this interface: no local address for an IPv6
        // destination.
        let v6 = TcpStream::connect(&iface, "[fd00::1]:80").unwrap_err();
        assert_eq!(v6.kind(), ErrorKind::AddrNotAvailable);

        // A poll takes only its own interface's sockets, and some interest.
        let poll = Poll::new(&other).unwrap();
        assert_eq!(
            poll.register(&s, Token(1), Interest::READABLE).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let poll = Poll::new(&iface).unwrap();
        assert_eq!(
            poll.register(&s, Token(1), Interest::empty()).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(poll.deregister(&s).unwrap_err().kind(), ErrorKind::NotFound);

        // Writing after shutting down the write side is a broken pipe.
        s.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!((&s).write(b"late").unwrap_err().kind(), ErrorKind::BrokenPipe);
        let mut rest = Vec::new();
        ks.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    });
}

/// With offloads, the kernel hands over TCP super-segments: far fewer
/// packets than MSS-sized segments; without them, one packet per segment.
/// Each is asked for explicitly, which no environment variable overrides.
#[test]
fn offloads_bring_super_segments() {
    for (net, offload) in [(6, true), (8, false)] {
        let ns = Netns::new(&format!("apioffload{net}"));
        ns.run(move || {
            let mut cfg = config(&format!("tapi{net}"), net);
            cfg.offload = offload;
            let iface = Interface::open(cfg).unwrap();
            assert_eq!(iface.offload(), offload, "the kernel takes offloads here");
            let l = TcpListener::bind(&iface, 80).unwrap();
            const LEN: usize = 16 << 20;
            let client = std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect((Ipv4Addr::new(10, 102, net, 2), 80)).unwrap();
                c.write_all(&vec![7u8; LEN]).unwrap();
            });
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            client.join().unwrap();
            assert_eq!(got.len(), LEN);
            assert!(got.iter().all(|&b| b == 7));
            let packets = iface.stats().rx_packets;
            let mss_segments = (LEN / 1448) as u64;
            if offload {
                assert!(packets < mss_segments / 4, "{packets} packets for {mss_segments} MSS segments");
            } else {
                assert!(packets >= mss_segments, "{packets} packets for {mss_segments} MSS segments");
            }
        });
    }
}

/// Without being asked either way, the device runs with offloads where the
/// kernel accepts them (it does here).
#[test]
fn offloads_are_on_by_default() {
    let ns = Netns::new("apidefault");
    ns.run(move || {
        let mut tun = TunConfig::new("tapi7");
        tun.host = Some((Ipv4Addr::new(10, 102, 7, 1), 24));
        let iface = Interface::open(Config::new(tun, Ipv4Addr::new(10, 102, 7, 2))).unwrap();
        assert!(iface.offload());
    });
}

#[test]
fn an_idle_reactor_sleeps() {
    let ns = Netns::new("apiidle");
    ns.run(|| {
        let iface = Interface::open(config("tapi3", 3)).unwrap();
        let _l = TcpListener::bind(&iface, 80).unwrap();
        let before = iface.reactor_stats().turns.load(std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(500));
        let turns = iface.reactor_stats().turns.load(std::sync::atomic::Ordering::Relaxed) - before;
        // The kernel sends the odd IPv6 router solicitation; a busy loop
        // would turn hundreds of thousands of times.
        assert!(turns < 50, "{turns} turns while idle");
    });
}

#[test]
fn sockets_outliving_their_interface_fail_cleanly() {
    let ns = Netns::new("apidrop");
    ns.run(|| {
        let iface = Interface::open(config("tapi4", 4)).unwrap();
        let k = std::net::TcpListener::bind("10.102.4.1:81").unwrap();
        let s = TcpStream::connect(&iface, "10.102.4.1:81").unwrap();
        let _accepted = k.accept().unwrap();
        let l = TcpListener::bind(&iface, 80).unwrap();
        drop(iface);
        assert_eq!((&s).read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::NotConnected);
        assert_eq!((&s).write(b"x").unwrap_err().kind(), ErrorKind::NotConnected);
        assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::NotConnected);
    });
}

/// Set in the child process that runs without CAP_NET_ADMIN.
const UNPRIVILEGED: &str = "TRUST_TEST_UNPRIVILEGED_CHILD";

#[test]
fn opening_a_device_without_privilege_says_so() {
    if std::env::var_os(UNPRIVILEGED).is_some() {
        let err = Interface::open(config("tapi5", 5)).err().expect("opened a TUN without CAP_NET_ADMIN");
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert!(err.to_string().contains("CAP_NET_ADMIN"), "{err}");
        return;
    }
    // Run this test again in a child process, inside a namespace of our
    // own, with CAP_NET_ADMIN removed from its capability bounding set
    // (for root, that removes it from the permitted set at exec).
    let ns = Netns::new("apipriv");
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "setpriv",
            "--bounding-set",
            "-net_admin",
            "--inh-caps",
            "-net_admin",
        ])
        .arg(exe)
        .args(["opening_a_device_without_privilege_says_so", "--exact", "--nocapture"])
        .env(UNPRIVILEGED, "1")
        .output()
        .expect("run setpriv (util-linux)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "unprivileged child failed:\n{text}");
}

/// `read_with` lends the received bytes where they lie: a reader that
/// consumes them in odd-sized pieces gets the stream byte for byte (the
/// receive ring wraps many times over 8 MiB), and the end of the stream is
/// two empty slices.
#[test]
fn read_with_lends_the_stream_in_order() {
    let ns = Netns::new("apilend");
    ns.run(|| {
        let iface = Interface::open(config("tapi9", 9)).unwrap();
        let l = TcpListener::bind(&iface, 80).unwrap();
        const LEN: usize = 8 << 20;
        let byte = |i: usize| (i % 251) as u8;
        let client = std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect((Ipv4Addr::new(10, 102, 9, 2), 80)).unwrap();
            let data: Vec<u8> = (0..LEN).map(byte).collect();
            c.write_all(&data).unwrap();
        });
        let (s, _) = l.accept().unwrap();
        let (mut at, mut calls, mut wrapped) = (0usize, 0usize, false);
        loop {
            // Consume at most 1000 bytes a call, checking each one lent.
            let (n, end) = s
                .read_with(|a, b| {
                    wrapped |= !b.is_empty();
                    let n = (a.len() + b.len()).min(1000);
                    let ok = a.iter().chain(b).take(n).enumerate().all(|(i, &v)| v == byte(at + i));
                    assert!(ok, "bytes from {at} lent out of order");
                    (n, (n, a.is_empty() && b.is_empty()))
                })
                .unwrap();
            if end {
                break;
            }
            at += n;
            calls += 1;
        }
        client.join().unwrap();
        assert_eq!(at, LEN);
        assert!(calls >= LEN / 1000, "{calls} calls");
        assert!(wrapped, "the receive ring never wrapped");
    });
}

/// `std::net` parity: `nodelay()` says what the connection does (the
/// configured default included), `peek` reads without consuming, and
/// `bind_addr` takes what `std::net::TcpListener::bind` takes.
#[test]
fn nodelay_peek_and_bind_addr_behave_as_std_does() {
    let ns = Netns::new("apiparity");
    ns.run(|| {
        let mut cfg = config("tapi10", 10);
        cfg.tcp.nodelay = true;
        let iface = Interface::open(cfg).unwrap();
        let l = TcpListener::bind_addr(&iface, "0.0.0.0:80").unwrap();
        assert_eq!(l.local_addr().unwrap().port(), 80);
        let mine = TcpListener::bind_addr(&iface, "10.102.10.2:81").unwrap();
        assert_eq!(mine.local_addr().unwrap().port(), 81);
        let Err(err) = TcpListener::bind_addr(&iface, "10.9.9.9:82") else {
            panic!("bound an address not ours")
        };
        assert_eq!(err.kind(), ErrorKind::AddrNotAvailable);

        let mut k = std::net::TcpStream::connect("10.102.10.2:80").unwrap();
        let (s, _) = l.accept().unwrap();
        assert!(s.nodelay().unwrap(), "the configured default");
        s.set_nodelay(false).unwrap();
        assert!(!s.nodelay().unwrap());

        k.write_all(b"hello").unwrap();
        let mut buf = [0u8; 16];
        let n = s.peek(&mut buf).unwrap();
        assert_eq!(&buf[..n], &b"hello"[..n]);
        let mut all = [0u8; 5];
        (&s).read_exact(&mut all).unwrap();
        assert_eq!(&all, b"hello", "peeked bytes are still there");

        // Like TCP_INFO.
        (&s).write_all(b"back").unwrap();
        let mut back = [0u8; 4];
        k.read_exact(&mut back).unwrap();
        (&s).flush().unwrap(); // until the peer has acknowledged it
        let info = s.stats().unwrap();
        assert_eq!(info.state, trust::tcp::State::Established);
        assert_eq!(info.bytes_acked, 4);
        assert_eq!(info.bytes_received, 5);
        assert!(info.segments_in >= 2 && info.segments_out >= 2, "{info:?}");
        assert!(info.mss > 0 && info.cwnd >= info.mss, "{info:?}");
    });
}
