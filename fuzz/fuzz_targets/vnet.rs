//! The TUN offload path: the virtio-net header (`device::vnet`), the
//! engine configured for offloads (TSO super-segments with a partial
//! checksum, received packets trusted when the header vouches for them),
//! and software segmentation (`device::gso`).
//!
//! Host 0 runs with offloads as `api` configures them over a TUN with
//! `IFF_VNET_HDR`; host 1 is plain. Between them sits a model of the
//! kernel side of the device: host 0's packets get the header
//! `VnetHdr::for_ipv4` writes, their checksums are completed at
//! `csum_start + csum_offset`, super-segments are cut at `gso_size`, and
//! every packet that comes out must be valid (lengths, checksums, sequence
//! continuity, flags, at most one MTU). Host 1's packets reach host 0 as
//! the kernel hands them over, through the reactor's receive path: runs of
//! data segments merged into super-segments (GRO) under `NEEDS_CSUM` with a
//! partial checksum, anything else flagged `DATA_VALID`. A bulk transfer
//! runs each way, every byte checked.
//!
//! The fuzzer's frames (header and packet) go down host 0's receive path
//! in between. Input: `[gso_hi, gso_lo]`, then records
//! `[control, len_hi, len_lo, frame…]`. Control bits: 0 retarget the
//! packet at one of host 0's connections (addresses, ports, seq = RCV.NXT
//! and ack = SND.UNA; bit 5 picks which), 1 recompute the IPv4 and
//! 2 the TCP checksum, 3 let 20 ms pass first, 4 hand the packet to
//! `for_ipv4` and `gso::segment` (with the input's `gso_size`) instead of
//! the engine, 6 fix the IPv4 total length to the packet's.
//! At the end a fresh connection must carry data byte for byte.
//! `TRUST_FUZZ_KNOWN=gso-padding` skips the check of a known, reported bug.

#![no_main]

use core::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use trust::device::gso;
use trust::device::vnet::{F_DATA_VALID, F_NEEDS_CSUM, GSO_NONE, GSO_TCPV4, VNET_HDR_LEN, VnetHdr};
use trust::sim::apps::{BulkReceiver, BulkSender};
use trust::stack::{SocketHandle, Stack, StackConfig};
use trust::tcp::Connection;
use trust::tcp::isn::IsnKey;
use trust::time::Instant;
use trust::wire::checksum::{self, rewrite};
use trust::wire::{RxChecksum, TcpFlags, TxChecksum, ipv4, tcp};

const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
const DELAY: Duration = Duration::from_millis(1);
/// Host 1's link MTU: every packet the device puts on the wire fits it.
const MTU: usize = 1500;

fuzz_target!(|data: &[u8]| {
    let Some((gso_bytes, mut rest)) = data.split_first_chunk::<2>() else { return };
    let gso_size = usize::from(u16::from_be_bytes(*gso_bytes));
    let mut w = Wire::new();
    // Host 1 listens; host 0 connects and sends, host 1 answers.
    let l = w.hosts[1].listen(80, 8).expect("listen");
    let _ = w.hosts[0].listen(81, 8).expect("listen");
    let c = w.hosts[0].connect(w.now, SocketAddrV4::new(ADDRS[1], 80)).expect("connect");
    w.run(Duration::from_millis(10), None);
    let s = w.hosts[1].accept(l).expect("accepted");
    let mut flows = Flows::new(c, s, 64_000, 8_000);
    w.run(Duration::from_millis(5), Some(&mut flows));
    // Forged data at RCV.NXT joins a stream legitimately.
    let mut forged_data = false;
    while let [control, hi, lo, tail @ ..] = rest {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let mut frame = tail[..len].to_vec();
        rest = &tail[len..];
        if control & 8 != 0 {
            w.run(Duration::from_millis(20), Some(&mut flows));
        }
        let packet = frame.get_mut(VNET_HDR_LEN.min(len)..).unwrap_or_default();
        if control & 1 != 0 {
            let n = w.hosts[0].connections().count().max(1);
            if let Some(conn) = w.hosts[0].connections().nth(usize::from(control >> 5 & 1) % n) {
                retarget(conn, packet);
                forged_data = true;
            }
        }
        if control & 64 != 0 && packet.len() >= 20 {
            let n = packet.len().min(65535) as u16;
            packet[2..4].copy_from_slice(&n.to_be_bytes());
        }
        rewrite(packet, control & 2 != 0, control & 4 != 0);
        if control & 16 != 0 {
            check_device_path(packet, gso_size);
        } else {
            w.receive_frame(&frame);
        }
        w.flush();
    }
    w.run(Duration::from_secs(60), Some(&mut flows));
    if !forged_data {
        flows.check();
    }
    // Whatever the frames did to the old connections, a fresh one works.
    let l = w.hosts[1].listen(82, 8).expect("listen");
    let c = w.hosts[0].connect(w.now, SocketAddrV4::new(ADDRS[1], 82)).expect("connect");
    w.run(Duration::from_millis(10), None);
    let s = w.hosts[1].accept(l).expect("a fresh connection is accepted");
    let mut fresh = Flows::new(c, s, 32_000, 4_000);
    w.run(Duration::from_secs(60), Some(&mut fresh));
    fresh.check();
    assert!(fresh.done(), "a fresh connection did not finish: {fresh:?}");
});

/// A bulk transfer each way over one connection.
#[derive(Debug)]
struct Flows {
    tx: [BulkSender; 2],
    rx: [BulkReceiver; 2],
}

impl Flows {
    fn new(client: SocketHandle, server: SocketHandle, up: u64, down: u64) -> Flows {
        Flows {
            tx: [BulkSender::new(client, 1, up, true), BulkSender::new(server, 2, down, true)],
            rx: [BulkReceiver::new(server, 1), BulkReceiver::new(client, 2)],
        }
    }

    fn poll(&mut self, hosts: &mut [Stack; 2]) {
        self.tx[0].poll(&mut hosts[0]);
        self.tx[1].poll(&mut hosts[1]);
        self.rx[0].poll(&mut hosts[1]);
        self.rx[1].poll(&mut hosts[0]);
    }

    /// Every byte read so far is the byte sent there.
    fn check(&self) {
        for r in &self.rx {
            assert_eq!(r.mismatch, None, "corrupted stream: {r:?}");
        }
    }

    fn done(&self) -> bool {
        self.rx.iter().zip(&self.tx).all(|(r, t)| r.eof && r.error.is_none() && r.received == t.total)
    }
}

/// Two engines and the device between them, in virtual time.
struct Wire {
    now: Instant,
    hosts: [Stack; 2],
    /// Packets on their way: (arrival, receiving host, bytes).
    queue: VecDeque<(Instant, usize, Vec<u8>)>,
    buf: Vec<u8>,
}

impl Wire {
    fn new() -> Wire {
        let mut cfgs = ADDRS.map(|a| StackConfig::with_key(a, IsnKey::from_seed(u64::from(a.octets()[3]))));
        // As `api` configures a device with offloads.
        cfgs[0].offload.tso_max_payload = 65535 - 20 - 60;
        cfgs[0].offload.tx_checksum = TxChecksum::Partial;
        Wire { now: Instant::ZERO, hosts: cfgs.map(Stack::new), queue: VecDeque::new(), buf: vec![0; 70_000] }
    }

    /// Host 0's receive path, as the reactor runs it: strip the header,
    /// trust the checksum if the header says so.
    fn receive_frame(&mut self, frame: &[u8]) {
        let (hdr, packet) = VnetHdr::parse(frame).unwrap_or_default();
        if let Some((_, p)) = VnetHdr::parse(frame) {
            assert_eq!(p, &frame[VNET_HDR_LEN..]);
            let mut raw = [0u8; VNET_HDR_LEN];
            hdr.write(&mut raw);
            assert_eq!(raw[..], frame[..VNET_HDR_LEN], "header round trip");
        }
        assert_eq!(hdr.checksum_trusted(), hdr.flags & (F_NEEDS_CSUM | F_DATA_VALID) != 0);
        let rx = if hdr.checksum_trusted() { RxChecksum::Trusted } else { RxChecksum::Verify };
        self.hosts[0].handle_packet_with(self.now, packet, rx);
    }

    /// Everything both hosts send now, through the device.
    fn flush(&mut self) {
        let at = self.now + DELAY;
        while let Some(t) = self.hosts[0].poll_transmit(self.now, &mut self.buf) {
            let queue = &mut self.queue;
            device_out(&self.buf[..t.len], t.gso_size, |p| queue.push_back((at, 1, p)));
        }
        let mut sent = Vec::new();
        while let Some(t) = self.hosts[1].poll_transmit(self.now, &mut self.buf) {
            sent.push(self.buf[..t.len].to_vec());
        }
        for frame in gro(sent) {
            self.queue.push_back((at, 0, frame));
        }
    }

    /// Runs for `d`, the transfers (if any) moving at every step.
    fn run(&mut self, d: Duration, mut flows: Option<&mut Flows>) {
        let limit = self.now + d;
        loop {
            if let Some(f) = flows.as_deref_mut() {
                f.poll(&mut self.hosts);
            }
            self.flush();
            let deadlines = self.hosts.iter().filter_map(Stack::poll_timeout);
            let next = deadlines.chain(self.queue.front().map(|q| q.0)).min();
            let Some(at) = next.filter(|&t| t <= limit) else {
                self.now = limit;
                return;
            };
            self.now = self.now.max(at);
            while self.queue.front().is_some_and(|q| q.0 <= self.now) {
                let (_, to, p) = self.queue.pop_front().expect("front");
                match to {
                    0 => self.receive_frame(&p),
                    _ => self.hosts[1].handle_packet(self.now, &p),
                }
            }
            for host in &mut self.hosts {
                if host.poll_timeout().is_some_and(|t| t <= self.now) {
                    host.handle_timeout(self.now);
                }
            }
        }
    }
}

/// The kernel's side of the TUN for a packet host 0 wrote after the header
/// `for_ipv4` gives it: complete the checksum, cut a super-segment, and
/// check every packet that results.
fn device_out(packet: &[u8], gso_size: Option<u16>, mut out: impl FnMut(Vec<u8>)) {
    let hdr = VnetHdr::for_ipv4(packet, gso_size);
    let mut raw = [0u8; VNET_HDR_LEN];
    hdr.write(&mut raw);
    assert_eq!(VnetHdr::parse(&raw), Some((hdr, &[][..])));
    let ip = ipv4::parse(packet).expect("the engine emits valid IPv4");
    if ip.repr.protocol != ipv4::PROTO_TCP {
        assert_eq!(hdr, VnetHdr::default(), "only TCP needs offloads");
        assert_eq!(gso_size, None);
        return out(packet.to_vec());
    }
    let ihl = packet.len() - ip.payload.len();
    assert_eq!((hdr.flags, hdr.csum_start, hdr.csum_offset), (F_NEEDS_CSUM, ihl as u16, 16));
    let mut full = packet.to_vec();
    complete_checksum(&mut full, usize::from(hdr.csum_start), usize::from(hdr.csum_offset));
    let seg = tcp::parse(ip.repr.src, ip.repr.dst, &full[ihl..], RxChecksum::Verify)
        .expect("the completed checksum verifies");
    let headers = full.len() - seg.payload.len();
    let Some(mss) = gso_size else {
        assert_eq!(hdr.gso_type, GSO_NONE);
        assert!(full.len() <= MTU, "a {}-byte packet without gso_size", full.len());
        return out(full);
    };
    let mss = usize::from(mss);
    assert_eq!((hdr.gso_type, hdr.gso_size, usize::from(hdr.hdr_len)), (GSO_TCPV4, mss as u16, headers));
    assert!(seg.payload.len() > mss, "gso_size {mss} on a {}-byte payload", seg.payload.len());
    let mut pieces = Vec::new();
    gso::segment(&full, mss, |p| pieces.push(p.to_vec())).expect("a valid super-segment is cut");
    check_pieces(&full, mss, &pieces, MTU);
    pieces.into_iter().for_each(out);
}

/// What the kernel hands a TUN with `IFF_VNET_HDR` for host 1's packets:
/// runs of full-sized data segments of one flow merged into a
/// super-segment (GRO) with `GSO_TCPV4`, `NEEDS_CSUM` and a partial
/// checksum; any other packet alone, flagged `DATA_VALID` (verified).
fn gro(packets: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut run: Vec<Vec<u8>> = Vec::new();
    for p in packets {
        let data = tcp_view(&p).filter(|v| v.payload > 0 && (v.flags & !TcpFlags::PSH) == TcpFlags::ACK);
        if let (Some(v), Some(first), Some(last)) =
            (&data, run.first().and_then(|f| tcp_view(f)), run.last().and_then(|l| tcp_view(l)))
            && last.flags == TcpFlags::ACK
            && fixed_headers(&p, v) == fixed_headers(&run[0], &first)
            && v.seq == last.seq.wrapping_add(last.payload as u32)
            && last.payload == first.payload
            && v.payload <= first.payload
            && run.iter().map(Vec::len).sum::<usize>() + v.payload < 60_000
        {
            run.push(p);
            continue;
        }
        frames.extend(merge(&run));
        run.clear();
        if data.is_some() {
            run.push(p);
        } else {
            frames.extend(merge(&[p]));
        }
    }
    frames.extend(merge(&run));
    frames
}

/// A packet's headers without what differs between segments GRO merges:
/// the IPv4 length, identification and checksum, the TCP sequence number,
/// flags and checksum.
fn fixed_headers(p: &[u8], v: &TcpView) -> Vec<u8> {
    let mut h = p[..v.headers].to_vec();
    for i in
        [2, 3, 4, 5, 10, 11, v.ihl + 4, v.ihl + 5, v.ihl + 6, v.ihl + 7, v.ihl + 13, v.ihl + 16, v.ihl + 17]
    {
        h[i] = 0;
    }
    h
}

/// The frame for a run of segments `gro` merges (none for none).
fn merge(run: &[Vec<u8>]) -> Option<Vec<u8>> {
    let first = run.first()?;
    let mut frame = vec![0u8; VNET_HDR_LEN];
    if run.len() == 1 {
        frame[0] = F_DATA_VALID;
        frame.extend_from_slice(first);
        return Some(frame);
    }
    let v = tcp_view(first).expect("a data segment");
    frame.extend_from_slice(&first[..v.headers]);
    for p in run {
        frame.extend_from_slice(&p[tcp_view(p).expect("a data segment").headers..]);
    }
    let packet = &mut frame[VNET_HDR_LEN..];
    let total = packet.len() as u16;
    packet[2..4].copy_from_slice(&total.to_be_bytes());
    let last = run.last().expect("a run");
    packet[v.ihl + 13] |= last[v.ihl + 13] & TcpFlags::PSH.bits();
    rewrite(packet, true, false);
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    let len = (packet.len() - v.ihl) as u16;
    let partial = checksum::fold(checksum::pseudo_header(src, dst, ipv4::PROTO_TCP, len));
    packet[v.ihl + 16..v.ihl + 18].copy_from_slice(&partial.to_be_bytes());
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV4,
        hdr_len: v.headers as u16,
        gso_size: v.payload as u16,
        csum_start: v.ihl as u16,
        csum_offset: 16,
    };
    hdr.write((&mut frame[..VNET_HDR_LEN]).try_into().expect("the header's length"));
    Some(frame)
}

/// Where a valid TCP/IPv4 packet's parts are.
struct TcpView {
    ihl: usize,
    headers: usize,
    payload: usize,
    seq: u32,
    flags: TcpFlags,
}

fn tcp_view(p: &[u8]) -> Option<TcpView> {
    let ip = ipv4::parse(p).ok()?;
    let seg = tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Trusted).ok()?;
    Some(TcpView {
        ihl: p.len() - ip.payload.len(),
        headers: p.len() - seg.payload.len(),
        payload: seg.payload.len(),
        seq: seg.repr.seq,
        flags: seg.repr.flags,
    })
}

/// What the device does for `F_NEEDS_CSUM`: the field holds the
/// pseudo-header sum; the checksum covers everything from `start`.
fn complete_checksum(p: &mut [u8], start: usize, offset: usize) {
    let sum = checksum::add_bytes(0, &p[start..]);
    let c = !checksum::fold(sum);
    p[start + offset..start + offset + 2].copy_from_slice(&c.to_be_bytes());
}

/// The pieces of a cut super-segment: each a valid packet of at most
/// `mtu` bytes, headers as the original's, consecutive sequence numbers,
/// FIN and PSH only on the last, CWR only on the first, the payload in
/// order.
fn check_pieces(original: &[u8], mss: usize, pieces: &[Vec<u8>], mtu: usize) {
    let ip = ipv4::parse(original).expect("valid");
    let seg = tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify).expect("valid");
    assert_eq!(pieces.len(), seg.payload.len().div_ceil(mss).max(1));
    let mut payload = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        assert!(p.len() <= mtu, "a {}-byte piece", p.len());
        let pip = ipv4::parse(p).expect("a piece is valid IPv4");
        assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len());
        assert_eq!((pip.repr.src, pip.repr.dst), (ip.repr.src, ip.repr.dst));
        let ps = tcp::parse(pip.repr.src, pip.repr.dst, pip.payload, RxChecksum::Verify)
            .expect("a piece's checksums verify");
        let r = &ps.repr;
        assert_eq!(r.seq, seg.repr.seq.wrapping_add((i * mss) as u32), "piece {i} out of sequence");
        assert_eq!(
            (r.src_port, r.dst_port, r.ack, r.window),
            (seg.repr.src_port, seg.repr.dst_port, seg.repr.ack, seg.repr.window)
        );
        assert_eq!(r.options, seg.repr.options);
        let last = i + 1 == pieces.len();
        let fin_psh = TcpFlags::FIN | TcpFlags::PSH;
        assert_eq!(r.flags & fin_psh, if last { seg.repr.flags & fin_psh } else { TcpFlags::empty() });
        assert_eq!(r.flags.contains(TcpFlags::CWR), i == 0 && seg.repr.flags.contains(TcpFlags::CWR));
        assert!(ps.payload.len() == mss || (last && ps.payload.len() <= mss));
        payload.extend_from_slice(ps.payload);
    }
    assert_eq!(payload, seg.payload, "the pieces' payload differs from the super-segment's");
}

/// The device path for arbitrary bytes: the header for them and cutting
/// them must not panic, and a valid TCP/IPv4 packet must be cut into
/// valid pieces.
fn check_device_path(packet: &[u8], gso_size: usize) {
    let hdr = VnetHdr::for_ipv4(packet, u16::try_from(gso_size).ok());
    if hdr.gso_type == GSO_TCPV4 {
        assert!(usize::from(hdr.hdr_len) <= packet.len());
    }
    let mut pieces = Vec::new();
    let cut = gso::segment(packet, gso_size, |p| pieces.push(p.to_vec()));
    let valid = ipv4::parse(packet).is_ok_and(|ip| {
        ip.repr.protocol == ipv4::PROTO_TCP
            && tcp::parse(ip.repr.src, ip.repr.dst, ip.payload, RxChecksum::Verify).is_ok()
            // Known bug `gso-padding`: bytes after the total length shift
            // the pieces' TCP headers.
            && (usize::from(u16::from_be_bytes([packet[2], packet[3]])) == packet.len() || !known("gso-padding"))
    });
    if valid && gso_size > 0 {
        assert_eq!(cut, Ok(()), "a valid packet was not cut");
        check_pieces(packet, gso_size, &pieces, usize::MAX);
    }
}

/// Whether `TRUST_FUZZ_KNOWN` names a known, reported bug whose check is
/// to be skipped.
fn known(name: &str) -> bool {
    static KNOWN: OnceLock<String> = OnceLock::new();
    KNOWN
        .get_or_init(|| std::env::var("TRUST_FUZZ_KNOWN").unwrap_or_default())
        .split(',')
        .any(|k| k.trim() == name)
}

/// Points a TCP/IPv4 packet at connection `c` of host 0, from its peer:
/// addresses, ports, and (unless the packet is short) seq = RCV.NXT and
/// ack = SND.UNA.
fn retarget(c: &Connection, p: &mut [u8]) {
    if p.len() < 24 {
        return;
    }
    let t = c.tuple();
    let (IpAddr::V4(remote), IpAddr::V4(local)) = (t.remote.ip(), t.local.ip()) else { return };
    p[0] = 0x45;
    p[6] &= 0x40; // DF at most: not a fragment
    p[7] = 0;
    p[9] = ipv4::PROTO_TCP;
    p[12..16].copy_from_slice(&remote.octets());
    p[16..20].copy_from_slice(&local.octets());
    p[20..22].copy_from_slice(&t.remote.port().to_be_bytes());
    p[22..24].copy_from_slice(&t.local.port().to_be_bytes());
    if p.len() >= 32 {
        p[24..28].copy_from_slice(&c.rcv_nxt().get().to_be_bytes());
        p[28..32].copy_from_slice(&c.snd_una().get().to_be_bytes());
    }
}
