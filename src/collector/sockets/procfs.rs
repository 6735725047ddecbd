//! Socket tables from `/proc/net/{tcp,tcp6,udp,udp6}`: the fallback for systems where the
//! sock_diag netlink family is unavailable (a seccomp filter, an old or stripped kernel). The
//! kernel formats every line as text on each read, which makes this the slower backend.
//!
//! A line reads `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`; addresses are
//! hexadecimal 32-bit words printed in host byte order, ports hexadecimal.

use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::{Socket, tcp_state};
use crate::model::Protocol;

/// The four tables, in the order the netlink reader dumps them.
const TABLES: [(&str, Protocol); 4] =
    [("tcp", Protocol::Tcp), ("tcp6", Protocol::Tcp), ("udp", Protocol::Udp), ("udp6", Protocol::Udp)];

/// A reader of `/proc/net`, with its buffer kept between polls.
#[derive(Debug)]
pub struct ProcNet {
    net: PathBuf,
    buffer: Vec<u8>,
}

impl ProcNet {
    /// `proc_root` is where procfs is mounted: `/proc`, or a fixture folder in tests.
    pub fn new(proc_root: &Path) -> ProcNet {
        ProcNet { net: proc_root.join("net"), buffer: Vec::new() }
    }

    /// Appends every socket of the four tables to `out`. A missing IPv6 table (IPv6 disabled)
    /// is an empty one.
    pub fn read(&mut self, out: &mut Vec<Socket>) -> io::Result<()> {
        for (name, protocol) in TABLES {
            self.buffer.clear();
            match File::open(self.net.join(name)) {
                Ok(mut file) => _ = file.read_to_end(&mut self.buffer)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound && name.ends_with('6') => continue,
                Err(e) => return Err(e),
            }
            let text = std::str::from_utf8(&self.buffer)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/net/{name} is not text")))?;
            for (number, line) in text.lines().enumerate().skip(1) {
                let socket = parse_line(line, protocol).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("/proc/net/{name} line {}: unreadable: {line:?}", number + 1),
                    )
                })?;
                out.push(socket);
            }
        }
        Ok(())
    }
}

/// One table line; `None` when it does not have the kernel's shape.
fn parse_line(line: &str, protocol: Protocol) -> Option<Socket> {
    let mut fields = line.split_ascii_whitespace();
    let _slot = fields.next()?;
    let local = parse_endpoint(fields.next()?)?;
    let remote = parse_endpoint(fields.next()?)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    let mut rest = fields.skip(3);
    let uid = rest.next()?.parse().ok()?;
    let inode = rest.nth(1)?.parse().ok()?;
    Some(Socket { protocol, local, remote, state: (protocol == Protocol::Tcp).then(|| tcp_state(state)), inode, uid })
}

/// `0100007F:1F90` (127.0.0.1:8080) or the IPv6 form with 32 hex digits.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(u32::from_str_radix(address.get(i * 8..i * 8 + 8)?, 16).ok()?.to_ne_bytes())
    };
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets)).to_canonical()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;

    /// Words as a little-endian kernel prints them.
    fn hex_v4(ip: Ipv4Addr) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip.octets()))
    }

    #[test]
    fn lines_of_each_table_read_back() {
        let line = format!(
            "   0: {}:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0",
            hex_v4(Ipv4Addr::LOCALHOST)
        );
        let s = parse_line(&line, Protocol::Tcp).expect("line");
        assert_eq!(s.local, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(s.state, Some(TcpState::Listening));
        assert_eq!((s.uid, s.inode), (1000, 4242));

        let v6_loopback: String = Ipv6Addr::LOCALHOST
            .octets()
            .chunks(4)
            .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        let line = format!(
            "  12: {v6_loopback}:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0000000000000000 0"
        );
        let s = parse_line(&line, Protocol::Udp).expect("line");
        assert_eq!(s.local, "[::1]:53".parse().expect("addr"));
        assert_eq!(s.state, None);
        assert!(!s.has_peer());
    }

    #[test]
    fn damaged_lines_are_refused() {
        assert!(parse_line("   0: 0100007F:1F90", Protocol::Tcp).is_none());
        assert!(parse_endpoint("0100007:1F90").is_none());
        assert!(parse_endpoint("0100007F:ZZ").is_none());
    }

    #[test]
    fn a_fixture_folder_reads_like_proc() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(root.path().join("net")).expect("mkdir");
        let header =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        let row = format!(
            "   0: {}:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11 1 0\n",
            hex_v4(Ipv4Addr::UNSPECIFIED)
        );
        std::fs::write(root.path().join("net/tcp"), format!("{header}{row}")).expect("write");
        std::fs::write(root.path().join("net/udp"), header).expect("write");
        let mut out = Vec::new();
        ProcNet::new(root.path()).read(&mut out).expect("read without IPv6 tables");
        assert_eq!(out.len(), 1);
        std::fs::write(root.path().join("net/udp"), format!("{header}garbage\n")).expect("write");
        assert!(ProcNet::new(root.path()).read(&mut out).is_err());
    }

    #[test]
    fn the_live_tables_have_a_socket_we_bind() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        let mut out = Vec::new();
        ProcNet::new(Path::new("/proc")).read(&mut out).expect("read");
        assert!(out.iter().any(|s| s.protocol == Protocol::Udp && s.local.port() == port && s.inode != 0));
    }
}
