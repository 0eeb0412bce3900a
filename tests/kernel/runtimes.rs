//! Runtime integration (features `mio` and `tokio`): a mio event loop and
//! tokio tasks serving kernel clients through each socket's eventfd,
//! edge-triggered; and the `tokio_echo` example as an outside user runs
//! it, with 1,000 concurrent connections, 5 % loss, and a client that
//! stops reading.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

use trust::api::{TcpListener, TcpStream};

use crate::common::netns::{LossyPath, Netns};
use crate::examples::{start_server, stop_server};
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(300);

/// A mio loop with a listener and its streams, edge-triggered: one stream
/// is left readable (its bytes unread, back-pressure), and the others must
/// still each bring an event when they become ready; once nothing changes
/// the loop gets no more events (it never spins).
#[test]
fn mio_loop_hears_every_newly_ready_socket_while_one_stays_ready() {
    use mio::{Events, Interest, Poll, Token};

    let ns = Netns::new("rtmio");
    run_in(&ns, LIMIT, "mio loop", || {
        let iface = open(config("tk70", 170));
        let mut listener = TcpListener::bind(&iface, 7).unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut poll = Poll::new().unwrap();
        poll.registry().register(&mut listener, Token(0), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(64);
        let addr = SocketAddr::from((stack_addr(170), 7));
        // Registered with nothing to accept: no event.
        poll.poll(&mut events, Some(Duration::from_millis(100))).unwrap();
        assert!(events.is_empty(), "an event with nothing ready");

        // Five kernel clients: each event on the listener is followed by
        // accepting until WouldBlock, as mio's contract asks.
        let mut kernel: Vec<std::net::TcpStream> = (0..5).map(|_| kernel_connect(addr)).collect();
        let mut streams: Vec<TcpStream> = Vec::new();
        let until = Instant::now() + Duration::from_secs(20);
        while streams.len() < 5 {
            assert!(Instant::now() < until, "accepted {} of 5 connections", streams.len());
            poll.poll(&mut events, Some(Duration::from_secs(1))).unwrap();
            loop {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        // Inherited from the listener, as mio's accept does.
                        assert_eq!((&s).read(&mut [0u8; 1]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
                        let token = Token(streams.len() + 1);
                        poll.registry().register(&mut s, token, Interest::READABLE).unwrap();
                        streams.push(s);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("accept: {e}"),
                }
            }
        }

        // Stream 1 gets bytes nobody reads: one event, then silence.
        kernel[0].write_all(b"left unread").unwrap();
        let got = next_tokens(&mut poll, &mut events);
        assert_eq!(got, [1], "stream 1's bytes");
        poll.poll(&mut events, Some(Duration::from_millis(200))).unwrap();
        assert!(events.is_empty(), "woken again without a change: {:?}", tokens(&events));

        // Each of the others becomes readable while stream 1 stays so:
        // each is heard, and served (read until WouldBlock, echoed).
        for i in 1..5 {
            kernel[i].write_all(format!("hello {i}").as_bytes()).unwrap();
            let got = next_tokens(&mut poll, &mut events);
            assert_eq!(got, [i + 1], "stream {}'s readiness while stream 1 stays ready", i + 1);
            let mut buf = [0u8; 64];
            let n = (&streams[i]).read(&mut buf).unwrap();
            assert_eq!((&streams[i]).read(&mut buf[n..]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
            (&streams[i]).write_all(&buf[..n]).unwrap();
            let mut back = vec![0u8; n];
            kernel[i].read_exact(&mut back).unwrap();
            assert_eq!(back, format!("hello {i}").as_bytes());
        }

        // Stream 1's bytes are all still there.
        let mut buf = [0u8; 64];
        let n = (&streams[0]).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"left unread");

        // A peer that closes brings an event too (end of stream).
        drop(kernel.remove(4));
        assert_eq!(next_tokens(&mut poll, &mut events), [5], "the end of stream 5");
        assert_eq!((&streams[4]).read(&mut buf).unwrap(), 0);
    });
}

/// The tokens of `events`, sorted.
fn tokens(events: &mio::Events) -> Vec<usize> {
    let mut t: Vec<usize> = events.iter().map(|e| e.token().0).collect();
    t.sort_unstable();
    t
}

/// The tokens of the next poll that has events (within 10 s).
fn next_tokens(poll: &mut mio::Poll, events: &mut mio::Events) -> Vec<usize> {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        poll.poll(events, Some(Duration::from_secs(1))).unwrap();
        if !events.is_empty() {
            return tokens(events);
        }
    }
    panic!("no event within 10 s");
}

/// tokio tasks on trust as a client: connects to a kernel echo server,
/// moves bytes through `AsyncRead`/`AsyncWrite` with split halves, and
/// reports a refused connection as `ConnectionRefused`.
#[test]
fn tokio_client_tasks_echo_through_a_kernel_server_and_report_refusal() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ns = Netns::new("rttokc");
    let listener = ns.run(|| kernel_listen("0.0.0.0:7".parse().unwrap()));
    let server = kernel_echo_server(listener, 4);
    run_in(&ns, LIMIT, "tokio client", || {
        let iface = open(config("tk71", 171));
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for seed in 0..4u64 {
                let stream = trust::api::tokio::TcpStream::connect(&iface, "10.171.0.1:7").await.unwrap();
                tasks.push(tokio::spawn(async move {
                    let (mut r, mut w) = stream.into_split();
                    let len = 4 * MIB as usize;
                    let writer = tokio::spawn(async move {
                        let mut p = Pattern::new(seed);
                        let mut buf = vec![0u8; 50_000];
                        let mut sent = 0;
                        while sent < len {
                            let n = buf.len().min(len - sent);
                            p.fill(&mut buf[..n]);
                            w.write_all(&buf[..n]).await.unwrap();
                            sent += n;
                        }
                        w.shutdown().await.unwrap();
                        w
                    });
                    let mut p = Pattern::new(seed);
                    let mut buf = vec![0u8; 70_000];
                    loop {
                        let n = r.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        p.check(&buf[..n], "tokio client");
                    }
                    assert_eq!(p.position(), len as u64, "bytes echoed back");
                    writer.await.unwrap();
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let refused = trust::api::tokio::TcpStream::connect(&iface, "10.171.0.1:9").await.unwrap_err();
            assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        });
    });
    assert_eq!(join_within(server, LIMIT, "kernel echo server"), 4 * 4 * MIB);
}

/// Starts `tokio_echo` in `ns` on `tun` with `stack`/`host` addresses (and
/// `extra` flags) and waits until a connection to it succeeds (from
/// `client_ns`).
fn start_tokio_echo(
    ns: &Netns,
    client_ns: &Netns,
    tun: &str,
    stack: &str,
    host: &str,
    extra: &[&str],
) -> Child {
    let addr = SocketAddr::from((stack.parse::<std::net::Ipv4Addr>().unwrap(), 7));
    let mut args = vec!["--tun", tun, "--addr", stack, "--host", host, "--port", "7"];
    args.extend_from_slice(extra);
    start_server(ns, client_ns, "tokio_echo", &args, addr)
}

#[test]
fn tokio_echo_serves_1000_concurrent_connections_byte_exact() {
    let ns = Netns::new("rttok1k");
    let child = start_tokio_echo(&ns, &ns, "tk72", "10.172.0.2", "10.172.0.1/24", &[]);
    let start = Instant::now();
    ns.run(|| kernel_clients("10.172.0.2:7".parse().unwrap(), 1000, 4, 64 * 1024, 0x7000, LIMIT));
    eprintln!("tokio_echo: 1000 connections x 64 KiB each way in {:?}", start.elapsed());
    stop_server(child);
}

#[test]
fn tokio_echo_serves_1000_connections_through_5_percent_loss() {
    let path = LossyPath::new("rttokl", "10.173.0.1/24", 5);
    let child = start_tokio_echo(&path.tun_ns, &path.peer_ns, "tk73", "10.173.0.2", "10.173.0.1/24", &[]);
    let start = Instant::now();
    path.peer_ns.run(|| kernel_clients("10.173.0.2:7".parse().unwrap(), 1000, 4, 16 * 1024, 0x7100, LIMIT));
    let drops = path.forwarded_drops();
    eprintln!(
        "tokio_echo: 1000 connections x 16 KiB each way through 5 % loss in {:?}, {drops} drops",
        start.elapsed()
    );
    assert!(drops > 0, "the path dropped nothing: no loss was tested");
    stop_server(child);
}

/// `tokio_echo --threaded` (the reactor on its own thread, the tasks on a
/// multi-threaded runtime): a client that sends without reading fills the
/// server's send buffer and its own receive window: its task waits in `write_all` (and stops
/// reading), while 50 other connections are served in full; then it reads,
/// and every byte comes back in order.
#[test]
fn tokio_echo_serves_others_while_one_client_does_not_read() {
    let ns = Netns::new("rttokbp");
    let child = start_tokio_echo(&ns, &ns, "tk74", "10.174.0.2", "10.174.0.1/24", &["--threaded"]);
    let addr: SocketAddr = "10.174.0.2:7".parse().unwrap();
    ns.run(move || {
        let stuck = kernel_connect(addr);
        stuck.set_nonblocking(true).unwrap();
        // Write until the kernel will take no more: the echo is not read,
        // so the server's writes stop, then its reads, then ours.
        let mut p = Pattern::new(0x7200);
        let mut buf = vec![0u8; 65536];
        let mut pending: Vec<u8> = Vec::new();
        let mut stalls = 0;
        while stalls < 20 {
            if pending.is_empty() {
                p.fill(&mut buf);
                pending.extend_from_slice(&buf);
            }
            match (&stuck).write(&pending) {
                Ok(n) => {
                    pending.drain(..n);
                    stalls = 0;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    stalls += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("the stuck client's write: {e}"),
            }
        }
        let sent = p.position() - pending.len() as u64;
        assert!(sent > 1024 * 1024, "only {sent} bytes went before the stall: no back-pressure reached");
        // Meanwhile everyone else is served.
        kernel_clients(addr, 50, 2, 256 * 1024, 0x7300, LIMIT);
        // Now read everything back, in order (what is still pending is
        // never sent).
        stuck.set_nonblocking(false).unwrap();
        stuck.shutdown(std::net::Shutdown::Write).unwrap();
        stuck.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let got = recv_pattern(&stuck, 0x7200, "the stuck client, reading at last");
        assert_eq!(got, sent, "every byte the stuck client sent came back");
    });
    stop_server(child);
}

/// An embedded interface on a real TUN (io_uring: the ring's descriptor is
/// the source) driven by a mio loop, serving 50 kernel clients byte-exact.
#[test]
fn a_mio_loop_drives_an_embedded_interface_on_a_tun() {
    let ns = Netns::new("rtmiodr");
    let iface = ns.run(|| open_embedded(config("tk77", 177)));
    let listener = TcpListener::bind(&iface, 7).unwrap();
    let server = spawn("mio-loop", move || crate::common::mio_echo::serve(iface, listener, 50, LIMIT).1);
    let clients =
        ns.spawn(|| kernel_clients("10.177.0.2:7".parse().unwrap(), 50, 2, 256 * 1024, 0x7400, LIMIT));
    join_within(clients, LIMIT, "kernel clients");
    assert_eq!(join_within(server, LIMIT, "mio loop"), 50 * 256 * 1024);
}
