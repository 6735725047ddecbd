//! What the collector saw, in the crate's log model: PORTS rows ([`RowOut`]), port table rows
//! ([`PortMapping`]) and process blocks ([`ProcessBlock`]), so that the writers in
//! [`crate::logs`] — the same code the readers are tested against — write them, and the app
//! can show live events exactly as it shows logged ones.
//!
//! Field conventions, as the original's logs show them: a TCP listener has an empty remote
//! port and the unspecified remote address (`...,3389,0.0.0.0,,0.0.0.0,...`); an unconnected
//! UDP socket has `*` for both; a socket without a process is PID 0 `System Idle`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::NaiveDateTime;

use crate::collector::ProcessEvent;
use crate::collector::sockets::Socket;
use crate::collector::source::{IDLE_NAME, IDLE_PID, Observed};
use crate::logs::ports::RowOut;
use crate::model::{Address, PortField, PortMapping, PortStatistics, ProcessBlock, Protocol, StateShare, TcpState};

/// The PORTS row of a socket at `time`.
pub fn row(time: NaiveDateTime, observed: &Observed) -> RowOut<'_> {
    let s = &observed.socket;
    let (remote_ip, remote_port) = remote_fields(s);
    let (pid, module, user) = match &observed.owner {
        Some(owner) => (owner.pid, owner.name.as_bytes(), owner.user.as_deref()),
        None => (IDLE_PID, IDLE_NAME.as_bytes(), None),
    };
    RowOut {
        time,
        protocol: s.protocol,
        local_port: s.local.port(),
        local_ip: Address::Ip(s.local.ip()),
        remote_port,
        remote_ip,
        pid: Some(pid),
        module,
        user,
    }
}

/// The remote address and port fields of a socket.
pub fn remote_fields(s: &Socket) -> (Address, PortField) {
    match (s.protocol, &s.state) {
        (Protocol::Udp, _) if !s.has_peer() => (Address::Any, PortField::Any),
        (Protocol::Tcp, Some(TcpState::Listening)) => {
            let any = match s.local.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            (Address::Ip(any), PortField::Empty)
        }
        _ => (Address::Ip(s.remote.ip()), PortField::Num(s.remote.port())),
    }
}

/// A port table row: `pid` and, for the INITIAL mapping table, the process name.
pub fn mapping(pid: u32, process: Option<&str>, s: &Socket) -> PortMapping {
    let (remote_ip, remote_port) = remote_fields(s);
    PortMapping {
        pid,
        process: process.map(str::to_string),
        protocol: s.protocol,
        local_port: s.local.port(),
        local_ip: Address::Ip(s.local.ip()),
        state: s.state.clone(),
        remote_ip,
        remote_port,
    }
}

/// The INITIAL mapping table row of an observed socket.
pub fn initial_mapping(observed: &Observed) -> PortMapping {
    let (pid, name) = observed.owner.as_ref().map_or((IDLE_PID, IDLE_NAME.into()), |o| (o.pid, o.name.log_text()));
    mapping(pid, Some(&name), &observed.socket)
}

/// The process block of a PIDS entry or of the INITIAL log.
pub fn block(event: &ProcessEvent, recorded_at: Option<NaiveDateTime>) -> ProcessBlock {
    let info = &event.info;
    let ports: Vec<PortMapping> = event.sockets.iter().map(|s| mapping(info.pid, None, s)).collect();
    ProcessBlock {
        recorded_at,
        source: 0,
        line: 0,
        pid: info.pid,
        process: info.name.log_text().into_owned(),
        user: info.user.clone(),
        system_process: false,
        services: info.services.clone(),
        port_statistics: statistics(&ports),
        ports,
        modules: event.modules.clone(),
    }
}

/// `Port Statistics`: mappings per protocol and the share of each TCP state, states in the
/// order the model lists them (LISTENING first).
fn statistics(ports: &[PortMapping]) -> PortStatistics {
    let tcp = ports.iter().filter(|p| p.protocol == Protocol::Tcp).count() as u32;
    let mut states: Vec<StateShare> = Vec::new();
    let mut tcp_states: Vec<&TcpState> =
        ports.iter().filter(|p| p.protocol == Protocol::Tcp).filter_map(|p| p.state.as_ref()).collect();
    tcp_states.sort();
    for state in tcp_states {
        match states.last_mut() {
            Some(share) if share.state == *state => share.count += 1,
            _ => states.push(StateShare { state: state.clone(), count: 1, percent: None }),
        }
    }
    for share in &mut states {
        share.percent = Some(f64::from(share.count) * 100.0 / f64::from(tcp.max(1)));
    }
    PortStatistics { tcp_mappings: Some(tcp), udp_mappings: Some(ports.len() as u32 - tcp), states }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::collector::source::ProcessInfo;
    use crate::model::Modules;

    fn socket(protocol: Protocol, local: &str, remote: &str, state: Option<TcpState>) -> Socket {
        Socket {
            protocol,
            local: local.parse().expect("l"),
            remote: remote.parse().expect("r"),
            state,
            inode: 1,
            uid: 0,
        }
    }

    #[test]
    fn remote_fields_follow_the_original() {
        let listen = socket(Protocol::Tcp, "[::]:22", "[::]:0", Some(TcpState::Listening));
        assert_eq!(remote_fields(&listen), (Address::Ip("::".parse().expect("ip")), PortField::Empty));
        let udp = socket(Protocol::Udp, "0.0.0.0:53", "0.0.0.0:0", None);
        assert_eq!(remote_fields(&udp), (Address::Any, PortField::Any));
        let connected_udp = socket(Protocol::Udp, "10.0.0.1:5000", "10.0.0.2:53", None);
        assert_eq!(remote_fields(&connected_udp), (Address::Ip("10.0.0.2".parse().expect("ip")), PortField::Num(53)));
        let tw = socket(Protocol::Tcp, "127.0.0.1:5000", "127.0.0.1:80", Some(TcpState::TimeWait));
        let observed = Observed { socket: tw, owner: None };
        let r = row(NaiveDateTime::default(), &observed);
        assert_eq!((r.pid, r.module, r.user), (Some(0), &b"System Idle"[..], None));
    }

    #[test]
    fn blocks_count_mappings_and_states() {
        let info = Arc::new(ProcessInfo {
            pid: 42,
            name: "web".into(),
            exe: Some("/usr/bin/web".into()),
            uid: Some(33),
            user: Some("www-data".into()),
            services: Vec::new(),
        });
        let event = ProcessEvent {
            info,
            sockets: vec![
                socket(Protocol::Tcp, "0.0.0.0:80", "0.0.0.0:0", Some(TcpState::Listening)),
                socket(Protocol::Tcp, "10.0.0.1:80", "10.0.0.2:5000", Some(TcpState::Established)),
                socket(Protocol::Tcp, "10.0.0.1:80", "10.0.0.3:5000", Some(TcpState::Established)),
                socket(Protocol::Udp, "0.0.0.0:5353", "0.0.0.0:0", None),
            ],
            modules: Modules::NotAccessible,
        };
        let b = block(&event, None);
        assert_eq!(b.port_statistics.tcp_mappings, Some(3));
        assert_eq!(b.port_statistics.udp_mappings, Some(1));
        let shares: Vec<(TcpState, u32)> =
            b.port_statistics.states.iter().map(|s| (s.state.clone(), s.count)).collect();
        assert_eq!(shares, vec![(TcpState::Listening, 1), (TcpState::Established, 2)]);
        assert_eq!(b.user.as_deref(), Some("www-data"));
    }
}
