//! What the latency example and the benchmarks share: a kernel client that
//! waits for its server, the spread of repeated runs, and appending a
//! result table to the Markdown file `scripts/bench_all.sh` collects.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connects to `addr`, retrying for up to 4 s while the server starts.
pub fn connect_retry(addr: SocketAddr) -> TcpStream {
    (0..200)
        .find_map(|_| {
            TcpStream::connect(addr).ok().or_else(|| {
                std::thread::sleep(Duration::from_millis(20));
                None
            })
        })
        .unwrap_or_else(|| panic!("no server at {addr}"))
}

/// (min, median, max) of `v`, or `None` if it is empty; the median of an
/// even count is the mean of the middle two.
pub fn spread(v: &mut [f64]) -> Option<(f64, f64, f64)> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => return None,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    Some((v[0], median, v[n - 1]))
}

/// Appends `text` to the file at `path`, creating it.
pub fn append_markdown(path: &str, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(text.as_bytes())
}
