//! Socket tables from NETLINK_SOCK_DIAG, the interface `ss` reads: dump requests answered with
//! fixed-size binary records (`struct inet_diag_msg`). Nothing is formatted by the kernel or
//! parsed as text, which is why this is the default backend.
//!
//! TCP is asked for with the first inet_diag request (`TCPDIAG_GETSOCK`), which dumps IPv4 and
//! IPv6 in one walk of the kernel's connection tables; the per-family request walks them once
//! per family, visiting every TCP socket twice (with 10,000 sockets this request took a quarter
//! off the table's read time). Kernels without it get the per-family requests. UDP has only
//! those.
//!
//! The records are read with bounds-checked slices: a short or odd message is an error, never
//! a panic.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, sendto, socket,
};

use super::{Socket, tcp_state};
use crate::model::Protocol;

/// `SOCK_DIAG_BY_FAMILY` from `linux/sock_diag.h`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCPDIAG_GETSOCK` from `linux/inet_diag.h`: the first request, both families at once.
const TCPDIAG_GETSOCK: u16 = 18;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `struct nlmsghdr`.
const HEADER_LEN: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, extensions, pad, states, and a 48-byte socket id.
const REQUEST_LEN: usize = 56;
/// `struct inet_diag_req`: family, prefix lengths, extensions, the socket id, states, dbs.
const FIRST_REQUEST_LEN: usize = 60;
/// `struct inet_diag_msg` without attributes (none are requested).
const MESSAGE_LEN: usize = 72;
/// Every TCP state, 1 (ESTABLISHED) to 12 (NEW_SYN_RECV), as `ss -a` asks.
const ALL_STATES: u32 = 0x1ffe;
/// The kernel fills up to 32 KiB per dump message batch; twice that leaves room.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// An open sock_diag socket, reused for every poll.
#[derive(Debug)]
pub struct SockDiag {
    fd: OwnedFd,
    buffer: Vec<u8>,
    sequence: u32,
    /// Whether the kernel answers `TCPDIAG_GETSOCK`; cleared the first time it does not.
    tcp_in_one_dump: bool,
}

impl SockDiag {
    pub fn open() -> io::Result<SockDiag> {
        let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkSockDiag)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(SockDiag { fd, buffer: vec![0; RECEIVE_BUFFER], sequence: 0, tcp_in_one_dump: true })
    }

    /// Appends every TCP and UDP socket, IPv4 and IPv6, to `out`.
    pub fn read(&mut self, out: &mut Vec<Socket>) -> io::Result<()> {
        let families = [libc::AF_INET as u8, libc::AF_INET6 as u8];
        if self.tcp_in_one_dump {
            let before = out.len();
            self.sequence = self.sequence.wrapping_add(1);
            let request = first_request(self.sequence);
            if self.dump(&request, TCPDIAG_GETSOCK, Protocol::Tcp, out).is_err() {
                out.truncate(before);
                self.tcp_in_one_dump = false;
            }
        }
        if !self.tcp_in_one_dump {
            for family in families {
                self.dump_family(family, Protocol::Tcp, out)?;
            }
        }
        for family in families {
            self.dump_family(family, Protocol::Udp, out)?;
        }
        Ok(())
    }

    fn dump_family(&mut self, family: u8, protocol: Protocol, out: &mut Vec<Socket>) -> io::Result<()> {
        let number = match protocol {
            Protocol::Tcp => libc::IPPROTO_TCP,
            Protocol::Udp => libc::IPPROTO_UDP,
        };
        self.sequence = self.sequence.wrapping_add(1);
        let request = request(family, number as u8, self.sequence);
        self.dump(&request, SOCK_DIAG_BY_FAMILY, protocol, out)
    }

    /// Sends a dump request and reads its answers, messages of type `kind`, until done.
    fn dump(&mut self, request: &[u8], kind: u16, protocol: Protocol, out: &mut Vec<Socket>) -> io::Result<()> {
        sendto(self.fd.as_raw_fd(), request, &NetlinkAddr::new(0, 0), MsgFlags::empty())?;
        loop {
            let len = match recv(self.fd.as_raw_fd(), &mut self.buffer, MsgFlags::empty()) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "sock_diag closed the dump")),
                Ok(len) => len,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            if parse_batch(&self.buffer[..len], self.sequence, kind, protocol, out)? {
                return Ok(());
            }
        }
    }
}

/// An `nlmsghdr` for a dump request of `len` bytes in all.
fn header(b: &mut [u8], len: usize, kind: u16, sequence: u32) {
    b[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    b[4..6].copy_from_slice(&kind.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&sequence.to_ne_bytes());
}

/// An `inet_diag_req` for every TCP socket of both families (the kernel ignores the family of
/// this request and dumps both).
fn first_request(sequence: u32) -> [u8; HEADER_LEN + FIRST_REQUEST_LEN] {
    let mut b = [0u8; HEADER_LEN + FIRST_REQUEST_LEN];
    header(&mut b, HEADER_LEN + FIRST_REQUEST_LEN, TCPDIAG_GETSOCK, sequence);
    b[HEADER_LEN] = libc::AF_INET as u8;
    b[HEADER_LEN + 52..HEADER_LEN + 56].copy_from_slice(&ALL_STATES.to_ne_bytes());
    b
}

/// An `inet_diag_req_v2` asking for a dump of one family and protocol.
fn request(family: u8, protocol: u8, sequence: u32) -> [u8; HEADER_LEN + REQUEST_LEN] {
    let mut b = [0u8; HEADER_LEN + REQUEST_LEN];
    header(&mut b, HEADER_LEN + REQUEST_LEN, SOCK_DIAG_BY_FAMILY, sequence);
    b[HEADER_LEN] = family;
    b[HEADER_LEN + 1] = protocol;
    b[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&ALL_STATES.to_ne_bytes());
    b
}

/// Reads one `recv` worth of netlink messages, sockets in messages of type `kind`; `true` once
/// the dump is done. Messages of another sequence (left over from a dump cut short by an error)
/// are skipped.
fn parse_batch(
    mut batch: &[u8],
    sequence: u32,
    kind: u16,
    protocol: Protocol,
    out: &mut Vec<Socket>,
) -> io::Result<bool> {
    while batch.len() >= HEADER_LEN {
        let len = u32_at(batch, 0) as usize;
        if len < HEADER_LEN || len > batch.len() {
            return Err(invalid(format!("netlink message of {len} bytes in a batch of {}", batch.len())));
        }
        let message_kind = u16::from_ne_bytes([batch[4], batch[5]]);
        let body = &batch[HEADER_LEN..len];
        if u32_at(batch, 8) == sequence {
            match message_kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let code = body.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    if code != 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                }
                k if k == kind => out.push(parse_message(body, protocol)?),
                _ => {}
            }
        }
        // Messages are padded to 4 bytes.
        batch = batch.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    Ok(false)
}

/// One `inet_diag_msg`: family, state, timer, retransmits, the socket id (ports big-endian,
/// addresses in network order), expiry, queues, uid, inode.
fn parse_message(m: &[u8], protocol: Protocol) -> io::Result<Socket> {
    if m.len() < MESSAGE_LEN {
        return Err(invalid(format!("inet_diag_msg of {} bytes, expected {MESSAGE_LEN}", m.len())));
    }
    let port = |at: usize| u16::from_be_bytes([m[at], m[at + 1]]);
    let address = |at: usize| -> io::Result<IpAddr> {
        match i32::from(m[0]) {
            libc::AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(m[at], m[at + 1], m[at + 2], m[at + 3]))),
            libc::AF_INET6 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&m[at..at + 16]);
                Ok(IpAddr::V6(Ipv6Addr::from(octets)).to_canonical())
            }
            family => Err(invalid(format!("inet_diag_msg of address family {family}"))),
        }
    };
    Ok(Socket {
        protocol,
        local: SocketAddr::new(address(8)?, port(4)),
        remote: SocketAddr::new(address(24)?, port(6)),
        state: (protocol == Protocol::Tcp).then(|| tcp_state(m[1])),
        inode: u64::from(u32_at(m, 68)),
        uid: u32_at(m, 64),
    })
}

/// A native-endian u32 at `at`; callers have checked the length.
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;

    /// An `inet_diag_msg`; `local` and `remote` are (port, address octets).
    fn message(family: u8, state: u8, local: (u16, &[u8]), remote: (u16, &[u8]), uid: u32, inode: u32) -> Vec<u8> {
        let mut m = vec![0u8; MESSAGE_LEN];
        m[0] = family;
        m[1] = state;
        m[4..6].copy_from_slice(&local.0.to_be_bytes());
        m[6..8].copy_from_slice(&remote.0.to_be_bytes());
        m[8..8 + local.1.len()].copy_from_slice(local.1);
        m[24..24 + remote.1.len()].copy_from_slice(remote.1);
        m[64..68].copy_from_slice(&uid.to_ne_bytes());
        m[68..72].copy_from_slice(&inode.to_ne_bytes());
        m
    }

    fn framed(kind: u16, sequence: u32, body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&sequence.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn messages_become_sockets_and_done_ends_the_dump() {
        let v4 = message(libc::AF_INET as u8, 10, (8080, &[127, 0, 0, 1]), (0, &[0; 4]), 1000, 4242);
        let v6 = message(libc::AF_INET6 as u8, 1, (443, &Ipv6Addr::LOCALHOST.octets()), (50000, &[0; 16]), 0, 7);
        let mut batch = framed(SOCK_DIAG_BY_FAMILY, 5, &v4);
        batch.extend(framed(SOCK_DIAG_BY_FAMILY, 4, &v4)); // a stale dump's message: skipped
        batch.extend(framed(SOCK_DIAG_BY_FAMILY, 5, &v6));
        let mut out = Vec::new();
        assert!(!parse_batch(&batch, 5, SOCK_DIAG_BY_FAMILY, Protocol::Tcp, &mut out).expect("parse"));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].local, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(out[0].state, Some(TcpState::Listening));
        assert!(!out[0].has_peer());
        assert_eq!((out[0].uid, out[0].inode), (1000, 4242));
        assert_eq!(out[1].local, "[::1]:443".parse().expect("addr"));
        assert!(out[1].has_peer());
        assert!(
            parse_batch(&framed(NLMSG_DONE, 5, &[0; 4]), 5, SOCK_DIAG_BY_FAMILY, Protocol::Tcp, &mut out)
                .expect("done")
        );
    }

    #[test]
    fn udp_has_no_state_and_errors_and_short_messages_are_reported() {
        let m = message(libc::AF_INET as u8, 7, (53, &[0; 4]), (0, &[0; 4]), 0, 1);
        let mut out = Vec::new();
        parse_batch(&framed(SOCK_DIAG_BY_FAMILY, 1, &m), 1, SOCK_DIAG_BY_FAMILY, Protocol::Udp, &mut out)
            .expect("parse");
        assert_eq!(out[0].state, None);
        let error = framed(NLMSG_ERROR, 1, &(-libc::EPERM).to_ne_bytes());
        assert!(parse_batch(&error, 1, SOCK_DIAG_BY_FAMILY, Protocol::Udp, &mut out).is_err());
        assert!(
            parse_batch(&framed(SOCK_DIAG_BY_FAMILY, 1, &m[..40]), 1, SOCK_DIAG_BY_FAMILY, Protocol::Udp, &mut out)
                .is_err()
        );
        let mut cut = framed(SOCK_DIAG_BY_FAMILY, 1, &m);
        cut.truncate(30);
        assert!(parse_batch(&cut, 1, SOCK_DIAG_BY_FAMILY, Protocol::Udp, &mut out).is_err());
    }

    /// A listener of each address family, on 127.0.0.1 only: the IPv6 one is an `AF_INET6`
    /// socket bound to the IPv4-mapped `::ffff:127.0.0.1`, so the IPv6 dump is exercised on a
    /// machine without `::1` (containers often have IPv6 addresses disabled). It needs a kernel
    /// with `AF_INET6` sockets, which every Linux has unless booted with `ipv6.disable=1`.
    fn listeners() -> [(std::net::TcpListener, &'static str); 2] {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").expect("an IPv4 listener on 127.0.0.1");
        let v6 = std::net::TcpListener::bind("[::ffff:127.0.0.1]:0")
            .expect("this test needs AF_INET6 sockets (a kernel not booted with ipv6.disable=1)");
        [(v4, "IPv4"), (v6, "IPv6 (mapped)")]
    }

    /// Which request the kernel answered does not matter here: each listener is found, listening,
    /// with its inode.
    #[test]
    fn the_live_table_has_a_listener_of_each_family() {
        let listeners = listeners();
        let mut diag = SockDiag::open().expect("sock_diag");
        let mut out = Vec::new();
        diag.read(&mut out).expect("read");
        for (listener, family) in &listeners {
            let port = listener.local_addr().expect("addr").port();
            let found = out
                .iter()
                .find(|s| s.local == SocketAddr::from(([127, 0, 0, 1], port)) && s.protocol == Protocol::Tcp)
                .unwrap_or_else(|| panic!("the {family} listener on port {port} is not in the dump"));
            assert_eq!(found.state, Some(TcpState::Listening), "{family}");
            assert_ne!(found.inode, 0, "{family}");
        }
    }

    /// The one-walk `TCPDIAG_GETSOCK` request and the per-family requests see the same TCP
    /// sockets. The first is the compatibility request of inet_diag, answered by every kernel
    /// with sock_diag; this test fails, saying so, on one that does not (the collector itself
    /// falls back to the per-family requests there).
    #[test]
    fn the_one_walk_request_and_the_per_family_requests_agree() {
        let listeners = listeners();
        let mut diag = SockDiag::open().expect("sock_diag");
        diag.tcp_in_one_dump = false;
        let mut per_family = Vec::new();
        diag.read(&mut per_family).expect("per-family dumps");
        diag.tcp_in_one_dump = true;
        let mut one_walk = Vec::new();
        diag.read(&mut one_walk).expect("read");
        assert!(diag.tcp_in_one_dump, "this kernel does not answer TCPDIAG_GETSOCK, which this test needs");
        // Other processes open and close sockets between the two reads, so the two lists are
        // compared on our listeners: the one-walk request, asked with family AF_INET, must
        // return the AF_INET6 listener too.
        for (listener, family) in &listeners {
            let at = SocketAddr::from(([127, 0, 0, 1], listener.local_addr().expect("addr").port()));
            let inode = |list: &[Socket], request: &str| {
                list.iter()
                    .find(|s| s.local == at && s.protocol == Protocol::Tcp)
                    .map(|s| s.inode)
                    .unwrap_or_else(|| panic!("the {family} listener is missing from the {request} dump"))
            };
            assert_eq!(inode(&per_family, "per-family"), inode(&one_walk, "TCPDIAG_GETSOCK"), "{family}");
        }
    }

    #[test]
    fn the_first_request_has_the_kernels_layout() {
        let r = first_request(7);
        assert_eq!(r.len(), 76);
        assert_eq!(u32_at(&r, 0), 76);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), TCPDIAG_GETSOCK);
        assert_eq!(u32_at(&r, 8), 7);
        assert_eq!(u32_at(&r, HEADER_LEN + 52), ALL_STATES);
    }
}
