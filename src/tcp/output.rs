//! Segment departure: what to send next and how it is written (RFC 9293
//! §3.8.6 window management and Nagle, RFC 1122 §4.2.3.3-4 silly window
//! avoidance, RFC 5681/6582 retransmissions, RFC 3042 limited transmit).

use super::connection::Connection;
use super::window::{UnscaledWindow, WindowScale};
use super::{FourTuple, Reset, SeqNum, State};
use crate::time::Instant;
use crate::wire::tcp::{HEADER_LEN as TCP_HEADER_LEN, emit_segment};
use crate::wire::{SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps};

/// What the device can take, per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLimits {
    /// Largest TCP payload in one emitted segment. Above the MSS only when
    /// the device segments (TSO): the segment then goes out with a
    /// `gso_size` for the device to cut it at. The network layer bounds it
    /// by what one of its packets can carry.
    pub max_payload: usize,
}

impl TxLimits {
    /// Plain MSS-sized segments.
    pub const PLAIN: TxLimits = TxLimits { max_payload: 0 };
}

/// What a `poll_transmit` wrote: a TCP segment, header first
/// ([`Connection::poll_transmit`]), or a whole IP packet
/// (`Stack::poll_transmit`, which puts the network header in front).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Bytes written into the caller's buffer.
    pub len: usize,
    /// For a super-segment, the payload size to cut it at.
    pub gso_size: Option<u16>,
}

/// One segment to send: its sequence number, flags and the part of the
/// send buffer it carries.
#[derive(Debug, Clone, Copy)]
struct Plan {
    seq: SeqNum,
    flags: TcpFlags,
    /// Offset of the payload in the send buffer.
    offset: usize,
    len: usize,
    /// Payload bytes per wire segment, when `len` exceeds it (TSO).
    gso: Option<usize>,
}

impl Connection {
    /// Writes the next segment this connection wants to send into `buf`
    /// (TCP header first, checksum left for the network layer), or returns
    /// `None` when it has nothing to send now. Call until `None` after anything that may have produced
    /// output (a segment in, a timeout, an application operation).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8], limits: TxLimits) -> Option<Transmit> {
        if matches!(self.state, State::Closed | State::Listen) {
            return None;
        }
        let plan = self
            .plan_syn(now)
            .or_else(|| self.plan_retransmit(now, buf.len(), limits))
            .or_else(|| self.plan_data(now, buf.len(), limits))
            .or_else(|| self.plan_keepalive())
            .or_else(|| self.plan_ack(now))?;
        self.emit(now, &plan, buf)
    }

    /// The SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), first or again.
    fn plan_syn(&mut self, now: Instant) -> Option<Plan> {
        if !matches!(self.state, State::SynSent | State::SynReceived) || self.snd.cursor != self.snd.iss {
            return None;
        }
        let mut flags = TcpFlags::SYN;
        if self.state == State::SynReceived {
            flags |= TcpFlags::ACK;
        }
        self.snd.cursor = self.snd.iss.add(1);
        self.snd.nxt = self.snd.nxt.max(self.snd.cursor);
        if !self.ts.enabled && !self.snd.syn_retransmitted {
            self.snd.timed = Some((self.snd.iss, now));
        }
        self.start_retransmit_timer(now);
        Some(Plan { seq: self.snd.iss, flags, offset: 0, len: 0, gso: None })
    }

    /// A retransmission during fast recovery: the segment at SND.UNA that
    /// starts it (RFC 5681 §3.2 step 2), the one after a NewReno partial
    /// ACK (RFC 6582 §3.2 step 5), or the next SACK hole the pipe allows
    /// (RFC 6675 §5 step C).
    fn plan_retransmit(&mut self, now: Instant, buf_len: usize, limits: TxLimits) -> Option<Plan> {
        if !self.state.can_transmit_data() {
            self.snd.recovery.retransmit = None;
            return None;
        }
        let per_segment = self.segment_payload(buf_len, limits).0;
        let (seq, max_len) = match self.snd.recovery.retransmit.take() {
            Some(seq) => (seq, per_segment),
            None => {
                let r = &self.snd.recovery;
                if !(r.active && r.sack_based) {
                    return None;
                }
                let (start, hole) = self.snd.sacked.next_hole(r.high_rxt.max(self.snd.una))?;
                let len = (hole as usize).min(per_segment);
                if self.pipe() as usize + len > self.cc.window() as usize {
                    return None;
                }
                (start, len)
            }
        };
        if !seq.before(self.snd.nxt) || seq.before(self.snd.una) {
            return None;
        }
        let data_end = self.data_end();
        let avail = if seq.before(data_end) { data_end.distance_from(seq) as usize } else { 0 };
        let len = avail.min(max_len).min(self.snd.nxt.distance_from(seq) as usize);
        let mut flags = TcpFlags::ACK;
        if len > 0 && seq.add_len(len) == data_end {
            flags |= TcpFlags::PSH;
        }
        if self.fin_seq().is_some_and(|f| seq.add_len(len) == f && f.before(self.snd.nxt)) {
            flags |= TcpFlags::FIN;
        }
        if len == 0 && !flags.contains(TcpFlags::FIN) {
            return None;
        }
        if self.snd.timed.is_some_and(|(t, _)| t.after_or_eq(seq)) {
            self.snd.timed = None; // Karn: never time a retransmission
        }
        let r = &mut self.snd.recovery;
        r.high_rxt = r.high_rxt.max(seq.add_len(len));
        r.record_rexmit(seq, self.snd.nxt);
        self.stats.retransmits += 1;
        self.start_retransmit_timer(now);
        Some(Plan { seq, flags, offset: seq.distance_from(self.snd.buf_seq) as usize, len, gso: None })
    }

    /// New data (or data resent after a timeout rewound SND.NXT), and the
    /// FIN, within the peer's window and the congestion window, subject to
    /// Nagle and sender SWS avoidance. A zero-window probe when the persist
    /// timer has fired on a closed window.
    fn plan_data(&mut self, now: Instant, buf_len: usize, limits: TxLimits) -> Option<Plan> {
        if !self.state.can_transmit_data() {
            return None;
        }
        let nxt = self.snd.cursor;
        let data_end = self.data_end();
        let fin = self.fin_seq();
        let avail = if nxt.before(data_end) { data_end.distance_from(nxt) as usize } else { 0 };
        let fin_pending = fin.is_some_and(|f| nxt.before_or_eq(f));
        if avail == 0 && !fin_pending {
            self.snd.force = false;
            return None;
        }
        let wnd_edge = self.snd.una.add(self.snd.wnd);
        let wnd_room = if wnd_edge.after(nxt) { wnd_edge.distance_from(nxt) as usize } else { 0 };
        let r = &self.snd.recovery;
        // RFC 3042 / RFC 5681 §3.2 step 1: the first two duplicate ACKs
        // each allow one more segment. With SACK the pipe already shrinks
        // by what a duplicate ACK newly SACKs, and only such ACKs may
        // release new data.
        let allowance =
            if !r.active && r.dup_acks < 3 && !self.sack { r.dup_acks * self.cc_smss() } else { 0 };
        let flight = self.flight() as usize;
        let pipe = self.pipe() as usize;
        let cwnd = self.cc.window() as usize;
        let cwnd_room = (cwnd + allowance as usize).saturating_sub(pipe);
        let (per_segment, max_len) = self.segment_payload(buf_len, limits);
        let mut len = avail.min(wnd_room).min(cwnd_room).min(max_len);
        let retransmitting = nxt.before(self.snd.nxt);
        let nagle_ok = self.cfg.nodelay || flight == 0;
        if flight == 0 && avail > 0 && now.saturating_since(self.snd.last_send) > self.rtt.rto() {
            // RFC 5681 §4.1: after an idle period longer than the RTO,
            // restart from at most the initial window.
            self.cc.on_idle_restart(self.cc_smss());
        }
        // A super-segment carries whole segments, plus a short tail only
        // when Nagle would let that tail go alone.
        if len > per_segment && len % per_segment != 0 && !(len == avail && nagle_ok) {
            len -= len % per_segment;
        }
        let sends_fin = fin.is_some_and(|f| nxt.add_len(len) == f && f.before_or_eq(wnd_edge));
        let force = core::mem::take(&mut self.snd.force);
        if force && len == 0 && avail > 0 && wnd_room == 0 {
            // RFC 9293 §3.8.6.1 zero-window probe. Like Linux, an already
            // acknowledged sequence number (SND.UNA - 1) with no data: the
            // peer must answer with an ACK showing its window, and nothing
            // beyond the window is ever counted as sent.
            let seq = self.snd.una.sub(1);
            return Some(Plan { seq, flags: TcpFlags::ACK, offset: 0, len: 0, gso: None });
        }
        let worth_sending = force
            || sends_fin
            || retransmitting
            || len >= per_segment
            || (len == avail && nagle_ok)
            || (self.snd.max_wnd > 0 && len >= self.snd.max_wnd as usize / 2);
        if len == 0 && !sends_fin || !worth_sending {
            // Blocked with nothing in flight: only the persist timer can
            // move things on (zero window, or the SWS override).
            if flight == 0 && self.timers.persist.is_none() && self.timers.retransmit.is_none() {
                self.timers.persist = Some(now + self.rtt.rto());
            }
            return None;
        }
        let mut flags = TcpFlags::ACK;
        if len > 0 && nxt.add_len(len) == data_end {
            flags |= TcpFlags::PSH;
        }
        if sends_fin {
            flags |= TcpFlags::FIN;
        }
        self.snd.cursor = nxt.add_len(len).add(u32::from(sends_fin));
        self.snd.nxt = self.snd.nxt.max(self.snd.cursor);
        if len > 0 && !retransmitting && !self.ts.enabled && self.snd.timed.is_none() {
            self.snd.timed = Some((nxt, now));
        }
        if retransmitting {
            self.stats.retransmits += 1;
        }
        let beyond_cwnd = (pipe + len).saturating_sub(cwnd.max(pipe)) as u32;
        self.snd.recovery.limited_sent += beyond_cwnd;
        self.snd.last_send = now;
        self.timers.persist = None;
        self.start_retransmit_timer(now);
        self.arm_tail_loss_probe(now);
        let offset = nxt.distance_from(self.snd.buf_seq) as usize;
        let gso = (len > per_segment).then_some(per_segment);
        Some(Plan { seq: nxt, flags, offset, len, gso })
    }

    /// Payload bytes per wire segment after this connection's options, and
    /// the most one emitted packet may carry.
    fn segment_payload(&self, buf_len: usize, limits: TxLimits) -> (usize, usize) {
        let opts = self.data_options(Instant::ZERO).wire_len();
        let per_segment = (self.snd.smss as usize).saturating_sub(opts).max(1);
        let room = buf_len.saturating_sub(TCP_HEADER_LEN + opts);
        let max = limits.max_payload.min(room);
        let max = if max > per_segment { max - max % per_segment } else { per_segment.min(room) };
        (per_segment.min(room), max)
    }

    /// A keep-alive probe (RFC 1122 §4.2.3.6): SEG.SEQ = SND.UNA - 1.
    fn plan_keepalive(&mut self) -> Option<Plan> {
        if !core::mem::take(&mut self.keepalive_due) {
            return None;
        }
        Some(Plan { seq: self.snd.una.sub(1), flags: TcpFlags::ACK, offset: 0, len: 0, gso: None })
    }

    /// A bare ACK (or window update) when one is owed.
    fn plan_ack(&mut self, now: Instant) -> Option<Plan> {
        if self.delayed_ack_due(now) {
            self.rcv.ack_now = true;
        }
        if !(self.rcv.ack_now || self.replies.challenge_pending) || !self.state.is_synchronized() {
            return None;
        }
        Some(Plan { seq: self.snd.nxt, flags: TcpFlags::ACK, offset: 0, len: 0, gso: None })
    }

    /// RFC 6298 §5.1: the timer runs whenever something is outstanding.
    fn start_retransmit_timer(&mut self, now: Instant) {
        if self.timers.retransmit.is_none() {
            self.timers.retransmit = Some(now + self.rtt.rto());
        }
    }

    /// Options on a non-SYN segment: timestamps and SACK blocks.
    fn data_options(&self, now: Instant) -> TcpOptions {
        let mut opts = TcpOptions::default();
        if self.ts.enabled {
            opts.timestamps = Some(Timestamps { tsval: self.tsval(now), tsecr: self.ts.recent });
        }
        if self.sack && self.rcv.buf.has_out_of_order() {
            opts.sack = self.sack_blocks();
        }
        opts
    }

    /// RFC 2018 §4: the out-of-order ranges as SACK blocks.
    fn sack_blocks(&self) -> SackBlocks {
        let mut blocks = SackBlocks::default();
        let base = self.rcv.buf.in_order_end();
        for r in self.rcv.buf.sack_ranges().take(SackBlocks::MAX) {
            let left = self.rcv.nxt.add((r.start - base) as u32);
            let right = self.rcv.nxt.add((r.end - base) as u32);
            blocks.push(left.get(), right.get());
        }
        blocks
    }

    /// Options on our SYN or SYN-ACK (RFC 9293 §3.7.1, RFC 7323, RFC 2018):
    /// everything we support on a SYN, only what the peer offered on a
    /// SYN-ACK.
    fn syn_options(&self, now: Instant) -> TcpOptions {
        let active = self.state == State::SynSent;
        let mut opts = TcpOptions { mss: Some(self.rcv.mss.min(65535) as u16), ..TcpOptions::default() };
        if self.cfg.window_scaling && (active || self.window_scaling) {
            opts.window_scale = Some(WindowScale::for_buffer(self.cfg.recv_buffer).shift());
        }
        opts.sack_permitted = self.cfg.sack && (active || self.sack);
        if self.cfg.timestamps && (active || self.ts.enabled) {
            let tsecr = if active { 0 } else { self.ts.recent };
            opts.timestamps = Some(Timestamps { tsval: self.tsval(now), tsecr });
        }
        opts
    }

    /// The window field (RFC 9293 §3.8.6.2.2 and RFC 1122 §4.2.3.3): the
    /// right edge moves only by at least min(buffer/2, MSS), and never
    /// moves left.
    fn window_field(&mut self) -> u16 {
        let space = self.rcv.buf.window() as u32;
        let nxt = self.rcv.nxt;
        let offered = self.offered_window();
        let threshold = (self.rcv.buf.capacity() as u32 / 2).min(self.rcv.mss);
        let scale = self.rcv.wscale;
        let field = if space.saturating_sub(offered) >= threshold {
            UnscaledWindow::floor(space, scale)
        } else {
            // Holding the old right edge: round up, so that scaling never
            // moves it left (RFC 1122 §4.2.2.16; RFC 7323 §2.4 lets the
            // peer overrun by less than one scaling unit, which we take if
            // it fits the buffer).
            UnscaledWindow::ceil(offered, scale)
        };
        let edge = nxt.add(field.scale(scale));
        self.rcv.adv_edge = self.rcv.adv_edge.max(edge);
        field.field()
    }

    /// Writes the planned segment as an IPv4 packet.
    fn emit(&mut self, now: Instant, plan: &Plan, buf: &mut [u8]) -> Option<Transmit> {
        let syn = plan.flags.contains(TcpFlags::SYN);
        let (options, window) = if syn {
            let space = (self.rcv.buf.capacity() as u32).min(65535);
            self.rcv.adv_edge = self.rcv.nxt.add(space);
            (self.syn_options(now), space as u16)
        } else {
            (self.data_options(now), self.window_field())
        };
        let ack = plan.flags.contains(TcpFlags::ACK);
        let repr = TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq: plan.seq.get(),
            ack: if ack { self.rcv.nxt.get() } else { 0 },
            flags: plan.flags,
            window,
            urgent: 0,
            options,
        };
        let payload = self.snd.buf.slices(plan.offset, plan.len);
        let len = emit_segment(&repr, payload, buf).ok()?;
        self.stats.segments_out += 1;
        if ack {
            self.rcv.ack_now = false;
            self.replies.challenge_pending = false;
            self.rcv.unacked = 0;
            self.rcv.last_ack_sent = self.rcv.nxt;
            self.timers.delayed_ack = None;
        }
        let gso_size = plan.gso.map(|g| g.min(65535) as u16);
        Some(Transmit { len, gso_size })
    }
}

/// Writes a RST (RFC 9293 §3.10.7.1) into `buf` (a TCP segment, as
/// [`Connection::poll_transmit`] writes them).
pub fn emit_reset(reset: &Reset, buf: &mut [u8]) -> Option<usize> {
    let mut flags = TcpFlags::RST;
    if reset.ack.is_some() {
        flags |= TcpFlags::ACK;
    }
    let options = TcpOptions { timestamps: reset.timestamps, ..TcpOptions::default() };
    let ack = reset.ack.unwrap_or_default();
    emit_bare(&reset.tuple, reset.seq, ack, flags, 0, options, buf)
}

/// A SYN-ACK sent without a connection behind it (a SYN cookie,
/// [`super::syncookie`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynAck {
    pub tuple: FourTuple,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub window: u16,
    pub options: TcpOptions,
}

/// Writes a stateless SYN-ACK into `buf` (a TCP segment).
pub fn emit_syn_ack(s: &SynAck, buf: &mut [u8]) -> Option<usize> {
    let flags = TcpFlags::SYN | TcpFlags::ACK;
    emit_bare(&s.tuple, s.seq, s.ack, flags, s.window, s.options, buf)
}

/// A segment without payload that no connection sends.
fn emit_bare(
    tuple: &FourTuple,
    seq: SeqNum,
    ack: SeqNum,
    flags: TcpFlags,
    window: u16,
    options: TcpOptions,
    buf: &mut [u8],
) -> Option<usize> {
    let repr = TcpRepr {
        src_port: tuple.local.port(),
        dst_port: tuple.remote.port(),
        seq: seq.get(),
        ack: if flags.contains(TcpFlags::ACK) { ack.get() } else { 0 },
        flags,
        window,
        urgent: 0,
        options,
    };
    emit_segment(&repr, [&[], &[]], buf).ok()
}
