//! The stack's timer queue: one min-heap entry per armed socket deadline.
//!
//! A socket's deadline can move either way after every event. Entries are
//! never removed from the heap; instead each slot remembers the deadline
//! it has armed, and an entry whose deadline or generation no longer
//! matches is skipped when it surfaces. A deadline that moves later leaves
//! an early entry behind, which costs one harmless early wake-up.
//!
//! Stale entries would pile up where a socket's deadline keeps moving (a
//! keep-alive restarted by every segment leaves a 2-hour entry behind per
//! wake-up), so the stack compacts the heap whenever it holds more than
//! twice as many entries as there are sockets (plus a constant), keeping
//! one entry per armed socket: the heap stays within that bound, and a
//! compaction, O(n log n), comes at most once per n pushes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::Instant;

#[derive(Debug, Default)]
pub(super) struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
}

impl TimerQueue {
    pub fn push(&mut self, at: Instant, index: u32, generation: u32) {
        self.heap.push(Reverse((at, index, generation)));
    }

    /// Keeps only the entries `live` says are current, each once.
    pub fn retain(&mut self, mut live: impl FnMut(Instant, u32, u32) -> bool) {
        let mut entries: Vec<_> = self
            .heap
            .drain()
            .filter(|Reverse((at, index, generation))| live(*at, *index, *generation))
            .collect();
        entries.sort_unstable();
        entries.dedup();
        self.heap = BinaryHeap::from(entries);
    }

    /// Entries in the heap, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// The earliest entry's deadline (possibly stale, never late).
    pub fn peek(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Pops an entry due at `now`: (deadline, slot index, generation).
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32, u32)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}
