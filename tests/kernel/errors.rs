//! Errors a kernel peer causes: resets, refused connections, and SYNs
//! nobody answers.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use trust::api::{TcpListener, TcpStream};

use crate::common::netns::Netns;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(120);

/// Waits (bounded) until `s` holds an error, without consuming it (as
/// `take_error` would): until the connection is closed.
fn wait_for_error(s: &TcpStream, what: &str) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while s.stats().expect("stats").state != trust::tcp::State::Closed {
        assert!(Instant::now() < deadline, "{what}: no error within {IO_TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The kernel client closes with `SO_LINGER` 0: a trust read blocked on
/// the connection fails with `ConnectionReset`; on another connection,
/// the first write after the reset fails the same way.
#[test]
fn kernel_reset_fails_trust_read_and_write() {
    let ns = Netns::new("reset1");
    run_in(&ns, LIMIT, "kernel resets, trust server", || {
        let iface = open(config("tk10", 110));
        let listener = TcpListener::bind(&iface, 90).unwrap();
        let addr = SocketAddr::from((stack_addr(110), 90));

        // A blocked read.
        let mut c = kernel_connect(addr);
        let s = trust_accept(&listener);
        c.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        (&s).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        let reader = spawn("trust-reader", move || (&s).read(&mut [0u8; 64]));
        set_linger_zero(&c);
        drop(c);
        let err = join_within(reader, IO_TIMEOUT, "blocked trust read").expect_err("read after a reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");

        // A write after the reset has arrived.
        let c = kernel_connect(addr);
        let s = trust_accept(&listener);
        set_linger_zero(&c);
        drop(c);
        wait_for_error(&s, "trust server after the kernel's reset");
        let err = (&s).write(b"pong").expect_err("write after a reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        assert!((&s).write(b"pong").is_err(), "a write after the reset was reported must still fail");
        eprintln!("{}", report(&iface));
    });
}

/// A kernel server resets the trust client's connection: the client's
/// blocked read fails with `ConnectionReset`.
#[test]
fn kernel_server_reset_fails_trust_client_read() {
    let ns = Netns::new("reset2");
    run_in(&ns, LIMIT, "kernel resets, trust client", || {
        let iface = open(config("tk11", 111));
        let addr = SocketAddr::from((host_addr(111), 91));
        let listener = kernel_listen(addr);
        let c = trust_connect(&iface, addr);
        let s = kernel_accept(&listener);
        let reader = spawn("trust-reader", move || (&c).read(&mut [0u8; 64]));
        set_linger_zero(&s);
        drop(s);
        let err = join_within(reader, IO_TIMEOUT, "blocked trust read").expect_err("read after a reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    });
}

/// Nobody listens: the kernel's reset refuses a trust connect, and the
/// stack's reset refuses a kernel connect.
#[test]
fn connect_to_closed_port_is_refused() {
    let ns = Netns::new("refused");
    run_in(&ns, LIMIT, "connect to a closed port", || {
        let iface = open(config("tk12", 112));
        let err =
            TcpStream::connect(&iface, (host_addr(112), 9)).expect_err("connect to a closed kernel port");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");

        let err = std::net::TcpStream::connect_timeout(&SocketAddr::from((stack_addr(112), 9)), IO_TIMEOUT)
            .expect_err("kernel connect to a closed trust port");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(iface.stats().tx_resets >= 1, "{}", report(&iface));
    });
}

/// SYNs to an address nobody answers for (an nft rule in the namespace
/// drops them before routing, and counts them): connect fails with
/// `TimedOut` after exactly `1 + syn_retries` SYNs; `connect_timeout`
/// gives up with `TimedOut` too.
#[test]
fn connect_to_silent_address_times_out() {
    let ns = Netns::new("silent");
    let silent = Ipv4Addr::new(10, 113, 0, 99);
    ns.exec(&["nft", "add", "table", "ip", "silent"]);
    ns.exec(&[
        "nft",
        "add chain ip silent pre { type filter hook prerouting priority -300; policy accept; }",
    ]);
    ns.exec(&[
        "nft",
        "add",
        "rule",
        "ip",
        "silent",
        "pre",
        "ip",
        "daddr",
        &silent.to_string(),
        "counter",
        "drop",
    ]);
    const SYN_RETRIES: u32 = 2;
    let iface = run_in(&ns, LIMIT, "open", || {
        let mut cfg = config("tk13", 113);
        cfg.tcp.syn_retries = SYN_RETRIES;
        cfg.tcp.initial_rto = Duration::from_millis(200);
        open(cfg)
    });
    let err = join_within(
        spawn("connect", move || {
            let r = TcpStream::connect(&iface, (silent, 80)).map(drop);
            (r, iface)
        }),
        LIMIT,
        "connect to a silent address",
    );
    let (r, iface) = err;
    let err = r.expect_err("connect to an address that never answers");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    let syns = nft_counter(&ns.exec(&["nft", "list", "chain", "ip", "silent", "pre"]));
    assert_eq!(syns, u64::from(1 + SYN_RETRIES), "SYNs sent before giving up");

    let r = join_within(
        spawn("connect_timeout", move || {
            TcpStream::connect_timeout(&iface, &SocketAddr::from((silent, 81)), Duration::from_millis(300))
                .map(drop)
        }),
        LIMIT,
        "connect_timeout to a silent address",
    );
    let err = r.expect_err("connect_timeout to an address that never answers");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
}

/// The device refuses trust's packets (its link is down, so every TUN
/// write fails with EIO): each refused write is counted, none is silently
/// lost, and the connect fails as any unanswered one does.
#[test]
fn refused_tun_writes_are_counted() {
    let ns = Netns::new("txerr");
    run_in(&ns, LIMIT, "TUN link down", || {
        let iface = open(config("tk16", 116));
        assert_eq!(iface.reactor_stats().tx_errors.load(std::sync::atomic::Ordering::Relaxed), 0);
        let status = std::process::Command::new("ip").args(["link", "set", "tk16", "down"]).status().unwrap();
        assert!(status.success(), "ip link set tk16 down");
        let addr = SocketAddr::from((host_addr(116), 92));
        let err =
            TcpStream::connect_timeout(&iface, &addr, Duration::from_millis(3500)).expect_err("no route out");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        // The SYN at 0 s, 1 s and 3 s: the first two have completed.
        let errors = iface.reactor_stats().tx_errors.load(std::sync::atomic::Ordering::Relaxed);
        assert!(errors >= 2, "{errors} TUN write errors counted\n{}", report(&iface));
    });
}
