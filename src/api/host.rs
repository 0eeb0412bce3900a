//! What the reactor locks each turn: the engine, plus who is waiting for
//! which socket. Readiness changes from the engine wake the socket's
//! blocked callers (one condition variable per socket, so a change wakes
//! only that socket's callers) and queue the socket on the [`Poll`] it is
//! registered with.
//!
//! [`Poll`]: super::Poll

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, MutexGuard, OnceLock};
use std::time::Duration;

use nix::sys::eventfd::{EfdFlags, EventFd};

use super::poll::{Event, Events, Interest, Token};
use crate::reactor::Host;
use crate::stack::{SocketHandle, Stack};
use crate::tcp::Readiness;

/// Who waits for one socket: threads blocked in a call (a condition
/// variable that knows whether anyone sleeps on it, so a readiness change
/// nobody waits for costs no futex wake), and, once a runtime asks for it,
/// an eventfd for edge-triggered waiters (mio, tokio's `AsyncFd`).
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    cv: Condvar,
    /// Threads in `sleep`; changed and read only with the engine locked.
    sleepers: AtomicUsize,
    /// Written on every transition to ready ([`Waiter::notify_fd`]).
    notify: OnceLock<EventFd>,
    /// The readiness last reported to the eventfd (its bits), to tell a
    /// transition to ready from a change that only takes readiness away.
    last: AtomicU8,
    /// The readiness flags the eventfd's waiter registered for.
    wanted: AtomicU8,
    /// A wake of the condition variable, or a write of the eventfd, is due
    /// once the engine is unlocked (set under the lock).
    cv_due: AtomicBool,
    fd_due: AtomicBool,
}

impl Waiter {
    /// Wakes everyone who waits, at once (the reactor stopped).
    pub fn wake(&self) {
        if self.has_sleepers() {
            self.cv.notify_all();
        }
        if let Some(fd) = self.notify.get() {
            let _ = fd.write(1);
        }
    }

    /// Whether a thread sleeps here (exact with the engine locked).
    fn has_sleepers(&self) -> bool {
        self.sleepers.load(Ordering::Relaxed) > 0
    }

    /// Releases the engine until woken or `timeout` passes.
    pub fn sleep<'a>(&self, core: MutexGuard<'a, Core>, timeout: Option<Duration>) -> MutexGuard<'a, Core> {
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        let core = match timeout {
            Some(t) => self.cv.wait_timeout(core, t).unwrap_or_else(|e| e.into_inner()).0,
            None => self.cv.wait(core).unwrap_or_else(|e| e.into_inner()),
        };
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
        core
    }

    /// The socket's eventfd for edge-triggered waiters, made on first use,
    /// registered for the readiness flags `wanted`, with the socket's
    /// readiness `now` (under the engine lock).
    ///
    /// The contract, as mio's: the eventfd is written every time the
    /// socket gains one of the `wanted` flags, so an `EPOLLET`
    /// registration gets an edge per transition to ready; a socket that
    /// stays ready makes no new edge. It is also written when a
    /// registration finds the socket ready already, as `epoll_ctl` reports
    /// a socket that is. It is never read: an edge-triggered registration
    /// needs only the writes (each one is an edge even when the counter is
    /// above zero), and the counter cannot reach its maximum (2^64 - 2) in
    /// practice.
    pub fn notify_fd(&self, now: Readiness, wanted: Readiness) -> io::Result<&EventFd> {
        let fd = match self.notify.get() {
            Some(fd) => fd,
            None => {
                let fd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
                self.notify.get_or_init(|| fd)
            }
        };
        self.wanted.store(wanted.bits(), Ordering::Relaxed);
        self.last.store(now.bits(), Ordering::Relaxed);
        if now.intersects(wanted) {
            let _ = fd.write(1);
        }
        Ok(fd)
    }

    /// Notes readiness `r` under the engine lock: whether this waiter
    /// must be woken once the lock is released (and was not already due).
    fn note(&self, r: Readiness) -> bool {
        let cv = self.has_sleepers() && !self.cv_due.swap(true, Ordering::Relaxed);
        let fd = self.notify.get().is_some() && {
            let last = Readiness::from_bits_retain(self.last.swap(r.bits(), Ordering::Relaxed));
            let wanted = Readiness::from_bits_retain(self.wanted.load(Ordering::Relaxed));
            (r - last).intersects(wanted) && !self.fd_due.swap(true, Ordering::Relaxed)
        };
        cv || fd
    }

    /// Issues the wakes [`Waiter::note`] found due, with the engine
    /// unlocked.
    fn fire(&self) {
        if self.cv_due.swap(false, Ordering::Relaxed) {
            self.cv.notify_all();
        }
        if self.fd_due.swap(false, Ordering::Relaxed)
            && let Some(fd) = self.notify.get()
        {
            let _ = fd.write(1);
        }
    }
}

/// A socket's registration with a poll.
struct Registration {
    poll: usize,
    token: Token,
    interest: Interest,
    /// In its poll's ready queue.
    queued: bool,
}

/// One poll's sockets that may be ready.
pub(crate) struct PollQueue {
    ready: VecDeque<SocketHandle>,
    waiter: Arc<Waiter>,
    efd: Arc<EventFd>,
    /// The eventfd has been written and not yet read.
    efd_set: bool,
    /// The application has taken the eventfd (until then it is left
    /// alone: two syscalls per event saved).
    efd_wanted: bool,
}

impl PollQueue {
    /// A socket joined the ready queue: makes the eventfd readable, if
    /// anyone looks at it. It writes on every such transition, not only
    /// when the queue was empty, so that a waiter registered
    /// edge-triggered (mio, tokio's `AsyncFd`) gets an edge for every
    /// socket that becomes ready, even while another stays ready and its
    /// counter is already above zero. A socket that stays ready adds no
    /// edge, so nothing wakes such a waiter without a change.
    fn signal(&mut self) {
        if self.efd_wanted {
            self.efd_set = true;
            let _ = self.efd.write(1);
        }
    }
}

pub(crate) struct Core {
    pub stack: Stack,
    waiters: HashMap<SocketHandle, Arc<Waiter>>,
    registrations: HashMap<SocketHandle, Registration>,
    polls: Vec<Option<PollQueue>>,
    /// The reactor has stopped: nothing will make progress any more.
    pub stopped: bool,
    /// Woken after every turn of the loop (for [`super::Interface::drain`]).
    pub turns: Arc<Waiter>,
    /// Sleepers [`Host::on_event`] found, to wake once the lock is released.
    wakes: Vec<Arc<Waiter>>,
}

impl Core {
    pub fn new(stack: Stack) -> Core {
        Core {
            stack,
            waiters: HashMap::new(),
            registrations: HashMap::new(),
            polls: Vec::new(),
            stopped: false,
            turns: Arc::default(),
            wakes: Vec::new(),
        }
    }

    /// Wakes the sleepers gathered since the last turn: for operations
    /// outside the reactor's turn, which wake with the engine locked.
    pub fn flush_wakes(&mut self) {
        <Core as Host>::wake(&mut self.wakes);
    }

    /// `waiter` is woken whenever `h`'s readiness changes.
    pub fn add_waiter(&mut self, h: SocketHandle, waiter: Arc<Waiter>) {
        self.waiters.insert(h, waiter);
    }

    /// Forgets everything about `h` (its handle is being released).
    pub fn forget(&mut self, h: SocketHandle) {
        self.waiters.remove(&h);
        self.registrations.remove(&h);
    }

    pub fn add_poll(&mut self, waiter: Arc<Waiter>, efd: Arc<EventFd>) -> usize {
        let queue = PollQueue { ready: VecDeque::new(), waiter, efd, efd_set: false, efd_wanted: false };
        match self.polls.iter().position(Option::is_none) {
            Some(i) => {
                self.polls[i] = Some(queue);
                i
            }
            None => {
                self.polls.push(Some(queue));
                self.polls.len() - 1
            }
        }
    }

    /// The application wants `poll`'s eventfd: from now on it is readable
    /// exactly while the ready queue is not empty.
    pub fn want_efd(&mut self, poll: usize) {
        if let Some(Some(q)) = self.polls.get_mut(poll) {
            q.efd_wanted = true;
            if !q.ready.is_empty() {
                q.signal();
            }
        }
    }

    pub fn remove_poll(&mut self, poll: usize) {
        if let Some(slot) = self.polls.get_mut(poll) {
            *slot = None;
        }
        self.registrations.retain(|_, r| r.poll != poll);
    }

    /// Registers (or re-registers) `h` with `poll`. A socket already
    /// ready for `interest` is queued at once.
    pub fn register(&mut self, poll: usize, h: SocketHandle, token: Token, interest: Interest) {
        let queued = self.registrations.get(&h).is_some_and(|r| r.poll == poll && r.queued);
        self.registrations.insert(h, Registration { poll, token, interest, queued });
        if let Ok(r) = self.stack.readiness(h) {
            self.on_readiness(h, r);
        }
    }

    pub fn is_registered(&self, poll: usize, h: SocketHandle) -> bool {
        self.registrations.get(&h).is_some_and(|r| r.poll == poll)
    }

    pub fn deregister(&mut self, h: SocketHandle) {
        self.registrations.remove(&h);
    }

    /// Level-triggered collection: every queued socket still ready for its
    /// interest becomes an event and stays queued; the others leave the
    /// queue until their next readiness change.
    pub fn collect(&mut self, poll: usize, events: &mut Events) {
        let Some(Some(q)) = self.polls.get_mut(poll) else { return };
        for _ in 0..q.ready.len() {
            let Some(h) = q.ready.pop_front() else { break };
            let Some(reg) = self.registrations.get_mut(&h).filter(|r| r.poll == poll) else { continue };
            match self.stack.readiness(h) {
                Ok(r) if reg.interest.matches(r) => {
                    events.push(Event::new(reg.token, r));
                    q.ready.push_back(h);
                }
                _ => reg.queued = false,
            }
            if events.is_full() {
                break;
            }
        }
        if q.ready.is_empty() && q.efd_set {
            // Drain the counter: the eventfd is readable only while some
            // registered socket is ready. EAGAIN (already zero) is fine.
            let _ = q.efd.read();
            q.efd_set = false;
        }
    }

    fn on_readiness(&mut self, h: SocketHandle, r: Readiness) {
        let Some(reg) = self.registrations.get_mut(&h) else { return };
        if reg.queued || !reg.interest.matches(r) {
            return;
        }
        let Some(Some(q)) = self.polls.get_mut(reg.poll) else { return };
        reg.queued = true;
        q.ready.push_back(h);
        q.waiter.wake();
        q.signal();
    }
}

impl Host for Core {
    fn stack(&mut self) -> &mut Stack {
        &mut self.stack
    }

    /// A socket's sleeper is woken later, once the engine is unlocked
    /// ([`Host::take_wakes`], [`Core::flush_wakes`]). Whether anyone sleeps
    /// is decided now, under the lock, so no wake-up is lost: a sleeper
    /// counts itself before it releases the lock, and a condition variable
    /// notified after the unlock still wakes it.
    fn on_event(&mut self, h: SocketHandle, r: Readiness) {
        if let Some(w) = self.waiters.get(&h).filter(|w| w.note(r)) {
            self.wakes.push(w.clone());
        }
        self.on_readiness(h, r);
    }

    fn after_turn(&mut self) {
        self.turns.wake();
    }

    type Wakes = Vec<Arc<Waiter>>;

    fn take_wakes(&mut self, wakes: &mut Vec<Arc<Waiter>>) -> bool {
        wakes.append(&mut self.wakes);
        !wakes.is_empty()
    }

    fn wake(wakes: &mut Vec<Arc<Waiter>>) {
        for w in wakes.drain(..) {
            w.fire();
        }
    }

    fn on_stop(&mut self) {
        self.stopped = true;
        self.turns.wake();
        for w in self.waiters.values() {
            w.wake();
        }
        for q in self.polls.iter_mut().flatten() {
            q.waiter.wake();
            q.signal();
        }
    }
}
