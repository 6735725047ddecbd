//! The writer on an in-memory disk that can fail on demand: rotation, names, retries.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use chrono::{DateTime, FixedOffset};

use super::*;
use crate::collector::diff::{Change, SocketChange};
use crate::collector::tests::{modules, process, tcp, udp};
use crate::collector::{Observed, ProcessEvent};
use crate::logs::ports::{LoadProgress, read_from};
use crate::model::{LoadedModule, Modules, TcpState};

/// Files in memory; writes take at most `chunk` bytes and the next `fail` writes fail.
#[derive(Clone, Default)]
struct Memory {
    files: Rc<RefCell<BTreeMap<String, Vec<u8>>>>,
    fail_writes: Rc<Cell<u32>>,
    fail_creates: Rc<Cell<bool>>,
    /// Names that are taken by something else (as a planted link would be).
    taken: Rc<RefCell<Vec<String>>>,
}

struct MemoryFile {
    name: String,
    disk: Memory,
}

impl Write for MemoryFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let fails = self.disk.fail_writes.get();
        if fails > 0 {
            self.disk.fail_writes.set(fails - 1);
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        let n = buf.len().min(7);
        self.disk.files.borrow_mut().entry(self.name.clone()).or_default().extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Storage for Memory {
    type File = MemoryFile;

    fn create(&mut self, name: &str) -> io::Result<MemoryFile> {
        if self.fail_creates.get() {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        if self.files.borrow().contains_key(name) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        self.files.borrow_mut().insert(name.to_string(), Vec::new());
        Ok(MemoryFile { name: name.to_string(), disk: self.clone() })
    }

    fn occupant(&self, name: &str) -> Option<&'static str> {
        if self.taken.borrow().iter().any(|t| t == name) {
            Some("a symbolic link")
        } else if self.files.borrow().contains_key(name) {
            Some("a file")
        } else {
            None
        }
    }

    fn location(&self) -> String {
        "/memory".into()
    }
}

impl Memory {
    fn names(&self) -> Vec<String> {
        self.files.borrow().keys().cloned().collect()
    }

    fn text(&self, name: &str) -> String {
        String::from_utf8(self.files.borrow().get(name).cloned().unwrap_or_default()).expect("utf-8")
    }

    /// Every PORTS row of every PORTS file, in file-name order, read back with the reader.
    fn rows(&self) -> Vec<(String, u16)> {
        let files = self.files.borrow();
        let mut rows = Vec::new();
        for (name, bytes) in files.iter().filter(|(n, _)| n.starts_with("PR-PORTS-")) {
            let mut log = crate::logs::ports::PortsLog::default();
            let size = Some(bytes.len() as u64);
            read_from(&mut log, std::path::Path::new(name), &bytes[..], size, &LoadProgress::default()).expect("read");
            assert_eq!(log.malformed.count(), 0, "{name}: {:?}", log.malformed.first());
            rows.extend(log.events.iter().map(|e| (log.module(e).to_string(), e.local_port)));
        }
        rows
    }
}

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).expect("time")
}

fn options(format: Format, max_bytes: u64) -> WriterOptions {
    WriterOptions { format, max_bytes, header: crate::collector::host::log_header() }
}

fn start(time: &str) -> Batch {
    let web = process(7, "web");
    let sockets = vec![tcp("0.0.0.0:80", "0.0.0.0:0", TcpState::Listening, 1, Some(web.clone()))];
    let processes =
        vec![ProcessEvent { info: web, sockets: vec![sockets[0].socket.clone()], modules: modules("/usr/bin/web") }];
    Batch { time: at(time), events: vec![CollectorEvent::Initial(Initial { sockets, processes })] }
}

fn new_socket(port: u16) -> CollectorEvent {
    let observed = udp(&format!("0.0.0.0:{port}"), u64::from(port), Some(process(8, "dns")));
    CollectorEvent::Socket(SocketChange { change: Change::New, observed, before: None })
}

fn ids(notices: &[Notice]) -> Vec<u16> {
    notices.iter().map(|n| n.id.code()).collect()
}

#[test]
fn the_start_set_has_the_three_logs_and_the_snapshot() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    let notices = w.write(&start("2026-03-01T10:17:54+01:00"));
    assert_eq!(ids(&notices), vec![102]);
    assert_eq!(
        disk.names(),
        vec!["PR-INITIAL-26-03-01-10-17-54.log", "PR-PIDS-26-03-01-10-17-54.log", "PR-PORTS-26-03-01-10-17-54.log"]
    );
    let initial = disk.text("PR-INITIAL-26-03-01-10-17-54.log");
    assert!(initial.contains("1 mappings found\r\n"), "{initial}");
    assert!(initial.contains("7:web\t\tTCP 80  \t0.0.0.0 \tLISTENING\t 0.0.0.0\r\n"), "{initial}");
    assert!(initial.contains("Process ID: 7 (web)\r\nUser context: alice\r\n"), "{initial}");
    assert!(disk.text("PR-PORTS-26-03-01-10-17-54.log").contains("Check PR-PIDS-26-03-01-10-17-54.log"));
    assert!(disk.text("PR-PIDS-26-03-01-10-17-54.log").contains("System Date: Sun Mar  1 10:17:54 2026"));
}

#[test]
fn rows_and_blocks_go_to_their_logs() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    w.write(&start("2026-03-01T10:17:54+01:00"));
    let gone = SocketChange {
        change: Change::Gone,
        observed: tcp("0.0.0.0:80", "0.0.0.0:0", TcpState::Listening, 1, Some(process(7, "web"))),
        before: None,
    };
    let block = ProcessEvent { info: process(8, "dns"), sockets: vec![], modules: Modules::NotAccessible };
    let batch = Batch {
        time: at("2026-03-01T10:17:58+01:00"),
        events: vec![new_socket(53), CollectorEvent::Socket(gone), CollectorEvent::Process(block)],
    };
    assert!(w.write(&batch).is_empty());
    let ports = disk.text("PR-PORTS-26-03-01-10-17-54.log");
    assert!(ports.ends_with("\r\n26/3/1,10:17:58,UDP,53,0.0.0.0,*,*,8,dns,<alice>\r\n"), "{ports}");
    let pids = disk.text("PR-PIDS-26-03-01-10-17-54.log");
    assert!(pids.contains("Log entry below recorded at: 26/3/1 10:17:58\r\n"), "{pids}");
    assert!(pids.contains("Could not access module information for this process"), "{pids}");
}

#[test]
fn size_rotation_keeps_every_row_once_and_in_order() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 600));
    w.write(&start("2026-03-01T10:17:54+01:00"));
    let mut expected = Vec::new();
    let mut rotations = 0;
    for round in 0..10u16 {
        let events: Vec<CollectorEvent> = (0..5).map(|i| new_socket(1000 + round * 5 + i)).collect();
        expected.extend((0..5).map(|i| ("dns".to_string(), 1000 + round * 5 + i)));
        let notices = w.write(&Batch { time: at("2026-03-01T10:17:55+01:00"), events });
        rotations += notices.iter().filter(|n| n.id == EventId::Rotated).count();
        assert!(notices.iter().all(|n| n.id == EventId::Rotated), "{notices:?}");
    }
    assert!(rotations >= 3, "a 600-byte limit rotates often ({rotations})");
    assert_eq!(disk.rows(), expected);
    let ports: Vec<String> = disk.names().into_iter().filter(|n| n.starts_with("PR-PORTS-")).collect();
    assert_eq!(ports.len(), rotations + 1);
    for name in &ports {
        assert!(disk.text(name).len() <= 600, "{name} is over the limit");
        let pids = name.replace("PR-PORTS-", "PR-PIDS-");
        assert!(disk.text(name).contains(&format!("Check {pids} ")), "each PORTS file names its own PIDS partner");
    }
    // Rotations within one second take the next seconds' names, in order.
    assert!(ports.iter().any(|n| n == "PR-PORTS-26-03-01-10-17-56.log"), "{ports:?}");
}

#[test]
fn local_midnight_starts_a_new_set_without_an_initial_log() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    w.write(&start("2026-03-01T23:59:59.600+01:00"));
    w.write(&Batch { time: at("2026-03-01T23:59:59.900+01:00"), events: vec![new_socket(1)] });
    let notices = w.write(&Batch { time: at("2026-03-02T00:00:00.400+01:00"), events: vec![new_socket(2)] });
    assert_eq!(ids(&notices), vec![103]);
    assert!(notices[0].message.contains("local midnight"));
    assert_eq!(
        disk.names(),
        vec![
            "PR-INITIAL-26-03-01-23-59-59.log",
            "PR-PIDS-26-03-01-23-59-59.log",
            "PR-PIDS-26-03-02-0-0-0.log",
            "PR-PORTS-26-03-01-23-59-59.log",
            "PR-PORTS-26-03-02-0-0-0.log",
        ]
    );
    assert_eq!(disk.rows(), vec![("dns".to_string(), 1), ("dns".to_string(), 2)]);
    assert!(disk.text("PR-PORTS-26-03-02-0-0-0.log").contains("26/3/2,0:0:0,UDP,2,"));
}

#[test]
fn write_errors_are_reported_once_retried_and_lose_nothing() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    w.write(&start("2026-03-01T10:17:54+01:00"));
    disk.fail_writes.set(3);
    let n1 = w.write(&Batch { time: at("2026-03-01T10:17:55+01:00"), events: vec![new_socket(1)] });
    let n2 = w.write(&Batch { time: at("2026-03-01T10:17:56+01:00"), events: vec![new_socket(2)] });
    assert_eq!(ids(&n1), vec![105]);
    assert!(n1[0].message.contains("No space left on device"), "{}", n1[0].message);
    let n3 = w.write(&Batch { time: at("2026-03-01T10:17:57+01:00"), events: vec![new_socket(3)] });
    assert_eq!(ids(&[n2, n3].concat()), vec![106]);
    assert_eq!(disk.rows(), vec![("dns".into(), 1), ("dns".into(), 2), ("dns".into(), 3)]);
}

#[test]
fn a_full_retry_queue_drops_new_records_and_says_so() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, u64::MAX));
    w.write(&start("2026-03-01T10:17:54+01:00"));
    let list: Vec<LoadedModule> =
        (0..120_000).map(|i| LoadedModule { path: format!("/usr/lib/lib{i:0>100}.so"), base: Some(i) }).collect();
    let huge = ProcessEvent { info: process(8, "dns"), sockets: vec![], modules: Modules::Listed(list) };
    disk.fail_writes.set(u32::MAX);
    let events = vec![CollectorEvent::Process(huge.clone()), CollectorEvent::Process(huge)];
    let notices = w.write(&Batch { time: at("2026-03-01T10:17:55+01:00"), events });
    assert_eq!(ids(&notices), vec![105, 107]);
    disk.fail_writes.set(0);
    let notices = w.write(&Batch { time: at("2026-03-01T10:17:56+01:00"), events: vec![] });
    assert_eq!(ids(&notices), vec![106]);
    assert!(notices[0].message.contains("1 records were dropped"), "{}", notices[0].message);
    assert_eq!(disk.text("PR-PIDS-26-03-01-10-17-54.log").matches("Process ID: 8 (dns)").count(), 1);
}

#[test]
fn taken_names_are_refused_and_the_next_second_used() {
    let disk = Memory::default();
    disk.taken.borrow_mut().push("PR-PIDS-26-03-01-10-17-54.log".into());
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    let notices = w.write(&start("2026-03-01T10:17:54+01:00"));
    assert_eq!(ids(&notices), vec![108, 102]);
    assert!(notices[0].message.contains("a symbolic link: refused"), "{}", notices[0].message);
    assert!(disk.names().iter().all(|n| n.ends_with("10-17-55.log")), "{:?}", disk.names());
}

#[test]
fn files_that_cannot_be_created_are_retried_a_minute_later() {
    let disk = Memory::default();
    disk.fail_creates.set(true);
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    let notices = w.write(&start("2026-03-01T10:17:54+01:00"));
    assert_eq!(ids(&notices), vec![109]);
    assert!(w.current_files().is_empty());
    assert!(w.write(&Batch { time: at("2026-03-01T10:18:00+01:00"), events: vec![new_socket(1)] }).is_empty());
    disk.fail_creates.set(false);
    let notices = w.write(&Batch { time: at("2026-03-01T10:18:54+01:00"), events: vec![new_socket(2)] });
    assert_eq!(ids(&notices), vec![102]);
    assert_eq!(disk.rows(), vec![("dns".into(), 2)]);
}

/// A program starts the writer with `start`: a first set that cannot be created is an error
/// saying why, once, with no promise of a retry.
#[test]
fn a_first_set_that_cannot_be_created_fails_the_start() {
    let disk = Memory::default();
    disk.fail_creates.set(true);
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    let err = w.start(&start("2026-03-01T10:17:54+01:00")).expect_err("no files");
    assert_eq!(err.to_string(), "cannot create log files in /memory: Permission denied (os error 13)");
    assert!(disk.names().is_empty());
    disk.fail_creates.set(false);
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    assert_eq!(ids(&w.start(&start("2026-03-01T10:17:54+01:00")).expect("started")), vec![102]);
}

/// What event 109 says is what happens: the current files stay in use (past the size limit),
/// nothing is tried or reported again for a minute, then the new set is made.
#[test]
fn a_rotation_that_cannot_create_files_keeps_the_current_ones_and_retries_a_minute_later() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1000));
    w.start(&start("2026-03-01T10:17:54+01:00")).expect("started");
    disk.fail_creates.set(true);
    let mut failed = Vec::new();
    for i in 0..30 {
        let notices = w.write(&Batch { time: at("2026-03-01T10:18:00+01:00"), events: vec![new_socket(i)] });
        failed.extend(notices);
    }
    assert_eq!(ids(&failed), vec![109]);
    assert!(
        failed[0]
            .message
            .ends_with(": Permission denied (os error 13); the current files stay in use; next try in 60 s"),
        "{}",
        failed[0].message
    );
    assert_eq!(disk.names().len(), 3, "no new files meanwhile");
    assert_eq!(disk.rows().len(), 30, "every row written to the current file");
    assert!(w.write(&Batch { time: at("2026-03-01T10:18:59+01:00"), events: vec![new_socket(30)] }).is_empty());
    disk.fail_creates.set(false);
    let notices = w.write(&Batch { time: at("2026-03-01T10:19:00+01:00"), events: vec![new_socket(31)] });
    assert_eq!(ids(&notices), vec![103]);
    assert_eq!(disk.names().len(), 5);
    assert_eq!(disk.rows().len(), 32);
}

#[test]
fn json_lines_rotate_like_the_logs() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Jsonl, 1500));
    w.write(&start("2026-03-01T10:17:54+01:00"));
    for i in 0..20 {
        w.write(&Batch { time: at("2026-03-01T10:17:55+01:00"), events: vec![new_socket(i)] });
    }
    let names = disk.names();
    assert!(names.len() > 1 && names.iter().all(|n| n.starts_with("PR-EVENTS-") && n.ends_with(".jsonl")), "{names:?}");
    let lines: Vec<serde_json::Value> = names
        .iter()
        .flat_map(|n| disk.text(n).lines().map(|l| serde_json::from_str(l).expect("json")).collect::<Vec<_>>())
        .collect();
    assert_eq!(lines.len(), 2 + 20, "the snapshot's socket and process, then one line per event");
    assert_eq!(lines[0]["change"], "initial");
    assert_eq!(lines[1]["event"], "process");
    let ports: Vec<u64> = lines[2..].iter().filter_map(|l| l["local_port"].as_u64()).collect();
    assert_eq!(ports, (0..20).collect::<Vec<u64>>());
}

#[test]
fn closing_reports_what_could_not_be_written() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    w.write(&start("2026-03-01T10:17:54+01:00"));
    assert!(w.close().is_empty());
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    disk.fail_writes.set(u32::MAX);
    w.write(&start("2026-03-01T10:17:54+01:00"));
    assert_eq!(ids(&w.close()), vec![107, 107, 107]);
}

#[test]
fn observed_sockets_without_owner_are_system_idle_rows() {
    let disk = Memory::default();
    let mut w = LogWriter::new(disk.clone(), options(Format::Text, 1 << 20));
    w.write(&start("2026-03-01T10:17:54+01:00"));
    let observed: Observed = tcp("127.0.0.1:5000", "127.0.0.1:80", TcpState::TimeWait, 0, None);
    let change = SocketChange { change: Change::State, observed, before: None };
    w.write(&Batch { time: at("2026-03-01T10:17:58+01:00"), events: vec![CollectorEvent::Socket(change)] });
    let ports = disk.text("PR-PORTS-26-03-01-10-17-54.log");
    assert!(ports.ends_with("\r\n26/3/1,10:17:58,TCP,5000,127.0.0.1,80,127.0.0.1,0,System Idle,\r\n"), "{ports}");
}
