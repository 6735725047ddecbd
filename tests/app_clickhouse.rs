//! File › Open from ClickHouse... driven as a person would, against a real ClickHouse server
//! (Debian's 18.16, started on loopback): the sample logs and a case folder of three machines
//! are ingested, then loaded back through the window. The grid holds what a local load of the
//! same logs holds; computers, a time range and the row cap narrow it to exact numbers;
//! drill-down finds each row's own computer's block, and rows link to the blocks they link to
//! from the files (an INITIAL log dated by its header, not its name); a wrong password, a database without
//! tables and a refused URL give one line naming the server; the settings saved hold the
//! server, database and user but never the password.

mod support;

use std::path::{Path, PathBuf};

use eframe::Storage as _;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::{By, Queryable};
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use support::clickhouse::{PASSWORD, ingest, start};
use support::fleet::write_fleet;

fn settle(harness: &mut Harness<'static, PrParserApp>) {
    support::app::settle(harness);
}

fn click(harness: &mut Harness<'static, PrParserApp>, label: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(2);
    settle(harness);
}

/// Replaces the text of the field labelled `label` with `text`.
fn fill(harness: &mut Harness<'static, PrParserApp>, label: &str, text: &str) {
    harness.get_all_by_label(label).last().expect("a text field").click();
    harness.run_steps(2);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.key_press(Key::Backspace);
    harness.run_steps(1);
    if !text.is_empty() {
        harness.get_all_by_label(label).last().expect("a text field").type_text(text);
    }
    harness.run_steps(2);
}

fn open_window(harness: &mut Harness<'static, PrParserApp>) {
    click(harness, "File");
    click(harness, "Open from ClickHouse...");
    harness.get_by_label("Open from ClickHouse");
}

/// Ticks or unticks a computer of the fetched list.
fn toggle_computer(harness: &mut Harness<'static, PrParserApp>, name: &str) {
    harness.get(By::new().role(egui::Role::CheckBox).label(name)).click();
    harness.run_steps(2);
}

/// What eframe would write to the settings file: the app's settings and egui's memory.
#[derive(Default)]
struct SavedStorage(Vec<(String, String)>);

impl eframe::Storage for SavedStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn set_string(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }

    fn remove_string(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    fn flush(&mut self) {}
}

/// A set whose PR-INITIAL is named an hour before the `System Date` its header gives: its
/// block describes PID 50's row from 10:00 on, not the row at 09:30.
fn initial_named_early(dir: &Path) -> PathBuf {
    let case = dir.join("case");
    std::fs::create_dir_all(&case).expect("folder");
    std::fs::write(
        case.join("PR-INITIAL-08-06-30-9-0-0.log"),
        "Port Reporter version 1.01 Log File\r\nService initialization log\r\nSystem Date: Mon Jun 30 10:00:00 2008\r\n\
         Local computer name:\r\n PC9\r\nOperating System: windows xp\r\n\
         TCP/UDP Port to Process Mappings at service start-up\r\n1 mappings found\r\n\r\n\
         PID:Process      Port      Local IP      State      Remote IP:Port\r\n\
         50:early.exe     TCP 1050    0.0.0.0      LISTENING   0.0.0.0\r\n\
         =============================================================================\r\n\
         Process ID: 50 (early.exe)\r\nUser context: PC9\\ann\r\nProcess doesn't appear to be a service\r\n\
         Loaded modules:\r\nC:\\tools\\early.exe (0x00400000)\r\n",
    )
    .expect("write");
    std::fs::write(
        case.join("PR-PORTS-08-06-30-10-0-0.log"),
        "Port Reporter Version 1.01 Log File - Port usage log\r\nCheck PR-PIDS-08-06-30-10-0-0.log for corresponding \
         process data\r\n\r\ndate,time,protocol,local port,local IP address,remote port,remote IP address,PID,module,\
         user context\r\n08/6/30,9:30:0,TCP,1050,0.0.0.0,0,0.0.0.0,50,early.exe,<PC9\\ann>\r\n\
         08/6/30,10:5:0,TCP,1051,10.0.0.9,443,192.0.2.9,50,early.exe,<PC9\\ann>\r\n",
    )
    .expect("write");
    case
}

/// The rows of a dataset with whether each has a process block.
fn linked(data: &prparser::analysis::dataset::Dataset) -> Vec<(String, bool)> {
    (0..data.set.ports.events.len())
        .map(|i| (data.set.ports.events[i].time.to_string(), data.block_of_row(i).is_some()))
        .collect()
}

fn local_rows(paths: &[PathBuf]) -> usize {
    let progress = prparser::logs::ports::LoadProgress::default();
    prparser::analysis::dataset::Dataset::open(paths, &progress).expect("local load").set.ports.events.len()
}

#[test]
fn a_database_opens_as_the_same_dataset_and_narrows_by_computer_time_and_cap() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let fleet = write_fleet(&dir.path().join("fleet"));
    let paths = [sample.clone(), fleet.clone()];
    ingest(&server, "db1", &[], &[sample.as_path(), fleet.as_path()]);
    let local = local_rows(&paths);
    assert_eq!(local, 327, "319 sample rows and 8 of the fleet");

    // The app starts on a file (so a ClickHouse load is seen to replace it).
    let mut harness = support::app::app_with(Settings::default(), vec![sample.join("w2k-2005")]);
    harness.get_by_label_contains("Rows loaded: ");
    open_window(&mut harness);
    harness.get_all_by_value("http://127.0.0.1:8123").next().expect("filled in");
    harness.get_all_by_value("prparser").next().expect("filled in");
    harness.get_all_by_value("10,000,000").next().expect("filled in");
    fill(&mut harness, "URL", &server.url);
    fill(&mut harness, "Database", "db1");
    click(&mut harness, "Open");
    let source = format!("ClickHouse {}/db1", server.url);
    harness.get_by_label(&format!("Rows loaded: {local}"));
    harness.get_by_label("Rows shown: 327");
    harness.get_by_label(&source);
    harness.get_by_label("Malformed lines: 5");
    // One per INITIAL log read back (those with process blocks: two of the sample sets'):
    // their start-up tables are not loaded.
    harness.get_by_label("Warnings: 2");
    assert!(harness.query_by_label_contains("Row cap:").is_none(), "every matching row is loaded");
    assert!(harness.query_by_label("Open from ClickHouse").is_none(), "the window closed");

    // Drill-down: ALPHA's rows of PID 1234 find ALPHA's block, not BETA's (same PID and name).
    fill(&mut harness, "Filter", "192.0.2.10");
    settle(&mut harness);
    harness.get_by_label("Rows shown: 2");
    harness.get_all_by_label("1234").next().expect("a row of PID 1234").click();
    settle(&mut harness);
    harness.get_by_label("ALPHA/PR-PORTS-08-06-30-10-0-0.log line 5");
    harness.get_by_label("Block recorded at: 2008-06-30 10:00:00");
    harness.get_by_label("ALPHA/PR-PIDS-08-06-30-10-0-0.log line 6");
    harness.get_by_label_contains("C:\\alpha\\app.exe");
    assert!(harness.query_by_label_contains("C:\\beta\\app.exe").is_none());
    fill(&mut harness, "Filter", "");
    settle(&mut harness);

    // One computer, picked from the server's list.
    open_window(&mut harness);
    click(&mut harness, "Fetch computers");
    for name in ["ALPHA", "BETA", "FILESRV01", "PC12347", "gamma"] {
        harness.get(By::new().role(egui::Role::CheckBox).label(name));
    }
    toggle_computer(&mut harness, "ALPHA");
    harness.get_by_label("1 picked");
    click(&mut harness, "Open");
    harness.get_by_label("Rows loaded: 5");

    // And a time range: ALPHA's rows from 10:00:15 on 30 June, before 1 July; Enter in the
    // last field filled opens, as the button does.
    open_window(&mut harness);
    fill(&mut harness, "From", "2008-06-30T10:00:15");
    fill(&mut harness, "To", "08/7/1 0:0:0");
    harness.key_press(Key::Enter);
    harness.run_steps(2);
    settle(&mut harness);
    harness.get_by_label("Rows loaded: 2");

    // The cap: all computers, all times, at most 100 rows: the earliest 100, said so.
    open_window(&mut harness);
    toggle_computer(&mut harness, "ALPHA");
    harness.get_by_label("all");
    fill(&mut harness, "From", "");
    fill(&mut harness, "To", "");
    fill(&mut harness, "Row cap", "100");
    click(&mut harness, "Open");
    harness.get_by_label("Rows loaded: 100");
    harness
        .get_by_label("Row cap: the first 100 of 327 matching rows (narrow the computers or time range for the rest)");
    let progress = prparser::logs::ports::LoadProgress::default();
    let local = prparser::analysis::dataset::Dataset::open(&paths, &progress).expect("local load");
    let earliest: Vec<_> = local.set.ports.events.iter().take(100).map(|e| e.time).collect();
    let data = harness.state().dataset().expect("a dataset");
    let times: Vec<_> = data.set.ports.events.iter().map(|e| e.time).collect();
    assert_eq!(times, earliest, "the earliest 100 rows, in time order");
}

/// Rows link to the blocks they link to from the files, an INITIAL log dated by its header's
/// `System Date` (kept by ingest), not by its file name.
#[test]
fn rows_link_to_the_blocks_they_link_to_from_the_files() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let case = initial_named_early(dir.path());
    ingest(&server, "db3", &[], &[case.as_path()]);
    let progress = prparser::logs::ports::LoadProgress::default();
    let local = prparser::analysis::dataset::Dataset::open(std::slice::from_ref(&case), &progress).expect("local");
    let expected = vec![("2008-06-30 09:30:00".to_string(), false), ("2008-06-30 10:05:00".to_string(), true)];
    assert_eq!(linked(&local), expected);
    let connection = prparser::clickhouse::client::Connection::new(&server.url, "db3", None, None).expect("url");
    let client = prparser::clickhouse::client::Client::new(connection);
    let request = prparser::clickhouse::load::Request {
        computers: Vec::new(),
        range: prparser::analysis::time_range::TimeRange::ALL,
        cap: prparser::clickhouse::load::DEFAULT_CAP,
    };
    let loaded = prparser::clickhouse::load::load(&client, &request, &progress).expect("load");
    assert_eq!(linked(&loaded.dataset), expected);
    let (_, block) = loaded.dataset.block_of_row(1).expect("a block");
    assert_eq!(
        (block.pid, block.process.as_str(), block.image_path()),
        (50, "early.exe", Some("C:\\tools\\early.exe"))
    );
}

#[test]
fn wrong_credentials_and_databases_give_one_line_and_the_password_is_never_saved() {
    let server = start();
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    ingest(&server, "db2", &[], &[Path::new(&sample).join("xp-v1.01-2008").as_path()]);
    let mut harness = support::app::app_with(Settings::default(), vec![sample.join("w2k-2005")]);
    let file_rows = harness.state().dataset().expect("the file's rows").set.ports.events.len();

    open_window(&mut harness);
    fill(&mut harness, "URL", &format!("http://tester:{PASSWORD}@127.0.0.1:1"));
    click(&mut harness, "Open");
    harness.get_by_label(
        "URL: put no user or password in the URL (every user sees it in the process list); use the User and Password fields",
    );

    fill(&mut harness, "URL", &server.url);
    fill(&mut harness, "Database", "db2");
    fill(&mut harness, "User", "tester");
    fill(&mut harness, "Password", "not the password");
    click(&mut harness, "Open");
    let refused = format!("ClickHouse at {}: Wrong password for user tester", server.url);
    harness.get_by_label(&refused);
    harness.get_by_label(&format!("Could not open: {refused}"));
    assert_eq!(
        harness.state().dataset().expect("the file's rows").set.ports.events.len(),
        file_rows,
        "the data on screen stays"
    );

    fill(&mut harness, "Password", PASSWORD);
    fill(&mut harness, "Database", "nothing_here");
    click(&mut harness, "Open");
    let missing = format!("ClickHouse at {}: Database nothing_here doesn't exist", server.url);
    harness.get_by_label(&missing);
    harness.get_by_label(&format!("Could not open: {missing}"));

    server.query("CREATE DATABASE empty");
    fill(&mut harness, "Database", "empty");
    click(&mut harness, "Fetch computers");
    harness.get_by_label(&format!(
        "ClickHouse at {}: database empty holds no prparser tables (run prparser ingest first)",
        server.url
    ));

    // A row at the first second of 1970, which 18.16 writes as 0000-00-00 00:00:00.
    server.query(
        "INSERT INTO db2.ports VALUES ('PC12347', 0, 'TCP', '10.0.0.1', 1025, '192.0.2.1', '80', 7, 'x.exe', '', \
         'PR-PORTS-70-1-1-0-0-0.log', 5)",
    );
    fill(&mut harness, "Database", "db2");
    click(&mut harness, "Fetch computers");
    harness.get(By::new().role(egui::Role::CheckBox).label("PC12347"));
    click(&mut harness, "Open");
    let local = local_rows(&[sample.join("xp-v1.01-2008")]);
    assert_eq!(local, 183, "the 2008 set's rows");
    harness.get_by_label(&format!("Rows loaded: {}", local + 1));
    let data = harness.state().dataset().expect("a dataset");
    assert_eq!(data.set.ports.events[0].time.to_string(), "1970-01-01 00:00:00");

    let mut storage = SavedStorage::default();
    eframe::App::save(harness.state_mut(), &mut storage);
    let saved = storage.get_string(Settings::KEY).expect("settings saved");
    assert!(saved.contains(&server.url) && saved.contains("\"db2\"") && saved.contains("\"tester\""), "{saved}");
    assert!(!saved.contains(PASSWORD), "the password is not in the settings: {saved}");
    // eframe also writes egui's memory (text fields' state among it) beside the settings.
    let memory = harness.ctx.memory(|m| m.clone());
    eframe::set_value(&mut storage, "egui", &memory);
    let memory = storage.get_string("egui").expect("egui's memory saved");
    assert!(!memory.is_empty() && !memory.contains(PASSWORD), "nor in egui's remembered state");
    let reread: Settings = eframe::get_value(&storage, Settings::KEY).expect("settings read back");
    assert_eq!(
        (reread.clickhouse_url.as_str(), reread.clickhouse_database.as_str(), reread.clickhouse_user.as_str()),
        (server.url.as_str(), "db2", "tester")
    );
}
