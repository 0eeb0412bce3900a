//! Half-close in both directions, and what dropping sockets does: a
//! dropped stream closes gracefully after its data, a dropped listener
//! resets the connections nobody accepted.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use trust::api::{Events, Interest, Poll, TcpListener, Token};

use crate::common::netns::Netns;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(120);
const REQUEST: u64 = 1024 * 1024;
const REPLY: u64 = 1024 * 1024 + 777;

/// The kernel client shuts down writing; the trust server reads to the
/// end of the stream, still writes its reply, then closes; the kernel
/// reads the reply and the end of the stream.
#[test]
fn half_close_kernel_client_shuts_down_write() {
    let ns = Netns::new("half1");
    run_in(&ns, LIMIT, "half-close, kernel client", || {
        let iface = open(config("tk5", 105));
        let listener = TcpListener::bind(&iface, 80).unwrap();
        let server = spawn("trust-server", move || {
            let s = trust_accept(&listener);
            assert_eq!(recv_pattern(&s, 0x51, "trust server"), REQUEST, "request bytes before EOF");
            assert_eq!((&s).read(&mut [0u8; 64]).expect("read after EOF"), 0, "EOF is sticky");
            write_pattern(&s, 0x52, REPLY, "trust server reply");
            // Dropping `s` closes: FIN after the reply.
        });
        let c = kernel_connect(SocketAddr::from((stack_addr(105), 80)));
        write_pattern(&c, 0x51, REQUEST, "kernel client");
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(recv_pattern(&c, 0x52, "kernel client"), REPLY, "reply bytes before EOF");
        join_within(server, IO_TIMEOUT, "trust server");
        eprintln!("{}", report(&iface));
    });
}

/// The trust client shuts down writing (and can no longer write); the
/// kernel server reads to the end, replies and closes; the trust client
/// reads the reply, then the end of the stream.
#[test]
fn half_close_trust_client_shuts_down_write() {
    let ns = Netns::new("half2");
    run_in(&ns, LIMIT, "half-close, trust client", || {
        let iface = open(config("tk6", 106));
        let addr = SocketAddr::from((host_addr(106), 80));
        let listener = kernel_listen(addr);
        let server = spawn("kernel-server", move || {
            let s = kernel_accept(&listener);
            assert_eq!(recv_pattern(&s, 0x61, "kernel server"), REQUEST, "request bytes before EOF");
            write_pattern(&s, 0x62, REPLY, "kernel server reply");
        });
        let c = trust_connect(&iface, addr);
        write_pattern(&c, 0x61, REQUEST, "trust client");
        c.shutdown(Shutdown::Write).unwrap();
        let err = (&c).write(b"too late").expect_err("write after shutdown(Write)");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
        assert_eq!(recv_pattern(&c, 0x62, "trust client"), REPLY, "reply bytes before EOF");
        assert_eq!((&c).read(&mut [0u8; 64]).expect("read after EOF"), 0, "EOF is sticky");
        join_within(server, IO_TIMEOUT, "kernel server");
        eprintln!("{}", report(&iface));
    });
}

/// A listener dropped while a completed connection waits in its accept
/// queue resets that connection.
#[test]
fn dropping_listener_resets_unaccepted_connection() {
    let ns = Netns::new("droplis");
    run_in(&ns, LIMIT, "drop listener", || {
        let iface = open(config("tk7", 107));
        let listener = TcpListener::bind(&iface, 81).unwrap();
        let poll = Poll::new(&iface).unwrap();
        poll.register(&listener, Token(1), Interest::READABLE).unwrap();
        let mut c = kernel_connect(SocketAddr::from((stack_addr(107), 81)));
        c.write_all(b"never read").unwrap();
        // Wait (bounded) until the connection is ready to accept.
        let mut events = Events::with_capacity(4);
        let mut ready = false;
        for _ in 0..60 {
            poll.poll(&mut events, Some(Duration::from_secs(1))).unwrap();
            if events.iter().any(|e| e.token() == Token(1) && e.is_readable()) {
                ready = true;
                break;
            }
        }
        assert!(ready, "the connection never became acceptable; {}", report(&iface));
        let resets_before = iface.stats().tx_resets;
        drop(listener);
        let err = c.read(&mut [0u8; 64]).expect_err("the kernel must see a reset, not data or EOF");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        assert!(iface.stats().tx_resets > resets_before, "{}", report(&iface));
    });
}

const DRAIN: u64 = 4 * 1024 * 1024 + 3;

/// A trust stream dropped with data still unsent closes gracefully: the
/// kernel reads every byte, then the end of the stream (not a reset).
#[test]
fn dropping_trust_server_stream_closes_gracefully() {
    let ns = Netns::new("dropstr1");
    run_in(&ns, LIMIT, "drop stream, trust server", || {
        let iface = open(config("tk8", 108));
        let listener = TcpListener::bind(&iface, 82).unwrap();
        let server = spawn("trust-server", move || {
            let s = trust_accept(&listener);
            write_pattern(&s, 0x81, DRAIN, "trust server");
            drop(s);
        });
        let c = kernel_connect(SocketAddr::from((stack_addr(108), 82)));
        assert_eq!(recv_pattern(&c, 0x81, "kernel client"), DRAIN, "bytes before EOF");
        join_within(server, IO_TIMEOUT, "trust server");
        eprintln!("{}", report(&iface));
    });
}

/// The same for a trust client's stream.
#[test]
fn dropping_trust_client_stream_closes_gracefully() {
    let ns = Netns::new("dropstr2");
    run_in(&ns, LIMIT, "drop stream, trust client", || {
        let iface = open(config("tk9", 109));
        let addr = SocketAddr::from((host_addr(109), 82));
        let listener = kernel_listen(addr);
        let server =
            spawn("kernel-server", move || recv_pattern(&kernel_accept(&listener), 0x91, "kernel server"));
        let c = trust_connect(&iface, addr);
        write_pattern(&c, 0x91, DRAIN, "trust client");
        drop(c);
        assert_eq!(join_within(server, IO_TIMEOUT, "kernel server"), DRAIN, "bytes before EOF");
        eprintln!("{}", report(&iface));
    });
}

/// `Interface::drain` promises that stopping afterwards loses nothing: a
/// stream closed just before it, whose data has all been acknowledged,
/// must still deliver its FIN before the interface goes away. Repeated,
/// since the FIN may or may not have left by the time `drain` looks.
#[test]
fn drain_then_drop_interface_delivers_the_fin() {
    const ROUNDS: usize = 20;
    let ns = Netns::new("drainfin");
    run_in(&ns, LIMIT, "drain, then drop the interface", || {
        let addr = SocketAddr::from((stack_addr(120), 83));
        for round in 0..ROUNDS {
            let iface = open(config("tk20", 120));
            let listener = TcpListener::bind(&iface, 83).unwrap();
            let mut c = kernel_connect(addr);
            // Once the interface is gone nothing more can arrive: waiting
            // longer than this for the FIN would change nothing.
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let s = trust_accept(&listener);
            (&s).write_all(b"last words").unwrap();
            (&s).flush().unwrap(); // acknowledged: only the FIN is left to send
            drop(s);
            assert!(iface.drain(IO_TIMEOUT).expect("drain"), "round {round}: not drained");
            drop(listener);
            drop(iface);
            let mut got = Vec::new();
            let r = c.read_to_end(&mut got);
            assert!(
                r.is_ok() && got == b"last words",
                "round {round}: after drain and drop the kernel read {got:?} then {r:?}, not the data and EOF"
            );
        }
    });
}
