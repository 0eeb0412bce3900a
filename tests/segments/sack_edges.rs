//! The sender's SACK scoreboard under stress (RFC 2018, RFC 6675): more
//! SACKed ranges than it remembers (32), with the flight crossing 2^32.
//! A scripted receiver drops the first transmission of every other
//! segment in a large flight and acknowledges everything else at once,
//! with SACK blocks (the one holding the latest arrival first, RFC 2018
//! §4).

use crate::harness::*;

/// Which byte offsets the receiver holds, as sorted disjoint ranges.
#[derive(Default)]
struct Held(Vec<(u32, u32)>);

impl Held {
    fn insert(&mut self, s: u32, e: u32) {
        self.0.push((s, e));
        self.0.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::new();
        for &(s, e) in &self.0 {
            match out.last_mut() {
                Some(l) if s <= l.1 => l.1 = l.1.max(e),
                _ => out.push((s, e)),
            }
        }
        self.0 = out;
    }

    /// Bytes received in order.
    fn cumulative(&self) -> u32 {
        self.0.first().filter(|r| r.0 == 0).map_or(0, |r| r.1)
    }

    /// SACK blocks: the range holding `latest` first, then the highest.
    fn blocks(&self, latest: u32) -> Vec<(u32, u32)> {
        let cum = self.cumulative();
        let above: Vec<_> = self.0.iter().copied().filter(|r| r.0 > cum).collect();
        let first = above.iter().copied().find(|r| r.0 <= latest && latest < r.1);
        let rest = above.iter().rev().copied().filter(|r| Some(*r) != first);
        first.into_iter().chain(rest).take(4).collect()
    }
}

/// Our ISS for a SYN from the default peer at t = 0.
fn iss_base() -> u32 {
    let mut h = Harness::new(simple());
    h.listen();
    h.send_at(0, h.peer_syn(PeerOpts::plain()));
    h.recv_all(0)[0].seq
}

#[test]
fn more_sack_holes_than_the_scoreboard_remembers_still_recover() {
    const SEG: u32 = 1000;
    const TOTAL: u32 = 260 * SEG;
    // Our sequence space wraps 200 000 bytes in: inside the lossy stretch.
    let t0 = us(4 * u64::from((u32::MAX - 199_999).wrapping_sub(iss_base())));
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let cfg = with(simple(), |c| {
        c.sack = true;
        c.window_scaling = true
    });
    let opts = PeerOpts { mss: Some(1000), sack: true, ws: Some(4), ..PeerOpts::default() };
    let mut h = Harness::new(cfg);
    h.listen();
    h.open_passive(t0, at(100), opts);
    assert_eq!(h.l(200_000), 0);
    assert_eq!(h.write(at(200), &pattern(0, TOTAL as usize)), TOTAL as usize);
    let mut held = Held::default();
    let mut seen = vec![false; (TOTAL / SEG) as usize];
    let mut holes = 0;
    let mut peak_ranges = 0;
    let mut in_flight = h.recv_all(at(200));
    let mut ms = 200;
    while held.cumulative() < TOTAL {
        assert!(ms < 120_000, "stalled at {} of {TOTAL}", held.cumulative());
        ms += 10;
        let mut next = Vec::new();
        for s in core::mem::take(&mut in_flight) {
            let off = s.seq.wrapping_sub(h.l(1));
            let len = s.payload.len() as u32;
            assert!(off < TOTAL && len <= SEG, "{s:?}");
            assert_eq!(s.payload, pattern(off as usize, len as usize), "{s:?}");
            let k = (off / SEG) as usize;
            let first_time = off % SEG == 0 && !seen[k];
            seen[k] |= off % SEG == 0;
            // Once slow start has grown the flight past 150 segments, the
            // first transmission of every other segment of 151..251 is
            // lost: 50 holes in one window.
            if first_time && (151..251).contains(&k) && k % 2 == 1 {
                holes += 1;
                continue;
            }
            if len > 0 {
                held.insert(off, off + len);
            }
            peak_ranges = peak_ranges.max(held.0.iter().filter(|r| r.0 > 0).count());
            let blocks: Vec<(u32, u32)> =
                held.blocks(off).iter().map(|&(a, b)| (h.l(1 + a), h.l(1 + b))).collect();
            let ack = seg().seq(h.r(1)).ack(h.l(1 + held.cumulative())).sack(&blocks);
            h.send_at(at(ms), ack);
            next.extend(h.recv_all(at(ms)));
        }
        // With nothing in flight, only timers move things on.
        next.extend(h.recv_all(at(ms)));
        in_flight = next;
    }
    assert_eq!(holes, 50);
    assert!(peak_ranges > 32, "at most {peak_ranges} SACKed ranges at once: not beyond the scoreboard");
    let stats = h.stack.connection(h.sock()).unwrap().stats();
    assert_eq!(stats.timeouts, 0, "recovered without a retransmission timeout: {stats:?}");
}
