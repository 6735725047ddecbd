//! The collector on a scripted source: what each poll reports, deterministically.

use super::*;
use crate::model::{LoadedModule, Protocol, TcpState};
use chrono::{DateTime, TimeDelta};

pub(crate) fn process(pid: u32, name: &str) -> Arc<ProcessInfo> {
    Arc::new(ProcessInfo {
        pid,
        name: name.into(),
        exe: Some(format!("/usr/bin/{name}")),
        uid: Some(1000),
        user: Some("alice".into()),
        services: Vec::new(),
    })
}

pub(crate) fn tcp(local: &str, remote: &str, state: TcpState, inode: u64, owner: Option<Arc<ProcessInfo>>) -> Observed {
    Observed {
        socket: Socket {
            protocol: Protocol::Tcp,
            local: local.parse().expect("local"),
            remote: remote.parse().expect("remote"),
            state: Some(state),
            inode,
            uid: 1000,
        },
        owner,
    }
}

pub(crate) fn udp(local: &str, inode: u64, owner: Option<Arc<ProcessInfo>>) -> Observed {
    Observed {
        socket: Socket {
            protocol: Protocol::Udp,
            local: local.parse().expect("local"),
            remote: "0.0.0.0:0".parse().expect("remote"),
            state: None,
            inode,
            uid: 1000,
        },
        owner,
    }
}

pub(crate) fn modules(path: &str) -> Modules {
    Modules::Listed(vec![LoadedModule { path: path.into(), base: Some(0x5555_0000) }])
}

fn clock() -> ManualClock {
    ManualClock::new(DateTime::parse_from_rfc3339("2026-03-01T10:00:00+01:00").expect("time"))
}

/// A collector on a fake source where PIDs 7 (web) and 8 (curl) are running.
fn collector() -> Collector<FakeSource, ManualClock> {
    let mut source = FakeSource::default();
    source.modules.insert(7, modules("/usr/bin/web"));
    source.modules.insert(8, modules("/usr/bin/curl"));
    Collector::new(source, clock())
}

/// Socket changes as (change, local port, pid), process events as (pid, socket count).
type Summary = (Vec<(Change, u16, u32)>, Vec<(u32, usize)>);

/// What a batch says, compactly.
fn summary(batch: &Batch) -> Summary {
    let mut sockets = Vec::new();
    let mut processes = Vec::new();
    for e in &batch.events {
        match e {
            CollectorEvent::Socket(c) => {
                sockets.push((c.change, c.observed.socket.local.port(), c.observed.owner.as_ref().map_or(0, |o| o.pid)))
            }
            CollectorEvent::Process(p) => processes.push((p.info.pid, p.sockets.len())),
            CollectorEvent::Initial(_) => panic!("a second Initial"),
        }
    }
    (sockets, processes)
}

#[test]
fn the_first_poll_is_the_start_snapshot() {
    let mut c = collector();
    let web = process(7, "web");
    c.source_mut().sockets = vec![
        tcp("0.0.0.0:80", "0.0.0.0:0", TcpState::Listening, 1, Some(web.clone())),
        udp("0.0.0.0:5353", 2, Some(web)),
        tcp("10.0.0.1:5000", "10.0.0.2:80", TcpState::TimeWait, 0, None),
        udp("0.0.0.0:9", 3, Some(process(99, "gone-already"))),
    ];
    let batch = c.poll().expect("poll");
    let [CollectorEvent::Initial(initial)] = batch.events.as_slice() else {
        panic!("expected the start snapshot, got {:?}", batch.events);
    };
    assert_eq!(initial.sockets.len(), 4);
    let pids: Vec<(u32, usize)> = initial.processes.iter().map(|p| (p.info.pid, p.sockets.len())).collect();
    assert_eq!(pids, vec![(7, 2)], "one block per live process; PID 0 and a vanished process get none");
    assert!(c.poll().expect("poll").events.is_empty(), "nothing changed");
}

#[test]
fn new_sockets_state_changes_and_departures() {
    let mut c = collector();
    let web = process(7, "web");
    let curl = process(8, "curl");
    let listen = tcp("127.0.0.1:80", "0.0.0.0:0", TcpState::Listening, 1, Some(web.clone()));
    c.source_mut().sockets = vec![listen.clone()];
    c.poll().expect("start");

    let syn = tcp("127.0.0.1:5000", "127.0.0.1:80", TcpState::SynSent, 2, Some(curl.clone()));
    c.source_mut().sockets = vec![listen.clone(), syn];
    assert_eq!(summary(&c.poll().expect("poll")), (vec![(Change::New, 5000, 8)], vec![(8, 1)]));

    let est = tcp("127.0.0.1:5000", "127.0.0.1:80", TcpState::Established, 2, Some(curl));
    let accepted = tcp("127.0.0.1:80", "127.0.0.1:5000", TcpState::Established, 3, Some(web.clone()));
    c.source_mut().sockets = vec![listen.clone(), est, accepted.clone()];
    assert_eq!(
        summary(&c.poll().expect("poll")),
        (vec![(Change::State, 5000, 8), (Change::New, 80, 7)], vec![(7, 2)]),
        "a state change alone writes no PIDS block"
    );

    // curl closes first: its side enters TIME_WAIT and leaves the process; web's side goes.
    let tw = tcp("127.0.0.1:5000", "127.0.0.1:80", TcpState::TimeWait, 0, None);
    c.source_mut().sockets = vec![listen, tw];
    let batch = c.poll().expect("poll");
    assert_eq!(summary(&batch), (vec![(Change::State, 5000, 0), (Change::Gone, 80, 7)], vec![(7, 1), (8, 0)]));
    let rows: Vec<bool> = batch
        .events
        .iter()
        .filter_map(|e| match e {
            CollectorEvent::Socket(c) => Some(c.is_row()),
            _ => None,
        })
        .collect();
    assert_eq!(rows, vec![true, false], "TIME_WAIT is a row (PID 0), a departure is not");
}

#[test]
fn a_process_that_is_gone_gets_no_block() {
    let mut c = collector();
    let temp = process(50, "short-lived");
    c.source_mut().sockets = vec![];
    c.poll().expect("start");
    c.source_mut().sockets = vec![udp("0.0.0.0:6000", 9, Some(temp))];
    assert_eq!(summary(&c.poll().expect("poll")), (vec![(Change::New, 6000, 50)], vec![]));
}

#[test]
fn a_failed_poll_is_an_error_and_the_next_one_works() {
    let mut c = collector();
    c.source_mut().fail_next = Some("netlink said no".into());
    let err = c.poll().expect_err("fails");
    assert!(err.to_string().contains("netlink said no"));
    let batch = c.poll().expect("poll");
    assert!(matches!(batch.events.as_slice(), [CollectorEvent::Initial(_)]), "the start snapshot is still the first");
}

#[test]
fn batches_carry_the_clock_time() {
    let mut c = collector();
    let t0 = c.poll().expect("poll").time;
    c.clock.advance(TimeDelta::milliseconds(500));
    assert_eq!(c.poll().expect("poll").time - t0, TimeDelta::milliseconds(500));
}
