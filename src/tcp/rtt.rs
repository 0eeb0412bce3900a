//! The retransmission timer's estimator (RFC 6298).

use core::time::Duration;

/// Clock granularity G of RFC 6298 §2 (our timers have 1 ms resolution).
const GRANULARITY: Duration = Duration::from_millis(1);
/// RTO after a SYN was retransmitted and no sample was taken (RFC 6298 §5.7).
const RTO_AFTER_SYN_LOSS: Duration = Duration::from_secs(3);

/// SRTT, RTTVAR and the RTO, with exponential backoff.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
    /// Times the RTO has been doubled since the last new acknowledgment
    /// (RFC 6298 §5.5).
    backoff: u32,
}

impl RttEstimator {
    /// RFC 6298 §2.1: before any sample, RTO is the initial value.
    pub fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min_rto, max_rto.max(min_rto)),
            min_rto,
            max_rto: max_rto.max(min_rto),
            backoff: 0,
        }
    }

    /// RFC 6298 §2.2-2.4: folds in a measurement.
    pub fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        self.rto = (srtt + GRANULARITY.max(self.rttvar * 4)).clamp(self.min_rto, self.max_rto);
    }

    /// The RTO with backoff applied (RFC 6298 §5.5), capped at the maximum.
    pub fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        self.rto.saturating_mul(factor).min(self.max_rto)
    }

    /// RFC 6298 §5.5: doubles the RTO after a timeout.
    pub fn back_off(&mut self) {
        if self.rto() < self.max_rto {
            self.backoff += 1;
        }
    }

    /// Forgets the backoff once new data is acknowledged (RFC 6298 §5.7
    /// note, Karn's algorithm as refined by RFC 6298 §5).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// RFC 6298 §5.7: the handshake needed retransmission and gave no
    /// sample, so data starts with a 3 s RTO.
    pub fn after_syn_loss(&mut self) {
        if self.srtt.is_none() {
            self.rto = RTO_AFTER_SYN_LOSS.clamp(self.min_rto, self.max_rto);
        }
        self.backoff = 0;
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rfc6298_formulas() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        assert_eq!(e.rto(), ms(1000));
        e.sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.rto(), ms(300));
        e.sample(ms(200));
        // RTTVAR = 3/4·50 + 1/4·100 = 62.5; SRTT = 7/8·100 + 1/8·200 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn clamps_and_backs_off() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(5000));
        e.sample(ms(1));
        assert_eq!(e.rto(), ms(200));
        e.back_off();
        e.back_off();
        assert_eq!(e.rto(), ms(800));
        for _ in 0..40 {
            e.back_off();
        }
        assert_eq!(e.rto(), ms(5000));
        e.reset_backoff();
        assert_eq!(e.rto(), ms(200));
    }
}
