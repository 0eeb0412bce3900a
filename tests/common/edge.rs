//! The edge-triggered contract of a `Poll`'s eventfd, checked the same way
//! over a kernel peer (`tests/kernel/poll.rs`) and over a loopback pair
//! (`tests/loopback.rs`).

use std::time::Duration;

use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use trust::api::{Events, Poll};

/// Edge-triggered waiting on the poll's fd, as mio and tokio's `AsyncFd`
/// do. `poll` has two readable sockets registered, tokens 1 and 2, with
/// nothing to read yet; `write_a` and `write_b` make their peers send them
/// a byte. A socket left ready (back-pressure: its byte is not read) must
/// not hide another socket's readiness, and nothing may wake the waiter
/// again without a change (no spinning).
pub fn assert_edge_triggered(poll: &Poll, write_a: impl FnOnce(), write_b: impl FnOnce()) {
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
    ep.add(poll, EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, 0)).unwrap();
    let mut ev = [EpollEvent::empty(); 4];
    let mut wait = |ms: u16| ep.wait(&mut ev, PollTimeout::from(ms)).expect("epoll_wait");
    let mut events = Events::with_capacity(8);
    let mut ready = |poll: &Poll| {
        poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
        let mut tokens: Vec<usize> = events.iter().map(|e| e.token().0).collect();
        tokens.sort_unstable();
        tokens
    };
    // Registered with nothing to read: no edge yet.
    assert_eq!(wait(100), 0, "an edge with nothing ready");
    write_a();
    assert_eq!(wait(10_000), 1, "a's readiness did not wake the waiter");
    assert_eq!(ready(poll), [1]);
    // a's byte stays unread. Nothing new: no new edge (a waiter that woke
    // again here would spin).
    assert_eq!(wait(200), 0, "woken again without a change");
    write_b();
    assert_eq!(wait(10_000), 1, "b's readiness was missed while a stayed ready");
    assert_eq!(ready(poll), [1, 2], "a stays ready (level-triggered collection), b joins");
}
