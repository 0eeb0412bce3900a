//! The readiness API: one thread serves many connections through events
//! alone, on a threaded interface (waiting in `Poll::poll`, or in plain
//! epoll on the poll's eventfd) and on an embedded one (the poll loop, or
//! `Interface::run_once`, drives the reactor).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trust::api::TcpListener;

use crate::common::netns::Netns;
use crate::poll_server::*;
use crate::util::*;

const LEN: u64 = 256 * 1024;
const LIMIT: Duration = Duration::from_secs(120);

/// One poll-server scenario.
struct Case {
    /// `Interface::open_embedded` (the server's thread drives the loop)
    /// instead of `Interface::open`.
    embedded: bool,
    drive: Drive,
    /// Test network (`10.net.0.0/24`) and TUN `tk<net - 100>`.
    net: u8,
    conns: usize,
    /// Kernel threads driving the clients.
    workers: usize,
    seed: u64,
}

/// Serves `case.conns` kernel clients (each sending and checking `LEN`
/// bytes) with [`poll_echo_server`] on one thread that owns the interface.
/// After the last connection the server waits (`Interface::drain`) until
/// the closed streams have delivered everything.
fn serve(ns: &Netns, case: Case) {
    let Case { embedded, drive, net, conns, workers, seed } = case;
    let cfg = config(&format!("tk{}", net - 100), net);
    let iface = Arc::new(ns.run(move || if embedded { open_embedded(cfg) } else { open(cfg) }));
    let port = 5000;
    let listener = TcpListener::bind(&iface, port).unwrap();
    let start = Instant::now();
    let server = {
        let iface = iface.clone();
        spawn("poll-server", move || {
            let echoed = poll_echo_server(&iface, listener, conns, drive, LIMIT);
            // The closed streams may still have data and a FIN to deliver
            // (or retransmit): dropping the interface would reset them.
            // On an embedded interface `drain` drives the loop itself.
            assert!(iface.drain(LIMIT).expect("drain"), "connections did not drain within {LIMIT:?}");
            echoed
        })
    };
    let clients = ns.spawn(move || {
        kernel_clients(SocketAddr::from((stack_addr(net), port)), conns, workers, LEN, seed, LIMIT);
    });
    // The server first: if both are stuck, its message says more.
    // Both print the stack's view of every connection while they wait.
    let echoed = join_watching(server, LIMIT + Duration::from_secs(10), "poll server", || report(&iface));
    assert_eq!(echoed, conns as u64 * LEN, "bytes the poll server echoed");
    join_watching(clients, LIMIT + Duration::from_secs(10), "kernel clients", || report(&iface));
    eprintln!("{drive:?}: {conns} x {LEN} bytes each way in {:?}; {}", start.elapsed(), report(&iface));
}

#[test]
fn poll_one_thread_serves_100_connections() {
    let ns = Netns::new("poll100");
    serve(&ns, Case { embedded: false, drive: Drive::Poll, net: 116, conns: 100, workers: 2, seed: 0x9100 });
}

#[test]
fn poll_eventfd_wakes_plain_epoll() {
    let ns = Netns::new("pollefd");
    serve(&ns, Case { embedded: false, drive: Drive::Epoll, net: 117, conns: 20, workers: 1, seed: 0x9200 });
}

#[test]
fn embedded_interface_driven_by_poll() {
    let ns = Netns::new("embpoll");
    serve(&ns, Case { embedded: true, drive: Drive::Poll, net: 118, conns: 20, workers: 1, seed: 0x9300 });
}

#[test]
fn embedded_interface_driven_by_run_once() {
    let ns = Netns::new("embrun");
    serve(&ns, Case { embedded: true, drive: Drive::RunOnce, net: 119, conns: 20, workers: 1, seed: 0x9400 });
}

/// Edge-triggered waiting on the poll's fd, as mio and tokio's `AsyncFd`
/// do: a socket left ready (back-pressure: its byte is not read) must not
/// hide another socket's readiness, and nothing may wake the waiter again
/// without a change (no spinning).
#[test]
fn edge_triggered_epoll_hears_every_newly_ready_socket() {
    use std::io::Write;

    use trust::api::{Interest, Poll, Token};

    let ns = Netns::new("pollet");
    run_in(&ns, LIMIT, "edge-triggered epoll", || {
        let iface = open(config("tk37", 137));
        let listener = TcpListener::bind(&iface, 7).unwrap();
        let addr = SocketAddr::from((stack_addr(137), 7));
        let (mut ka, mut kb) = (kernel_connect(addr), kernel_connect(addr));
        let (a, b) = (trust_accept(&listener), trust_accept(&listener));
        let poll = Poll::new(&iface).unwrap();
        for (s, t) in [(&a, 1), (&b, 2)] {
            s.set_nonblocking(true).unwrap();
            poll.register(s, Token(t), Interest::READABLE).unwrap();
        }
        crate::common::edge::assert_edge_triggered(
            &poll,
            || ka.write_all(b"a").unwrap(),
            || kb.write_all(b"b").unwrap(),
        );
    });
}

/// A non-blocking connect (as mio's): the stream becomes writable once
/// connected, and a refused one reports its error through the event and
/// `take_error`.
#[test]
fn nonblocking_connect_becomes_writable_or_reports_its_error() {
    use std::io::{Read, Write};

    use trust::api::{Events, Interest, Poll, TcpStream, Token};

    let ns = Netns::new("pollconn");
    run_in(&ns, LIMIT, "non-blocking connect", || {
        let iface = open(config("tk43", 143));
        let server = SocketAddr::from((host_addr(143), 7000));
        let listener = kernel_listen(server);
        let poll = Poll::new(&iface).unwrap();
        let mut events = Events::with_capacity(8);
        // The first event for `token`, within 10 s.
        let mut first_event = |poll: &Poll, token: usize| {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                poll.poll(&mut events, Some(Duration::from_millis(100))).unwrap();
                if let Some(e) = events.iter().find(|e| e.token().0 == token) {
                    return (e.is_writable(), e.is_error());
                }
            }
            panic!("no event for token {token} within 10 s");
        };

        let s = TcpStream::connect_nonblocking(&iface, server).unwrap();
        assert_eq!((&s).read(&mut [0u8; 4]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        poll.register(&s, Token(1), Interest::WRITABLE).unwrap();
        assert_eq!(first_event(&poll, 1), (true, false), "connected: writable, no error");
        assert_eq!(s.peer_addr().unwrap(), server);
        (&s).write_all(b"x").unwrap();
        let mut k = kernel_accept(&listener);
        let mut got = [0u8; 1];
        k.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"x");

        // Nothing listens on 7001: the kernel refuses.
        let r = TcpStream::connect_nonblocking(&iface, SocketAddr::from((host_addr(143), 7001))).unwrap();
        poll.register(&r, Token(2), Interest::WRITABLE).unwrap();
        assert!(first_event(&poll, 2).1, "the refused connect's event carries an error");
        let err = r.take_error().unwrap().expect("the connect's error");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}
