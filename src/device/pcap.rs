//! Packet captures in the classic pcap format (the `libpcap` file format,
//! draft-ietf-opsawg-pcap), which Wireshark, `tshark -r` and `tcpdump -r`
//! open: a 24-byte file header with link type `LINKTYPE_RAW` (101: each
//! record is an IPv4 or IPv6 packet, told apart by its version nibble),
//! then one record per packet, stamped in microseconds of the wall clock.
//!
//! Two ways to capture:
//! - [`PcapWriter`], which the reactor calls for every packet it receives
//!   and sends (`Config::pcap`), whatever the backend, io_uring included;
//! - [`Pcap`], a middleware: any [`Device`] wrapped in it is a device that
//!   records what passes through it.
//!
//! A device with offloads carries super-segments: the virtio-net header is
//! left out of the capture, so each record is the IP packet whole, its
//! length the IP header's total length (up to 64 KB).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::Device;
use super::vnet::VnetHdr;

/// The magic number of a pcap file with microsecond timestamps.
pub const MAGIC: u32 = 0xa1b2_c3d4;
/// `LINKTYPE_RAW`: records are raw IPv4 or IPv6 packets.
pub const LINKTYPE_RAW: u32 = 101;
/// The longest record kept whole (tcpdump's default snapshot length).
pub const SNAPLEN: u32 = 262_144;

/// Writes a capture: the file header at once, then [`PcapWriter::record`]
/// per packet. Writes go through `W` (buffered when made by
/// [`PcapWriter::create`]); [`PcapWriter::finish`] or dropping flushes.
#[derive(Debug)]
pub struct PcapWriter<W: Write = BufWriter<File>> {
    out: W,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (or truncates) the file at `path` and writes its header.
    pub fn create(path: impl AsRef<Path>) -> io::Result<PcapWriter> {
        let path = path.as_ref();
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("packet capture {}: {e}", path.display())))?;
        PcapWriter::new(BufWriter::with_capacity(256 * 1024, file))
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `out`.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs: 0.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Records `packet` (an IP packet, no virtio-net header) now.
    pub fn record(&mut self, packet: &[u8]) -> io::Result<()> {
        let since_epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        self.record_at(since_epoch, packet)
    }

    /// Records `packet` with the timestamp `since_epoch`.
    pub fn record_at(&mut self, since_epoch: Duration, packet: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let incl = orig.min(SNAPLEN);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&(since_epoch.as_secs() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&since_epoch.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&incl.to_le_bytes());
        header[12..16].copy_from_slice(&orig.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&packet[..incl as usize])
    }

    /// Pushes buffered records to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The records of a capture [`PcapWriter`] wrote (or any classic
/// little-endian, microsecond `LINKTYPE_RAW` capture), in order; an
/// `InvalidData` error names what does not fit.
pub fn records(capture: &[u8]) -> io::Result<Vec<&[u8]>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("pcap: {what}"));
    let u32_at = |at: usize| capture.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if u32_at(0) != Some(MAGIC) {
        return Err(bad("not a little-endian microsecond capture"));
    }
    if u32_at(20) != Some(LINKTYPE_RAW) {
        return Err(bad("link type is not LINKTYPE_RAW"));
    }
    let mut out = Vec::new();
    let mut at = 24;
    while at < capture.len() {
        let (Some(incl), Some(orig)) = (u32_at(at + 8), u32_at(at + 12)) else {
            return Err(bad("truncated record header"));
        };
        let start = at + 16;
        let record = capture.get(start..start + incl as usize).ok_or_else(|| bad("truncated record"))?;
        if incl > orig {
            return Err(bad("record longer than its packet"));
        }
        out.push(record);
        at = start + incl as usize;
    }
    Ok(out)
}

/// A middleware: the device `D`, with every packet it receives and sends
/// recorded. A write to the capture that fails ends the capture (the
/// device goes on); [`Pcap::error`] says why.
#[derive(Debug)]
pub struct Pcap<D, W: Write = BufWriter<File>> {
    inner: D,
    writer: Option<PcapWriter<W>>,
    error: Option<io::Error>,
}

impl<D: Device> Pcap<D> {
    /// `inner`, captured into a new file at `path`.
    pub fn create(inner: D, path: impl AsRef<Path>) -> io::Result<Pcap<D>> {
        Ok(Pcap::new(inner, PcapWriter::create(path)?))
    }
}

impl<D: Device, W: Write> Pcap<D, W> {
    /// `inner`, captured into `writer`.
    pub fn new(inner: D, writer: PcapWriter<W>) -> Pcap<D, W> {
        Pcap { inner, writer: Some(writer), error: None }
    }

    /// The device inside.
    pub fn get_ref(&self) -> &D {
        &self.inner
    }

    /// Why the capture ended early, if it did.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Flushes the capture and returns the device and the writer (`None`
    /// if the capture ended early).
    pub fn into_parts(self) -> io::Result<(D, Option<W>)> {
        let out = self.writer.map(PcapWriter::finish).transpose()?;
        Ok((self.inner, out))
    }

    fn capture(&mut self, frame: &[u8]) {
        let Some(w) = &mut self.writer else { return };
        let packet =
            if self.inner.vnet_hdr() { VnetHdr::parse(frame).map_or(&[][..], |(_, p)| p) } else { frame };
        if let Err(e) = w.record(packet) {
            self.error = Some(e);
            self.writer = None;
        }
    }
}

impl<D: Device, W: Write + Send + 'static> Device for Pcap<D, W> {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.recv(buf)?;
        self.capture(&buf[..n]);
        Ok(n)
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.capture(packet);
        self.inner.send(packet)
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd()
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn vnet_hdr(&self) -> bool {
        self.inner.vnet_hdr()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::loopback;

    #[test]
    fn header_and_records_round_trip() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.record_at(Duration::new(1_700_000_000, 123_456_000), &[0x45, 1, 2, 3]).unwrap();
        w.record(&[0x60; 40]).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian magic");
        assert_eq!(&bytes[4..8], &[2, 0, 4, 0], "version 2.4");
        assert_eq!(&bytes[24..28], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &123_456u32.to_le_bytes(), "microseconds");
        let recs = records(&bytes).unwrap();
        assert_eq!(recs, [&[0x45, 1, 2, 3][..], &[0x60; 40][..]]);
        assert!(records(&bytes[..bytes.len() - 1]).is_err(), "a truncated capture is refused");
    }

    #[test]
    fn the_middleware_records_both_directions() {
        let (a, mut b) = loopback::pair(1500).unwrap();
        let mut a = Pcap::new(a, PcapWriter::new(Vec::new()).unwrap());
        a.send(b"out").unwrap();
        let mut buf = [0u8; 8];
        let n = b.recv(&mut buf).unwrap();
        b.send(&buf[..n]).unwrap();
        b.send(b"reply").unwrap();
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"out", "the device's own packets pass unchanged");
        let (_, out) = a.into_parts().unwrap();
        let bytes = out.unwrap();
        assert_eq!(records(&bytes).unwrap(), [&b"out"[..], b"out"]);
    }
}
