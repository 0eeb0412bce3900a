//! Reopening a 4-tuple from TIME-WAIT (RFC 9293 §3.6.1 MAY-2 and its two
//! conditions, RFC 6191), and what happens to what the old incarnation
//! leaves behind.

use crate::harness::*;

/// Acknowledges our data as it arrives, one round per millisecond from
/// `t`, until `total` bytes are acknowledged; returns the time.
fn ack_all(h: &mut Harness, mut t: u64, total: u32) -> u64 {
    let mut acked = 0u32;
    while acked < total {
        assert!(t < 10_000, "stalled at {acked} of {total}");
        for s in h.recv_all(t) {
            let off = s.seq.wrapping_sub(h.l(1));
            assert_eq!(s.payload, pattern(off as usize, s.payload.len()), "{s:?}");
            acked = acked.max(off + s.payload.len() as u32);
        }
        t += 1;
        h.send_at(t, seg().seq(h.r(1)).ack(h.l(1 + acked)));
    }
    t
}

/// Our FIN (as `close` at `t`), the peer's FIN+ACK 1 ms later, our ACK:
/// TIME-WAIT from `t` + 1. `ts` is the peer's TSval on its FIN.
fn enter_time_wait(h: &mut Harness, t: u64, sent: u32, ts: Option<u32>) {
    h.shutdown(t, Shutdown::Write);
    let fin = h.recv_all(t);
    assert_eq!(fin.len(), 1, "{fin:?}");
    assert!(fin[0].has(TcpFlags::FIN));
    let mut s = seg().fin().seq(h.r(1)).ack(h.l(sent + 2));
    if let Some(v) = ts {
        s = s.ts(v, fin[0].options.timestamps.unwrap().tsval);
    }
    h.send_at(t + 1, s);
    let ack = h.recv_all(t + 1);
    assert_eq!(ack.len(), 1, "{ack:?}");
    assert_eq!((ack[0].seq, ack[0].ack), (h.l(sent + 2), h.r(2)));
    assert_eq!(h.state(), State::TimeWait);
}

/// The new SYN (sequence number R + `rel`, TSval `ts`) and the one
/// segment that answers it.
fn new_syn(h: &mut Harness, t: u64, rel: u32, ts: Option<u32>) -> Seg {
    let mut syn = seg().syn().seq(h.r(rel)).mss(1460);
    if let Some(v) = ts {
        syn = syn.ts(v, 0);
    }
    h.send_at(t, syn);
    let got = h.recv_all(t);
    assert_eq!(got.len(), 1, "{got:?}");
    got[0].clone()
}

#[test]
fn reopened_connection_starts_beyond_the_old_sequence_space() {
    // RFC 9293 §3.6.1: a TCP MAY accept a new SYN in TIME-WAIT "if it: (1)
    // assigns its initial sequence number for the new connection to be
    // larger than the largest sequence number it used on the previous
    // connection incarnation". Without timestamps this is all that keeps
    // the peer's new incarnation from taking our old duplicates.
    //
    // Our ISS is t / 4 µs + F(4-tuple): sending 40 000 bytes within a few
    // milliseconds outruns that clock, so the clock alone does not do it.
    let mut h = Harness::new(simple());
    h.listen();
    h.open_passive(0, 1, PeerOpts::plain());
    h.write(2, &pattern(0, 40_000));
    let t = ack_all(&mut h, 2, 40_000);
    enter_time_wait(&mut h, t + 1, 40_000, None);
    let sa = new_syn(&mut h, t + 3, 100_000, None);
    assert_eq!(sa.flags, TcpFlags::SYN | TcpFlags::ACK, "{sa:?}");
    let old_max = h.l(40_002); // one past our FIN
    assert!(
        sa.seq.wrapping_sub(old_max) as i32 >= 0,
        "new ISS {} is before the old incarnation's SND.NXT {old_max} (by {})",
        sa.seq,
        old_max.wrapping_sub(sa.seq)
    );
}

fn ts_cfg() -> TcpConfig {
    with(simple(), |c| c.timestamps = true)
}

fn ts_opts() -> PeerOpts {
    PeerOpts { ts: Some(PEER_TS0), ..PeerOpts::plain() }
}

#[test]
fn syn_with_equal_tsval_and_higher_sequence_number_reopens() {
    // RFC 6191 §2: "If TCP Timestamps would be enabled for the new
    // incarnation of the connection, the timestamp contained in the
    // incoming SYN segment is equal to the last timestamp seen on the
    // previous incarnation of the connection ..., and the Sequence Number
    // of the incoming SYN segment is greater than the last sequence number
    // seen on the previous incarnation ..., honor the connection request".
    let mut h = Harness::passive(ts_cfg(), ts_opts());
    enter_time_wait(&mut h, 200, 0, Some(PEER_TS0 + 10));
    let sa = new_syn(&mut h, 300, 100_000, Some(PEER_TS0 + 10));
    assert_eq!((sa.flags, sa.ack), (TcpFlags::SYN | TcpFlags::ACK, h.r(100_001)), "{sa:?}");
}

#[test]
fn syn_with_older_tsval_does_not_reopen_even_with_higher_sequence_number() {
    // RFC 6191 §2: with timestamps on both incarnations, an older TSval
    // marks an old duplicate: the TIME-WAIT connection stays.
    let mut h = Harness::passive(ts_cfg(), ts_opts());
    enter_time_wait(&mut h, 200, 0, Some(PEER_TS0 + 10));
    let got = new_syn(&mut h, 300, 100_000, Some(PEER_TS0 + 9));
    assert!(!got.has(TcpFlags::SYN), "{got:?}");
    assert_eq!(h.state(), State::TimeWait);
    assert_eq!(h.stack.socket_count(), 2);
}

#[test]
fn syn_without_timestamps_falls_back_to_the_sequence_number() {
    // RFC 6191 §2: timestamps off for the new incarnation (the SYN has
    // none): the sequence number decides.
    let mut h = Harness::passive(ts_cfg(), ts_opts());
    enter_time_wait(&mut h, 200, 0, Some(PEER_TS0 + 10));
    let sa = new_syn(&mut h, 300, 100_000, None);
    assert_eq!((sa.flags, sa.ack), (TcpFlags::SYN | TcpFlags::ACK, h.r(100_001)), "{sa:?}");
    assert_eq!(sa.options.timestamps, None);
}

#[test]
fn reopening_leaves_the_old_handle_to_the_application() {
    // The application shut down writing and still holds its handle (it
    // has not called close) when a new SYN takes over the 4-tuple. The
    // handle must stay valid, as it does for any other way a connection
    // reaches CLOSED while held ("the application still holds the handle"
    // in `after_io`): `state` answers and `close` succeeds. Freeing the
    // slot under the application turns its next call into InvalidHandle.
    let mut h = Harness::passive(simple(), PeerOpts::plain());
    let old = h.sock();
    enter_time_wait(&mut h, 200, 0, None);
    let sa = new_syn(&mut h, 300, 100_000, None);
    assert_eq!(sa.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(h.recv_result(300), Ok(0), "end of stream, as before");
    assert_eq!(h.stack.state(old), Ok(State::Closed));
    assert_eq!(h.stack.close(ms(300), old), Ok(()));
    h.drain();
    h.expect_nothing(300);
    // The new incarnation is unharmed.
    h.send_at(400, seg().seq(h.r(100_001)).ack(sa.seq.wrapping_add(1)));
    h.expect_nothing(400);
    assert!(h.stack.accept(h.listener.unwrap()).is_ok());
}
