//! Packet arrival: validation, demultiplexing by 4-tuple, listeners
//! (RFC 9293 §3.10.7.2) with their SYN queue and SYN cookies (RFC 4987
//! §3.6), segments for no socket (§3.10.7.1), and ICMP echo; every reply to
//! something no connection vouches for is rate-limited.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::output::Control;
use super::sockets::{Socket, TcpSocket};
use super::{Stack, ip};
use crate::tcp::syncookie::{self, cookie_syn_ack};
use crate::tcp::{Connection, FourTuple, Reset, Segment, SeqNum, State};
use crate::time::Instant;
use crate::wire::{self, IcmpEcho, RxChecksum, TcpFlags, icmp, icmp_error, icmpv6, ipv4, ipv6, tcp};

impl Stack {
    /// Hands the engine a received IP packet, of a family the interface
    /// has an address of. `rx` says whether the device already
    /// vouches for the transport checksum. Malformed packets are dropped and
    /// counted in [`Stack::stats`].
    pub fn handle_packet_with(&mut self, now: Instant, packet: &[u8], rx: RxChecksum) {
        self.stats.rx_packets += 1;
        match packet.first().map(|b| b >> 4) {
            Some(4) if !self.cfg.addr.is_unspecified() => self.handle_ipv4(now, packet, rx),
            Some(6) if self.cfg.addr6.is_some() => self.handle_ipv6(now, packet, rx),
            // An empty packet is malformed; another version is not ours.
            None => self.stats.rx_malformed += 1,
            Some(_) => self.stats.rx_unknown_version += 1,
        }
    }

    fn handle_ipv4(&mut self, now: Instant, packet: &[u8], rx: RxChecksum) {
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
                Ok(seg) => self.handle_tcp(now, ip.repr.dst.into(), src.into(), &seg),
                Err(e) => self.count_error(e),
            },
            ipv4::PROTO_ICMP => match icmp_error::parse_icmpv4_error(ip.payload) {
                Ok(Some(err)) => self.handle_icmp_error(now, &err),
                Ok(None) => match icmp::parse_echo_request(ip.payload) {
                    Ok(echo) => self.answer_echo(now, src.into(), echo),
                    Err(e) => self.count_error(e),
                },
                Err(e) => self.count_error(e),
            },
            _ => self.stats.rx_unknown_protocol += 1,
        }
    }

    /// An IPv6 packet (RFC 8200): extension headers walked by
    /// `wire::ipv6`, then TCP or ICMPv6. Neighbour Discovery is not
    /// needed on a layer-3 TUN device and is not spoken.
    fn handle_ipv6(&mut self, now: Instant, packet: &[u8], rx: RxChecksum) {
        let ip = match ipv6::parse(packet) {
            Ok(ip) => ip,
            Err(e) => return self.count_error(e),
        };
        let (src, dst) = (ip.repr.src, ip.repr.dst);
        if Some(dst) != self.cfg.addr6 || !valid_source6(src) || Some(src) == self.cfg.addr6 {
            self.stats.rx_not_for_us += 1;
            return;
        }
        match ip.repr.next_header {
            ipv4::PROTO_TCP => match tcp::parse(src, dst, ip.payload, rx) {
                Ok(seg) => self.handle_tcp(now, dst.into(), src.into(), &seg),
                Err(e) => self.count_error(e),
            },
            ipv6::PROTO_ICMPV6 => match icmp_error::parse_icmpv6_error(src, dst, ip.payload) {
                Ok(Some(err)) => self.handle_icmp_error(now, &err),
                Ok(None) => match icmpv6::parse_echo_request(src, dst, ip.payload) {
                    Ok(echo) => self.answer_echo(now, src.into(), echo),
                    Err(e) => self.count_error(e),
                },
                Err(e) => self.count_error(e),
            },
            ipv6::NO_NEXT_HEADER => {}
            _ => self.stats.rx_unknown_protocol += 1,
        }
    }

    /// An echo request gets its reply (RFC 1122 §3.2.2.6, RFC 4443 §4.2),
    /// within the ICMP rate limit.
    fn answer_echo(&mut self, now: Instant, from: IpAddr, echo: Option<IcmpEcho<'_>>) {
        let Some(echo) = echo else { return };
        if !self.icmp.allow(now) {
            self.stats.icmp_rate_limited += 1;
            return;
        }
        let data = echo.data.to_vec();
        self.queue_control(Control::EchoReply { to: from, ident: echo.ident, seq: echo.seq, data });
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

    fn handle_tcp(&mut self, now: Instant, dst: IpAddr, src: IpAddr, wire_seg: &wire::TcpSegment<'_>) {
        let repr = &wire_seg.repr;
        if repr.src_port == 0 || repr.dst_port == 0 {
            self.stats.rx_malformed += 1;
            return;
        }
        let tuple = FourTuple {
            local: SocketAddr::new(dst, repr.dst_port),
            remote: SocketAddr::new(src, repr.src_port),
        };
        let seg = Segment::from_wire(wire_seg);
        let listener = self.listeners.get(&tuple.local.port()).copied();
        let mut iss_floor = None;
        if let Some(&index) = self.connections.get(&tuple) {
            if self.completes_into_full_accept_queue(index, &seg) {
                // Linux's listen overflow: the handshake stays half-open and
                // the SYN-ACK's retransmission asks for the ACK again. The
                // peer has shown it is there, so its SYN-ACK retries start
                // over: it waits for as long as it keeps answering.
                self.stats.listen_overflows += 1;
                if let Some(t) = self.sockets.tcp_mut(index) {
                    t.conn.peer_answered_handshake();
                }
                return;
            }
            let pressure = self.memory_pressure();
            let Some(t) = self.sockets.tcp_mut(index) else { return };
            t.conn.set_memory_pressure(pressure);
            if listener.is_some() && t.conn.time_wait_accepts_syn(&seg) {
                // RFC 6191: a new incarnation replaces the TIME-WAIT one. The
                // old one is freed, or left CLOSED to the application that
                // still holds it.
                iss_floor = Some(t.conn.end_time_wait());
            } else {
                let refused = t.conn.bytes_refused();
                let rst = t.conn.handle_segment(now, &seg);
                self.stats.rx_bytes_refused += t.conn.bytes_refused() - refused;
                if t.conn.challenge_ack_pending() && !self.challenges.allow(now) {
                    t.conn.cancel_challenge_ack();
                    self.stats.challenge_acks_suppressed += 1;
                }
                let ttl = t.ttl;
                self.queue_reset(rst, ttl);
            }
            self.follow_up(index);
            if iss_floor.is_none() {
                return;
            }
        }
        if let Some(listener) = listener {
            self.listener_input(now, listener, tuple, &seg, iss_floor);
            return;
        }
        self.stats.rx_no_socket += 1;
        self.reset_unmatched(now, tuple, &seg);
    }

    /// Whether `seg` would complete the handshake of half-open connection
    /// `index` while its listener's accept queue is full.
    fn completes_into_full_accept_queue(&mut self, index: u32, seg: &Segment<'_>) -> bool {
        let Some(t) = self.sockets.tcp_mut(index) else { return false };
        let (Some(parent), State::SynReceived) = (t.parent, t.conn.state()) else { return false };
        let completing = seg.flags & (TcpFlags::ACK | TcpFlags::SYN | TcpFlags::RST) == TcpFlags::ACK;
        completing && self.sockets.listener_mut(parent).is_some_and(|l| !l.can_accept_more())
    }

    /// RFC 9293 §3.10.7.2: LISTEN, with a SYN queue and SYN cookies (RFC
    /// 4987 §3.6). `iss_floor`, when reopening from TIME-WAIT, is the
    /// lowest ISS the new connection may use.
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
            let cookie = if seg.has(TcpFlags::SYN) {
                Cookie::NotChecked
            } else {
                self.cookie_ack(now, listener, tuple, seg)
            };
            if cookie == Cookie::NotChecked {
                self.reset_unmatched(now, tuple, seg);
            }
            return;
        }
        if !seg.has(TcpFlags::SYN) {
            return;
        }
        let table_full = self.sockets.len() >= self.cfg.max_sockets;
        let limits = &self.cfg.limits;
        let Some(l) = self.sockets.listener_mut(listener) else { return };
        if !l.can_accept_more() {
            // As Linux: no point in a handshake nobody can accept.
            self.stats.syn_dropped += 1;
            return;
        }
        if table_full || l.syn_queue.len() >= limits.syn_backlog {
            if limits.syn_cookies {
                l.last_overflow = Some(now);
                let cfg = l.tcp.as_deref().unwrap_or(&self.cfg.tcp);
                let syn_ack =
                    cookie_syn_ack(&self.isn, now, tuple, seg, cfg, ip::mss_for(self.cfg.mtu, &tuple));
                self.stats.syn_cookies_sent += 1;
                let ttl = l.ttl;
                self.queue_control(Control::SynAck(syn_ack, ttl));
                return;
            }
            match l.syn_queue.oldest() {
                Some(oldest) if !table_full => {
                    self.stats.syn_queue_evicted += 1;
                    self.release(oldest);
                }
                _ => {
                    self.stats.syn_dropped += 1;
                    return;
                }
            }
        }
        let mut iss = self.isn.isn(tuple.local, tuple.remote, now);
        if let Some(floor) = iss_floor.filter(|f| iss.before(*f)) {
            iss = floor;
        }
        let offset = self.isn.ts_offset(tuple.local, tuple.remote);
        let Some(l) = self.sockets.listener_mut(listener) else { return };
        let (cfg, ttl) = (l.tcp.as_deref().unwrap_or(&self.cfg.tcp), l.ttl);
        let mut conn =
            Connection::accept(now, tuple, iss, offset, ip::mss_for(self.cfg.mtu, &tuple), cfg, seg);
        debug_assert_eq!(conn.state(), State::SynReceived);
        if let Some(s) = self.pmtu.signal_for(&tuple, now) {
            conn.handle_path_signal(s);
        }
        let h = self.sockets.insert(Socket::Tcp(TcpSocket { conn, parent: Some(listener), ttl }));
        self.connections.insert(tuple, h.index);
        if let Some(l) = self.sockets.listener_mut(listener) {
            l.syn_queue.insert(h.index);
        }
        self.follow_up(h.index);
    }

    /// An ACK for a listener: if cookies went out lately, it may carry one.
    /// A valid cookie opens the connection straight into the accept queue
    /// and hands it the ACK (with any data it carries).
    ///
    /// One that fails is dropped, not reset: it may be a later segment of
    /// a cookie connection whose first segment was lost or overtaken (only
    /// the first carries the peer's ISN that the cookie covers), and a
    /// reset would kill a connection the flood pushed onto cookies. The
    /// peer's retransmission of that first segment then opens it. (Outside
    /// such a period a stray ACK gets its reset, RFC 9293 §3.10.7.2.)
    fn cookie_ack(&mut self, now: Instant, listener: u32, tuple: FourTuple, seg: &Segment<'_>) -> Cookie {
        let table_full = self.sockets.len() >= self.cfg.max_sockets;
        let Some(l) = self.sockets.listener_mut(listener) else { return Cookie::NotChecked };
        let lifetime = syncookie::PERIOD * 3;
        if l.last_overflow.is_none_or(|at| now.saturating_since(at) > lifetime) {
            return Cookie::NotChecked;
        }
        let (cfg, ttl) = (l.tcp.as_deref().unwrap_or(&self.cfg.tcp), l.ttl);
        let offset = self.isn.ts_offset(tuple.local, tuple.remote);
        let Some(mut conn) = Connection::from_cookie(
            &self.isn,
            now,
            tuple,
            seg,
            offset,
            ip::mss_for(self.cfg.mtu, &tuple),
            cfg,
        ) else {
            self.stats.syn_cookies_rejected += 1;
            return Cookie::Invalid;
        };
        self.stats.syn_cookies_validated += 1;
        if !l.can_accept_more() {
            self.stats.listen_overflows += 1;
            return Cookie::Valid;
        }
        if table_full {
            self.stats.syn_dropped += 1;
            return Cookie::Valid;
        }
        if let Some(s) = self.pmtu.signal_for(&tuple, now) {
            conn.handle_path_signal(s);
        }
        let pressure = self.memory_pressure();
        let h = self.sockets.insert(Socket::Tcp(TcpSocket { conn, parent: Some(listener), ttl }));
        self.connections.insert(tuple, h.index);
        let mut established = false;
        if let Some(t) = self.sockets.tcp_mut(h.index) {
            t.conn.set_memory_pressure(pressure);
            let rst = t.conn.handle_segment(now, seg);
            established = t.conn.state() != State::SynReceived;
            self.queue_reset(rst, ttl);
        }
        if !established {
            // The ACK always completes a handshake its cookie vouches for;
            // should it not, nothing half-open without a timer may stay.
            self.release(h.index);
            return Cookie::Invalid;
        }
        if let Some(l) = self.sockets.listener_mut(listener) {
            l.accept_queue.push_back(h.index);
        }
        self.follow_up(h.index);
        self.refresh_readiness(listener);
        Cookie::Valid
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a reset,
    /// unless it is one, within the reset rate limit.
    fn reset_unmatched(&mut self, now: Instant, tuple: FourTuple, seg: &Segment<'_>) {
        if seg.has(TcpFlags::RST) {
            return;
        }
        if !self.resets.allow(now) {
            self.stats.resets_rate_limited += 1;
            return;
        }
        let rst = if seg.has(TcpFlags::ACK) {
            Reset::new(tuple, seg.ack, None)
        } else {
            Reset::new(tuple, SeqNum::default(), Some(seg.seq.add(seg.len())))
        };
        self.queue_reset(Some(rst), self.cfg.ttl);
    }
}

/// What a listener made of an ACK as a SYN cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cookie {
    /// No cookies went out lately: an ordinary stray ACK.
    NotChecked,
    Invalid,
    Valid,
}

/// RFC 1122 §3.2.1.3 and §4.2.3.10: never answer a broadcast, multicast,
/// unspecified or loopback source.
fn valid_source(src: Ipv4Addr) -> bool {
    !(src.is_broadcast() || src.is_multicast() || src.is_unspecified() || src.is_loopback())
}

/// An IPv6 source a connection may come from: not unspecified, multicast
/// or loopback (RFC 4291 §2.5.2-2.5.3, §2.7), and not an IPv4-mapped
/// address (RFC 4291 §2.5.5.2: those name IPv4 nodes, which speak IPv4).
fn valid_source6(src: Ipv6Addr) -> bool {
    !(src.is_unspecified() || src.is_multicast() || src.is_loopback() || src.to_ipv4_mapped().is_some())
}
