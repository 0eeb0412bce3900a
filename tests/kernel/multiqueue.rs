//! A multi-queue TUN device with one interface (engine and reactor) per
//! queue: every connection must live on the queue the device's steering
//! program sends its packets to, in both directions, for its whole life.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use trust::api::{Interface, TcpListener};
use trust::wire::flow;

use crate::common::netns::Netns;
use crate::util::*;

const QUEUES: u16 = 2;
const LIMIT: Duration = Duration::from_secs(120);

fn open_queues(tun: &str, net: u8) -> Vec<Arc<Interface>> {
    let ifaces = Interface::open_queues(config(tun, net), usize::from(QUEUES))
        .unwrap_or_else(|e| panic!("Interface::open_queues({tun}): {e}"));
    assert_eq!(ifaces.len(), usize::from(QUEUES));
    for (i, iface) in ifaces.iter().enumerate() {
        assert_eq!((iface.queue().index, iface.queue().count), (i as u16, QUEUES));
        assert_eq!(iface.tun_name(), tun);
    }
    ifaces.into_iter().map(Arc::new).collect()
}

/// Sends `len` patterned bytes through an echo and checks what comes back.
fn exchange<S: Duplex>(s: &S, seed: u64, len: usize, what: &str) {
    let (mut tx, mut rx) = (Pattern::new(seed), Pattern::new(seed));
    let (mut out, mut back) = (vec![0u8; len], vec![0u8; len]);
    echo_chunk(s, (&mut tx, &mut rx), (&mut out, &mut back), len as u64, what);
}

/// 40 kernel clients against a listener bound on both queues: each queue
/// accepts exactly the connections the flow hash gives it, both get some,
/// and every connection carries its data.
#[test]
fn kernel_clients_spread_over_two_queues() {
    const CONNS: usize = 40;
    const LEN: u64 = 256 * 1024;
    let ns = Netns::new("mq1");
    run_in(&ns, LIMIT, "kernel clients -> two-queue trust echo", || {
        let ifaces = open_queues("tmq1", 130);
        let listeners: Vec<_> = ifaces.iter().map(|i| TcpListener::bind(i, 8080).unwrap()).collect();
        let addr = SocketAddr::from((stack_addr(130), 8080));
        // Connect everyone first (the listeners' backlogs hold them), so
        // that each queue's server knows how many it will accept.
        let clients: Vec<_> = (0..CONNS).map(|_| kernel_connect(addr)).collect();
        let mut per_queue = vec![0usize; usize::from(QUEUES)];
        for c in &clients {
            per_queue[usize::from(flow::queue(c.local_addr().unwrap().port(), 8080, QUEUES))] += 1;
        }
        eprintln!("connections per queue: {per_queue:?}");
        assert!(per_queue.iter().all(|&n| n > 0), "the flow hash left a queue empty: {per_queue:?}");
        let servers: Vec<_> = listeners
            .into_iter()
            .zip(&per_queue)
            .enumerate()
            .map(|(q, (listener, &n))| {
                spawn("queue-server", move || {
                    let workers: Vec<_> = (0..n)
                        .map(|i| {
                            let (s, peer) = listener.accept().unwrap_or_else(|e| panic!("accept: {e}"));
                            assert_eq!(
                                flow::queue(peer.port(), 8080, QUEUES),
                                q as u16,
                                "queue {q} accepted {peer}, whose flow the device steers elsewhere"
                            );
                            spawn("queue-echo", move || echo(&s, &format!("queue {q} connection {i}")))
                        })
                        .collect();
                    workers.into_iter().map(|w| join_within(w, LIMIT, "echo connection")).sum::<u64>()
                })
            })
            .collect();
        let drivers: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                spawn("kernel-client", move || ping_pong(&c, 0x6000 + i as u64, LEN, &format!("client {i}")))
            })
            .collect();
        for d in drivers {
            join_within(d, LIMIT, "kernel client");
        }
        let echoed: u64 = servers.into_iter().map(|s| join_within(s, LIMIT, "queue server")).sum();
        assert_eq!(echoed, CONNS as u64 * LEN);
        for iface in &ifaces {
            eprintln!("queue {}: {}", iface.queue().index, report(iface));
        }
    });
}

/// Trust clients on each queue connect out to a kernel server: each gets a
/// local port the device steers back to its own queue. The connections
/// then sit idle for longer than the kernel's own flow steering remembers
/// a flow (3 s), and must still carry data both ways.
#[test]
fn trust_clients_on_each_queue_survive_idle() {
    const PER_QUEUE: usize = 8;
    let ns = Netns::new("mq2");
    run_in(&ns, LIMIT, "two-queue trust clients -> kernel echo", || {
        let ifaces = open_queues("tmq2", 131);
        let addr = SocketAddr::from((host_addr(131), 9000));
        let server = kernel_echo_server(kernel_listen(addr), PER_QUEUE * ifaces.len());
        let mut streams = Vec::new();
        for (q, iface) in ifaces.iter().enumerate() {
            for i in 0..PER_QUEUE {
                let s = trust_connect(iface, addr);
                let port = s.local_addr().unwrap().port();
                assert_eq!(flow::queue(port, 9000, QUEUES), q as u16, "queue {q} connected from port {port}");
                let what = format!("queue {q} client {i}");
                exchange(&s, (q * 100 + i) as u64, 10_000, &what);
                streams.push((s, what));
            }
        }
        std::thread::sleep(Duration::from_millis(3500));
        for (n, (s, what)) in streams.iter().enumerate() {
            exchange(s, 0x7000 + n as u64, 100_000, &format!("{what}, after idling"));
        }
        for (s, _) in &streams {
            s.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let echoed = join_within(server, LIMIT, "kernel echo server");
        assert_eq!(echoed, (PER_QUEUE * ifaces.len()) as u64 * 110_000);
    });
}
