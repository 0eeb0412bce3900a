//! Segment arrival (RFC 9293 §3.10.7.3-§3.10.7.4), with RFC 5961's
//! protections, RFC 7323's PAWS and timestamp rules, and the ACK
//! processing of RFC 5681, RFC 6582 and RFC 6298.

use core::time::Duration;

use super::connection::Connection;
use super::timers;
use super::window::WindowScale;
use super::{Reset, Segment, SeqNum, State};
use crate::error::Error;
use crate::time::Instant;
use crate::wire::TcpFlags;

/// RFC 7323 §5.5: TS.Recent is invalid after 24 days of idleness.
const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 3600);
/// Timestamp RTT samples above this are treated as bogus echoes.
const MAX_TS_RTT_MS: u32 = 10 * 60 * 1000;

impl Connection {
    /// Processes one segment addressed to this connection. Returns a reset
    /// for the stack to send when the rules call for one (the connection
    /// may have moved to CLOSED by then).
    pub fn handle_segment(&mut self, now: Instant, seg: &Segment<'_>) -> Option<Reset> {
        self.stats.segments_in += 1;
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent => self.on_syn_sent(now, seg),
            _ => self.on_synchronized(now, seg),
        }
    }

    fn reset_to(&self, now: Instant, seg: &Segment<'_>) -> Option<Reset> {
        // RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>; never answer a RST.
        (!seg.has(TcpFlags::RST)).then(|| self.reset(now, seg.ack))
    }

    /// RFC 9293 §3.10.7.3, with RFC 5961 §3.2's rule for RSTs.
    fn on_syn_sent(&mut self, now: Instant, seg: &Segment<'_>) -> Option<Reset> {
        let ack_ok = if seg.has(TcpFlags::ACK) {
            if seg.ack.before_or_eq(self.snd.iss) || seg.ack.after(self.snd.nxt) {
                return self.reset_to(now, seg);
            }
            true
        } else {
            false
        };
        if seg.has(TcpFlags::RST) {
            if ack_ok {
                self.fail(Error::ConnectionRefused);
            }
            return None;
        }
        if !seg.has(TcpFlags::SYN) {
            return None;
        }
        self.negotiate(now, seg);
        if ack_ok {
            self.snd.wnd = seg.window.scale(WindowScale::NONE); // never scaled in a SYN (RFC 7323 §2.2)
            self.snd.max_wnd = self.snd.wnd;
            self.snd.wl1 = seg.seq;
            self.snd.wl2 = seg.ack;
            self.ack_new_data(now, seg);
            self.establish(now);
            self.rcv.ack_now = true;
            self.accept_text(now, seg)
        } else {
            // Simultaneous open: answer with SYN-ACK from ISS.
            self.state = State::SynReceived;
            self.snd.cursor = self.snd.iss;
            self.timers.retransmit = None;
            None
        }
    }

    /// The handshake completed.
    fn establish(&mut self, now: Instant) {
        self.state = if self.snd.fin_queued { State::FinWait1 } else { State::Established };
        if let (Some(ka), State::Established) = (self.cfg.keepalive, self.state) {
            self.timers.keepalive = Some(now + ka.idle);
        }
        if self.snd.syn_retransmitted {
            self.rtt.after_syn_loss();
        }
        self.snd.retries = 0;
    }

    /// RFC 9293 §3.10.7.4: SYN-RECEIVED and every state after it.
    fn on_synchronized(&mut self, now: Instant, seg: &Segment<'_>) -> Option<Reset> {
        if self.state == State::SynReceived
            && seg.flags & (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST) == TcpFlags::SYN
            && seg.seq == self.rcv.irs
        {
            // The peer's SYN again: our SYN-ACK was lost. Send it again
            // now rather than a bare ACK the peer in SYN-SENT would drop
            // (as Linux does), at the rate of other invalid segments.
            if self.may_answer_invalid(now, seg) {
                self.snd.cursor = self.snd.iss;
            }
            return None;
        }
        if !self.check_timestamps(now, seg) {
            return None;
        }
        let window = self.offered_window();
        if !acceptable(seg, self.rcv.nxt, window) {
            return self.on_unacceptable(now, seg, window);
        }
        self.note_activity(now);
        // Second step: RST (RFC 5961 §3.2).
        if seg.has(TcpFlags::RST) {
            if seg.seq == self.rcv.nxt {
                self.on_reset();
            } else {
                self.challenge_ack(now);
            }
            return None;
        }
        // Fourth step: SYN (RFC 5961 §4.2).
        if seg.has(TcpFlags::SYN) {
            self.challenge_ack(now);
            return None;
        }
        // Fifth step: ACK.
        if !seg.has(TcpFlags::ACK) {
            return None;
        }
        if self.state == State::SynReceived {
            if seg.ack.before_or_eq(self.snd.una) || seg.ack.after(self.snd.nxt) {
                return self.reset_to(now, seg);
            }
            self.snd.wnd = seg.window.scale(self.snd.wscale);
            self.snd.max_wnd = self.snd.wnd;
            self.snd.wl1 = seg.seq;
            self.snd.wl2 = seg.ack;
            self.establish(now);
        }
        if !self.process_ack(now, seg) {
            return None;
        }
        self.update_ts_recent(now, seg);
        if self.state == State::Closed {
            return None;
        }
        // Seventh and eighth steps: text and FIN.
        self.accept_text(now, seg)
    }

    /// RFC 7323 §4.3: TS.Recent follows segments that cover Last.ACK.sent;
    /// §5.5: once invalid (24 days idle) any such segment resets it. Only a
    /// segment that passed the RST, SYN and ACK checks counts (as in
    /// Linux): a forged segment with an in-window sequence number and an
    /// unacceptable ACK must not move TS.Recent, or PAWS would then drop
    /// every genuine segment.
    fn update_ts_recent(&mut self, now: Instant, seg: &Segment<'_>) {
        if let (true, Some(ts)) = (self.ts.enabled, seg.options.timestamps)
            && seg.seq.before_or_eq(self.rcv.last_ack_sent)
            && (SeqNum::new(ts.tsval).after_or_eq(SeqNum::new(self.ts.recent)) || !self.ts_recent_valid(now))
        {
            self.ts.recent = ts.tsval;
            self.ts.recent_at = Some(now);
        }
    }

    /// RFC 7323 §3.2 and §5.3: once timestamps are on, a non-RST segment
    /// without them is dropped, and PAWS drops old duplicates (with an
    /// ACK). Returns whether processing continues.
    fn check_timestamps(&mut self, now: Instant, seg: &Segment<'_>) -> bool {
        if !self.ts.enabled || seg.has(TcpFlags::RST) {
            return true;
        }
        let Some(ts) = seg.options.timestamps else {
            return false;
        };
        if self.ts_recent_valid(now) && SeqNum::new(ts.tsval).before(SeqNum::new(self.ts.recent)) {
            self.answer_invalid(now, seg);
            return false;
        }
        true
    }

    /// RFC 7323 §5.5: TS.Recent goes stale after 24 days without update.
    fn ts_recent_valid(&self, now: Instant) -> bool {
        self.ts.recent_at.is_some_and(|at| now.saturating_since(at) < PAWS_IDLE_LIMIT)
    }

    /// RFC 9293 §3.10.7.4 first step, for a segment outside the window.
    fn on_unacceptable(&mut self, now: Instant, seg: &Segment<'_>, window: u32) -> Option<Reset> {
        if seg.has(TcpFlags::RST) {
            return None;
        }
        if self.state == State::TimeWait && seg.has(TcpFlags::FIN) {
            // A retransmitted FIN: re-ACK it and restart 2·MSL (§3.10.7.4).
            self.timers.linger = Some(now + self.cfg.time_wait);
        }
        // A zero window still takes ACKs, so probes are answered and the
        // window can open (§3.10.7.4: "special allowance").
        if window == 0
            && seg.seq == self.rcv.nxt
            && seg.has(TcpFlags::ACK)
            && self.state != State::SynReceived
        {
            self.note_activity(now);
            self.process_ack(now, seg);
        }
        if self.state != State::Closed {
            self.answer_invalid(now, seg);
        }
        None
    }

    /// The ACK an invalid segment gets: a challenge ACK for a SYN,
    /// whatever its sequence number (RFC 5961 §4.2), otherwise a duplicate
    /// ACK within the invalid-segment rate limit.
    fn answer_invalid(&mut self, now: Instant, seg: &Segment<'_>) {
        if seg.has(TcpFlags::SYN) {
            self.challenge_ack(now);
        } else {
            self.rcv.ack_now |= self.may_answer_invalid(now, seg);
        }
    }

    /// A received segment shows the peer is alive (keep-alive restarts).
    fn note_activity(&mut self, now: Instant) {
        self.keepalive_probes = 0;
        self.keepalive_due = false;
        if let (Some(ka), true) =
            (self.cfg.keepalive, matches!(self.state, State::Established | State::CloseWait))
        {
            self.timers.keepalive = Some(now + ka.idle);
        }
    }

    /// An acceptable RST with the exact sequence number (RFC 9293
    /// §3.10.7.4 second step). In TIME-WAIT it is ignored, as RFC 1337
    /// recommends: ending TIME-WAIT early frees the 4-tuple while old
    /// duplicates may still be in flight, and a new incarnation could then
    /// accept another connection's bytes ("TIME-WAIT assassination").
    fn on_reset(&mut self) {
        match self.state {
            State::TimeWait => {}
            State::SynReceived if self.passive => self.enter_closed(),
            State::SynReceived => self.fail(Error::ConnectionRefused),
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                self.fail(Error::ConnectionReset)
            }
            _ => self.enter_closed(),
        }
    }

    /// RFC 5961 §7: a rate-limited ACK that shows the peer where we are.
    pub(super) fn challenge_ack(&mut self, now: Instant) {
        if self.replies.allow_challenge(now, self.cfg.challenge_ack_limit) {
            self.replies.challenge_pending = true;
        }
    }

    /// Whether to answer an invalid segment (out of the window, failing
    /// PAWS, a repeated SYN) with an ACK: always when it carries data or a
    /// FIN, as no ACK loop is made of those; otherwise at most once per
    /// `invalid_ack_interval`, so that forged segments are not reflected
    /// at their own rate.
    fn may_answer_invalid(&mut self, now: Instant, seg: &Segment<'_>) -> bool {
        (!seg.is_empty() && !seg.has(TcpFlags::SYN))
            || self.replies.allow_invalid_ack(now, self.cfg.invalid_ack_interval)
    }

    /// Whether a challenge ACK is owed (see [`Connection::cancel_challenge_ack`]).
    pub fn challenge_ack_pending(&self) -> bool {
        self.replies.challenge_pending
    }

    /// Withholds the challenge ACK this connection asked for: the stack's
    /// budget over all connections is spent (RFC 5961 §7).
    pub fn cancel_challenge_ack(&mut self) {
        self.replies.challenge_pending = false;
    }

    /// The fifth step: the acknowledgment field. Returns whether the
    /// segment's processing continues.
    fn process_ack(&mut self, now: Instant, seg: &Segment<'_>) -> bool {
        let snd = &self.snd;
        // RFC 5961 §5.2: (SND.UNA - MAX.SND.WND) <= SEG.ACK <= SND.NXT,
        // with SND.NXT read as the highest sequence number sent.
        if seg.ack.after(snd.nxt) || seg.ack.before(snd.una.sub(snd.max_wnd)) {
            self.challenge_ack(now);
            return false;
        }
        self.snd.probes = 0;
        self.last_ack_rx = now;
        let sack_blocks = self.sack && !seg.options.sack.is_empty();
        let newly_sacked = if sack_blocks {
            let before = self.snd.sacked.sacked_bytes();
            self.snd.sacked.update(&seg.options.sack, self.snd.una, self.snd.nxt);
            self.snd.sacked.sacked_bytes() > before
        } else {
            false
        };
        let wnd = seg.window.scale(self.snd.wscale);
        if seg.ack.after(self.snd.una) {
            self.ack_new_data(now, seg);
        } else if seg.ack == self.snd.una && self.snd.nxt != self.snd.una {
            // RFC 5681 §2's duplicate ACK; with SACK blocks, RFC 6675 §2's:
            // an ACK that SACKs octets not SACKed before.
            let classic = seg.payload.is_empty()
                && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
                && wnd == self.snd.wnd
                && wnd != 0;
            if (sack_blocks && newly_sacked) || (!sack_blocks && classic) {
                self.on_duplicate_ack();
            }
        }
        // SND.WL1/WL2 rule: only a newer segment may update the window.
        if seg.ack.after_or_eq(self.snd.una)
            && (self.snd.wl1.before(seg.seq)
                || (self.snd.wl1 == seg.seq && self.snd.wl2.before_or_eq(seg.ack)))
        {
            self.snd.wnd = wnd;
            self.snd.max_wnd = self.snd.max_wnd.max(wnd);
            self.snd.wl1 = seg.seq;
            self.snd.wl2 = seg.ack;
        }
        self.detect_lost_retransmissions();
        self.maybe_enter_recovery(now);
        self.after_ack(now);
        self.arm_tail_loss_probe(now);
        true
    }

    /// SND.UNA < SEG.ACK: new data (or our SYN or FIN) acknowledged.
    fn ack_new_data(&mut self, now: Instant, seg: &Segment<'_>) {
        self.last_ack_rx = now;
        // Count only data toward congestion control, not our SYN.
        let syn = u32::from(self.snd.una == self.snd.iss);
        let acked = seg.ack.distance_from(self.snd.una).saturating_sub(syn);
        if seg.ack.after(self.snd.buf_seq) {
            let data = seg.ack.distance_from(self.snd.buf_seq) as usize;
            let consumed = data.min(self.snd.buf.len());
            self.snd.buf.consume(consumed);
            self.snd.buf_seq = self.snd.buf_seq.add_len(consumed);
        }
        self.snd.una = seg.ack;
        if self.snd.cursor.before(self.snd.una) {
            self.snd.cursor = self.snd.una;
        }
        self.snd.sacked.advance(seg.ack);
        let sample = self.rtt_sample(now, seg);
        if let Some(r) = sample {
            // Karn's algorithm (RFC 6298 §3, §5 note): a backed-off RTO is
            // kept until a new measurement replaces it.
            self.rtt.sample(r);
            self.rtt.reset_backoff();
        }
        self.snd.retries = 0;
        self.snd.backoffs = 0;
        self.on_new_ack_congestion(now, seg.ack, acked, sample);
        // RFC 6298 §5.2-5.3.
        self.timers.retransmit = (self.snd.una != self.snd.nxt).then(|| now + self.rtt.rto());
    }

    /// An RTT measurement from this ACK: from the echoed timestamp (RFC
    /// 7323 §4), or from the timed segment when timestamps are off (RFC
    /// 6298 §3, Karn's algorithm: never across a retransmission).
    fn rtt_sample(&mut self, now: Instant, seg: &Segment<'_>) -> Option<Duration> {
        if self.ts.enabled {
            let ts = seg.options.timestamps?;
            if ts.tsecr == 0 {
                return None;
            }
            let ms = self.tsval(now).wrapping_sub(ts.tsecr);
            return (ms <= MAX_TS_RTT_MS).then(|| Duration::from_millis(u64::from(ms)));
        }
        let (seq, sent) = self.snd.timed?;
        if seg.ack.after(seq) {
            self.snd.timed = None;
            return Some(now.saturating_since(sent));
        }
        None
    }

    /// State changes that follow the ACK of our FIN (RFC 9293 §3.10.7.4
    /// fifth step), and the persist timer.
    fn after_ack(&mut self, now: Instant) {
        let fin_acked = self.fin_seq().is_some_and(|f| self.snd.una.after(f));
        match self.state {
            State::FinWait1 if fin_acked => {
                self.state = State::FinWait2;
                if self.orphaned {
                    self.timers.linger = Some(now + self.cfg.fin_wait2_timeout);
                }
            }
            State::Closing if fin_acked => self.enter_time_wait(now),
            State::LastAck if fin_acked => self.enter_closed(),
            _ => {}
        }
        if self.snd.wnd > 0 {
            self.timers.persist = None;
            self.snd.persist_backoff = 0;
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        let ack_now = self.rcv.ack_now;
        self.timers.clear();
        self.rcv.ack_now = ack_now;
        self.timers.linger = Some(now + self.cfg.time_wait);
        self.release_buffers();
    }

    /// Seventh and eighth steps: segment text and FIN.
    fn accept_text(&mut self, now: Instant, seg: &Segment<'_>) -> Option<Reset> {
        let mut seq = seg.seq;
        if seg.has(TcpFlags::SYN) {
            seq = seq.add(1);
        }
        let fin_seq = seq.add_len(seg.payload.len());
        if seg.has(TcpFlags::FIN) && self.state.can_receive() {
            self.note_fin(fin_seq);
        }
        let mut payload = seg.payload;
        if seq.before(self.rcv.nxt) {
            let skip = (self.rcv.nxt.distance_from(seq) as usize).min(payload.len());
            payload = &payload[skip..];
            seq = self.rcv.nxt;
        }
        // Nothing lies beyond the end of the stream: such bytes are refused
        // (and the refusal acknowledged at once, as for any segment not
        // taken whole).
        if let Some(end) = self.rcv.fin {
            let room = if end.after(seq) { end.distance_from(seq) as usize } else { 0 };
            if payload.len() > room {
                payload = &payload[..room];
                self.rcv.ack_now |= self.state.can_receive();
            }
        }
        if !payload.is_empty() && self.state.can_receive() {
            if self.orphaned {
                // RFC 1122 §4.2.2.13: data after CLOSE is lost; say so.
                let rst = self.reset(now, self.snd.nxt);
                self.enter_closed();
                return Some(rst);
            }
            self.store_text(now, seq, payload);
        }
        if self.rcv.fin.is_some_and(|f| f != self.rcv.nxt) && seg.has(TcpFlags::FIN) {
            self.rcv.ack_now = true; // out of order (RFC 5681 §4.2)
        }
        self.try_consume_fin(now);
        None
    }

    /// A FIN at `fin_seq` fixes where the peer's stream ends (RFC 9293
    /// §3.10.7.4 eighth step). Of several in-window FINs the lowest stands,
    /// as the one the stream reaches first (Linux purges what lies beyond
    /// the FIN it processes): bytes beyond it are no stream bytes, and
    /// holding them would carry RCV.NXT past the FIN, which would then
    /// never be delivered.
    fn note_fin(&mut self, fin_seq: SeqNum) {
        if fin_seq.before(self.rcv.nxt) || self.rcv.fin.is_some_and(|f| f.before_or_eq(fin_seq)) {
            return;
        }
        self.rcv.fin = Some(fin_seq);
        self.rcv.buf.truncate(fin_seq.distance_from(self.rcv.nxt) as usize);
    }

    /// Stores in-window bytes and decides when to acknowledge them
    /// (RFC 9293 §3.8.6.3, RFC 5681 §4.2: every second full segment at
    /// least, at once for out-of-order data and for gap fills).
    fn store_text(&mut self, now: Instant, seq: SeqNum, payload: &[u8]) {
        let offset = seq.distance_from(self.rcv.nxt) as usize;
        let had_gap = self.rcv.buf.has_out_of_order();
        // A "full-sized segment" is the largest the peer sends, at most our
        // MSS less options (RFC 1122 §4.2.3.2, RFC 5681 §4.2).
        let largest = (payload.len() as u32).min(self.rcv.mss - self.option_overhead());
        self.rcv.seg_size = self.rcv.seg_size.max(largest);
        let accepted = self.rcv.buf.write_within(offset, payload, self.offered_window() as usize);
        self.rcv.nxt = self.rcv.nxt.add_len(accepted.advanced);
        if self.rcv.shut {
            self.rcv.buf.discard_readable();
        }
        if offset > 0 || had_gap || !accepted.stored || accepted.advanced < payload.len() {
            self.rcv.ack_now = true;
            return;
        }
        self.rcv.unacked = self.rcv.unacked.saturating_add(accepted.advanced as u32);
        if self.rcv.unacked >= 2 * self.rcv.seg_size {
            self.rcv.ack_now = true;
        } else if self.timers.delayed_ack.is_none() {
            self.timers.delayed_ack = Some(now + self.cfg.delayed_ack);
        }
    }

    /// Eighth step: the FIN, once everything before it has arrived.
    fn try_consume_fin(&mut self, now: Instant) {
        if self.rcv.fin != Some(self.rcv.nxt) || !self.state.can_receive() {
            return;
        }
        self.rcv.nxt = self.rcv.nxt.add(1);
        self.rcv.ack_now = true;
        self.timers.keepalive = None;
        match self.state {
            State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                let fin_acked = self.fin_seq().is_some_and(|f| self.snd.una.after(f));
                if fin_acked {
                    self.enter_time_wait(now);
                } else {
                    self.state = State::Closing;
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    /// Whether the delayed-ACK deadline has passed.
    pub(super) fn delayed_ack_due(&self, now: Instant) -> bool {
        timers::expired(self.timers.delayed_ack, now)
    }
}

/// RFC 9293 §3.10.7.4 first step: the four cases of segment acceptability.
pub(super) fn acceptable(seg: &Segment<'_>, rcv_nxt: SeqNum, rcv_wnd: u32) -> bool {
    let len = seg.len();
    let end = rcv_nxt.add(rcv_wnd);
    match (len, rcv_wnd) {
        (0, 0) => seg.seq == rcv_nxt,
        (0, _) => seg.seq.in_range(rcv_nxt, end),
        (_, 0) => false,
        (_, _) => seg.seq.in_range(rcv_nxt, end) || seg.seq.add(len - 1).in_range(rcv_nxt, end),
    }
}

impl Connection {
    /// RFC 9293 §3.10.7.4 (TIME-WAIT) with RFC 6191: a new SYN for this
    /// 4-tuple may reopen it when its sequence number (or timestamp) is
    /// beyond the old incarnation's.
    pub fn time_wait_accepts_syn(&self, seg: &Segment<'_>) -> bool {
        if self.state != State::TimeWait || !seg.has(TcpFlags::SYN) || seg.has(TcpFlags::ACK) {
            return false;
        }
        // "Greater than the last sequence number seen": the FIN at RCV.NXT - 1.
        let newer_seq = seg.seq.after_or_eq(self.rcv.nxt);
        match (self.ts.enabled, seg.options.timestamps) {
            (true, Some(ts)) => {
                let (tsval, recent) = (SeqNum::new(ts.tsval), SeqNum::new(self.ts.recent));
                tsval.after(recent) || (tsval == recent && newer_seq)
            }
            _ => newer_seq,
        }
    }

    /// Ends TIME-WAIT early because a new incarnation reopens the 4-tuple,
    /// returning the lowest ISS the new one may use: RFC 9293 §3.6.1 asks
    /// for one larger than any sequence number the old one used (Linux
    /// adds 65537 to it).
    pub fn end_time_wait(&mut self) -> SeqNum {
        self.enter_closed();
        self.snd.nxt.add(65537)
    }
}
