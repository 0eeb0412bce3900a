//! Loss detection and recovery: duplicate ACKs and fast retransmit (RFC
//! 5681 §3.2), NewReno's partial ACKs (RFC 6582), SACK-driven recovery
//! (RFC 6675), lost-retransmission detection, and tail loss probes (RFC
//! 8985 §7). The congestion controller only does the window arithmetic;
//! this module decides what is lost and what to resend.

use core::time::Duration;
use std::collections::VecDeque;

use super::SeqNum;
use super::connection::Connection;
use crate::time::Instant;

/// Retransmissions remembered for lost-retransmission detection.
const MAX_REXMIT_RECORDS: usize = 256;
/// RFC 8985 §7.2: the receiver may delay the ACK of a lone segment; Linux
/// and RFC 8985 budget 200 ms for it (WCDelAckT).
const WORST_CASE_DELAYED_ACK: Duration = Duration::from_millis(200);
/// Floor on the probe timeout, so that very short RTTs do not probe too
/// eagerly (Linux uses the same order of magnitude).
const MIN_PTO: Duration = Duration::from_millis(10);

/// Fast retransmit and fast recovery state.
#[derive(Debug, Clone)]
pub(super) struct Recovery {
    /// Consecutive duplicate ACKs (RFC 6675 §2's definition with SACK).
    pub dup_acks: u32,
    /// In fast recovery.
    pub active: bool,
    /// RFC 6582 `recover`, stored exclusive: one past the highest sequence
    /// number sent when recovery began.
    pub recover: SeqNum,
    /// A segment to retransmit at the next opportunity.
    pub retransmit: Option<SeqNum>,
    /// Partial ACKs seen in this recovery.
    pub partial_acks: u32,
    /// Bytes sent beyond the congestion window by limited transmit since
    /// the last new ACK; RFC 5681 §3.2 step 2 leaves them out of the
    /// FlightSize that sets ssthresh.
    pub limited_sent: u32,
    /// This recovery is driven by the SACK scoreboard (RFC 6675): holes
    /// below the highest SACKed byte are retransmitted as the pipe
    /// allows. Otherwise it is NewReno's, one segment per partial ACK.
    pub sack_based: bool,
    /// RFC 6675 HighRxt: one past the highest byte retransmitted in this
    /// recovery.
    pub high_rxt: SeqNum,
    /// Hole retransmissions of this recovery: where each starts and what
    /// SND.NXT was when it left. Data beyond that being SACKed while the
    /// hole stays open means the retransmission itself was lost.
    pub rexmits: VecDeque<(SeqNum, SeqNum)>,
    /// The end of an outstanding tail loss probe (RFC 8985 §7): SND.NXT
    /// when it was sent.
    pub probe: Option<SeqNum>,
}

impl Recovery {
    pub fn new(iss: SeqNum) -> Recovery {
        Recovery {
            dup_acks: 0,
            active: false,
            recover: iss,
            retransmit: None,
            partial_acks: 0,
            limited_sent: 0,
            sack_based: false,
            high_rxt: iss,
            rexmits: VecDeque::new(),
            probe: None,
        }
    }

    /// Leaves recovery (after a full ACK or a timeout).
    pub fn end(&mut self) {
        self.active = false;
        self.dup_acks = 0;
        self.retransmit = None;
        self.sack_based = false;
        self.rexmits.clear();
    }

    /// Notes a retransmission of `[seq, ..)` sent while SND.NXT was `nxt`.
    pub fn record_rexmit(&mut self, seq: SeqNum, nxt: SeqNum) {
        if self.active && self.sack_based {
            if self.rexmits.len() == MAX_REXMIT_RECORDS {
                self.rexmits.pop_front();
            }
            self.rexmits.push_back((seq, nxt));
        }
    }
}

impl Connection {
    /// RFC 5681 §3.2 step 4: a duplicate ACK (inflating the window in a
    /// NewReno recovery).
    pub(super) fn on_duplicate_ack(&mut self) {
        self.stats.dup_acks += 1;
        let s = self.sender_state();
        let r = &mut self.snd.recovery;
        r.dup_acks += 1;
        if r.active && !r.sack_based {
            self.cc.on_recovery_dup_ack(s);
        }
    }

    /// RFC 5681 §3.2 / RFC 6582 §3.2 step 2: three duplicate ACKs start fast
    /// retransmit, unless they only echo the previous recovery. With SACK,
    /// RFC 6675 §5's IsLost rule (more than 2·SMSS SACKed above SND.UNA)
    /// starts it too, and so does a SACK of a tail loss probe with holes
    /// below it (RFC 8985 §7.4: everything unacknowledged before the probe
    /// was sent at least a probe timeout earlier).
    pub(super) fn maybe_enter_recovery(&mut self, now: Instant) {
        let r = &self.snd.recovery;
        if r.active || !self.snd.una.after_or_eq(r.recover) || self.snd.una == self.snd.nxt {
            return;
        }
        let sb = &self.snd.sacked;
        let sack_lost = self.sack && sb.sacked_bytes() > 2 * self.cc_smss();
        let probe_sacked = r.probe.is_some_and(|end| sb.highest().is_some_and(|h| h.after_or_eq(end)));
        if r.dup_acks < 3 && !sack_lost && !probe_sacked {
            return;
        }
        let s = self.sender_state();
        let r = &mut self.snd.recovery;
        r.active = true;
        r.partial_acks = 0;
        r.recover = self.snd.nxt;
        r.sack_based = self.sack && !self.snd.sacked.is_empty();
        r.high_rxt = self.snd.una;
        r.retransmit = Some(self.snd.una);
        r.probe = None;
        r.rexmits.clear();
        self.timers.tlp = None;
        self.stats.recoveries += 1;
        self.cc.on_fast_retransmit(now, s);
        self.snd.recovery.limited_sent = 0;
    }

    /// RFC 5681 §3 and RFC 6582 §3.2 steps 4-5 for an ACK of new data.
    pub(super) fn on_new_ack_congestion(
        &mut self,
        now: Instant,
        ack: SeqNum,
        acked: u32,
        rtt: Option<Duration>,
    ) {
        let r = &mut self.snd.recovery;
        if r.probe.is_some_and(|end| ack.after_or_eq(end)) {
            r.probe = None; // the probe's episode is over
        }
        if r.active {
            if ack.after_or_eq(r.recover) {
                r.end();
                let s = self.sender_state();
                self.cc.on_recovery_exit(s);
            } else if r.sack_based {
                // The scoreboard drives retransmission (RFC 6675 §5 step C).
                r.partial_acks += 1;
                r.high_rxt = r.high_rxt.max(ack);
            } else {
                // RFC 6582 §3.2 step 5: a partial ACK retransmits the next
                // unacknowledged segment and deflates the window.
                r.partial_acks += 1;
                r.retransmit = Some(ack);
                r.high_rxt = r.high_rxt.max(ack);
                let s = self.sender_state();
                self.cc.on_partial_ack(acked, s);
            }
        } else {
            r.dup_acks = 0;
            r.limited_sent = 0;
            // Keep `recover` from falling 2^31 behind SND.UNA, where the
            // RFC 6582 comparison would flip: only its lead after a
            // timeout matters.
            if ack.after(r.recover) {
                r.recover = ack;
            }
            let s = self.sender_state();
            self.cc.on_ack(now, acked, rtt, s);
        }
    }

    /// In a SACK-based recovery, a hole whose retransmission left before
    /// data that has since been SACKed was lost again: resend it now
    /// rather than waiting for the retransmission timer.
    pub(super) fn detect_lost_retransmissions(&mut self) {
        let r = &mut self.snd.recovery;
        if !(r.active && r.sack_based) {
            return;
        }
        let Some(highest) = self.snd.sacked.highest() else { return };
        while let Some(&(start, max_at)) = r.rexmits.front() {
            if start.before(self.snd.una) || self.snd.sacked.contains(start) {
                r.rexmits.pop_front(); // delivered
                continue;
            }
            if highest.after(max_at) && r.retransmit.is_none() {
                r.rexmits.pop_front();
                r.retransmit = Some(start);
            }
            break;
        }
    }

    /// RFC 8985 §7.2: with SACK, data outstanding and no recovery under
    /// way, arm a probe timeout of two smoothed RTTs (plus the receiver's
    /// worst-case ACK delay when only one segment is out), unless the
    /// retransmission timer would fire first.
    pub(super) fn arm_tail_loss_probe(&mut self, now: Instant) {
        self.timers.tlp = None;
        let r = &self.snd.recovery;
        let idle = self.snd.una == self.snd.nxt;
        // A closed window is probed by the persist and retransmission
        // timers; a tail probe would only be dropped by the receiver.
        let closed = self.snd.wnd == 0;
        if !self.sack || r.active || r.probe.is_some() || idle || closed || !self.state.can_transmit_data() {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else { return };
        let mut pto = (srtt * 2).max(MIN_PTO);
        if self.snd.nxt.distance_from(self.snd.una) <= self.cc_smss() {
            pto += WORST_CASE_DELAYED_ACK;
        }
        let at = now + pto;
        if self.timers.retransmit.is_none_or(|rto| at < rto) {
            self.timers.tlp = Some(at);
        }
    }

    /// RFC 8985 §7.3: the probe timeout fired. Resend the last segment so
    /// that its ACK (with SACK) reveals any loss before it, and push the
    /// retransmission timer back.
    pub(super) fn on_tail_loss_probe(&mut self, now: Instant) {
        if !self.state.can_transmit_data() || self.snd.una == self.snd.nxt || self.snd.recovery.active {
            return;
        }
        let segment = self.cc_smss();
        let last = self.snd.nxt.sub(segment.min(self.snd.nxt.distance_from(self.snd.una)));
        let r = &mut self.snd.recovery;
        r.retransmit = Some(last.max(self.snd.una));
        r.probe = Some(self.snd.nxt);
        self.stats.tail_loss_probes += 1;
        self.timers.retransmit = Some(now + self.rtt.rto());
    }

    /// A timeout ends any recovery (RFC 6582 §3.2 step 6: `recover`
    /// becomes the highest sequence number sent).
    pub(super) fn reset_recovery_after_timeout(&mut self) {
        let r = &mut self.snd.recovery;
        r.end();
        r.probe = None;
        r.recover = self.snd.nxt;
        self.timers.tlp = None;
    }
}
