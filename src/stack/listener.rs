//! Listeners (RFC 9293 §3.10.7.2, LISTEN state) with two bounded queues,
//! as Linux keeps them: the SYN queue of half-open connections (bounded
//! by [`super::Limits::syn_backlog`]; when it is full, SYNs get SYN
//! cookies) and the accept queue of established connections the
//! application has not taken yet (bounded by the listen backlog).

use std::collections::{HashMap, VecDeque};

use crate::tcp::TcpConfig;
use crate::time::Instant;

/// A listening port.
#[derive(Debug)]
pub struct Listener {
    pub port: u16,
    /// Most connections in the accept queue (the listen backlog). While it
    /// is full, SYNs are dropped and handshakes are not completed: the
    /// peers' retransmissions try again later.
    pub backlog: usize,
    /// Connections in SYN-RECEIVED opened by this listener.
    pub syn_queue: SynQueue,
    /// Established connections waiting for `accept`, by slot index.
    pub accept_queue: VecDeque<u32>,
    /// Settings for accepted connections, if not the stack's defaults.
    pub tcp: Option<Box<TcpConfig>>,
    /// When the SYN queue last overflowed into SYN cookies. Only for a
    /// while after that are stray ACKs checked as cookies (as Linux's
    /// `tcp_synq_no_recent_overflow`): otherwise they get a reset at once.
    pub last_overflow: Option<Instant>,
    /// The TTL (hop limit) of its SYN-ACKs, which the connections it opens
    /// inherit (as Linux's `IP_TTL` on a listening socket).
    pub ttl: u8,
}

impl Listener {
    pub fn new(port: u16, backlog: usize, tcp: Option<TcpConfig>, ttl: u8) -> Listener {
        Listener {
            port,
            backlog: backlog.max(1),
            syn_queue: SynQueue::default(),
            accept_queue: VecDeque::new(),
            tcp: tcp.map(Box::new),
            last_overflow: None,
            ttl,
        }
    }

    /// Whether the accept queue has room for another connection.
    pub fn can_accept_more(&self) -> bool {
        self.accept_queue.len() < self.backlog
    }
}

/// Half-open connections by slot index, oldest first.
#[derive(Debug, Default)]
pub struct SynQueue {
    /// Slot index to arrival number.
    members: HashMap<u32, u64>,
    /// (arrival number, slot index), oldest first; an entry whose index
    /// has left (or come back with a later arrival number) is stale and
    /// skipped.
    order: VecDeque<(u64, u32)>,
    next: u64,
}

impl SynQueue {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn insert(&mut self, index: u32) {
        let arrival = self.next;
        self.next += 1;
        self.members.insert(index, arrival);
        self.order.push_back((arrival, index));
        if self.order.len() > 2 * self.members.len() + 16 {
            let members = &self.members;
            self.order.retain(|(a, i)| members.get(i) == Some(a));
        }
    }

    /// Removes `index`; whether it was there.
    pub fn remove(&mut self, index: u32) -> bool {
        self.members.remove(&index).is_some()
    }

    /// The connection that has waited longest.
    pub fn oldest(&mut self) -> Option<u32> {
        while let Some(&(arrival, index)) = self.order.front() {
            if self.members.get(&index) == Some(&arrival) {
                return Some(index);
            }
            self.order.pop_front();
        }
        None
    }

    /// Takes every member out, oldest first.
    pub fn drain(&mut self) -> Vec<u32> {
        let mut all: Vec<(u64, u32)> = self.members.drain().map(|(i, a)| (a, i)).collect();
        all.sort_unstable();
        self.order.clear();
        all.into_iter().map(|(_, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_and_bounded_order() {
        let mut q = SynQueue::default();
        for i in 0..10 {
            q.insert(i);
        }
        assert_eq!(q.oldest(), Some(0));
        assert!(q.remove(0) && q.remove(1) && !q.remove(1));
        assert_eq!(q.oldest(), Some(2));
        // A slot reused later is younger than everything before it.
        q.remove(2);
        q.insert(2);
        assert_eq!(q.oldest(), Some(3));
        for round in 0..1000u32 {
            q.remove(3 + round % 7);
            q.insert(3 + round % 7);
        }
        assert!(q.order.len() <= 2 * q.len() + 17, "{}", q.order.len());
        assert_eq!(q.len(), 8);
        assert_eq!(q.drain().len(), 8);
        assert_eq!(q.oldest(), None);
    }
}
