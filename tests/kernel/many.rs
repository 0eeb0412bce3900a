//! 200 connections open at once, each carrying and checking its own data,
//! with the kernel as the clients and as the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trust::api::TcpListener;

use crate::common::netns::Netns;
use crate::util::*;

const CONNS: usize = 200;
/// Per connection, each way: 50 MiB in all.
const LEN: u64 = 256 * 1024;
const LIMIT: Duration = Duration::from_secs(240);

/// 200 kernel clients, driven by 4 poll(2) threads, against a trust echo
/// server with one blocking thread per connection.
#[test]
fn kernel_clients_200_concurrent_to_trust_server() {
    let ns = Netns::new("many1");
    run_in(&ns, LIMIT, "200 kernel clients -> trust echo", || {
        let iface = open(config("tk3", 103));
        let listener = TcpListener::bind(&iface, 8080).unwrap();
        let server = trust_echo_server(listener, CONNS);
        let start = Instant::now();
        kernel_clients(SocketAddr::from((stack_addr(103), 8080)), CONNS, 4, LEN, 0x3000, LIMIT);
        let echoed = join_within(server, IO_TIMEOUT, "trust echo server");
        assert_eq!(echoed, CONNS as u64 * LEN, "bytes the trust server echoed");
        eprintln!("{CONNS} x {LEN} bytes each way in {:?}; {}", start.elapsed(), report(&iface));
    });
}

/// 200 trust clients, one blocking thread each, all connected before any
/// sends, against a kernel echo server. Each exchanges chunks of random
/// size (at most 64 KiB) and checks every byte that comes back.
#[test]
fn trust_clients_200_concurrent_to_kernel_server() {
    let ns = Netns::new("many2");
    run_in(&ns, LIMIT, "200 trust clients -> kernel echo", || {
        let iface = Arc::new(open(config("tk4", 104)));
        let addr = SocketAddr::from((host_addr(104), 8080));
        let server = kernel_echo_server(kernel_listen(addr), CONNS);
        let gate = Gate::new(CONNS);
        let start = Instant::now();
        let clients: Vec<_> = (0..CONNS)
            .map(|i| {
                let (iface, gate) = (iface.clone(), gate.clone());
                spawn("trust-client", move || {
                    let c = trust_connect(&iface, addr);
                    gate.arrive_and_wait(IO_TIMEOUT);
                    ping_pong(&c, 0x4000 + i as u64, LEN, &format!("trust client {i}"));
                })
            })
            .collect();
        for c in clients {
            join_within(c, LIMIT, "trust client");
        }
        let echoed = join_within(server, IO_TIMEOUT, "kernel echo server");
        assert_eq!(echoed, CONNS as u64 * LEN, "bytes the kernel server echoed");
        eprintln!("{CONNS} x {LEN} bytes each way in {:?}; {}", start.elapsed(), report(&iface));
    });
}
