#!/usr/bin/env bash
# Runs every benchmark that uses a real TUN device and the kernel as the
# peer, each beside its baseline measured in the same run, and prints one
# table, also written as Markdown to target/bench/BENCHMARKS.md (for the
# README). Needs root; every benchmark builds and removes its own network
# namespaces. `--quick` makes it a smoke run of seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=()
[[ "${1:-}" == "--quick" ]] && QUICK=(--quick)
OUT=target/bench
MD=$OUT/BENCHMARKS.md
mkdir -p "$OUT"
{
    echo "## Benchmarks"
    echo
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) vCPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), Linux $(uname -r)."
    echo "Every figure is beside a baseline measured in the same run; \`scripts/bench_all.sh\` reproduces them."
    echo
} > "$MD"

echo "== throughput (trust over TUN, kernel over veth with and without offloads, smoltcp over TUN)"
cargo bench --bench tun_throughput -- "${QUICK[@]}" --markdown "$MD"
echo "== echo latency (trust against kernel TCP), unpinned, then on one CPU, then on two"
cargo run --release --example latency -- "${QUICK[@]}" --out "$OUT" --markdown "$MD"
for pin in same split; do
    cargo run --release --example latency -- "${QUICK[@]}" --pin "$pin" --out "$OUT/latency-$pin" --markdown "$MD"
done
echo "== connection rate"
cargo bench --bench conn_rate -- "${QUICK[@]}" --markdown "$MD"
echo "== 10,000 idle connections"
cargo bench --bench scale -- "${QUICK[@]}" --markdown "$MD"
echo "== multi-queue TUN, 1 and 2 queues"
cargo bench --bench multiqueue -- "${QUICK[@]}" --markdown "$MD"
echo "== echo goodput, one connection: the echo_server example (defaults, --no-offload) against a kernel echo server"
cargo bench --bench echo_goodput -- "${QUICK[@]}" --markdown "$MD"
echo "== thread per connection: blocking sockets, a server thread per connection (trust against kernel TCP)"
cargo bench --bench thread_per_conn -- "${QUICK[@]}" --markdown "$MD"
echo "== SYN flood at issue 10's 470,000 SYNs a second (trust against kernel TCP, same flood, same legitimate client)"
cargo bench --bench synflood -- "${QUICK[@]}" --rate 470000 --markdown "$MD"
echo "== SYN flood as fast as one core writes it (sendmmsg)"
cargo bench --bench synflood -- "${QUICK[@]}" --markdown "$MD"

echo
cat "$MD"
