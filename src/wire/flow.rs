//! Which queue of a multi-queue device a TCP flow belongs to.
//!
//! [`queue`] is the one definition: the TUN device's steering program
//! (`device::multiqueue`) computes it in the kernel for every packet it
//! hands to user space, and an engine that owns one queue computes it to
//! pick ephemeral ports whose flows come back to that queue. It depends
//! only on the two ports, so both directions of a flow agree.

/// The multiplier of the hash: 2^32 divided by the golden ratio, which
/// spreads consecutive (and all-even, as Linux picks for `connect`) ports
/// over the high bits.
pub const FLOW_HASH_MULTIPLIER: u32 = 0x9E37_79B1;

/// The flow hash of a TCP port pair, symmetric in its arguments: the high
/// half of `(a ^ b) * FLOW_HASH_MULTIPLIER` (32-bit arithmetic).
pub fn hash(port_a: u16, port_b: u16) -> u32 {
    (u32::from(port_a ^ port_b)).wrapping_mul(FLOW_HASH_MULTIPLIER) >> 16
}

/// The queue, of `queues`, that carries the flow between these ports
/// (`hash % queues`, as the kernel reduces a steering program's result).
/// Zero queues count as one.
pub fn queue(port_a: u16, port_b: u16, queues: u16) -> u16 {
    (hash(port_a, port_b) % u32::from(queues.max(1))) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_in_range() {
        for (a, b) in [(7, 40000), (80, 65535), (0, 0), (49152, 49153)] {
            assert_eq!(hash(a, b), hash(b, a));
            for n in 1..5 {
                assert!(queue(a, b, n) < n);
            }
        }
        assert_eq!(queue(1, 2, 0), 0);
    }

    #[test]
    fn even_client_ports_spread_over_two_queues() {
        // Linux hands out even ephemeral ports to connect(); a plain XOR
        // modulo 2 would put all of them on one queue.
        let on_zero = (0..1000u16).filter(|i| queue(7, 40000 + 2 * i, 2) == 0).count();
        assert!((400..600).contains(&on_zero), "{on_zero} of 1000 on queue 0");
    }
}
