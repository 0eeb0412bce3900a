//! A listener's backlog under a SYN burst: many more clients connect at
//! once than the backlog holds, and the server takes connections off the
//! accept queue only as its few workers free up. While the accept queue is
//! full, SYNs and the ACKs that would complete a handshake are dropped (not
//! reset), the clients retransmit them (RFC 9293 §3.8.1, RFC 6298 §5), and
//! in the end every connection is accepted and completes its exchange.

use std::time::Duration;

use trust::device::sim::Rng;
use trust::sim::Network;
use trust::stack::SocketHandle;
use trust::tcp::State;

use crate::*;

#[test]
fn syn_burst_beyond_the_backlog() {
    run_seeds("backlog::syn_burst_beyond_the_backlog", 100, run);
}

#[derive(Debug)]
struct Params {
    backlog: usize,
    clients: usize,
    workers: usize,
}

#[derive(Debug)]
struct Flow {
    req: u64,
    resp: u64,
    /// Time the server spends on the request before answering.
    think: Duration,
    client: Side,
    server: Option<Side>,
    /// When the server had read the whole request.
    request_read_at: Option<Instant>,
    done: bool,
}

fn run(seed: u64, trace: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let links = random_links(&mut rng);
    let mut hosts = [0, 1].map(|i| host_config(i, seed, &mut rng));
    // The clients keep retrying for as long as the queue takes: their SYN
    // (while the accept queue is full) or, once their handshake completed
    // on their side but not yet on the server's, their first data.
    hosts[0].tcp.syn_retries = 30;
    hosts[0].tcp.max_retries = 40;
    let backlog = rng.range_u64(1..=6) as usize;
    let params = Params {
        backlog,
        clients: backlog * 4 + rng.range_u64(4..=12) as usize,
        workers: rng.range_u64(1..=backlog as u64) as usize,
    };
    let sizes: Vec<(u64, u64, Duration)> = (0..params.clients)
        .map(|_| {
            let think = Duration::from_millis(rng.range_u64(0..=300));
            (rng.range_u64(1..=2_000), rng.range_u64(1..=20_000), think)
        })
        .collect();
    if trace {
        println!("{params:?}");
    }
    let mut net = network(hosts, links, seed, true);
    let r = drive(&mut net, &params, &sizes);
    if !trace {
        net.trace = None;
    }
    finish(&mut net, r)
}

fn drive(net: &mut Network, p: &Params, sizes: &[(u64, u64, Duration)]) -> Result<(), String> {
    let listener = net.hosts[1].listen(PORT, p.backlog).map_err(|e| format!("listen: {e:?}"))?;
    let mut flows = Vec::new();
    for (k, &(req, resp, think)) in sizes.iter().enumerate() {
        let h = net.hosts[0].connect(net.now, addr(1, PORT)).map_err(|e| format!("connect: {e:?}"))?;
        let client = Side::new(h, k as u64, 0, req, resp, true);
        flows.push(Flow { req, resp, think, client, server: None, request_read_at: None, done: false });
    }
    let mut accepted = 0;
    let done = net.try_run(Instant::ZERO + LIMIT, |net| -> Result<bool, String> {
        step(net, listener, p, &mut flows, &mut accepted)?;
        Ok(flows.iter().all(|f| f.done))
    })?;
    if !done {
        let stuck: Vec<String> = flows
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.done)
            .take(4)
            .map(|(k, f)| {
                let server = f.server.as_ref().map_or("not accepted".into(), |s| describe_side(net, 1, s));
                format!("flow {k}: {}\n    {server}", describe_side(net, 0, &f.client))
            })
            .collect();
        return Err(format!("stalled at {:?} ({accepted} accepted):\n  {}", net.now, stuck.join("\n  ")));
    }
    for (k, f) in flows.iter().enumerate() {
        let Some(server) = &f.server else { return Err(format!("flow {k} never accepted")) };
        check_stream(&format!("flow {k} request"), &f.client, server)?;
        check_stream(&format!("flow {k} response"), server, &f.client)?;
        expect_seen(&format!("flow {k} client"), f.client.seen, &[State::TimeWait], &[State::CloseWait])?;
    }
    let stats = net.hosts[1].stats();
    let dropped = stats.syn_dropped + stats.listen_overflows;
    if dropped == 0 {
        return Err(format!(
            "{} clients, backlog {}: the accept queue never overflowed",
            flows.len(),
            p.backlog
        ));
    }
    expect_quiescent(net, Duration::from_secs(3600), [0, 1])
}

fn step(
    net: &mut Network,
    listener: SocketHandle,
    p: &Params,
    flows: &mut [Flow],
    accepted: &mut usize,
) -> Result<(), String> {
    // The server holds a connection until it is CLOSED, so everything
    // else on host 1 is half-open (the SYN queue) or awaits accept (the
    // accept queue, which the backlog bounds).
    let busy = flows.iter().filter(|f| f.server.as_ref().is_some_and(|s| !s.closed)).count();
    let half_open = net.hosts[1].connections().filter(|c| c.state() == State::SynReceived).count();
    let queued = net.hosts[1].socket_count() - 1 - busy - half_open;
    if queued > p.backlog {
        return Err(format!("{queued} connections queued on a listener with backlog {}", p.backlog));
    }
    if busy < p.workers
        && let Ok(h) = net.hosts[1].accept(listener)
    {
        *accepted += 1;
        let remote = net.hosts[1].addresses(h).map_err(|e| format!("addresses: {e:?}"))?.remote;
        let k = flows
            .iter()
            .position(|f| {
                f.server.is_none()
                    && net.hosts[0].addresses(f.client.h).is_ok_and(|t| t.local.port() == remote.port())
            })
            .ok_or_else(|| format!("accepted a connection from {remote} no client is waiting for"))?;
        let f = &mut flows[k];
        // The response waits for the request and the server's think time.
        let mut s = Side::new(h, k as u64, 1, f.resp, f.req, false);
        s.start_after = u64::MAX;
        f.server = Some(s);
    }
    for (k, f) in flows.iter_mut().enumerate().filter(|(_, f)| !f.done) {
        f.client.poll(&mut net.hosts[0]);
        f.client.close_when_done(net.now, &mut net.hosts[0]).map_err(|e| format!("flow {k} client: {e}"))?;
        let Some(s) = f.server.as_mut() else { continue };
        s.poll(&mut net.hosts[1]);
        if s.rx.eof && f.request_read_at.is_none() {
            f.request_read_at = Some(net.now);
        }
        if let Some(at) = f.request_read_at {
            if net.now >= at + f.think {
                s.start_after = 0;
                s.poll(&mut net.hosts[1]);
            } else {
                s.start_after = u64::MAX;
                net.wake_at(at + f.think);
            }
        }
        if s.start_after == 0 {
            s.close_when_done(net.now, &mut net.hosts[1]).map_err(|e| format!("flow {k} server: {e}"))?;
        }
        f.done = f.client.closed && s.closed;
    }
    Ok(())
}
