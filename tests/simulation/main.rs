//! Deterministic simulation: two engines over lossy, reordering,
//! duplicating, corrupting, delaying, bandwidth-limited links, for many
//! seeds. Every byte is checked and every connection must end in the
//! state its close path implies.
//!
//! A failing seed prints the command that replays it alone, with a packet
//! trace: `SIM_SEED=<n> cargo test --test simulation -- --nocapture`.
//! `SIM_SEEDS=<n>` changes how many seeds run (default 1200).

mod scenarios;

use trust::device::sim::{LinkConfig, Rng};

use scenarios::{Outcome, Scenario};

/// Runs one seed: picks a scenario and a fault model, runs it, checks it.
fn run_seed(seed: u64, trace: bool) -> Result<Outcome, String> {
    let mut rng = Rng::new(seed);
    let scenario = Scenario::pick(&mut rng);
    let max_loss = if rng.chance(0.5) { 0.20 } else { 0.05 };
    let links = [LinkConfig::random(&mut rng, max_loss), LinkConfig::random(&mut rng, max_loss)];
    scenario.run(seed, links, trace)
}

fn seed_count() -> u64 {
    std::env::var("SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1200)
}

/// Runs the seeds `first..last` of this shard (or only `SIM_SEED`).
fn run_shard(shard: u64, shards: u64) {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        if shard == 0 {
            match run_seed(seed, true) {
                Ok(o) => println!("seed {seed}: ok {o:?}"),
                Err(e) => panic!("seed {seed} failed: {e}"),
            }
        }
        return;
    }
    let total = seed_count();
    let mut failures = Vec::new();
    for seed in (shard..total).step_by(shards as usize) {
        if let Err(e) = run_seed(seed, false) {
            failures.push(format!(
                "seed {seed}: {e}\n  replay: SIM_SEED={seed} cargo test --test simulation -- --nocapture"
            ));
        }
    }
    assert!(failures.is_empty(), "{} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn seeds_shard_0() {
    run_shard(0, 4);
}

#[test]
fn seeds_shard_1() {
    run_shard(1, 4);
}

#[test]
fn seeds_shard_2() {
    run_shard(2, 4);
}

#[test]
fn seeds_shard_3() {
    run_shard(3, 4);
}

/// The simulator itself is deterministic: a seed replays exactly.
#[test]
fn replay_is_deterministic() {
    for seed in [3, 17, 101] {
        let a = run_seed(seed, false);
        let b = run_seed(seed, false);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}

/// Every scenario kind is exercised by the seed range over both IPv4 and
/// IPv6.
#[test]
fn seeds_cover_every_scenario_on_both_families() {
    let mut seen = std::collections::HashSet::new();
    for seed in 0..seed_count() {
        let mut rng = Rng::new(seed);
        let kind = format!("{:?}", std::mem::discriminant(&Scenario::pick(&mut rng)));
        seen.insert((kind, scenarios::uses_ipv6(seed)));
    }
    assert_eq!(seen.len(), 2 * Scenario::KINDS);
}

/// An IPv6 run really moves IPv6 packets: host 0 connects to host 1's
/// IPv6 address, and every packet the links carry is IPv6.
#[test]
fn ipv6_runs_move_ipv6_packets() {
    use std::net::{IpAddr, SocketAddr};
    use trust::sim::Network;
    use trust::time::Instant;

    let mut rng = Rng::new(7);
    let hosts = [0, 1].map(|i| trust::sim::random_host(scenarios::ADDRS[i], i as u64, &mut rng));
    let mut net = Network::new(hosts, [LinkConfig::default(), LinkConfig::default()], 7);
    net.capture = Some(Default::default());
    let listener = net.hosts[1].listen(80, 8).expect("listen");
    let server = SocketAddr::new(IpAddr::V6(trust::sim::ipv6_for(scenarios::ADDRS[1])), 80);
    let client = net.hosts[0].connect(net.now, server).expect("connect over IPv6");
    let mut accepted = None;
    let done = net.run(Instant::from_millis(60_000), |net| {
        if accepted.is_none() {
            accepted = net.hosts[1].accept(listener).ok();
        }
        accepted.is_some()
    });
    assert!(done, "no IPv6 connection within a minute of virtual time");
    let tuple = net.hosts[1].addresses(accepted.unwrap()).expect("addresses");
    assert_eq!(tuple.local, server);
    assert!(tuple.remote.is_ipv6());
    assert_eq!(net.hosts[0].addresses(client).expect("addresses").remote, server);
    let captured = net.capture.take().unwrap_or_default();
    assert!(captured.len() >= 3, "the handshake: {} packets", captured.len());
    assert!(captured.iter().all(|(_, p)| p[0] >> 4 == 6), "every packet is IPv6");
}
