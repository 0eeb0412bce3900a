//! TCP sequence numbers: modular arithmetic on 32 bits (RFC 9293 §3.4).
//!
//! Comparison is only meaningful between numbers less than 2^31 apart, so
//! [`SeqNum`] deliberately implements neither `Ord` nor `Sub`: ordering is
//! [`SeqNum::before`] / [`SeqNum::after`] and distance is
//! [`SeqNum::distance_from`] or [`SeqNum::signed_distance_from`], all of which
//! wrap and none of which can panic.

use core::fmt;

/// A TCP sequence (or acknowledgment) number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(u32);

impl SeqNum {
    /// Wraps a raw 32-bit sequence number.
    pub const fn new(raw: u32) -> SeqNum {
        SeqNum(raw)
    }

    /// The raw 32-bit value, as carried on the wire.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self + n`, modulo 2^32.
    #[must_use]
    pub const fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }

    /// `self - n`, modulo 2^32.
    #[must_use]
    pub const fn sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }

    /// `self + n` for a byte count given as `usize`, modulo 2^32.
    #[must_use]
    pub const fn add_len(self, n: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(n as u32))
    }

    /// How far `self` lies ahead of `base`, as an unsigned distance modulo
    /// 2^32. Meaningful when `base` is not after `self`.
    pub const fn distance_from(self, base: SeqNum) -> u32 {
        self.0.wrapping_sub(base.0)
    }

    /// Signed distance from `base` to `self`, in `[-2^31, 2^31)`.
    pub const fn signed_distance_from(self, base: SeqNum) -> i32 {
        self.0.wrapping_sub(base.0) as i32
    }

    /// `self < other` in sequence space.
    pub const fn before(self, other: SeqNum) -> bool {
        self.signed_distance_from(other) < 0
    }

    /// `self > other` in sequence space.
    pub const fn after(self, other: SeqNum) -> bool {
        other.before(self)
    }

    /// `self <= other` in sequence space.
    pub const fn before_or_eq(self, other: SeqNum) -> bool {
        !self.after(other)
    }

    /// `self >= other` in sequence space.
    pub const fn after_or_eq(self, other: SeqNum) -> bool {
        !self.before(other)
    }

    /// `start <= self < end` in sequence space (RFC 9293 §3.4 window tests).
    pub const fn in_range(self, start: SeqNum, end: SeqNum) -> bool {
        start.before_or_eq(self) && self.before(end)
    }

    /// The later of two sequence numbers.
    #[must_use]
    pub const fn max(self, other: SeqNum) -> SeqNum {
        if self.after(other) { self } else { other }
    }

    /// The earlier of two sequence numbers.
    #[must_use]
    pub const fn min(self, other: SeqNum) -> SeqNum {
        if self.before(other) { self } else { other }
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HALF: u32 = 1 << 31;

    #[test]
    fn wraps_at_2_pow_32() {
        let a = SeqNum::new(u32::MAX);
        assert_eq!(a.add(1), SeqNum::new(0));
        assert!(a.before(a.add(1)));
        assert_eq!(a.add(1).distance_from(a), 1);
        assert_eq!(SeqNum::new(0).sub(1), a);
        assert_eq!(a.signed_distance_from(SeqNum::new(1)), -2);
    }

    proptest! {
        /// Totality on half the space: for two numbers closer than 2^31,
        /// exactly one of before, equal, after holds.
        #[test]
        fn trichotomy_within_half(a: u32, d in 0u32..HALF) {
            let x = SeqNum::new(a);
            let y = x.add(d);
            let relations = [x.before(y), x == y, x.after(y)];
            prop_assert_eq!(relations.iter().filter(|r| **r).count(), 1);
            prop_assert_eq!(x.before(y), d != 0);
            prop_assert_eq!(y.after(x), d != 0);
        }

        /// Transitivity inside a window of less than 2^31.
        #[test]
        fn transitive_within_window(a: u32, d1 in 0u32..HALF / 2, d2 in 0u32..HALF / 2) {
            let x = SeqNum::new(a);
            let y = x.add(d1);
            let z = y.add(d2);
            if x.before(y) && y.before(z) {
                prop_assert!(x.before(z));
            }
            prop_assert!(x.before_or_eq(z));
        }

        /// Distances invert addition, whatever the wrap.
        #[test]
        fn distance_inverts_add(a: u32, n: u32) {
            let x = SeqNum::new(a);
            prop_assert_eq!(x.add(n).distance_from(x), n);
            prop_assert_eq!(x.add(n).sub(n), x);
            prop_assert_eq!(x.add(n).signed_distance_from(x), n as i32);
        }

        /// Before and after are mirror images, and never panic on any input.
        #[test]
        fn before_after_mirror(a: u32, b: u32) {
            let (x, y) = (SeqNum::new(a), SeqNum::new(b));
            prop_assert_eq!(x.before(y), y.after(x));
            prop_assert_eq!(x.before_or_eq(y), !x.after(y));
            let _ = x.max(y);
            let _ = x.min(y);
        }

        /// Ranges are half-open and behave across the wrap.
        #[test]
        fn in_range_half_open(start: u32, len in 1u32..HALF, off: u32) {
            let s = SeqNum::new(start);
            let e = s.add(len);
            let x = s.add(off);
            prop_assert_eq!(x.in_range(s, e), off < len);
        }
    }
}
