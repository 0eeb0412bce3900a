//! A SYN flood: SYNs with forged sources (addresses nobody answers for,
//! with the options a Linux client puts on a SYN, or some of them) reach
//! the server at 20,000 a second, while real clients open connections,
//! send a request, read a response and close, over the seed's lossy links.
//! The server's SYN queue stays full, so it answers with SYN cookies (RFC
//! 4987 §3.6). Every real exchange must complete byte for byte, the
//! server's state must stay bounded throughout, and once the flood ends
//! only the listener may remain.

use std::time::Duration;

use trust::device::sim::Rng;
use trust::sim::Network;
use trust::wire::ipv4::{self, Ipv4Repr};
use trust::wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps, TxChecksum, tcp};

use crate::*;

/// Forged SYNs per millisecond of virtual time.
const FLOOD_PER_MS: usize = 20;

#[test]
fn real_clients_are_served_through_a_syn_flood() {
    run_seeds("flood::real_clients_are_served_through_a_syn_flood", 12, run);
}

#[derive(Debug)]
struct Flow {
    start: Instant,
    req: u64,
    resp: u64,
    client: Option<Side>,
    server: Option<Side>,
    done: bool,
}

fn run(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    let flows: Vec<Flow> = (0..rng.range_u64(3..=8))
        .map(|_| Flow {
            start: Instant::from_millis(rng.range_u64(500..=5_000)),
            req: rng.range_u64(1..=4_000),
            resp: rng.range_u64(1..=30_000),
            client: None,
            server: None,
            done: false,
        })
        .collect();
    if trace {
        println!("{} flows", flows.len());
    }
    let mut net = network(hosts, links, seed, trace);
    let r = drive(&mut net, flows, Flooder { rng: rng.fork(), next: Instant::ZERO, sent: 0 });
    if !trace {
        net.trace = None;
    }
    finish(&mut net, r)
}

fn drive(net: &mut Network, mut flows: Vec<Flow>, mut flood: Flooder) -> Result<(), String> {
    let listener = net.hosts[1].listen(PORT, 64).map_err(|e| format!("listen: {e:?}"))?;
    let syn_backlog = net.hosts[1].config().limits.syn_backlog;
    let mut most = 0;
    let done = net.try_run(Instant::ZERO + LIMIT, |net| -> Result<bool, String> {
        flood.send_due(net);
        for (k, f) in flows.iter_mut().enumerate() {
            if f.client.is_none() && net.now >= f.start {
                let h =
                    net.hosts[0].connect(net.now, addr(1, PORT)).map_err(|e| format!("connect: {e:?}"))?;
                f.client = Some(Side::new(h, k as u64, 0, f.req, f.resp, true));
            }
        }
        while let Ok(h) = net.hosts[1].accept(listener) {
            let remote = net.hosts[1].addresses(h).map_err(|e| format!("addresses: {e:?}"))?.remote;
            let k = flows
                .iter()
                .position(|f| {
                    f.server.is_none()
                        && f.client.as_ref().is_some_and(|c| {
                            net.hosts[0].addresses(c.h).is_ok_and(|t| t.local.port() == remote.port())
                        })
                })
                .ok_or_else(|| format!("accepted a connection from {remote} no client opened"))?;
            let mut s = Side::new(h, k as u64, 1, flows[k].resp, flows[k].req, false);
            s.start_after = flows[k].req;
            flows[k].server = Some(s);
        }
        for (k, f) in flows.iter_mut().enumerate().filter(|(_, f)| !f.done) {
            let Some(c) = f.client.as_mut() else { continue };
            c.poll(&mut net.hosts[0]);
            c.close_when_done(net.now, &mut net.hosts[0]).map_err(|e| format!("flow {k} client: {e}"))?;
            let Some(s) = f.server.as_mut() else { continue };
            s.poll(&mut net.hosts[1]);
            s.close_when_done(net.now, &mut net.hosts[1]).map_err(|e| format!("flow {k} server: {e}"))?;
            f.done = c.closed && s.closed;
        }
        // Bounded state: the listener, a full SYN queue, the real flows.
        let sockets = net.hosts[1].socket_count();
        most = most.max(sockets);
        if sockets > 1 + syn_backlog + flows.len() {
            return Err(format!("{sockets} sockets on the server (SYN queue bound {syn_backlog})"));
        }
        Ok(flows.iter().all(|f| f.done))
    })?;
    if !done {
        let stuck: Vec<String> = flows
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.done)
            .map(|(k, f)| {
                let c = f.client.as_ref().map_or("not started".into(), |s| describe_side(net, 0, s));
                let s = f.server.as_ref().map_or("not accepted".into(), |s| describe_side(net, 1, s));
                format!("flow {k}: {c}\n    {s}")
            })
            .collect();
        return Err(format!("stalled at {:?}:\n  {}", net.now, stuck.join("\n  ")));
    }
    for (k, f) in flows.iter().enumerate() {
        let (Some(c), Some(s)) = (&f.client, &f.server) else {
            return Err(format!("flow {k} never accepted"));
        };
        check_stream(&format!("flow {k} request"), c, s)?;
        check_stream(&format!("flow {k} response"), s, c)?;
    }
    let stats = net.hosts[1].stats().clone();
    if stats.syn_cookies_sent == 0 || stats.syn_cookies_validated == 0 {
        return Err(format!("{} forged SYNs and no cookies: {stats:?}", flood.sent));
    }
    if net.hosts[0].stats().rx_not_for_us != 0 {
        return Err("answers to forged sources reached the client".into());
    }
    if most < syn_backlog {
        return Err(format!("the SYN queue never filled: at most {most} sockets"));
    }
    // The flood is over: forged half-open connections expire, and the
    // listener is all that remains.
    expect_quiescent(net, Duration::from_secs(3600), [0, 1])
}

/// Sends forged SYNs to host 1: [`FLOOD_PER_MS`] each millisecond.
struct Flooder {
    rng: Rng,
    next: Instant,
    sent: u64,
}

impl Flooder {
    fn send_due(&mut self, net: &mut Network) {
        let mut buf = [0u8; 128];
        while self.next <= net.now {
            for _ in 0..FLOOD_PER_MS {
                let len = self.forge(&mut buf);
                net.hosts[1].handle_packet(net.now, &buf[..len]);
                self.sent += 1;
            }
            self.next += Duration::from_millis(1);
        }
        net.wake_at(self.next);
    }

    /// A SYN from a random address of 198.18.0.0/15 (benchmarking space,
    /// answered by nobody).
    fn forge(&mut self, buf: &mut [u8]) -> usize {
        let r = self.rng.next_u64();
        let src = core::net::Ipv4Addr::new(198, 18 + (r & 1) as u8, (r >> 8) as u8, (r >> 16) as u8);
        let mut options = TcpOptions { mss: Some(1460), ..TcpOptions::default() };
        if r & (1 << 40) != 0 {
            options.window_scale = Some(7);
            options.sack_permitted = true;
        }
        if r & (1 << 41) != 0 {
            options.timestamps = Some(Timestamps { tsval: (r >> 32) as u32, tsecr: 0 });
        }
        let repr = TcpRepr {
            src_port: 1024 + (r >> 24) as u16 % 60000,
            dst_port: PORT,
            seq: self.rng.next_u64() as u32,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options,
        };
        let ip = Ipv4Repr { src, dst: ADDRS[1], protocol: ipv4::PROTO_TCP, ttl: 64, payload_len: 0 };
        tcp::emit_packet(&ip, 0, &repr, [&[], &[]], TxChecksum::Full, buf).unwrap_or(0)
    }
}
