//! IPv6 (RFC 8200) against the kernel's TCP: one listener takes both
//! families, as a `[::]` socket does on Linux; bulk data both ways; a trust
//! client to a kernel server; an interface without IPv6 refuses IPv6
//! destinations.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use trust::api::TcpListener;

use crate::common::netns::Netns;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn one_listener_serves_both_families() {
    let ns = Netns::new("ipv6dual");
    run_in(&ns, LIMIT, "dual-stack echo", || {
        let iface = open(config_dual("tk30", 130));
        let listener = TcpListener::bind(&iface, 7).unwrap();
        let server = trust_echo_server(listener, 2);
        for (i, ip) in [IpAddr::V6(stack6_addr(130)), IpAddr::V4(stack_addr(130))].into_iter().enumerate() {
            let c = Arc::new(kernel_connect(SocketAddr::new(ip, 7)));
            assert_eq!(c.peer_addr().unwrap().ip(), ip);
            echo_roundtrip(c, 30 + i as u64, 8 * MIB, &format!("kernel client over {ip}"));
        }
        assert_eq!(join_within(server, LIMIT, "trust echo server"), 16 * MIB);
        let s = iface.stats();
        assert_eq!(s.rx_malformed, 0, "{}", report(&iface));
    });
}

#[test]
fn accepted_ipv6_streams_know_their_addresses_and_move_bulk_data() {
    let ns = Netns::new("ipv6bulk");
    run_in(&ns, LIMIT, "IPv6 bulk both ways", || {
        let iface = open(config_dual("tk31", 131));
        let listener = TcpListener::bind(&iface, 9000).unwrap();
        let addr = SocketAddr::new(stack6_addr(131).into(), 9000);
        let client = spawn("kernel", move || {
            let c = kernel_connect(addr);
            let local = c.local_addr().unwrap();
            send_pattern(&c, 311, 64 * MIB, "kernel -> trust over IPv6");
            let back = recv_pattern(&c, 312, "trust -> kernel over IPv6");
            (local, back)
        });
        let (s, peer) = listener.accept().unwrap();
        assert_eq!(s.local_addr().unwrap(), addr);
        assert_eq!(recv_pattern(&s, 311, "kernel -> trust over IPv6"), 64 * MIB);
        send_pattern(&s, 312, 64 * MIB, "trust -> kernel over IPv6");
        let (client_local, back) = join_within(client, LIMIT, "kernel client");
        assert_eq!(peer, client_local, "peer_addr is the kernel client's address");
        assert_eq!(back, 64 * MIB);
    });
}

#[test]
fn a_trust_client_reaches_a_kernel_server_over_ipv6() {
    let ns = Netns::new("ipv6client");
    run_in(&ns, LIMIT, "trust client over IPv6", || {
        let iface = open(config_dual("tk32", 132));
        let server_addr = SocketAddr::new(host6_addr(132).into(), 7000);
        let server = kernel_echo_server(kernel_listen(server_addr), 1);
        let c = trust_connect(&iface, server_addr);
        assert_eq!(c.peer_addr().unwrap(), server_addr);
        assert_eq!(c.local_addr().unwrap().ip(), IpAddr::V6(stack6_addr(132)));
        ping_pong(&c, 320, 4 * MIB, "trust client over IPv6");
        drop(c);
        assert_eq!(join_within(server, LIMIT, "kernel echo server"), 4 * MIB);
    });
}

#[test]
fn an_interface_without_ipv6_refuses_ipv6_destinations() {
    let ns = Netns::new("ipv6none");
    run_in(&ns, LIMIT, "no IPv6", || {
        let iface = open(config("tk33", 133));
        let err = trust::api::TcpStream::connect(&iface, "[fd00::1]:80").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrNotAvailable, "{err}");
    });
}

#[test]
fn an_ipv6_only_interface_serves_ipv6_and_refuses_ipv4() {
    let ns = Netns::new("ipv6only");
    run_in(&ns, LIMIT, "IPv6 only", || {
        let mut tun = trust::device::tun::TunConfig::new("tk36");
        tun.host6 = Some((host6_addr(136), 64));
        let mut cfg = trust::api::Config::ipv6_only(tun, stack6_addr(136));
        cfg.apply_env().expect("TRUST_* variables");
        let iface = open(cfg);
        let listener = TcpListener::bind(&iface, 7).unwrap();
        assert_eq!(listener.local_addr().unwrap(), SocketAddr::new(stack6_addr(136).into(), 7));
        let server = trust_echo_server(listener, 1);
        let c = Arc::new(kernel_connect(SocketAddr::new(stack6_addr(136).into(), 7)));
        echo_roundtrip(c, 36, 4 * MIB, "kernel client to an IPv6-only interface");
        assert_eq!(join_within(server, LIMIT, "trust echo server"), 4 * MIB);
        let err = trust::api::TcpStream::connect(&iface, "10.136.0.1:7").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrNotAvailable, "{err}");
    });
}
