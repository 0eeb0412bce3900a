//! What an application may ask of its connection, in the spirit of Linux's
//! `TCP_INFO` (state, RTT, congestion window, retransmissions, bytes), and
//! the one-line description diagnostics print, in the spirit of `ss -ti`.

use core::time::Duration;

use super::connection::{ConnStats, Connection};
use super::{SeqNum, State};

/// A snapshot of one connection (`TcpStream::stats`). Fields may be added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpInfo {
    pub state: State,
    /// The smoothed round-trip time (RFC 6298), once measured.
    pub srtt: Option<Duration>,
    /// The retransmission timeout now (RFC 6298 §2).
    pub rto: Duration,
    /// Congestion window and slow-start threshold, in bytes (RFC 5681).
    pub cwnd: u32,
    pub ssthresh: u32,
    /// The largest payload this connection sends per segment (after the
    /// peer's MSS and path-MTU discovery).
    pub mss: u32,
    /// Bytes sent and acknowledged by the peer.
    pub bytes_acked: u64,
    /// Bytes received in order.
    pub bytes_received: u64,
    /// Segments sent again, retransmission timeouts, fast recoveries.
    pub retransmits: u64,
    pub timeouts: u64,
    pub recoveries: u64,
    pub segments_out: u64,
    pub segments_in: u64,
}

impl Connection {
    /// One line about the connection for diagnostics, in the spirit of
    /// `ss -ti`: state, sequence variables relative to the ISNs, windows,
    /// queues, RTO, recovery and timers.
    pub fn describe(&self) -> String {
        let rel = |s: SeqNum| s.distance_from(self.snd.iss);
        format!(
            "{} -> {} {:?}{} una+{} cursor+{} nxt+{} wnd {} buf {} fin {} | rcv.nxt {} readable {} window {} | \
             cwnd {:?} rto {:?} srtt {:?} retries {} recovery {:?} sacked {} | timers {:?} | {:?}",
            self.tuple.local,
            self.tuple.remote,
            self.state,
            if self.orphaned { " (closed)" } else { "" },
            rel(self.snd.una),
            rel(self.snd.cursor),
            rel(self.snd.nxt),
            self.snd.wnd,
            self.snd.buf.len(),
            self.snd.fin_queued,
            self.rcv.nxt.distance_from(self.rcv.irs),
            self.rcv.buf.readable(),
            self.rcv.buf.window(),
            self.congestion_window(),
            self.rtt.rto(),
            self.rtt.srtt(),
            self.snd.retries,
            self.snd.recovery,
            self.snd.sacked.sacked_bytes(),
            self.timers,
            self.stats,
        )
    }

    /// A snapshot of the connection ([`TcpInfo`]). Byte counts are modulo
    /// 2^32 (they come from sequence numbers) until the counters wrap.
    pub fn info(&self) -> TcpInfo {
        let (cwnd, ssthresh) = self.congestion_window();
        let ConnStats { segments_out, segments_in, retransmits, timeouts, recoveries, .. } = self.stats;
        // Less the SYN, which took a sequence number (an acknowledged FIN
        // still counts as one byte).
        let acked = self.snd.una.distance_from(self.snd.iss).saturating_sub(1);
        let received = self.rcv.nxt.distance_from(self.rcv.irs).saturating_sub(1);
        TcpInfo {
            state: self.state,
            srtt: self.rtt.srtt(),
            rto: self.rtt.rto(),
            cwnd,
            ssthresh,
            mss: self.snd.smss,
            bytes_acked: u64::from(acked),
            bytes_received: u64::from(received),
            retransmits,
            timeouts,
            recoveries,
            segments_out,
            segments_in,
        }
    }

    /// Bytes received and not yet read (Linux's `SIOCINQ`).
    pub fn recv_queue(&self) -> usize {
        self.rcv.buf.readable()
    }
}
