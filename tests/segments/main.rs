//! Segment-level tests of the TCP engine: crafted segments go in at
//! explicit virtual times, and the exact segments that come out are
//! asserted against the RFCs (RFC 9293, 5961, 6298, 5681/6582, 7323, 2018,
//! 6528, 1122). See `harness.rs` for the driver.

mod harness;

mod acceptability;
mod bounds;
mod close;
mod close_edges;
mod congestion;
mod delack;
mod fuzz_found;
mod handshake;
mod hostile;
mod ipv6;
mod isn;
mod keepalive;
mod lending;
mod listener;
mod nagle;
mod options;
mod pmtu;
mod ratelimit;
mod reassembly;
mod reset;
mod retransmit;
mod sack;
mod sack_edges;
mod stack_edges;
mod syncookies;
mod timewait;
mod timewait_reuse;
mod tlp;
mod ttl;
mod window;
mod window_edges;
mod wrap;
