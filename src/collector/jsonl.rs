//! `--format jsonl`: the collector's events as JSON lines, one object per event, to ship into
//! log pipelines (Vector, Fluent Bit, Elasticsearch). The fields are stable; README
//! ("portreporter", JSON lines) documents them.
//!
//! Two kinds of object, told apart by `event`:
//! - `"socket"`: one socket's change (`change`: `initial` for the start snapshot, `new`,
//!   `state`, `owner`, `gone`), its endpoints, TCP state and owner;
//! - `"process"`: a process whose set of sockets changed (or, at start, that held one), with
//!   its sockets, services and loaded modules.
//!
//! A process name that is not UTF-8 is `process` with U+FFFD where the odd bytes were, and
//! `process_hex` with its exact bytes; `process_hex` is absent otherwise.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::Serialize;

use crate::collector::diff::Change;
use crate::collector::sockets::Socket;
use crate::collector::source::{IDLE_NAME, IDLE_PID, Observed, ProcessName};
use crate::collector::{CollectorEvent, ProcessEvent};
use crate::model::{Modules, Protocol, TcpState};

#[derive(Serialize)]
struct SocketLine<'a> {
    time: &'a str,
    event: &'static str,
    change: &'static str,
    #[serde(flatten)]
    socket: SocketFields,
    /// The state before, for `state` and `owner` changes.
    previous_state: Option<String>,
    pid: u32,
    process: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    process_hex: Option<String>,
    exe: Option<&'a str>,
    user: Option<&'a str>,
    service: Option<&'a str>,
}

#[derive(Serialize)]
struct SocketFields {
    protocol: &'static str,
    local_ip: IpAddr,
    local_port: u16,
    /// `null` for listeners and unconnected UDP sockets.
    remote_ip: Option<IpAddr>,
    remote_port: Option<u16>,
    /// `null` for UDP.
    state: Option<String>,
    /// The user the kernel says created the socket.
    socket_uid: u32,
    inode: u64,
}

#[derive(Serialize)]
struct ProcessLine<'a> {
    time: &'a str,
    event: &'static str,
    pid: u32,
    process: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    process_hex: Option<String>,
    exe: Option<&'a str>,
    user: Option<&'a str>,
    uid: Option<u32>,
    services: Vec<ServiceFields<'a>>,
    sockets: Vec<SocketFields>,
    /// `null` when the process's modules could not be read.
    modules: Option<Vec<ModuleFields<'a>>>,
}

#[derive(Serialize)]
struct ServiceFields<'a> {
    name: &'a str,
    display_name: Option<&'a str>,
}

#[derive(Serialize)]
struct ModuleFields<'a> {
    path: &'a str,
    /// `0x7f1c2a000000`.
    base: Option<String>,
}

/// The exact bytes of a name that is not UTF-8, in lowercase hexadecimal; `None` for UTF-8.
fn name_hex(name: &ProcessName) -> Option<String> {
    if name.is_utf8() {
        return None;
    }
    let mut hex = String::with_capacity(2 * name.as_bytes().len());
    for byte in name.as_bytes() {
        let _ = write!(hex, "{byte:02x}");
    }
    Some(hex)
}

/// A TCP state without spaces: `LISTENING`, `SYN_SENT`, `ESTABLISHED`, `TIME_WAIT`...
fn state_name(state: &TcpState) -> String {
    state.as_log_str().replace(' ', "_")
}

fn socket_fields(s: &Socket) -> SocketFields {
    let peer = s.has_peer() && s.state != Some(TcpState::Listening);
    SocketFields {
        protocol: match s.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        },
        local_ip: s.local.ip(),
        local_port: s.local.port(),
        remote_ip: peer.then(|| s.remote.ip()),
        remote_port: peer.then(|| s.remote.port()),
        state: s.state.as_ref().map(state_name),
        socket_uid: s.uid,
        inode: s.inode,
    }
}

fn socket_line<'a>(
    time: &'a str,
    change: &'static str,
    o: &'a Observed,
    before: Option<&'a Observed>,
) -> SocketLine<'a> {
    let owner = o.owner.as_deref();
    SocketLine {
        time,
        event: "socket",
        change,
        socket: socket_fields(&o.socket),
        previous_state: before.and_then(|b| b.socket.state.as_ref()).map(state_name),
        pid: owner.map_or(IDLE_PID, |p| p.pid),
        process: owner.map_or(Cow::Borrowed(IDLE_NAME), |p| p.name.lossy()),
        process_hex: owner.and_then(|p| name_hex(&p.name)),
        exe: owner.and_then(|p| p.exe.as_deref()),
        user: owner.and_then(|p| p.user.as_deref()),
        service: owner.and_then(|p| p.services.first()).map(|s| s.name.as_str()),
    }
}

fn process_line<'a>(time: &'a str, p: &'a ProcessEvent) -> ProcessLine<'a> {
    let info = &p.info;
    ProcessLine {
        time,
        event: "process",
        pid: info.pid,
        process: info.name.lossy(),
        process_hex: name_hex(&info.name),
        exe: info.exe.as_deref(),
        user: info.user.as_deref(),
        uid: info.uid,
        services: info
            .services
            .iter()
            .map(|s| ServiceFields { name: &s.name, display_name: s.display_name.as_deref() })
            .collect(),
        sockets: p.sockets.iter().map(socket_fields).collect(),
        modules: match &p.modules {
            Modules::Listed(list) => Some(
                list.iter().map(|m| ModuleFields { path: &m.path, base: m.base.map(|b| format!("{b:#x}")) }).collect(),
            ),
            Modules::NotAccessible | Modules::Absent => None,
        },
    }
}

fn change_name(change: Change) -> &'static str {
    match change {
        Change::New => "new",
        Change::State => "state",
        Change::Owner => "owner",
        Change::Gone => "gone",
    }
}

/// Appends the JSON lines of one event to `out`.
pub fn write_event(out: &mut Vec<u8>, time: &DateTime<FixedOffset>, event: &CollectorEvent) -> serde_json::Result<()> {
    let time = time.to_rfc3339_opts(SecondsFormat::Millis, false);
    match event {
        CollectorEvent::Initial(initial) => {
            for o in &initial.sockets {
                line(out, &socket_line(&time, "initial", o, None))?;
            }
            for p in &initial.processes {
                line(out, &process_line(&time, p))?;
            }
        }
        CollectorEvent::Socket(c) => {
            line(out, &socket_line(&time, change_name(c.change), &c.observed, c.before.as_ref()))?;
        }
        CollectorEvent::Process(p) => line(out, &process_line(&time, p))?,
    }
    Ok(())
}

fn line(out: &mut Vec<u8>, value: &impl Serialize) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::collector::diff::SocketChange;
    use crate::collector::source::ProcessInfo;
    use crate::model::{LoadedModule, Service};

    fn time() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-03-01T10:17:58.250+01:00").expect("time")
    }

    fn info() -> Arc<ProcessInfo> {
        Arc::new(ProcessInfo {
            pid: 42,
            name: "a,b\"c\nd".into(),
            exe: Some("/usr/bin/web".into()),
            uid: Some(33),
            user: Some("www-data".into()),
            services: vec![Service {
                name: "web.service".into(),
                display_name: Some("Web".into()),
                service_type: None,
            }],
        })
    }

    fn listener() -> Socket {
        Socket {
            protocol: Protocol::Tcp,
            local: "[::1]:8080".parse().expect("addr"),
            remote: "[::]:0".parse().expect("addr"),
            state: Some(TcpState::Listening),
            inode: 9,
            uid: 33,
        }
    }

    fn parse(out: &[u8]) -> Vec<serde_json::Value> {
        std::str::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }

    #[test]
    fn socket_events_have_the_documented_fields() {
        let change = SocketChange {
            change: Change::New,
            observed: Observed { socket: listener(), owner: Some(info()) },
            before: None,
        };
        let mut out = Vec::new();
        write_event(&mut out, &time(), &CollectorEvent::Socket(change)).expect("json");
        let v = parse(&out);
        assert_eq!(v.len(), 1);
        assert_eq!(
            v[0],
            serde_json::json!({
                "time": "2026-03-01T10:17:58.250+01:00", "event": "socket", "change": "new",
                "protocol": "tcp", "local_ip": "::1", "local_port": 8080, "remote_ip": null, "remote_port": null,
                "state": "LISTENING", "socket_uid": 33, "inode": 9, "previous_state": null,
                "pid": 42, "process": "a,b\"c\nd", "exe": "/usr/bin/web", "user": "www-data", "service": "web.service"
            })
        );
    }

    /// An owner change keeps the state, and says so in `previous_state` too.
    #[test]
    fn owner_changes_carry_the_state_before() {
        let before = Observed { socket: listener(), owner: Some(info()) };
        let other = Arc::new(ProcessInfo { pid: 43, ..(*info()).clone() });
        let change = SocketChange {
            change: Change::Owner,
            observed: Observed { socket: listener(), owner: Some(other) },
            before: Some(before),
        };
        let mut out = Vec::new();
        write_event(&mut out, &time(), &CollectorEvent::Socket(change)).expect("json");
        let v = &parse(&out)[0];
        assert_eq!(
            (&v["change"], &v["pid"], &v["state"], &v["previous_state"]),
            (&"owner".into(), &43.into(), &"LISTENING".into(), &"LISTENING".into())
        );
    }

    /// The existing fields stay as they were (U+FFFD in `process`); `process_hex` carries the
    /// exact bytes, in socket and process objects alike.
    #[test]
    fn a_name_that_is_not_utf8_adds_its_exact_bytes() {
        let odd = Arc::new(ProcessInfo { name: ProcessName::from(&b"\xffbad,x"[..]), ..(*info()).clone() });
        let observed = Observed { socket: listener(), owner: Some(odd.clone()) };
        let mut out = Vec::new();
        let change = SocketChange { change: Change::New, observed, before: None };
        write_event(&mut out, &time(), &CollectorEvent::Socket(change)).expect("json");
        let p = ProcessEvent { info: odd, sockets: vec![listener()], modules: Modules::NotAccessible };
        write_event(&mut out, &time(), &CollectorEvent::Process(p)).expect("json");
        let lines = parse(&out);
        assert_eq!(lines.len(), 2);
        for v in &lines {
            assert_eq!(
                (&v["process"], &v["process_hex"], &v["user"]),
                (&"\u{fffd}bad,x".into(), &"ff6261642c78".into(), &"www-data".into())
            );
        }
        assert_eq!(lines[1]["uid"], 33);
    }

    #[test]
    fn process_events_list_sockets_and_modules() {
        let p = ProcessEvent {
            info: info(),
            sockets: vec![listener()],
            modules: Modules::Listed(vec![LoadedModule { path: "/usr/bin/web".into(), base: Some(0x5555_0000) }]),
        };
        let mut out = Vec::new();
        write_event(&mut out, &time(), &CollectorEvent::Process(p)).expect("json");
        let v = &parse(&out)[0];
        assert_eq!(v["event"], "process");
        assert_eq!(v["services"][0]["display_name"], "Web");
        assert_eq!(v["sockets"][0]["local_port"], 8080);
        assert_eq!(v["modules"][0]["base"], "0x55550000");
        assert!(v.get("process_hex").is_none(), "only for names that are not UTF-8");
    }
}
