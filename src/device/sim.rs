//! A deterministic simulated point-to-point link, sans-IO.
//!
//! A [`SimLink`] carries packets in one direction. It never reads a clock:
//! every call takes `now`, and the link only schedules deliveries, which the
//! driver collects with [`SimLink::poll_deliver`] once its virtual clock has
//! reached [`SimLink::next_delivery`]. All randomness comes from a seeded
//! [`Rng`], so the same seed and the same sequence of calls always give the
//! same deliveries, bit for bit, on every platform.
//!
//! # Fault model
//!
//! [`SimLink::send`] decides a packet's whole fate at send time, in this order:
//!
//! 1. **MTU**: a packet longer than [`LinkConfig::mtu`] is dropped
//!    (`dropped_mtu`). Engines must never emit one, so this catches bugs.
//! 2. **Queue admission** (only with a bandwidth): packets whose serialization
//!    has not finished by `now` form the queue. The packet is dropped
//!    (`dropped_queue`, drop-tail) if the queue is non-empty and its bytes plus
//!    the packet's would exceed [`LinkConfig::queue_bytes`]. An idle link
//!    always accepts a packet, so `queue_bytes == 0` means "no buffer".
//! 3. **Serialization**: the packet finishes at
//!    `max(now, previous finish) + len * 8 / bandwidth_bps`, computed exactly
//!    (no per-packet rounding drift) and rounded up to a microsecond. With no
//!    bandwidth it finishes at `now`.
//! 4. **Loss**: with probability [`LinkConfig::loss`] the packet is dropped
//!    (`dropped_loss`). It has still used its serialization time: loss happens
//!    on the wire, after the bottleneck.
//! 5. **Duplication**: with probability [`LinkConfig::duplicate`] a second,
//!    independent copy is made (`duplicated`); it costs no extra bandwidth.
//! 6. **Per copy**: with probability [`LinkConfig::corrupt`] 1 to 3 distinct
//!    random bits of one 16-bit word (aligned to the packet start) are
//!    flipped (`corrupted`; empty packets are never corrupted). That is the
//!    corruption the Internet checksum is guaranteed to catch, so a stack
//!    that checks checksums must never deliver it; the copy arrives at `finish + delay + J (+ reorder_delay)`,
//!    where `J` is uniform in `[0, jitter]` (whole microseconds) and
//!    `reorder_delay` is added with probability [`LinkConfig::reorder`]
//!    (`reordered`).
//!
//! Packets are delivered in order of delivery time, ties in send order (the
//! original before its duplicate). Without jitter and reordering the link is
//! FIFO. **Jitter can reorder packets** sent less than `jitter` apart, as on
//! real links; both jitter and reorder are fault knobs, leave them at zero for
//! an in-order link.
//!
//! Randomness is drawn only for knobs that are enabled (a probability strictly
//! between 0 and 1, or a non-zero jitter), so an ideal link consumes none.

use core::cmp::Reverse;
use core::ops::RangeInclusive;
use core::time::Duration;
use std::collections::{BinaryHeap, VecDeque};

use crate::time::Instant;

/// Recycled buffers kept by a link at most.
const MAX_FREE_BUFFERS: usize = 256;

/// One step of SplitMix64, used to expand a seed into generator state.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small, fast, seedable pseudo-random generator: xoshiro256** seeded
/// through SplitMix64.
///
/// Not cryptographic. Output depends only on the seed and the sequence of
/// calls (integer arithmetic only, little-endian byte output), so it is the
/// same on every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is expanded from `seed` with SplitMix64. Any
    /// seed, including 0, is fine.
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        Rng { s: [(); 4].map(|()| splitmix64(&mut sm)) }
    }

    /// A new generator seeded from this one's next output: an independent
    /// stream, e.g. one per simulated application.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }

    /// The next 64 uniformly random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)`, with 53 bits of precision.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)`, exactly unbiased (Lemire's
    /// multiply-and-reject; almost always a single draw). Panics if `n == 0`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// A uniform integer in the inclusive `range` (`lo..=hi`, up to
    /// `0..=u64::MAX`). Panics if the range is empty.
    pub fn range_u64(&mut self, range: RangeInclusive<u64>) -> u64 {
        let (lo, hi) = range.into_inner();
        assert!(lo <= hi, "Rng::range_u64: empty range");
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// `true` with probability `p`. Draws nothing (and is deterministic) when
    /// `p <= 0` or NaN (always `false`) or `p >= 1` (always `true`).
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.next_f64() < p
        }
    }

    /// Fills `dest` with random bytes, eight per draw (little-endian), so the
    /// output is the same on every platform.
    pub fn fill_bytes(&mut self, dest: &mut [u8]) {
        let mut chunks = dest.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&bytes[..rest.len()]);
        }
    }
}

/// The behaviour of one direction of a [`SimLink`]; see the
/// [module documentation](self) for the exact fault model.
///
/// All fields are public; start from [`LinkConfig::ideal`] or `Default` and
/// override with struct-update syntax:
/// `LinkConfig { loss: 0.01, ..LinkConfig::ideal(Duration::from_millis(10)) }`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay, added after serialization.
    pub delay: Duration,
    /// Maximum extra delay; each copy gets a uniform extra in `[0, jitter]`.
    /// Non-zero jitter can reorder packets sent close together.
    pub jitter: Duration,
    /// Probability that a packet is lost (after using its serialization time).
    pub loss: f64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a copy is held back by an extra `reorder_delay`, so it
    /// arrives after packets sent later.
    pub reorder: f64,
    /// Extra delay of a reordered copy.
    pub reorder_delay: Duration,
    /// Probability that a copy has 1 to 3 distinct random bits of one
    /// aligned 16-bit word flipped (always caught by the checksum).
    pub corrupt: f64,
    /// Serialization rate in bits per second; `None` is infinitely fast.
    pub bandwidth_bps: Option<u64>,
    /// Drop-tail limit on the bytes waiting for serialization (only used with
    /// a bandwidth). An idle link always accepts a packet.
    pub queue_bytes: usize,
    /// Longest packet carried; longer ones are dropped and counted.
    pub mtu: usize,
}

impl Default for LinkConfig {
    /// No delay, no faults, infinite bandwidth, a 64 KiB queue (unused until a
    /// bandwidth is set) and an MTU of 1500.
    fn default() -> LinkConfig {
        LinkConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            corrupt: 0.0,
            bandwidth_bps: None,
            queue_bytes: 64 * 1024,
            mtu: 1500,
        }
    }
}

impl LinkConfig {
    /// A fault-free, infinitely fast link with a one-way `delay`.
    pub fn ideal(delay: Duration) -> LinkConfig {
        LinkConfig { delay, ..LinkConfig::default() }
    }

    /// A fault model with every knob drawn from `rng`, as the simulation
    /// suites use: one-way delay 0.1-40 ms, jitter up to 5 ms half the
    /// time, loss up to `max_loss`, duplication (≤ 5 %), reordering
    /// (≤ 10 %) and corruption (≤ 5 %) each on 30 % of links, an MTU that
    /// carries 64 KB super-segments whole on 20 % (as a TUN hands over the
    /// kernel's GSO packets), and a 2-100 Mbit/s bottleneck with a 16-256
    /// KB drop-tail queue on 40 %.
    pub fn random(rng: &mut Rng, max_loss: f64) -> LinkConfig {
        let mut cfg = LinkConfig {
            delay: Duration::from_micros(rng.range_u64(100..=40_000)),
            jitter: Duration::from_micros(if rng.chance(0.5) { rng.range_u64(0..=5_000) } else { 0 }),
            loss: rng.next_f64() * max_loss,
            duplicate: if rng.chance(0.3) { rng.next_f64() * 0.05 } else { 0.0 },
            reorder: if rng.chance(0.3) { rng.next_f64() * 0.10 } else { 0.0 },
            reorder_delay: Duration::from_micros(rng.range_u64(1_000..=20_000)),
            corrupt: if rng.chance(0.3) { rng.next_f64() * 0.05 } else { 0.0 },
            ..LinkConfig::default()
        };
        if rng.chance(0.2) {
            cfg.mtu = 65_535 + 100;
        }
        if rng.chance(0.4) {
            cfg.bandwidth_bps = Some(rng.range_u64(2_000_000..=100_000_000));
            cfg.queue_bytes = rng.range_u64(16_384..=262_144) as usize;
        }
        cfg
    }

    fn validate(&self) {
        let probabilities = [self.loss, self.duplicate, self.reorder, self.corrupt];
        let valid = probabilities.iter().all(|p| (0.0..=1.0).contains(p));
        assert!(valid, "LinkConfig: probabilities must be in [0, 1]: {self:?}");
        assert_ne!(self.bandwidth_bps, Some(0), "LinkConfig: zero bandwidth");
    }
}

/// A packet delivered by a [`SimLink`]. (`Ord` is lexicographic by field and
/// has no particular meaning; it lets the link keep packets in a heap.)
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Packet {
    /// The bytes, possibly corrupted. Hand the buffer back with
    /// [`SimLink::recycle`] to spare an allocation.
    pub data: Vec<u8>,
    /// When [`SimLink::send`] was called.
    pub sent_at: Instant,
    /// When the packet became deliverable.
    pub deliver_at: Instant,
    /// This is the second copy made by duplication.
    pub duplicate: bool,
    /// Bits were flipped in this copy.
    pub corrupted: bool,
    /// This copy was held back by `reorder_delay`.
    pub reordered: bool,
}

/// Counters kept by a [`SimLink`].
///
/// Every send is accounted for:
/// `sent + duplicated == dropped_mtu + dropped_queue + dropped_loss +
/// delivered + in_flight`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Calls to [`SimLink::send`].
    pub sent: u64,
    /// Packets (copies) returned by [`SimLink::poll_deliver`].
    pub delivered: u64,
    /// Packets dropped by the loss knob.
    pub dropped_loss: u64,
    /// Packets dropped because the serialization queue was full.
    pub dropped_queue: u64,
    /// Packets dropped for exceeding the MTU.
    pub dropped_mtu: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Copies with flipped bits.
    pub corrupted: u64,
    /// Copies delayed by `reorder_delay` (whether or not another packet
    /// actually overtook them).
    pub reordered: u64,
    /// Bytes in delivered copies.
    pub bytes_delivered: u64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One direction of a simulated point-to-point link with seeded faults.
///
/// See the [module documentation](self) for the fault model.
#[derive(Debug)]
pub struct SimLink {
    config: LinkConfig,
    rng: Rng,
    /// Min-heap on `(deliver_at, send sequence number)`; the sequence number
    /// is unique, so packets themselves are never compared.
    scheduled: BinaryHeap<Reverse<(Instant, u64, Packet)>>,
    next_seq: u64,
    /// When the transmitter becomes idle, in units of 1/bps microseconds, so
    /// serialization times add up exactly.
    busy_until: u128,
    /// `(finish, len)` of packets still being serialized, in send order.
    queue: VecDeque<(Instant, usize)>,
    queued_bytes: usize,
    free: Vec<Vec<u8>>,
    stats: LinkStats,
}

impl SimLink {
    /// A link behaving as `config`, with faults drawn from `Rng::new(rng_seed)`.
    /// Panics if a probability is outside `[0, 1]` or `bandwidth_bps` is `Some(0)`.
    pub fn new(config: LinkConfig, rng_seed: u64) -> SimLink {
        config.validate();
        SimLink {
            config,
            rng: Rng::new(rng_seed),
            scheduled: BinaryHeap::new(),
            next_seq: 0,
            busy_until: 0,
            queue: VecDeque::new(),
            queued_bytes: 0,
            free: Vec::new(),
            stats: LinkStats::default(),
        }
    }

    /// The current configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Replaces the configuration, e.g. to partition (`loss = 1.0`) and heal
    /// the link. Packets already in flight keep their schedule. If the old and
    /// new configurations both have a bandwidth, the transmitter stays busy
    /// until the packets already queued finish; otherwise it starts idle.
    /// Panics as [`SimLink::new`].
    pub fn set_config(&mut self, config: LinkConfig) {
        config.validate();
        self.busy_until = match (self.config.bandwidth_bps, config.bandwidth_bps) {
            (Some(old), Some(new)) => {
                self.busy_until.div_ceil(u128::from(old)).saturating_mul(u128::from(new))
            }
            _ => {
                self.queue.clear();
                self.queued_bytes = 0;
                0
            }
        };
        self.config = config;
    }

    /// Offers `packet` to the link at `now`, deciding its fate (drop, or one
    /// or two scheduled deliveries) as described in the module documentation.
    pub fn send(&mut self, now: Instant, packet: &[u8]) {
        self.stats.sent += 1;
        let len = packet.len();
        if len > self.config.mtu {
            self.stats.dropped_mtu += 1;
            return;
        }
        let finish = match self.config.bandwidth_bps {
            None => now,
            Some(bps) => {
                while let Some(&(done, bytes)) = self.queue.front() {
                    if done > now {
                        break;
                    }
                    self.queue.pop_front();
                    self.queued_bytes -= bytes;
                }
                if !self.queue.is_empty() && self.queued_bytes.saturating_add(len) > self.config.queue_bytes {
                    self.stats.dropped_queue += 1;
                    return;
                }
                let bps = u128::from(bps);
                let start = self.busy_until.max(u128::from(now.as_micros()) * bps);
                self.busy_until = start.saturating_add(len as u128 * 8_000_000);
                let done = u64::try_from(self.busy_until.div_ceil(bps)).unwrap_or(u64::MAX);
                let finish = Instant::from_micros(done);
                self.queue.push_back((finish, len));
                self.queued_bytes += len;
                finish
            }
        };
        if self.rng.chance(self.config.loss) {
            self.stats.dropped_loss += 1;
            return;
        }
        let duplicate = self.rng.chance(self.config.duplicate);
        self.schedule(now, finish, packet, false);
        if duplicate {
            self.stats.duplicated += 1;
            self.schedule(now, finish, packet, true);
        }
    }

    /// Applies the per-copy faults and queues one delivery.
    fn schedule(&mut self, now: Instant, finish: Instant, data: &[u8], duplicate: bool) {
        let mut buf = self.free.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        let corrupted = !buf.is_empty() && self.rng.chance(self.config.corrupt);
        if corrupted {
            self.stats.corrupted += 1;
            flip_bits(&mut self.rng, &mut buf);
        }
        let mut delay = micros(self.config.delay);
        let jitter = micros(self.config.jitter);
        if jitter > 0 {
            delay = delay.saturating_add(self.rng.range_u64(0..=jitter));
        }
        let reordered = self.rng.chance(self.config.reorder);
        if reordered {
            self.stats.reordered += 1;
            delay = delay.saturating_add(micros(self.config.reorder_delay));
        }
        let deliver_at = Instant::from_micros(finish.as_micros().saturating_add(delay));
        let seq = self.next_seq;
        self.next_seq += 1;
        let packet = Packet { data: buf, sent_at: now, deliver_at, duplicate, corrupted, reordered };
        self.scheduled.push(Reverse((deliver_at, seq, packet)));
    }

    /// When the earliest scheduled packet becomes deliverable, if any.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.scheduled.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next packet whose delivery time is `<= now`, in delivery-time
    /// order (ties in send order), or `None` if none is due yet.
    pub fn poll_deliver(&mut self, now: Instant) -> Option<Packet> {
        if self.next_delivery()? > now {
            return None;
        }
        let Reverse((_, _, packet)) = self.scheduled.pop()?;
        self.stats.delivered += 1;
        self.stats.bytes_delivered += packet.data.len() as u64;
        Some(packet)
    }

    /// Returns a buffer (typically a delivered [`Packet::data`]) for reuse by
    /// later sends. Keeps at most a few hundred; the rest are freed.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() > 0 && self.free.len() < MAX_FREE_BUFFERS {
            self.free.push(buf);
        }
    }

    /// Copies scheduled but not yet delivered (including those still being
    /// serialized).
    pub fn in_flight(&self) -> usize {
        self.scheduled.len()
    }

    /// The counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }
}

/// Flips 1 to 3 distinct random bits of one aligned 16-bit word of the
/// non-empty `buf`.
fn flip_bits(rng: &mut Rng, buf: &mut [u8]) {
    // One 16-bit word, aligned to the packet start as the Internet
    // checksum's words are: flipping 1 to 3 of its bits changes the word by
    // a non-zero amount below 0xffff, which a one's-complement sum always
    // detects (RFC 1071). Flips spread over several words could cancel.
    let word = rng.below(buf.len().div_ceil(2) as u64) as usize * 2;
    let bits = (buf.len() - word).min(2) as u64 * 8;
    let count = rng.range_u64(1..=3).min(bits) as usize;
    let mut flipped = [0u64; 3];
    let mut k = 0;
    while k < count {
        let bit = rng.below(bits);
        if !flipped[..k].contains(&bit) {
            flipped[k] = bit;
            buf[word + (bit / 8) as usize] ^= 1 << (bit % 8);
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const T0: Instant = Instant::ZERO;

    fn us(t: u64) -> Instant {
        Instant::from_micros(t)
    }

    fn new_link(seed: u64, f: impl FnOnce(&mut LinkConfig)) -> SimLink {
        let mut config = LinkConfig::ideal(MS);
        f(&mut config);
        SimLink::new(config, seed)
    }

    /// Delivers everything, advancing the clock to each delivery time, and
    /// checks that every send is accounted for.
    fn drain(link: &mut SimLink) -> Vec<Packet> {
        let mut out = Vec::new();
        while let Some(t) = link.next_delivery() {
            out.extend(std::iter::from_fn(|| link.poll_deliver(t)));
        }
        let s = link.stats();
        let gone = s.dropped_mtu + s.dropped_queue + s.dropped_loss + s.delivered;
        assert_eq!((s.sent + s.duplicated, link.in_flight()), (gone, 0));
        out
    }

    fn number(p: &Packet) -> u32 {
        u32::from_be_bytes(p.data[..4].try_into().unwrap())
    }

    fn times(out: &[Packet]) -> Vec<u64> {
        out.iter().map(|p| p.deliver_at.as_micros()).collect()
    }

    #[test]
    fn rng_matches_reference_and_is_deterministic() {
        assert_eq!(splitmix64(&mut 0), 0xE220_A839_7B1D_CDAF);
        let mut rng = Rng { s: [1, 2, 3, 4] };
        let out: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
        assert_eq!(out, [11520, 0, 1509978240, 1215971899390074240]);

        let draw = |seed| {
            let mut rng = Rng::new(seed);
            let mut buf = [0u8; 13];
            rng.fill_bytes(&mut buf);
            (buf, rng.below(1000), rng.range_u64(5..=9), rng.fork().next_u64())
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));

        let mut rng = Rng::new(1);
        let mut counts = [0u32; 10];
        (0..100_000).for_each(|_| counts[rng.below(10) as usize] += 1);
        assert!(counts.iter().all(|n| (9_500..10_500).contains(n)), "{counts:?}");
        assert!((0..1000).all(|_| (5..=8).contains(&rng.range_u64(5..=8))));
        assert_eq!(rng.range_u64(9..=9), 9);
        rng.range_u64(0..=u64::MAX);
        let hits = (0..100_000).filter(|_| rng.chance(0.25)).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
        assert!(!rng.chance(0.0) && rng.chance(1.0) && !rng.chance(f64::NAN));
    }

    fn run(seed: u64) -> (Vec<Packet>, LinkStats) {
        let mut link = new_link(seed, |c| {
            (c.loss, c.duplicate, c.reorder, c.corrupt) = (0.1, 0.1, 0.1, 0.1);
            (c.jitter, c.reorder_delay) = (2 * MS, 5 * MS);
            (c.bandwidth_bps, c.queue_bytes) = (Some(10_000_000), 20_000);
        });
        let (mut data, mut out, mut buf) = (Rng::new(99), Vec::new(), [0u8; 1500]);
        for i in 0..2000 {
            out.extend(std::iter::from_fn(|| link.poll_deliver(us(i * 500))));
            let len = data.range_u64(0..=1500) as usize;
            data.fill_bytes(&mut buf[..len]);
            link.send(us(i * 500), &buf[..len]);
        }
        out.extend(drain(&mut link));
        (out, link.stats())
    }

    #[test]
    fn link_is_deterministic() {
        let (a, stats) = run(1);
        assert_eq!((a.clone(), stats), run(1));
        assert_ne!((a.clone(), stats), run(2));
        assert!(stats.dropped_loss > 0 && stats.duplicated > 0 && stats.corrupted > 0);
        assert!(stats.reordered > 0 && stats.dropped_queue > 0);
        assert!(a.windows(2).all(|w| w[0].deliver_at <= w[1].deliver_at));
    }

    #[test]
    fn loss_rate_is_near_configured() {
        let mut link = new_link(3, |c| c.loss = 0.05);
        for i in 0..100_000 {
            link.send(us(i), &[0; 40]);
            while let Some(p) = link.poll_deliver(us(i + 1000)) {
                link.recycle(p.data);
            }
        }
        let s = link.stats();
        let rate = s.dropped_loss as f64 / 100_000.0;
        assert!((rate - 0.05).abs() < 0.003, "loss rate {rate}");
        drain(&mut link);
        assert_eq!(link.stats().bytes_delivered, (100_000 - s.dropped_loss) * 40);
    }

    #[test]
    fn bandwidth_paces_deliveries() {
        let mut link = new_link(0, |c| {
            (c.delay, c.bandwidth_bps, c.queue_bytes) = (5 * MS, Some(10_000_000), usize::MAX)
        });
        (0..1000).for_each(|_| link.send(T0, &[0; 1250]));
        let expected: Vec<u64> = (1..=1000).map(|i| i * 1000 + 5000).collect();
        assert_eq!(times(&drain(&mut link)), expected); // last at 1.005 s

        // Fractional serialization times add up exactly: 8 bits at 3 bit/s.
        let mut link = new_link(0, |c| (c.delay, c.bandwidth_bps) = (Duration::ZERO, Some(3)));
        (0..3).for_each(|_| link.send(T0, &[0]));
        assert_eq!(times(&drain(&mut link)), [2_666_667, 5_333_334, 8_000_000]);
    }

    #[test]
    fn drop_tail_queue_overflows() {
        let mut link = new_link(0, |c| (c.bandwidth_bps, c.queue_bytes) = (Some(1_000_000), 10_000));
        (0..100).for_each(|_| link.send(T0, &[0; 1000]));
        assert_eq!((link.stats().dropped_queue, link.in_flight()), (90, 10));
        // 1000 bytes take 8 ms at 1 Mbit/s: one slot frees up at 8 ms.
        for t in [7_999, 8_000, 8_000] {
            link.send(us(t), &[0; 1000]);
        }
        assert_eq!(link.stats().dropped_queue, 92);
        assert_eq!(times(&drain(&mut link)).last(), Some(&89_000));

        // An idle link accepts a packet even with no buffer at all.
        let mut link = new_link(0, |c| (c.bandwidth_bps, c.queue_bytes) = (Some(1_000_000), 0));
        for t in [0, 0, 8_000] {
            link.send(us(t), &[0; 1000]);
        }
        assert_eq!((link.stats().dropped_queue, link.in_flight()), (1, 2));
    }

    #[test]
    fn corruption_flips_one_to_three_bits() {
        let mut link = new_link(5, |c| c.corrupt = 1.0);
        let original = [0x5Au8; 64];
        (0..300).for_each(|_| link.send(T0, &original));
        link.send(T0, &[]);
        let out = drain(&mut link);
        let mut seen = [false; 4];
        for p in &out[..300] {
            let flips = p.data.iter().zip(&original).map(|(a, b)| (a ^ b).count_ones());
            let flips = flips.sum::<u32>() as usize;
            assert!(p.corrupted && (1..=3).contains(&flips));
            seen[flips] = true;
            let words: std::collections::HashSet<_> = p
                .data
                .iter()
                .zip(&original)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, _)| i / 2)
                .collect();
            assert_eq!(words.len(), 1, "flips stay within one checksum word");
        }
        assert_eq!(seen, [false, true, true, true]);
        assert!(out[300].data.is_empty() && !out[300].corrupted);
        assert_eq!(link.stats().corrupted, 300);
    }

    #[test]
    fn duplication_makes_copies() {
        let mut link = new_link(0, |c| c.duplicate = 1.0);
        (0..10u32).for_each(|i| link.send(us(i.into()), &i.to_be_bytes()));
        let out = drain(&mut link);
        assert_eq!(out.len(), 20);
        for (i, pair) in (0..).zip(out.chunks(2)) {
            assert_eq!((number(&pair[0]), number(&pair[1])), (i, i));
            assert!(!pair[0].duplicate && pair[1].duplicate);
        }
        assert_eq!(link.stats().duplicated, 10);
    }

    #[test]
    fn reorder_delivers_out_of_order() {
        let order = |reorder| {
            let mut link = new_link(11, |c| (c.reorder, c.reorder_delay) = (reorder, 5 * MS));
            (0..1000u32).for_each(|i| link.send(us(u64::from(i) * 100), &i.to_be_bytes()));
            let order: Vec<u32> = drain(&mut link).iter().map(number).collect();
            (order, link.stats().reordered)
        };
        let (reordered, count) = order(0.1);
        let inversions = reordered.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(inversions > 50 && (60..140).contains(&count), "{inversions} {count}");
        let (in_order, count) = order(0.0);
        assert!(in_order.windows(2).all(|w| w[0] < w[1]) && count == 0);
    }

    #[test]
    fn delay_and_jitter_are_respected() {
        let mut link = new_link(0, |c| c.delay = 10 * MS);
        link.send(us(1_000), b"a");
        link.send(us(1_000), b"b");
        assert_eq!(link.next_delivery(), Some(us(11_000)));
        assert!(link.poll_deliver(us(10_999)).is_none());
        assert_eq!(link.poll_deliver(us(11_000)).unwrap().data, b"a");
        assert_eq!(link.poll_deliver(us(11_000)).unwrap().data, b"b");
        assert_eq!((link.poll_deliver(us(99_999)), link.next_delivery()), (None, None));

        let mut link = new_link(4, |c| (c.delay, c.jitter) = (10 * MS, 3 * MS));
        (0..1000).for_each(|_| link.send(T0, b"x"));
        let times = times(&drain(&mut link));
        assert!(times.iter().all(|t| (10_000..=13_000).contains(t)));
        assert!(times[0] < 10_100 && times[999] > 12_900);
    }

    #[test]
    fn oversized_packets_are_dropped() {
        let mut link = new_link(0, |c| c.mtu = 100);
        link.send(T0, &[0; 101]);
        link.send(T0, &[0; 100]);
        assert_eq!((link.stats().sent, link.stats().dropped_mtu), (2, 1));
        assert_eq!(drain(&mut link)[0].data.len(), 100);
    }

    #[test]
    fn set_config_partitions_and_heals() {
        let mut link = new_link(0, |c| c.loss = 1.0);
        link.send(T0, b"lost");
        link.set_config(LinkConfig::ideal(MS));
        link.send(T0, b"ok");
        assert_eq!(drain(&mut link).len(), 1);
        assert_eq!(link.stats().dropped_loss, 1);
    }
}
