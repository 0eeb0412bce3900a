//! The send buffer: bytes the application has written and the peer has not
//! yet acknowledged (RFC 9293 §3.3.1, the region from SND.UNA onwards).

/// A bounded ring of bytes. Offset 0 is the oldest unacknowledged byte.
/// Storage is allocated on first write, so idle and half-open connections
/// cost no buffer memory.
#[derive(Debug)]
pub struct SendBuffer {
    storage: Vec<u8>,
    capacity: usize,
    head: usize,
    len: usize,
}

impl SendBuffer {
    pub fn new(capacity: usize) -> SendBuffer {
        SendBuffer { storage: Vec::new(), capacity: capacity.max(1), head: 0, len: 0 }
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

    /// Room for more application data.
    pub fn free(&self) -> usize {
        self.capacity - self.len
    }

    /// Appends as much of `data` as fits; returns how much was taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        if self.storage.is_empty() {
            self.storage = vec![0; self.capacity];
        }
        let tail = (self.head + self.len) % self.capacity;
        let first = n.min(self.capacity - tail);
        self.storage[tail..tail + first].copy_from_slice(&data[..first]);
        self.storage[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        n
    }

    /// Drops the `n` oldest bytes (they were acknowledged).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.head = (self.head + n) % self.capacity;
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
        let start = (self.head + offset) % self.capacity;
        let first = len.min(self.capacity - start);
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
