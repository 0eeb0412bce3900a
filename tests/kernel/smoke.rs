use std::io::{Read, Write};
use std::net::Ipv4Addr;

use trust::api::{Config, Interface, TcpListener};
use trust::device::tun::TunConfig;

use crate::common::netns::Netns;

#[test]
fn kernel_client_echo_smoke() {
    let ns = Netns::new("smoke");
    let out = ns.run(|| {
        let mut tun = TunConfig::new("tsmoke0");
        tun.host = Some((Ipv4Addr::new(10, 90, 0, 1), 24));
        let iface = Interface::open(Config::new(tun, Ipv4Addr::new(10, 90, 0, 2))).unwrap();
        eprintln!("backend {}", iface.backend());
        let listener = TcpListener::bind(&iface, 7).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, peer) = listener.accept().unwrap();
            eprintln!("accepted {peer}");
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).unwrap();
            }
        });
        let mut c = std::net::TcpStream::connect("10.90.0.2:7").unwrap();
        c.write_all(b"hello trust").unwrap();
        let mut got = [0u8; 11];
        c.read_exact(&mut got).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        server.join().unwrap();
        drop(iface);
        got
    });
    assert_eq!(&out, b"hello trust");
}
