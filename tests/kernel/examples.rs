//! The examples as an outside user runs them, from the kernel side of the
//! TUN: `echo_client` (the active-open example) against a kernel echo
//! server, over IPv4 and IPv6, and failing loudly when nothing listens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::Duration;

use crate::common::netns::Netns;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(300);

/// `target/<profile>/examples/<name>`, built by `cargo test` beside this
/// test binary (in `target/<profile>/deps`). (`cargo test --test kernel`
/// alone does not build the examples: `cargo build --release --examples`
/// first.)
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} is not built (cargo test builds the examples)", path.display());
    path
}

/// Runs an example inside `ns` (killed after [`LIMIT`], so that a server
/// that should have refused to start cannot hang the test) and returns
/// what it did.
fn run_example(ns: &Netns, name: &str, args: &[&str]) -> Output {
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), "timeout", &LIMIT.as_secs().to_string()])
        .arg(example(name))
        .args(args)
        .output()
        .expect("run the example");
    eprintln!(
        "{name} {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts the server example `name` with `args` in `ns` (killed after
/// [`LIMIT`]) and waits until a connection to `addr` from `client_ns`
/// succeeds.
pub(crate) fn start_server(
    ns: &Netns,
    client_ns: &Netns,
    name: &str,
    args: &[&str],
    addr: SocketAddr,
) -> Child {
    let child = Command::new("ip")
        .args(["netns", "exec", ns.name(), "timeout", &LIMIT.as_secs().to_string()])
        .arg(example(name))
        .args(args)
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let what = name.to_string();
    client_ns.run(move || {
        for _ in 0..200 {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what} never accepted a connection");
    });
    child
}

/// SIGTERM to a server started by [`start_server`] (`timeout` passes it
/// on), then its exit status: 0, having closed its connections.
pub(crate) fn stop_server(mut child: Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "the server exited with {status}");
}

#[test]
fn echo_client_verifies_every_byte_over_both_families_and_fails_without_a_server() {
    let ns = Netns::new("exclient");
    // One kernel echo server for both families (a `[::]` socket takes IPv4
    // too): 4 connections over IPv4, then 2 over IPv6.
    let listener = ns.run(|| kernel_listen("[::]:7".parse::<SocketAddr>().unwrap()));
    let server = kernel_echo_server(listener, 6);
    let v4 = run_example(
        &ns,
        "echo_client",
        &[
            "--tun",
            "tk38",
            "--addr",
            "10.138.0.2",
            "--host",
            "10.138.0.1/24",
            "--connect",
            "10.138.0.1:7",
            "--bytes",
            "1048576",
            "--connections",
            "4",
        ],
    );
    assert!(v4.status.success(), "echo_client over IPv4 failed");
    let stdout = String::from_utf8_lossy(&v4.stdout);
    assert!(stdout.contains("4/4 connections ok"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.contains(": ok, 1048576 bytes echoed")).count(), 4, "{stdout}");
    let v6 = run_example(
        &ns,
        "echo_client",
        &[
            "--tun",
            "tk39",
            "--addr",
            "10.139.0.2",
            "--host",
            "10.139.0.1/24",
            "--addr6",
            "fd00:139::2",
            "--host6",
            "fd00:139::1/64",
            "--connect",
            "[fd00:139::1]:7",
            "--bytes",
            "1048576",
            "--connections",
            "2",
        ],
    );
    assert!(v6.status.success(), "echo_client over IPv6 failed");
    assert!(String::from_utf8_lossy(&v6.stdout).contains("2/2 connections ok"));
    assert_eq!(join_within(server, LIMIT, "kernel echo server"), 6 * 1048576);

    // Nothing listens on port 9: refused, reported, and the exit status
    // says so.
    let refused = run_example(
        &ns,
        "echo_client",
        &[
            "--tun",
            "tk40",
            "--addr",
            "10.140.0.2",
            "--host",
            "10.140.0.1/24",
            "--connect",
            "10.140.0.1:9",
            "--bytes",
            "10",
        ],
    );
    assert!(!refused.status.success(), "echo_client succeeded with no server");
    assert!(String::from_utf8_lossy(&refused.stdout).contains("connection 0: FAILED"));
}

/// The issue's proof for `echo_client`: 1 GiB on one connection, then 100
/// connections at once, every byte checked against a kernel echo server.
#[test]
fn echo_client_moves_1_gib_byte_exact_then_100_connections_at_once() {
    let ns = Netns::new("exclbig");
    let listener = ns.run(|| kernel_listen("0.0.0.0:7".parse::<SocketAddr>().unwrap()));
    let server = kernel_echo_server(listener, 101);
    let device =
        ["--tun", "tk76", "--addr", "10.176.0.2", "--host", "10.176.0.1/24", "--connect", "10.176.0.1:7"];
    let big = run_example(&ns, "echo_client", &[&device[..], &["--bytes", "1073741824"]].concat());
    assert!(big.status.success(), "echo_client with 1 GiB failed");
    let stdout = String::from_utf8_lossy(&big.stdout);
    assert!(stdout.contains("connection 0: ok, 1073741824 bytes echoed"), "{stdout}");
    let many = run_example(
        &ns,
        "echo_client",
        &[&device[..], &["--bytes", "100000", "--connections", "100"]].concat(),
    );
    assert!(many.status.success(), "echo_client with 100 connections failed");
    let stdout = String::from_utf8_lossy(&many.stdout);
    assert!(stdout.contains("100/100 connections ok"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.contains(": ok, 100000 bytes echoed")).count(), 100, "{stdout}");
    assert_eq!(join_within(server, LIMIT, "kernel echo server"), (1 << 30) + 100 * 100_000);
}

#[test]
fn the_examples_refuse_setups_no_client_could_reach() {
    let ns = Netns::new("exrefuse");
    for (args, says) in [
        (["--addr", "10.141.0.1", "--host", "10.141.0.1/24"], "kernel side's own address"),
        (["--addr", "10.142.0.2", "--host", "10.141.0.1/24"], "outside --host"),
        (["--addr", "10.141.0.2", "--host", "10.141.0.1/32"], "no room"),
        (["--addr", "10.141.0.2", "--host", "10.141.0.1/33"], "prefix length must be a number from 0 to 32"),
        (["--addr", "10.141.0.256", "--host", "10.141.0.1/24"], "expected an IPv4 address"),
    ] {
        let mut full = vec!["--tun", "tk41"];
        full.extend_from_slice(&args);
        full.extend_from_slice(&["--port", "7"]);
        let out = run_example(&ns, "echo_server", &full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: a usage error");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// SIGTERM (or Ctrl-C's SIGINT) on `echo_server` closes its connections
/// before the device goes away, as the kernel closes a dying process's
/// sockets: a connected client sees the end of the stream or a reset,
/// never silence.
#[test]
fn echo_server_closes_its_connections_when_told_to_stop() {
    use std::io::{Read, Write};

    let ns = Netns::new("exstop");
    let addr: SocketAddr = "10.142.0.2:7".parse().unwrap();
    let mut child = start_server(
        &ns,
        &ns,
        "echo_server",
        &["--tun", "tk42", "--addr", "10.142.0.2", "--host", "10.142.0.1/24", "--port", "7"],
        addr,
    );
    let mut c = ns.run(move || std::net::TcpStream::connect(addr).expect("connect to echo_server"));
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    // `timeout` passes the signal on to echo_server.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("after SIGTERM the client got {other:?}, not the end of the stream or a reset"),
    }
    let status = child.wait().unwrap();
    assert!(status.code().is_some(), "echo_server exited by itself: {status}");
}

/// A value that does not parse is a usage error (exit 2) whose message
/// names the flag and the value in plain words, never a parser's own
/// ("invalid digit found in string", "number too large to fit in target
/// type").
#[test]
fn the_examples_name_the_flag_and_the_value_they_refuse() {
    let ns = Netns::new("exparse");
    let serve = ["--tun", "tk43", "--addr", "10.143.0.2", "--host", "10.143.0.1/24"];
    for (name, args, flag, value) in [
        ("echo_server", &["--port", "70000"][..], "--port", "70000"),
        ("echo_server", &["--port", "x"], "--port", "x"),
        ("echo_server", &["--port", "7", "--spin", "-1"], "--spin", "-1"),
        ("poll_loop", &["--port", "7", "--seconds", "soon"], "--seconds", "soon"),
        ("echo_client", &["--connect", "10.143.0.1", "--bytes", "1"], "--connect", "10.143.0.1"),
        ("echo_client", &["--connect", "10.143.0.1:7", "--bytes", "1k"], "--bytes", "1k"),
        (
            "echo_client",
            &["--connect", "10.143.0.1:7", "--bytes", "1", "--connections", "0"],
            "--connections",
            "0",
        ),
        ("latency", &["--count", "99999999999999999999999"], "--count", "99999999999999999999999"),
        ("latency", &["--pin", "both"], "--pin", "both"),
    ] {
        let mut full: Vec<&str> = if name == "latency" { vec![] } else { serve.to_vec() };
        full.extend_from_slice(args);
        let out = run_example(&ns, name, &full);
        assert_eq!(out.status.code(), Some(2), "{name} {args:?}: a usage error");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag) && stderr.contains(&format!("'{value}'")), "{name} {args:?}: {stderr}");
        assert!(
            !stderr.contains("invalid digit") && !stderr.contains("too large"),
            "{name} {args:?}: {stderr}"
        );
    }
    for (args, says) in [
        (["--host", "10.143.0.1/99"], "prefix length must be a number from 0 to 32"),
        (["--host", "10.143.0.1"], "expected an IPv4 address and prefix length"),
        (["--addr", "1.2.3"], "expected an IPv4 address"),
    ] {
        let mut full = vec!["--tun", "tk43", "--addr", "10.143.0.2", "--port", "7"];
        full.extend_from_slice(&args);
        let out = run_example(&ns, "echo_server", &full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: a usage error");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(args[0]) && stderr.contains(&format!("'{}'", args[1])), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let help = run_example(&ns, "echo_server", &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--host <IPV4/PREFIX>"));
}

/// A new device without `--host` has no address on its kernel side, so
/// nothing could reach the stack: every example refuses to run on it,
/// says to pass `--host`, and leaves no device behind.
#[test]
fn the_examples_refuse_a_device_without_an_address() {
    let ns = Netns::new("exnohost");
    for (name, extra) in [
        ("echo_server", &["--port", "7"][..]),
        ("echo_server", &["--port", "7", "--threaded"]),
        ("poll_loop", &["--port", "7", "--seconds", "1"]),
        ("echo_client", &["--connect", "10.144.0.1:7", "--bytes", "1"]),
    ] {
        let mut full = vec!["--tun", "tk44", "--addr", "10.144.0.2"];
        full.extend_from_slice(extra);
        let out = run_example(&ns, name, &full);
        assert_eq!(out.status.code(), Some(1), "{name} {extra:?}: refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("tk44 has no address") && stderr.contains("--host 10.144.0.1/24"),
            "{name} {extra:?}: {stderr}"
        );
        let link = ns.run(|| nix::net::if_::if_nametoindex("tk44"));
        assert!(link.is_err(), "{name} left the device it created");
    }
}

/// The README's flag lists are the examples' own `--help`, word for word
/// (each line indented by the list item's two spaces).
#[test]
fn the_readme_shows_each_examples_help() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for name in ["echo_server", "poll_loop", "echo_client", "latency"] {
        let out = Command::new(example(name)).arg("--help").env_remove("COLUMNS").output().unwrap();
        assert!(out.status.success(), "{name} --help");
        let help = String::from_utf8_lossy(&out.stdout);
        let block: Vec<String> = help
            .trim_end()
            .lines()
            .map(|l| if l.is_empty() { String::new() } else { format!("  {l}") })
            .collect();
        assert!(
            readme.contains(&format!("  ```text\n{}\n  ```", block.join("\n"))),
            "README.md does not show `{name} --help` as it is now; paste it again:\n{help}"
        );
    }
}
