//! Listeners (RFC 9293 §3.10.7.2, LISTEN state) with a bounded backlog.

use std::collections::{HashSet, VecDeque};

use crate::tcp::TcpConfig;

/// A listening port. Its backlog bounds half-open connections (the SYN
/// queue) and established-but-unaccepted ones (the accept queue)
/// together: a SYN that would exceed it is dropped, and the peer's SYN
/// retransmission tries again later.
#[derive(Debug)]
pub struct Listener {
    pub port: u16,
    pub backlog: usize,
    /// Connections in SYN-RECEIVED opened by this listener, by slot index.
    pub half_open: HashSet<u32>,
    /// Established connections waiting for `accept`, by slot index.
    pub accept_queue: VecDeque<u32>,
    /// Settings for accepted connections, if not the stack's defaults.
    pub tcp: Option<Box<TcpConfig>>,
}

impl Listener {
    pub fn new(port: u16, backlog: usize, tcp: Option<TcpConfig>) -> Listener {
        Listener {
            port,
            backlog: backlog.max(1),
            half_open: HashSet::new(),
            accept_queue: VecDeque::new(),
            tcp: tcp.map(Box::new),
        }
    }

    /// Whether another SYN may open a connection.
    pub fn has_room(&self) -> bool {
        self.half_open.len() + self.accept_queue.len() < self.backlog
    }
}
