#!/usr/bin/env bash
# Smoke test of examples/echo_server.rs (and examples/poll_loop.rs) as an
# outside user drives them: in a
# throwaway namespace, (1) let the example create and configure its TUN,
# (2) attach it to a persistent TUN configured beforehand, (3) serve from
# an application-owned epoll loop, (4) serve IPv4 and IPv6 at once; each
# time a
# kernel client (bash /dev/tcp) checks the echo. (The echo service's
# closing behaviour is tested in tests/kernel/.) Removes the namespace on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example echo_server --example poll_loop
BIN=$PWD/target/release/examples/echo_server
POLL_LOOP=$PWD/target/release/examples/poll_loop
NS=trust-echo-smoke-$$
ip netns add "$NS"
cleanup() {
    set +e
    if [[ -n "${PID:-}" ]]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    ip netns del "$NS"
}
trap cleanup EXIT
ip netns exec "$NS" ip link set lo up
HELP_TEXT=$("$BIN" --help)
grep -q -- "--host <IPV4/PREFIX>" <<<"$HELP_TEXT"

check() { # $1: server address
    local addr=$1 got
    for _ in $(seq 50); do # the server needs a moment to bring the TUN up
        ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/$addr/7" 2>/dev/null && break
        sleep 0.1
    done
    got=$(ip netns exec "$NS" timeout 10 bash -c \
        "exec 3<>/dev/tcp/$addr/7; printf 'hello trust\n' >&3; read -r line <&3; echo \"\$line\"")
    [[ "$got" == "hello trust" ]] || { echo "echo_smoke: expected 'hello trust', got '$got'"; exit 1; }
    echo "echo_smoke: $addr ok"
}

# 1. The example creates and configures the device.
ip netns exec "$NS" "$BIN" --tun tsmoke0 --addr 10.97.0.2 --host 10.97.0.1/24 --port 7 &
PID=$!
check 10.97.0.2
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

# 2. A persistent device, configured beforehand, is used as it is.
ip netns exec "$NS" ip tuntap add dev tsmoke1 mode tun
ip netns exec "$NS" ip addr add 10.98.0.1/24 dev tsmoke1
ip netns exec "$NS" ip link set tsmoke1 up
ip netns exec "$NS" "$BIN" --tun tsmoke1 --addr 10.98.0.2 --port 7 &
PID=$!
check 10.98.0.2
ip netns exec "$NS" ip -4 addr show tsmoke1 | grep -q "10.98.0.1/24" || { echo "echo_smoke: device reconfigured"; exit 1; }
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

# 3. The application-owned epoll loop serves the same way, and stops on time.
ip netns exec "$NS" "$POLL_LOOP" --tun tsmoke2 --addr 10.99.0.2 --host 10.99.0.1/24 --port 7 --seconds 3 &
PID=$!
check 10.99.0.2
wait "$PID" || { echo "echo_smoke: poll_loop failed"; exit 1; }
PID=
# 4. Dual stack: the same listener serves IPv4 and IPv6.
ip netns exec "$NS" "$BIN" --tun tsmoke3 --addr 10.96.0.2 --host 10.96.0.1/24 \
    --addr6 fd00:96::2 --host6 fd00:96::1/64 --port 7 &
PID=$!
check fd00:96::2
check 10.96.0.2
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
echo "echo_smoke: passed"
