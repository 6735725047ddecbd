use std::collections::BTreeSet;

use super::*;
use crate::analysis::index::PidsIndex;
use crate::logs::ports::LoadProgress;
use crate::logs::process_block::clean;
use crate::logs::set::{self, LogSet};
use crate::model::{Address, Modules, PortField, Protocol, RowShape};

const PORTS: &str = "PR-PORTS-08-06-30-0-0-0.log";
const PIDS: &str = "PR-PIDS-08-06-30-0-0-0.log";
const INITIAL: &str = "PR-INITIAL-08-06-30-0-0-0.log";

fn generate(dir: &Path, rows: u64, seed: u64, shape: Shape) -> Summary {
    write_set(dir, &Options { rows, seed, shape }).expect("generate")
}

fn read(dir: &Path) -> LogSet {
    set::open(&[dir.to_path_buf()], &LoadProgress::default()).expect("open")
}

/// Every shape at once: the shares the tests below count one by one.
fn every_shape() -> Shape {
    Shape {
        quoted: 0.1,
        multiline: 0.02,
        ipv6: 0.3,
        non_ascii: 0.1,
        seven_field: 0.1,
        nine_field: 0.1,
        malformed: 0.05,
        ..Shape::default()
    }
}

/// A row as the reader gives it, without where it was read.
type RowValue = (String, Protocol, u16, Address, PortField, Address, Option<u32>, String, String, RowShape);

fn row_values(set: &LogSet) -> Vec<RowValue> {
    let log = &set.ports;
    log.events
        .iter()
        .map(|e| {
            (
                e.time.to_string(),
                e.protocol,
                e.local_port,
                log.local_ip(e),
                e.remote_port(),
                log.remote_ip(e),
                e.pid(),
                log.module(e).to_string(),
                log.user(e).to_string(),
                e.shape(),
            )
        })
        .collect()
}

/// Every row with a PID has a PIDS or INITIAL block of that PID with its name (a line break
/// written as a space, as those logs must) and user.
fn assert_consistent(set: &LogSet) {
    let index = PidsIndex::build(set);
    for e in &set.ports.events {
        let Some(pid) = e.pid() else { continue };
        let module = set.ports.module(e);
        let block = index.lookup_event(set, e).and_then(|id| index.block(set, id));
        let block = block.unwrap_or_else(|| panic!("no block for PID {pid} ({module:?}) at {}", e.time));
        assert_eq!(block.process, clean(module), "PID {pid}");
        assert_eq!(block.user.as_deref().unwrap_or(""), set.ports.user(e), "PID {pid}");
    }
}

#[test]
fn plain_sets_read_back_whole_and_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate(dir.path(), 5000, 7, Shape::default());
    assert_eq!((summary.rows, summary.ipv6, summary.malformed), (5000, 500, 0));
    let set = read(dir.path());
    assert_eq!(set.ports.events.len(), 5000);
    assert_eq!(set.ports.malformed.count(), 0, "{:?}", set.ports.malformed.first());
    assert_eq!(set.warnings().count(), 0, "{:?}", set.warnings().next());
    assert_eq!(set.initials.len(), 1);
    // The ordinary processes but the one started after the service.
    assert_eq!(set.initials[0].blocks.len(), 14);
    assert_consistent(&set);
}

#[test]
fn every_shape_reads_back_consistent_in_every_encoding_line_end_and_version() {
    let twin = tempfile::tempdir().expect("tempdir");
    generate(twin.path(), 2000, 11, every_shape());
    let expected = row_values(&read(twin.path()));
    assert_eq!(expected.len(), 2000);
    for encoding in [TextEncoding::Utf8, TextEncoding::Windows1252, TextEncoding::Utf16Le] {
        for line_ends in [LineEnds::Crlf, LineEnds::Lf] {
            for version in [HeaderVersion::V1_01, HeaderVersion::V1_0] {
                let what = format!("{encoding:?} {line_ends:?} {version:?}");
                let dir = tempfile::tempdir().expect("tempdir");
                generate(dir.path(), 2000, 11, Shape { encoding, line_ends, version, ..every_shape() });
                let set = read(dir.path());
                assert_eq!(set.ports.malformed.count(), 100, "{what}");
                assert_eq!(set.warnings().count(), 0, "{what}: {:?}", set.warnings().next());
                assert_eq!(row_values(&set), expected, "{what}");
                assert_consistent(&set);
                let version_read = set.ports.sources[0].version.as_ref().map(|v| v.0.as_str());
                assert_eq!(version_read, Some(version.text()), "{what}");
                assert_eq!(set.pids[0].header.computer_name.as_deref(), Some("PC12347"), "{what}");
                assert_eq!(set.initials[0].header.computer_name.as_deref(), Some("PC12347"), "{what}");
            }
        }
    }
}

#[test]
fn quoted_and_multiline_names_come_at_their_exact_shares() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), 1000, 3, Shape { quoted: 0.1, multiline: 0.03, ..Shape::default() });
    let raw = std::fs::read_to_string(dir.path().join(PORTS)).expect("read");
    assert_eq!(raw.matches(",\"").count(), 130, "quoted fields");
    assert_eq!(raw.matches("\"Acme \"\"Sync\"\", v2.exe\"").count() + raw.matches("\"evil, inc.exe\"").count(), 100);
    assert_eq!(raw.matches("\"Contoso\nUpdater.exe\"").count(), 30);
    let set = read(dir.path());
    assert_eq!((set.ports.events.len(), set.ports.malformed.count()), (1000, 0));
    let modules = |wanted: &[&str]| set.ports.events.iter().filter(|e| wanted.contains(&set.ports.module(e))).count();
    assert_eq!(modules(&["evil, inc.exe", "Acme \"Sync\", v2.exe"]), 100);
    assert_eq!(modules(&["Contoso\nUpdater.exe"]), 30);
}

#[test]
fn seven_and_nine_field_rows_come_at_their_exact_shares() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), 1000, 4, Shape { seven_field: 0.25, nine_field: 0.2, ..Shape::default() });
    let raw = std::fs::read_to_string(dir.path().join(PORTS)).expect("read");
    let rows_of = |fields: usize| raw.lines().skip(4).filter(|l| l.matches(',').count() + 1 == fields).count();
    assert_eq!((rows_of(7), rows_of(9), rows_of(10)), (250, 200, 550));
    let set = read(dir.path());
    assert_eq!((set.ports.events.len(), set.ports.malformed.count()), (1000, 0));
    let shaped = |shape| set.ports.events.iter().filter(|e| e.shape() == shape).count();
    assert_eq!((shaped(RowShape::W2k), shaped(RowShape::NoUser), shaped(RowShape::Full)), (250, 200, 550));
    assert!(
        set.ports
            .events
            .iter()
            .filter(|e| e.shape() == RowShape::NoUser)
            .all(|e| e.pid() == Some(4) || e.pid() == Some(0))
    );
    assert_eq!(set.ports.events.iter().filter(|e| e.pid().is_none()).count(), 250);
    assert_consistent(&set);
}

#[test]
fn a_windows_2000_set_has_no_process_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), 500, 5, Preset::Win2000.shape());
    let set = read(dir.path());
    assert_eq!(set.ports.events.len(), 500);
    assert!(set.ports.events.iter().all(|e| e.shape() == RowShape::W2k));
    assert_eq!(set.warnings().count(), 0, "{:?}", set.warnings().next());
    assert!(set.pids[0].blocks.is_empty() && !set.pids[0].mappings_available);
    let initial = &set.initials[0];
    assert!(initial.blocks.is_empty() && initial.mappings.is_empty() && !initial.mappings_available);
    assert_eq!(initial.header.operating_system.as_deref(), Some("windows 2000"));
}

#[test]
fn malformed_lines_come_at_their_exact_share_in_every_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), 1000, 6, Shape { malformed: 0.2, ..Shape::default() });
    let set = read(dir.path());
    assert_eq!((set.ports.events.len(), set.ports.malformed.count()), (1000, 200));
    let reasons: BTreeSet<&str> = set.ports.malformed.iter().map(|m| m.reason.as_str()).collect();
    assert_eq!(reasons.len(), malformed::KINDS as usize, "{reasons:?}");
    let raw = std::fs::read_to_string(dir.path().join(PORTS)).expect("read");
    assert_eq!(raw.lines().count(), 4 + 1200);
}

#[test]
fn ipv6_rows_come_at_their_exact_share() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), 1000, 8, Shape { ipv6: 0.3, ..Shape::default() });
    let set = read(dir.path());
    let v6 =
        set.ports.events.iter().filter(|e| matches!(set.ports.local_ip(e), Address::Ip(ip) if ip.is_ipv6())).count();
    assert_eq!(v6, 300);
    // A v6 row has no IPv4 address anywhere.
    let mixed = set.ports.events.iter().filter(|e| {
        let (l, r) = (set.ports.local_ip(e), set.ports.remote_ip(e));
        matches!((l, r), (Address::Ip(a), Address::Ip(b)) if a.is_ipv6() != b.is_ipv6())
    });
    assert_eq!(mixed.count(), 0);
}

#[test]
fn encodings_and_line_ends_are_transcodings_of_the_utf8_crlf_twin() {
    let shape = Shape { non_ascii: 0.1, ..every_shape() };
    let twin = tempfile::tempdir().expect("tempdir");
    generate(twin.path(), 1000, 9, shape.clone());
    for name in [PORTS, PIDS, INITIAL] {
        let text = std::fs::read_to_string(twin.path().join(name)).expect("the twin is UTF-8");
        let files = |encoding, line_ends| {
            let dir = tempfile::tempdir().expect("tempdir");
            generate(dir.path(), 1000, 9, Shape { encoding, line_ends, ..shape.clone() });
            std::fs::read(dir.path().join(name)).expect("read")
        };
        let lf = files(TextEncoding::Utf8, LineEnds::Lf);
        assert_eq!(lf, text.replace("\r\n", "\n").into_bytes(), "{name}");
        let cp1252 = files(TextEncoding::Windows1252, LineEnds::Crlf);
        assert!(std::str::from_utf8(&cp1252).is_err(), "{name}: non-ASCII names are not UTF-8");
        assert_eq!(encoding_rs::WINDOWS_1252.decode_without_bom_handling(&cp1252).0, text, "{name}");
        let utf16 = files(TextEncoding::Utf16Le, LineEnds::Crlf);
        let units: Vec<u16> = utf16.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
        assert_eq!(String::from_utf16(&units).expect("UTF-16"), format!("\u{FEFF}{text}"), "{name}");
    }
}

#[test]
fn non_ascii_names_come_at_their_exact_share_in_windows_1252() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), 1000, 10, Preset::Cp1252.shape());
    let raw = std::fs::read(dir.path().join(PORTS)).expect("read");
    // `ü` of Büro-Sync.exe and `é` of Café Olé.exe, in Windows-1252.
    let lines = raw.split(|&b| b == b'\n').filter(|l| l.contains(&0xFC) || l.contains(&0xE9)).count();
    assert_eq!(lines, 50);
    let set = read(dir.path());
    let log = &set.ports;
    let rows = log.events.iter().filter(|e| ["Büro-Sync.exe", "Café Olé.exe"].contains(&log.module(e))).count();
    assert_eq!(rows, 50);
    let users: BTreeSet<&str> = log.events.iter().map(|e| log.user(e)).filter(|u| !u.is_ascii()).collect();
    assert_eq!(users, BTreeSet::from(["CORP\\andré", "CORP\\jürgen"]));
    assert_consistent(&set);
    // Letters of Windows-1252 that Latin-1 lacks (0x80 and 0x96) read back as themselves.
    let block = set.pids[0].blocks.iter().find(|b| b.pid == 5160).expect("a Büro-Sync.exe block");
    let Modules::Listed(modules) = &block.modules else { panic!("modules of {block:?}") };
    assert!(modules.iter().any(|m| m.path == "C:\\Programme\\Büro–Sync\\€uro–Plug.dll"), "{modules:?}");
}

#[test]
fn the_mixed_preset_is_the_log_issue_11_measured() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), 1300, 1, Preset::Mixed.shape());
    let set = read(dir.path());
    let log = &set.ports;
    assert_eq!((log.events.len(), log.malformed.count()), (1300, 0));
    let quoted = log.events.iter().filter(|e| log.module(e).contains([',', '"'])).count();
    assert_eq!(quoted, 100, "one row in 13");
    let v6 = log.events.iter().filter(|e| matches!(log.local_ip(e), Address::Ip(ip) if ip.is_ipv6())).count();
    assert_eq!(v6, 130);
    let system_nine =
        log.events.iter().filter(|e| e.shape() == RowShape::NoUser && log.module(e).starts_with("System"));
    assert_eq!(system_nine.count(), 65);
    let listeners = log.events.iter().filter(|e| e.protocol == Protocol::Tcp && e.remote_port() == PortField::Empty);
    assert!(listeners.count() > 0, "listeners with an empty remote port");
    assert_consistent(&set);
}

#[test]
fn the_same_seed_writes_the_same_bytes() {
    let files = |seed| {
        let dir = tempfile::tempdir().expect("tempdir");
        generate(dir.path(), 300, seed, Shape { encoding: TextEncoding::Windows1252, ..every_shape() });
        [PORTS, PIDS, INITIAL].map(|name| std::fs::read(dir.path().join(name)).expect("read"))
    };
    let a = files(3);
    assert_eq!(a, files(3));
    assert_ne!(a[0], files(4)[0]);
}

#[test]
fn shapes_that_cannot_be_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("logs");
    let shape = Shape { quoted: 0.5, nine_field: 0.75, ..Shape::default() };
    let err = write_set(&out, &Options { rows: 10, seed: 1, shape }).expect_err("over one");
    assert!(matches!(err, GenerateError::Shape(ShapeError::OverOne(_))), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_fleet_is_one_folder_per_computer_each_with_its_own_initial_log() {
    use crate::analysis::aggregate::{self, Accumulate, Batch, Tables};
    use crate::analysis::stats::computers::ComputerCounts;
    let dir = tempfile::tempdir().expect("tempdir");
    let summaries = write_fleet(dir.path(), &Options { rows: 40, seed: 3, shape: Shape::default() }, 3).expect("fleet");
    let folders: Vec<PathBuf> = summaries.iter().map(|s| s.initial.parent().expect("folder").to_path_buf()).collect();
    assert_eq!(folders, ["PC12347", "PC12348", "PC12349"].map(|n| dir.path().join(n)));
    let set = read(dir.path());
    let tables = Tables::of(&set.ports);
    let computers = aggregate::over_rows(Batch::new(tables, &set.ports.events), ComputerCounts::default).finish(tables);
    let rows: Vec<(&str, u64)> = computers.iter().map(|c| (c.computer.as_str(), c.rows)).collect();
    assert_eq!(rows, [("PC12347", 40), ("PC12348", 40), ("PC12349", 40)]);
    // Each machine is made up anew: the sets differ.
    let ports = |k: usize| std::fs::read(&summaries[k].ports).expect("read");
    assert_ne!(ports(0), ports(1));
    // The first computer's set is the single set of the same seed.
    let single = tempfile::tempdir().expect("tempdir");
    generate(single.path(), 40, 3, Shape::default());
    assert_eq!(ports(0), std::fs::read(single.path().join(PORTS)).expect("read"));
}

#[test]
fn a_fleet_has_one_to_a_thousand_computers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options { rows: 1, seed: 1, shape: Shape::default() };
    for n in [0, MAX_COMPUTERS + 1] {
        let err = write_fleet(dir.path(), &options, n).expect_err("refused");
        assert_eq!(err.to_string(), format!("{n} computers asked for: from 1 to 1000"));
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0, "nothing written");
    write_fleet(dir.path(), &options, 1).expect("one");
    assert!(dir.path().join(PORTS).is_file(), "one computer's set is written into the folder itself");
}
