//! The socket API over an in-process pair of devices
//! (`trust::device::loopback`): two interfaces in this process talk TCP to
//! each other, with no root, no namespace and no TUN, so these run in
//! plain `cargo test`. Data transfer, half-close, refusal, timeouts,
//! non-blocking calls, the `Poll` contract (level-triggered collection,
//! edge-triggered eventfd), embedded interfaces, a packet capture read
//! back, and `std::net` parity: `try_clone`, `set_ttl`, `set_linger`,
//! `take_error`.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use trust::api::{Config, Events, Interest, Interface, Poll, TcpListener, TcpStream, Token};
use trust::device::loopback;

#[path = "common/mod.rs"]
mod common;

use common::guard::guarded;

const A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 2);

/// A hang guard, not a timing claim: a test that has not finished by then
/// is stuck.
const LIMIT: Duration = Duration::from_secs(120);

fn config(addr: Ipv4Addr, addr6: Ipv6Addr) -> Config {
    let mut cfg = Config::for_device(addr);
    cfg.addr6 = Some(addr6);
    cfg
}

/// Two interfaces wired to each other, each with its reactor thread.
fn pair() -> (Interface, Interface) {
    Interface::pair(config(A, A6), config(B, B6)).expect("loopback pair")
}

/// Byte `i` of the test pattern: not periodic in any small power of two.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Echoes every byte of one connection back, then closes it.
fn echo_one(listener: TcpListener) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (s, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            let n = (&s).read(&mut buf).expect("server read");
            if n == 0 {
                break;
            }
            (&s).write_all(&buf[..n]).expect("server write");
            total += n as u64;
        }
        s.shutdown(Shutdown::Write).expect("server shutdown");
        total
    })
}

/// Sends `data` through an echo server at `server` and checks that every
/// byte comes back in order (one thread writes while this one reads).
fn echo_through(client: &Interface, server: SocketAddr, data: Vec<u8>) {
    let s = Arc::new(TcpStream::connect(client, server).expect("connect"));
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            (&*s).write_all(&data).expect("client write");
            s.shutdown(Shutdown::Write).expect("client shutdown");
            data
        })
    };
    let mut got = Vec::new();
    (&*s).read_to_end(&mut got).expect("client read");
    let data = writer.join().expect("writer");
    assert_eq!(got.len(), data.len(), "bytes echoed");
    assert!(got == data, "the echo differs from what was sent");
}

#[test]
fn echo_4_mib_byte_exact_over_ipv4_and_ipv6() {
    guarded(LIMIT, "echo", || {
        let (a, b) = pair();
        for server in [SocketAddr::from((B, 7)), SocketAddr::from((B6, 7))] {
            let listener = TcpListener::bind(&b, 7).unwrap();
            let server_thread = echo_one(listener);
            echo_through(&a, server, pattern(4 << 20));
            assert_eq!(server_thread.join().expect("server"), 4 << 20);
        }
    });
}

/// A connection from `a` to `b` on `port`: (the client, the server's
/// stream).
fn connected(a: &Interface, b: &Interface, port: u16) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(b, port).unwrap();
    let client = TcpStream::connect(a, (B, port)).unwrap();
    let (server, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    (client, server)
}

/// Each side closes its half on its own: data still flows the other way
/// after one side's FIN, and each reader sees the end of the stream only
/// after everything sent before it.
#[test]
fn half_close_each_way() {
    guarded(LIMIT, "half-close", || {
        let (a, b) = pair();
        let (client, server) = connected(&a, &b, 80);
        (&client).write_all(b"request").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut req = Vec::new();
        (&server).read_to_end(&mut req).unwrap();
        assert_eq!(req, b"request");
        // The server's half is still open: it answers after the client's FIN.
        (&server).write_all(b"response").unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        let mut resp = Vec::new();
        (&client).read_to_end(&mut resp).unwrap();
        assert_eq!(resp, b"response");
        assert_eq!((&client).write(b"late").unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

/// Nothing listens on the port: the peer's stack answers the SYN with a
/// reset, and connect says `ConnectionRefused`.
#[test]
fn a_connection_to_a_closed_port_is_refused() {
    guarded(LIMIT, "refused", || {
        let (a, b) = pair();
        let err = TcpStream::connect(&a, (B, 81)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let stats = b.stats();
        assert!(
            stats.rx_no_socket > 0 && stats.tx_resets > 0,
            "the refusal was not a reset from b: {stats:?}"
        );
    });
}

/// Non-blocking calls say `WouldBlock` instead of waiting; read and write
/// timeouts end a blocked call with `WouldBlock` (as `std` on Linux).
#[test]
fn nonblocking_calls_and_timeouts_say_would_block() {
    guarded(LIMIT, "timeouts", || {
        let (a, b) = pair();
        let listener = TcpListener::bind(&b, 82).unwrap();
        listener.set_nonblocking(true).unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        let client = TcpStream::connect(&a, (B, 82)).unwrap();
        listener.set_nonblocking(false).unwrap();
        let (server, _) = listener.accept().unwrap();

        client.set_nonblocking(true).unwrap();
        assert_eq!((&client).read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
        client.set_nonblocking(false).unwrap();
        client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert_eq!((&client).read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);

        // The server never reads: the client's send buffer and the
        // server's receive window fill, and the write times out.
        client.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
        let chunk = vec![0x5a; 64 * 1024];
        let mut sent = 0usize;
        let err = loop {
            match (&client).write(&chunk) {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
            assert!(sent < 1 << 30, "1 GiB written to a peer that never reads");
        };
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "write timeout");
        assert!(sent > 0, "nothing was written before the timeout");
        // What was written arrives once the server reads.
        let mut got = vec![0u8; sent];
        (&server).read_exact(&mut got).unwrap();
        assert!(got.iter().all(|&x| x == 0x5a));
    });
}

/// `Poll` collects level-triggered: a socket with unread data is reported
/// by every poll until it is read dry; then no longer.
#[test]
fn poll_is_level_triggered() {
    guarded(LIMIT, "poll", || {
        let (a, b) = pair();
        let (client, server) = connected(&a, &b, 83);
        server.set_nonblocking(true).unwrap();
        let poll = Poll::new(&b).unwrap();
        poll.register(&server, Token(7), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "readable before anything was sent");

        (&client).write_all(b"ping").unwrap();
        let readable = |poll: &Poll, events: &mut Events, timeout| {
            poll.poll(events, timeout).unwrap();
            events.iter().any(|e| e.token() == Token(7) && e.is_readable())
        };
        while !readable(&poll, &mut events, Some(Duration::from_secs(10))) {}
        // Not read: reported again, and again.
        assert!(readable(&poll, &mut events, Some(Duration::ZERO)), "level-triggered: still readable");
        assert!(readable(&poll, &mut events, Some(Duration::ZERO)), "level-triggered: still readable");
        let mut buf = [0u8; 16];
        let n = (&server).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!((&server).read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        assert!(!readable(&poll, &mut events, Some(Duration::ZERO)), "read dry, yet still reported");
    });
}

/// Edge-triggered waiting on the poll's fd, as mio and tokio's `AsyncFd`
/// do ([`common::edge::assert_edge_triggered`]).
#[test]
fn edge_triggered_epoll_hears_every_newly_ready_socket() {
    guarded(LIMIT, "edge-triggered epoll", || {
        let (a, b) = pair();
        let (ca, sa) = connected(&a, &b, 84);
        let (cb, sb) = connected(&a, &b, 85);
        let poll = Poll::new(&b).unwrap();
        for (s, t) in [(&sa, 1), (&sb, 2)] {
            s.set_nonblocking(true).unwrap();
            poll.register(s, Token(t), Interest::READABLE).unwrap();
        }
        common::edge::assert_edge_triggered(
            &poll,
            || (&ca).write_all(b"a").unwrap(),
            || (&cb).write_all(b"b").unwrap(),
        );
    });
}

/// Embedded interfaces on a loopback pair: each side's blocking calls
/// drive its own loop, on its own thread, and each side drains its loop
/// at the end (nobody else drives it).
#[test]
fn embedded_interfaces_echo() {
    guarded(LIMIT, "embedded", || {
        let (da, db) = loopback::pair(1500).unwrap();
        let a = Interface::open_device_embedded(da, config(A, A6)).unwrap();
        let b = Interface::open_device_embedded(db, config(B, B6)).unwrap();
        assert_eq!(a.backend(), "epoll");
        let listener = TcpListener::bind(&b, 85).unwrap();
        let server = std::thread::spawn(move || {
            let echoed = echo_one(listener).join().expect("echo");
            assert!(b.drain(LIMIT).expect("drain b"), "b did not drain");
            echoed
        });
        echo_through(&a, SocketAddr::from((B, 85)), pattern(256 * 1024));
        assert!(a.drain(LIMIT).expect("drain a"), "a did not drain");
        assert_eq!(server.join().unwrap(), 256 * 1024);
    });
}

/// TCP flags and payload length of an IPv4 record, checking that the
/// record's length is the IP header's total length.
fn tcp_summary(record: &[u8]) -> (u8, usize) {
    assert_eq!(record[0] >> 4, 4, "an IPv4 packet");
    let total = usize::from(u16::from_be_bytes([record[2], record[3]]));
    assert_eq!(total, record.len(), "the record's length is the IP total length");
    assert_eq!(record[9], 6, "TCP");
    let ihl = usize::from(record[0] & 0xf) * 4;
    let data_offset = usize::from(record[ihl + 12] >> 4) * 4;
    (record[ihl + 13], total - ihl - data_offset)
}

/// A capture of one short connection, read back: the file is a pcap of IP
/// packets, and it holds the handshake, the data each way and both FINs.
/// One side records through `Config::pcap` (the reactor's capture), the
/// other through the `Pcap` middleware around its device; on a link that
/// loses nothing both see the same packets.
#[test]
fn a_capture_holds_the_handshake_the_data_and_the_close() {
    use trust::device::pcap::{self, Pcap};
    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (path_a, path_b) = (dir.join("loopback-a.pcap"), dir.join("loopback-b.pcap"));
    let (pa, pb) = (path_a.clone(), path_b.clone());
    guarded(LIMIT, "capture", move || {
        let (da, db) = loopback::pair(1500).unwrap();
        let mut cfg_a = config(A, A6);
        cfg_a.pcap = Some(pa);
        let a = Interface::open_device(da, cfg_a).unwrap();
        let b = Interface::open_device(Pcap::create(db, pb).unwrap(), config(B, B6)).unwrap();
        let listener = TcpListener::bind(&b, 86).unwrap();
        let server = echo_one(listener);
        echo_through(&a, SocketAddr::from((B, 86)), b"hello".to_vec());
        assert_eq!(server.join().unwrap(), 5);
        assert!(a.drain(LIMIT).unwrap() && b.drain(LIMIT).unwrap(), "connections did not drain");
        // Dropping the interfaces flushes both captures.
    });
    let (bytes_a, bytes_b) = (std::fs::read(&path_a).unwrap(), std::fs::read(&path_b).unwrap());
    assert_eq!(&bytes_a[..4], &pcap::MAGIC.to_le_bytes());
    assert_eq!(&bytes_a[20..24], &pcap::LINKTYPE_RAW.to_le_bytes());
    let (recs_a, recs_b) = (pcap::records(&bytes_a).unwrap(), pcap::records(&bytes_b).unwrap());
    assert_eq!(recs_a, recs_b, "both ends saw the same packets");
    let segs: Vec<(u8, usize)> = recs_a.iter().map(|r| tcp_summary(r)).collect();
    // The three-way handshake opens the capture.
    assert_eq!(segs[0].0 & (SYN | ACK), SYN, "{segs:?}");
    assert_eq!(segs[1].0 & (SYN | ACK), SYN | ACK, "{segs:?}");
    assert_eq!(segs[2].0 & (SYN | ACK | FIN), ACK, "{segs:?}");
    assert_eq!(segs.iter().filter(|s| s.1 == 5).count(), 2, "the data and its echo: {segs:?}");
    assert_eq!(segs.iter().filter(|s| s.0 & FIN != 0).count(), 2, "a FIN each way: {segs:?}");
    assert_eq!(segs.last().unwrap().0 & (SYN | FIN), 0, "the last FIN is acknowledged: {segs:?}");
}

/// A capture that cannot be created fails the open, naming the path,
/// rather than running without it.
#[test]
fn an_uncreatable_capture_fails_the_open() {
    let (da, _db) = loopback::pair(1500).unwrap();
    let mut cfg = config(A, A6);
    cfg.pcap = Some("/nonexistent-dir/capture.pcap".into());
    let err = Interface::open_device(da, cfg).err().expect("opened without its capture");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("/nonexistent-dir/capture.pcap"), "{err}");
}

/// `try_clone` is `dup`: both handles use one connection and share its
/// non-blocking mode and timeouts; the connection closes when the last
/// handle goes. A cloned listener accepts after the original is dropped.
#[test]
fn cloned_handles_share_one_connection_until_the_last_is_dropped() {
    guarded(LIMIT, "try_clone", || {
        let (a, b) = pair();
        let listener = TcpListener::bind(&b, 90).unwrap();
        let clone = listener.try_clone().unwrap();
        drop(listener);
        let client = TcpStream::connect(&a, (B, 90)).unwrap();
        let (server, _) = clone.accept().unwrap();
        let client2 = client.try_clone().unwrap();
        assert_eq!(client2.local_addr().unwrap(), client.local_addr().unwrap());

        client.set_nonblocking(true).unwrap();
        assert_eq!((&client2).read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
        client2.set_nonblocking(false).unwrap();
        client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert_eq!(client2.read_timeout().unwrap(), Some(Duration::from_millis(50)));
        assert_eq!((&client2).read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);

        (&client).write_all(b"one ").unwrap();
        (&client2).write_all(b"two").unwrap();
        drop(client);
        // The clone still holds the connection open.
        (&client2).write_all(b" three").unwrap();
        (&server).write_all(b"back").unwrap();
        let mut got = [0u8; 4];
        client2.set_read_timeout(None).unwrap();
        (&client2).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"back");
        drop(client2);
        let mut all = Vec::new();
        (&server).read_to_end(&mut all).unwrap();
        assert_eq!(all, b"one two three");
    });
}

/// TTL (IPv4) and hop limit (IPv6) of the packets in a capture: the
/// listener's goes on its SYN-ACK and on the stream it accepts, the
/// client's own on everything it sends after `set_ttl`; 0 and values above
/// 255 are refused.
#[test]
fn set_ttl_sets_the_ttl_and_hop_limit_of_a_connections_packets() {
    use trust::device::pcap::{self, Pcap};
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("loopback-ttl.pcap");
    let p = path.clone();
    guarded(LIMIT, "ttl", move || {
        let (da, db) = loopback::pair(1500).unwrap();
        let a = Interface::open_device(Pcap::create(da, p).unwrap(), config(A, A6)).unwrap();
        let b = Interface::open_device(db, config(B, B6)).unwrap();
        let listener = TcpListener::bind(&b, 91).unwrap();
        assert_eq!(listener.ttl().unwrap(), 64);
        listener.set_ttl(33).unwrap();
        for (addr, bad) in [(SocketAddr::from((B, 91)), 0), (SocketAddr::from((B6, 91)), 256)] {
            let client = TcpStream::connect(&a, addr).unwrap();
            let (server, _) = listener.accept().unwrap();
            assert_eq!(server.ttl().unwrap(), 33);
            assert_eq!(client.set_ttl(bad).unwrap_err().kind(), ErrorKind::InvalidInput);
            client.set_ttl(17).unwrap();
            assert_eq!(client.ttl().unwrap(), 17);
            (&client).write_all(b"ping").unwrap();
            let mut got = [0u8; 4];
            (&server).read_exact(&mut got).unwrap();
            (&server).write_all(b"pong").unwrap();
            (&client).read_exact(&mut got).unwrap();
            drop(client);
            assert_eq!((&server).read(&mut got).unwrap(), 0);
        }
        assert!(a.drain(LIMIT).unwrap() && b.drain(LIMIT).unwrap(), "connections did not drain");
    });
    let bytes = std::fs::read(&path).unwrap();
    let records = pcap::records(&bytes).unwrap();
    // (from a, TTL or hop limit, TCP flags, payload length) per packet.
    let summary: Vec<(bool, u8, u8, usize)> = records
        .iter()
        .map(|r| {
            let (from_a, ttl, ip_len) = match r[0] >> 4 {
                4 => (r[12..16] == A.octets(), r[8], usize::from(r[0] & 0xf) * 4),
                _ => (r[8..24] == A6.octets(), r[7], 40),
            };
            let data_offset = usize::from(r[ip_len + 12] >> 4) * 4;
            (from_a, ttl, r[ip_len + 13], r.len() - ip_len - data_offset)
        })
        .collect();
    const SYN: u8 = 0x02;
    for &(from_a, ttl, flags, len) in &summary {
        if !from_a {
            assert_eq!(ttl, 33, "b's packets carry the listener's TTL: {summary:?}");
        } else if flags & SYN != 0 {
            assert_eq!(ttl, 64, "a's SYN carries the default: {summary:?}");
        } else if len > 0 || flags & 0x01 != 0 {
            assert_eq!(ttl, 17, "a's data and FIN carry its own TTL: {summary:?}");
        }
    }
    assert_eq!(summary.iter().filter(|s| s.0 && s.3 == 4).count(), 2, "a ping over each family");
}

/// `SO_LINGER` 0: dropping the stream resets the connection, and the
/// peer's read fails with `ConnectionReset`.
#[test]
fn a_linger_time_of_0_resets_on_drop() {
    guarded(LIMIT, "linger 0", || {
        let (a, b) = pair();
        let (client, server) = connected(&a, &b, 92);
        assert_eq!(server.linger().unwrap(), None);
        server.set_linger(Some(Duration::ZERO)).unwrap();
        assert_eq!(server.linger().unwrap(), Some(Duration::ZERO));
        (&server).write_all(b"lost?").unwrap();
        drop(server);
        let mut buf = [0u8; 16];
        let err = loop {
            match (&client).read(&mut buf) {
                // Data may arrive before the reset.
                Ok(n) => assert!(n > 0, "the end of the stream instead of a reset"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    });
}

/// `SO_LINGER` t > 0: dropping a blocking stream returns once the peer
/// has acknowledged the data and the FIN, and the peer reads everything,
/// then the end of the stream.
#[test]
fn a_linger_time_waits_for_the_fin_to_be_acknowledged() {
    guarded(LIMIT, "linger", || {
        let (a, b) = pair();
        let (client, server) = connected(&a, &b, 93);
        client.set_linger(Some(LIMIT)).unwrap();
        let data = pattern(256 * 1024);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            (&server).read_to_end(&mut got).map(|_| got)
        });
        (&client).write_all(&data).unwrap();
        drop(client);
        // The drop returned: the FIN was acknowledged (not FIN-WAIT-1).
        let states = a.describe_connections();
        assert!(states.iter().all(|c| !c.contains("FinWait1")), "{states:?}");
        assert_eq!(reader.join().unwrap().unwrap(), data);
    });
}

/// `take_error` takes the error, as `SO_ERROR` does: a refused connect's
/// `ConnectionRefused` once, then `None`; reads then see the end of the
/// stream and writes `BrokenPipe`, as on Linux once the error is taken.
#[test]
fn take_error_clears_the_error() {
    guarded(LIMIT, "take_error", || {
        let (a, _b) = pair();
        let s = TcpStream::connect_nonblocking(&a, (B, 94)).unwrap();
        while s.stats().unwrap().state != trust::tcp::State::Closed {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(s.take_error().unwrap().map(|e| e.kind()), Some(ErrorKind::ConnectionRefused));
        assert!(s.take_error().unwrap().is_none(), "taken once");
        assert_eq!((&s).read(&mut [0u8; 8]).unwrap(), 0);
        assert_eq!((&s).write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}
