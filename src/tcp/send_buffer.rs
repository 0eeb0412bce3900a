//! The send buffer: bytes the application has written and the peer has not
//! yet acknowledged (RFC 9293 §3.3.1, the region from SND.UNA onwards).

/// First allocation of a buffer's ring; it doubles from there, up to the
/// buffer's capacity, as the bytes held need.
/// (Small in tests, so that the unit tests and proptests grow rings.)
pub(super) const INITIAL_RING: usize = if cfg!(test) { 16 } else { 4096 };

/// A bounded ring of bytes. Offset 0 is the oldest unacknowledged byte.
/// Storage is allocated on first write and grows only as far as the bytes
/// held need, so idle and half-open connections cost no buffer memory and
/// small exchanges little.
#[derive(Debug)]
pub struct SendBuffer {
    storage: Vec<u8>,
    capacity: usize,
    head: usize,
    len: usize,
    /// The ring may grow past its first `INITIAL_RING` bytes (not while
    /// buffer memory is under pressure).
    may_grow: bool,
}

impl SendBuffer {
    pub fn new(capacity: usize) -> SendBuffer {
        SendBuffer { storage: Vec::new(), capacity: capacity.max(1), head: 0, len: 0, may_grow: true }
    }

    /// Lets the ring grow up to the capacity (`true`), or no further than
    /// it is now or its first `INITIAL_RING` bytes (`false`).
    pub fn set_growth(&mut self, may_grow: bool) {
        self.may_grow = may_grow;
    }

    /// How large the ring may be now.
    fn limit(&self) -> usize {
        if self.may_grow { self.capacity } else { self.storage.len().max(INITIAL_RING).min(self.capacity) }
    }

    /// Bytes held (written and not yet acknowledged).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of storage allocated for the ring (what the buffer costs in
    /// memory now, at most its capacity).
    pub fn allocated(&self) -> usize {
        self.storage.len()
    }

    /// Room for more application data.
    pub fn free(&self) -> usize {
        self.limit().saturating_sub(self.len)
    }

    /// Appends as much of `data` as fits; returns how much was taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        self.reserve(self.len + n);
        let ring = self.storage.len();
        let tail = (self.head + self.len) % ring;
        let first = n.min(ring - tail);
        self.storage[tail..tail + first].copy_from_slice(&data[..first]);
        self.storage[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        n
    }

    /// Grows the ring to hold `needed` bytes (at most the capacity),
    /// moving what it holds to the start.
    fn reserve(&mut self, needed: usize) {
        let ring = self.storage.len();
        if needed <= ring {
            return;
        }
        let new_len = needed.max(ring * 2).max(INITIAL_RING).min(self.limit());
        let mut grown = vec![0u8; new_len];
        let [a, b] = self.slices(0, self.len);
        grown[..a.len()].copy_from_slice(a);
        grown[a.len()..a.len() + b.len()].copy_from_slice(b);
        self.storage = grown;
        self.head = 0;
    }

    /// Drops the `n` oldest bytes (they were acknowledged).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        self.head = (self.head + n) % self.storage.len();
        self.len -= n;
        if self.len == 0 {
            self.head = 0;
        }
    }

    /// Frees the storage if nothing is held (a connection that will send
    /// no more need not keep its buffer for TIME-WAIT's two minutes).
    pub fn release_storage(&mut self) {
        if self.len == 0 {
            self.storage = Vec::new();
            self.head = 0;
        }
    }

    /// Up to `len` bytes starting `offset` bytes after the oldest, as at most
    /// two slices (the ring may wrap). Clamped to what is held.
    pub fn slices(&self, offset: usize, len: usize) -> [&[u8]; 2] {
        if offset >= self.len || len == 0 {
            return [&[], &[]];
        }
        let len = len.min(self.len - offset);
        let ring = self.storage.len();
        let start = (self.head + offset) % ring;
        let first = len.min(ring - start);
        [&self.storage[start..start + first], &self.storage[..len - first]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_released_only_when_empty_and_comes_back() {
        let mut b = SendBuffer::new(8);
        assert_eq!(b.write(b"abcdef"), 6);
        b.release_storage();
        assert_eq!(b.slices(0, 6), [&b"abcdef"[..], &b""[..]], "held bytes survive");
        b.consume(6);
        b.release_storage();
        assert!(b.storage.is_empty());
        assert_eq!(b.write(b"xyz"), 3);
        assert_eq!(b.slices(0, 3), [&b"xyz"[..], &b""[..]]);
    }

    fn collect(b: &SendBuffer, off: usize, len: usize) -> Vec<u8> {
        b.slices(off, len).concat()
    }

    proptest::proptest! {
        /// Any sequence of writes and acknowledgments, across ring growth
        /// and wrap-around, holds exactly the bytes a plain queue would.
        #[test]
        fn behaves_like_a_queue(
            cap in 1usize..200,
            ops in proptest::collection::vec((proptest::bool::ANY, 0usize..90), 1..80),
        ) {
            let mut b = SendBuffer::new(cap);
            let mut model = std::collections::VecDeque::new();
            let mut next = 0u8;
            for (write, n) in ops {
                if write {
                    let data: Vec<u8> = (0..n).map(|_| { next = next.wrapping_add(1); next }).collect();
                    let took = b.write(&data);
                    proptest::prop_assert_eq!(took, n.min(cap - model.len()));
                    model.extend(&data[..took]);
                    next = next.wrapping_sub((n - took) as u8);
                } else {
                    b.consume(n);
                    model.drain(..n.min(model.len()));
                }
                proptest::prop_assert_eq!(b.len(), model.len());
                let held: Vec<u8> = model.iter().copied().collect();
                proptest::prop_assert_eq!(collect(&b, 0, usize::MAX), held.clone());
                if held.len() > 3 {
                    proptest::prop_assert_eq!(collect(&b, 2, held.len() - 3), held[2..held.len() - 1].to_vec());
                }
            }
        }
    }

    #[test]
    fn without_growth_the_ring_stays_as_it_is() {
        let mut b = SendBuffer::new(1000);
        b.set_growth(false);
        assert_eq!(b.free(), INITIAL_RING, "the first ring is always allowed");
        assert_eq!(b.write(&[7; 100]), INITIAL_RING);
        assert_eq!((b.free(), b.allocated()), (0, INITIAL_RING));
        b.consume(10);
        assert_eq!(b.write(&[8; 100]), 10);
        b.set_growth(true);
        assert_eq!(b.write(&[9; 100]), 100);
        assert!(b.allocated() > INITIAL_RING);
    }

    #[test]
    fn wraps_and_bounds() {
        let mut b = SendBuffer::new(8);
        assert_eq!(b.write(b"abcdef"), 6);
        b.consume(4);
        assert_eq!(b.write(b"ghijklmn"), 6);
        assert_eq!(b.free(), 0);
        assert_eq!(collect(&b, 0, 100), b"efghijkl");
        assert_eq!(collect(&b, 3, 3), b"hij");
        assert_eq!(collect(&b, 8, 3), b"");
        b.consume(100);
        assert!(b.is_empty());
    }
}
