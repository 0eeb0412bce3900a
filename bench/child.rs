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
        let stdout = io::BufReader::new(child.stdout.take().expect("child stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
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
