//! The runtime integrations (features `mio` and `tokio`) over an
//! in-process loopback pair: no root, no namespace, no TUN, so these run
//! in plain `cargo test`. tokio tasks serve many connections at once while
//! one client stops reading (back-pressure), and a mio loop hears every
//! socket that becomes ready while another stays ready.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trust::api::{Config, Interface};

#[path = "common/mod.rs"]
mod common;

use common::guard::guarded;

const A: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 2);

/// A hang guard, not a timing claim.
const LIMIT: Duration = Duration::from_secs(120);

fn pair() -> (Interface, Interface) {
    Interface::pair(Config::for_device(A), Config::for_device(B)).expect("loopback pair")
}

/// Byte `i` of connection `seed`'s pattern.
fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251 + seed * 13) as u8).collect()
}

/// `conns` clients on `a`, a thread each, each sending `len` bytes of its
/// pattern through the echo at `to` (a writer thread beside it) and
/// checking that all of them come back in order.
fn echo_clients(a: &Interface, to: SocketAddr, conns: usize, len: usize) {
    std::thread::scope(|scope| {
        for i in 0..conns {
            scope.spawn(move || {
                let stream = trust::api::TcpStream::connect(a, to).unwrap();
                let data = pattern(i, len);
                let writer = {
                    let (s, data) = (stream.try_clone().unwrap(), data.clone());
                    std::thread::spawn(move || {
                        (&s).write_all(&data).unwrap();
                        s.shutdown(std::net::Shutdown::Write).unwrap();
                    })
                };
                let mut back = Vec::new();
                (&stream).read_to_end(&mut back).unwrap();
                writer.join().unwrap();
                assert!(back == data, "connection {i}: the echo differs ({} bytes back)", back.len());
            });
        }
    });
}

/// An echo server of tokio tasks on `iface`, one task per connection.
async fn tokio_echo_server(listener: trust::api::tokio::TcpListener) {
    loop {
        let (mut s, _) = listener.accept().await.expect("accept");
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = s.read(&mut buf).await.expect("server read");
                if n == 0 {
                    s.shutdown().await.expect("server shutdown");
                    return;
                }
                s.write_all(&buf[..n]).await.expect("server write");
            }
        });
    }
}

/// Sends `data` through the echo at `to` and checks it comes back whole.
async fn tokio_echo_client(iface: &Interface, to: SocketAddr, data: Vec<u8>) {
    let stream = trust::api::tokio::TcpStream::connect(iface, to).await.expect("connect");
    let (mut r, mut w) = stream.into_split();
    let len = data.len();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.expect("client write");
        w.shutdown().await.expect("client shutdown");
        (w, data)
    });
    let mut back = Vec::with_capacity(len);
    r.read_to_end(&mut back).await.expect("client read");
    let (_w, data) = writer.await.unwrap();
    assert!(back == data, "the echo differs from what was sent ({} of {len} bytes back)", back.len());
}

/// 200 connections at once, served by tokio tasks, byte-exact; meanwhile
/// one client writes 16 MiB without reading. Its echo task must wait
/// (the stack's buffers are far smaller) without holding up the others,
/// and once it reads, every byte arrives in order.
#[test]
fn tokio_tasks_serve_200_connections_while_one_client_does_not_read() {
    guarded(LIMIT, "tokio over loopback", || {
        let (a, b) = pair();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = trust::api::tokio::TcpListener::bind(&b, 7).unwrap();
            tokio::spawn(tokio_echo_server(listener));
            let to = SocketAddr::from((B, 7));

            // The client that does not read: its writer runs on, its
            // reader waits for a go.
            let stuck = trust::api::tokio::TcpStream::connect(&a, to).await.unwrap();
            let (mut stuck_r, mut stuck_w) = stuck.into_split();
            let big = pattern(999, 16 << 20);
            let (sent_tx, mut sent_rx) = tokio::sync::watch::channel(0usize);
            let stuck_writer = tokio::spawn(async move {
                for chunk in big.chunks(64 * 1024) {
                    stuck_w.write_all(chunk).await.unwrap();
                    sent_tx.send_modify(|n| *n += chunk.len());
                }
                stuck_w.shutdown().await.unwrap();
                (stuck_w, big)
            });

            let a = std::sync::Arc::new(a);
            let mut clients = tokio::task::JoinSet::new();
            for i in 0..200 {
                let a = a.clone();
                clients.spawn(async move { tokio_echo_client(&a, to, pattern(i, 64 * 1024)).await });
            }
            while let Some(done) = clients.join_next().await {
                done.unwrap();
            }
            // Everyone else is done; the stuck writer is still stuck.
            assert!(!stuck_writer.is_finished(), "16 MiB went out with nobody reading: no back-pressure");
            let sent = *sent_rx.borrow_and_update();
            assert!(sent < 16 << 20, "all 16 MiB were taken without a reader");

            let mut back = Vec::new();
            stuck_r.read_to_end(&mut back).await.unwrap();
            let (_w, big) = stuck_writer.await.unwrap();
            assert!(back == big, "the stuck client's echo differs ({} of {} bytes)", back.len(), big.len());
        });
    });
}

/// A mio loop over sockets of both interfaces: one socket is left readable
/// (unread), and every other socket that becomes readable still brings
/// its own event; with no change, no event (no spinning).
#[test]
fn mio_hears_every_newly_ready_socket_while_one_stays_ready() {
    use mio::{Events, Interest, Poll, Token};

    guarded(LIMIT, "mio over loopback", || {
        let (a, b) = pair();
        let listener = trust::api::TcpListener::bind(&b, 7).unwrap();
        let to = SocketAddr::from((B, 7));
        let clients: Vec<_> = (0..4).map(|_| trust::api::TcpStream::connect(&a, to).unwrap()).collect();
        let mut poll = Poll::new().unwrap();
        let mut servers = Vec::new();
        for i in 0..4 {
            let (mut s, _) = listener.accept().unwrap();
            s.set_nonblocking(true).unwrap();
            poll.registry().register(&mut s, Token(i), Interest::READABLE).unwrap();
            servers.push(s);
        }
        let mut events = Events::with_capacity(16);
        let mut next = |poll: &mut Poll, wait: Duration| {
            poll.poll(&mut events, Some(wait)).unwrap();
            let mut t: Vec<usize> = events.iter().map(|e| e.token().0).collect();
            t.sort_unstable();
            t
        };
        assert_eq!(next(&mut poll, Duration::from_millis(100)), Vec::<usize>::new(), "nothing is ready yet");
        (&clients[0]).write_all(b"unread").unwrap();
        assert_eq!(next(&mut poll, LIMIT), [0]);
        assert_eq!(next(&mut poll, Duration::from_millis(200)), Vec::<usize>::new(), "no change, no event");
        for i in 1..4 {
            (&clients[i]).write_all(b"ping").unwrap();
            assert_eq!(next(&mut poll, LIMIT), [i], "socket {i} while socket 0 stays ready");
            let mut buf = [0u8; 16];
            assert_eq!((&servers[i]).read(&mut buf).unwrap(), 4);
            assert_eq!((&servers[i]).read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        }
        let mut buf = [0u8; 16];
        assert_eq!((&servers[0]).read(&mut buf).unwrap(), 6, "socket 0's bytes waited for it");
        // Reregistering a socket that is ready reports it at once, as
        // epoll_ctl does.
        (&clients[1]).write_all(b"again").unwrap();
        assert_eq!(next(&mut poll, LIMIT), [1]);
        poll.registry().reregister(&mut servers[1], Token(9), Interest::READABLE).unwrap();
        assert_eq!(next(&mut poll, LIMIT), [9], "a reregistered ready socket is reported");
    });
}

/// An embedded interface driven by a mio loop on this thread (the
/// interface is a mio source beside its sockets; `poll_delay` bounds the
/// wait, `run_once` runs each turn): 20 clients on a threaded interface
/// echo 256 KiB each through it, byte-exact.
#[test]
fn a_mio_loop_drives_an_embedded_interface() {
    guarded(LIMIT, "mio-driven embedded interface", || {
        let (da, db) = trust::device::loopback::pair(1500).unwrap();
        let a = Interface::open_device(da, Config::for_device(A)).unwrap();
        let b = Interface::open_device_embedded(db, Config::for_device(B)).unwrap();
        // A threaded interface has no loop to drive.
        assert_eq!(a.poll_delay().unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let to = SocketAddr::from((B, 7));
        let listener = trust::api::TcpListener::bind(&b, 7).unwrap();
        // The client interface outlives the server's drain.
        let clients = std::thread::spawn(move || {
            echo_clients(&a, to, 20, 256 * 1024);
            a
        });
        let (_b, echoed) = common::mio_echo::serve(b, listener, 20, LIMIT);
        clients.join().unwrap();
        assert_eq!(echoed, 20 * 256 * 1024);
    });
}

/// An embedded interface driven by a task of a current-thread tokio
/// runtime (`trust::api::tokio::driver`): its sockets refuse tokio before
/// the driver exists, then 50 connections from a threaded interface are
/// echoed byte-exact by tasks on that one thread.
#[test]
fn a_tokio_task_drives_an_embedded_interface() {
    guarded(LIMIT, "tokio-driven embedded interface", || {
        let (da, db) = trust::device::loopback::pair(1500).unwrap();
        let a = std::sync::Arc::new(Interface::open_device(da, Config::for_device(A)).unwrap());
        let b = std::sync::Arc::new(Interface::open_device_embedded(db, Config::for_device(B)).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let refused = trust::api::tokio::TcpListener::bind(&b, 7).err().expect("no driver yet");
            assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
            tokio::spawn(trust::api::tokio::driver(&b).unwrap());
            let listener = trust::api::tokio::TcpListener::bind(&b, 7).unwrap();
            tokio::spawn(tokio_echo_server(listener));
            let to = SocketAddr::from((B, 7));
            let clients = tokio::task::spawn_blocking(move || echo_clients(&a, to, 50, 64 * 1024));
            clients.await.unwrap();
        });
    });
}
