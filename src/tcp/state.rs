//! The connection states of RFC 9293 §3.3.2.

/// One of the eleven states of RFC 9293 §3.3.2 (figure 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection (also where a connection ends).
    Closed,
    /// Waiting for a connection request (a listener's state).
    Listen,
    /// SYN sent, waiting for a matching SYN.
    SynSent,
    /// SYN received and answered, waiting for its acknowledgment.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// Our FIN sent, waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN acknowledged, waiting for the peer's FIN.
    FinWait2,
    /// The peer's FIN received, waiting for our application to close.
    CloseWait,
    /// Both FINs sent (simultaneous close), waiting for the ACK of ours.
    Closing,
    /// The peer's FIN received and ours sent, waiting for its ACK.
    LastAck,
    /// Both FINs acknowledged, waiting 2·MSL for stray segments.
    TimeWait,
}

impl State {
    /// RFC 9293 §3.3.2: the states after the handshake, where both
    /// sequence spaces are known.
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::Listen | State::SynSent)
    }

    /// States in which the application may still queue data.
    pub fn can_send(self) -> bool {
        matches!(self, State::SynSent | State::SynReceived | State::Established | State::CloseWait)
    }

    /// States in which data from the peer is accepted (RFC 9293
    /// §3.10.7.4, seventh step).
    pub fn can_receive(self) -> bool {
        matches!(self, State::Established | State::FinWait1 | State::FinWait2)
    }

    /// States in which our own data or FIN may be in flight.
    pub fn can_transmit_data(self) -> bool {
        matches!(
            self,
            State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck
        )
    }

    /// Whether the peer's FIN has been received.
    pub fn peer_fin_received(self) -> bool {
        matches!(self, State::CloseWait | State::Closing | State::LastAck | State::TimeWait)
    }
}
