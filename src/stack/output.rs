//! Everything the stack sends: resets, SYN-cookie SYN-ACKs and ICMP replies
//! from the control queue first, then connections' segments, round-robin.

use core::net::IpAddr;

use super::sockets::Socket;
use super::{Stack, ip};
use crate::tcp::{Reset, SynAck, Transmit, emit_reset, emit_syn_ack};
use crate::time::Instant;
use crate::wire::icmp::{self, IcmpEcho};
use crate::wire::icmpv6;
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Repr};

/// A packet the stack itself answers with.
#[derive(Debug, Clone)]
pub(super) enum Control {
    /// A reset, sent with this TTL (hop limit).
    Reset(Reset, u8),
    /// A SYN-cookie SYN-ACK, sent with its listener's TTL.
    SynAck(SynAck, u8),
    EchoReply {
        to: IpAddr,
        ident: u16,
        seq: u16,
        data: Vec<u8>,
    },
}

impl Stack {
    pub(super) fn queue_control(&mut self, c: Control) {
        if self.control.len() >= self.cfg.control_queue {
            self.stats.control_dropped += 1;
            return;
        }
        self.control.push_back(c);
    }

    /// Whether [`Stack::poll_transmit`] may have a packet to write now:
    /// an operation since the last turn queued output (a driver about to
    /// sleep runs a turn first).
    pub fn has_output(&self) -> bool {
        !self.control.is_empty() || !self.tx_queue.is_empty()
    }

    /// Writes the next packet to send into `buf` (which should hold at
    /// least one MTU, or 64 KiB with TSO), or returns `None` when nothing
    /// is due. Call until `None` after every input, timeout or operation.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(c) = self.control.pop_front() {
            if let Some(len) = self.emit_control(&c, buf) {
                self.stats.tx_packets += 1;
                return Some(Transmit { len, gso_size: None });
            }
        }
        let limits = self.tx_limits();
        let checksum = self.cfg.offload.tx_checksum;
        while let Some(index) = self.tx_queue.pop_front() {
            let Some(slot) = self.sockets.slot_mut(index) else { continue };
            slot.tx_queued = false;
            let Some(Socket::Tcp(t)) = slot.socket.as_mut() else { continue };
            let (tuple, ttl) = (t.conn.tuple(), t.ttl);
            let room = ip::header_room(tuple.remote.ip()).min(buf.len());
            let sent = t.conn.poll_transmit(now, &mut buf[room..], limits);
            if let Some(tx) = sent {
                // It may have more: back of the queue, for fairness.
                slot.tx_queued = true;
                self.tx_queue.push_back(index);
                self.rearm(index);
                let Some(len) = self.net.wrap_tcp(&tuple, ttl, buf, tx.len, checksum) else { continue };
                self.stats.tx_packets += 1;
                return Some(Transmit { len, gso_size: tx.gso_size });
            }
            self.rearm(index);
        }
        None
    }

    fn emit_control(&mut self, c: &Control, buf: &mut [u8]) -> Option<usize> {
        match c {
            Control::Reset(rst, ttl) => {
                self.stats.tx_resets += 1;
                let len = emit_reset(rst, buf.get_mut(ip::header_room(rst.tuple.remote.ip())..)?)?;
                self.net.wrap_tcp(&rst.tuple, *ttl, buf, len, self.cfg.offload.tx_checksum)
            }
            Control::SynAck(syn_ack, ttl) => {
                let len = emit_syn_ack(syn_ack, buf.get_mut(ip::header_room(syn_ack.tuple.remote.ip())..)?)?;
                self.net.wrap_tcp(&syn_ack.tuple, *ttl, buf, len, self.cfg.offload.tx_checksum)
            }
            Control::EchoReply { to, ident, seq, data } => {
                let echo = IcmpEcho { ident: *ident, seq: *seq, data };
                self.stats.icmp_echo_replies += 1;
                match *to {
                    IpAddr::V4(dst) => {
                        let ip = Ipv4Repr {
                            src: self.cfg.addr,
                            dst,
                            protocol: ipv4::PROTO_ICMP,
                            ttl: self.cfg.ttl,
                            payload_len: 0,
                        };
                        icmp::emit_echo_reply(&ip, &echo, buf).ok()
                    }
                    IpAddr::V6(dst) => {
                        let ip = Ipv6Repr {
                            src: self.cfg.addr6?,
                            dst,
                            next_header: ipv6::PROTO_ICMPV6,
                            hop_limit: self.cfg.ttl,
                            payload_len: 0,
                        };
                        icmpv6::emit_echo_reply(&ip, &echo, buf).ok()
                    }
                }
            }
        }
    }
}
