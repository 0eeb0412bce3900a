//! Path-MTU discovery against a real router (RFC 1191, RFC 8201): the
//! kernel of a forwarding namespace routes between trust's TUN (MTU 1500)
//! and a kernel peer whose own link is 1500 bytes too, but the router's
//! side of that link carries only 1280 (so the peer advertises a full MSS
//! and only the path is narrow). trust sends every packet with DF set
//! (IPv4) or unfragmentable (IPv6), so its full-sized segments die at the
//! router, which says so with ICMP "fragmentation needed" or "packet too
//! big". A transfer from trust to the peer completes only if trust
//! re-segments; without path-MTU discovery it stalls until its retries run
//! out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, mpsc};

use std::time::Duration;

use crate::common::netns::{LossyPath, VETH_TUN};
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(300);
const LEN: u64 = 16 * MIB;
const NARROW_MTU: &str = "1280";

/// A path whose second hop carries at most 1280 bytes towards the peer
/// (only small ACKs come back over it), with IPv6 beside IPv4
/// ([`LossyPath::add_ipv6`]). Returns the peer's IPv6 address too.
fn narrow_path(tag: &str, tun_host: &str) -> (LossyPath, Ipv6Addr) {
    let path = LossyPath::new(tag, tun_host, 0);
    path.tun_ns.exec(&["ip", "link", "set", "dev", VETH_TUN, "mtu", NARROW_MTU]);
    let peer6 = path.add_ipv6();
    (path, peer6)
}

/// trust in the TUN namespace sends to a kernel sink behind the narrow
/// link, at `peer`; the sink checks every byte.
fn trust_client_through_the_narrow_link(path: &LossyPath, cfg: trust::api::Config, peer: SocketAddr) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = path.peer_ns.spawn(move || {
        let any = if peer.is_ipv6() {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let listener = kernel_listen(SocketAddr::new(any, peer.port()));
        ready_tx.send(()).unwrap();
        recv_pattern(&kernel_accept(&listener), 0x9A7, "kernel sink behind the narrow link")
    });
    ready_rx.recv_timeout(IO_TIMEOUT).expect("the kernel sink did not start");
    let iface = Arc::new(path.tun_ns.run(move || open(cfg)));
    let client = {
        let iface = iface.clone();
        spawn("trust-client", move || {
            send_pattern(&trust_connect(&iface, peer), 0x9A7, LEN, "trust client through 1280 bytes");
        })
    };
    join_watching(client, LIMIT, "trust client through a narrow link", || report(&iface));
    assert_eq!(join_within(server, LIMIT, "kernel sink"), LEN, "bytes received");
    let s = iface.stats();
    eprintln!("pmtu: {}", report(&iface));
    assert!(s.icmp_errors >= 1, "the router said nothing: {}", report(&iface));
    assert!(s.pmtu_lowered >= 1, "no path MTU learned: {}", report(&iface));
}

#[test]
fn ipv4_transfers_shrink_to_the_path_mtu() {
    let (path, _) = narrow_path("pmtu4", "10.116.0.1/24");
    let (host, prefix) = path.tun_host();
    let mut cfg = config("tk34", 116);
    cfg.tun.host = Some((host, prefix));
    let peer = SocketAddr::from((path.peer_addr(), 7));
    trust_client_through_the_narrow_link(&path, cfg, peer);
}

#[test]
fn ipv6_transfers_shrink_to_the_path_mtu() {
    let (path, peer6) = narrow_path("pmtu6", "10.117.0.1/24");
    let (host, prefix) = path.tun_host();
    let mut cfg = config("tk35", 117);
    cfg.tun.host = Some((host, prefix));
    cfg.tun.host6 = Some(("fd00:77:2::1".parse().unwrap(), 64));
    cfg.addr6 = Some("fd00:77:2::2".parse().unwrap());
    trust_client_through_the_narrow_link(&path, cfg, SocketAddr::new(IpAddr::V6(peer6), 7));
}
