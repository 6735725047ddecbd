//! Following a PORTS log another process is writing: a writer thread appends 100,000 rows in
//! bursts cut at arbitrary bytes (so most polls meet a partial last line), and rotates twice
//! to a new file; the follower must see every row exactly once, in order. The writer waits
//! for a poll after each burst, so every run meets the same partial states. Then the
//! collector's own writer, rotating by size every few polls: a dataset grown poll by poll
//! must equal the folder opened afterwards, rows and process blocks alike. The same for
//! UTF-16 logs written a few bytes at a time (code units and surrogate pairs cut between
//! polls), and for a PIDS entry written a line at a time.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, TimeDelta};

use prparser::analysis::dataset::Dataset;
use prparser::collector::folder::LogFolder;
use prparser::collector::writer::{Format, LogWriter, WriterOptions};
use prparser::collector::{Collector, FakeSource, ManualClock, Observed, Socket, host};
use prparser::logs::follow::{FollowNote, Follower, Start};
use prparser::logs::ports::{self, LoadProgress};
use prparser::logs::set::LogSet;
use prparser::model::{LoadedModule, Modules, Protocol, TcpState};

const ROWS: u32 = 100_000;
/// Rows after which the writer starts a new file.
const ROTATE_AT: [u32; 2] = [33_333, 66_667];
const FILES: [&str; 3] =
    ["PR-PORTS-26-01-02-10-0-0.log", "PR-PORTS-26-01-02-10-0-1.log", "PR-PORTS-26-01-02-11-0-0.log"];

/// Row `n`: its PID is `n`, so the rows read back tell their order.
fn row(n: u32) -> String {
    format!(
        "26/1/2,10:{}:{},TCP,{},10.0.0.1,443,192.0.2.{},{n},app{}.exe,<host\\user{}>\r\n",
        (n / 60) % 60,
        n % 60,
        1024 + n % 60_000,
        n % 250,
        n % 7,
        n % 3
    )
}

/// A small deterministic generator for burst sizes (xorshift).
struct Bursts(u64);

impl Bursts {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize + 1
    }
}

/// Writes each file's text in bursts of 1..6000 bytes, cut anywhere, and after each one waits
/// until the follower has polled; the last row of the first file has no line end (the
/// follower takes it once the writer has moved on).
fn write_all(dir: &Path, written: Sender<()>, polled: Receiver<()>) {
    let mut bursts = Bursts(0x9E37_79B9_7F4A_7C15);
    let mut next = 0;
    for (i, name) in FILES.iter().enumerate() {
        let end = ROTATE_AT.get(i).copied().unwrap_or(ROWS);
        let mut text = Vec::new();
        ports::write_header(&mut text, "2.0", "PR-PIDS-none.log").expect("header");
        for n in next..end {
            text.extend_from_slice(row(n).as_bytes());
        }
        if i == 0 {
            text.truncate(text.len() - 2);
        }
        next = end;
        let mut file = std::fs::File::create_new(dir.join(name)).expect("create");
        let mut at = 0;
        while at < text.len() {
            let to = (at + bursts.next(6000)).min(text.len());
            file.write_all(&text[at..to]).expect("write");
            at = to;
            written.send(()).expect("follower listens");
            polled.recv().expect("follower polls");
        }
    }
}

#[test]
fn every_row_once_in_order_across_partial_lines_and_two_rotations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let (written_tx, written) = channel();
    let (polled, polled_rx) = channel();
    let writer = std::thread::spawn(move || write_all(&path, written_tx, polled_rx));
    let mut follower = Follower::new(dir.path(), Start::Oldest);
    let mut seen: Vec<u32> = Vec::with_capacity(ROWS as usize);
    let mut notes = Vec::new();
    let mut malformed = 0;
    let mut poll = |follower: &mut Follower| {
        let batch = follower.poll();
        seen.extend(batch.ports.events.iter().map(|e| e.pid));
        malformed += batch.ports.malformed.count();
        notes.extend(batch.notes);
        batch.more
    };
    // Until the writer hangs up: a poll after each burst.
    while written.recv().is_ok() {
        while poll(&mut follower) {}
        polled.send(()).expect("writer waits");
    }
    writer.join().expect("writer");
    while poll(&mut follower) {}
    assert_eq!(malformed, 0);
    assert_eq!(seen.len(), ROWS as usize);
    assert!(seen.iter().copied().eq(0..ROWS), "rows out of order or repeated");
    let file = |i: usize| -> PathBuf { dir.path().join(FILES[i]) };
    assert_eq!(
        notes,
        vec![
            FollowNote::Started(file(0)),
            FollowNote::Rotated { from: file(0), to: file(1) },
            FollowNote::Rotated { from: file(1), to: file(2) },
        ]
    );
}

fn socket(port: u16, state: TcpState, pid: u32) -> Observed {
    Observed {
        socket: Socket {
            protocol: Protocol::Tcp,
            local: SocketAddr::from(([10, 0, 0, 1], port)),
            remote: SocketAddr::from(([10, 0, 0, 2], 443)),
            state: Some(state),
            inode: u64::from(port),
            uid: 1000,
        },
        owner: Some(support::collector::process(pid)),
    }
}

/// Each row as (time, local port, module, and its block's PID, process, time and line).
type Row = (String, u16, String, Option<(u32, String, Option<String>, u32)>);

fn rows(d: &Dataset) -> Vec<Row> {
    let log = &d.set.ports;
    (0..log.events.len())
        .map(|i| {
            let e = &log.events[i];
            let block = d
                .block_of_row(i)
                .map(|(_, b)| (b.pid, b.process.clone(), b.recorded_at.map(|t| t.format("%F %T").to_string()), b.line));
            (e.time.format("%F %T").to_string(), e.local_port, log.module(e).to_string(), block)
        })
        .collect()
}

#[test]
fn the_collectors_files_grown_poll_by_poll_equal_the_folder_opened_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut source = FakeSource::default();
    for pid in 1..=3 {
        let list = vec![LoadedModule { path: format!("/usr/bin/worker-{pid}"), base: Some(0x5555_0000) }];
        source.modules.insert(pid, Modules::Listed(list));
    }
    let clock = ManualClock::new(DateTime::<FixedOffset>::parse_from_rfc3339("2026-03-01T10:00:00+01:00").expect("t"));
    let mut collector = Collector::new(source, clock.clone());
    let options = WriterOptions { format: Format::Text, max_bytes: 4000, header: host::log_header() };
    let mut writer = LogWriter::new(LogFolder::open(dir.path()).expect("folder"), options);
    let mut follower = Follower::new(dir.path(), Start::Oldest);
    let mut live = Dataset::from_set(vec![dir.path().to_path_buf()], LogSet::default());
    let mut rotations = 0;
    // Connections open SYN_SENT, become ESTABLISHED at the next poll and close the one after.
    for poll in 0u16..40 {
        let mut sockets = Vec::new();
        for (age, state) in [(0, TcpState::SynSent), (1, TcpState::Established)] {
            if let Some(born) = poll.checked_sub(age) {
                for k in 0..3 {
                    sockets.push(socket(20_000 + born * 3 + k, state.clone(), u32::from(k) + 1));
                }
            }
        }
        collector.source_mut().sockets = sockets;
        writer.write(&collector.poll().expect("poll"));
        let batch = follower.poll();
        rotations += batch.notes.iter().filter(|n| matches!(n, FollowNote::Rotated { .. })).count();
        live.append(batch).expect("append");
        clock.advance(TimeDelta::milliseconds(700));
    }
    assert!(writer.close().is_empty());
    // The newest PIDS entry is taken once its file has stood still for a while: date the
    // files' last change back rather than wait.
    for (path, kind, _) in prparser::logs::header::list_logs(dir.path()) {
        if kind == prparser::logs::header::LogKind::Pids {
            let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
            std::fs::File::options().append(true).open(&path).expect("open").set_modified(hour_ago).expect("mtime");
        }
    }
    live.append(follower.poll()).expect("append");
    let opened = Dataset::open(&[dir.path().to_path_buf()], &LoadProgress::default()).expect("open");
    let ports_files = opened.set.ports.sources.len();
    assert!(ports_files >= 5, "the size limit rotated only {ports_files} times");
    assert_eq!(rotations, ports_files - 1);
    assert_eq!(opened.set.ports.malformed.count(), 0);
    assert_eq!(live.set.ports.malformed.count(), 0);
    assert_eq!(live.set.warnings().count(), opened.set.warnings().count());
    let (live_rows, opened_rows) = (rows(&live), rows(&opened));
    let first_difference = live_rows.iter().zip(&opened_rows).position(|(a, b)| a != b);
    assert_eq!(
        first_difference.map(|i| (&live_rows[i], &opened_rows[i])),
        None,
        "first difference, at row {first_difference:?}"
    );
    assert_eq!(live_rows.len(), opened_rows.len());
    assert!(rows(&live).iter().all(|r| r.3.is_some()), "every row has its block");
    let blocks = |d: &Dataset| d.set.pids.iter().map(|p| p.blocks.len()).collect::<Vec<_>>();
    assert_eq!(blocks(&live), blocks(&opened));
}

/// How a UTF-16 log is written.
#[derive(Debug, Clone, Copy)]
enum Utf16 {
    LittleEndianBom,
    BigEndianBom,
    /// Little-endian without a byte-order mark (the loader tells it from the zero bytes).
    LittleEndianBare,
}

impl Utf16 {
    fn encode(self, text: &str) -> Vec<u8> {
        let units = text.encode_utf16();
        match self {
            Utf16::LittleEndianBom => [0xFF, 0xFE].into_iter().chain(units.flat_map(u16::to_le_bytes)).collect(),
            Utf16::BigEndianBom => [0xFE, 0xFF].into_iter().chain(units.flat_map(u16::to_be_bytes)).collect(),
            Utf16::LittleEndianBare => units.flat_map(u16::to_le_bytes).collect(),
        }
    }

    fn encoding(self) -> prparser::logs::text::Encoding {
        match self {
            Utf16::LittleEndianBom | Utf16::LittleEndianBare => prparser::logs::text::Encoding::Utf16Le,
            Utf16::BigEndianBom => prparser::logs::text::Encoding::Utf16Be,
        }
    }
}

/// A name outside ASCII and outside the Basic Multilingual Plane (a surrogate pair in UTF-16).
const WIDE: &str = "caf\u{e9}-\u{1F600}";

fn wide_row(n: u32) -> String {
    format!(
        "26/1/2,10:0:{n},TCP,{},10.0.0.1,443,192.0.2.{n},{},app-{WIDE}.exe,<host\\{WIDE}>\r\n",
        2000 + n,
        100 + n % 5
    )
}

fn wide_entry(pid: u32) -> String {
    format!(
        "{SEP}\r\nLog entry below recorded at: 26/1/2 10:0:0\r\n{SEP}\r\nProcess ID: {pid} (app-{WIDE}.exe)\r\nUser context: host\\{WIDE}\r\nProcess doesn't appear to be a service\r\n"
    )
}

const SEP: &str = "======================================================";

const WIDE_PORTS: &str = "PR-PORTS-26-01-02-10-0-0.log";
const WIDE_PIDS: &str = "PR-PIDS-26-01-02-10-0-0.log";

/// Dates a file's last change an hour back, so its last PIDS entry counts as complete.
fn quiet(path: &Path) {
    let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().append(true).open(path).expect("open").set_modified(hour_ago).expect("mtime");
}

/// Dates a file's last change an hour ahead: the writer is still at it, however slow the machine.
fn busy(path: &Path) {
    let hour_ahead = SystemTime::now() + std::time::Duration::from_secs(3600);
    std::fs::File::options().append(true).open(path).expect("open").set_modified(hour_ahead).expect("mtime");
}

#[test]
fn utf16_logs_written_a_few_bytes_at_a_time_equal_the_folder_opened_after() {
    for encoding in [Utf16::LittleEndianBom, Utf16::BigEndianBom, Utf16::LittleEndianBare] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ports_text = Vec::new();
        ports::write_header(&mut ports_text, "2.0", WIDE_PIDS).expect("header");
        let mut ports_text = String::from_utf8(ports_text).expect("ascii header");
        let mut pids_text = Vec::new();
        prparser::logs::pids::write_header(&mut pids_text, &Default::default()).expect("header");
        let mut pids_text = String::from_utf8(pids_text).expect("ascii header");
        for n in 0..40 {
            ports_text.push_str(&wide_row(n));
        }
        for pid in 100..105 {
            pids_text.push_str(&wide_entry(pid));
        }
        let files = [
            (dir.path().join(WIDE_PORTS), encoding.encode(&ports_text)),
            (dir.path().join(WIDE_PIDS), encoding.encode(&pids_text)),
        ];
        let mut follower = Follower::new(dir.path(), Start::Oldest);
        let mut live = Dataset::from_set(vec![dir.path().to_path_buf()], LogSet::default());
        let mut bursts = Bursts(0x2545_F491_4F6C_DD1D);
        let mut at = [0usize; 2];
        // Both files a few bytes at a time (odd counts too), a poll after each burst.
        while at.iter().zip(&files).any(|(a, (_, bytes))| *a < bytes.len()) {
            for (i, (path, bytes)) in files.iter().enumerate() {
                let to = (at[i] + bursts.next(13)).min(bytes.len());
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
                f.write_all(&bytes[at[i]..to]).expect("write");
                at[i] = to;
            }
            busy(&files[1].0);
            live.append(follower.poll()).expect("append");
        }
        quiet(&files[1].0);
        live.append(follower.poll()).expect("append");

        let opened = Dataset::open(&[dir.path().to_path_buf()], &LoadProgress::default()).expect("open");
        assert_eq!(opened.set.ports.sources[0].encoding, encoding.encoding());
        assert_eq!(live.set.ports.sources[0].encoding, encoding.encoding(), "{encoding:?}");
        assert_eq!(live.set.ports.malformed.count(), 0, "{encoding:?}: {:?}", live.set.ports.malformed);
        assert_eq!(live.set.warnings().count(), 0, "{encoding:?}");
        let live_rows = rows(&live);
        assert_eq!(live_rows, rows(&opened), "{encoding:?}");
        assert_eq!(live_rows.len(), 40);
        assert_eq!(
            live_rows[7],
            (
                "2026-01-02 10:00:07".to_string(),
                2007,
                format!("app-{WIDE}.exe"),
                // Two header lines, two entries of six, then its `Process ID` line.
                Some((102, format!("app-{WIDE}.exe"), Some("2026-01-02 10:00:00".to_string()), 18))
            ),
            "{encoding:?}"
        );
        assert_eq!(live.set.ports.user(&live.set.ports.events[7]), format!("host\\{WIDE}"));
        let blocks = |d: &Dataset| d.set.pids.iter().map(|p| p.blocks.len()).collect::<Vec<_>>();
        assert_eq!(blocks(&live), vec![5], "{encoding:?}");
    }
}

#[test]
fn a_pids_entry_written_a_line_at_a_time_is_one_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ports_path, pids_path) = (dir.path().join(WIDE_PORTS), dir.path().join(WIDE_PIDS));
    let mut header = Vec::new();
    ports::write_header(&mut header, "2.0", WIDE_PIDS).expect("header");
    std::fs::write(&ports_path, [header, wide_row(1).into_bytes()].concat()).expect("ports");
    let mut pids_file = std::fs::File::create(&pids_path).expect("pids");
    prparser::logs::pids::write_header(&mut pids_file, &Default::default()).expect("header");
    let mut follower = Follower::new(dir.path(), Start::Oldest);
    let mut live = Dataset::from_set(vec![dir.path().to_path_buf()], LogSet::default());
    let entry =
        format!("{}Loaded modules:\r\n/usr/bin/app (0x5555)\r\n/usr/lib/libc.so.6 (0x7f00)\r\n", wide_entry(101));
    // A slow writer: a line per poll, each ending on a line end.
    for line in entry.split_inclusive('\n') {
        pids_file.write_all(line.as_bytes()).expect("write");
        busy(&pids_path);
        let batch = follower.poll();
        assert!(batch.pids.iter().all(|p| p.blocks.is_empty()), "taken before it was complete: {:?}", batch.pids);
        live.append(batch).expect("append");
    }
    quiet(&pids_path);
    let added = live.append(follower.poll()).expect("append");
    assert_eq!(added.blocks, 1);
    assert_eq!(added.relinked, vec![0], "the row gets its block when the block arrives");
    assert_eq!(live.set.warnings().count(), 0);
    let (_, block) = live.block_of_row(0).expect("the row's block");
    assert_eq!((block.pid, block.process.as_str(), block.line), (101, "app-caf\u{e9}-\u{1F600}.exe", 6));
    let modules = match &block.modules {
        Modules::Listed(list) => list.iter().map(|m| (m.path.as_str(), m.base)).collect::<Vec<_>>(),
        other => panic!("modules not listed: {other:?}"),
    };
    assert_eq!(modules, vec![("/usr/bin/app", Some(0x5555)), ("/usr/lib/libc.so.6", Some(0x7f00))]);
}
