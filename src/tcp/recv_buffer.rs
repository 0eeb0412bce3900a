//! The receive buffer: in-order bytes waiting for the application, and
//! out-of-order bytes waiting for the gap before them to fill (RFC 9293
//! §3.10.7.4, "segment text").

use super::assembler::{Assembler, Range};
use super::send_buffer::INITIAL_RING;

/// Most separate out-of-order ranges held at once; a segment that would
/// need more is dropped (the peer retransmits it).
const MAX_OUT_OF_ORDER_RANGES: usize = 32;

/// A bounded ring of bytes addressed by stream offset (bytes since the
/// start of the stream). Bytes `[read_offset, in_order_end)` are readable;
/// bytes beyond `in_order_end` are held out of order. The ring holds the
/// byte at offset `o` at `o % ring`; it is allocated on first use, small,
/// and grows (doubling, up to the capacity) only as far as the bytes held
/// need, so a connection that moves little data costs little memory and no
/// large zeroing.
///
/// Out-of-order bytes grow the ring beyond its first `INITIAL_RING`
/// bytes only while the bytes held fill at least a quarter of the span it
/// must cover: a byte at the edge of the window must not allocate the
/// whole ring. While buffer
/// memory is under pressure ([`RecvBuffer::set_growth`]) the window offered
/// stays within the ring as it is, and once memory runs out no byte that
/// needs more storage is taken.
#[derive(Debug)]
pub struct RecvBuffer {
    storage: Vec<u8>,
    capacity: usize,
    /// Stream offset of the first unread byte.
    read_offset: u64,
    /// Stream offset one past the last in-order byte.
    in_order_end: u64,
    out_of_order: Assembler,
    growth: Growth,
    /// Bytes in the window not taken because the ring could not grow.
    refused: u64,
}

/// How far the ring of a [`RecvBuffer`] may grow (from the stack's
/// accounting of buffer memory, RFC 9293 §3.8.6.2.2's "resources").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// Up to the capacity.
    Free,
    /// The window offered stays within the ring as it is (or its first
    /// `INITIAL_RING` bytes), but bytes already offered are still taken.
    NoNewOffers,
    /// Nothing beyond the ring as it is (or its first bytes) is taken.
    None,
}

/// Copies `a` then `b` into `buf`, as much as fits: how many bytes.
pub fn copy_slices(buf: &mut [u8], a: &[u8], b: &[u8]) -> usize {
    let first = a.len().min(buf.len());
    let second = b.len().min(buf.len() - first);
    buf[..first].copy_from_slice(&a[..first]);
    buf[first..first + second].copy_from_slice(&b[..second]);
    first + second
}

/// What [`RecvBuffer::write_at`] did with a segment's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// How far the in-order point moved (new readable bytes).
    pub advanced: usize,
    /// Whether the bytes were stored at all (false: no room to track them).
    pub stored: bool,
}

impl RecvBuffer {
    pub fn new(capacity: usize) -> RecvBuffer {
        RecvBuffer {
            storage: Vec::new(),
            capacity: capacity.max(1),
            read_offset: 0,
            in_order_end: 0,
            out_of_order: Assembler::new(MAX_OUT_OF_ORDER_RANGES),
            growth: Growth::Free,
            refused: 0,
        }
    }

    /// Bytes within the window not taken so far because the ring could not
    /// grow for them (memory pressure, or out-of-order bytes too sparse).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Sets how far the ring may grow.
    pub fn set_growth(&mut self, growth: Growth) {
        self.growth = growth;
    }

    /// The ring as it is, or its first allocation: what every connection
    /// may hold whatever the memory pressure.
    fn kept(&self) -> usize {
        self.storage.len().max(INITIAL_RING).min(self.capacity)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Frees the storage if nothing is held, in order or out of order (it
    /// is allocated again, zeroed, on the next write).
    pub fn release_storage(&mut self) {
        if self.readable() == 0 && !self.has_out_of_order() {
            self.storage = Vec::new();
        }
    }

    /// Bytes of storage allocated for the ring (what the buffer costs in
    /// memory now, at most its capacity plus one scaling unit).
    pub fn allocated(&self) -> usize {
        self.storage.len()
    }

    /// Bytes ready for the application.
    pub fn readable(&self) -> usize {
        (self.in_order_end - self.read_offset) as usize
    }

    /// Room beyond the in-order point: the largest window we may offer.
    pub fn window(&self) -> usize {
        let limit = if self.growth == Growth::Free { self.capacity } else { self.kept() };
        limit.saturating_sub(self.readable())
    }

    /// Stream offset one past the last in-order byte.
    pub fn in_order_end(&self) -> u64 {
        self.in_order_end
    }

    /// Whether out-of-order data is held.
    pub fn has_out_of_order(&self) -> bool {
        !self.out_of_order.is_empty()
    }

    /// Out-of-order ranges, most recent first (RFC 2018 §4).
    pub fn sack_ranges(&self) -> impl Iterator<Item = Range> + '_ {
        self.out_of_order.sack_order()
    }

    /// Stores `data`, which starts `offset` bytes past the in-order point,
    /// clipped to the window. Bytes already held are written again with the
    /// same stream positions, so overlap never duplicates or reorders data.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Accepted {
        self.write_within(offset, data, 0)
    }

    /// [`RecvBuffer::write_at`], taking bytes up to `offered` past the
    /// in-order point even where that passes the capacity. A window scaled
    /// and rounded up to whole units (RFC 7323 §2.4) can offer a few bytes
    /// more than the buffer has free, and what was offered must be taken:
    /// the peer counts it as sent, and if it were dropped the peer's later
    /// ACKs would carry a sequence number beyond our window and be
    /// discarded, until both ends have backed off into a stall.
    pub fn write_within(&mut self, offset: usize, data: &[u8], offered: usize) -> Accepted {
        let window = self.window().max(offered);
        let room = self.room(offset, data.len(), window).min(window);
        let in_window = data.len().min(window.saturating_sub(offset));
        let data = &data[..data.len().min(room.saturating_sub(offset))];
        self.refused += (in_window - data.len()) as u64;
        if data.is_empty() {
            return Accepted { advanced: 0, stored: in_window == 0 && offset < window };
        }
        let start = self.in_order_end + offset as u64;
        let end = start + data.len() as u64;
        if offset > 0 && !self.out_of_order.insert(start, end) {
            return Accepted { advanced: 0, stored: false };
        }
        self.reserve(end, window);
        let ring = self.storage.len();
        let at = (start % ring as u64) as usize;
        let first = data.len().min(ring - at);
        self.storage[at..at + first].copy_from_slice(&data[..first]);
        self.storage[..data.len() - first].copy_from_slice(&data[first..]);
        let before = self.in_order_end;
        if offset == 0 {
            self.in_order_end = end;
        }
        if let Some(new_end) = self.out_of_order.pop_front(self.in_order_end) {
            self.in_order_end = self.in_order_end.max(new_end);
        }
        Accepted { advanced: (self.in_order_end - before) as usize, stored: true }
    }

    /// How far past the in-order point `len` bytes at `offset` may be
    /// stored: anywhere in the window when the ring may grow for them,
    /// else only within the ring as it is (or its first allocation).
    fn room(&self, offset: usize, len: usize, window: usize) -> usize {
        let readable = self.readable();
        let needed = readable + offset + len.min(window.saturating_sub(offset));
        let ring = self.storage.len();
        if needed <= ring {
            return window;
        }
        let grow = match self.growth {
            Growth::None => false,
            // In order, the bytes fill what they grow; out of order, they
            // must fill a quarter of the span the ring then covers.
            _ if offset == 0 => true,
            _ => 4 * (readable + self.out_of_order_bytes() + len) >= needed,
        };
        if grow { window } else { self.kept().saturating_sub(readable) }
    }

    /// Bytes held out of order.
    fn out_of_order_bytes(&self) -> usize {
        self.out_of_order.ranges().iter().map(|r| (r.end - r.start) as usize).sum()
    }

    /// Copies readable bytes into `buf`, returning how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let (a, b) = self.readable_slices();
        let n = copy_slices(buf, a, b);
        self.consume(n)
    }

    /// The readable bytes where they lie in the ring: in order, the first
    /// slice then the second (empty unless the bytes wrap around the end).
    pub fn readable_slices(&self) -> (&[u8], &[u8]) {
        let n = self.readable();
        if n == 0 {
            return (&[], &[]);
        }
        let ring = self.storage.len();
        let at = (self.read_offset % ring as u64) as usize;
        let first = n.min(ring - at);
        (&self.storage[at..at + first], &self.storage[..n - first])
    }

    /// Drops the first `n` readable bytes (at most what is readable),
    /// returning how many.
    pub fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.readable());
        self.read_offset += n as u64;
        n
    }

    /// Grows the ring so that it can hold every byte up to stream offset
    /// `end` (which lies within the capacity past `read_offset`), moving
    /// the bytes it may hold to their places in the larger ring.
    fn reserve(&mut self, end: u64, window: usize) {
        let ring = self.storage.len();
        let needed = (end - self.read_offset) as usize;
        if needed <= ring {
            return;
        }
        let new_len = needed.max(ring * 2).max(INITIAL_RING).min(self.capacity.max(self.readable() + window));
        let mut grown = vec![0u8; new_len];
        if ring > 0 {
            // Every byte the old ring can hold lies in
            // [read_offset, read_offset + ring): lay them out in order, then
            // place them by the new modulus.
            let at = (self.read_offset % ring as u64) as usize;
            let live: Vec<u8> = self.storage[at..].iter().chain(&self.storage[..at]).copied().collect();
            let new_at = (self.read_offset % new_len as u64) as usize;
            let first = ring.min(new_len - new_at);
            grown[new_at..new_at + first].copy_from_slice(&live[..first]);
            grown[..ring - first].copy_from_slice(&live[first..]);
        }
        self.storage = grown;
    }

    /// Forgets out-of-order bytes from `offset` past the in-order point
    /// onwards (the peer's FIN showed they are not part of the stream).
    pub fn truncate(&mut self, offset: usize) {
        self.out_of_order.truncate(self.in_order_end + offset as u64);
    }

    /// Throws away all readable bytes (after `shutdown(Read)`).
    pub fn discard_readable(&mut self) -> usize {
        let n = self.readable();
        self.read_offset = self.in_order_end;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_released_only_when_nothing_is_held() {
        let mut b = RecvBuffer::new(8);
        b.write_at(4, b"ef");
        b.release_storage();
        assert!(!b.storage.is_empty(), "out-of-order bytes are held");
        b.write_at(0, b"abcd");
        b.release_storage();
        let mut out = [0u8; 8];
        assert_eq!(b.read(&mut out), 6);
        assert_eq!(&out[..6], b"abcdef");
        b.release_storage();
        assert!(b.storage.is_empty());
        b.write_at(0, b"gh");
        assert_eq!(b.read(&mut out), 2);
        assert_eq!(&out[..2], b"gh");
    }
    use proptest::prelude::*;

    #[test]
    fn a_byte_at_the_window_edge_does_not_grow_the_ring() {
        let cap = 64 * INITIAL_RING;
        let mut b = RecvBuffer::new(cap);
        assert_eq!(b.write_at(cap - 1, b"x"), Accepted { advanced: 0, stored: false });
        assert_eq!(b.allocated(), 0);
        // Within the first ring it is held.
        assert!(b.write_at(INITIAL_RING - 1, b"y").stored);
        assert_eq!(b.allocated(), INITIAL_RING);
        // Out-of-order data that fills a quarter of the span grows the ring.
        let big = vec![1u8; 2 * INITIAL_RING];
        assert!(b.write_at(INITIAL_RING, &big).stored);
        assert!(b.allocated() >= 3 * INITIAL_RING && b.allocated() <= 4 * 3 * INITIAL_RING);
        // In order, the ring grows as far as the bytes need.
        let mut c = RecvBuffer::new(cap);
        assert_eq!(c.write_at(0, &vec![2u8; cap]).advanced, cap);
        assert_eq!(c.allocated(), cap);
    }

    #[test]
    fn growth_under_memory_pressure() {
        let mut b = RecvBuffer::new(16 * INITIAL_RING);
        b.set_growth(Growth::NoNewOffers);
        assert_eq!(b.window(), INITIAL_RING, "offers only the first ring");
        // What was offered before is still taken.
        assert_eq!(b.write_within(0, &[1u8; 3 * INITIAL_RING], 8 * INITIAL_RING).advanced, 3 * INITIAL_RING);
        b.set_growth(Growth::None);
        let n = b.write_within(0, &[1u8; 3 * INITIAL_RING], 8 * INITIAL_RING).advanced;
        assert_eq!(n, b.allocated() - 3 * INITIAL_RING, "only what the ring holds as it is");
        b.set_growth(Growth::Free);
        assert_eq!(b.window(), 16 * INITIAL_RING - b.readable());
    }

    #[test]
    fn in_order_and_gap_fill() {
        let mut b = RecvBuffer::new(16);
        assert_eq!(b.write_at(0, b"abc"), Accepted { advanced: 3, stored: true });
        assert_eq!(b.write_at(3, b"ghi"), Accepted { advanced: 0, stored: true });
        assert!(b.has_out_of_order());
        assert_eq!(b.write_at(0, b"def"), Accepted { advanced: 6, stored: true });
        let mut out = [0; 32];
        assert_eq!(b.read(&mut out), 9);
        assert_eq!(&out[..9], b"abcdefghi");
        assert_eq!(b.window(), 16);
    }

    #[test]
    fn clipped_to_window() {
        let mut b = RecvBuffer::new(4);
        assert_eq!(b.write_at(0, b"abcdef").advanced, 4);
        assert_eq!(b.write_at(0, b"x").advanced, 0);
        let mut out = [0; 2];
        b.read(&mut out);
        assert_eq!(b.write_at(0, b"efgh").advanced, 2);
        let mut out = [0; 8];
        assert_eq!(b.read(&mut out), 4);
        assert_eq!(&out[..4], b"cdef");
    }

    proptest! {
        /// Any arrival order and overlap of a stream's segments delivers
        /// every byte exactly once, in order.
        #[test]
        fn exactly_once_in_order(
            cuts in proptest::collection::vec((0usize..300, 1usize..60), 1..60),
            cap in 16usize..128,
        ) {
            let stream: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
            let mut b = RecvBuffer::new(cap);
            let mut got = Vec::new();
            let mut segs: Vec<(usize, usize)> = cuts.into_iter()
                .map(|(s, l)| (s, (s + l).min(stream.len()))).collect();
            // Finish with the whole stream in order so the end is reached.
            segs.extend((0..stream.len()).step_by(10).map(|s| (s, (s + 10).min(stream.len()))));
            let mut buf = [0u8; 7];
            for (s, e) in segs {
                loop {
                    let pos = b.in_order_end() as usize;
                    if e > pos {
                        let (from, off) = if s >= pos { (s, s - pos) } else { (pos, 0) };
                        b.write_at(off, &stream[from..e]);
                    }
                    let n = b.read(&mut buf);
                    got.extend_from_slice(&buf[..n]);
                    if n == 0 || (b.in_order_end() as usize) >= e { break; }
                }
            }
            loop {
                let n = b.read(&mut buf);
                if n == 0 { break; }
                got.extend_from_slice(&buf[..n]);
            }
            prop_assert_eq!(&got[..], &stream[..got.len()]);
            prop_assert_eq!(got.len(), stream.len());
        }
    }
}
