//! What an application may ask of its connection, in the spirit of Linux's
//! `TCP_INFO`: state, RTT, congestion window, retransmissions, bytes.

use core::time::Duration;

use super::State;
use super::connection::{ConnStats, Connection};

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
