//! The transfers of `bulk.rs` over a path that really loses packets: the
//! kernel peer sits one forwarding hop away, and nft drops 5 % of the
//! forwarded packets in both directions (`LossyPath`). Nothing may be lost
//! or duplicated, and the drop counter proves loss happened.
//!
//! 16 MiB each way rather than 64: with 5 % loss both stacks spend most of
//! the time in recovery and the congestion window stays small, so goodput
//! is a fraction of the lossless case; 16 MiB still means thousands of
//! drops, and keeps the suite's run time reasonable.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use trust::api::TcpListener;

use crate::common::netns::LossyPath;
use crate::util::*;

const LEN: u64 = 16 * MIB;
const LOSS_PERCENT: u32 = 5;
const LIMIT: Duration = Duration::from_secs(300);

/// The TUN's kernel side and the stack's address on a lossy path.
fn lossy_config(path: &LossyPath, tun: &str) -> trust::api::Config {
    let (host, prefix) = path.tun_host();
    let mut cfg = config(tun, host.octets()[1]);
    cfg.tun.host = Some((host, prefix));
    cfg.addr = Ipv4Addr::from(u32::from(host) + 1);
    cfg
}

/// Reports the run, and fails it if the path dropped nothing.
fn proves_loss(path: &LossyPath, iface: &trust::api::Interface, start: Instant) {
    let drops = path.forwarded_drops();
    eprintln!(
        "lossy: {LEN} bytes each way in {:?}, {drops} packets dropped; {}",
        start.elapsed(),
        report(iface)
    );
    assert!(drops > 0, "the path dropped nothing: no loss was tested");
}

#[test]
fn lossy_kernel_client_to_trust_echo() {
    let path = LossyPath::new("lossy1", "10.114.0.1/24", LOSS_PERCENT);
    let cfg = lossy_config(&path, "tk14");
    let stack = SocketAddr::from((cfg.addr, 7));
    let iface = path.tun_ns.run(move || open(cfg));
    let server = trust_echo_server(TcpListener::bind(&iface, 7).unwrap(), 1);
    let start = Instant::now();
    let client = path.peer_ns.spawn(move || {
        echo_roundtrip(Arc::new(kernel_connect(stack)), 0xE001, LEN, "kernel client (lossy)");
    });
    join_watching(client, LIMIT, "kernel client over a lossy path", || {
        format!("{}; kernel: {}", report(&iface), path.peer_ns.exec(&["ss", "-tinH"]).trim())
    });
    assert_eq!(join_within(server, IO_TIMEOUT, "trust echo server"), LEN, "bytes echoed");
    proves_loss(&path, &iface, start);
}

#[test]
fn lossy_trust_client_to_kernel_echo() {
    let path = LossyPath::new("lossy2", "10.115.0.1/24", LOSS_PERCENT);
    let cfg = lossy_config(&path, "tk15");
    let peer = SocketAddr::from((path.peer_addr(), 7));
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = path.peer_ns.spawn(move || {
        let listener = kernel_listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 7)));
        ready_tx.send(()).unwrap();
        echo(&kernel_accept(&listener), "kernel echo server (lossy)")
    });
    ready_rx.recv_timeout(IO_TIMEOUT).expect("the kernel echo server did not start");
    let iface = Arc::new(path.tun_ns.run(move || open(cfg)));
    let start = Instant::now();
    let client = {
        let iface = iface.clone();
        spawn("trust-client", move || {
            echo_roundtrip(Arc::new(trust_connect(&iface, peer)), 0xE002, LEN, "trust client (lossy)");
        })
    };
    join_watching(client, LIMIT, "trust client over a lossy path", || {
        format!("{}; kernel: {}", report(&iface), path.peer_ns.exec(&["ss", "-tinH"]).trim())
    });
    assert_eq!(join_within(server, IO_TIMEOUT, "kernel echo server"), LEN, "bytes echoed");
    proves_loss(&path, &iface, start);
}
