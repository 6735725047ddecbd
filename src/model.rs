//! The types every part of the crate shares: what a Port Reporter log says, typed.
//!
//! Rows are kept compact ([`PortEvent`] is 44 bytes) because a log of ten million
//! events must fit in memory next to the GUI; repeated strings (module names, user
//! contexts) and addresses are interned per log and referenced by id.

use std::fmt;
use std::net::IpAddr;

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};

/// Transport protocol of a port event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }

    /// Accepts `TCP`/`UDP` in any case, as the logs and the collector write them.
    pub fn parse(text: &[u8]) -> Option<Protocol> {
        if text.eq_ignore_ascii_case(b"TCP") {
            Some(Protocol::Tcp)
        } else if text.eq_ignore_ascii_case(b"UDP") {
            Some(Protocol::Udp)
        } else {
            None
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address field of a log line. Port Reporter writes `*` for the remote side of
/// UDP sockets and leaves fields empty where it had nothing to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Address {
    Ip(IpAddr),
    /// `*`: any address (UDP remote side).
    Any,
    /// The field was empty or absent.
    Empty,
}

impl Address {
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            Address::Ip(ip) => Some(ip),
            _ => None,
        }
    }

    /// True for addresses that name a real peer, the ones remote-IP statistics and DNS
    /// care about: not `*`, not empty, not `0.0.0.0` and not `::`.
    pub fn is_specific(self) -> bool {
        matches!(self, Address::Ip(ip) if !ip.is_unspecified())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(ip) => write!(f, "{ip}"),
            Address::Any => f.write_str("*"),
            Address::Empty => Ok(()),
        }
    }
}

/// A port field: a number, `*` (UDP remote side) or empty (listeners in 1.01 logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortField {
    Num(u16),
    Any,
    Empty,
}

impl PortField {
    pub fn num(self) -> Option<u16> {
        match self {
            PortField::Num(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for PortField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortField::Num(n) => write!(f, "{n}"),
            PortField::Any => f.write_str("*"),
            PortField::Empty => Ok(()),
        }
    }
}

/// Id of a string in a log's [`crate::intern::Interner`]. Id 0 is always the empty string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Symbol(pub u32);

impl Symbol {
    pub const EMPTY: Symbol = Symbol(0);

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Id of an address in a log's [`crate::intern::AddrTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AddrId(pub u32);

/// How many fields a PORTS line had: the three shapes the original wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowShape {
    /// All ten fields.
    Full,
    /// Nine fields: the user context and its comma are missing (System, System Idle).
    NoUser,
    /// Seven fields: Windows 2000, no PID, module or user.
    W2k,
}

/// One PR-PORTS line: a socket appeared or changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortEvent {
    pub time: NaiveDateTime,
    /// [`PortEvent::NO_PID`] on Windows 2000 rows.
    pub pid: u32,
    pub module: Symbol,
    /// Without the angle brackets; [`Symbol::EMPTY`] when the log gave none.
    pub user: Symbol,
    pub local_ip: AddrId,
    pub remote_ip: AddrId,
    /// 1-based line number in its source file.
    pub line: u32,
    /// Index into the log's source files.
    pub source: u16,
    pub local_port: u16,
    remote_port: u16,
    /// Bits 0-1: remote port kind (number, `*`, empty); bits 2-3: [`RowShape`].
    flags: u8,
    pub protocol: Protocol,
}

impl PortEvent {
    pub const NO_PID: u32 = u32::MAX;

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        time: NaiveDateTime,
        protocol: Protocol,
        local_port: u16,
        local_ip: AddrId,
        remote_port: PortField,
        remote_ip: AddrId,
        pid: Option<u32>,
        module: Symbol,
        user: Symbol,
        shape: RowShape,
    ) -> PortEvent {
        let (remote_port, kind) = match remote_port {
            PortField::Num(n) => (n, 0),
            PortField::Any => (0, 1),
            PortField::Empty => (0, 2),
        };
        let shape_bits = match shape {
            RowShape::Full => 0,
            RowShape::NoUser => 1,
            RowShape::W2k => 2,
        };
        PortEvent {
            time,
            pid: pid.unwrap_or(PortEvent::NO_PID),
            module,
            user,
            local_ip,
            remote_ip,
            line: 0,
            source: 0,
            local_port,
            remote_port,
            flags: kind | (shape_bits << 2),
            protocol,
        }
    }

    pub fn shape(&self) -> RowShape {
        match self.flags >> 2 {
            0 => RowShape::Full,
            1 => RowShape::NoUser,
            _ => RowShape::W2k,
        }
    }

    pub fn remote_port(&self) -> PortField {
        match self.flags & 0b11 {
            0 => PortField::Num(self.remote_port),
            1 => PortField::Any,
            _ => PortField::Empty,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        (self.pid != PortEvent::NO_PID).then_some(self.pid)
    }

    pub fn hour(&self) -> u32 {
        self.time.hour()
    }
}

/// Port Reporter's years have two digits: 2000+yy below 70, 1900+yy otherwise. Years
/// written with four digits are taken as they are.
pub fn expand_year(year: u32) -> i32 {
    match year {
        0..=69 => 2000 + year as i32,
        70..=99 => 1900 + year as i32,
        _ => year as i32,
    }
}

/// Builds a date-time from log fields, `None` when the calendar says no (month 13, Feb 30).
pub fn make_datetime(year: u32, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(expand_year(year), month, day)?.and_hms_opt(h, m, s)
}

/// A TCP state as the logs print it (`LISTENING`, `SYN SENT`, `TIME WAIT`) or as the KB
/// article names it (`SYN_SEND`, `TIMED_WAIT`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TcpState {
    Listening,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
    Closed,
    DeleteTcb,
    /// A state word the reader does not know, kept verbatim.
    Other(String),
}

impl TcpState {
    /// Parses a state written with spaces or underscores, in any case.
    pub fn parse(text: &str) -> Option<TcpState> {
        let norm: String =
            text.trim().chars().filter(|c| !c.is_whitespace() && *c != '_').map(|c| c.to_ascii_uppercase()).collect();
        if norm.is_empty() {
            return None;
        }
        Some(match norm.as_str() {
            "LISTENING" | "LISTEN" => TcpState::Listening,
            "SYNSENT" | "SYNSEND" => TcpState::SynSent,
            "SYNRECEIVED" | "SYNRECV" | "SYNRCVD" => TcpState::SynReceived,
            "ESTABLISHED" => TcpState::Established,
            "FINWAIT1" => TcpState::FinWait1,
            "FINWAIT2" => TcpState::FinWait2,
            "CLOSEWAIT" => TcpState::CloseWait,
            "CLOSING" => TcpState::Closing,
            "LASTACK" => TcpState::LastAck,
            "TIMEWAIT" | "TIMEDWAIT" => TcpState::TimeWait,
            "CLOSED" | "CLOSE" => TcpState::Closed,
            "DELETETCB" => TcpState::DeleteTcb,
            _ => TcpState::Other(text.trim().to_string()),
        })
    }

    /// The words Port Reporter prints for the state.
    pub fn as_log_str(&self) -> &str {
        match self {
            TcpState::Listening => "LISTENING",
            TcpState::SynSent => "SYN SENT",
            TcpState::SynReceived => "SYN RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN WAIT1",
            TcpState::FinWait2 => "FIN WAIT2",
            TcpState::CloseWait => "CLOSE WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST ACK",
            TcpState::TimeWait => "TIME WAIT",
            TcpState::Closed => "CLOSED",
            TcpState::DeleteTcb => "DELETE TCB",
            TcpState::Other(s) => s,
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_log_str())
    }
}

/// One `Service Name:` entry of a process block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub display_name: Option<String>,
    /// `Service Type:` text, e.g. `shares a process with other services`.
    pub service_type: Option<String>,
}

/// A row of a port table, in a PIDS/INITIAL block or the INITIAL mapping table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub pid: u32,
    /// Process name, given only by the INITIAL mapping table (`4:System`).
    pub process: Option<String>,
    pub protocol: Protocol,
    pub local_port: u16,
    #[serde(with = "address_serde")]
    pub local_ip: Address,
    /// `None` for UDP rows and rows whose state column is empty or `*:*`.
    pub state: Option<TcpState>,
    #[serde(with = "address_serde")]
    pub remote_ip: Address,
    #[serde(with = "port_serde")]
    pub remote_port: PortField,
}

/// A loaded module line: `path (0xBASE)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedModule {
    pub path: String,
    pub base: Option<u64>,
}

/// What a block says about loaded modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Modules {
    Listed(Vec<LoadedModule>),
    /// `Could not access module information for this process`.
    NotAccessible,
    /// The block has no module section at all.
    Absent,
}

/// `TCP ports in a LISTENING state: 2 = 50.00%`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateShare {
    pub state: TcpState,
    pub count: u32,
    pub percent: Option<f64>,
}

/// The `Port Statistics` section of a block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortStatistics {
    pub tcp_mappings: Option<u32>,
    pub udp_mappings: Option<u32>,
    pub states: Vec<StateShare>,
}

/// One process block of a PR-PIDS log (one per new network activity of a process) or of
/// the second half of a PR-INITIAL log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessBlock {
    /// `Log entry below recorded at:`; `None` in INITIAL blocks and where the time was unreadable.
    pub recorded_at: Option<NaiveDateTime>,
    /// Index of the source file in the owning log.
    pub source: u16,
    /// 1-based line of the block's `Process ID:` line.
    pub line: u32,
    pub pid: u32,
    pub process: String,
    pub user: Option<String>,
    /// `System Process` stands under PID 4 instead of a user and service list.
    pub system_process: bool,
    pub services: Vec<Service>,
    pub ports: Vec<PortMapping>,
    pub port_statistics: PortStatistics,
    pub modules: Modules,
}

impl ProcessBlock {
    /// The executable's own path: the first loaded module whose file name is the process name,
    /// else the first module listed.
    pub fn image_path(&self) -> Option<&str> {
        let Modules::Listed(list) = &self.modules else {
            return None;
        };
        list.iter()
            .find(|m| file_name(&m.path).eq_ignore_ascii_case(&self.process))
            .or_else(|| list.first())
            .map(|m| m.path.as_str())
    }

    /// Drops every loaded module but the executable's own ([`ProcessBlock::image_path`] stays
    /// the same): see [`ModuleDetail::ImageOnly`].
    pub fn keep_image_only(&mut self) {
        let Modules::Listed(list) = &mut self.modules else {
            return;
        };
        if list.is_empty() {
            return;
        }
        let at = list.iter().position(|m| file_name(&m.path).eq_ignore_ascii_case(&self.process)).unwrap_or(0);
        let image = list.swap_remove(at);
        *list = vec![image];
    }
}

/// How much of each process block's module list a reader keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModuleDetail {
    /// Every module: the app's drill-down, `ingest`, criteria on module paths.
    #[default]
    All,
    /// Only the executable's own path (masquerading reads it): module lists are most of a
    /// PIDS log, and a report without criteria on module paths needs no more of them.
    ImageOnly,
}

/// The last component of a Windows or Unix path.
pub fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// Serde helpers: addresses and ports serialise as the text a log shows.
mod address_serde {
    use super::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "" => Address::Empty,
            "*" => Address::Any,
            t => Address::Ip(t.parse().map_err(serde::de::Error::custom)?),
        })
    }
}

mod port_serde {
    use super::PortField;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &PortField, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(p)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PortField, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "" => PortField::Empty,
            "*" => PortField::Any,
            t => PortField::Num(t.parse().map_err(serde::de::Error::custom)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_event_stays_compact() {
        assert_eq!(std::mem::size_of::<PortEvent>(), 44);
    }

    #[test]
    fn two_digit_years_pivot_at_70() {
        assert_eq!(expand_year(0), 2000);
        assert_eq!(expand_year(4), 2004);
        assert_eq!(expand_year(69), 2069);
        assert_eq!(expand_year(70), 1970);
        assert_eq!(expand_year(99), 1999);
        assert_eq!(expand_year(2008), 2008);
    }

    #[test]
    fn tcp_states_in_every_spelling() {
        assert_eq!(TcpState::parse("SYN SENT"), Some(TcpState::SynSent));
        assert_eq!(TcpState::parse("SYN_SEND"), Some(TcpState::SynSent));
        assert_eq!(TcpState::parse("TIMED_WAIT"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::parse("time wait"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::parse("LISTEN"), Some(TcpState::Listening));
        assert_eq!(TcpState::parse("FIN_WAIT_1"), Some(TcpState::FinWait1));
        assert_eq!(TcpState::parse("BOGUS"), Some(TcpState::Other("BOGUS".into())));
        assert_eq!(TcpState::parse("  "), None);
    }

    #[test]
    fn remote_port_round_trips_through_the_compact_form() {
        let t = make_datetime(8, 6, 30, 10, 17, 58).expect("valid date");
        for p in [PortField::Num(0), PortField::Num(65535), PortField::Any, PortField::Empty] {
            let e =
                PortEvent::new(t, Protocol::Tcp, 1, AddrId(0), p, AddrId(0), None, Symbol(0), Symbol(0), RowShape::W2k);
            assert_eq!(e.remote_port(), p);
            assert_eq!(e.pid(), None);
        }
    }
}
