//! Steering for a multi-queue TUN device (`IFF_MULTI_QUEUE`): which queue
//! the kernel hands each packet to.
//!
//! A multi-queue TUN has one descriptor per queue; an engine and a reactor
//! own each queue and the connections on it. Every packet of a connection
//! must therefore reach the same queue, in both directions, for the
//! connection's whole life.
//!
//! The kernel's automatic steering (`tun_automq_select_queue`) does not
//! promise that: it remembers, per flow, the queue user space last wrote
//! the flow's packets on, but forgets flows idle for three seconds and then
//! falls back to a hash whose seed user space cannot know. A connection
//! trust opened on queue 1 could then see its next segment on queue 0, where
//! no engine knows it. So the device gets a steering program instead
//! (`TUNSETSTEERINGEBPF`, Linux 4.16): a ten-instruction socket filter that
//! computes [`crate::wire::flow::hash`] over the TCP port pair. The kernel
//! takes its result modulo the number of queues, which is
//! [`crate::wire::flow::queue`]: the engine on each queue uses the same
//! function to pick ephemeral ports whose flows come back to it, and a
//! listener bound on every queue sees each SYN on the queue that will
//! carry the rest of its connection.
//!
//! Loading the program needs `CAP_BPF` (or root) besides `CAP_NET_ADMIN`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use super::tun::{Tun, step_error};
use crate::wire::flow::FLOW_HASH_MULTIPLIER;

/// `TUNSETSTEERINGEBPF` (`_IOR('T', 224, int)`), from
/// `include/uapi/linux/if_tun.h`.
const TUNSETSTEERINGEBPF: libc::Ioctl = 0x8004_54e0;
/// `BPF_PROG_LOAD` and `BPF_PROG_TYPE_SOCKET_FILTER` (`linux/bpf.h`).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    /// Destination register in the low nibble, source in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off: 0, imm }
}

// Opcodes (`linux/bpf_common.h`, `linux/bpf.h`).
const MOV64_REG: u8 = 0x07 | 0xb0 | 0x08; // BPF_ALU64 | BPF_MOV | BPF_X
const LD_ABS_B: u8 = 0x20 | 0x10; // BPF_LD | BPF_ABS | BPF_B
const LD_IND_H: u8 = 0x40 | 0x08; // BPF_LD | BPF_IND | BPF_H
const AND32_IMM: u8 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
const LSH32_IMM: u8 = 0x04 | 0x60; // BPF_ALU | BPF_LSH | BPF_K
const XOR32_REG: u8 = 0x04 | 0xa0 | 0x08; // BPF_ALU | BPF_XOR | BPF_X
const MUL32_IMM: u8 = 0x04 | 0x20; // BPF_ALU | BPF_MUL | BPF_K
const RSH32_IMM: u8 = 0x04 | 0x70; // BPF_ALU | BPF_RSH | BPF_K
const EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT

/// The steering program: `flow::hash(source port, destination port)` of
/// the IPv4 packet at the start of the buffer (a TUN has no link header).
/// The legacy packet loads (`LD_ABS`/`LD_IND`) read in network byte order
/// and end the program with 0 if the packet is too short, so a runt goes to
/// queue 0. Non-TCP packets are hashed on the same bytes; which queue they
/// reach does not matter.
static PROGRAM: [Insn; 12] = [
    insn(MOV64_REG, 6, 1, 0),    // r6 = skb (the loads need it there)
    insn(LD_ABS_B, 0, 0, 0),     // r0 = version and IHL
    insn(AND32_IMM, 0, 0, 0x0f), // r0 = IHL
    insn(LSH32_IMM, 0, 0, 2),    // r0 = IPv4 header length
    insn(MOV64_REG, 7, 0, 0),    // r7 = offset of the TCP header
    insn(LD_IND_H, 0, 7, 0),     // r0 = source port
    insn(MOV64_REG, 8, 0, 0),    // r8 = source port
    insn(LD_IND_H, 0, 7, 2),     // r0 = destination port
    insn(XOR32_REG, 0, 8, 0),    // r0 ^= r8
    insn(MUL32_IMM, 0, 0, FLOW_HASH_MULTIPLIER as i32), // r0 *= multiplier (mod 2^32)
    insn(RSH32_IMM, 0, 0, 16),   // r0 >>= 16
    insn(EXIT, 0, 0, 0),         // return r0
];

/// The `BPF_PROG_LOAD` part of `union bpf_attr`; the kernel zero-fills
/// the fields after it.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// Loads the steering program and attaches it to the device behind
/// `queue` (any one of its queue descriptors).
pub fn attach_steering(queue: &Tun) -> io::Result<()> {
    let license = c"GPL";
    let mut log = vec![0u8; 4096];
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_SOCKET_FILTER,
        insn_cnt: PROGRAM.len() as u32,
        insns: PROGRAM.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
    };
    // SAFETY: `attr` is a valid `BPF_PROG_LOAD` attribute of the size
    // passed; the instruction array, the license string and the log buffer
    // it points to are alive and of the stated lengths for the whole call,
    // and the kernel writes only into the log buffer.
    let fd = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &attr as *const ProgLoadAttr, size_of::<ProgLoadAttr>())
    };
    if fd < 0 {
        let errno = Errno::last();
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        let verifier = String::from_utf8_lossy(&log[..end]);
        let verifier = verifier.trim();
        let step = if verifier.is_empty() {
            "loading the queue steering program (needs CAP_BPF)".to_string()
        } else {
            format!("loading the queue steering program (needs CAP_BPF; verifier: {verifier})")
        };
        return Err(step_error(queue.name(), &step, errno));
    }
    // SAFETY: the bpf syscall returned a new descriptor that nothing else
    // owns.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let prog_fd: libc::c_int = prog.as_raw_fd();
    // SAFETY: TUNSETSTEERINGEBPF reads one `int` (the program's descriptor)
    // through its argument, which points to a live local; `queue` is an
    // open TUN descriptor. The kernel takes its own reference to the
    // program, so closing `prog` afterwards is fine.
    let rc = unsafe { libc::ioctl(queue.as_raw_fd(), TUNSETSTEERINGEBPF, &prog_fd as *const libc::c_int) };
    if rc < 0 {
        return Err(step_error(queue.name(), "TUNSETSTEERINGEBPF", Errno::last()));
    }
    Ok(())
}
