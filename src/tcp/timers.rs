//! The per-connection timers (RFC 9293 §3.8, RFC 6298, RFC 1122
//! §4.2.3.6), kept as deadlines; the connection reports the earliest and
//! the stack calls back when it passes.

use crate::time::Instant;

/// Deadlines of the connection's timers; `None` is a stopped timer.
#[derive(Debug, Clone, Default)]
pub struct Timers {
    /// Retransmission timeout (RFC 6298 §5), also for SYN and FIN.
    pub retransmit: Option<Instant>,
    /// Delayed acknowledgment (RFC 9293 §3.8.6.3).
    pub delayed_ack: Option<Instant>,
    /// Zero-window probe, or the sender SWS override (RFC 9293 §3.8.6.1,
    /// §3.8.6.2.1).
    pub persist: Option<Instant>,
    /// Keep-alive probe (RFC 1122 §4.2.3.6).
    pub keepalive: Option<Instant>,
    /// TIME-WAIT's 2·MSL, or the orphaned FIN-WAIT-2 timeout.
    pub linger: Option<Instant>,
    /// Tail loss probe (RFC 8985 §7).
    pub tlp: Option<Instant>,
}

impl Timers {
    /// The earliest running deadline.
    pub fn next(&self) -> Option<Instant> {
        // Branch-free: an unset timer counts as FAR_FUTURE (this runs for
        // every segment in and out).
        let at = |t: Option<Instant>| t.unwrap_or(Instant::FAR_FUTURE);
        let min = at(self.retransmit)
            .min(at(self.delayed_ack))
            .min(at(self.persist))
            .min(at(self.keepalive))
            .min(at(self.linger))
            .min(at(self.tlp));
        (min != Instant::FAR_FUTURE).then_some(min)
    }

    /// Stops every timer.
    pub fn clear(&mut self) {
        *self = Timers::default();
    }
}

/// Whether a timer's deadline has passed at `now`.
pub fn expired(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

use super::connection::Connection;
use super::{Reset, State};
use crate::error::Error;

impl Connection {
    /// Runs every timer whose deadline has passed at `now`. Returns a reset
    /// to send if one is called for.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Reset> {
        if expired(self.timers.linger, now) {
            // TIME-WAIT's 2·MSL, or an orphan's FIN-WAIT-2 limit.
            self.enter_closed();
            return None;
        }
        if expired(self.timers.retransmit, now) {
            self.timers.retransmit = None;
            if let Some(rst) = self.on_retransmit_timeout(now) {
                return Some(rst);
            }
        }
        if expired(self.timers.tlp, now) {
            self.timers.tlp = None;
            self.on_tail_loss_probe(now);
        }
        if expired(self.timers.delayed_ack, now) {
            self.timers.delayed_ack = None;
            self.rcv.ack_now = true;
        }
        if expired(self.timers.persist, now) {
            self.timers.persist = None;
            if let Some(rst) = self.on_persist_timeout(now) {
                return Some(rst);
            }
        }
        if expired(self.timers.keepalive, now) {
            self.timers.keepalive = None;
            self.on_keepalive_timeout(now);
        }
        None
    }

    /// RFC 6298 §5.4-5.7 and RFC 5681 §3.1: back off, shrink the window to
    /// one segment and go back to the oldest unacknowledged byte. Returns
    /// the reset of an orphan that gives up.
    fn on_retransmit_timeout(&mut self, now: Instant) -> Option<Reset> {
        match self.state {
            State::SynSent | State::SynReceived => {
                self.snd.retries += 1;
                let limit = if self.passive { self.cfg.synack_retries } else { self.cfg.syn_retries };
                if self.snd.retries > limit {
                    self.fail(Error::TimedOut);
                    return None;
                }
                self.snd.syn_retransmitted = true;
                self.snd.timed = None;
                self.rtt.back_off();
                self.snd.cursor = self.snd.iss;
            }
            _ if self.snd.una != self.snd.nxt => {
                // A peer that keeps ACKing a zero window is alive: such
                // timeouts are probes and do not count (as Linux does).
                let alive =
                    self.snd.wnd == 0 && now.saturating_since(self.last_ack_rx) < self.cfg.max_rto * 2;
                if !alive {
                    self.snd.retries += 1;
                }
                if self.snd.retries > self.cfg.max_retries {
                    self.fail(Error::TimedOut);
                    return None;
                }
                if let Some(rst) = self.orphan_backs_off(now) {
                    return Some(rst);
                }
                let s = self.sender_state();
                self.cc.on_timeout(now, s);
                self.reset_recovery_after_timeout();
                // RFC 2018 §8: the receiver may have reneged.
                self.snd.sacked.clear();
                self.snd.timed = None;
                self.stats.timeouts += 1;
                self.rtt.back_off();
                self.snd.cursor = self.snd.una;
                // Send even into a closed window: with no room the
                // retransmission becomes a zero-window probe (RFC 9293
                // §3.8.6.1), so a shrunken window is still probed.
                self.snd.force = true;
            }
            _ => return None,
        }
        self.timers.retransmit = Some(now + self.rtt.rto());
        None
    }

    /// Counts a back-off (a retransmission timeout or a zero-window probe,
    /// answered or not) of an orphan, which gives up after
    /// `orphan_retries` without progress: the reset to send then. (Linux's
    /// `tcp_orphan_retries`; a peer that answers every probe of a closed
    /// window would otherwise hold the connection and its send buffer
    /// forever.)
    fn orphan_backs_off(&mut self, now: Instant) -> Option<Reset> {
        if !self.orphaned {
            return None;
        }
        self.snd.backoffs += 1;
        if self.snd.backoffs <= self.cfg.orphan_retries {
            return None;
        }
        let rst = self.reset(now, self.snd.nxt);
        self.fail(Error::TimedOut);
        Some(rst)
    }

    /// The persist timer (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17): force a
    /// send or a zero-window probe, backing off; give up after as many
    /// unanswered probes as retransmissions (an orphan sooner, see
    /// [`Connection::orphan_backs_off`]).
    fn on_persist_timeout(&mut self, now: Instant) -> Option<Reset> {
        if self.snd.wnd == 0 {
            self.snd.probes += 1;
            if self.snd.probes > self.cfg.max_retries {
                self.fail(Error::TimedOut);
                return None;
            }
            if let Some(rst) = self.orphan_backs_off(now) {
                return Some(rst);
            }
        }
        self.snd.force = true;
        self.snd.persist_backoff = (self.snd.persist_backoff + 1).min(16);
        let next = self.rtt.rto().saturating_mul(1 << self.snd.persist_backoff).min(self.cfg.max_rto);
        self.timers.persist = Some(now + next);
        None
    }

    /// Keep-alive (RFC 1122 §4.2.3.6): probe after the idle time, then at
    /// the interval; fail after the configured number of silent probes.
    fn on_keepalive_timeout(&mut self, now: Instant) {
        let Some(ka) = self.cfg.keepalive else { return };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        if self.keepalive_probes >= ka.probes {
            self.fail(Error::TimedOut);
            return;
        }
        self.keepalive_probes += 1;
        self.keepalive_due = true;
        self.timers.keepalive = Some(now + ka.interval);
    }
}
