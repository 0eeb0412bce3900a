//! The stack's timer queue: one min-heap entry per armed socket deadline.
//!
//! A socket's deadline can move either way after every event. Entries are
//! never removed from the heap; instead each slot remembers the deadline
//! it has armed, and an entry whose deadline or generation no longer
//! matches is skipped when it surfaces. A deadline that moves later leaves
//! an early entry behind, which costs one harmless early wake-up.

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
