//! Files made to hurt a log reader: each loads what can be loaded and says exactly what could
//! not, without a panic, a hang or unbounded memory.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use prparser::analysis::criteria::{CompiledSet, Context, CriteriaSet, Criterion, Field, MatchKind, evaluate};
use prparser::analysis::dns::NoHostNames;
use prparser::analysis::index::PidsIndex;
use prparser::error::LogError;
use prparser::logs::pids::{read_pids_capped, read_pids_from};
use prparser::logs::ports::{LoadProgress, MAX_LINE_BYTES, PortsLog, read_from, read_into};
use prparser::logs::set::{self, LogSet};
use prparser::logs::text::Encoding;

const ROW: &[u8] =
    b"08/6/30,10:17:58,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>\r\n";

fn read_bytes(bytes: impl Read) -> PortsLog {
    let mut log = PortsLog::default();
    read_from(&mut log, Path::new("PR-PORTS-h.log"), bytes, None, &LoadProgress::default()).expect("in-memory read");
    log
}

fn open(paths: &[PathBuf]) -> LogSet {
    set::open(paths, &LoadProgress::default()).expect("opens")
}

fn issues(log: &PortsLog) -> Vec<(u32, String)> {
    log.malformed.iter().map(|m| (m.line, m.reason.clone())).collect()
}

#[test]
fn nul_bytes_make_malformed_lines_and_the_rest_loads() {
    let mut text = ROW.to_vec();
    text.extend_from_slice(b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\r\n");
    text.extend_from_slice(b"08/6/30,10:17:59,TCP,1447,192.168.1.103,80,65.55.200.252,19\x00,svchost.exe,<x>\r\n");
    text.extend_from_slice(ROW);
    let log = read_bytes(text.as_slice());
    assert_eq!(log.events.len(), 2);
    assert_eq!(
        issues(&log),
        vec![(2, "expected 7, 9 or 10 comma-separated fields, found 1".to_string()), (3, "unreadable PID".to_string())]
    );
}

#[test]
fn invalid_utf8_names_read_as_windows_1252() {
    let text = b"08/6/30,10:17:58,TCP,1447,192.168.1.103,80,65.55.200.252,1900,caf\xe9\xff.exe,<CORP\\J\xfcrgen>\r\n";
    let log = read_bytes(&text[..]);
    assert_eq!(log.malformed.count(), 0);
    let e = &log.events[0];
    assert_eq!((log.module(e), log.user(e)), ("caf\u{e9}\u{ff}.exe", "CORP\\J\u{fc}rgen"));
}

fn utf16le(units: &[u16]) -> Vec<u8> {
    let mut raw = vec![0xFF, 0xFE];
    raw.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    raw
}

#[test]
fn utf16_with_lone_surrogates_reads_them_as_replacement_characters() {
    let mut units: Vec<u16> =
        "08/6/30,10:17:58,TCP,1447,192.168.1.103,80,65.55.200.252,1900,a".encode_utf16().collect();
    units.push(0xD800); // a high surrogate with no low one
    units.extend("b.exe,<u>\r\n08/6/30,10:17:59,UDP,137,0.0.0.0,*,*,4,".encode_utf16());
    units.push(0xDC00); // a low surrogate alone
    units.extend("System,\r\n".encode_utf16());
    let mut log = PortsLog::default();
    let raw = utf16le(&units);
    read_from(&mut log, Path::new("PR-PORTS-u16.log"), raw.as_slice(), None, &LoadProgress::default()).expect("read");
    assert_eq!(log.sources[0].encoding, Encoding::Utf16Le);
    assert_eq!(log.malformed.count(), 0, "{:?}", log.malformed);
    let names: Vec<&str> = log.events.iter().map(|e| log.module(e)).collect();
    assert_eq!(names, ["a\u{FFFD}b.exe", "\u{FFFD}System"]);
}

#[test]
fn utf16_files_are_transcoded_as_they_stream_in() {
    // A UTF-16 log larger than any one read step, with a surrogate pair (U+1F600) split over
    // every possible boundary as the text shifts by a byte each time.
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!("08/6/30,10:17:{},TCP,{i},1.2.3.4,80,5.6.7.8,1900,\u{1F600}{i}.exe,<u>\r\n", i % 60));
    }
    let units: Vec<u16> = text.encode_utf16().collect();
    let log = read_bytes(utf16le(&units).as_slice());
    assert_eq!((log.events.len(), log.malformed.count()), (20_000, 0));
    assert_eq!(log.module(&log.events[19_999]), "\u{1F600}19999.exe");
    let pids = read_pids_from(Path::new("PR-PIDS-u16.log"), 0, utf16le(&units).as_slice()).expect("read");
    // Each row is a line outside any block: the warnings' line numbers survive transcoding.
    assert_eq!((pids.warnings[0].line, pids.warnings[9_999].line), (1, 10_000));
}

/// `prefix`, then `len` bytes of `fill` without a line end, then `suffix`: without holding it.
fn with_long_line(prefix: &[u8], fill: u8, len: u64, suffix: &[u8]) -> impl Read {
    io::Cursor::new(prefix.to_vec()).chain(io::repeat(fill).take(len)).chain(io::Cursor::new(suffix.to_vec()))
}

#[test]
fn a_100_megabyte_line_is_one_malformed_line_and_the_rows_after_it_load() {
    let mut suffix = b"\r\n".to_vec();
    for _ in 0..3 {
        suffix.extend_from_slice(ROW);
    }
    let log = read_bytes(with_long_line(ROW, b'7', 100 << 20, &suffix));
    assert_eq!(log.events.len(), 4);
    assert_eq!(log.malformed.count(), 1);
    assert_eq!(issues(&log), vec![(2, format!("line longer than {MAX_LINE_BYTES} bytes; skipped"))]);
    assert!(log.malformed[0].excerpt.len() < 1000, "the excerpt is bounded");
    assert_eq!(log.events.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 3, 4, 5]);
    assert!(log.events.capacity() <= 4096, "room for {} rows reserved", log.events.capacity());

    let pids_text = b"Port Reporter Version 1.01 Log File\r\nProcess detail log\r\n";
    let pids = read_pids_from(
        Path::new("PR-PIDS-long.log"),
        0,
        with_long_line(pids_text, b'x', 100 << 20, b"\r\nLocal computer name: HOST\r\n"),
    )
    .expect("read");
    let warnings: Vec<(u32, &str)> = pids.warnings.iter().map(|w| (w.line, w.reason.as_str())).collect();
    assert_eq!(warnings, [(3, "line longer than 1048576 bytes; skipped")]);
    assert_eq!(pids.header.computer_name.as_deref(), Some("HOST"));
}

#[test]
fn process_logs_past_the_size_cap_are_cut_with_a_warning() {
    let mut text = b"Port Reporter Version 1.01 Log File\r\nProcess detail log\r\n".to_vec();
    let line = b"================================\r\n";
    while text.len() < 3 << 20 {
        text.extend_from_slice(line);
    }
    text.extend_from_slice(b"Local computer name: LATE\r\n");
    let pids = read_pids_capped(Path::new("PR-PIDS-big.log"), 0, text.as_slice(), 1 << 20).expect("read");
    let warnings: Vec<(u32, &str)> = pids.warnings.iter().map(|w| (w.line, w.reason.as_str())).collect();
    assert_eq!(warnings, [(0, "file larger than 1 MiB: the rest is not read")]);
    assert_eq!(pids.header.computer_name, None, "the line past the cap is not read");
}

#[test]
fn a_truncated_last_line_is_reported_as_such() {
    let mut text = ROW.to_vec();
    text.extend_from_slice(b"08/6/30,10:17:58,TCP,1447,192.168");
    let log = read_bytes(text.as_slice());
    assert_eq!(log.events.len(), 1);
    assert_eq!(issues(&log), vec![(2, "truncated last line (the file ends mid-row)".to_string())]);
}

/// A reader that gives `good` bytes and then fails, as a file on a vanished disk does.
struct FailsAfter {
    data: io::Cursor<Vec<u8>>,
}

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.data.read(buf)? {
            0 => Err(io::Error::other("device went away")),
            n => Ok(n),
        }
    }
}

#[test]
fn a_read_error_while_loading_is_an_error_naming_the_file() {
    let mut text = Vec::new();
    for _ in 0..2000 {
        text.extend_from_slice(ROW);
    }
    let mut log = PortsLog::default();
    let reader = FailsAfter { data: io::Cursor::new(text) };
    let err = read_from(&mut log, Path::new("PR-PORTS-gone.log"), reader, None, &LoadProgress::default())
        .expect_err("the read fails");
    assert!(matches!(err, LogError::Io { .. }));
    assert_eq!(err.to_string(), "cannot read PR-PORTS-gone.log: device went away");
    let pids = read_pids_from(Path::new("PR-PIDS-gone.log"), 0, FailsAfter { data: io::Cursor::new(b"x\n".to_vec()) });
    assert_eq!(pids.expect_err("fails").to_string(), "cannot read PR-PIDS-gone.log: device went away");
}

#[test]
fn a_file_truncated_or_deleted_while_loading_loads_what_is_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("PR-PORTS-08-06-30-10-17-54.log");
    let mut text = Vec::new();
    for _ in 0..1000 {
        text.extend_from_slice(ROW);
    }
    std::fs::write(&path, &text).expect("write");
    let size = text.len() as u64;

    // Truncated after it was opened and its size taken, mid-row.
    let file = std::fs::File::open(&path).expect("open");
    let cut = ROW.len() as u64 * 400 + 20;
    std::fs::OpenOptions::new().write(true).open(&path).expect("open for writing").set_len(cut).expect("truncate");
    let mut log = PortsLog::default();
    read_from(&mut log, &path, file, Some(size), &LoadProgress::default()).expect("read");
    assert_eq!((log.events.len(), log.malformed.count()), (400, 1));
    assert_eq!(log.malformed[0].reason, "truncated last line (the file ends mid-row)");

    // Deleted after it was opened: the open file still reads whole.
    std::fs::write(&path, &text).expect("write");
    let file = std::fs::File::open(&path).expect("open");
    std::fs::remove_file(&path).expect("delete");
    let mut log = PortsLog::default();
    read_from(&mut log, &path, file, Some(size), &LoadProgress::default()).expect("read");
    assert_eq!((log.events.len(), log.malformed.count()), (1000, 0));

    // Deleted before it is opened: an error that names it.
    let mut log = PortsLog::default();
    let err = read_into(&mut log, &path, &LoadProgress::default()).expect_err("gone");
    assert!(err.to_string().starts_with(&format!("cannot read {}", path.display())), "{err}");
}

#[test]
fn a_folder_of_500_rotated_logs_loads_as_one_time_ordered_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Written newest first, so that neither file system order nor write order is time order.
    for i in (0..500u32).rev() {
        let (h, m) = (i / 60, i % 60);
        let name = format!("PR-PORTS-08-06-30-{h}-{m}-0.log");
        let mut text = format!(
            "Port Reporter Version 1.01 Log File - Port usage log\r\nCheck PR-PIDS-08-06-30-{h}-{m}-0.log for corresponding process data\r\n"
        );
        for s in 0..3 {
            text.push_str(&format!("08/6/30,{h}:{m}:{s},TCP,{i},10.0.0.1,80,10.0.0.2,4,proc{i}.exe,<u>\r\n"));
        }
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let set = open(&[dir.path().to_path_buf()]);
    assert_eq!(set.ports.sources.len(), 500);
    assert_eq!((set.ports.events.len(), set.ports.malformed.count()), (1500, 0));
    assert!(set.ports.events.windows(2).all(|w| w[0].time < w[1].time), "strictly time-ordered");
    let first = &set.ports.events[0];
    let last = &set.ports.events[1499];
    assert_eq!((set.ports.module(first), set.ports.module(last)), ("proc0.exe", "proc499.exe"));
}

/// A PORTS log in `logs/` whose header names `partner`, with a PIDS log one folder up.
fn ports_naming(partner: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    std::fs::write(
        dir.path().join("PR-PIDS-08-06-30-10-17-54.log"),
        "Port Reporter Version 1.01 Log File\r\nProcess detail log\r\n",
    )
    .expect("write");
    let ports = logs.join("PR-PORTS-08-06-30-10-17-54.log");
    let mut text = format!(
        "Port Reporter Version 1.01 Log File - Port usage log\r\nCheck {partner} for corresponding process data\r\nLog format:\r\n"
    )
    .into_bytes();
    text.extend_from_slice(ROW);
    std::fs::write(&ports, text).expect("write");
    (dir, ports)
}

#[test]
fn a_header_naming_a_partner_outside_the_folder_is_refused_with_a_warning() {
    for partner in
        ["../PR-PIDS-08-06-30-10-17-54.log", "/etc/PR-PIDS-08-06-30-10-17-54.log", "..\\PR-PIDS-08-06-30-10-17-54.log"]
    {
        let (dir, ports) = ports_naming(partner);
        let outside = dir.path().join("PR-PIDS-08-06-30-10-17-54.log");
        let plan = set::plan(std::slice::from_ref(&ports)).expect("plan");
        assert!(plan.pids.is_empty(), "{partner}: {:?}", plan.pids);
        let set = open(&[ports]);
        assert!(set.pids.is_empty(), "{partner}: nothing outside the folder is opened");
        assert!(!set.pids.iter().any(|p| *p.path == *outside));
        assert_eq!(
            (set.ports.events.len(), set.ports.malformed.count()),
            (1, 0),
            "{partner}: the header is no malformed line"
        );
        let warnings: Vec<String> = set.warnings().map(|w| w.reason.clone()).collect();
        assert_eq!(
            warnings[0],
            format!("header names partner {partner:?} outside the log's folder; ignored"),
            "{partner}"
        );
    }
}

fn crit(name: &str, field: Field, kind: MatchKind, pattern: &str) -> Criterion {
    Criterion {
        name: name.into(),
        field,
        kind,
        pattern: pattern.into(),
        enabled: true,
        message: String::new(),
        effect: Default::default(),
    }
}

#[test]
fn a_catastrophic_regex_is_rejected_with_a_message_naming_the_criterion() {
    let set = CriteriaSet {
        criteria: vec![
            crit("fine", Field::Module, MatchKind::Regex, "^svc"),
            crit("blow-up", Field::Module, MatchKind::Regex, "(a{1000}){1000}"),
            crit("nested", Field::User, MatchKind::Regex, "((((\\w{100}){100}){100}){100})"),
        ],
    };
    let compiled = CompiledSet::new(&set);
    assert_eq!(compiled.compiled.len(), 1);
    assert_eq!(compiled.broken.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1, 2]);
    assert!(compiled.error(1).expect("broken").to_string().contains("exceeds size limit"), "{:?}", compiled.error(1));

    let dir = tempfile::tempdir().expect("tempdir");
    let criteria = dir.path().join("criteria.json");
    set.save(&criteria).expect("save");
    let ports = dir.path().join("PR-PORTS-08-06-30-10-17-54.log");
    std::fs::write(&ports, ROW).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prparser"))
        .args(["report", "--criteria"])
        .arg(&criteria)
        .arg(&ports)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("criterion \"blow-up\" (number 2) cannot be used: invalid regular expression"), "{stderr}");
}

#[test]
fn a_hundred_thousand_criteria_evaluate_and_flag_exactly() {
    let mut text = Vec::new();
    for i in 0..200u32 {
        text.extend_from_slice(
            format!(
                "08/6/30,10:0:{},TCP,{},10.0.{}.1,{},10.1.0.{},4,proc{}.exe,<u{}>\r\n",
                i % 60,
                1000 + i,
                i % 7,
                2000 + i,
                i % 250,
                i % 20,
                i % 3
            )
            .as_bytes(),
        );
    }
    let mut set = LogSet::default();
    read_from(&mut set.ports, Path::new("PR-PORTS-100k.log"), text.as_slice(), None, &LoadProgress::default())
        .expect("read");
    // 100,000 criteria: modules, local ports and remote IPs that mostly match nothing, and
    // a few that match.
    let mut criteria = Vec::with_capacity(100_000);
    for i in 0..100_000u32 {
        criteria.push(match i % 4 {
            0 => crit(&format!("m{i}"), Field::Module, MatchKind::Exact, &format!("proc{}.exe", i / 4 + 19)),
            1 => crit(&format!("p{i}"), Field::LocalPort, MatchKind::Range, &format!("{}", 1199 + i / 4)),
            2 => crit(&format!("ip{i}"), Field::Ip, MatchKind::Exact, &format!("10.1.{}.{}", i / 1000, i % 250)),
            _ if i % 1000 == 3 => crit(&format!("w{i}"), Field::Module, MatchKind::Wildcard, &format!("x{i}*")),
            _ => crit(&format!("x{i}"), Field::User, MatchKind::Exact, &format!("x{i}")),
        });
    }
    let criteria = CriteriaSet { criteria };
    let index = PidsIndex::build(&set);
    let row_blocks = index.row_blocks(&set);
    let ctx = Context { set: &set, index: &index, row_blocks: &row_blocks, hosts: &NoHostNames };
    let eval = evaluate(&criteria, &ctx);
    // proc19.exe: rows 19, 39, ..., 199 (10 rows); local port 1199: row 199; remote IP
    // 10.1.0.x for criteria 2..998 step 4 matches rows whose i % 250 is x.
    let mut want: Vec<usize> = (0..200).filter(|i| i % 20 == 19).collect();
    let ip_hosts: Vec<u32> = (0..100_000u32).filter(|i| i % 4 == 2 && i / 1000 == 0).map(|i| i % 250).collect();
    want.extend((0..200usize).filter(|&i| ip_hosts.contains(&(i as u32 % 250))));
    want.sort_unstable();
    want.dedup();
    let flagged: Vec<usize> = eval.flagged.iter().enumerate().filter(|(_, f)| **f).map(|(i, _)| i).collect();
    assert_eq!(flagged, want);
    assert_eq!(eval.per_criterion[0], 10, "proc19.exe");
    assert_eq!(eval.per_criterion[1], 1, "local port 1199");
    assert_eq!(eval.per_criterion[4], 0, "proc20.exe is not in the log");
    assert_eq!(eval.per_criterion[2], 1, "10.1.0.2: row 2");
    assert_eq!(
        eval.per_criterion.iter().sum::<usize>(),
        10 + 1 + ip_hosts.iter().map(|h| (0..200u32).filter(|i| i % 250 == *h).count()).sum::<usize>()
    );
}

/// Inputs the fuzz targets (`fuzz/`) found a crash with, kept as they were found.
fn fuzz_findings(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new("tests/fuzz-findings").join(target);
    let mut found: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .map(|p| (p.clone(), std::fs::read(p).expect("read")))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn fuzz_findings_read_without_a_panic() {
    let ports = fuzz_findings("ports");
    assert_eq!(ports.len(), 1);
    for (path, bytes) in ports {
        let log = read_bytes(bytes.as_slice());
        assert_eq!(log.sources[0].rows as usize, log.events.len(), "{}", path.display());
    }
}

#[test]
fn a_number_of_many_digits_is_refused_not_overflowed() {
    // Found by the `ports` fuzz target: the fast path's digit loop overflowed on a long run of
    // digits (a panic in debug builds) before the length check refused it.
    let mut text = ROW.to_vec();
    text.extend_from_slice(b"05/7/6,14:2777777777777777777777777777777777777777777777777777777777772:50,TCP,445,192.168.0.20,1033,192.168.0.33\r\n");
    text.extend_from_slice(b"05/7/6,14:27:50,TCP,44577777777777777777777777,192.168.0.20,1033,192.168.0.33\r\n");
    text.extend_from_slice(ROW);
    let log = read_bytes(text.as_slice());
    assert_eq!(log.events.len(), 2);
    assert_eq!(
        issues(&log),
        vec![(2, "unreadable time (expected h:m:s)".to_string()), (3, "unreadable local port".to_string())]
    );
}
