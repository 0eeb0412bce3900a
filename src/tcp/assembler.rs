//! Out-of-order bookkeeping for the receive side: which byte ranges beyond
//! the in-order point have arrived (RFC 9293 §3.10.7.4 asks that segments
//! beyond RCV.NXT be held for later processing; RFC 2018 §4 reports them
//! back as SACK blocks).

/// Ranges are half-open `[start, end)` stream offsets (bytes since the
/// start of the stream, so they never wrap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// A bounded, sorted set of disjoint, non-adjacent ranges.
#[derive(Debug)]
pub struct Assembler {
    ranges: Vec<Range>,
    limit: usize,
    /// Start of the range most recently added to (for SACK ordering).
    latest: Option<u64>,
}

impl Assembler {
    /// An assembler that tracks at most `limit` separate ranges.
    pub fn new(limit: usize) -> Assembler {
        Assembler { ranges: Vec::new(), limit: limit.max(1), latest: None }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Records `[start, end)`. Returns false, recording nothing, when doing
    /// so would need more than `limit` ranges.
    pub fn insert(&mut self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        // First range whose end reaches `start` (touching counts).
        let first = self.ranges.partition_point(|r| r.end < start);
        // One past the last range whose start is within `end`.
        let last = self.ranges.partition_point(|r| r.start <= end);
        if first == last {
            if self.ranges.len() >= self.limit {
                return false;
            }
            self.ranges.insert(first, Range { start, end });
        } else {
            let merged =
                Range { start: start.min(self.ranges[first].start), end: end.max(self.ranges[last - 1].end) };
            self.ranges.splice(first..last, [merged]);
        }
        self.latest = Some(self.ranges[first].start);
        true
    }

    /// If a range starts at or before `at`, removes it and returns its end
    /// (the new in-order point); ranges wholly before `at` are dropped too.
    pub fn pop_front(&mut self, at: u64) -> Option<u64> {
        let mut advanced = None;
        while let Some(r) = self.ranges.first().copied() {
            if r.start > at {
                break;
            }
            self.ranges.remove(0);
            if r.end > at {
                advanced = Some(r.end);
                break;
            }
        }
        advanced
    }

    /// Forgets everything at or beyond `end`.
    pub fn truncate(&mut self, end: u64) {
        let keep = self.ranges.partition_point(|r| r.start < end);
        self.ranges.truncate(keep);
        if let Some(last) = self.ranges.last_mut() {
            last.end = last.end.min(end);
        }
        if self.latest.is_some_and(|s| s >= end) {
            self.latest = None;
        }
    }

    /// The ranges in the order RFC 2018 §4 asks for SACK blocks: the one
    /// holding the most recent arrival first, then the others from the
    /// highest down.
    pub fn sack_order(&self) -> impl Iterator<Item = Range> + '_ {
        let latest = self.latest.and_then(|s| self.ranges.iter().find(|r| r.start == s)).copied();
        let skip = latest.map(|r| r.start);
        let rest = self.ranges.iter().rev().copied().filter(move |r| Some(r.start) != skip);
        latest.into_iter().chain(rest)
    }

    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    pub fn clear(&mut self) {
        self.ranges.clear();
        self.latest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spans(a: &Assembler) -> Vec<(u64, u64)> {
        a.ranges().iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn merges_and_pops() {
        let mut a = Assembler::new(4);
        assert!(a.insert(10, 20));
        assert!(a.insert(30, 40));
        assert!(a.insert(20, 25));
        assert_eq!(spans(&a), [(10, 25), (30, 40)]);
        assert!(a.insert(5, 35));
        assert_eq!(spans(&a), [(5, 40)]);
        assert_eq!(a.pop_front(0), None);
        assert_eq!(a.pop_front(5), Some(40));
        assert!(a.is_empty());
    }

    #[test]
    fn bounded() {
        let mut a = Assembler::new(2);
        assert!(a.insert(10, 11));
        assert!(a.insert(20, 21));
        assert!(!a.insert(30, 31));
        assert!(a.insert(11, 20)); // merging needs no new slot
        assert_eq!(spans(&a), [(10, 21)]);
    }

    #[test]
    fn truncate_forgets_what_lies_beyond() {
        let mut a = Assembler::new(8);
        a.insert(10, 20);
        a.insert(30, 40);
        a.insert(50, 60);
        a.truncate(35);
        assert_eq!(spans(&a), [(10, 20), (30, 35)]);
        assert_eq!(a.sack_order().count(), 2);
        a.truncate(30);
        assert_eq!(spans(&a), [(10, 20)]);
        a.truncate(0);
        assert!(a.is_empty());
    }

    #[test]
    fn sack_order_latest_first() {
        let mut a = Assembler::new(8);
        a.insert(10, 20);
        a.insert(50, 60);
        a.insert(30, 40);
        let order: Vec<_> = a.sack_order().map(|r| r.start).collect();
        assert_eq!(order, [30, 50, 10]);
    }

    proptest! {
        /// Whatever the insertion order and overlap, the ranges are the
        /// union of what was inserted: sorted, disjoint, non-adjacent.
        #[test]
        fn union_of_inserts(segs in proptest::collection::vec((0u64..200, 1u64..20), 1..40)) {
            let mut a = Assembler::new(1000);
            let mut bitmap = [false; 240];
            for (s, l) in segs {
                prop_assert!(a.insert(s, s + l));
                for b in &mut bitmap[s as usize..(s + l) as usize] { *b = true; }
            }
            let mut expect = [false; 240];
            for r in a.ranges() {
                for b in &mut expect[r.start as usize..r.end as usize] { *b = true; }
            }
            prop_assert_eq!(bitmap, expect);
            for w in a.ranges().windows(2) {
                prop_assert!(w[0].end < w[1].start);
            }
        }
    }
}
