//! The echo service of `examples/echo_server.rs` (and of the latency
//! benchmark), driven by kernel TCP clients in a namespace of its own:
//! every byte comes back, and the server closes its side once the client
//! has closed its own and everything is echoed.

mod common;

#[path = "../examples/support/echo.rs"]
#[allow(dead_code)]
mod echo;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::netns::Netns;
use trust::api::{Config, Interface};
use trust::device::tun::TunConfig;

/// Bytes of a deterministic pattern, different per client.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Starts the echo service in `ns` on 10.101.`net`.2:7 and returns its stop flag and thread.
/// (`spin`: the reactor polls its completions that long before sleeping.)
fn start(
    ns: &Netns,
    net: u8,
    embedded: bool,
    spin: Duration,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let server = ns.spawn(move || {
        let mut tun = TunConfig::new(&format!("techo{net}"));
        tun.host = Some((Ipv4Addr::new(10, 101, net, 1), 24));
        let mut cfg = Config::new(tun, Ipv4Addr::new(10, 101, net, 2));
        cfg.reactor.spin = spin;
        cfg.apply_env().expect("TRUST_* variables");
        let iface = if embedded { Interface::open_embedded(cfg) } else { Interface::open(cfg) };
        echo::serve(&iface.expect("interface"), 7, Some(&flag)).expect("echo service");
    });
    (stop, server)
}

/// Connects, retrying while the service brings its device up.
fn connect(addr: &str) -> TcpStream {
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("echo service at {addr} never accepted a connection");
}

/// Sends `data`, closes the write side, and reads until the server's EOF.
fn echo_and_close(addr: &str, data: Vec<u8>) -> Vec<u8> {
    let s = connect(addr);
    let writer = {
        let s = s.try_clone().unwrap();
        std::thread::spawn(move || {
            (&s).write_all(&data).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    (&s).read_to_end(&mut back).expect("read until the server closes");
    writer.join().unwrap();
    back
}

fn serves_many_clients_and_closes_after_them(net: u8, embedded: bool, spin: Duration) {
    let ns = Netns::new("echosvc");
    let (stop, server) = start(&ns, net, embedded, spin);
    let addr = format!("10.101.{net}.2:7");
    let results = ns.run(move || {
        let clients: Vec<_> = (0..20u8)
            .map(|i| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    let data = pattern(i, 200_000 + usize::from(i) * 1000);
                    (echo_and_close(&addr, data.clone()), data)
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect::<Vec<_>>()
    });
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    for (i, (back, sent)) in results.iter().enumerate() {
        assert_eq!(back.len(), sent.len(), "client {i}: length");
        assert!(back == sent, "client {i}: bytes differ");
    }
}

#[test]
fn embedded_echo_service() {
    serves_many_clients_and_closes_after_them(1, true, Duration::ZERO);
}

#[test]
fn threaded_echo_service() {
    serves_many_clients_and_closes_after_them(2, false, Duration::ZERO);
}

#[test]
fn spinning_echo_service() {
    serves_many_clients_and_closes_after_them(4, true, Duration::from_micros(100));
}

#[test]
fn one_byte_messages_come_back_one_by_one() {
    let ns = Netns::new("echobyte");
    let (stop, server) = start(&ns, 3, true, Duration::from_micros(50));
    ns.run(|| {
        let mut s = connect("10.101.3.2:7");
        s.set_nodelay(true).unwrap();
        for i in 0..500u32 {
            let b = [i as u8];
            s.write_all(&b).unwrap();
            let mut back = [0u8];
            s.read_exact(&mut back).unwrap();
            assert_eq!(back, b, "round trip {i}");
        }
    });
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}
