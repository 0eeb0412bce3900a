//! Rate limits on what the stack reflects to peers it cannot trust: a
//! token bucket for resets and ICMP replies, and the randomised per-second
//! budget of challenge ACKs (RFC 5961 §7, CVE-2016-5696).

use super::limits::RateLimit;
use crate::time::Instant;

/// Microtokens per token: tokens refill by the microsecond.
const UNIT: u64 = 1_000_000;

/// A token bucket (see [`RateLimit`]). It starts full.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    limit: RateLimit,
    /// Tokens in millionths; `None` until the first use (full).
    micro: Option<u64>,
    last: Instant,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> TokenBucket {
        TokenBucket { limit, micro: None, last: Instant::ZERO }
    }

    /// Takes a token if one is there.
    pub fn allow(&mut self, now: Instant) -> bool {
        let cap = u64::from(self.limit.burst.max(1)) * UNIT;
        let elapsed = now.saturating_since(self.last).as_micros() as u64;
        let refill = elapsed.saturating_mul(u64::from(self.limit.per_second));
        let tokens = self.micro.map_or(cap, |t| t.saturating_add(refill).min(cap));
        self.last = now;
        if tokens >= UNIT {
            self.micro = Some(tokens - UNIT);
            true
        } else {
            self.micro = Some(tokens);
            false
        }
    }
}

/// The stack-wide challenge ACK budget: each second (counted from the
/// first challenge of the second) allows a number drawn uniformly from
/// `[limit/2, limit·3/2)`, as Linux does since CVE-2016-5696, so that
/// exhausting it tells a blind attacker nothing exact.
#[derive(Debug, Clone)]
pub(super) struct ChallengeBudget {
    limit: u32,
    window_start: Option<Instant>,
    left: u32,
    rng: u64,
}

impl ChallengeBudget {
    /// `seed` keys the draws (from the stack's secret, so the simulator is
    /// deterministic and a real stack unpredictable).
    pub fn new(limit: u32, seed: u64) -> ChallengeBudget {
        ChallengeBudget { limit, window_start: None, left: 0, rng: seed | 1 }
    }

    pub fn allow(&mut self, now: Instant) -> bool {
        let fresh = self.window_start.is_none_or(|s| now.saturating_since(s).as_secs() >= 1);
        if fresh {
            self.window_start = Some(now);
            let spread = u64::from(self.limit.max(1));
            self.left = self.limit / 2 + (self.next_random() % spread) as u32;
        }
        if self.left > 0 {
            self.left -= 1;
            true
        } else {
            false
        }
    }

    /// SplitMix64.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_bursts_then_the_rate() {
        let mut b = TokenBucket::new(RateLimit { per_second: 10, burst: 3 });
        let t0 = Instant::from_millis(5000);
        assert_eq!((0..5).filter(|_| b.allow(t0)).count(), 3);
        // One token every 100 ms.
        assert!(!b.allow(Instant::from_millis(5099)));
        assert!(b.allow(Instant::from_millis(5100)));
        assert!(!b.allow(Instant::from_millis(5150)));
        // Over 10 s at most 100 (+ the burst).
        let mut n = 0;
        for ms in 0..10_000 {
            n += usize::from(b.allow(Instant::from_millis(6000 + ms)));
        }
        assert!((99..=103).contains(&n), "{n}");
    }

    #[test]
    fn challenge_budget_varies_within_its_range() {
        let mut c = ChallengeBudget::new(100, 42);
        let mut seen = Vec::new();
        for second in 0..50u64 {
            let now = Instant::from_millis(1000 * second);
            seen.push((0..1000).filter(|_| c.allow(now)).count());
        }
        assert!(seen.iter().all(|&n| (50..150).contains(&n)), "{seen:?}");
        seen.sort_unstable();
        seen.dedup();
        assert!(seen.len() > 10, "budgets should vary: {seen:?}");
    }
}
