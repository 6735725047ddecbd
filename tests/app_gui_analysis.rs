//! The analysis half of the app, driven as a person would: statistics tabs, drilling from an
//! entry into the grid, the INITIAL log, DNS names from a loopback server, and exports.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{By, Queryable};
use prparser::analysis::dns::{HostNames, Lookup};
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;

fn app_with(settings: Settings) -> Harness<'static, PrParserApp> {
    support::app::app_with(settings, vec![PathBuf::from("sample-logs")])
}

fn click(harness: &mut Harness<'static, PrParserApp>, label: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(2);
    support::app::settle(harness);
}

/// A statistics table's entry (a link; the chart names the same keys beside its bars).
fn entry(label: &str) -> By<'_> {
    By::new().role(egui::Role::Link).label(label)
}

#[test]
fn every_statistics_tab_shows_its_known_counts() {
    let mut harness = app_with(Settings::default());
    click(&mut harness, "Statistics");
    // Local TCP ports (the first tab): port 10110, 14 of 286 TCP rows.
    harness.get(entry("10110"));
    harness.get_by_label("4.90%");
    harness.snapshot_options("stats_local_tcp_ports", &support::app::snapshot_options());
    click(&mut harness, "Processes");
    harness.get(entry("iexplore.exe"));
    harness.get_by_label("37.37%");
    harness.snapshot_options("stats_processes", &support::app::snapshot_options());
    click(&mut harness, "Remote IPs");
    harness.get(entry("127.0.0.1"));
    harness.get_by_label("13.33%");
    click(&mut harness, "User contexts");
    harness.get(entry("PC12347\\E0115893"));
    harness.get_by_label("34.72%");
    click(&mut harness, "Port usage by hour");
    harness.get_by_label("22:00");
    harness.snapshot_options("stats_hours", &support::app::snapshot_options());
    click(&mut harness, "svchost.exe");
    assert_eq!(harness.get_all_by_label("Dnscache").count(), 2, "two svchost.exe instances host only Dnscache");
    harness.get_by_label("(no services)");
    // Its columns say what they hold: a number of services and their names, no share of rows.
    for title in ["PID", "Services"] {
        harness.get(By::new().role(egui::Role::Button).label(title));
    }
    harness.get_by_label("Service names");
    assert!(harness.query_by_label("Percent").is_none());
    click(&mut harness, "Per-process usage");
    harness.get(entry("PC12347\\Administrator"));
    harness.get_by_label("55.56%");
    click(&mut harness, "Masquerading");
    harness.get_by_label("3120 (svchost.exe)");
    harness.get_by_label("C:\\Documents and Settings\\user\\Local Settings\\Temp\\svchost.exe");
}

#[test]
fn the_top_entries_chart_names_each_bar() {
    let mut harness = app_with(Settings::default());
    click(&mut harness, "Statistics");
    click(&mut harness, "Processes");
    harness.get_by_label_contains("by rows");
    // The busiest process is named beside its bar, above the table that names it again.
    let named: Vec<f32> = harness.get_all_by_label("iexplore.exe").map(|n| n.rect().center().y).collect();
    assert_eq!(named.len(), 2, "beside its bar and in the table");
    assert!(named[0] < named[1], "the chart comes first");
    click(&mut harness, "Local TCP ports");
    assert_eq!(harness.get_all_by_label("10110").count(), 2, "port 10110 beside its bar and in the table");
}

#[test]
fn clicking_an_entry_filters_the_grid_and_the_chip_clears_it() {
    let mut harness = app_with(Settings::default());
    click(&mut harness, "Statistics");
    click(&mut harness, "Processes");
    harness.get(entry("iexplore.exe")).click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("Grid filtered to process iexplore.exe");
    harness.get_by_label("Rows shown: 108");
    harness.snapshot_options("drill_down", &support::app::snapshot_options());
    click(&mut harness, "Clear");
    harness.get_by_label("Rows shown: 319");
    assert!(harness.query_by_label("Grid filtered to process iexplore.exe").is_none());
}

#[test]
fn the_initial_log_shows_a_process_and_its_services() {
    let mut harness = app_with(Settings::default());
    click(&mut harness, "INITIAL log");
    harness.get_by_label("MYCOMPUTER");
    harness.get_all_by_label("lsass.exe").next().expect("lsass.exe mapping").click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("Services (3)");
    harness.get_by_label("PolicyAgent - IPSEC Services");
}

#[test]
fn names_from_a_loopback_dns_server_fill_the_host_column() {
    let server = support::dns::start(&[("207.46.248.248", "www.msn.example")]);
    let settings = Settings { resolve_dns: true, dns_server: server.addr.to_string(), ..Settings::default() };
    let mut harness = app_with(settings);
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness.state().dns_cache().host_name("207.46.248.248".parse().expect("ip")).is_none() {
        assert!(Instant::now() < deadline, "no answer from the loopback DNS server");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.get_all_by_label("Filter").last().expect("filter").click();
    harness.run_steps(2);
    harness.get_all_by_label("Filter").last().expect("filter").type_text("WINWORD");
    harness.run_steps(2);
    support::app::settle(&mut harness);
    assert!(harness.get_all_by_label("www.msn.example").count() >= 1);
    assert!(server.queries() >= 1);
}

/// Steps the app until the cache's answer for `ip` is one `done` accepts (bounded).
fn wait_for_lookup(harness: &mut Harness<'static, PrParserApp>, ip: &str, done: impl Fn(&Lookup) -> bool) {
    let ip: std::net::IpAddr = ip.parse().expect("ip");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !harness.state().dns_cache().get(ip).is_some_and(|l| done(&l)) {
        assert!(Instant::now() < deadline, "no answer from the loopback DNS server for {ip}");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn replace_text(harness: &mut Harness<'static, PrParserApp>, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(2);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.run_steps(1);
    harness.get_by_label(label).type_text(text);
    harness.run_steps(2);
}

#[test]
fn a_new_dns_server_is_confirmed_and_asked_what_the_last_could_not_name() {
    let nameless = support::dns::start(&[]);
    let settings = Settings { resolve_dns: true, dns_server: nameless.addr.to_string(), ..Settings::default() };
    let mut harness = app_with(settings);
    wait_for_lookup(&mut harness, "207.46.248.248", |l| *l == Lookup::NoName);

    let knowing = support::dns::start(&[("207.46.248.248", "www.msn.example")]);
    click(&mut harness, "View");
    click(&mut harness, "DNS server...");
    // An address that cannot be read is refused in the window, which stays open.
    replace_text(&mut harness, "Server", "dns.example");
    click(&mut harness, "Apply");
    harness.get_by_label_contains("\"dns.example\" is not an address");
    replace_text(&mut harness, "Server", &knowing.addr.to_string());
    click(&mut harness, "Apply");
    assert!(harness.query_by_label("Apply").is_none(), "the window closed");
    harness.get_by_label_contains(&format!("DNS server set to {}; ", knowing.addr));
    harness.get_by_label_contains("will be asked again");

    wait_for_lookup(&mut harness, "207.46.248.248", |l| *l == Lookup::Name("www.msn.example".into()));
    harness.get_all_by_label("Filter").last().expect("filter").click();
    harness.run_steps(2);
    harness.get_all_by_label("Filter").last().expect("filter").type_text("WINWORD");
    harness.run_steps(2);
    support::app::settle(&mut harness);
    assert!(harness.get_all_by_label("www.msn.example").count() >= 1);
}

#[test]
fn dns_is_off_by_default_and_sends_nothing() {
    let harness = app_with(Settings::default());
    assert!(harness.state().dns_cache().is_empty());
}

#[test]
fn the_view_exports_to_csv_and_json_and_reads_back() {
    let mut harness = app_with(Settings::default());
    harness.get_all_by_label("Filter").last().expect("filter").click();
    harness.run_steps(2);
    harness.get_all_by_label("Filter").last().expect("filter").type_text("Acme");
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("Rows shown: 14");
    let dir = tempfile::tempdir().expect("tempdir");
    let (csv_path, json_path) = (dir.path().join("view.csv"), dir.path().join("view.json"));
    harness.state_mut().export_view(csv_path.clone(), false);
    harness.state_mut().export_view(json_path.clone(), true);
    support::app::settle(&mut harness);
    harness.get_by_label_contains("Exported 14 rows to");
    let mut reader = csv::Reader::from_path(&csv_path).expect("csv");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    assert_eq!(rows.len(), 14);
    assert!(rows.iter().all(|r| (&r[1], &r[7]) == ("PC12347", "Acme Agent, v2.exe")), "{rows:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).expect("json")).expect("valid json");
    assert_eq!(json.as_array().map(Vec::len), Some(14));
    assert_eq!(json[0]["module"], "Acme Agent, v2.exe");
}

/// The Changes tab on PC1's logs (support/changes.rs): nc.exe is a new listener, a click on
/// it filters the grid to its one listening row; with the rows before evil.exe's selected row
/// as the baseline, only evil.exe's taking of TCP 445 is new.
#[test]
fn the_changes_tab_lists_what_is_new_and_a_click_filters_the_grid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pc1 = dir.path().join("pc1");
    support::changes::write_first_day(&pc1);
    support::changes::write_second_day(&pc1);
    let mut harness = support::app::app_with(Settings::default(), vec![pc1]);
    harness.get_by_label("Rows shown: 8");
    click(&mut harness, "Statistics");
    click(&mut harness, "Changes");
    harness.get_by_label_contains("Baseline: each computer's earliest PR-INITIAL");
    harness.get_by_label("New listeners (2)");
    harness.get_by_label("Port owner changes (1)");
    harness.get_by_label("New processes (3)");
    harness.get_by_label("New remote endpoints (4)");
    harness.snapshot_options("changes_tab", &support::app::snapshot_options());
    harness.get(entry("evil.exe"));
    harness.get(entry("nc.exe")).click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("Grid filtered to nc.exe listening on TCP 4444 on PC1");
    harness.get_by_label("Rows shown: 1");

    click(&mut harness, "Clear");
    harness.get_by_label("Rows shown: 8");
    harness.get_all_by_label("evil.exe").next().expect("evil.exe's row").click();
    support::app::settle(&mut harness);
    click(&mut harness, "Statistics");
    click(&mut harness, "Set baseline...");
    click(&mut harness, "Rows before the selected row");
    harness.get_by_label("Baseline: the rows before 2008-07-01 00:10:00");
    harness.get_by_label("New listeners (1)");
    harness.get_by_label("Port owner changes (1)");
    harness.get_by_label("New processes (1)");
    click(&mut harness, "Port owner changes (1)");
    harness.get_by_label("System");
    harness.get(entry("evil.exe")).click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("Grid filtered to evil.exe listening on TCP 445 on PC1");
    harness.get_by_label("Rows shown: 1");
}
