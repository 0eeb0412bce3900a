//! smoltcp, the peer user-space stack, over a TUN device in a namespace of
//! its own: the same layout as trust's case (the kernel's side of the TUN at
//! 10.95.0.1/24, smoltcp at .2, MTU 1500), the same socket buffers, the
//! same workload and the same kernel peer.
//!
//! The loop is modelled on smoltcp's `examples/benchmark.rs`: poll the
//! interface, move bytes between the socket and the application, then sleep
//! in `phy::wait` (select on the TUN descriptor) until a packet arrives or
//! smoltcp's next deadline. smoltcp is used as shipped: default congestion
//! control (none), Nagle and delayed ACKs on, `TunTapInterface` (one
//! `read`/`write` per packet, no offloads).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Medium, TunTapInterface, wait as phy_wait};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use crate::netns::Netns;
use crate::report::Dir;
use crate::{CHUNK, MTU, Opts, TIMEOUT, kernel_sink, kernel_source, pattern};

const DEVICE: &str = "smol0";
const HOST: Ipv4Addr = Ipv4Addr::new(10, 95, 0, 1);
const STACK: Ipv4Addr = Ipv4Addr::new(10, 95, 0, 2);
const PORT: u16 = 5004;
/// Longest sleep in `phy::wait` when smoltcp has no deadline, so that the
/// loop notices the end of a transfer and its own deadline.
const IDLE_WAIT: SmolDuration = SmolDuration::from_millis(10);

/// One smoltcp interface on the TUN device with one TCP socket.
struct Stack {
    device: TunTapInterface,
    iface: Interface,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
    deadline: Instant,
}

impl Stack {
    /// Attaches to the namespace's TUN device (already configured) with a
    /// socket of `buffer` bytes each way.
    fn new(buffer: usize) -> Stack {
        let mut device = TunTapInterface::new(DEVICE, Medium::Ip)
            .unwrap_or_else(|e| panic!("smoltcp: cannot attach to TUN device {DEVICE}: {e}"));
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        let mut iface = Interface::new(config, &mut device, SmolInstant::now());
        iface.update_ip_addrs(|addrs| {
            addrs.push(IpCidr::new(IpAddress::Ipv4(STACK), 24)).expect("one address fits");
        });
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        let mut sockets = SocketSet::new(vec![]);
        let handle = sockets.add(socket);
        Stack { device, iface, sockets, handle, deadline: Instant::now() + TIMEOUT }
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.handle)
    }

    /// Processes every packet the TUN holds and sends what is due.
    fn poll(&mut self) {
        assert!(
            Instant::now() < self.deadline,
            "smoltcp: transfer not done within {TIMEOUT:?} (socket state {})",
            self.socket().state()
        );
        self.iface.poll(SmolInstant::now(), &mut self.device, &mut self.sockets);
    }

    /// Sleeps until a packet arrives or smoltcp's next deadline.
    fn wait(&mut self) {
        let now = SmolInstant::now();
        let timeout = match self.iface.poll_at(now, &self.sockets) {
            Some(at) if at <= now => return,
            Some(at) => (at - now).min(IDLE_WAIT),
            None => IDLE_WAIT,
        };
        phy_wait(self.device.as_raw_fd(), Some(timeout)).expect("smoltcp: phy::wait");
    }
}

/// Creates the namespace with its TUN device configured like trust's, and
/// runs one transfer in `dir`. Returns how long the transfer took.
pub fn transfer(o: &Opts, dir: Dir, run: usize) -> Duration {
    let ns = Netns::new(match dir {
        Dir::Receives => "tputsmrx",
        Dir::Sends => "tputsmtx",
    });
    // A persistent device, addressed before smoltcp attaches; it goes with
    // the namespace. It is brought up only once smoltcp holds it (as trust
    // does): set up without a reader, it has no carrier, and attaching
    // leaves its queue to be activated later by the kernel's link watcher,
    // which drops what is sent before (a lost SYN-ACK costs a 1 s timeout).
    ns.exec(&["ip", "tuntap", "add", "dev", DEVICE, "mode", "tun"]);
    ns.exec(&["ip", "addr", "add", &format!("{HOST}/24"), "dev", DEVICE]);
    ns.exec(&["ip", "link", "set", DEVICE, "mtu", &MTU.to_string()]);
    let (bytes, buffer) = (o.bytes, o.buffer);
    let name = ns.name().to_string();
    // A fresh local port per run, in case a namespace outlived its run.
    let local_port = 49152 + (run % 10000) as u16;
    ns.run(move || {
        let s = Stack::new(buffer);
        let up = Command::new("ip").args(["-n", &name, "link", "set", DEVICE, "up"]).status();
        assert!(up.is_ok_and(|s| s.success()), "cannot bring {DEVICE} up in {name}");
        match dir {
            Dir::Receives => receives(s, bytes),
            Dir::Sends => sends(s, bytes, local_port),
        }
    })
}

/// kernel → smoltcp: a kernel client writes `bytes`, smoltcp reads them
/// (copying them out, as a `read` would) until the client's FIN.
fn receives(mut s: Stack, bytes: u64) -> Duration {
    s.socket().listen(PORT).expect("smoltcp: listen");
    let start = Instant::now();
    let client = std::thread::spawn(move || kernel_source(SocketAddrV4::new(STACK, PORT), bytes));
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    loop {
        s.poll();
        let socket = s.socket();
        while socket.can_recv() {
            got += socket.recv_slice(&mut buf).expect("smoltcp: recv") as u64;
        }
        // Every byte and the FIN (the receiving half is closed).
        if got >= bytes && !socket.may_recv() && socket.state() != tcp::State::Listen {
            break;
        }
        if client.is_finished() && socket.state() == tcp::State::Listen {
            // It never connected: its panic says why.
            client.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            panic!("smoltcp: the kernel client finished without connecting");
        }
        s.wait();
    }
    let elapsed = start.elapsed();
    client.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert_eq!(got, bytes, "smoltcp received the wrong number of bytes");
    elapsed
}

/// smoltcp → kernel: smoltcp writes `bytes` (copying them in, as a `write`
/// would) and closes; a kernel server reads to EOF.
fn sends(mut s: Stack, bytes: u64, local_port: u16) -> Duration {
    let listener = std::net::TcpListener::bind((HOST, PORT)).expect("kernel server: bind");
    let server = std::thread::spawn(move || kernel_sink(listener));
    let start = Instant::now();
    let remote = (IpAddress::Ipv4(HOST), PORT);
    let socket = s.sockets.get_mut::<tcp::Socket>(s.handle);
    socket.connect(s.iface.context(), remote, local_port).expect("smoltcp: connect");
    let data = pattern();
    let mut sent = 0u64;
    let mut closed = false;
    while !server.is_finished() {
        s.poll();
        let socket = s.socket();
        assert!(socket.is_open() || closed, "smoltcp: connection to {HOST}:{PORT} failed");
        while socket.can_send() && sent < bytes {
            let n = (bytes - sent).min(CHUNK as u64) as usize;
            let k = socket.send_slice(&data[..n]).expect("smoltcp: send");
            if k == 0 {
                break;
            }
            sent += k as u64;
        }
        if sent == bytes && !closed {
            socket.close();
            closed = true;
        }
        s.wait();
    }
    let (n, end) = server.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert_eq!(n, bytes, "the kernel received the wrong number of bytes from smoltcp");
    end - start
}
