//! Live capture in the app: following a folder another writer appends to (rows, flags and the
//! notice about new flagged rows arrive without reopening anything, also across a rotation),
//! and capturing this machine with the collector in-process, seen through a loopback socket.

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use prparser::analysis::criteria::{CriteriaSet, Criterion, Field, MatchKind};
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use prparser::logs::ports;

const PORTS_A: &str = "PR-PORTS-26-01-02-10-0-0.log";
const PORTS_B: &str = "PR-PORTS-26-01-02-10-5-0.log";

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

fn header() -> String {
    let mut out = Vec::new();
    ports::write_header(&mut out, "2.0", "PR-PIDS-26-01-02-10-0-0.log").expect("header");
    String::from_utf8(out).expect("ascii")
}

fn row(second: u32, module: &str) -> String {
    format!(
        "26/1/2,10:0:{second},TCP,{},10.0.0.1,443,192.0.2.7,{},{module},<host\\ann>\r\n",
        2000 + second,
        100 + second
    )
}

/// Steps the app until `done` holds (bounded: the live thread polls every 500 ms).
fn step_until(
    harness: &mut Harness<'static, PrParserApp>,
    what: &str,
    done: impl Fn(&Harness<'static, PrParserApp>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(harness) {
        assert!(Instant::now() < deadline, "not seen within 60 s: {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    support::app::settle(harness);
}

fn wait_for_label(harness: &mut Harness<'static, PrParserApp>, label: &str) {
    step_until(harness, label, |h| h.query_by_label(label).is_some());
}

fn evil_criteria() -> Settings {
    let criterion = Criterion {
        name: "Evil".into(),
        field: Field::Module,
        kind: MatchKind::Exact,
        pattern: "evil.exe".into(),
        enabled: true,
        message: "evil talks".into(),
        effect: Default::default(),
    };
    Settings { criteria: CriteriaSet { criteria: vec![criterion] }, ..Settings::default() }
}

#[test]
fn a_followed_folder_grows_in_the_grid_with_flags_and_a_notice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join(PORTS_A);
    append(&a, &format!("{}{}{}", header(), row(1, "good.exe"), row(2, "evil.exe")));
    let mut harness = support::app::app_with(evil_criteria(), vec![std::path::PathBuf::from("sample-logs")]);
    harness.get_by_label("Rows loaded: 319");

    harness.state_mut().follow_folder(dir.path().to_path_buf());
    wait_for_label(&mut harness, "Rows loaded: 2");
    harness.get_by_label(&format!("Live: following {}", dir.path().display()));
    harness.get_by_label("Rows flagged: 1");
    harness.get_by_label("1 new row is flagged");
    harness.get_by_label("Dismiss").click();
    harness.run_steps(2);
    assert!(harness.query_by_label("1 new row is flagged").is_none());

    // Rows appended, the last one in two pieces, then a rotation to a new file.
    append(&a, &format!("{}{}", row(3, "evil.exe"), &row(4, "good.exe")[..12]));
    wait_for_label(&mut harness, "Rows loaded: 3");
    append(&a, &row(4, "good.exe")[12..]);
    append(&dir.path().join(PORTS_B), &format!("{}{}{}", header(), row(5, "evil.exe"), row(6, "good.exe")));
    wait_for_label(&mut harness, "Rows loaded: 6");
    harness.get_by_label("Rows shown: 6");
    harness.get_by_label("Rows flagged: 3");
    harness.get_by_label("Malformed lines: 0");
    assert_eq!(harness.state().live_alert(), Some(2), "rows 3 and 5 since the notice was dismissed");
    harness.get_by_label("2 new rows are flagged");

    // Going to the first one selects it and shows its notification.
    harness.get_by_label("Go to first").click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("Flagged row");
    harness.get_by_label("evil talks");
    harness.get_by_label("OK").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Row time: 2026-01-02 10:00:03");

    harness.get_by_label("Live").click();
    harness.run_steps(2);
    harness.get_by_label("Stop live").click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    assert!(harness.query_by_label(&format!("Live: following {}", dir.path().display())).is_none());
    append(&a, &row(7, "evil.exe"));
    harness.run_steps(5);
    harness.get_by_label("Rows loaded: 6");
}

#[test]
fn capturing_this_machine_shows_a_loopback_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("capture");
    let mut harness = support::app::app_with(Settings::default(), vec![std::path::PathBuf::from("sample-logs")]);
    harness.state_mut().capture_into(folder.clone());
    harness.step();
    harness.get_by_label(&format!("Live: capturing into {}", folder.display()));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&folder).expect("capture folder").permissions());
    assert_eq!(mode & 0o777, 0o700);

    // Sockets opened before the collector's first poll would only be in its start snapshot
    // (PR-INITIAL): wait for the PORTS file that poll starts.
    let ports_file = |f: &Path| {
        std::fs::read_dir(f)
            .is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("PR-PORTS-"))))
    };
    step_until(&mut harness, "the capture's PORTS file", |_| ports_file(&folder));

    // One listener and one connection on 127.0.0.1, held until the capture has logged them.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    let me = std::process::id();
    let logged = |h: &Harness<'static, PrParserApp>| {
        h.state().dataset().is_some_and(|d| {
            let log = &d.set.ports;
            log.events.iter().filter(|e| e.pid() == Some(me)).map(|e| e.local_port).filter(|p| *p == port).count() >= 2
        })
    };
    step_until(&mut harness, "the listener and the accepted connection", logged);
    drop((client, server, listener));
    harness.state_mut().stop_live();
    harness.run_steps(2);
    assert!(harness.query_by_label(&format!("Live: capturing into {}", folder.display())).is_none());
}
