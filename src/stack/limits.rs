//! Bounds on what peers can make the stack hold or send, each with a
//! default and, where Linux has one, the sysctl it corresponds to. A
//! hostile peer (or a flood of forged packets) can push the stack up to
//! these bounds, never past them.
//!
//! Per-connection bounds (retries, buffer sizes, the per-connection reply
//! limits) live in [`crate::tcp::TcpConfig`]; these are the stack-wide
//! ones.

/// Stack-wide bounds. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Half-open connections (SYN-RECEIVED) each listener keeps: its SYN
    /// queue. The listen backlog bounds the accept queue separately.
    /// Default 1024 (Linux: `tcp_max_syn_backlog`, and the backlog itself).
    pub syn_backlog: usize,
    /// Answer SYNs with SYN cookies (RFC 4987 §3.6) while the SYN queue is
    /// full, keeping no state for them. Default on (Linux:
    /// `tcp_syncookies = 1`). Off, a new SYN evicts the oldest half-open
    /// connection instead.
    pub syn_cookies: bool,
    /// SYN-ACK retransmissions a half-open connection gets while its
    /// listener's SYN queue is more than half full (otherwise
    /// `TcpConfig::synack_retries`). Default 2 (Linux prunes to 2 as its
    /// queue fills).
    pub synack_retries_under_pressure: u32,
    /// Connections the application has closed that are still finishing
    /// (FIN-WAIT-1 and -2, CLOSING, LAST-ACK). Beyond it, a close resets
    /// the connection instead. Default 16384 (Linux: `tcp_max_orphans`).
    pub max_orphans: usize,
    /// Connections in TIME-WAIT. Beyond it, the oldest is recycled.
    /// Default 32768 (Linux: `tcp_max_tw_buckets`).
    pub max_time_wait: usize,
    /// Buffer memory of all connections together (Linux: `tcp_mem`).
    pub memory: MemoryLimits,
    /// Resets sent to segments that match no socket (Linux has none; its
    /// ICMP limits are the model). Default 1000 a second, bursts of 100.
    pub resets: RateLimit,
    /// ICMP replies (echo replies). Default 1000 a second, bursts of 50
    /// (Linux: `icmp_msgs_per_sec`, `icmp_msgs_burst`).
    pub icmp: RateLimit,
    /// Challenge ACKs (RFC 5961 §7) a second over all connections, on top
    /// of each connection's own limit. Each second's budget is drawn at
    /// random between half and one and a half times this, so that a peer
    /// cannot count the budget down to learn about other connections
    /// (CVE-2016-5696). Default 1000 (Linux: `tcp_challenge_ack_limit`).
    pub challenge_acks: u32,
    /// Destinations whose path MTU an ICMP "packet too big" lowered,
    /// remembered for [`PMTU_EXPIRY`](crate::stack::PMTU_EXPIRY) so that
    /// new connections start at the right size. Beyond it, the entry
    /// closest to expiry is replaced. Default 4096 (Linux keeps these as
    /// route exceptions, bounded per bucket).
    pub pmtu_entries: usize,
}

/// Thresholds on the bytes of buffer storage all connections hold
/// (Linux: `tcp_mem`, in pages there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryLimits {
    /// Above this, receive windows offer only what a connection's storage
    /// already holds, and buffers stop growing beyond their first 4 KiB.
    /// Default 256 MiB.
    pub pressure: usize,
    /// Above this, data that would need more storage is dropped (and
    /// counted), as Linux drops when `tcp_mem`'s maximum is reached.
    /// Default 512 MiB.
    pub hard: usize,
}

/// A token bucket: `per_second` on average, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl MemoryLimits {
    /// Pressure above `pressure` bytes, refusal above `hard`.
    pub fn new(pressure: usize, hard: usize) -> MemoryLimits {
        MemoryLimits { pressure, hard }
    }
}

impl RateLimit {
    /// `per_second` on average, bursts of `burst`.
    pub fn new(per_second: u32, burst: u32) -> RateLimit {
        RateLimit { per_second, burst }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            syn_backlog: 1024,
            syn_cookies: true,
            synack_retries_under_pressure: 2,
            max_orphans: 16384,
            max_time_wait: 32768,
            memory: MemoryLimits::new(256 << 20, 512 << 20),
            resets: RateLimit::new(1000, 100),
            icmp: RateLimit::new(1000, 50),
            challenge_acks: 1000,
            pmtu_entries: 4096,
        }
    }
}
