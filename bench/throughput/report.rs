//! The throughput table: cases, directions, min/median/max, ratios of
//! trust's medians to each baseline's, issue 4's verdict, and the Markdown
//! rendering with the machine it was measured on.

use std::time::Duration;

use crate::{MTU, Opts};

/// Which way the bytes flow, seen from the stack under test.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dir {
    /// kernel → stack.
    Receives,
    /// stack → kernel.
    Sends,
}

impl Dir {
    fn label(self) -> &'static str {
        match self {
            Dir::Receives => "receive (kernel -> stack)",
            Dir::Sends => "send (stack -> kernel)",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Dir::Receives => "receives",
            Dir::Sends => "sends",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Case {
    /// trust driven by the application's threads (`open_embedded`).
    Trust,
    /// trust with its reactor on its own thread (`open`).
    TrustThreaded,
    Smoltcp,
    KernelOffloadsOff,
    Kernel,
}

impl Case {
    pub const ALL: [Case; 5] =
        [Case::Trust, Case::TrustThreaded, Case::Smoltcp, Case::KernelOffloadsOff, Case::Kernel];
    /// The baselines trust is compared with.
    const BASELINES: [Case; 3] = [Case::Smoltcp, Case::KernelOffloadsOff, Case::Kernel];

    /// The name `--only` matches (by prefix).
    pub fn name(self, dir: Dir) -> String {
        let case = match self {
            Case::Trust => "",
            Case::TrustThreaded => "threaded-",
            Case::Smoltcp => "smoltcp-",
            Case::KernelOffloadsOff => "kernel-off-",
            Case::Kernel => "kernel-",
        };
        let dir = match dir {
            Dir::Receives => "rx",
            Dir::Sends => "tx",
        };
        format!("{case}{dir}")
    }

    fn column(self) -> &'static str {
        match self {
            Case::Trust => "trust (TUN, embedded)",
            Case::TrustThreaded => "trust (TUN, reactor thread)",
            Case::Smoltcp => "smoltcp (TUN)",
            Case::KernelOffloadsOff => "kernel veth, offloads off",
            Case::Kernel => "kernel veth, default offloads",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Case::Trust => "trust",
            Case::TrustThreaded => "trust (reactor thread)",
            Case::Smoltcp => "smoltcp",
            Case::KernelOffloadsOff => "kernel (offloads off)",
            Case::Kernel => "kernel (default offloads)",
        }
    }
}

pub fn gbits(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e9
}

/// Every run's duration, per case and direction.
#[derive(Default)]
pub struct Results {
    runs: Vec<(Case, Dir, Duration)>,
    /// CPU seconds this process used per run (both ends: the stack under
    /// test and its kernel peer run in our threads).
    cpu: Vec<(Case, Dir, f64)>,
}

/// How many times smoltcp's throughput trust must reach (issue 5).
const TARGET_VS_SMOLTCP: f64 = 2.0;

/// Min, median and max Gbit/s of one case in one direction.
#[derive(Clone, Copy)]
struct Stats {
    min: f64,
    median: f64,
    max: f64,
}

/// The outcome against issue 5's target: trust at least twice smoltcp in
/// both directions, by median (issue 4 asked for at least smoltcp).
pub struct Verdict {
    pub lines: Vec<String>,
    pub missed: bool,
}

impl Results {
    pub fn add(&mut self, case: Case, dir: Dir, d: Duration, cpu_seconds: f64) {
        self.runs.push((case, dir, d));
        self.cpu.push((case, dir, cpu_seconds));
    }

    /// Median CPU seconds per GiB moved, per case and direction, as one
    /// line each.
    pub fn cpu_lines(&self, bytes: u64) -> Vec<String> {
        let gib = bytes as f64 / f64::from(1u32 << 30);
        let mut lines = Vec::new();
        for dir in [Dir::Receives, Dir::Sends] {
            let cells: Vec<String> = Case::ALL
                .iter()
                .filter_map(|&c| {
                    let mut v: Vec<f64> =
                        self.cpu.iter().filter(|r| r.0 == c && r.1 == dir).map(|r| r.2 / gib).collect();
                    v.sort_by(f64::total_cmp);
                    let median = *v.get(v.len() / 2)?;
                    Some(format!("{} {median:.2}", c.short()))
                })
                .collect();
            lines.push(format!("{}: {}", dir.label(), cells.join(", ")));
        }
        lines
    }

    fn stats(&self, bytes: u64, case: Case, dir: Dir) -> Option<Stats> {
        let mut rates: Vec<f64> =
            self.runs.iter().filter(|r| r.0 == case && r.1 == dir).map(|r| gbits(bytes, r.2)).collect();
        let (min, median, max) = crate::measure::spread(&mut rates)?;
        Some(Stats { min, median, max })
    }

    /// trust's better mode in `dir`, by median.
    fn best_trust(&self, bytes: u64, dir: Dir) -> Option<(Case, Stats)> {
        [Case::Trust, Case::TrustThreaded]
            .into_iter()
            .filter_map(|c| self.stats(bytes, c, dir).map(|s| (c, s)))
            .max_by(|a, b| a.1.median.total_cmp(&b.1.median))
    }

    /// One row per direction: each case's median (min-max), then the
    /// median of trust's better mode over each baseline's.
    pub fn table(&self, bytes: u64) -> Table {
        let mut header = vec!["direction".to_string()];
        header.extend(Case::ALL.iter().map(|c| c.column().to_string()));
        header.extend(Case::BASELINES.iter().map(|c| format!("best trust/{}", c.short())));
        let mut rows = Vec::new();
        for dir in [Dir::Receives, Dir::Sends] {
            let stats = Case::ALL.map(|c| self.stats(bytes, c, dir));
            let best = self.best_trust(bytes, dir);
            let mut row = vec![dir.label().to_string()];
            row.extend(stats.iter().map(|s| match s {
                Some(s) => format!("{:.2} ({:.2}-{:.2})", s.median, s.min, s.max),
                None => "-".to_string(),
            }));
            row.extend(Case::BASELINES.iter().map(|&c| match (best, self.stats(bytes, c, dir)) {
                (Some((_, t)), Some(b)) => format!("{:.2}×", t.median / b.median),
                _ => "-".to_string(),
            }));
            rows.push(row);
        }
        Table { header, rows }
    }

    pub fn verdict(&self) -> Verdict {
        // Ratios do not depend on the byte count.
        let mut v = Verdict { lines: Vec::new(), missed: false };
        for dir in [Dir::Receives, Dir::Sends] {
            let verb = dir.verb();
            let (Some((mode, t)), Some(s)) = (self.best_trust(1, dir), self.stats(1, Case::Smoltcp, dir))
            else {
                v.lines.push(format!("target not checked: trust {verb} (trust or smoltcp not run)"));
                continue;
            };
            let ratio = t.median / s.median;
            let mode = if mode == Case::Trust { "embedded" } else { "reactor thread" };
            if ratio < TARGET_VS_SMOLTCP {
                v.missed = true;
                v.lines.push(format!(
                    "TARGET MISSED: trust ({mode}) {verb} at {ratio:.2}× smoltcp (target ≥ {TARGET_VS_SMOLTCP}×)"
                ));
            } else {
                v.lines.push(format!(
                    "target met: trust ({mode}) {verb} at {ratio:.2}× smoltcp (target ≥ {TARGET_VS_SMOLTCP}×)"
                ));
            }
        }
        v
    }
}

pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns padded to their widest cell.
    pub fn text(&self) -> String {
        let all = || std::iter::once(&self.header).chain(&self.rows);
        let widths: Vec<usize> =
            (0..self.header.len()).map(|i| all().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for row in all() {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            out += cells.join("  ").trim_end();
            out.push('\n');
        }
        out
    }

    /// A Markdown section: what was measured, on which machine and when,
    /// the table, and the verdict.
    /// `load` is the 1-minute load average before and after the run (this
    /// host may be shared).
    pub fn markdown(&self, o: &Opts, verdict: &[String], cpu: &[String], load: (&str, &str)) -> String {
        let row = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = String::from("### TUN throughput\n\n");
        out += &format!(
            "Gbit/s, median (min-max) of {} run(s) of {} MiB each way; ratios are of medians. \
             {} KiB socket buffers for trust and smoltcp, MTU {MTU}, kernel TCP as the peer \
             in the same network namespace (veth between two namespaces for kernel -> kernel). \
             trust runs embedded (the application's threads drive the stack, as smoltcp's single \
             loop does) and with its reactor on its own thread; ratios use its better mode. \
             trust uses the TUN offloads (virtio-net header, 64 KB TCP super-segments both ways, \
             checksums left to the kernel) {}; smoltcp has no such mode.\n\n",
            o.runs,
            o.bytes >> 20,
            o.buffer >> 10,
            if std::env::var("TRUST_OFFLOAD").as_deref() == Ok("0") {
                "(this run: off, TRUST_OFFLOAD=0)"
            } else {
                "(this run: on)"
            }
        );
        out += &format!(
            "Machine: {}. Date: {}. Load average (1 min) {} before the run, {} after.\n\n",
            machine(),
            command_output("date", &["-u", "+%Y-%m-%d"]),
            load.0,
            load.1
        );
        out += &row(&self.header);
        out += &row(&vec!["---".to_string(); self.header.len()]);
        for r in &self.rows {
            out += &row(r);
        }
        out.push('\n');
        for line in verdict {
            out += &format!("- {line}\n");
        }
        out += "\nCPU seconds per GiB, median, of the whole benchmark process (the stack under test and its \
                kernel peer both run in its threads, so the kernel's TCP work for the peer is counted too):\n\n";
        for line in cpu {
            out += &format!("- {line}\n");
        }
        out += &format!(
            "\nMeasured with `cargo bench --bench tun_throughput -- --bytes {} --runs {} --buffer {}`.\n",
            o.bytes, o.runs, o.buffer
        );
        out
    }
}

/// The 1-minute load average, from `/proc/loadavg`.
pub fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    loadavg.split_whitespace().next().unwrap_or("unknown").to_string()
}

/// `Linux <uname -r>, <CPU model>, <n> CPUs`.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim()))
        .unwrap_or("unknown CPU");
    let cpus = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    format!("Linux {}, {model}, {cpus} CPUs", command_output("uname", &["-r"]))
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    match std::process::Command::new(cmd).args(args).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => format!("(`{cmd}` failed)"),
    }
}
