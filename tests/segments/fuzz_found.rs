//! Engine bugs the stateful fuzz target (`fuzz/fuzz_targets/stateful.rs`)
//! found, each as a short segment-level reproducer that failed before its
//! fix. (An open one is `#[ignore]`d until the engine is fixed.)

use crate::harness::*;

/// The timer heap must stay within 2 × sockets + 64 entries
/// (`Stack::timer_entries`). Its entries are invalidated lazily: when a
/// socket's earliest deadline moves earlier (a delayed ACK is armed), the
/// entry for the later one (the keep-alive, 2 h away) stays behind until
/// its own time. With keep-alive on, every delayed ACK of a connection
/// receiving data leaves one such entry, so the heap grows with the
/// traffic of the last two hours, not with the sockets.
#[test]
fn keepalive_does_not_grow_the_timer_heap() {
    let mut h =
        Harness::passive(with(simple(), |c| c.keepalive = Some(Keepalive::default())), PeerOpts::plain());
    for i in 0..200u32 {
        let t = 1000 + 100 * i;
        let at = 10 * i;
        h.send_at(t, seg().seq(h.r(1 + at)).ack(h.l(1)).data(at as usize, 10));
        h.expect1(t + 40, seg().seq(h.l(1)).ack(h.r(11 + at)));
        let (entries, sockets) = (h.stack.timer_entries(), h.stack.socket_count());
        assert!(
            entries <= 2 * sockets + 64,
            "{entries} timer entries for {sockets} sockets after {} segments",
            i + 1
        );
    }
}

/// An unacceptable segment is answered with an ACK (RFC 9293 §3.10.7.4,
/// first step), however often it comes. Two ends whose sequence spaces
/// disagree (the fuzzer got there with one FIN forged at RCV.NXT, carrying
/// a window larger than the real one: the end that took it ACKs a FIN the
/// other never sent, which that one discards as an ACK of unsent data,
/// RFC 5961 §5.2, and sends beyond the other's real window) each find the
/// other's ACKs unacceptable and answer every one: an ACK loop at link
/// speed that nothing ends (a duplicating link multiplies it). Linux
/// answers out-of-window segments without data at most once per 500 ms
/// (`tcp_invalid_ratelimit`, "tcp: mitigate ACK loops"); here the
/// challenge-ACK budget (RFC 5961 §7, 10 a second) would do.
#[test]
fn acks_answering_unacceptable_acks_are_rate_limited() {
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    let mut answers = 0;
    for i in 0..100u32 {
        let t = 1000 + 10 * i;
        // Beyond the right edge of our 65535-byte window, as in the loop.
        h.send_at(t, seg().seq(h.r(1 + 70_000)).ack(h.l(1)));
        answers += h.recv_all(t).len();
    }
    assert!(answers <= 10, "{answers} ACKs for 100 unacceptable ACKs in one second");
}
