//! The io_uring backend.
//!
//! - Reads: one multishot read (`IORING_OP_READ_MULTISHOT`, Linux 6.7) on
//!   a ring of provided buffers, the cheapest way to read a TUN device on
//!   this kind of machine (see FIELD-NOTES); where the kernel lacks it, a
//!   few single-shot reads selecting from the same buffers.
//! - Writes: one `WRITE` per packet from a pool of fixed buffers, all
//!   submitted together with the next wait.
//! - Timers: one absolute `TIMEOUT` on `CLOCK_MONOTONIC` for the engine's
//!   next deadline, moved earlier with `TIMEOUT_UPDATE`.
//! - Wake-ups: a `READ` of the application's eventfd.
//!
//! One `io_uring_enter` per turn submits all of it and sleeps.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::sys::epoll::{Epoll as EpollFd, EpollCreateFlags, EpollEvent, EpollFlags};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::{BufRingEntry, CancelBuilder, Fd, SubmitArgs, TimeoutFlags, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

use super::{Backend, clock};
use crate::device::tun::Tun;
use crate::time::Instant;

const RX_BUFFERS: u16 = 256;
const TX_BUFFERS: usize = 256;
/// Single-shot reads kept in flight when multishot is unavailable.
const SINGLE_READS: usize = 4;
const SQ_ENTRIES: u32 = 512;
const CQ_ENTRIES: u32 = 4096;
const BUF_GROUP: u16 = 0;

const KIND_SHIFT: u32 = 56;
const UD_READ: u64 = 1 << KIND_SHIFT;
const UD_TX: u64 = 2 << KIND_SHIFT;
const UD_TIMER: u64 = 3 << KIND_SHIFT;
const UD_TIMER_UPDATE: u64 = 4 << KIND_SHIFT;
const UD_WAKE: u64 = 5 << KIND_SHIFT;
const UD_CANCEL: u64 = 6 << KIND_SHIFT;

/// Size of each packet buffer for a device of this MTU; with a virtio-net
/// header, room for the header and a 64 KB super-segment.
pub(crate) fn packet_buffer_size(tun: &Tun) -> usize {
    if tun.vnet_hdr() {
        return (crate::device::vnet::VNET_HDR_LEN + 65535).next_multiple_of(64);
    }
    (tun.mtu().max(1500) + 64).next_multiple_of(64)
}

/// Receive buffers provided to the kernel (`IORING_REGISTER_PBUF_RING`).
struct BufRing {
    /// `RX_BUFFERS` entries, page-aligned, shared with the kernel.
    entries: *mut BufRingEntry,
    layout: Layout,
    data: Vec<u8>,
    size: usize,
    tail: u16,
    /// The kernel may still write the buffers: never free them.
    leaked: bool,
}

// SAFETY: the ring memory is owned by this struct alone (the kernel reads
// it only while the io_uring that owns the backend is alive) and is only
// touched through `&mut self`; moving it to another thread is sound.
unsafe impl Send for BufRing {}

impl BufRing {
    fn new(size: usize) -> io::Result<BufRing> {
        let bytes = usize::from(RX_BUFFERS) * size_of::<BufRingEntry>();
        let layout = Layout::from_size_align(bytes.max(4096), 4096).map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size.
        let entries = unsafe { alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let data = vec![0; size * usize::from(RX_BUFFERS)];
        let mut ring = BufRing { entries, layout, data, size, tail: 0, leaked: false };
        for bid in 0..RX_BUFFERS {
            ring.push(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// Gives buffer `bid` back to the kernel (visible after `publish`).
    fn push(&mut self, bid: u16) {
        let index = usize::from(self.tail & (RX_BUFFERS - 1));
        let addr = self.data.as_ptr() as u64 + u64::from(bid) * self.size as u64;
        // SAFETY: `index` < RX_BUFFERS, inside the allocation; the kernel
        // does not read entries past the published tail, so writing this
        // one races with nothing.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(addr);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the new tail to the kernel.
    fn publish(&self) {
        // SAFETY: `tail` points at the tail field inside the first entry
        // of our live, 2-byte-aligned allocation; the kernel reads it
        // with an acquire load, so a release store pairs with it.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    fn packet(&self, bid: u16, len: usize) -> &[u8] {
        let start = usize::from(bid) * self.size;
        &self.data[start..start + len.min(self.size)]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.leaked {
            std::mem::forget(std::mem::take(&mut self.data));
            return;
        }
        // SAFETY: allocated in `new` with this layout; `Uring::drop` has
        // unregistered the ring, and nothing the kernel holds points here.
        unsafe { dealloc(self.entries.cast(), self.layout) }
    }
}

/// Transmit buffers; a buffer is busy from `tx_commit` to its completion.
struct TxPool {
    data: Vec<u8>,
    size: usize,
    free: Vec<u16>,
}

pub struct Uring {
    ring: IoUring,
    tun: Tun,
    wake_fd: RawFd,
    wake_buf: Box<[u8; 8]>,
    wake_armed: bool,
    rx: BufRing,
    multishot: bool,
    reads_in_flight: usize,
    received: Vec<(u16, u32)>,
    tx: TxPool,
    /// The deadline of the timeout SQE in flight.
    timer: Option<Instant>,
    timespec: Box<Timespec>,
    /// A fatal read error, returned from the next `wait`.
    error: Option<io::Error>,
    /// How long `wait` polls the completion queue before sleeping.
    spin: std::time::Duration,
    /// Requests in flight whose completion says nothing new (TUN writes
    /// and timer updates, which complete inline during the submit): a wait
    /// asks for one completion more than these, so that the writes it
    /// submits do not end it at once and cost a second `io_uring_enter`.
    quiet: usize,
    /// TUN writes that failed since the reactor last asked.
    tx_errors: u64,
    /// What [`Backend::wait_fd`] hands out, once asked for.
    driven: std::sync::OnceLock<EpollFd>,
}

impl Uring {
    /// The backend, or the device back with the error if the kernel
    /// refuses io_uring (so the caller can fall back to epoll).
    pub(super) fn new(
        tun: Tun,
        wake_fd: RawFd,
        multishot: bool,
        cfg: &super::ReactorConfig,
    ) -> Result<Uring, (io::Error, Tun)> {
        let size = packet_buffer_size(&tun);
        match Self::build_ring(size, cfg.sqpoll) {
            Ok((ring, rx)) => {
                let tx = TxPool {
                    data: vec![0; size * TX_BUFFERS],
                    size,
                    free: (0..TX_BUFFERS as u16).rev().collect(),
                };
                Ok(Uring {
                    ring,
                    tun,
                    wake_fd,
                    wake_buf: Box::new([0; 8]),
                    wake_armed: false,
                    rx,
                    multishot,
                    reads_in_flight: 0,
                    received: Vec::with_capacity(usize::from(RX_BUFFERS)),
                    tx,
                    timer: None,
                    timespec: Box::new(Timespec::new()),
                    error: None,
                    tx_errors: 0,
                    driven: std::sync::OnceLock::new(),
                    spin: cfg.spin,
                    quiet: 0,
                })
            }
            Err(e) => Err((e, tun)),
        }
    }

    /// The ring, with `IORING_SETUP_COOP_TASKRUN` (and `TASKRUN_FLAG`) where
    /// the kernel has them (5.19+): a completion that arrives while the
    /// reactor runs in user space no longer interrupts it with an
    /// inter-processor interrupt, but is posted at its next system call.
    /// That takes the IPI off the kernel's sending path (every TUN packet
    /// to us woke our task with one). Measured in issue 5: reactor-thread
    /// receive +20-30 %, send +12-17 %; spinning echo p50 44 -> 24 µs with
    /// server and client on different CPUs.
    fn build_ring(size: usize, sqpoll: Option<std::time::Duration>) -> io::Result<(IoUring, BufRing)> {
        let build = |coop: bool| {
            let mut builder = IoUring::builder();
            builder.setup_cqsize(CQ_ENTRIES);
            if coop {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            if let Some(idle) = sqpoll {
                builder.setup_sqpoll(u32::try_from(idle.as_millis()).unwrap_or(u32::MAX).max(1));
            }
            builder.build(SQ_ENTRIES)
        };
        let ring = match build(true) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => build(false)?,
            r => r?,
        };
        let rx = BufRing::new(size)?;
        // SAFETY: `rx.entries` is a page-aligned allocation of RX_BUFFERS
        // entries that lives in the backend beside the ring; Drop
        // unregisters it before freeing it.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(rx.entries as u64, RX_BUFFERS, BUF_GROUP, 0)?;
        }
        Ok((ring, rx))
    }

    /// Queues an SQE, submitting first if the queue is full.
    ///
    /// # Safety
    /// Every buffer the entry points to must stay valid until its
    /// completion is reaped.
    unsafe fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller guarantees the entry's buffers outlive it.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn arm_reads(&mut self) -> io::Result<()> {
        let fd = Fd(self.tun.as_raw_fd());
        let len = self.rx.size as u32;
        let wanted = if self.multishot { 1 } else { SINGLE_READS };
        while self.reads_in_flight < wanted {
            let entry = if self.multishot {
                opcode::ReadMulti::new(fd, len, BUF_GROUP).build()
            } else {
                opcode::Read::new(fd, std::ptr::null_mut(), len)
                    .buf_group(BUF_GROUP)
                    .build()
                    .flags(squeue::Flags::BUFFER_SELECT)
            };
            // SAFETY: the read writes only into provided buffers, which
            // live as long as the backend (Drop waits for the read to end).
            unsafe { self.push(entry.user_data(UD_READ))? };
            self.reads_in_flight += 1;
        }
        Ok(())
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        if !self.wake_armed {
            let entry = opcode::Read::new(Fd(self.wake_fd), self.wake_buf.as_mut_ptr(), 8).build();
            // SAFETY: `wake_buf` is boxed, so its address is stable for the
            // backend's life, and Drop waits for this read to end.
            unsafe { self.push(entry.user_data(UD_WAKE))? };
            self.wake_armed = true;
        }
        Ok(())
    }

    /// Makes sure a timeout fires no later than `deadline`.
    fn arm_timer(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let Some(at) = deadline else { return Ok(()) };
        if self.timer.is_some_and(|armed| armed <= at) {
            return Ok(());
        }
        let (sec, nsec) = clock::to_timespec(at);
        *self.timespec = Timespec::new().sec(sec).nsec(nsec);
        let ts: *const Timespec = &*self.timespec;
        let entry = match self.timer {
            Some(_) => opcode::TimeoutUpdate::new(UD_TIMER, ts)
                .flags(TimeoutFlags::ABS)
                .build()
                .user_data(UD_TIMER_UPDATE),
            None => opcode::Timeout::new(ts).flags(TimeoutFlags::ABS).build().user_data(UD_TIMER),
        };
        // SAFETY: the kernel copies the timespec when it prepares the SQE,
        // during the submit; it is boxed here for the backend's life anyway.
        unsafe { self.push(entry)? };
        if self.timer.is_some() {
            self.quiet += 1;
        }
        self.timer = Some(at);
        Ok(())
    }

    /// Handles every completion waiting in the queue.
    fn reap(&mut self) {
        let mut returned = false;
        let mut cq = self.ring.completion();
        cq.sync();
        for cqe in &mut cq {
            let (ud, res, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            match ud & !((1 << KIND_SHIFT) - 1) {
                UD_READ => {
                    let bid = cqueue::buffer_select(flags);
                    match (bid, res) {
                        (Some(bid), n) if n > 0 => self.received.push((bid, n as u32)),
                        (Some(bid), _) => {
                            self.rx.push(bid);
                            returned = true;
                        }
                        (None, _) => {}
                    }
                    if !cqueue::more(flags) {
                        self.reads_in_flight -= 1;
                    }
                    if res < 0 {
                        read_failed(&mut self.multishot, &mut self.error, -res);
                    }
                }
                UD_TX => {
                    self.tx.free.push((ud & 0xffff) as u16);
                    self.quiet = self.quiet.saturating_sub(1);
                    self.tx_errors += u64::from(res < 0);
                }
                UD_TIMER_UPDATE => self.quiet = self.quiet.saturating_sub(1),
                UD_TIMER => self.timer = None,
                UD_WAKE => self.wake_armed = false,
                _ => {} // TIMEOUT_UPDATE and cancel results need nothing.
            }
        }
        drop(cq);
        if returned {
            self.rx.publish();
        }
    }
}

impl Uring {
    /// Submits, then polls the completion queue for up to `spin`: whether
    /// a completion arrived (the wait need not sleep). Between looks it
    /// yields the CPU rather than pausing: a thread that shares the CPU
    /// (the peer, on a loaded or pinned machine) runs at once instead of
    /// waiting out the spin, and each return from `sched_yield` runs the
    /// io_uring task work that posts our completions. Measured against a
    /// pause loop: same-CPU echo p99 62 → 16 µs, cross-CPU p50 60 → 44 µs.
    fn spin_for_completions(&mut self) -> io::Result<bool> {
        self.ring.submit()?;
        let until = std::time::Instant::now() + self.spin;
        // The clock is read every 8th look: each look yields (a system
        // call of about a microsecond), so the spin still ends within a
        // few microseconds of `until`, without a clock read per look.
        let mut look = 0u32;
        loop {
            if self.ring.completion().len() > self.quiet {
                return Ok(true);
            }
            look = look.wrapping_add(1);
            if look.is_multiple_of(8) && std::time::Instant::now() >= until {
                return Ok(false);
            }
            std::thread::yield_now();
        }
    }
}

/// What a failed read means.
fn read_failed(multishot: &mut bool, error: &mut Option<io::Error>, errno: i32) {
    match errno {
        // Out of buffers (re-armed once they are back), interrupted, or
        // nothing to read: not errors.
        libc::ENOBUFS | libc::EINTR | libc::EAGAIN | libc::ECANCELED => {}
        // The kernel does not know multishot reads: use single reads.
        libc::EINVAL if *multishot => *multishot = false,
        e => *error = Some(io::Error::from_raw_os_error(e)),
    }
}

impl Backend for Uring {
    fn wait(&mut self, deadline: Option<Instant>, spin: bool) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.arm_reads()?;
        self.arm_wake()?;
        let expired = deadline.is_some_and(|at| at <= clock::now());
        if !expired {
            self.arm_timer(deadline)?;
        }
        let mut want = usize::from(!expired && self.received.is_empty());
        if want == 1 && spin && !self.spin.is_zero() {
            want = usize::from(!self.spin_for_completions()?);
        }
        if want == 1 {
            want += self.quiet;
        }
        loop {
            match self.ring.submit_and_wait(want) {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => break,
                // The completion queue is full: reap, then submit again.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => self.reap(),
                Err(e) => return Err(e),
            }
        }
        self.reap();
        Ok(())
    }

    fn drain_received(&mut self, f: &mut dyn FnMut(&[u8])) {
        if self.received.is_empty() {
            return;
        }
        for i in 0..self.received.len() {
            let (bid, len) = self.received[i];
            f(self.rx.packet(bid, len as usize));
            self.rx.push(bid);
        }
        self.received.clear();
        self.rx.publish();
    }

    fn tx_buffer(&mut self) -> Option<&mut [u8]> {
        let &i = self.tx.free.last()?;
        let size = self.tx.size;
        Some(&mut self.tx.data[usize::from(i) * size..(usize::from(i) + 1) * size])
    }

    fn tx_commit(&mut self, len: usize) {
        let Some(i) = self.tx.free.pop() else { return };
        let ptr = self.tx.data[usize::from(i) * self.tx.size..].as_ptr();
        let len = len.min(self.tx.size) as u32;
        let entry =
            opcode::Write::new(Fd(self.tun.as_raw_fd()), ptr, len).build().user_data(UD_TX | u64::from(i));
        // SAFETY: buffer `i` is off the free list until this write's
        // completion returns it, and the pool lives as long as the backend.
        if unsafe { self.push(entry) }.is_err() {
            self.tx.free.push(i);
        } else {
            self.quiet += 1;
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.ring.submission().is_empty() {
            self.ring.submit()?;
        }
        self.reap();
        Ok(())
    }

    fn take_tx_errors(&mut self) -> u64 {
        core::mem::take(&mut self.tx_errors)
    }

    /// An epoll instance watching the TUN, the wake-up eventfd and the
    /// ring, made on first use. The ring alone would not do: with
    /// `COOP_TASKRUN` a packet's completion is posted only when the thread
    /// that submitted the read enters the kernel, and a thread asleep in
    /// `epoll_wait` on the ring is not woken for it; the TUN's own
    /// readiness wakes it, and its next turn posts the completions.
    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        if let Some(epoll) = self.driven.get() {
            return Ok(epoll.0.as_fd());
        }
        let epoll = EpollFd::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let readable = EpollEvent::new(EpollFlags::EPOLLIN, 0);
        epoll.add(self.tun.as_fd(), readable)?;
        epoll.add(super::borrow_wake_fd(self.wake_fd), readable)?;
        epoll.add(self.ring.as_fd(), readable)?;
        Ok(self.driven.get_or_init(|| epoll).0.as_fd())
    }

    fn has_pending(&self) -> bool {
        !self.received.is_empty()
    }

    fn name(&self) -> &'static str {
        if self.multishot { "io_uring" } else { "io_uring (single reads)" }
    }
}

impl Drop for Uring {
    /// Cancels everything in flight and waits (bounded) for it to end, so
    /// the kernel never touches freed buffers.
    fn drop(&mut self) {
        let cancel = opcode::AsyncCancel2::new(CancelBuilder::any()).build().user_data(UD_CANCEL);
        // SAFETY: a cancel request points at no buffer.
        let _ = unsafe { self.push(cancel) };
        let ts = Timespec::new().nsec(10_000_000);
        let args = SubmitArgs::new().timespec(&ts);
        for _ in 0..100 {
            let busy = self.reads_in_flight > 0
                || self.wake_armed
                || self.timer.is_some()
                || self.tx.free.len() < TX_BUFFERS;
            if !busy {
                let _ = self.ring.submitter().unregister_buf_ring(BUF_GROUP);
                return;
            }
            let _ = self.ring.submitter().submit_with_args(1, &args);
            self.reap();
            self.received.clear();
            if self.timer.is_some() {
                let remove = opcode::TimeoutRemove::new(UD_TIMER).build().user_data(UD_CANCEL);
                // SAFETY: a timeout removal points at no buffer.
                let _ = unsafe { self.push(remove) };
            }
        }
        // The kernel still holds requests: leak their buffers rather than
        // free memory it may write.
        std::mem::forget(std::mem::take(&mut self.tx.data));
        self.rx.leaked = true;
    }
}
