//! The reactor: one loop that moves packets between a device (a TUN, or any
//! [`Device`]) and the engine, fires the engine's timers, and reports
//! readiness.
//!
//! Each turn of the loop:
//!
//! 1. submits what is queued (TUN writes, the next timer, reads) and sleeps
//!    until a packet arrives, a write completes, the timer fires, or an
//!    application wakes it ([`Waker`]);
//! 2. locks the engine once: feeds it every packet received, runs its due
//!    timers, drains everything it wants to send into write buffers, and
//!    hands each readiness change to the [`Host`];
//! 3. arms a timeout for the engine's next deadline.
//!
//! Two backends do step 1: [`uring`] (io_uring: a multishot read on a
//! provided-buffer ring, batched writes, a timeout SQE, an eventfd read) and
//! [`epoll`] (non-blocking [`Device::recv`]/[`Device::send`] and
//! `epoll_wait`), which drives every other device, and a TUN when io_uring
//! is refused or epoll asked for. Either way the reactor can record every
//! packet it receives and sends into a capture ([`Reactor::set_capture`]). The loop runs on its own thread
//! ([`Reactor::run`]) or inside an application's thread
//! ([`Reactor::run_once`]).

pub mod clock;
pub mod epoll;
pub mod uring;

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::device::Device;
use crate::device::pcap::PcapWriter;
use crate::device::tun::Tun;
use crate::device::vnet::{VNET_HDR_LEN, VnetHdr};
use crate::stack::{SocketHandle, Stack};
use crate::tcp::Readiness;
use crate::time::Instant;
use crate::wire::RxChecksum;

/// What the reactor drives: the engine, and whoever wants to hear about
/// readiness changes (the socket API's waiters).
pub trait Host: Send + 'static {
    fn stack(&mut self) -> &mut Stack;
    /// `h`'s readiness changed to `r` (called with the engine locked).
    fn on_event(&mut self, h: SocketHandle, r: Readiness);
    /// The reactor stopped: wake everyone who waits.
    fn on_stop(&mut self) {}

    /// A turn of the loop ended (with the engine still locked).
    fn after_turn(&mut self) {}

    /// Threads to wake once the engine is unlocked, gathered by
    /// [`Host::on_event`]: woken with the lock still held, nearly every one
    /// blocked again at once on the engine's mutex (issue 11's
    /// thread-per-connection profile).
    type Wakes: Default + Send;
    /// Moves the wake-ups gathered since the last call into `wakes`;
    /// whether there are any.
    fn take_wakes(&mut self, wakes: &mut Self::Wakes) -> bool;
    /// Wakes everything in `wakes`, with the engine unlocked, and empties it.
    fn wake(wakes: &mut Self::Wakes);

    /// Hands every pending readiness change to [`Host::on_event`]. Called
    /// by the reactor each turn, and by whoever operates on the engine, so
    /// that the engine's idea of what was last reported stays current (a
    /// change the application caused, such as reading a socket dry, must be
    /// reported before the next packet undoes it, or the change back would
    /// look like no change at all).
    fn dispatch_events(&mut self) {
        while let Some((h, r)) = self.stack().poll_event() {
            self.on_event(h, r);
        }
    }
}

/// Which backend drives the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// io_uring when the kernel allows it, else epoll.
    #[default]
    Auto,
    /// io_uring with a multishot read on a provided-buffer ring.
    Uring,
    /// io_uring with a few single-shot reads in flight (what kernels
    /// without multishot reads get).
    UringSingleReads,
    /// Plain non-blocking read/write and epoll.
    Epoll,
}

/// What a backend does: wait for the device, hand over what it read,
/// and take packets to write.
pub(crate) trait Backend: Send {
    /// Submits what is queued, then sleeps until something completes or
    /// `deadline` passes (no sleep if it already has). With `spin`, a
    /// backend that can may poll for completions for a while first.
    fn wait(&mut self, deadline: Option<Instant>, spin: bool) -> io::Result<()>;
    /// Passes every packet received since the last call to `f`.
    fn drain_received(&mut self, f: &mut dyn FnMut(&[u8]));
    /// A free transmit buffer, if any is free.
    fn tx_buffer(&mut self) -> Option<&mut [u8]>;
    /// Queues the first `len` bytes of the buffer `tx_buffer` returned.
    fn tx_commit(&mut self, len: usize);
    /// Pushes queued writes to the device without sleeping.
    fn flush(&mut self) -> io::Result<()>;
    /// Device writes that failed since the last call (each a lost packet).
    fn take_tx_errors(&mut self) -> u64;
    fn name(&self) -> &'static str;
    /// A descriptor that polls readable when `wait` would find work (a
    /// packet, a completion, a wake-up), for a loop the application owns
    /// ([`Reactor::wait_fd`]).
    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>>;
    /// Whether the last turn left received work behind (a full batch), so
    /// that the next turn must not wait for [`Backend::wait_fd`].
    fn has_pending(&self) -> bool {
        false
    }
}

/// How applications wake the reactor: an eventfd the backend waits on,
/// written at most once until the reactor has read it.
#[derive(Debug)]
pub struct Waker {
    fd: EventFd,
    pending: AtomicBool,
}

impl Waker {
    fn new() -> io::Result<Waker> {
        let fd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        Ok(Waker { fd, pending: AtomicBool::new(false) })
    }

    /// Makes the reactor run a turn soon.
    pub fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            // The counter cannot overflow (it is read before the next
            // write), so this write cannot fail with EAGAIN.
            let _ = self.fd.write(1);
        }
    }

    /// The backend read the eventfd: later wakes must write it again.
    /// Called before the engine is locked, so nothing done under the lock
    /// after this goes unnoticed.
    fn consumed(&self) {
        self.pending.store(false, Ordering::Release);
    }

    fn fd(&self) -> &EventFd {
        &self.fd
    }
}

/// The state the reactor and the application threads share.
pub struct Shared<H> {
    core: Mutex<H>,
    waker: Waker,
    stop: AtomicBool,
}

impl<H: Host> Shared<H> {
    pub fn new(host: H) -> io::Result<Arc<Shared<H>>> {
        Ok(Arc::new(Shared { core: Mutex::new(host), waker: Waker::new()?, stop: AtomicBool::new(false) }))
    }

    /// Locks the engine (a panic elsewhere does not make it unusable:
    /// every engine call leaves it consistent).
    pub fn lock(&self) -> MutexGuard<'_, H> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Asks the loop to stop after its current turn.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Settings of a [`Reactor`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ReactorConfig {
    pub backend: BackendKind,
    /// Before sleeping for completions, poll the io_uring completion queue
    /// for up to this long, yielding the CPU between looks ([`SPIN`] by
    /// default; zero sleeps at once). It spins at most this long after
    /// each wake-up, so an idle reactor still sleeps. Spinning trades CPU for the wake-up
    /// cost (about 20 µs across CPUs here) on the request path; the epoll
    /// backend ignores it.
    pub spin: std::time::Duration,
    /// Let a kernel thread poll the io_uring submission queue
    /// (`IORING_SETUP_SQPOLL`), going to sleep after this long without
    /// work: submitting then needs no system call, and TUN writes run on
    /// the kernel thread instead of the reactor's. `None` (the default):
    /// the reactor's `io_uring_enter` runs them inline. Measured on a
    /// 2-core machine in the closing note of issue 5; the epoll backend
    /// ignores it.
    pub sqpoll: Option<std::time::Duration>,
}

/// The default [`ReactorConfig::spin`]: 50 µs, measured in issue 11's
/// note (connection rate 0.65x kernel TCP without it, 0.8x with).
pub const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// A reactor spins only after a batch of received packets smaller than
/// this and [`SPIN_BELOW_PACKETS`]: sparse request/response traffic, where
/// the next packet comes within microseconds and a wake-up costs more than
/// the wait. After a bulk batch (a TCP super-segment is most of 64 KB) it
/// sleeps: the next batch wakes it anyway, and spinning would only cut the
/// stream into more turns, each with its own ACK (measured: 20 % more CPU
/// per GiB received).
pub const SPIN_BELOW_BYTES: usize = 16 * 1024;

/// The packet count of [`SPIN_BELOW_BYTES`]: a batch of many small packets
/// means a busy device (a SYN flood, hundreds of clients), whose next
/// packets come without waiting; spinning there cost a third of the
/// connections made within 1 s under the fastest SYN flood.
pub const SPIN_BELOW_PACKETS: usize = 8;

impl Default for ReactorConfig {
    fn default() -> ReactorConfig {
        ReactorConfig { backend: BackendKind::Auto, spin: SPIN, sqpoll: None }
    }
}

/// Counters of the reactor's work.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ReactorStats {
    pub turns: AtomicU64,
    pub rx_packets: AtomicU64,
    pub tx_packets: AtomicU64,
    /// Packets the device refused to take (a failed TUN write).
    pub tx_errors: AtomicU64,
}

/// The loop. See the module documentation.
pub struct Reactor<H: Host> {
    backend: Box<dyn Backend>,
    /// Packets carry a virtio-net header (the device has offloads).
    vnet_hdr: bool,
    shared: Arc<Shared<H>>,
    stats: Arc<ReactorStats>,
    deadline: Option<Instant>,
    /// Bytes and packets of the last turn that received packets.
    last_batch: (usize, usize),
    /// Wake-ups of the turn, run after the engine is unlocked.
    wakes: H::Wakes,
    /// Where every packet received and sent is recorded, if anywhere.
    capture: Option<PcapWriter>,
}

impl<H: Host> Reactor<H> {
    /// A reactor for `tun`. With [`BackendKind::Auto`], io_uring is tried
    /// first; if the kernel refuses it the loop says so once (a warning:
    /// on stderr, or a `tracing` event with the feature `tracing`) and
    /// uses epoll.
    pub fn new(tun: Tun, cfg: ReactorConfig, shared: Arc<Shared<H>>) -> io::Result<Reactor<H>> {
        let waker_fd = shared.waker().fd().as_fd().as_raw_fd();
        let vnet_hdr = tun.vnet_hdr();
        let backend: Box<dyn Backend> = match cfg.backend {
            BackendKind::Epoll => Box::new(epoll::Epoll::new(tun, waker_fd)?),
            BackendKind::Uring => Box::new(uring::Uring::new(tun, waker_fd, true, &cfg).map_err(|(e, _)| e)?),
            BackendKind::UringSingleReads => {
                Box::new(uring::Uring::new(tun, waker_fd, false, &cfg).map_err(|(e, _)| e)?)
            }
            BackendKind::Auto => match uring::Uring::new(tun, waker_fd, true, &cfg) {
                Ok(u) => Box::new(u),
                Err((e, tun)) => {
                    crate::log::warn_once!("io_uring unavailable ({e}); using epoll");
                    Box::new(epoll::Epoll::new(tun, waker_fd)?)
                }
            },
        };
        Ok(Reactor::assemble(backend, vnet_hdr, shared))
    }

    /// A reactor for any device: a [`Tun`] goes to [`Reactor::new`] (io_uring
    /// as `cfg` says), every other device to the epoll backend.
    pub fn with_device<D: Device>(
        dev: D,
        cfg: ReactorConfig,
        shared: Arc<Shared<H>>,
    ) -> io::Result<Reactor<H>> {
        let mut slot = Some(dev);
        if let Some(tun) =
            (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Tun>>().and_then(Option::take)
        {
            return Reactor::new(tun, cfg, shared);
        }
        let Some(dev) = slot else { unreachable!("only a Tun is taken out") };
        let vnet_hdr = dev.vnet_hdr();
        let waker_fd = shared.waker().fd().as_fd().as_raw_fd();
        Ok(Reactor::assemble(Box::new(epoll::Epoll::new(dev, waker_fd)?), vnet_hdr, shared))
    }

    /// Records every packet received and sent from now on into `capture`
    /// (IP packets: a virtio-net header is left out), with any backend. A
    /// write that fails ends the capture, with a warning (on stderr, or a
    /// `tracing` event with the feature `tracing`); the capture
    /// is flushed when the reactor shuts down or is dropped.
    pub fn set_capture(&mut self, capture: PcapWriter) {
        self.capture = Some(capture);
    }

    fn assemble(backend: Box<dyn Backend>, vnet_hdr: bool, shared: Arc<Shared<H>>) -> Reactor<H> {
        Reactor {
            backend,
            vnet_hdr,
            shared,
            stats: Arc::default(),
            deadline: None,
            last_batch: (0, 0),
            wakes: Default::default(),
            capture: None,
        }
    }

    /// For a loop the application owns ([`Reactor::run_once`] from its
    /// own event loop): a descriptor that polls readable (edge-triggered
    /// too: each new packet, completion or wake-up is a new edge) when a
    /// turn would find work: (a duplicate of) an epoll instance watching
    /// the device and the wake-up eventfd (and, with io_uring, the ring:
    /// completions need the thread that drives the loop to enter the
    /// kernel, so the ring alone would not wake it). Timers are not on it: see
    /// [`Reactor::poll_delay`].
    pub fn wait_fd(&self) -> io::Result<OwnedFd> {
        self.backend.wait_fd()?.try_clone_to_owned()
    }

    /// How long a loop the application owns may wait on
    /// [`Reactor::wait_fd`] before the next turn: until the engine's next
    /// timer, or not at all when the last turn left work behind or the
    /// application has queued output since.
    pub fn poll_delay(&self) -> Option<Duration> {
        if self.backend.has_pending() {
            return Some(Duration::ZERO);
        }
        engine_delay(self.shared.lock().stack())
    }

    /// The backend in use: "io_uring", "io_uring (single reads)" or "epoll".
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    pub fn stats(&self) -> Arc<ReactorStats> {
        self.stats.clone()
    }

    /// Runs the loop on a thread of its own ([`Reactor::run`]). However
    /// the thread ends (a stop was asked for, the device failed, or
    /// something panicked), the host hears [`Host::on_stop`] as it goes, so
    /// that every caller blocked on the loop is woken with an error
    /// instead of waiting forever.
    pub fn spawn(self, name: &str) -> io::Result<std::thread::JoinHandle<()>> {
        /// Stops the shared state when dropped, unwinding included.
        struct StopOnExit<H: Host>(Arc<Shared<H>>);
        impl<H: Host> Drop for StopOnExit<H> {
            fn drop(&mut self) {
                self.0.request_stop();
                self.0.lock().on_stop();
            }
        }
        let stop = StopOnExit(self.shared.clone());
        std::thread::Builder::new().name(name.into()).spawn(move || {
            let _stop = stop;
            if let Err(e) = self.run() {
                crate::log::warn!("reactor stopped: {e}");
            }
        })
    }

    /// Runs until [`Shared::request_stop`], then resets every connection
    /// still open (see [`Reactor::shut_down`]) and returns.
    pub fn run(mut self) -> io::Result<()> {
        while !self.shared.stopped() {
            self.process();
            self.backend.wait(self.deadline, self.spin_next())?;
            self.shared.waker.consumed();
        }
        self.shut_down()
    }

    /// The stack is going away: every connection still open is reset, so
    /// that no peer waits on a connection nobody will finish, and the
    /// resets are sent. (`Stack::is_drained` tells a driver when nothing
    /// would be lost by stopping.)
    pub fn shut_down(&mut self) -> io::Result<()> {
        self.shared.lock().stack().abort_all(clock::now());
        self.process();
        let flushed = self.backend.flush();
        if let Some(c) = &mut self.capture {
            c.flush()?;
        }
        flushed
    }

    /// One turn for a loop the application owns: sends what the engine
    /// has queued, sleeps at most `timeout` (and no later than the
    /// engine's next timer) for input, processes it, and sends the answers.
    pub fn run_once(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.process();
        let limit = timeout.map(|t| clock::now().saturating_add(t));
        let deadline = match (self.deadline, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.backend.wait(deadline, self.spin_next())?;
        self.shared.waker.consumed();
        self.process();
        self.backend.flush()
    }

    /// Whether the next wait may spin ([`SPIN_BELOW_BYTES`]).
    fn spin_next(&self) -> bool {
        self.last_batch.0 < SPIN_BELOW_BYTES && self.last_batch.1 < SPIN_BELOW_PACKETS
    }

    /// Step 2 of a turn: everything done with the engine locked.
    fn process(&mut self) {
        let mut guard = self.shared.lock();
        let host = &mut *guard;
        let now = clock::now();
        let stats = &self.stats;
        stats.turns.fetch_add(1, Ordering::Relaxed);
        let vnet_hdr = self.vnet_hdr;
        let mut batch = (0, 0);
        let capture = &mut self.capture;
        self.backend.drain_received(&mut |frame| {
            batch = (batch.0 + frame.len(), batch.1 + 1);
            stats.rx_packets.fetch_add(1, Ordering::Relaxed);
            let (packet, rx) = if vnet_hdr {
                // A frame too short for its header is handed on empty: the
                // engine drops and counts it as malformed.
                let (hdr, packet) = VnetHdr::parse(frame).unwrap_or_default();
                (packet, if hdr.checksum_trusted() { RxChecksum::Trusted } else { RxChecksum::Verify })
            } else {
                (frame, RxChecksum::Verify)
            };
            record(capture, packet);
            host.stack().handle_packet_with(now, packet, rx);
        });
        if batch.1 > 0 {
            self.last_batch = batch;
        }
        let stack = host.stack();
        if stack.poll_timeout().is_some_and(|at| at <= now) {
            stack.handle_timeout(now);
        }
        let hdr_len = if self.vnet_hdr { VNET_HDR_LEN } else { 0 };
        while let Some(buf) = self.backend.tx_buffer() {
            let Some((hdr, body)) = buf.split_at_mut_checked(hdr_len) else { break };
            let Some(t) = stack.poll_transmit(now, body) else { break };
            if let Ok(hdr) = <&mut [u8; VNET_HDR_LEN]>::try_from(hdr) {
                VnetHdr::for_packet(&body[..t.len], t.gso_size).write(hdr);
            }
            record(&mut self.capture, &body[..t.len]);
            self.backend.tx_commit(hdr_len + t.len);
            stats.tx_packets.fetch_add(1, Ordering::Relaxed);
        }
        host.dispatch_events();
        self.deadline = host.stack().poll_timeout();
        host.after_turn();
        let any = host.take_wakes(&mut self.wakes);
        drop(guard);
        // Before the turn's packets are submitted: submitting them first
        // (one more `io_uring_enter`) measured 3-10 % fewer requests a
        // second in `thread_per_conn`.
        if any {
            H::wake(&mut self.wakes);
        }
        self.stats.tx_errors.fetch_add(self.backend.take_tx_errors(), Ordering::Relaxed);
    }
}

/// Records `packet` into `capture`, if there is one; ends the capture if
/// its write fails.
fn record(capture: &mut Option<PcapWriter>, packet: &[u8]) {
    if let Some(c) = capture
        && let Err(e) = c.record(packet)
    {
        crate::log::warn!("packet capture stopped: {e}");
        *capture = None;
    }
}

#[cfg(test)]
impl<H: Host> Reactor<H> {
    /// A reactor over a backend of the test's making.
    pub(crate) fn with_backend(backend: Box<dyn Backend>, shared: Arc<Shared<H>>) -> Reactor<H> {
        Reactor::assemble(backend, false, shared)
    }
}

/// How long a driver may sleep as far as the engine is concerned: until
/// its next timer, or not at all when it has output queued.
pub fn engine_delay(stack: &Stack) -> Option<Duration> {
    if stack.has_output() {
        return Some(Duration::ZERO);
    }
    let at = stack.poll_timeout()?;
    Some(clock::until(at))
}

/// The wake-up eventfd, as a backend holds it (raw), borrowed.
pub(crate) fn borrow_wake_fd(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: the eventfd belongs to the reactor's `Shared`, which the
    // reactor holds for as long as its backend lives, so the descriptor
    // stays open while a backend borrows it.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
