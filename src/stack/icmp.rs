//! ICMP errors about the packets we sent (RFC 1122 §3.2.2 and §4.2.3.9,
//! RFC 4443 §3, RFC 5927): matched to the connection they quote and
//! checked against its data in flight before they may change anything,
//! then handed to it as a [`PathSignal`]: a smaller path MTU (RFC 1191,
//! RFC 8201), a soft error, or a hard one.

use core::net::IpAddr;

use super::{Stack, ip, pmtu};
use crate::error::Error;
use crate::tcp::{FourTuple, PathSignal, SeqNum};
use crate::time::Instant;
use crate::wire::icmp_error::{IcmpError, IcmpErrorKind, quoted_tcp};

impl Stack {
    /// An ICMP error addressed to us. Anything that fails to match a
    /// connection, or quotes a sequence number outside SND.UNA..SND.NXT
    /// (RFC 5927 §4.1: a blind attacker cannot know it), is ignored and
    /// counted.
    pub(super) fn handle_icmp_error(&mut self, now: Instant, err: &IcmpError<'_>) {
        self.stats.icmp_errors += 1;
        let Some(index) = self.quoted_connection(err) else {
            self.stats.icmp_errors_ignored += 1;
            return;
        };
        let Some(tuple) = self.sockets.tcp_mut(index).map(|t| t.conn.tuple()) else { return };
        let signal = match err.kind {
            IcmpErrorKind::PacketTooBig { mtu } => {
                let mtu = pmtu::mtu_from_report(tuple.remote.ip(), mtu, quoted_ipv4_len(err.quoted));
                if mtu >= self.cfg.mtu {
                    // Not below what the link already allows: nothing to
                    // learn (and never a reason to grow).
                    self.stats.icmp_errors_ignored += 1;
                    return;
                }
                if self.pmtu.lower(tuple.remote.ip(), mtu, now, self.cfg.limits.pmtu_entries) {
                    self.stats.pmtu_lowered += 1;
                }
                PathSignal::Mss(ip::mss_for(mtu, &tuple))
            }
            IcmpErrorKind::Unreachable { code } => unreachable_signal(tuple.remote.ip(), code),
            IcmpErrorKind::TimeExceeded | IcmpErrorKind::ParameterProblem => {
                PathSignal::Soft(Error::HostUnreachable)
            }
        };
        if let Some(t) = self.sockets.tcp_mut(index) {
            t.conn.handle_path_signal(signal);
        }
        self.follow_up(index);
    }

    /// The connection whose segment `err` quotes, if the quote names one
    /// of ours and its sequence number is in flight there.
    fn quoted_connection(&mut self, err: &IcmpError<'_>) -> Option<u32> {
        let q = quoted_tcp(err.quoted).ok()?;
        // The quoted packet is one we sent: its source is our end.
        let tuple = FourTuple { local: q.src, remote: q.dst };
        let &index = self.connections.get(&tuple)?;
        let t = self.sockets.tcp_mut(index)?;
        t.conn.quotes_in_flight(SeqNum::new(q.seq)).then_some(index)
    }
}

/// RFC 1122 §4.2.3.9 and RFC 5461 §4: protocol and port unreachable are
/// hard errors (they abort a connection still opening: nobody listens
/// there); every other code is soft.
fn unreachable_signal(family: IpAddr, code: u8) -> PathSignal {
    match (family, code) {
        // IPv4: 2 protocol, 3 port unreachable. IPv6: 4 port unreachable.
        (IpAddr::V4(_), 2 | 3) | (IpAddr::V6(_), 4) => PathSignal::Hard(Error::ConnectionRefused),
        // IPv4 0 (net unreachable); IPv6 0 (no route to destination).
        (_, 0) => PathSignal::Soft(Error::NetworkUnreachable),
        _ => PathSignal::Soft(Error::HostUnreachable),
    }
}

/// The total length of a quoted IPv4 packet (for RFC 1191's plateau guess).
fn quoted_ipv4_len(quoted: &[u8]) -> Option<usize> {
    (quoted.first()? >> 4 == 4).then_some(())?;
    Some(usize::from(u16::from_be_bytes([*quoted.get(2)?, *quoted.get(3)?])))
}
