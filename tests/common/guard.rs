//! A hang guard for tests that must finish: not a timing claim.

use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a thread and returns what it returns; fails the test (with
/// `f`'s own panic, if it panicked) when it has not finished after `limit`.
pub fn guarded<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(_) if t.is_finished() => std::panic::resume_unwind(t.join().expect_err("panicked")),
        Err(_) => panic!("{what}: still running after {limit:?}"),
    }
}
