//! Applications for simulated scenarios: a bulk sender and a receiver that
//! checks every byte, over any [`Stack`].

use crate::error::Error;
use crate::stack::{SocketHandle, Stack};
use crate::tcp::Shutdown;

/// A deterministic byte stream: byte `i` depends only on the seed and `i`,
/// so a receiver can check any offset without the sender's help.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    seed: u64,
}

impl Pattern {
    pub fn new(seed: u64) -> Pattern {
        Pattern { seed }
    }

    fn word(&self, index: u64) -> u64 {
        // SplitMix64 finaliser of (seed, index).
        let mut z = self.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fills `out` with the stream's bytes from `offset` on.
    pub fn fill(&self, offset: u64, out: &mut [u8]) {
        for (i, b) in out.iter_mut().enumerate() {
            let at = offset + i as u64;
            *b = self.word(at / 8).to_le_bytes()[(at % 8) as usize];
        }
    }
}

/// FNV-1a over a byte stream, fed in pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHash(u64);

impl Default for StreamHash {
    fn default() -> Self {
        StreamHash(0xcbf2_9ce4_8422_2325)
    }
}

impl StreamHash {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn value(&self) -> u64 {
        self.0
    }
}

/// Writes `total` bytes of a [`Pattern`] to a connection as fast as it
/// takes them, then (optionally) shuts down writing.
#[derive(Debug)]
pub struct BulkSender {
    pub handle: SocketHandle,
    pattern: Pattern,
    pub total: u64,
    pub sent: u64,
    pub hash: StreamHash,
    shutdown_when_done: bool,
    pub shut: bool,
    /// The first error `send` or `shutdown` reported.
    pub error: Option<Error>,
    /// Pattern bytes from stream offset `chunk_at` on, computed once: while
    /// the send buffer stays full, polls cost nothing.
    chunk: Vec<u8>,
    chunk_at: u64,
}

impl BulkSender {
    pub fn new(handle: SocketHandle, seed: u64, total: u64, shutdown_when_done: bool) -> BulkSender {
        BulkSender {
            handle,
            pattern: Pattern::new(seed),
            total,
            sent: 0,
            hash: StreamHash::default(),
            shutdown_when_done,
            shut: false,
            error: None,
            chunk: Vec::new(),
            chunk_at: 0,
        }
    }

    /// Writes what the stack will take now.
    pub fn poll(&mut self, stack: &mut Stack) {
        while self.sent < self.total && self.error.is_none() {
            if self.sent >= self.chunk_at + self.chunk.len() as u64 {
                let n = (self.total - self.sent).min(16 * 1024) as usize;
                self.chunk.resize(n, 0);
                self.chunk_at = self.sent;
                self.pattern.fill(self.sent, &mut self.chunk);
            }
            let data = &self.chunk[(self.sent - self.chunk_at) as usize..];
            match stack.send(self.handle, data) {
                Ok(k) => {
                    self.hash.update(&data[..k]);
                    self.sent += k as u64;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => self.error = Some(e),
            }
        }
        if self.sent == self.total && self.shutdown_when_done && !self.shut && self.error.is_none() {
            self.shut = true;
            if let Err(e) = stack.shutdown(self.handle, Shutdown::Write) {
                self.error = Some(e);
            }
        }
    }

    pub fn done(&self) -> bool {
        self.sent == self.total && (self.shut || !self.shutdown_when_done)
    }
}

/// Reads a connection to its end, checking every byte against the
/// sender's [`Pattern`] and hashing what arrived.
#[derive(Debug)]
pub struct BulkReceiver {
    pub handle: SocketHandle,
    pattern: Pattern,
    pub received: u64,
    pub hash: StreamHash,
    pub eof: bool,
    /// The first error `recv` reported.
    pub error: Option<Error>,
    /// Offset of the first byte that differed from the pattern.
    pub mismatch: Option<u64>,
    /// While true, the receiver does not read (to close the window).
    pub paused: bool,
    buf: Vec<u8>,
    expect: Vec<u8>,
}

impl BulkReceiver {
    pub fn new(handle: SocketHandle, seed: u64) -> BulkReceiver {
        BulkReceiver {
            handle,
            pattern: Pattern::new(seed),
            received: 0,
            hash: StreamHash::default(),
            eof: false,
            error: None,
            mismatch: None,
            paused: false,
            buf: vec![0; 16 * 1024],
            expect: vec![0; 16 * 1024],
        }
    }

    /// Reads what has arrived.
    pub fn poll(&mut self, stack: &mut Stack) {
        while !self.paused && !self.eof && self.error.is_none() {
            match stack.recv(self.handle, &mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.check(n),
                Err(Error::WouldBlock) => break,
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn check(&mut self, n: usize) {
        let got = &self.buf[..n];
        self.pattern.fill(self.received, &mut self.expect[..n]);
        if self.mismatch.is_none()
            && let Some(i) = got.iter().zip(&self.expect[..n]).position(|(a, b)| a != b)
        {
            self.mismatch = Some(self.received + i as u64);
        }
        self.hash.update(got);
        self.received += n as u64;
    }
}
