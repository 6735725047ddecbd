//! The collector's files on a real folder, driven by a scripted source and a hand-set clock:
//! rotation by size (a tiny limit) and at local midnight loses and repeats no event, as read
//! back by the project's own readers; a symbolic link planted under the next file's name is
//! refused, not followed.

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, symlink};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeDelta, Timelike};

use prparser::collector::events::{EventId, Notice};
use prparser::collector::folder::LogFolder;
use prparser::collector::writer::{Format, LogWriter, WriterOptions};
use prparser::collector::{
    Collector, CollectorEvent, FakeSource, ManualClock, Observed, ProcessInfo, Socket, host, record,
};
use prparser::logs::ports::LoadProgress;
use prparser::logs::set;
use prparser::model::{LoadedModule, Modules, Protocol, TcpState};

fn clock(at: &str) -> ManualClock {
    ManualClock::new(DateTime::<FixedOffset>::parse_from_rfc3339(at).expect("time"))
}

fn socket(port: u16, state: TcpState, owner: Arc<ProcessInfo>) -> Observed {
    Observed {
        socket: Socket {
            protocol: Protocol::Tcp,
            local: SocketAddr::from(([10, 0, 0, 1], port)),
            remote: SocketAddr::from(([10, 0, 0, 2], 443)),
            state: Some(state),
            inode: u64::from(port),
            uid: 1000,
        },
        owner: Some(owner),
    }
}

fn source() -> FakeSource {
    let mut source = FakeSource::default();
    for pid in 1..=3 {
        let list = vec![LoadedModule { path: format!("/usr/bin/worker-{pid}"), base: Some(0x5555_0000) }];
        source.modules.insert(pid, Modules::Listed(list));
    }
    source
}

fn options(max_bytes: u64) -> WriterOptions {
    WriterOptions { format: Format::Text, max_bytes, header: host::log_header() }
}

#[test]
fn rotation_by_size_and_at_midnight_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock("2026-03-01T23:59:50+01:00");
    let mut collector = Collector::new(source(), clock.clone());
    let mut writer = LogWriter::new(LogFolder::open(dir.path()).expect("folder"), options(4000));
    let mut expected = Vec::new();
    let mut blocks = 0;
    let mut notices: Vec<Notice> = Vec::new();
    // Connections open SYN_SENT, become ESTABLISHED at the next poll and close the one after:
    // every poll has new sockets, state changes and departures, for three processes.
    for poll in 0u16..60 {
        let mut sockets = Vec::new();
        for (age, state) in [(0, TcpState::SynSent), (1, TcpState::Established)] {
            if let Some(born) = poll.checked_sub(age) {
                for k in 0..3 {
                    let port = 20_000 + born * 3 + k;
                    sockets.push(socket(port, state.clone(), support::collector::process(u32::from(k) + 1)));
                }
            }
        }
        collector.source_mut().sockets = sockets;
        let batch = collector.poll().expect("poll");
        for e in &batch.events {
            match e {
                CollectorEvent::Socket(c) if c.is_row() => {
                    let r = record::row(batch.time.naive_local(), &c.observed);
                    let second = r.time.with_nanosecond(0).expect("a whole second");
                    expected.push((second, r.local_port, String::from_utf8_lossy(r.module).into_owned()));
                }
                CollectorEvent::Process(_) => blocks += 1,
                _ => {}
            }
        }
        notices.extend(writer.write(&batch));
        clock.advance(TimeDelta::milliseconds(500));
    }
    notices.extend(writer.close());
    let rotated: Vec<&str> = notices.iter().filter(|n| n.id == EventId::Rotated).map(|n| n.message.as_str()).collect();
    assert!(rotated.iter().any(|m| m.contains("local midnight")), "{rotated:?}");
    assert!(rotated.iter().filter(|m| m.contains("size limit")).count() >= 5, "{rotated:?}");
    assert!(notices.iter().all(|n| matches!(n.id, EventId::Rotated | EventId::CreatedLogFiles)), "{notices:?}");

    let files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.iter().filter(|n| n.starts_with("PR-INITIAL-")).count(), 1, "INITIAL only at start");
    assert!(files.iter().any(|n| n.starts_with("PR-PORTS-26-03-02-0-0-")), "{files:?}");
    for name in &files {
        let meta = std::fs::metadata(dir.path().join(name)).expect("meta");
        assert_eq!(meta.mode() & 0o777, 0o640, "{name}");
        if !name.starts_with("PR-INITIAL-") {
            assert!(meta.len() <= 4000, "{name} is {} bytes", meta.len());
        }
    }

    let set = set::open(&[dir.path().to_path_buf()], &LoadProgress::default()).expect("read back");
    assert_eq!(set.ports.malformed.count(), 0, "{:?}", set.ports.malformed.first());
    assert_eq!(set.warnings().count(), 0, "{:?}", set.warnings().next());
    let read: Vec<_> =
        set.ports.events.iter().map(|e| (e.time, e.local_port, set.ports.module(e).to_string())).collect();
    let first_difference = read.iter().zip(&expected).position(|(r, e)| r != e);
    assert_eq!(first_difference, None, "at row {first_difference:?}");
    assert_eq!(read.len(), expected.len(), "every row once, across {} PORTS files", set.ports.sources.len());
    assert_eq!(set.pids.iter().map(|p| p.blocks.len()).sum::<usize>(), blocks);
}

#[test]
fn a_planted_symlink_is_refused_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").expect("write");
    let planted = dir.path().join("PR-PORTS-26-03-01-10-17-54.log");
    symlink(&victim, &planted).expect("symlink");

    let mut collector = Collector::new(source(), clock("2026-03-01T10:17:54.300+01:00"));
    let mut writer = LogWriter::new(LogFolder::open(dir.path()).expect("folder"), options(1 << 20));
    let notices = writer.write(&collector.poll().expect("poll"));
    let ids: Vec<u16> = notices.iter().map(|n| n.id.code()).collect();
    assert_eq!(ids, vec![108, 102], "{notices:?}");
    assert!(notices[0].message.contains("a symbolic link"));
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
    assert_eq!(std::fs::read_link(&planted).expect("still a link"), victim);
    assert_eq!(
        writer.current_files(),
        vec!["PR-INITIAL-26-03-01-10-17-55.log", "PR-PORTS-26-03-01-10-17-55.log", "PR-PIDS-26-03-01-10-17-55.log"]
    );
    assert!(writer.close().is_empty());
}
