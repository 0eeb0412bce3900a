#!/usr/bin/env python3
"""Writes the hand-made seeds of the `stack`, `vnet` and `stateful` targets
into seeds/<target>/ (run from fuzz/: `python3 make_seeds.py`).

`stateful` inputs are in the format `arbitrary` 1.5 derives for the types of
fuzz_targets/stateful/input.rs: integers little-endian, a bool is a byte's
low bit, an enum variant is a u32 `x` picking variant `(x * count) >> 32`,
`Option` a bool then the value, a `Vec` elements each preceded by a true
bool and ended by a false one, structs their fields in order. Keep the
encoders below in step with input.rs.
"""

import os
import struct

# ---- packets -----------------------------------------------------------


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip(src, dst, payload, proto=6):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0, bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def tcp(src, dst, sp, dp, seq, ack, flags, win, opts=b"", data=b"", partial=False):
    t = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, ((20 + len(opts)) // 4) << 4, flags, win, 0, 0) + opts + data
    pseudo = bytes(src) + bytes(dst) + struct.pack("!BBH", 0, 6, len(t))
    if partial:  # the pseudo-header sum only, as a device completes it
        c = ~csum(pseudo) & 0xFFFF
    else:
        c = csum(pseudo + t)
    return t[:16] + struct.pack("!H", c) + t[18:]


A, B = [10, 0, 0, 1], [10, 0, 0, 2]
TS = bytes([1, 1, 8, 10]) + struct.pack("!II", 1000, 0)
SYN_OPTS = bytes([2, 4, 5, 0xB4, 4, 2, 8, 10]) + struct.pack("!II", 1000, 0) + bytes([1, 3, 3, 7])


def record(control, data):
    return bytes([control]) + struct.pack("!H", len(data)) + data


def vnet_hdr(flags=0, gso_type=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0):
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def stack_seeds():
    return {
        "data": record(0x07, ip(A, B, tcp(A, B, 50000, 80, 1000, 2000, 0x18, 65535, TS, bytes(range(100))))),
        "rst": record(0x07, ip(A, B, tcp(A, B, 50000, 80, 1000, 0, 0x04, 0))),
        "syn-listener": record(0x06, ip(A, B, tcp(A, B, 40000, 80, 777, 0, 0x02, 65535, SYN_OPTS)))
        + record(0x16, ip(A, B, tcp(A, B, 40000, 80, 778, 0, 0x10, 65535))),
    }


def vnet_seeds():
    gso = struct.pack("!H", 1448)
    data = bytes((i * 7) & 0xFF for i in range(1000))
    big = bytes(i & 0xFF for i in range(4000))
    return {
        # Data at RCV.NXT from the peer, header DATA_VALID.
        "data-valid": gso + record(0x47, vnet_hdr(2) + ip(B, A, tcp(B, A, 80, 50000, 0, 0, 0x18, 65535, TS, data))),
        # A partial checksum under NEEDS_CSUM: trusted.
        "needs-csum": gso
        + record(0x43, vnet_hdr(1, 0, 0, 0, 20, 16) + ip(B, A, tcp(B, A, 80, 50000, 0, 0, 0x10, 65535, TS, data[:100], partial=True))),
        # A SYN to host 0's listener, no header flags: verified.
        "syn-listener": gso + record(0x06, vnet_hdr() + ip(B, A, tcp(B, A, 40000, 81, 12345, 0, 0x02, 65535, SYN_OPTS))),
        # The device path: super-segments cut at 1448 (one across the
        # sequence wrap, one with FIN, PSH and CWR).
        "gso-cut": gso
        + record(0x10, vnet_hdr() + ip(A, B, tcp(A, B, 50000, 80, 0xFFFFF000, 7, 0x19, 100, TS, big)))
        + record(0x16, vnet_hdr() + ip(A, B, tcp(A, B, 50000, 80, 5, 7, 0x98, 100, b"", big[:3000]))),
        # Short and empty frames, a time step, a FIN.
        "short": b"\0\0" + record(0, b"\1\2\3") + record(8, b"") + record(0x47, vnet_hdr(2) + ip(B, A, tcp(B, A, 80, 50000, 0, 0, 0x11, 0))),
        # A reset at RCV.NXT.
        "rst": gso + record(0x47, vnet_hdr(2) + ip(B, A, tcp(B, A, 80, 50000, 0, 0, 0x04, 0))),
    }


# ---- stateful: the `arbitrary` encoding of input.rs ----------------------


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def i8(v):
    return struct.pack("<b", v)


def boolean(v):
    return u8(1 if v else 0)


def variant(i, count):
    """The smallest u32 that `arbitrary` maps to variant `i` of `count`."""
    return u32(-(-(i << 32) // count))


def option(value):
    return boolean(False) if value is None else boolean(True) + value


def vec(items):
    return b"".join(boolean(True) + x for x in items) + boolean(False)


def buffer(kind="default", n=0):
    return {"default": variant(0, 3), "tiny": variant(1, 3) + u16(n), "sized": variant(2, 3) + u32(n)}[kind]


# HostSpec.features bits
NO_TS, NO_SACK, NO_WS, NODELAY, CUBIC, MSS64, TSO, KEEPALIVE = (1 << b for b in range(8))


def host(features=0, send=None, recv=None, max_sockets=0, ka=(0, 0, 0)):
    return (
        u8(features)
        + (send or buffer())
        + (recv or buffer())
        + u8(max_sockets)
        + u16(ka[0])
        + u8(ka[1])
        + u8(ka[2])
    )


def link(delay=0, loss=0, faults=0, seed=0):
    return u8(delay) + u8(loss) + u8(faults) + u16(seed)


OPS = 12


def op(i, body=b""):
    return variant(i, OPS) + body


def wait(kind, n=0):
    w = {"step": (0, b""), "ms": (1, u8(n)), "s": (2, u8(n)), "min": (3, u8(n))}[kind]
    return op(0, variant(w[0], 4) + w[1])


def delta(kind="zero", n=0):
    if kind == "zero":
        return variant(0, 4)
    if kind == "small":
        return variant(1, 4) + i8(n)
    if kind == "medium":
        return variant(2, 4) + struct.pack("<h", n)
    return variant(3, 4) + u32(n)


FLAGS = {"ack": 0, "ackpsh": 1, "ackfin": 2, "syn": 3, "synack": 4, "rst": 5, "rstack": 6, "ackurg": 7}


def inject(to, index=0, target=None, flags="ack", seq=None, ack=None, window=None, urgent=0, length=0,
           mss=None, wscale=None, sack_permitted=False, ts=None, sack=(), checksum=0):
    f = variant(8, 9) + u8(flags) if isinstance(flags, int) else variant(FLAGS[flags], 9)
    if length == 0:
        ln = variant(0, 3)
    elif length < 256:
        ln = variant(1, 3) + u8(length)
    else:
        ln = variant(2, 3) + u16(length)
    tsb = variant(0, 3) if ts is None else (variant(1, 3) if ts == "none" else variant(2, 3) + ts[0] + ts[1])
    body = (
        boolean(to)
        + u8(index)
        + (target or variant(0, 3))
        + f
        + (seq or variant(0, 3) + delta())
        + (ack or variant(0, 3) + delta())
        + (window or variant(0, 2))
        + u16(urgent)
        + ln
        + option(None if mss is None else u16(mss))
        + option(None if wscale is None else u8(wscale))
        + boolean(sack_permitted)
        + tsb
        + vec([delta("medium", left) + u16(n) for (left, n) in sack])
        + variant(checksum, 3)
    )
    return op(1, body)


def seq_rcv_nxt(d):
    return variant(0, 3) + d


def seq_edge(n):
    return variant(1, 3) + i8(n)


def seq_irs(n):
    return variant(2, 3) + i8(n)


def ack_una(d):
    return variant(0, 3) + d


def ack_nxt(d):
    return variant(1, 3) + d


def target_listener(src):
    return variant(1, 3) + u8(src)


def win(n):
    return variant(1, 2) + u16(n)


def send(h, sock, n):
    return op(2, boolean(h) + u8(sock) + u16(n))


def recv(h, sock, n):
    return op(3, boolean(h) + u8(sock) + u16(n))


def shutdown(h, sock, how):
    return op(4, boolean(h) + u8(sock) + variant({"write": 0, "read": 1, "both": 2}[how], 3))


def close(h, sock):
    return op(5, boolean(h) + u8(sock))


def abort(h, sock):
    return op(6, boolean(h) + u8(sock))


def connect(h, port, local=0):
    return op(7, boolean(h) + u8(port) + u8(local))


def listen(h, port, backlog=8):
    return op(8, boolean(h) + u8(port) + u8(backlog))


def accept(h, sock):
    return op(9, boolean(h) + u8(sock))


def keepalive(h, sock, mode):
    return op(10, boolean(h) + u8(sock) + u8(mode))


def nodelay(h, sock, on):
    return op(11, boolean(h) + u8(sock) + boolean(on))


def stateful(hosts, lnk, ops):
    return hosts[0] + hosts[1] + lnk + vec(ops)


# After the set-up every input starts from: host 1's listener on 80 is its
# socket 0 and the accepted connection its socket 1; host 0's connection is
# its socket 0. Host 1's connection is also its first connection (index 0
# for injections), host 0's too.
def stateful_seeds():
    plain = [host(), host()]
    return {
        "bulk-both-ways": stateful(plain, link(), [
            send(0, 0, 16384), send(1, 1, 9000), wait("ms", 100), recv(1, 1, 65535), recv(0, 0, 4096),
            wait("s", 2), recv(1, 1, 65535), recv(0, 0, 65535), close(0, 0), wait("ms", 50), close(1, 1),
        ]),
        "lossy-tiny-mss64": stateful(
            [host(MSS64 | TSO, recv=buffer("tiny", 300)), host(MSS64 | NO_TS | CUBIC, send=buffer("tiny", 2000))],
            link(delay=9, loss=3, faults=7, seed=42),
            [send(0, 0, 16384), send(1, 1, 16384), wait("s", 1), recv(1, 1, 5000), wait("s", 5), recv(0, 0, 5000),
             shutdown(0, 0, "write"), wait("s", 30)],
        ),
        "time-wait-reopen": stateful(plain, link(), [
            send(0, 0, 100), wait("ms", 10), recv(1, 1, 100), close(1, 1), wait("ms", 10), close(0, 0),
            wait("ms", 10), inject(1, 0, flags="syn", seq=seq_rcv_nxt(delta("small", 5)), mss=1460, ts=None),
            wait("ms", 10), accept(1, 0), connect(0, 0, 1), connect(0, 0, 1), wait("ms", 20), accept(1, 0),
        ]),
        "zero-window": stateful(
            [host(recv=buffer("tiny", 99)), host(NODELAY)],
            link(),
            [send(1, 1, 3000), wait("ms", 200), inject(0, 0, flags="ackpsh", length=10),
             inject(0, 0, flags="ack", seq=seq_rcv_nxt(delta("small", -1)), window=win(0)),
             wait("s", 30), recv(0, 0, 2000), wait("s", 1), recv(0, 0, 2000)],
        ),
        "keepalive-hours": stateful(
            [host(KEEPALIVE, ka=(59, 5, 2)), host()],
            link(),
            [keepalive(1, 1, 2), send(0, 0, 10), wait("min", 30), wait("min", 130), recv(1, 1, 100),
             inject(1, 0, flags="ack", seq=seq_rcv_nxt(delta("small", -1))), wait("min", 5)],
        ),
        "simultaneous-open": stateful(plain, link(), [
            connect(0, 4, 2), connect(1, 5, 1), wait("ms", 50), send(0, 1, 500), send(1, 2, 500), wait("ms", 100),
            recv(0, 1, 1000), recv(1, 2, 1000), close(0, 1), close(1, 2),
        ]),
        "forged-resets": stateful(plain, link(), [
            send(0, 0, 2000), inject(1, 0, flags="rst", seq=seq_rcv_nxt(delta("small", 3))),
            inject(1, 0, flags="syn", seq=seq_rcv_nxt(delta("small", 1))),
            inject(1, 0, flags="ack", ack=ack_nxt(delta("medium", 20000))),
            inject(1, 0, flags="ackpsh", seq=seq_edge(-3), length=40),
            inject(0, 0, flags="rstack", seq=seq_rcv_nxt(delta())), wait("s", 1), recv(0, 0, 100),
        ]),
        "forged-sack-ts": stateful(plain, link(), [
            send(0, 0, 16000), wait("ms", 1),
            inject(0, 0, flags="ack", sack=[(100, 1000), (50, 20)],
                   ts=(delta("small", 1), delta("small", -5))),
            inject(0, 0, flags="ack", sack=[(3, 1448)], ts=(delta("small", 1), delta("zero"))),
            inject(0, 0, flags="ack", sack=[(3, 1448)], ts=(delta("small", 2), delta("zero"))),
            inject(0, 0, flags="ack", sack=[(3, 1448)], ts=(delta("small", 3), delta("zero"))),
            inject(1, 0, flags="ackpsh", seq=seq_rcv_nxt(delta("medium", 3000)), length=200, checksum=1),
            wait("s", 3), recv(1, 1, 20000),
        ]),
        "half-close": stateful(plain, link(), [
            shutdown(0, 0, "write"), wait("ms", 10), send(1, 1, 5000), recv(1, 1, 10), wait("ms", 100),
            recv(0, 0, 6000), shutdown(1, 1, "read"), send(1, 1, 10), shutdown(1, 1, "both"), wait("s", 61),
            recv(0, 0, 10),
        ]),
        "abort-stale-handles": stateful(plain, link(), [
            abort(0, 0), wait("ms", 5), send(0, 0, 10), recv(0, 0, 10), close(0, 0), abort(1, 1),
            keepalive(0, 0, 1), nodelay(0, 0, True), shutdown(0, 0, "both"), accept(0, 0), close(1, 0),
            accept(1, 0), listen(1, 0), connect(0, 0), wait("ms", 10), accept(1, 2),
        ]),
        "listener-backlog": stateful([host(), host(max_sockets=3)], link(), [
            connect(0, 1), listen(1, 1, 1), connect(0, 1), connect(0, 1), connect(0, 1), wait("ms", 20),
            inject(1, 0, target_listener(3), flags="syn", mss=64, wscale=14, sack_permitted=True),
            close(1, 2), wait("s", 5), connect(0, 255), connect(0, 3),
        ]),
        "window-scale-extremes": stateful(
            [host(send=buffer("sized", 1 << 20)), host(recv=buffer("sized", 70000))],
            link(delay=1, faults=1),
            [send(0, 0, 16384), send(0, 0, 16384), send(0, 0, 16384), wait("ms", 30), recv(1, 1, 30000),
             inject(0, 0, flags="ack", window=win(0)), wait("s", 2), recv(1, 1, 65535), wait("s", 2)],
        ),
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for target, seeds in (("stack", stack_seeds()), ("vnet", vnet_seeds()), ("stateful", stateful_seeds())):
        out = os.path.join(here, "seeds", target)
        os.makedirs(out, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
