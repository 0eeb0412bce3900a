//! What happens to a socket after anything touched it: its timer is
//! re-armed, it is queued to transmit, readiness changes become events, a
//! finished handshake moves it to its listener's accept queue, and a
//! connection nobody will use again is freed.

use super::Stack;
use super::sockets::{Class, Socket, readiness_of};
use crate::tcp::{MemoryPressure, Reset, State};
use crate::time::Instant;

impl Stack {
    /// Follows up on whatever just touched socket `index` (a segment, a
    /// timer, an application call): re-arms its timer, queues it to
    /// transmit, reports its readiness, moves a finished handshake to the
    /// accept queue, recounts its class, and frees it if nobody holds it.
    pub(super) fn follow_up(&mut self, index: u32) {
        let Some(slot) = self.sockets.slot(index) else { return };
        let Some(Socket::Tcp(t)) = slot.socket.as_ref() else {
            self.refresh_readiness(index);
            return;
        };
        let state = t.conn.state();
        let parent = t.parent;
        if state == State::Closed {
            if t.conn.is_orphaned() || parent.is_some() {
                self.release(index);
                return;
            }
            // The application still holds the handle (to read the error),
            // but the 4-tuple is free: segments for it now get the CLOSED
            // state's reset (RFC 9293 §3.10.7.1) and it may be reused.
            let tuple = t.conn.tuple();
            if self.connections.get(&tuple) == Some(&index) {
                self.connections.remove(&tuple);
            }
        }
        if let Some(p) = parent
            && state != State::SynReceived
        {
            self.promote(p, index);
        }
        if let Some(slot) = self.sockets.slot_mut(index)
            && !slot.tx_queued
        {
            slot.tx_queued = true;
            self.tx_queue.push_back(index);
        }
        self.rearm(index);
        self.refresh_readiness(index);
        self.account(index);
    }

    /// Counts the connection against the stack-wide bounds: orphans,
    /// TIME-WAIT (recycling the oldest beyond
    /// [`super::Limits::max_time_wait`]) and buffer memory.
    fn account(&mut self, index: u32) {
        let Some(slot) = self.sockets.slot(index) else { return };
        let Some(Socket::Tcp(t)) = slot.socket.as_ref() else { return };
        let class = match t.conn.state() {
            State::TimeWait => Class::TimeWait,
            State::Closed => Class::Other,
            _ if t.conn.is_orphaned() => Class::Orphan,
            _ => Class::Other,
        };
        let (memory, generation) = (t.conn.buffer_memory(), slot.generation);
        if !self.sockets.account(index, class, memory) || class != Class::TimeWait {
            return;
        }
        self.time_wait_order.push_back((index, generation));
        if self.time_wait_order.len() > 2 * self.sockets.time_wait() + 16 {
            let sockets = &self.sockets;
            self.time_wait_order.retain(|&(i, g)| sockets.is_time_wait(i, g));
        }
        if self.sockets.time_wait() > self.cfg.limits.max_time_wait {
            self.recycle_oldest_time_wait();
        }
    }

    /// Ends the TIME-WAIT that began first (as Linux would refuse a new
    /// one beyond `tcp_max_tw_buckets`; here the newest is kept, being the
    /// likeliest to see a late segment).
    fn recycle_oldest_time_wait(&mut self) {
        while let Some((index, generation)) = self.time_wait_order.pop_front() {
            if !self.sockets.is_time_wait(index, generation) {
                continue;
            }
            if let Some(t) = self.sockets.tcp_mut(index) {
                t.conn.end_time_wait();
                self.stats.time_wait_recycled += 1;
                self.follow_up(index);
                return;
            }
        }
    }

    /// How scarce buffer memory is, against [`super::Limits::memory`].
    pub(super) fn memory_pressure(&self) -> MemoryPressure {
        let (used, limits) = (self.sockets.memory(), &self.cfg.limits.memory);
        if used >= limits.hard {
            MemoryPressure::Exhausted
        } else if used >= limits.pressure {
            MemoryPressure::Pressure
        } else {
            MemoryPressure::Normal
        }
    }

    /// A half-open connection completed its handshake (or failed): it
    /// leaves the SYN queue and, if alive, joins the accept queue.
    fn promote(&mut self, listener: u32, index: u32) {
        let Some(l) = self.sockets.listener_mut(listener) else { return };
        if l.syn_queue.remove(index) {
            l.accept_queue.push_back(index);
            self.refresh_readiness(listener);
        }
    }

    /// Frees a connection's slot and forgets its 4-tuple.
    pub(super) fn release(&mut self, index: u32) {
        let Some(Socket::Tcp(t)) = self.sockets.remove(index) else { return };
        let tuple = t.conn.tuple();
        if self.connections.get(&tuple) == Some(&index) {
            self.connections.remove(&tuple);
        }
        if let Some(p) = t.parent {
            if let Some(l) = self.sockets.listener_mut(p)
                && !l.syn_queue.remove(index)
            {
                l.accept_queue.retain(|&i| i != index);
            }
            self.refresh_readiness(p);
        }
    }

    /// Keeps the timer heap holding the socket's earliest deadline.
    pub(super) fn rearm(&mut self, index: u32) {
        let Some(slot) = self.sockets.slot_mut(index) else { return };
        let Some(Socket::Tcp(t)) = slot.socket.as_ref() else { return };
        let next = t.conn.poll_timeout();
        if let Some(at) = next
            && slot.armed.is_none_or(|armed| at < armed)
        {
            slot.armed = Some(at);
            let generation = slot.generation;
            self.timers.push(at, index, generation);
            if self.timers.len() > 2 * self.sockets.len() + 64 {
                self.compact_timers();
            }
        }
    }

    /// Drops every heap entry that no longer names a slot's armed deadline
    /// (see [`super::timers`]): one entry per armed socket remains.
    fn compact_timers(&mut self) {
        let sockets = &self.sockets;
        self.timers.retain(|at, index, generation| {
            sockets.slot(index).is_some_and(|s| s.generation == generation && s.armed == Some(at))
        });
    }

    /// Queues an event when the socket's readiness differs from what was
    /// last reported.
    pub(super) fn refresh_readiness(&mut self, index: u32) {
        let Some(slot) = self.sockets.slot_mut(index) else { return };
        let readiness = readiness_of(slot.socket.as_ref());
        if readiness != slot.reported && !slot.event_queued {
            slot.event_queued = true;
            self.events.push_back(index);
        }
    }

    /// The earliest deadline of any socket: call [`Stack::handle_timeout`]
    /// then (or earlier).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, index, generation)) = self.timers.pop_due(now) {
            let Some(slot) = self.sockets.slot_mut(index) else { continue };
            if slot.generation != generation || slot.armed != Some(at) {
                continue;
            }
            slot.armed = None;
            if self.prune_half_open(index) {
                continue;
            }
            let (rst, ttl) = match self.sockets.tcp_mut(index) {
                Some(t) => (t.conn.handle_timeout(now), t.ttl),
                None => (None, self.cfg.ttl),
            };
            self.queue_reset(rst, ttl);
            self.follow_up(index);
        }
    }

    /// A half-open connection whose SYN queue is more than half full gets
    /// only [`super::Limits::synack_retries_under_pressure`] SYN-ACK
    /// retransmissions (as Linux prunes its queue): forged SYNs then leave
    /// the queue within seconds, not minutes. Returns whether `index` was
    /// dropped.
    fn prune_half_open(&mut self, index: u32) -> bool {
        let Some(t) = self.sockets.tcp_mut(index) else { return false };
        let (Some(parent), State::SynReceived) = (t.parent, t.conn.state()) else { return false };
        let retries = t.conn.consecutive_timeouts();
        let limits = &self.cfg.limits;
        let pressure =
            self.sockets.listener_mut(parent).is_some_and(|l| 2 * l.syn_queue.len() > limits.syn_backlog);
        if !pressure || retries < limits.synack_retries_under_pressure {
            return false;
        }
        self.stats.syn_queue_pruned += 1;
        self.release(index);
        true
    }

    /// Whether every connection, closed ones finishing on their own
    /// included, has had everything it sent (FIN included) acknowledged:
    /// a driver that is about to stop loses nothing then. O(sockets).
    pub fn is_drained(&self) -> bool {
        self.sockets.iter().all(|s| match s {
            Socket::Tcp(t) => match t.conn.state() {
                // Nothing of ours is unacknowledged (FIN-WAIT-2, TIME-WAIT:
                // our FIN was), or nothing was ever delivered (SYN-SENT).
                State::Closed | State::TimeWait | State::FinWait2 | State::SynSent => true,
                // Our FIN is queued or in flight: it may not have been sent
                // yet, so SND.NXT does not count it.
                State::FinWait1 | State::Closing | State::LastAck => false,
                _ => t.conn.all_acknowledged(),
            },
            Socket::Listener(_) => true,
        })
    }

    /// Resets every connection (RFC 9293 §3.10.5 ABORT, as if each were
    /// aborted), for a stack that is going away: peers learn at once that
    /// whatever was unacknowledged is lost, instead of waiting on a dead
    /// connection. Call `poll_transmit` afterwards to send the resets.
    pub fn abort_all(&mut self, now: Instant) {
        let indices: Vec<u32> = self.sockets.live_indices().collect();
        for index in indices {
            if let Some(t) = self.sockets.tcp_mut(index) {
                let rst = super::abort_and_release(&mut t.conn, now);
                let ttl = t.ttl;
                self.queue_reset(rst, ttl);
                self.follow_up(index);
            }
        }
    }

    /// Queues a reset the state machine asked for, to be sent with `ttl`.
    pub(super) fn queue_reset(&mut self, rst: Option<Reset>, ttl: u8) {
        if let Some(rst) = rst {
            self.queue_control(super::output::Control::Reset(rst, ttl));
        }
    }
}
