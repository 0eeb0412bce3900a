//! The socket table: a slab of slots addressed by generation-checked
//! handles, so a stale handle can never reach a newer socket.

use super::listener::Listener;
use crate::tcp::{Connection, Readiness};
use crate::time::Instant;

/// Names a listener or a connection of one [`super::Stack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    pub(super) index: u32,
    pub(super) generation: u32,
}

impl SocketHandle {
    /// A number unique among the stack's live sockets (the slot index),
    /// handy as a poll token.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Connections dominate the table, so the large variant stays inline:
/// boxing it would cost a pointer chase per packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Socket {
    Listener(Listener),
    Tcp(TcpSocket),
}

#[derive(Debug)]
pub(super) struct TcpSocket {
    pub conn: Connection,
    /// The listener that opened it, until the application accepts it.
    pub parent: Option<u32>,
    /// The IPv4 TTL or IPv6 hop limit of its packets (`IP_TTL`,
    /// `IPV6_UNICAST_HOPS`): [`super::StackConfig::ttl`], its listener's,
    /// or what the application set.
    pub ttl: u8,
}

#[derive(Debug)]
pub(super) struct Slot {
    pub generation: u32,
    pub socket: Option<Socket>,
    /// Queued in the stack's transmit queue.
    pub tx_queued: bool,
    /// Deadline of this slot's entry in the timer heap.
    pub armed: Option<Instant>,
    /// Readiness last reported through the event queue.
    pub reported: Readiness,
    /// Queued in the event queue.
    pub event_queued: bool,
    /// What the slot counts as in the stack-wide bounds.
    class: Class,
    /// Buffer memory the slot's connection held when last accounted.
    memory: usize,
}

/// What a socket counts against (see [`super::Limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Class {
    #[default]
    Other,
    /// Closed by the application, still finishing.
    Orphan,
    TimeWait,
}

/// A slab of sockets with a free list, and the stack-wide counts of
/// orphans, TIME-WAIT connections and buffer memory.
#[derive(Debug, Default)]
pub(super) struct SocketSet {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    orphans: usize,
    time_wait: usize,
    memory: usize,
}

impl SocketSet {
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn orphans(&self) -> usize {
        self.orphans
    }

    pub fn time_wait(&self) -> usize {
        self.time_wait
    }

    /// Buffer memory of every connection, as last accounted.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Records what slot `index` counts as now and the buffer memory it
    /// holds. Returns whether it just entered `class` from another class.
    pub fn account(&mut self, index: u32, class: Class, memory: usize) -> bool {
        let Some(slot) = self.slots.get_mut(index as usize).filter(|s| s.socket.is_some()) else {
            return false;
        };
        self.memory = self.memory - slot.memory + memory;
        slot.memory = memory;
        let old = core::mem::replace(&mut slot.class, class);
        if old == class {
            return false;
        }
        self.count(old, false);
        self.count(class, true);
        true
    }

    /// Whether slot `index`, of generation `generation`, is in TIME-WAIT.
    pub fn is_time_wait(&self, index: u32, generation: u32) -> bool {
        self.slot(index).is_some_and(|s| s.generation == generation && s.class == Class::TimeWait)
    }

    fn count(&mut self, class: Class, add: bool) {
        let counter = match class {
            Class::Orphan => &mut self.orphans,
            Class::TimeWait => &mut self.time_wait,
            Class::Other => return,
        };
        if add {
            *counter += 1;
        } else {
            *counter -= 1;
        }
    }

    pub fn insert(&mut self, socket: Socket) -> SocketHandle {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            // The queues may still name this index from its previous
            // socket; clearing the flags lets the new one be queued again
            // (a stale queue entry is skipped or is merely a spare poll).
            let slot = &mut self.slots[index as usize];
            slot.socket = Some(socket);
            slot.reported = Readiness::empty();
            slot.tx_queued = false;
            slot.event_queued = false;
            slot.armed = None;
            slot.class = Class::Other;
            slot.memory = 0;
            return SocketHandle { index, generation: slot.generation };
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            generation: 0,
            socket: Some(socket),
            tx_queued: false,
            armed: None,
            reported: Readiness::empty(),
            event_queued: false,
            class: Class::Other,
            memory: 0,
        });
        SocketHandle { index, generation: 0 }
    }

    /// Frees a slot; its handles go stale.
    pub fn remove(&mut self, index: u32) -> Option<Socket> {
        let slot = self.slots.get_mut(index as usize)?;
        let socket = slot.socket.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        slot.armed = None;
        let (class, memory) = (slot.class, slot.memory);
        self.memory -= memory;
        self.count(class, false);
        self.free.push(index);
        self.live -= 1;
        Some(socket)
    }

    /// The slot a live handle names.
    pub fn get(&self, h: SocketHandle) -> Option<&Slot> {
        self.slots.get(h.index as usize).filter(|s| s.generation == h.generation && s.socket.is_some())
    }

    pub fn get_mut(&mut self, h: SocketHandle) -> Option<&mut Slot> {
        self.slots.get_mut(h.index as usize).filter(|s| s.generation == h.generation && s.socket.is_some())
    }

    pub fn slot(&self, index: u32) -> Option<&Slot> {
        self.slots.get(index as usize).filter(|s| s.socket.is_some())
    }

    pub fn slot_mut(&mut self, index: u32) -> Option<&mut Slot> {
        self.slots.get_mut(index as usize).filter(|s| s.socket.is_some())
    }

    /// Indices of the live slots.
    pub fn live_indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.socket.is_some()).map(|(i, _)| i as u32)
    }

    /// Every live socket.
    pub fn iter(&self) -> impl Iterator<Item = &Socket> + '_ {
        self.slots.iter().filter_map(|s| s.socket.as_ref())
    }

    pub fn handle(&self, index: u32) -> Option<SocketHandle> {
        self.slot(index).map(|s| SocketHandle { index, generation: s.generation })
    }

    pub fn tcp_mut(&mut self, index: u32) -> Option<&mut TcpSocket> {
        match self.slot_mut(index)?.socket.as_mut()? {
            Socket::Tcp(t) => Some(t),
            Socket::Listener(_) => None,
        }
    }

    pub fn listener_mut(&mut self, index: u32) -> Option<&mut Listener> {
        match self.slot_mut(index)?.socket.as_mut()? {
            Socket::Listener(l) => Some(l),
            Socket::Tcp(_) => None,
        }
    }
}

/// What a socket is ready for now (level-triggered).
pub(super) fn readiness_of(socket: Option<&Socket>) -> Readiness {
    match socket {
        Some(Socket::Tcp(t)) => t.conn.readiness(),
        Some(Socket::Listener(l)) if !l.accept_queue.is_empty() => Readiness::READABLE,
        _ => Readiness::empty(),
    }
}
