//! 64 MiB each way through an echo, with the kernel as the client and as
//! the server. The writer and the reader run on separate threads, so full
//! buffers never deadlock the exchange.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trust::api::TcpListener;

use crate::common::netns::Netns;
use crate::util::*;

const LEN: u64 = 64 * MIB;
const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn kernel_client_to_trust_echo_64mib() {
    let ns = Netns::new("bulk1");
    run_in(&ns, LIMIT, "kernel client -> trust echo, 64 MiB", || {
        let iface = open(config("tk1", 101));
        let listener = TcpListener::bind(&iface, 7).unwrap();
        let server = trust_echo_server(listener, 1);
        let start = Instant::now();
        let c = kernel_connect(SocketAddr::from((stack_addr(101), 7)));
        echo_roundtrip(Arc::new(c), 0x1001, LEN, "kernel client");
        let echoed = join_within(server, IO_TIMEOUT, "trust echo server");
        assert_eq!(echoed, LEN, "bytes the trust server echoed");
        eprintln!("64 MiB each way in {:?}; {}", start.elapsed(), report(&iface));
    });
}

#[test]
fn trust_client_to_kernel_echo_64mib() {
    let ns = Netns::new("bulk2");
    run_in(&ns, LIMIT, "trust client -> kernel echo, 64 MiB", || {
        let iface = open(config("tk2", 102));
        let addr = SocketAddr::from((host_addr(102), 7007));
        let server = kernel_echo_server(kernel_listen(addr), 1);
        let start = Instant::now();
        let c = trust_connect(&iface, addr);
        echo_roundtrip(Arc::new(c), 0x2002, LEN, "trust client");
        let echoed = join_within(server, IO_TIMEOUT, "kernel echo server");
        assert_eq!(echoed, LEN, "bytes the kernel server echoed");
        eprintln!("64 MiB each way in {:?}; {}", start.elapsed(), report(&iface));
    });
}
