//! The kernel's TCP and UDP socket tables, IPv4 and IPv6, as plain values: what `ss -tuna`
//! shows. Two readers fill them, private to this module: `netlink` (sock_diag, binary, the
//! default because it is the faster; see README) and `procfs` (`/proc/net/*`, text, for kernels
//! or sandboxes without sock_diag). [`SocketTable`] is the one way in.

mod netlink;
mod procfs;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;

use crate::collector::error::CollectorError;
use crate::model::{Protocol, TcpState};
use netlink::SockDiag;
use procfs::ProcNet;

/// One socket of the kernel's tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Socket {
    pub protocol: Protocol,
    pub local: SocketAddr,
    /// Port 0 on an unspecified address when there is no peer (listeners, unconnected UDP).
    pub remote: SocketAddr,
    /// `None` for UDP, which has no connection state.
    pub state: Option<TcpState>,
    /// The socket's sockfs inode, by which `/proc/PID/fd` links name it (`socket:[INODE]`).
    /// 0 when no file holds the socket: TIME_WAIT leftovers, connections not yet accepted.
    pub inode: u64,
    /// The user that created the socket; the kernel keeps it even when no process can be found.
    pub uid: u32,
}

impl Socket {
    /// Whether the socket has a peer: a connected TCP or UDP socket, not a listener.
    pub fn has_peer(&self) -> bool {
        self.remote.port() != 0 || !self.remote.ip().is_unspecified()
    }
}

/// Which kernel interface the socket tables are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// NETLINK_SOCK_DIAG, as `ss` uses: binary records, nothing to format or parse.
    #[default]
    Netlink,
    /// `/proc/net/{tcp,tcp6,udp,udp6}`: text the kernel formats on every read.
    Procfs,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Netlink => "netlink",
            Backend::Procfs => "procfs",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "netlink" => Ok(Backend::Netlink),
            "procfs" => Ok(Backend::Procfs),
            other => Err(format!("unknown socket source {other:?}: use netlink or procfs")),
        }
    }
}

/// An open reader of the socket tables.
#[derive(Debug)]
pub struct SocketTable(Reader);

#[derive(Debug)]
enum Reader {
    Netlink(SockDiag),
    Procfs(ProcNet),
}

impl SocketTable {
    /// Opens the given backend; `proc_root` is where procfs is mounted (`/proc`).
    pub fn open(backend: Backend, proc_root: &Path) -> Result<SocketTable, CollectorError> {
        let reader = match backend {
            Backend::Netlink => SockDiag::open()
                .map(Reader::Netlink)
                .map_err(|error| CollectorError::SocketTable { backend: backend.as_str(), error })?,
            Backend::Procfs => Reader::Procfs(ProcNet::new(proc_root)),
        };
        Ok(SocketTable(reader))
    }

    pub fn backend(&self) -> Backend {
        match self.0 {
            Reader::Netlink(_) => Backend::Netlink,
            Reader::Procfs(_) => Backend::Procfs,
        }
    }

    /// Replaces `out` with every TCP and UDP socket, IPv4 then IPv6 for each protocol.
    pub fn read(&mut self, out: &mut Vec<Socket>) -> Result<(), CollectorError> {
        out.clear();
        let result = match &mut self.0 {
            Reader::Netlink(diag) => diag.read(out),
            Reader::Procfs(net) => net.read(out),
        };
        result.map_err(|error| CollectorError::SocketTable { backend: self.backend().as_str(), error })
    }
}

/// The kernel's TCP state numbers (`include/net/tcp_states.h`). A request socket
/// (`TCP_NEW_SYN_RECV`) is a connection half-way in, which `ss` shows as SYN-RECV too.
pub fn tcp_state(code: u8) -> TcpState {
    match code {
        1 => TcpState::Established,
        2 => TcpState::SynSent,
        3 | 12 => TcpState::SynReceived,
        4 => TcpState::FinWait1,
        5 => TcpState::FinWait2,
        6 => TcpState::TimeWait,
        7 => TcpState::Closed,
        8 => TcpState::CloseWait,
        9 => TcpState::LastAck,
        10 => TcpState::Listening,
        11 => TcpState::Closing,
        other => TcpState::Other(format!("STATE {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_state_numbers_read_as_log_states() {
        assert_eq!(tcp_state(10), TcpState::Listening);
        assert_eq!(tcp_state(1), TcpState::Established);
        assert_eq!(tcp_state(6), TcpState::TimeWait);
        assert_eq!(tcp_state(12), TcpState::SynReceived);
        assert_eq!(tcp_state(99), TcpState::Other("STATE 99".into()));
    }

    #[test]
    fn backends_by_name() {
        assert_eq!("procfs".parse(), Ok(Backend::Procfs));
        assert_eq!("netlink".parse(), Ok(Backend::Netlink));
        assert!("ss".parse::<Backend>().is_err());
    }
}
