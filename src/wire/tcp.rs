//! TCP headers and options (RFC 9293 §3.1, RFC 7323, RFC 2018), parsed
//! through `etherparse::TcpHeaderSlice` with our own option walk, over IPv4
//! or IPv6 (RFC 8200 §8.1 for the checksum).

use core::net::IpAddr;

use bitflags::bitflags;
use etherparse::TcpHeaderSlice;

use super::ipv4::{self, Ipv4Repr, PROTO_TCP};
use super::{Error, RxChecksum, TxChecksum, checksum};

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Longest TCP options area (data offset 15).
pub const MAX_OPTIONS_LEN: usize = 40;
/// The most TCP payload one IPv4 packet can carry, and so the largest
/// super-segment an offloading device is handed: the 16-bit total length
/// (RFC 791) less the IPv4 header and the longest TCP header (RFC 9293
/// §3.1).
pub const MAX_PAYLOAD_V4: usize = 65535 - super::ipv4::HEADER_LEN - HEADER_LEN - MAX_OPTIONS_LEN;

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WSCALE: u8 = 3;
const OPT_SACK_PERMITTED: u8 = 4;
const OPT_SACK: u8 = 5;
const OPT_TIMESTAMPS: u8 = 8;

bitflags! {
    /// The control bits of a TCP header (RFC 9293 §3.1, RFC 3168).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TcpFlags: u8 {
        const FIN = 0x01;
        const SYN = 0x02;
        const RST = 0x04;
        const PSH = 0x08;
        const ACK = 0x10;
        const URG = 0x20;
        const ECE = 0x40;
        const CWR = 0x80;
    }
}

/// The timestamps option (RFC 7323 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamps {
    pub tsval: u32,
    pub tsecr: u32,
}

/// Up to four SACK blocks (RFC 2018 §3), each `[left, right)` as raw
/// sequence numbers.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [(u32, u32); 4],
    len: u8,
}

// Equality and `Debug` look only at the blocks in use: `truncate` leaves
// stale entries in the slots past `len`, which must not make equal lists
// compare unequal.
impl core::fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl SackBlocks {
    /// The most blocks one option can carry.
    pub const MAX: usize = 4;

    /// Appends a block; returns false (and drops it) when already full.
    pub fn push(&mut self, left: u32, right: u32) -> bool {
        let Some(slot) = self.blocks.get_mut(usize::from(self.len)) else {
            return false;
        };
        *slot = (left, right);
        self.len += 1;
        true
    }

    /// The blocks, first (most recent) first.
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.blocks[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the first `n` blocks.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n.min(Self::MAX) as u8);
    }
}

/// The TCP options the stack speaks; any other option is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (RFC 9293 §3.7.1), SYN only.
    pub mss: Option<u16>,
    /// Window scale shift count (RFC 7323 §2), SYN only, as received
    /// (callers clamp it to 14).
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 §2), SYN only.
    pub sack_permitted: bool,
    /// Timestamps (RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
    /// SACK blocks (RFC 2018 §3).
    pub sack: SackBlocks,
}

impl TcpOptions {
    /// Bytes these options take on the wire, padded to a multiple of 4, in
    /// the layout [`emit_packet`] writes. SACK blocks that would not fit in 40
    /// bytes are not counted (and not written).
    pub fn wire_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.sack_permitted && self.timestamps.is_some() {
            len += 12; // SACK-permitted + timestamps, packed
        } else {
            if self.sack_permitted {
                len += 4;
            }
            if self.timestamps.is_some() {
                len += 12;
            }
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        len + sack_len(self.sack_blocks_that_fit(len))
    }

    fn sack_blocks_that_fit(&self, used: usize) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(used + 4) / 8;
        self.sack.len().min(room)
    }
}

fn sack_len(blocks: usize) -> usize {
    if blocks == 0 { 0 } else { 4 + 8 * blocks }
}

/// The fields of a TCP header, with sequence numbers as raw `u32`s (the
/// `tcp` layer wraps them in its `SeqNum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
}

impl TcpRepr {
    /// Header length on the wire, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.wire_len()
    }
}

/// A validated TCP segment: its header and its payload.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub repr: TcpRepr,
    pub payload: &'a [u8],
}

/// Parses and validates a TCP segment carried in an IP packet from `src` to
/// `dst` (both IPv4 or both IPv6): data offset, every option's length, and
/// (unless the device vouches for it) the checksum over the IPv4 (RFC 9293
/// §3.1) or IPv6 (RFC 8200 §8.1) pseudo-header. A segment longer than 65535
/// bytes fits in neither family's packet (we take no jumbograms, RFC 2675)
/// and is [`Error::Truncated`].
pub fn parse(
    src: impl Into<IpAddr>,
    dst: impl Into<IpAddr>,
    segment: &[u8],
    rx: RxChecksum,
) -> Result<TcpSegment<'_>, Error> {
    use etherparse::err::tcp::HeaderSliceError;
    let header = TcpHeaderSlice::from_slice(segment).map_err(|e| match e {
        HeaderSliceError::Len(_) if segment.len() >= HEADER_LEN => Error::BadDataOffset,
        HeaderSliceError::Len(_) => Error::Truncated,
        HeaderSliceError::Content(_) => Error::BadDataOffset,
    })?;
    let length = u16::try_from(segment.len()).map_err(|_| Error::Truncated)?;
    if rx == RxChecksum::Verify {
        let pseudo = checksum::pseudo_header_ip(src.into(), dst.into(), PROTO_TCP, u32::from(length));
        let sum = checksum::add_bytes(pseudo, segment);
        if checksum::fold(sum) != 0xffff {
            return Err(Error::BadChecksum);
        }
    }
    let options = parse_options(header.options())?;
    let payload = segment.get(header.slice().len()..).ok_or(Error::Truncated)?;
    let raw_flags = segment.get(13).copied().ok_or(Error::Truncated)?;
    Ok(TcpSegment {
        repr: TcpRepr {
            src_port: header.source_port(),
            dst_port: header.destination_port(),
            seq: header.sequence_number(),
            ack: header.acknowledgment_number(),
            flags: TcpFlags::from_bits_retain(raw_flags),
            window: header.window_size(),
            urgent: header.urgent_pointer(),
            options,
        },
        payload,
    })
}

/// Walks the options area (RFC 9293 §3.1): EOL ends it, NOP is skipped, and
/// every other kind carries a length byte by which unknown kinds are
/// skipped. A length below 2, running past the area, or wrong for a known
/// kind is [`Error::BadOption`].
pub fn parse_options(mut area: &[u8]) -> Result<TcpOptions, Error> {
    let mut opts = TcpOptions::default();
    while let Some((&kind, rest)) = area.split_first() {
        match kind {
            OPT_EOL => break,
            OPT_NOP => {
                area = rest;
                continue;
            }
            _ => {}
        }
        let len = usize::from(*rest.first().ok_or(Error::BadOption)?);
        if len < 2 || len > area.len() {
            return Err(Error::BadOption);
        }
        let body = &area[2..len];
        match kind {
            OPT_MSS => {
                let b: [u8; 2] = body.try_into().map_err(|_| Error::BadOption)?;
                opts.mss = Some(u16::from_be_bytes(b));
            }
            OPT_WSCALE => {
                let [shift] = body else {
                    return Err(Error::BadOption);
                };
                opts.window_scale = Some(*shift);
            }
            OPT_SACK_PERMITTED => {
                if !body.is_empty() {
                    return Err(Error::BadOption);
                }
                opts.sack_permitted = true;
            }
            OPT_SACK => {
                if body.is_empty() || !body.len().is_multiple_of(8) || body.len() / 8 > SackBlocks::MAX {
                    return Err(Error::BadOption);
                }
                let mut sack = SackBlocks::default();
                for b in body.chunks_exact(8) {
                    let left = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    let right = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                    sack.push(left, right);
                }
                opts.sack = sack;
            }
            OPT_TIMESTAMPS => {
                let b: [u8; 8] = body.try_into().map_err(|_| Error::BadOption)?;
                opts.timestamps = Some(Timestamps {
                    tsval: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    tsecr: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                });
            }
            _ => {} // unknown: skipped by its length
        }
        area = &area[len..];
    }
    Ok(opts)
}

/// Writes `opts` in the layout Linux uses (MSS, SACK-permitted+timestamps,
/// window scale, SACK blocks, NOP-padded to 4-byte words) and returns the
/// bytes written, which equals [`TcpOptions::wire_len`].
fn emit_options(opts: &TcpOptions, out: &mut [u8]) -> Result<usize, Error> {
    let need = opts.wire_len();
    let out = out.get_mut(..need).ok_or(Error::BufferTooSmall)?;
    let mut w = Writer { out, at: 0 };
    if let Some(mss) = opts.mss {
        w.put(&[OPT_MSS, 4]);
        w.put(&mss.to_be_bytes());
    }
    match (opts.sack_permitted, opts.timestamps) {
        (true, Some(ts)) => {
            w.put(&[OPT_SACK_PERMITTED, 2, OPT_TIMESTAMPS, 10]);
            w.put_timestamps(ts);
        }
        (sack_permitted, ts) => {
            if sack_permitted {
                w.put(&[OPT_NOP, OPT_NOP, OPT_SACK_PERMITTED, 2]);
            }
            if let Some(ts) = ts {
                w.put(&[OPT_NOP, OPT_NOP, OPT_TIMESTAMPS, 10]);
                w.put_timestamps(ts);
            }
        }
    }
    if let Some(shift) = opts.window_scale {
        w.put(&[OPT_NOP, OPT_WSCALE, 3, shift]);
    }
    let blocks = opts.sack_blocks_that_fit(w.at);
    if blocks > 0 {
        w.put(&[OPT_NOP, OPT_NOP, OPT_SACK, (2 + 8 * blocks) as u8]);
        for &(left, right) in &opts.sack.as_slice()[..blocks] {
            w.put(&left.to_be_bytes());
            w.put(&right.to_be_bytes());
        }
    }
    debug_assert_eq!(w.at, need);
    Ok(w.at)
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }

    fn put_timestamps(&mut self, ts: Timestamps) {
        self.put(&ts.tsval.to_be_bytes());
        self.put(&ts.tsecr.to_be_bytes());
    }
}

/// Writes a whole IPv4 + TCP packet into `buf`: the IPv4 header for `ip`
/// (its `payload_len` is ignored and recomputed), then the segment
/// [`emit_segment`] writes, its checksum filled as `tx` says. Returns the
/// packet length.
pub fn emit_packet(
    ip: &Ipv4Repr,
    ident: u16,
    tcp: &TcpRepr,
    payload: [&[u8]; 2],
    tx: TxChecksum,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let (ip_buf, seg) = buf.split_at_mut_checked(ipv4::HEADER_LEN).ok_or(Error::BufferTooSmall)?;
    let seg_len = emit_segment(tcp, payload, seg)?;
    let ip = Ipv4Repr { payload_len: seg_len, ..*ip };
    ipv4::emit(&ip, ident, ip_buf)?;
    let pseudo = checksum::pseudo_header(ip.src, ip.dst, PROTO_TCP, seg_len as u16);
    fill_checksum(&mut seg[..seg_len], pseudo, tx);
    Ok(ipv4::HEADER_LEN + seg_len)
}

/// Writes a TCP segment into `buf`: the header for `tcp`, then the
/// concatenation of `payload` (given in pieces so that a ring buffer's two
/// halves need no staging copy). The checksum is left zero for the network
/// layer ([`fill_checksum`], which needs the pseudo-header). Returns the
/// segment's length, at most 65535.
pub fn emit_segment(tcp: &TcpRepr, payload: [&[u8]; 2], buf: &mut [u8]) -> Result<usize, Error> {
    let header_len = tcp.header_len();
    let len = header_len + payload[0].len() + payload[1].len();
    if len > buf.len() {
        return Err(Error::BufferTooSmall);
    }
    if len > usize::from(u16::MAX) {
        return Err(Error::Unencodable);
    }
    let seg = &mut buf[..len];
    seg[0..2].copy_from_slice(&tcp.src_port.to_be_bytes());
    seg[2..4].copy_from_slice(&tcp.dst_port.to_be_bytes());
    seg[4..8].copy_from_slice(&tcp.seq.to_be_bytes());
    seg[8..12].copy_from_slice(&tcp.ack.to_be_bytes());
    seg[12] = ((header_len / 4) as u8) << 4;
    seg[13] = tcp.flags.bits();
    seg[14..16].copy_from_slice(&tcp.window.to_be_bytes());
    seg[16..18].copy_from_slice(&[0, 0]);
    seg[18..20].copy_from_slice(&tcp.urgent.to_be_bytes());
    emit_options(&tcp.options, &mut seg[HEADER_LEN..header_len])?;
    let (first, second) = seg[header_len..].split_at_mut(payload[0].len());
    first.copy_from_slice(payload[0]);
    second.copy_from_slice(payload[1]);
    Ok(len)
}

/// Fills the checksum of `segment` (a whole TCP segment, header first,
/// checksum field zero) given its pseudo-header's sum (RFC 9293 §3.1):
/// the full checksum, or with [`TxChecksum::Partial`] only the
/// pseudo-header's, for a device that completes it.
pub fn fill_checksum(segment: &mut [u8], pseudo: u64, tx: TxChecksum) {
    if segment.len() < HEADER_LEN {
        return;
    }
    let csum = match tx {
        TxChecksum::Full => !checksum::fold(checksum::add_bytes(pseudo, segment)),
        TxChecksum::Partial => checksum::fold(pseudo),
    };
    segment[16..18].copy_from_slice(&csum.to_be_bytes());
}
