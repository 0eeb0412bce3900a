//! The connection: its state, grouped by concern, and the application-side
//! operations (RFC 9293 §3.10.1-3.10.6).

use super::congestion::CongestionControl;
use super::recovery::Recovery;
use super::recv_buffer::{Growth, RecvBuffer};
use super::rtt::RttEstimator;
use super::sack::Scoreboard;
use super::send_buffer::SendBuffer;
use super::timers::Timers;
use super::window::WindowScale;
use super::{FourTuple, Readiness, Reset, Segment, SeqNum, Shutdown, State, TcpConfig};
use crate::error::Error;
use crate::time::Instant;

/// MSS assumed when the peer's SYN carries none (RFC 9293 §3.7.1).
pub(super) const DEFAULT_MSS: u32 = 536;

/// The send side (RFC 9293 §3.3.1 send sequence variables), with the
/// buffer and the loss-recovery bookkeeping.
#[derive(Debug)]
pub(super) struct Sender {
    /// ISS.
    pub iss: SeqNum,
    /// SND.UNA: oldest unacknowledged sequence number.
    pub una: SeqNum,
    /// SND.NXT (RFC 9293 §3.3.1): one past the highest sequence number
    /// sent, the sequence number of bare ACKs and resets.
    pub nxt: SeqNum,
    /// Where the next transmission starts: SND.NXT, except after a
    /// retransmission timeout, which rewinds it to SND.UNA (go-back-N)
    /// until it has caught up with SND.NXT again.
    pub cursor: SeqNum,
    /// SND.WND, scaled.
    pub wnd: u32,
    /// Largest window the peer has offered (RFC 5961 §5.2 MAX.SND.WND).
    pub max_wnd: u32,
    /// SND.WL1 and SND.WL2: the segment that last updated the window.
    pub wl1: SeqNum,
    pub wl2: SeqNum,
    /// Snd.Wind.Shift (RFC 7323 §2.2).
    pub wscale: WindowScale,
    /// Unacknowledged and unsent application bytes.
    pub buf: SendBuffer,
    /// Sequence number of the buffer's first byte.
    pub buf_seq: SeqNum,
    /// The application shut down writing: a FIN follows the buffer.
    pub fin_queued: bool,
    /// Sender maximum segment size: payload bytes before TCP options.
    pub smss: u32,
    /// The largest segment the path carries, from ICMP "packet too big"
    /// (RFC 1191, RFC 8201; [`super::path`]): `smss` never exceeds it.
    pub path_mss: u32,
    /// Segment being timed for an RTT sample without timestamps (Karn).
    pub timed: Option<(SeqNum, Instant)>,
    pub recovery: Recovery,
    /// What the peer has SACKed above SND.UNA (RFC 2018, RFC 6675).
    pub sacked: Scoreboard,
    /// Consecutive retransmission timeouts without progress.
    pub retries: u32,
    /// Zero-window probes sent without any ACK coming back.
    pub probes: u32,
    /// Retransmission timeouts and zero-window probes since new data was
    /// last acknowledged, answered or not (what bounds an orphan).
    pub backoffs: u32,
    /// Doublings of the persist interval since the window closed (RFC 1122
    /// §4.2.2.17: probe intervals grow exponentially).
    pub persist_backoff: u32,
    /// The persist timer fired: send despite Nagle, or probe a zero window.
    pub force: bool,
    /// The SYN was retransmitted (RFC 6298 §5.7).
    pub syn_retransmitted: bool,
    /// When data was last sent (RFC 5681 §4.1 idle restart).
    pub last_send: Instant,
}

/// The receive side (RFC 9293 §3.3.1 receive sequence variables), with
/// the buffer and the acknowledgment policy.
#[derive(Debug)]
pub(super) struct Receiver {
    /// IRS.
    pub irs: SeqNum,
    /// RCV.NXT.
    pub nxt: SeqNum,
    /// Right edge of the window last advertised; it never moves left.
    pub adv_edge: SeqNum,
    /// Rcv.Wind.Shift (RFC 7323 §2.2).
    pub wscale: WindowScale,
    pub buf: RecvBuffer,
    /// Sequence number of the peer's FIN, once seen (possibly out of order).
    pub fin: Option<SeqNum>,
    /// MSS we advertise.
    pub mss: u32,
    /// Largest segment payload received, capped at `mss`: what a "full
    /// segment" is for delayed ACKs (RFC 1122 §4.2.3.2).
    pub seg_size: u32,
    /// Bytes received in order since the last ACK we sent.
    pub unacked: u32,
    /// Send an ACK at the next opportunity.
    pub ack_now: bool,
    /// RCV.NXT carried by the last ACK sent (RFC 7323 §4.3 Last.ACK.sent).
    pub last_ack_sent: SeqNum,
    /// The application shut down reading: new data is discarded.
    pub shut: bool,
}

/// Timestamps option state (RFC 7323 §3-§5).
#[derive(Debug, Clone)]
pub(super) struct TsState {
    /// Both SYNs carried the option.
    pub enabled: bool,
    /// Added to our millisecond clock to form TSval (RFC 7323 §7.1).
    pub offset: u32,
    /// TS.Recent.
    pub recent: u32,
    /// When TS.Recent was set (RFC 7323 §5.5: invalid after 24 days).
    pub recent_at: Option<Instant>,
}

/// What the connection may answer to invalid segments: RFC 5961 §7's
/// challenge ACKs per second, and one ACK per interval to segments without
/// data that are out of the window or fail PAWS (Linux's
/// `tcp_invalid_ratelimit`).
#[derive(Debug, Clone, Default)]
pub(super) struct ReplyLimiter {
    challenge_window: Instant,
    challenges: u32,
    /// A challenge ACK is owed. The stack may still withhold it (its
    /// stack-wide budget): [`Connection::cancel_challenge_ack`].
    pub challenge_pending: bool,
    last_invalid_ack: Option<Instant>,
}

impl ReplyLimiter {
    /// Whether one more challenge ACK fits into this second's budget.
    pub fn allow_challenge(&mut self, now: Instant, limit: u32) -> bool {
        if now.saturating_since(self.challenge_window).as_secs() >= 1 {
            self.challenge_window = now;
            self.challenges = 0;
        }
        if self.challenges < limit {
            self.challenges += 1;
            true
        } else {
            false
        }
    }

    /// Whether an ACK to an invalid segment may go out now, at most one
    /// per `interval`.
    pub fn allow_invalid_ack(&mut self, now: Instant, interval: core::time::Duration) -> bool {
        if self.last_invalid_ack.is_some_and(|t| now.saturating_since(t) < interval) {
            return false;
        }
        self.last_invalid_ack = Some(now);
        true
    }
}

/// Counters of one connection's life, for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnStats {
    /// Segments sent, retransmissions included.
    pub segments_out: u64,
    /// Segments that reached the state machine.
    pub segments_in: u64,
    /// Segments sent again (timeouts, fast retransmit, SACK holes).
    pub retransmits: u64,
    /// Retransmission timer expiries.
    pub timeouts: u64,
    /// Fast recoveries entered.
    pub recoveries: u64,
    /// Duplicate ACKs received.
    pub dup_acks: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tail_loss_probes: u64,
}

/// How scarce buffer memory is over the whole stack (Linux's `tcp_mem`
/// levels); see [`Connection::set_memory_pressure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryPressure {
    #[default]
    Normal,
    Pressure,
    Exhausted,
}

/// Why a connection ended abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PendingError {
    pub error: Error,
    /// Already returned once to the application.
    pub reported: bool,
}

/// One TCP connection.
#[derive(Debug)]
pub struct Connection {
    pub(super) tuple: FourTuple,
    pub(super) state: State,
    pub(super) cfg: TcpConfig,
    pub(super) snd: Sender,
    pub(super) rcv: Receiver,
    pub(super) rtt: RttEstimator,
    pub(super) cc: Box<dyn CongestionControl>,
    pub(super) timers: Timers,
    pub(super) ts: TsState,
    /// Both SYNs carried SACK-permitted (RFC 2018 §2).
    pub(super) sack: bool,
    /// Both SYNs carried the window scale option (RFC 7323 §2.2).
    pub(super) window_scaling: bool,
    pub(super) error: Option<PendingError>,
    /// The last soft error an ICMP message reported (RFC 1122 §4.2.3.9).
    pub(super) soft_error: Option<Error>,
    pub(super) replies: ReplyLimiter,
    /// The application closed its handle; the connection finishes alone.
    pub(super) orphaned: bool,
    /// Opened by a listener (passive open).
    pub(super) passive: bool,
    /// Send a keep-alive probe at the next opportunity.
    pub(super) keepalive_due: bool,
    /// Keep-alive probes sent without an answer.
    pub(super) keepalive_probes: u32,
    pub(super) stats: ConnStats,
    /// When an acceptable ACK last arrived.
    pub(super) last_ack_rx: Instant,
}

impl Connection {
    fn new(tuple: FourTuple, iss: SeqNum, ts_offset: u32, mss: u32, cfg: &TcpConfig) -> Self {
        let mss = mss.clamp(64, 65495);
        Connection {
            tuple,
            state: State::Closed,
            cfg: cfg.clone(),
            snd: Sender {
                iss,
                una: iss,
                nxt: iss,
                cursor: iss,
                wnd: 0,
                max_wnd: 0,
                wl1: SeqNum::default(),
                wl2: iss,
                wscale: WindowScale::NONE,
                buf: SendBuffer::new(cfg.send_buffer),
                buf_seq: iss.add(1),
                fin_queued: false,
                smss: DEFAULT_MSS.min(mss),
                path_mss: u32::MAX,
                timed: None,
                recovery: Recovery::new(iss),
                sacked: Scoreboard::default(),
                retries: 0,
                probes: 0,
                backoffs: 0,
                persist_backoff: 0,
                force: false,
                syn_retransmitted: false,
                last_send: Instant::ZERO,
            },
            rcv: Receiver {
                irs: SeqNum::default(),
                nxt: SeqNum::default(),
                adv_edge: SeqNum::default(),
                wscale: WindowScale::NONE,
                buf: RecvBuffer::new(cfg.recv_buffer),
                fin: None,
                mss,
                seg_size: mss,
                unacked: 0,
                ack_now: false,
                last_ack_sent: SeqNum::default(),
                shut: false,
            },
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            cc: cfg.congestion.build(DEFAULT_MSS.min(mss), cfg.initial_window),
            timers: Timers::default(),
            ts: TsState { enabled: false, offset: ts_offset, recent: 0, recent_at: None },
            sack: false,
            window_scaling: false,
            error: None,
            soft_error: None,
            replies: ReplyLimiter::default(),
            orphaned: false,
            passive: false,
            keepalive_due: false,
            keepalive_probes: 0,
            stats: ConnStats::default(),
            last_ack_rx: Instant::ZERO,
        }
    }

    /// Active open (RFC 9293 §3.10.1): a connection in SYN-SENT whose SYN
    /// goes out at the next [`Connection::poll_transmit`]. `mss` is the
    /// MSS to advertise: what the network layer's packets on the link can
    /// carry (RFC 9293 §3.7.1).
    pub fn connect(tuple: FourTuple, iss: SeqNum, ts_offset: u32, mss: u32, cfg: &TcpConfig) -> Self {
        let mut c = Connection::new(tuple, iss, ts_offset, mss, cfg);
        c.state = State::SynSent;
        c
    }

    /// Passive open (RFC 9293 §3.10.7.2): a listener got `syn`; the
    /// connection is in SYN-RECEIVED and its SYN-ACK goes out at the next
    /// [`Connection::poll_transmit`].
    pub fn accept(
        now: Instant,
        tuple: FourTuple,
        iss: SeqNum,
        ts_offset: u32,
        mss: u32,
        cfg: &TcpConfig,
        syn: &Segment<'_>,
    ) -> Self {
        let mut c = Connection::new(tuple, iss, ts_offset, mss, cfg);
        c.state = State::SynReceived;
        c.passive = true;
        c.negotiate(now, syn);
        c
    }

    /// Takes the peer's SYN: its sequence number and its options (RFC 9293
    /// §3.7.1 MSS, RFC 7323 §2.2 and §3.2, RFC 2018 §2).
    pub(super) fn negotiate(&mut self, now: Instant, syn: &Segment<'_>) {
        let opts = &syn.options;
        self.rcv.irs = syn.seq;
        self.rcv.nxt = syn.seq.add(1);
        self.rcv.last_ack_sent = self.rcv.nxt;
        self.rcv.adv_edge = self.rcv.nxt;
        let peer_mss = opts.mss.map_or(DEFAULT_MSS, u32::from).max(64);
        self.snd.smss = peer_mss.min(self.rcv.mss).min(self.snd.path_mss);
        if let (Some(shift), true) = (opts.window_scale, self.cfg.window_scaling) {
            self.window_scaling = true;
            self.snd.wscale = WindowScale::new(shift);
            self.rcv.wscale = WindowScale::for_buffer(self.cfg.recv_buffer);
        }
        self.sack = self.cfg.sack && opts.sack_permitted;
        if let (Some(ts), true) = (opts.timestamps, self.cfg.timestamps) {
            self.ts.enabled = true;
            self.ts.recent = ts.tsval;
            self.ts.recent_at = Some(now);
        }
        self.rcv.seg_size = self.full_segment();
        self.cc.set_smss(self.cc_smss());
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn tuple(&self) -> FourTuple {
        self.tuple
    }

    /// Whether the application has let go of this connection.
    pub fn is_orphaned(&self) -> bool {
        self.orphaned
    }

    /// Retransmission timeouts in a row without progress (SYN or SYN-ACK
    /// retransmissions during the handshake).
    pub fn consecutive_timeouts(&self) -> u32 {
        self.snd.retries
    }

    /// In SYN-RECEIVED: the peer's ACK came, but the stack could not take
    /// the connection yet (its listener's accept queue was full). The
    /// SYN-ACK retries start over, so that a peer that keeps answering is
    /// not given up on.
    pub fn peer_answered_handshake(&mut self) {
        if self.state == State::SynReceived {
            self.snd.retries = 0;
        }
    }

    /// Sets Nagle's algorithm off (`true`) or on (RFC 9293 §3.7.4).
    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> bool {
        self.cfg.nodelay
    }

    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.cfg.nodelay = nodelay;
    }

    /// Turns keep-alive probing on (with its timing) or off (RFC 1122
    /// §4.2.3.6). The idle clock starts now.
    pub fn set_keepalive(&mut self, now: Instant, keepalive: Option<super::Keepalive>) {
        self.cfg.keepalive = keepalive;
        self.keepalive_probes = 0;
        self.timers.keepalive = match (keepalive, self.state) {
            (Some(ka), State::Established | State::CloseWait) => Some(now + ka.idle),
            _ => None,
        };
    }

    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue(&self) -> usize {
        self.snd.buf.len()
    }

    /// Bytes of buffer storage the connection holds (send and receive
    /// rings as allocated, not their capacities).
    pub fn buffer_memory(&self) -> usize {
        self.snd.buf.allocated() + self.rcv.buf.allocated()
    }

    /// How scarce buffer memory is over the whole stack: under pressure
    /// the windows this connection offers stay within the storage it has
    /// and its send buffer stops growing; once memory is exhausted it
    /// takes no byte that needs more storage (each keeps its first 4 KiB).
    pub fn set_memory_pressure(&mut self, pressure: MemoryPressure) {
        self.snd.buf.set_growth(pressure == MemoryPressure::Normal);
        self.rcv.buf.set_growth(match pressure {
            MemoryPressure::Normal => Growth::Free,
            MemoryPressure::Pressure => Growth::NoNewOffers,
            MemoryPressure::Exhausted => Growth::None,
        });
    }

    /// Received bytes within the window not taken because the receive
    /// buffer could not grow for them.
    pub fn bytes_refused(&self) -> u64 {
        self.rcv.buf.refused()
    }

    /// Whether everything written (and the FIN, if queued) is acknowledged.
    pub fn all_acknowledged(&self) -> bool {
        self.snd.buf.is_empty() && self.snd.una == self.snd.nxt
    }

    /// An acknowledgment (such as a window update after a read) waits to
    /// be sent.
    pub fn ack_due(&self) -> bool {
        self.rcv.ack_now
    }

    /// The current congestion window and slow-start threshold, in bytes.
    pub fn congestion_window(&self) -> (u32, u32) {
        (self.cc.window(), self.cc.ssthresh())
    }

    /// Counters of this connection's life.
    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<core::time::Duration> {
        self.rtt.srtt()
    }

    /// Queues `data` for sending (RFC 9293 §3.10.2). Takes what fits in the
    /// send buffer; [`Error::WouldBlock`] when nothing fits.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.take_error()?;
        if !self.state.can_send() || self.snd.fin_queued {
            return Err(Error::BrokenPipe);
        }
        if data.is_empty() {
            return Ok(0);
        }
        match self.snd.buf.write(data) {
            0 => Err(Error::WouldBlock),
            n => Ok(n),
        }
    }

    /// Reads received data (RFC 9293 §3.10.3). `Ok(0)` is the end of the
    /// stream; [`Error::WouldBlock`] means nothing has arrived yet. Data
    /// that arrived before a reset is delivered before the reset's error.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            self.take_error()?;
            return Ok(0);
        }
        self.recv_with(|a, b| {
            let n = super::recv_buffer::copy_slices(buf, a, b);
            (n, n)
        })
    }

    /// RECEIVE without a copy (RFC 9293 §3.10.3): lends the readable bytes
    /// to `f` where they lie, as two slices in order (the second empty
    /// unless the receive ring wraps). `f` returns how many bytes it
    /// consumed (at most what it was lent; they are released, and the
    /// window reopens as after a read) and a result. At the end of the
    /// stream `f` is lent two empty slices. With nothing readable yet it
    /// is not called: `WouldBlock`, or the connection's error.
    pub fn recv_with<R>(&mut self, f: impl FnOnce(&[u8], &[u8]) -> (usize, R)) -> Result<R, Error> {
        if self.rcv.buf.readable() == 0 {
            self.take_error()?;
            if !self.read_finished() {
                return Err(Error::WouldBlock);
            }
            return Ok(f(&[], &[]).1);
        }
        let before = self.rcv.buf.window();
        let (a, b) = self.rcv.buf.readable_slices();
        let (n, r) = f(a, b);
        if self.rcv.buf.consume(n) > 0 {
            self.after_read(before);
            if matches!(self.state, State::TimeWait | State::Closed) {
                self.rcv.buf.release_storage();
            }
        }
        Ok(r)
    }

    /// No more data will ever be readable.
    fn read_finished(&self) -> bool {
        self.rcv.shut || self.state.peer_fin_received() || self.state == State::Closed
    }

    /// RCV.WND: what remains of the window last advertised (zero once
    /// RCV.NXT has reached or passed its right edge).
    pub(super) fn offered_window(&self) -> u32 {
        let (edge, nxt) = (self.rcv.adv_edge, self.rcv.nxt);
        if edge.after(nxt) { edge.distance_from(nxt) } else { 0 }
    }

    /// RFC 1122 §4.2.3.3 receiver SWS avoidance: after a read, offer the
    /// new space at once only when it is worth a segment.
    fn after_read(&mut self, window_before: usize) {
        let window = self.rcv.buf.window() as u32;
        let offered = self.offered_window();
        let threshold = (self.rcv.buf.capacity() as u32 / 2).min(self.rcv.mss);
        let was_closed = (window_before as u32) < self.rcv.mss;
        if self.state.can_receive()
            && window.saturating_sub(offered) >= threshold
            && (was_closed || offered < threshold)
        {
            self.rcv.ack_now = true;
        }
    }

    /// Takes the pending error, reporting it once (to a read, a write or
    /// `SO_ERROR`, whichever asks first).
    pub fn take_error(&mut self) -> Result<(), Error> {
        match &mut self.error {
            Some(e) if !e.reported => {
                e.reported = true;
                Err(e.error)
            }
            _ => Ok(()),
        }
    }

    /// Shuts down one or both directions (RFC 9293 §3.10.4 for writing).
    pub fn shutdown(&mut self, how: Shutdown) -> Result<(), Error> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.rcv.shut = true;
            let before = self.rcv.buf.window();
            self.rcv.buf.discard_readable();
            self.after_read(before);
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.queue_fin();
        }
        Ok(())
    }

    /// RFC 9293 §3.10.4 CLOSE on the sending side: queue a FIN behind the
    /// buffered data and move to the matching state. Before the handshake
    /// completes the FIN waits for ESTABLISHED (as §3.10.4 says for
    /// SYN-RECEIVED; in SYN-SENT too, since `connect` does not block and
    /// data may already be queued).
    fn queue_fin(&mut self) {
        match self.state {
            State::SynSent | State::SynReceived => self.snd.fin_queued = true,
            State::Established => {
                self.snd.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.snd.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// The application lets go of the connection. Unread data makes this
    /// an abort (RFC 1122 §4.2.2.13: the peer learns data was lost);
    /// otherwise the FIN is queued and the connection finishes on its own
    /// (FIN-WAIT-2 bounded by `fin_wait2_timeout`, then TIME-WAIT).
    pub fn close(&mut self, now: Instant) -> Option<Reset> {
        self.orphaned = true;
        if self.rcv.buf.readable() > 0 {
            return self.abort(now);
        }
        self.rcv.shut = true;
        if self.state == State::SynSent && self.snd.buf.is_empty() {
            // RFC 9293 §3.10.4: nothing to deliver, so delete the TCB.
            self.enter_closed();
            return None;
        }
        self.queue_fin();
        if self.state == State::FinWait2 {
            self.timers.linger = Some(now + self.cfg.fin_wait2_timeout);
        }
        None
    }

    /// A reset from this connection, with timestamps once negotiated.
    pub(super) fn reset(&self, now: Instant, seq: SeqNum) -> Reset {
        let mut rst = Reset::new(self.tuple, seq, None);
        if self.ts.enabled {
            rst.timestamps = Some(crate::wire::Timestamps { tsval: self.tsval(now), tsecr: self.ts.recent });
        }
        rst
    }

    /// ABORT (RFC 9293 §3.10.5): drop everything, and in a synchronized
    /// state return the RST to send.
    pub fn abort(&mut self, now: Instant) -> Option<Reset> {
        let rst = match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => Some(self.reset(now, self.snd.nxt)),
            _ => None,
        };
        self.enter_closed();
        rst
    }

    /// Moves to CLOSED, dropping queues and timers.
    pub(super) fn enter_closed(&mut self) {
        self.state = State::Closed;
        self.timers.clear();
        self.snd.buf.consume(usize::MAX);
        self.rcv.ack_now = false;
        self.replies.challenge_pending = false;
        self.keepalive_due = false;
        self.release_buffers();
    }

    /// Gives back the buffers' memory once they are empty and the
    /// connection is over (TIME-WAIT, CLOSED): a server with many recently
    /// closed connections must not hold their full-size buffers.
    pub(super) fn release_buffers(&mut self) {
        self.snd.buf.release_storage();
        self.rcv.buf.release_storage();
    }

    /// Ends the connection with an error for the application. A timeout
    /// after a soft error reports the soft error (RFC 1122 §4.2.3.9: the
    /// unreachable destination is why nothing came back).
    pub(super) fn fail(&mut self, error: Error) {
        let error = match (error, self.soft_error) {
            (Error::TimedOut, Some(soft)) => soft,
            (e, _) => e,
        };
        if self.error.is_none() {
            self.error = Some(PendingError { error, reported: false });
        }
        self.enter_closed();
    }

    /// The error that ended the connection, if any.
    pub fn error(&self) -> Option<Error> {
        self.error.map(|e| e.error)
    }

    /// What the application can do now without blocking.
    pub fn readiness(&self) -> Readiness {
        let mut r = Readiness::empty();
        let pending_error = self.error.is_some_and(|e| !e.reported);
        if pending_error {
            r |= Readiness::ERROR | Readiness::READABLE | Readiness::WRITABLE;
        }
        if self.rcv.buf.readable() > 0 || self.read_finished() {
            r |= Readiness::READABLE;
        }
        if self.read_finished() {
            r |= Readiness::READ_CLOSED;
        }
        let can_write = self.state.can_send() && !self.snd.fin_queued;
        if !can_write {
            r |= Readiness::WRITE_CLOSED | Readiness::WRITABLE;
        } else if self.state != State::SynSent && self.state != State::SynReceived && self.snd.buf.free() > 0
        {
            r |= Readiness::WRITABLE;
        }
        if self.state.is_synchronized() && self.state != State::SynReceived {
            r |= Readiness::CONNECTED;
            if self.all_acknowledged() {
                r |= Readiness::ACKED;
            }
        }
        r
    }

    /// The earliest deadline of the connection's timers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Payload of a full-sized segment from the peer: our MSS less the
    /// options every segment carries (RFC 5681 §2 "SMSS" excludes them).
    pub(super) fn full_segment(&self) -> u32 {
        self.rcv.mss.min(self.snd.smss) - self.option_overhead()
    }

    /// Our timestamp clock (RFC 7323 §5.4: one tick per millisecond).
    pub(super) fn tsval(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts.offset)
    }

    /// Sequence number one past the last byte the application queued.
    pub(super) fn data_end(&self) -> SeqNum {
        self.snd.buf_seq.add_len(self.snd.buf.len())
    }

    /// Sequence number of our FIN, once queued.
    pub(super) fn fin_seq(&self) -> Option<SeqNum> {
        self.snd.fin_queued.then(|| self.data_end())
    }

    /// Bytes sent and not yet acknowledged, up to `Sender.cursor` (after a
    /// retransmission timeout, what has been sent again).
    pub(super) fn flight(&self) -> u32 {
        self.snd.cursor.distance_from(self.snd.una)
    }

    /// RFC 6675 §4 "pipe": the bytes believed to be in the network. SACKed
    /// bytes have left it; in a SACK-based recovery, holes below the
    /// highest SACKed byte count as lost until retransmitted.
    pub(super) fn pipe(&self) -> u32 {
        let (una, nxt) = (self.snd.una, self.snd.cursor);
        let outstanding = nxt.distance_from(una);
        let sb = &self.snd.sacked;
        let Some(highest) = sb.highest().filter(|h| h.before_or_eq(nxt)) else {
            return outstanding;
        };
        let r = &self.snd.recovery;
        if !(r.active && r.sack_based) {
            return outstanding - sb.sacked_within(una, nxt);
        }
        let above = nxt.distance_from(highest);
        let rxt_end = r.high_rxt.min(highest);
        let retransmitted =
            if rxt_end.after(una) { rxt_end.distance_from(una) - sb.sacked_within(una, rxt_end) } else { 0 };
        above + retransmitted
    }

    /// The SMSS congestion control counts in: the payload of a full segment,
    /// after the options every segment carries (RFC 5681 §2: SMSS excludes
    /// options), so that a window of N·SMSS is N whole segments.
    pub(super) fn cc_smss(&self) -> u32 {
        self.snd.smss - self.option_overhead()
    }

    /// Option bytes every segment carries (the timestamps option, padded).
    pub(super) fn option_overhead(&self) -> u32 {
        if self.ts.enabled { 12 } else { 0 }
    }

    /// What the congestion controller is told: SMSS and FlightSize, less
    /// what limited transmit sent (RFC 5681 §3.2 step 2).
    pub(super) fn sender_state(&self) -> super::congestion::SenderState {
        let flight = self.snd.nxt.distance_from(self.snd.una);
        super::congestion::SenderState {
            smss: self.cc_smss(),
            flight: flight.saturating_sub(self.snd.recovery.limited_sent),
        }
    }
}
