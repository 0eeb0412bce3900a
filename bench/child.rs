//! A benchmark's helper process: this binary, re-executed with other
//! arguments, talking over its standard input and output one line at a
//! time. Shared by the benchmarks that run a server in a process of its own
//! (its open-file limit, its RSS).
//!
//! The child's lines start with a word and may carry `key=value` fields;
//! the parent waits for a word ([`ServerChild::expect`]) and answers with
//! lines of its own ([`ServerChild::say`]). Closing the child's input (on
//! drop) tells it to exit.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `key=value` words of a child's line.
pub struct Fields(HashMap<String, String>);

impl Fields {
    pub fn num(&self, key: &str) -> u64 {
        self.0
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no number {key} in the server's line: {:?}", self.0))
    }

    pub fn text(&self, key: &str) -> &str {
        self.0.get(key).map_or("?", String::as_str)
    }
}

/// The parent's handle on a server child. Dropping it closes the child's
/// input, which ends it; one that lingers is killed.
pub struct ServerChild {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

/// The lines `from` yields, read on a thread of their own, until it ends
/// or the receiver is dropped.
pub fn line_channel(from: impl io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in io::BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    lines
}

/// Raises this process's open-file limit (soft and hard) to `need` if it is
/// lower, with `prlimit(1)`: a benchmark holds a descriptor per connection.
pub fn raise_nofile(need: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("read /proc/self/limits");
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok())
        .unwrap_or(0);
    if soft >= need {
        return;
    }
    let pid = std::process::id().to_string();
    let out = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={need}:{need}")])
        .output()
        .expect("run prlimit (util-linux)");
    assert!(
        out.status.success(),
        "cannot raise the open-file limit to {need} (one descriptor per connection; \
         ask for fewer connections or raise the hard limit): {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

impl ServerChild {
    /// Runs this binary with `args`.
    pub fn spawn(args: &[String]) -> ServerChild {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a server child");
        let lines = line_channel(child.stdout.take().expect("child stdout"));
        ServerChild { child, lines }
    }

    /// The process id (to read its `/proc/PID/...`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `within`) for a line starting with `word`; returns its
    /// fields. Other lines are passed on to standard error.
    pub fn expect(&mut self, word: &str, within: Duration) -> Fields {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.split_whitespace().next() == Some(word) => {
                    let kv = line.split_whitespace().skip(1).filter_map(|w| w.split_once('='));
                    return Fields(kv.map(|(k, v)| (k.to_string(), v.to_string())).collect());
                }
                Ok(line) => eprintln!("server child: {line}"),
                Err(e) => {
                    let _ = self.child.kill();
                    panic!("server child: no {word} line within {within:?} ({e})");
                }
            }
        }
    }

    pub fn say(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("child stdin");
        writeln!(stdin, "{line}").and_then(|()| stdin.flush()).expect("write to the server child");
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
