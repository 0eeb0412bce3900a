//! The sender's SACK scoreboard (RFC 2018 §5, RFC 6675 §3): which bytes
//! above SND.UNA the receiver has reported holding.

use super::SeqNum;
use crate::wire::SackBlocks;

/// Most separate SACKed ranges remembered; beyond it the lowest are
/// forgotten (which only makes the sender retransmit more).
const MAX_RANGES: usize = 32;

/// Sorted, disjoint `[start, end)` ranges of SACKed sequence space, all
/// within `(SND.UNA, SND.NXT]`.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    ranges: Vec<(SeqNum, SeqNum)>,
    sacked: u32,
}

impl Scoreboard {
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Bytes SACKed above SND.UNA.
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked
    }

    /// One past the highest SACKed byte.
    pub fn highest(&self) -> Option<SeqNum> {
        self.ranges.last().map(|r| r.1)
    }

    /// Records a segment's SACK blocks. Blocks that are empty, reversed,
    /// or not within `(una, nxt]` are ignored (RFC 2018 §5 leaves them to
    /// be discarded; they may be stale or forged).
    pub fn update(&mut self, blocks: &SackBlocks, una: SeqNum, nxt: SeqNum) {
        for &(left, right) in blocks.as_slice() {
            let (left, right) = (SeqNum::new(left), SeqNum::new(right));
            if !left.before(right) || !una.before(right) || right.after(nxt) {
                continue;
            }
            self.insert(left.max(una), right);
        }
    }

    fn insert(&mut self, start: SeqNum, end: SeqNum) {
        let first = self.ranges.partition_point(|r| r.1.before(start));
        let last = self.ranges.partition_point(|r| r.0.before_or_eq(end));
        if first == last {
            self.ranges.insert(first, (start, end));
        } else {
            let merged = (start.min(self.ranges[first].0), end.max(self.ranges[last - 1].1));
            self.ranges.splice(first..last, [merged]);
        }
        if self.ranges.len() > MAX_RANGES {
            self.ranges.remove(0);
        }
        self.recount();
    }

    fn recount(&mut self) {
        self.sacked = self.ranges.iter().map(|r| r.1.distance_from(r.0)).sum();
    }

    /// Forgets everything at or below the new SND.UNA.
    pub fn advance(&mut self, una: SeqNum) {
        let before = self.ranges.len();
        self.ranges.retain(|r| r.1.after(una));
        let mut changed = before != self.ranges.len();
        if let Some(first) = self.ranges.first_mut().filter(|f| f.0.before(una)) {
            first.0 = una;
            changed = true;
        }
        if changed {
            self.recount();
        }
    }

    /// Forgets everything (after a retransmission timeout: the receiver
    /// may have reneged, RFC 2018 §8).
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.sacked = 0;
    }

    /// Whether the byte at `seq` has been SACKed.
    pub fn contains(&self, seq: SeqNum) -> bool {
        self.ranges.iter().any(|r| seq.in_range(r.0, r.1))
    }

    /// Bytes SACKed within `[from, to)`.
    pub fn sacked_within(&self, from: SeqNum, to: SeqNum) -> u32 {
        self.ranges
            .iter()
            .filter(|r| r.0.before(to) && r.1.after(from))
            .map(|r| r.1.min(to).distance_from(r.0.max(from)))
            .sum()
    }

    /// The first unSACKed range at or after `from` and below the highest
    /// SACKed byte: the next hole to retransmit (RFC 6675 §4 NextSeg rule 1).
    pub fn next_hole(&self, from: SeqNum) -> Option<(SeqNum, u32)> {
        let mut at = from;
        for &(start, end) in &self.ranges {
            if end.before_or_eq(at) {
                continue;
            }
            if at.before(start) {
                return Some((at, start.distance_from(at)));
            }
            at = end;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(list: &[(u32, u32)]) -> SackBlocks {
        let mut b = SackBlocks::default();
        for &(l, r) in list {
            b.push(l, r);
        }
        b
    }

    fn s(n: u32) -> SeqNum {
        SeqNum::new(n)
    }

    #[test]
    fn merges_validates_and_finds_holes() {
        let mut sb = Scoreboard::default();
        sb.update(&blocks(&[(300, 400), (100, 200), (50, 60), (900, 2000)]), s(100), s(1000));
        assert_eq!(sb.sacked_bytes(), 200, "blocks outside (una, max] are ignored");
        assert_eq!(sb.next_hole(s(100)), Some((s(200), 100)));
        assert_eq!(sb.next_hole(s(250)), Some((s(250), 50)));
        assert_eq!(sb.next_hole(s(400)), None);
        sb.update(&blocks(&[(200, 300)]), s(100), s(1000));
        assert_eq!(sb.sacked_bytes(), 300);
        assert_eq!(sb.highest(), Some(s(400)));
        assert_eq!(sb.sacked_within(s(150), s(350)), 200);
        sb.advance(s(350));
        assert_eq!(sb.sacked_bytes(), 50);
    }

    #[test]
    fn works_across_wrap() {
        let mut sb = Scoreboard::default();
        let una = s(u32::MAX - 100);
        sb.update(&blocks(&[(u32::MAX - 50, 20)]), una, s(500));
        assert_eq!(sb.sacked_bytes(), 71);
        assert_eq!(sb.next_hole(una), Some((una, 50)));
    }
}
