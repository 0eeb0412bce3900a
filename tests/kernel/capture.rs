//! `--pcap FILE` as an outside user meets it: `echo_server` writes a
//! capture while a kernel client echoes through it (IPv4 and IPv6, with
//! the default offloads, so the records are super-segments), and `tshark`
//! reads it back: no malformed packet, no expert warning, and its TCP
//! analysis shows each connection's handshake, data and close.

use std::net::SocketAddr;
use std::process::Command;

use crate::common::netns::Netns;
use crate::examples::{start_server, stop_server};
use crate::util::*;

/// `tshark` with `args`; fails loudly if it is not installed (`.ci/run`
/// installs it).
fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run tshark ({e}): apt-get install -y tshark"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_echo_server_capture_opens_in_tshark_with_handshake_data_and_close() {
    let ns = Netns::new("capture");
    let dir = std::env::temp_dir().join(format!("trust-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("echo.pcap");
    let v4: SocketAddr = "10.175.0.2:7".parse().unwrap();
    let v6: SocketAddr = "[fd00:175::2]:7".parse().unwrap();
    let child = start_server(
        &ns,
        &ns,
        "echo_server",
        &[
            "--tun",
            "tk75",
            "--addr",
            "10.175.0.2",
            "--host",
            "10.175.0.1/24",
            "--addr6",
            "fd00:175::2",
            "--host6",
            "fd00:175::1/64",
            "--port",
            "7",
            "--pcap",
            file.to_str().unwrap(),
        ],
        v4,
    );
    // One echo of 200 KB over each family (the probe connection of
    // `start_server` is in the capture too).
    for (addr, seed) in [(v4, 0x5001), (v6, 0x5002)] {
        ns.run(move || ping_pong(&kernel_connect(addr), seed, 200_000, "kernel client"));
    }
    // SIGTERM: the server closes, drains and flushes the capture.
    stop_server(child);

    let path = file.to_str().unwrap();
    // tshark's expert analysis lists its findings by severity: errors
    // (malformed packets among them), "Warns" (resets, lost or
    // out-of-order segments, zero windows...), notes and chats (the
    // handshake and the close).
    let expert = tshark(&["-r", path, "-o", "tcp.analyze_sequence_numbers:TRUE", "-q", "-z", "expert"]);
    eprintln!("{expert}");
    assert!(expert.contains("Connection establish request (SYN)"), "the analysis did not run:\n{expert}");
    assert!(!expert.contains("Errors (") && !expert.contains("Malformed"), "errors:\n{expert}");
    assert!(!expert.contains("Warns ("), "expert warnings:\n{expert}");
    let fields = tshark(&[
        "-r",
        path,
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.flags.syn",
        "-e",
        "tcp.flags.ack",
        "-e",
        "tcp.flags.fin",
        "-e",
        "tcp.flags.reset",
        "-e",
        "tcp.len",
        "-e",
        "_ws.malformed",
    ]);
    // Per TCP stream: SYN, SYN-ACK, data bytes, FINs.
    let mut streams = std::collections::BTreeMap::<u32, (u32, u32, u64, u32)>::new();
    for line in fields.lines() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 7, "tshark line `{line}`");
        assert!(f[6].is_empty(), "malformed: `{line}`");
        let flag = |i: usize| f[i] == "1" || f[i] == "True";
        // Not TCP: what the kernel sends on a new link (IPv6 router
        // solicitations, say).
        let Ok(stream) = f[0].parse() else { continue };
        let s = streams.entry(stream).or_default();
        if flag(1) && !flag(2) {
            s.0 += 1;
        }
        if flag(1) && flag(2) {
            s.1 += 1;
        }
        s.2 += f[5].parse::<u64>().unwrap_or(0);
        if flag(3) {
            s.3 += 1;
        }
    }
    eprintln!("per stream (SYN, SYN-ACK, payload bytes, FIN): {streams:?}");
    let full: Vec<_> = streams.values().filter(|s| s.2 == 400_000).collect();
    assert_eq!(full.len(), 2, "two connections that echoed 200 KB each way: {streams:?}");
    for s in streams.values() {
        assert!(s.0 >= 1 && s.1 >= 1, "a stream without its handshake: {streams:?}");
        assert!(s.3 >= 2, "a stream without a FIN each way: {streams:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
