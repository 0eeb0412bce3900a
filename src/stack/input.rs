//! Packet arrival: validation, demultiplexing by 4-tuple, listeners
//! (RFC 9293 §3.10.7.2), segments for no socket (§3.10.7.1), and ICMP echo.

use core::net::{Ipv4Addr, SocketAddrV4};

use super::Stack;
use super::output::Control;
use super::sockets::{Socket, TcpSocket};
use crate::tcp::{Connection, FourTuple, Reset, Segment, SeqNum, State};
use crate::time::Instant;
use crate::wire::{self, RxChecksum, TcpFlags, icmp, ipv4, tcp};

impl Stack {
    /// Hands the engine a received IPv4 packet. `rx` says whether the
    /// device already vouches for the transport checksum. Malformed
    /// packets are dropped and counted in [`Stack::stats`].
    pub fn handle_packet_with(&mut self, now: Instant, packet: &[u8], rx: RxChecksum) {
        self.stats.rx_packets += 1;
        if packet.first().is_some_and(|b| b >> 4 != 4) {
            self.stats.rx_not_ipv4 += 1;
            return;
        }
        let ip = match ipv4::parse(packet) {
            Ok(ip) => ip,
            Err(e) => return self.count_error(e),
        };
        let src = ip.repr.src;
        if ip.repr.dst != self.cfg.addr || !valid_source(src) || src == self.cfg.addr {
            self.stats.rx_not_for_us += 1;
            return;
        }
        match ip.repr.protocol {
            ipv4::PROTO_TCP => match tcp::parse(src, ip.repr.dst, ip.payload, rx) {
                Ok(seg) => self.handle_tcp(now, src, &seg),
                Err(e) => self.count_error(e),
            },
            ipv4::PROTO_ICMP => match icmp::parse_echo_request(ip.payload) {
                Ok(Some(echo)) => self.queue_control(Control::EchoReply {
                    to: src,
                    ident: echo.ident,
                    seq: echo.seq,
                    data: echo.data.to_vec(),
                }),
                Ok(None) => {}
                Err(e) => self.count_error(e),
            },
            _ => self.stats.rx_unknown_protocol += 1,
        }
    }

    fn count_error(&mut self, e: wire::Error) {
        match e {
            wire::Error::Fragment => self.stats.rx_fragments += 1,
            wire::Error::BadChecksum => {
                self.stats.rx_malformed += 1;
                self.stats.rx_bad_checksum += 1;
            }
            _ => self.stats.rx_malformed += 1,
        }
    }

    fn handle_tcp(&mut self, now: Instant, src: Ipv4Addr, wire_seg: &wire::TcpSegment<'_>) {
        let repr = &wire_seg.repr;
        if repr.src_port == 0 || repr.dst_port == 0 {
            self.stats.rx_malformed += 1;
            return;
        }
        let tuple = FourTuple {
            local: SocketAddrV4::new(self.cfg.addr, repr.dst_port),
            remote: SocketAddrV4::new(src, repr.src_port),
        };
        let seg = Segment::from_wire(wire_seg);
        let listener = self.listeners.get(&tuple.local.port()).copied();
        let mut iss_floor = None;
        if let Some(&index) = self.connections.get(&tuple) {
            let Some(t) = self.sockets.tcp_mut(index) else { return };
            if listener.is_some() && t.conn.time_wait_accepts_syn(&seg) {
                // RFC 6191: a new incarnation replaces the TIME-WAIT one. The
                // old one is freed, or left CLOSED to the application that
                // still holds it.
                iss_floor = Some(t.conn.end_time_wait());
            } else {
                let rst = t.conn.handle_segment(now, &seg);
                self.queue_reset(rst);
            }
            self.after_io(index);
            if iss_floor.is_none() {
                return;
            }
        }
        if let Some(listener) = listener {
            self.listener_input(now, listener, tuple, &seg, iss_floor);
            return;
        }
        self.stats.rx_no_socket += 1;
        self.reset_unmatched(tuple, &seg);
    }

    /// RFC 9293 §3.10.7.2: LISTEN.
    /// `iss_floor`, when reopening from TIME-WAIT, is the lowest ISS the
    /// new connection may use.
    fn listener_input(
        &mut self,
        now: Instant,
        listener: u32,
        tuple: FourTuple,
        seg: &Segment<'_>,
        iss_floor: Option<SeqNum>,
    ) {
        if seg.has(TcpFlags::RST) {
            return;
        }
        if seg.has(TcpFlags::ACK) {
            self.queue_reset(Some(Reset::new(tuple, seg.ack, None)));
            return;
        }
        if !seg.has(TcpFlags::SYN) {
            return;
        }
        let full = self.sockets.len() >= self.cfg.max_sockets;
        let Some(l) = self.sockets.listener_mut(listener) else { return };
        if !l.has_room() || full {
            self.stats.syn_dropped += 1;
            return;
        }
        let mut iss = self.isn.isn(tuple.local, tuple.remote, now);
        if let Some(floor) = iss_floor.filter(|f| iss.before(*f)) {
            iss = floor;
        }
        let offset = self.isn.ts_offset(tuple.local, tuple.remote);
        let cfg = l.tcp.as_deref().unwrap_or(&self.cfg.tcp);
        let conn = Connection::accept(now, tuple, iss, offset, self.cfg.mtu, cfg, seg);
        debug_assert_eq!(conn.state(), State::SynReceived);
        let h = self.sockets.insert(Socket::Tcp(TcpSocket { conn, parent: Some(listener) }));
        self.connections.insert(tuple, h.index);
        if let Some(l) = self.sockets.listener_mut(listener) {
            l.half_open.insert(h.index);
        }
        self.after_io(h.index);
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a reset,
    /// unless it is one.
    fn reset_unmatched(&mut self, tuple: FourTuple, seg: &Segment<'_>) {
        if seg.has(TcpFlags::RST) {
            return;
        }
        let rst = if seg.has(TcpFlags::ACK) {
            Reset::new(tuple, seg.ack, None)
        } else {
            Reset::new(tuple, SeqNum::default(), Some(seg.seq.add(seg.len())))
        };
        self.queue_reset(Some(rst));
    }
}

/// RFC 1122 §3.2.1.3 and §4.2.3.10: never answer a broadcast, multicast,
/// unspecified or loopback source.
fn valid_source(src: Ipv4Addr) -> bool {
    !(src.is_broadcast() || src.is_multicast() || src.is_unspecified() || src.is_loopback())
}
