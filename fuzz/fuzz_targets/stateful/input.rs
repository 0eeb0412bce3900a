//! The fuzzer's input, derived with `arbitrary`: two host configurations,
//! a link, and a list of operations. Every enum lists its most ordinary
//! variant first and every flag means "off" when set, so that an input of
//! zeros (where `arbitrary` runs out of bytes) is a plain, valid one.

use arbitrary::Arbitrary;

#[derive(Arbitrary, Debug)]
pub struct Input {
    pub hosts: [HostSpec; 2],
    pub link: LinkSpec,
    pub ops: Vec<Op>,
}

/// One host's settings. `features` bits: 0 no timestamps, 1 no SACK,
/// 2 no window scaling, 3 Nagle off, 4 CUBIC, 5 MTU 104 (MSS 64), 6 TSO,
/// 7 keep-alive on for every connection (with `keepalive`'s short timing).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct HostSpec {
    pub features: u8,
    pub send_buffer: Buffer,
    pub recv_buffer: Buffer,
    /// 0: the default (65536); otherwise 3 + n % 40.
    pub max_sockets: u8,
    pub keepalive: ShortKeepalive,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Buffer {
    Default,
    /// 1 to 4096 bytes.
    Tiny(u16),
    /// 4 KiB to 1 MiB.
    Sized(u32),
}

/// Keep-alive timing short enough to fire within an input: idle 1-600 s,
/// interval 5-64 s, 1-4 probes.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct ShortKeepalive {
    pub idle: u16,
    pub interval: u8,
    pub probes: u8,
}

/// Both links: delay 1-32 ms, loss 0, 1 or 3 %, and (bits of `faults`)
/// 0 duplication, 1 reordering, 2 jitter, 3 an MTU that carries 64 KB
/// super-segments whole.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct LinkSpec {
    pub delay: u8,
    pub loss: u8,
    pub faults: u8,
    pub seed: u16,
}

#[derive(Arbitrary, Debug)]
pub enum Op {
    Wait(Wait),
    Inject(Injection),
    /// Up to 16 KiB (more only slows inputs down: through a 1-byte window
    /// every byte takes a round trip).
    Send {
        host: bool,
        sock: u8,
        len: u16,
    },
    Recv {
        host: bool,
        sock: u8,
        len: u16,
    },
    Shutdown {
        host: bool,
        sock: u8,
        how: How,
    },
    Close {
        host: bool,
        sock: u8,
    },
    Abort {
        host: bool,
        sock: u8,
    },
    /// To the other host's port `[80, 81, 82, 9, 50001, 50002][port % 6]`
    /// (9: nobody listens; 5000x: the other host's fixed local ports, for
    /// simultaneous opens), or port 0 (invalid) when `port` is 255; from an
    /// ephemeral port, or 50000 + `local` when `local` is 1-3.
    Connect {
        host: bool,
        port: u8,
        local: u8,
    },
    /// On `[80, 81, 82, 0][port % 4]` (0: an ephemeral port).
    Listen {
        host: bool,
        port: u8,
        backlog: u8,
    },
    Accept {
        host: bool,
        sock: u8,
    },
    /// `mode % 3`: off, the host's short timing, the default (2 h idle).
    Keepalive {
        host: bool,
        sock: u8,
        mode: u8,
    },
    Nodelay {
        host: bool,
        sock: u8,
        on: bool,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Wait {
    /// Process the next event only.
    Step,
    Millis(u8),
    Seconds(u8),
    /// Up to 255 minutes: past keep-alive's default 2 h idle.
    Minutes(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum How {
    Write,
    Read,
    Both,
}

/// A segment forged as if the peer sent it, built relative to the live
/// state of a connection (or aimed at a listener or an unused port).
#[derive(Arbitrary, Debug)]
pub struct Injection {
    /// The receiving host.
    pub to: bool,
    /// Which connection (an index into the host's connections, closed and
    /// unaccepted ones included) or listening port.
    pub index: u8,
    pub target: Target,
    pub flags: FlagSpec,
    pub seq: SeqSpec,
    pub ack: AckSpec,
    pub window: WindowSpec,
    pub urgent: u16,
    pub len: LenSpec,
    pub options: OptSpec,
    pub checksum: Checksum,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Target {
    Connection,
    /// A listening port (`[80, 81, 82][index % 3]`) from port 40000 +
    /// `src % 8` of the other host.
    Listener {
        src: u8,
    },
    /// Any ports (0 included).
    Ports {
        src: u16,
        dst: u16,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum FlagSpec {
    Ack,
    AckPsh,
    AckFin,
    Syn,
    SynAck,
    Rst,
    RstAck,
    AckUrg,
    Raw(u8),
}

/// A signed offset: exact, small, up to a window, or anywhere.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Delta {
    Zero,
    Small(i8),
    Medium(i16),
    Raw(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum SeqSpec {
    /// RCV.NXT + δ.
    RcvNxt(Delta),
    /// RCV.NXT + RCV.WND + δ: the right edge of the window.
    WindowEdge(i8),
    /// IRS + δ: old duplicates, the SYN again.
    Irs(i8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AckSpec {
    /// SND.UNA + δ.
    SndUna(Delta),
    /// SND.NXT + δ.
    SndNxt(Delta),
    /// ISS + δ.
    Iss(i8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum WindowSpec {
    Max,
    Raw(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum LenSpec {
    Zero,
    Small(u8),
    /// Up to 8 KiB.
    Large(u16),
}

#[derive(Arbitrary, Debug)]
pub struct OptSpec {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: TsSpec,
    /// At most four are sent.
    pub sack: Vec<SackSpec>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum TsSpec {
    /// TSval = TS.Recent, TSecr = the receiver's own clock, when the
    /// connection uses timestamps; none otherwise.
    Auto,
    None,
    /// TS.Recent + δ and the receiver's clock + δ.
    Relative {
        val: Delta,
        ecr: Delta,
    },
}

/// A SACK block `[SND.UNA + left, + len)`.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct SackSpec {
    pub left: Delta,
    pub len: u16,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Checksum {
    Good,
    /// Only the pseudo-header sum, handed over as vouched for by the device
    /// (`RxChecksum::Trusted`).
    Trusted,
    /// Wrong: must be dropped and counted.
    Bad,
}

impl Delta {
    pub fn get(self) -> u32 {
        match self {
            Delta::Zero => 0,
            Delta::Small(d) => d as i32 as u32,
            Delta::Medium(d) => d as i32 as u32,
            Delta::Raw(d) => d,
        }
    }
}
