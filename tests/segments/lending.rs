//! Reading without a copy (`Stack::recv_with`, RFC 9293 §3.10.3 RECEIVE):
//! the received bytes are lent where they lie, consuming them reopens the
//! window exactly as a read does, and the end of the stream is two empty
//! slices.

use crate::harness::*;

/// Lends what is readable to a closure that consumes at most `max` bytes:
/// the bytes consumed, or the engine's error.
fn consume(h: &mut Harness, t: u64, max: usize) -> Result<Vec<u8>, Error> {
    h.app(t, |s, sock| {
        s.recv_with(sock, |a, b| {
            let lent: Vec<u8> = a.iter().chain(b).copied().collect();
            let n = lent.len().min(max);
            (n, lent[..n].to_vec())
        })
    })
}

#[test]
fn consuming_lent_bytes_reopens_the_window_as_a_read_does() {
    // The same steps as `window::receiver_avoids_silly_window_updates`,
    // with lent bytes consumed instead of read.
    let mut h = Harness::full_4096_window();
    assert_eq!(consume(&mut h, 300, 1000).unwrap(), pattern(0, 1000));
    h.expect_nothing(300);
    assert_eq!(consume(&mut h, 310, 459).unwrap(), pattern(1000, 459));
    h.expect_nothing(310);
    assert_eq!(consume(&mut h, 320, 1).unwrap(), pattern(1459, 1));
    h.expect1(320, seg().seq(h.l(1)).ack(h.r(4097)).win(1460));
    // Consuming nothing changes nothing.
    assert_eq!(consume(&mut h, 325, 0).unwrap(), b"");
    h.expect_nothing(325);
    assert_eq!(h.read_max(330, 1000), pattern(1460, 1000));
    h.expect_nothing(330);
}

#[test]
fn lent_bytes_wrap_around_the_ring_in_order_and_the_end_is_empty() {
    let mut h = Harness::full_4096_window();
    assert_eq!(consume(&mut h, 300, 3000).unwrap(), pattern(0, 3000));
    h.recv_all(300);
    // 2000 more bytes land past the ring's end, at its start.
    h.send_at(400, seg().seq(h.r(4097)).ack(h.l(1)).data(4096, 1460));
    h.recv_all(400);
    h.send_at(401, seg().seq(h.r(5557)).ack(h.l(1)).data(5556, 540));
    h.recv_all(450);
    let (first, second) =
        h.app(500, |s, sock| s.recv_with(sock, |a, b| (0, (a.to_vec(), b.to_vec())))).unwrap();
    assert!(!second.is_empty(), "the bytes wrap: lent as two slices");
    assert_eq!([first, second].concat(), pattern(3000, 3096));
    // Consuming more than was lent consumes what was lent.
    assert_eq!(consume(&mut h, 510, usize::MAX).unwrap(), pattern(3000, 3096));
    h.recv_all(510);
    // Nothing readable: the closure is not called.
    let r = h.app(520, |s, sock| s.recv_with(sock, |_, _| -> (usize, ()) { panic!("nothing to lend") }));
    assert_eq!(r, Err(Error::WouldBlock));
    // The end of the stream: two empty slices.
    h.send_at(600, seg().seq(h.r(6097)).ack(h.l(1)).fin());
    h.recv_all(600);
    let end = h.app(610, |s, sock| s.recv_with(sock, |a, b| (0, (a.len(), b.len()))));
    assert_eq!(end, Ok((0, 0)));
}
