//! The collector's JSON lines into ClickHouse the way README's Vector configuration sends
//! them (its `remap` mapping, mirrored here, then `INSERT ... FORMAT JSONEachRow` over HTTP),
//! read back by `prparser report --clickhouse`: the same report as the PORTS, PIDS and
//! INITIAL logs the collector writes in text format for the same polls. Vector itself is not
//! run (it cannot be installed here).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeDelta};
use serde_json::{Value, json};

use prparser::collector::folder::LogFolder;
use prparser::collector::writer::{Format, LogWriter, WriterOptions};
use prparser::collector::{Collector, FakeSource, ManualClock, Observed, ProcessInfo, Socket, host};
use prparser::model::{LoadedModule, Modules, Protocol, Service, TcpState};
use support::clickhouse::{TestClickHouse, assert_same_report_but_changes, json_report, start};

fn process(pid: u32, name: &str, user: Option<&str>, services: &[&str]) -> Arc<ProcessInfo> {
    Arc::new(ProcessInfo {
        pid,
        name: name.into(),
        exe: Some(format!("/usr/bin/{name}")),
        uid: Some(1000),
        user: user.map(String::from),
        services: services
            .iter()
            .map(|s| Service { name: s.to_string(), display_name: None, service_type: None })
            .collect(),
    })
}

fn observed(
    protocol: Protocol,
    local: SocketAddr,
    remote: SocketAddr,
    state: Option<TcpState>,
    owner: Option<&Arc<ProcessInfo>>,
) -> Observed {
    Observed {
        socket: Socket { protocol, local, remote, state, inode: u64::from(local.port()), uid: 1000 },
        owner: owner.cloned(),
    }
}

/// Polls of a scripted machine: connections that open and close, a TCP listener, an
/// unconnected UDP socket, IPv6, a socket without owner and an svchost.exe outside System32,
/// written by one collector in text and in JSON lines.
fn collect(text: &Path, events: &Path) {
    let web = process(11, "web", Some("www-data"), &["web.service"]);
    let curl = process(12, "curl", Some("alice"), &[]);
    let svc = process(13, "svchost.exe", Some("SYSTEM"), &["Dhcp", "Dnscache"]);
    let mut source = FakeSource::default();
    for p in [&web, &curl, &svc] {
        let list = vec![LoadedModule { path: format!("/usr/bin/{}", p.name.lossy()), base: Some(0x5555_0000) }];
        source.modules.insert(p.pid, Modules::Listed(list));
    }
    let start = DateTime::<FixedOffset>::parse_from_rfc3339("2026-03-01T22:59:40.250+01:00").expect("time");
    let clock = ManualClock::new(start);
    let mut collector = Collector::new(source, clock.clone());
    let options = |format| WriterOptions { format, max_bytes: 1 << 20, header: host::log_header() };
    let mut text_writer = LogWriter::new(LogFolder::open(text).expect("folder"), options(Format::Text));
    let mut event_writer = LogWriter::new(LogFolder::open(events).expect("folder"), options(Format::Jsonl));
    let any4 = SocketAddr::from(([0, 0, 0, 0], 0));
    for poll in 0u16..40 {
        let mut sockets = vec![
            observed(
                Protocol::Tcp,
                SocketAddr::from(([0, 0, 0, 0], 8080)),
                any4,
                Some(TcpState::Listening),
                Some(&web),
            ),
            observed(Protocol::Udp, SocketAddr::from(([0, 0, 0, 0], 5353)), any4, None, Some(&svc)),
        ];
        for (age, state) in [(0u16, TcpState::SynSent), (1, TcpState::Established), (2, TcpState::TimeWait)] {
            let Some(born) = poll.checked_sub(age) else { continue };
            let owner = if state == TcpState::TimeWait { None } else { Some(&curl) };
            let remote = SocketAddr::from(([192, 0, 2, (born % 5) as u8 + 1], 443));
            sockets.push(observed(
                Protocol::Tcp,
                SocketAddr::from(([10, 0, 0, 1], 30_000 + born)),
                remote,
                Some(state.clone()),
                owner,
            ));
            if born % 3 == 0 {
                let local = SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 40_000 + born));
                let remote = SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2], 80));
                sockets.push(observed(Protocol::Tcp, local, remote, Some(state), Some(&web)));
            }
        }
        collector.source_mut().sockets = sockets;
        let batch = collector.poll().expect("poll");
        text_writer.write(&batch);
        event_writer.write(&batch);
        clock.advance(TimeDelta::milliseconds(1500));
    }
    text_writer.close();
    event_writer.close();
}

/// The `remap` of README's Vector configuration: a socket change (not the start snapshot,
/// not a socket gone) becomes a PORTS row, a process event a process block; `host` is the
/// machine Vector runs on and `file` the path it read, as Vector's `file` source adds them.
fn remap(event: &Value, host: &str, file: &str) -> Option<(&'static str, Value)> {
    let time = event["time"].as_str()?.get(..19)?.replace('T', " ");
    let file = file.rsplit('/').next().unwrap_or(file);
    let text_or_empty = |v: &Value| v.as_str().unwrap_or("").to_string();
    match event["event"].as_str()? {
        "socket" => {
            if !["new", "state", "owner"].contains(&event["change"].as_str()?) {
                return None;
            }
            let udp = event["protocol"] == "udp";
            let local_ip = event["local_ip"].as_str()?;
            let unspecified = if local_ip.contains(':') { "::" } else { "0.0.0.0" };
            let remote_ip = match &event["remote_ip"] {
                Value::Null if udp => "*".to_string(),
                Value::Null => unspecified.to_string(),
                v => text_or_empty(v),
            };
            let remote_port = match &event["remote_port"] {
                Value::Null if udp => "*".to_string(),
                Value::Null if event["state"] == "LISTENING" => String::new(),
                Value::Null => "0".to_string(),
                v => v.to_string(),
            };
            Some((
                "ports",
                json!({
                    "computer": host, "time": time, "protocol": event["protocol"].as_str()?.to_uppercase(),
                    "local_ip": local_ip, "local_port": event["local_port"], "remote_ip": remote_ip,
                    "remote_port": remote_port, "pid": event["pid"], "module": event["process"],
                    "user": text_or_empty(&event["user"]), "file": file, "line": 0
                }),
            ))
        }
        "process" => {
            let modules: Vec<String> = event["modules"]
                .as_array()
                .map(|list| list.iter().map(|m| text_or_empty(&m["path"])).collect())
                .unwrap_or_default();
            let name = event["process"].as_str()?.to_lowercase();
            let own = modules.iter().find(|p| p.rsplit(['/', '\\']).next().unwrap_or(p).to_lowercase() == name);
            let image = own.or(modules.first());
            let services: Vec<String> = event["services"]
                .as_array()
                .map(|list| list.iter().map(|s| text_or_empty(&s["name"])).collect())
                .unwrap_or_default();
            Some((
                "process_blocks",
                json!({
                    "computer": host, "time": time, "timed": 1, "kind": "EVENTS", "pid": event["pid"],
                    "process": event["process"], "user": text_or_empty(&event["user"]), "system_process": 0,
                    "services": services, "modules": modules, "image_path": image.cloned().unwrap_or_default(),
                    "has_image": u8::from(image.is_some()), "port_table": event["sockets"].to_string(),
                    "file": file, "line": 0
                }),
            ))
        }
        _ => None,
    }
}

/// What Vector's `http` sinks send: the mapped events, one insert per table.
fn ship(server: &TestClickHouse, database: &str, events: &Path, host: &str) -> (usize, usize) {
    let mut bodies = [("ports", String::new(), 0), ("process_blocks", String::new(), 0)];
    for entry in std::fs::read_dir(events).expect("events folder") {
        let path = entry.expect("entry").path();
        let file = path.display().to_string();
        for line in std::fs::read_to_string(&path).expect("read events").lines() {
            let event: Value = serde_json::from_str(line).expect("a JSON line");
            if let Some((table, row)) = remap(&event, host, &file) {
                let body = bodies.iter_mut().find(|(t, _, _)| *t == table).expect("a table");
                body.1.push_str(&row.to_string());
                body.1.push('\n');
                body.2 += 1;
            }
        }
    }
    for (table, body, _) in &bodies {
        let url = format!("{}/?query=INSERT%20INTO%20{database}.{table}%20FORMAT%20JSONEachRow", server.url);
        let mut response = ureq::post(&url)
            .config()
            .http_status_as_error(false)
            .build()
            .send(body.as_bytes())
            .expect("the server answers");
        let status = response.status();
        assert!(
            status.is_success(),
            "insert into {table}: {}",
            response.body_mut().read_to_string().unwrap_or_default()
        );
    }
    (bodies[0].2, bodies[1].2)
}

#[test]
fn the_collectors_json_lines_report_as_its_text_logs_do() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (text, events) = (dir.path().join("text"), dir.path().join("events"));
    collect(&text, &events);
    let local = json_report(&[text.display().to_string()]);
    let host = local["computers"][0]["computer"].as_str().expect("the machine's name").to_string();
    for sql in prparser::clickhouse::schema::statements("shipped") {
        server.query(&sql);
    }
    let (rows, blocks) = ship(&server, "shipped", &events, &host);
    assert_eq!(rows as u64, local["rows"].as_u64().expect("rows"));
    assert!(rows > 100 && blocks > 3, "{rows} rows, {blocks} blocks");

    // Vector ships rows and process blocks, no port tables: the server's Changes view has no
    // snapshot to take as the baseline (README says so), where the local one has the
    // PR-INITIAL.
    let (report, remote) = assert_same_report_but_changes(&server, "shipped", &[&text], &[]);
    assert_eq!(report["changes"]["baseline"]["files"].as_array().map(Vec::len), Some(1));
    assert_eq!(remote["changes"]["baseline"], json!({"kind": "initial", "files": []}));
    assert_eq!(report["stats"]["svchost_enumeration"][0]["services"], json!(["Dhcp", "Dnscache"]));
    assert_eq!(report["stats"]["masquerading"][0]["path"], "/usr/bin/svchost.exe");
    let hours: Vec<u64> = report["stats"]["port_usage_by_hour"]
        .as_array()
        .expect("hours")
        .iter()
        .map(|h| h["count"].as_u64().expect("count"))
        .filter(|&c| c > 0)
        .collect();
    assert_eq!(hours.len(), 2, "the polls span 22:59 to 23:00 local time, not UTC");
    let udp = report["stats"]["remote_ip_usage"].as_array().expect("remote IPs");
    assert!(udp.iter().all(|r| r["ip"] != "0.0.0.0"), "unspecified addresses are not remote hosts");
}
