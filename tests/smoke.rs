use core::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use trust::device::sim::LinkConfig;
use trust::sim::Network;
use trust::sim::apps::{BulkReceiver, BulkSender};
use trust::stack::StackConfig;
use trust::tcp::isn::IsnKey;
use trust::time::Instant;

#[test]
fn bulk_transfer_ideal() {
    let a = Ipv4Addr::new(10, 0, 0, 1);
    let b = Ipv4Addr::new(10, 0, 0, 2);
    let cfgs =
        [StackConfig::with_key(a, IsnKey::from_seed(1)), StackConfig::with_key(b, IsnKey::from_seed(2))];
    let link = LinkConfig::ideal(Duration::from_millis(5));
    let mut net = Network::new(cfgs, [link.clone(), link], 7);
    net.trace = Some(Vec::new());
    let l = net.hosts[1].listen(80, 16).unwrap();
    let c = net.hosts[0].connect(net.now, SocketAddrV4::new(b, 80)).unwrap();
    let mut tx = BulkSender::new(c, 42, 1_000_000, true);
    let mut rx: Option<BulkReceiver> = None;
    let ok = net.run(Instant::from_millis(60_000), |net| {
        if rx.is_none()
            && let Ok(h) = net.hosts[1].accept(l)
        {
            rx = Some(BulkReceiver::new(h, 42));
        }
        tx.poll(&mut net.hosts[0]);
        if let Some(r) = rx.as_mut() {
            r.poll(&mut net.hosts[1]);
            return r.eof;
        }
        false
    });
    let trace = net.trace.take().unwrap();
    for l in trace.iter().take(30) {
        println!("{l}");
    }
    println!("... {} packets, now {:?}", trace.len(), net.now);
    let r = rx.unwrap();
    assert!(ok, "did not finish: received {}", r.received);
    assert_eq!(r.received, 1_000_000);
    assert_eq!(r.mismatch, None);
    assert_eq!(r.hash, tx.hash);
}
