//! `prparser ingest` and `prparser report --clickhouse` against a real ClickHouse server
//! (Debian's 18.16, started by the test on loopback): the server's report equals the local
//! report field by field; loading again adds nothing; a grown file adds its new rows only; a
//! load that fails mid-way is completed by a retry without duplicates; credentials and
//! unreachable servers give one line naming the server.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::changes::{write_first_day, write_second_day};
use support::clickhouse::{PASSWORD, TestClickHouse, assert_same_report, ingest, prparser, start};
use support::fleet::write_fleet;

fn count(server: &TestClickHouse, sql: &str) -> u64 {
    server.query(sql).trim().parse().expect("a number")
}

fn generate(out: &Path, rows: u64, seed: u64, shape: &[&str]) {
    let rows = rows.to_string();
    let seed = seed.to_string();
    let mut args = vec!["generate", "--rows", &rows, "--seed", &seed, "--out"];
    let out = out.display().to_string();
    args.push(&out);
    args.extend_from_slice(shape);
    let (code, _, stderr) = prparser(&args, &[]);
    assert_eq!(code, 0, "generate: {stderr}");
}

const MIXED_SHAPE: [&str; 14] = [
    "--malformed",
    "1%",
    "--ipv6",
    "10%",
    "--quoted",
    "5%",
    "--multiline",
    "1%",
    "--nine-field",
    "2%",
    "--non-ascii",
    "3%",
    "--seven-field",
    "1%",
];

fn criteria_file(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("listed.txt"), "# test list\n192.168.1.0/24\n207.46.4.113\n2001:db8::/32\n").expect("list");
    let path = dir.join("criteria.json");
    let text = r#"{"criteria":[
 {"name":"ie","field":"module","match":"exact","pattern":"IEXPLORE.EXE"},
 {"name":"lan","field":"remote_ip","match":"cidr","pattern":"192.168.0.0/16"},
 {"name":"web","field":"port","match":"range","pattern":"80,443,135-139"},
 {"name":"users","field":"user","match":"one_of","pattern":"corp\\bob, ALPHA\\ann"},
 {"name":"listed","field":"ip","match":"list","pattern":"listed.txt"},
 {"name":"any remote","field":"remote_ip","match":"exact","pattern":"*"},
 {"name":"remote 443","field":"remote_port","match":"exact","pattern":"443"},
 {"name":"beta","field":"computer","match":"exact","pattern":"beta"},
 {"name":"ok alice","field":"user","match":"exact","pattern":"CORP\\alice","effect":"allow"},
 {"name":"off","field":"module","match":"exact","pattern":"svchost.exe","enabled":false},
 {"name":"local","field":"local_ip","match":"cidr","pattern":"10.0.0.0/8"}
]}"#;
    std::fs::write(&path, text).expect("criteria");
    path
}

/// A generated set and a case folder of three computers, loaded in one command: every report
/// the server gives equals the local one (all rows, criteria of every kind the server counts,
/// one computer, a time range), and loading again adds nothing.
#[test]
fn the_servers_report_equals_the_local_report() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let generated = dir.path().join("generated");
    generate(&generated, 20_000, 7, &MIXED_SHAPE);
    let fleet = write_fleet(&dir.path().join("fleet"));
    let paths = [generated.as_path(), fleet.as_path()];
    let said = ingest(&server, "db1", &[], &paths);
    assert!(said.starts_with("20008 rows and "), "{said}");
    let whole = assert_same_report(&server, "db1", &paths, &[]);
    assert_eq!(whole["rows"], 20_008);
    assert!(whole["malformed"].as_u64().expect("malformed") > 100, "{}", whole["malformed"]);
    assert_eq!(whole["computers"].as_array().expect("computers").len(), 4);
    assert!(!whole["stats"]["svchost_enumeration"].as_array().expect("svchost").is_empty());
    assert!(!whole["stats"]["beaconing"].as_array().expect("beaconing").is_empty());

    let criteria = criteria_file(dir.path());
    let criteria = criteria.display().to_string();
    let flagged = assert_same_report(&server, "db1", &paths, &["--criteria", &criteria]);
    let counts: Vec<u64> = flagged["flagged"]["by_criterion"]
        .as_array()
        .expect("criteria")
        .iter()
        .map(|c| c["count"].as_u64().expect("count"))
        .collect();
    assert_eq!(counts.len(), 10, "the disabled criterion is left out");
    assert!(counts.iter().all(|&c| c > 0), "every criterion matches rows: {counts:?}");
    assert!(flagged["flagged"]["allowed"].as_u64().expect("allowed") > 0);

    assert_same_report(&server, "db1", &paths, &["--criteria", &criteria, "--computer", "alpha"]);
    // --skip asks the server for neither view; both reports leave their keys out alike.
    let skipped = assert_same_report(&server, "db1", &paths, &["--skip", "beaconing", "--skip", "changes"]);
    assert_eq!((skipped.get("changes"), skipped["stats"].get("beaconing")), (None, None));
    assert_eq!(skipped["stats"]["process_usage"], whole["stats"]["process_usage"]);
    assert_same_report(
        &server,
        "db1",
        &paths,
        &["--criteria", &criteria, "--from", "2008-06-30T01:00:00", "--to", "2008-06-30T03:30:00"],
    );

    let before = count(&server, "SELECT count() FROM db1.ports");
    let blocks = count(&server, "SELECT count() FROM db1.process_blocks");
    let said = ingest(&server, "db1", &[], &paths);
    assert!(said.starts_with("0 rows and 0 process blocks loaded from 0 files"), "{said}");
    assert_eq!(count(&server, "SELECT count() FROM db1.ports"), before);
    assert_eq!(count(&server, "SELECT count() FROM db1.process_blocks"), blocks);
}

/// `(process, port)` of each new listener of `changes`.
fn listeners(changes: &Value) -> Vec<(String, u64)> {
    changes["new_listeners"]
        .as_array()
        .expect("new listeners")
        .iter()
        .map(|l| (l["process"].as_str().expect("process").to_string(), l["port"].as_u64().expect("port")))
        .collect()
}

/// The Changes view from the server equals the local one: on the sample logs (the KB's XP
/// quirk rows among them) with PC1's case (a listener, a squatted port, quirk rows in one
/// second and across the midnight rotation, a name in capitals), and on a generated fleet of
/// three computers; for the default baseline, `--baseline-until` (with and without a range
/// that cuts the rotation) and one computer.
#[test]
fn the_servers_changes_equal_the_local_changes() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let pc1 = dir.path().join("pc1");
    write_first_day(&pc1);
    write_second_day(&pc1);
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let cases = [samples.as_path(), pc1.as_path()];
    ingest(&server, "cases", &[], &cases);
    let fleet = dir.path().join("fleet");
    let (code, _, stderr) = prparser(
        &["generate", "--rows", "4000", "--seed", "5", "--computers", "3", "--out", &fleet.display().to_string()],
        &[],
    );
    assert_eq!(code, 0, "generate: {stderr}");
    ingest(&server, "fleet", &[], &[&fleet]);

    let whole = assert_same_report(&server, "cases", &cases, &[]);
    let changes = &whole["changes"];
    assert_eq!(changes["baseline"]["files"].as_array().expect("files").len(), 4, "one PR-INITIAL per computer");
    let found = listeners(changes);
    assert!(found.contains(&("nc.exe".to_string(), 4444)) && found.contains(&("evil.exe".to_string(), 445)));
    // The quirk rows of the KB sample (iexplore.exe, 0.0.0.0:45070 beside its connection) and
    // of PC1's browser are no listeners.
    assert!(!found.contains(&("iexplore.exe".to_string(), 4873)), "{found:?}");
    assert!(!found.iter().any(|(p, port)| p == "iexplore.exe" && (*port == 1500 || *port == 1501)), "{found:?}");
    assert_same_report(&server, "cases", &cases, &["--baseline-until", "2008-06-30T23:00:00"]);
    assert_same_report(&server, "cases", &cases, &["--baseline-until", "2004-01-24T08:52:21"]);
    let pc1_only = assert_same_report(&server, "cases", &cases, &["--computer", "PC1"]);
    assert_eq!(listeners(&pc1_only["changes"]), [("nc.exe".to_string(), 4444), ("evil.exe".to_string(), 445)]);
    let owner = &pc1_only["changes"]["owner_changes"][0];
    assert_eq!(
        (owner["process"].as_str(), owner["baseline_processes"][0].as_str()),
        (Some("evil.exe"), Some("System"))
    );
    let cut = assert_same_report(
        &server,
        "cases",
        &cases,
        &[
            "--baseline-until",
            "2008-06-30T22:05:00",
            "--from",
            "2008-06-30T23:00:00",
            "--to",
            "2008-07-01T00:00:05",
            "--computer",
            "PC1",
        ],
    );
    assert_eq!(listeners(&cut["changes"]), [("nc.exe".to_string(), 4444)]);

    let generated = assert_same_report(&server, "fleet", &[&fleet], &[]);
    let counts: Vec<usize> = ["new_listeners", "owner_changes", "new_processes", "new_remote_endpoints"]
        .iter()
        .map(|l| generated["changes"][l].as_array().expect("list").len())
        .collect();
    // The generated PR-INITIAL names every process the rows use; over a thousand new
    // endpoints are cut to the first thousand.
    assert!(counts[0] > 0 && counts[2] == 0 && counts[3] == 1000, "{counts:?}");
    assert_same_report(&server, "fleet", &[&fleet], &["--baseline-until", "2008-06-30T12:00:00"]);
    assert_same_report(
        &server,
        "fleet",
        &[&fleet],
        &["--baseline-until", "2008-06-30T06:00:00", "--from", "2008-06-30T09:00:00", "--to", "2008-06-30T18:00:00"],
    );
}

/// A PORTS log loaded, then grown: the second load sends its new rows only.
#[test]
fn a_grown_file_adds_its_new_rows_only() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let full = dir.path().join("full");
    generate(&full, 3_000, 3, &["--malformed", "1%"]);
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("folder");
    let mut ports_name = None;
    for entry in std::fs::read_dir(&full).expect("list") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("PR-PORTS") {
            ports_name = Some(name);
        } else {
            std::fs::copy(entry.path(), logs.join(&name)).expect("copy");
        }
    }
    let ports_name = ports_name.expect("a PORTS log");
    let text = std::fs::read(full.join(&ports_name)).expect("read");
    let half = text.len() / 2;
    let cut = half + text[half..].iter().position(|&b| b == b'\n').expect("a line end") + 1;
    std::fs::write(logs.join(&ports_name), &text[..cut]).expect("first half");
    ingest(&server, "grown", &[], &[&logs]);
    let first = count(&server, "SELECT count() FROM grown.ports");
    assert!(first > 1000 && first < 2000, "{first}");
    std::fs::write(logs.join(&ports_name), &text).expect("grown");
    let said = ingest(&server, "grown", &[], &[&logs]);
    assert!(said.starts_with(&format!("{} rows", 3000 - first)), "{said}");
    assert_eq!(count(&server, "SELECT count() FROM grown.ports"), 3000);
    assert_eq!(count(&server, "SELECT uniqExact(file, line) FROM grown.ports"), 3000);
    assert_same_report(&server, "grown", &[&logs], &[]);

    // A file whose loaded part changed is left alone, and the run says so.
    let mut changed = text.clone();
    changed[cut / 2] ^= 1;
    std::fs::write(logs.join(&ports_name), &changed).expect("changed");
    let url = server.url.clone();
    let logs_arg = logs.display().to_string();
    let (code, _, stderr) = prparser(&["ingest", "--clickhouse", &url, "--database", "grown", &logs_arg], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("has changed since") && stderr.contains(&ports_name), "{stderr}");
    assert_eq!(count(&server, "SELECT count() FROM grown.ports"), 3000);
}

/// A PIDS log read while its last block was half-written (cut in the middle of a module's
/// line): the block goes in as it was; once the rest is written, loading again replaces it
/// with the whole block, once, and its port table likewise.
#[test]
fn a_pids_block_half_written_at_the_first_load_is_completed_by_the_next() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    generate(&logs, 500, 13, &[]);
    let pids_name = std::fs::read_dir(&logs)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("PR-PIDS"))
        .expect("a PIDS log");
    let pids = logs.join(&pids_name);
    let text = std::fs::read_to_string(&pids).expect("read");
    let blocks = text.matches("Log entry below recorded at:").count() as u64;
    let last = text.rfind("Log entry below recorded at:").expect("a block");
    let listed = last + text[last..].find("Loaded modules:\r\n").expect("a module list") + "Loaded modules:\r\n".len();
    let modules: Vec<String> = text[listed..]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.rsplit_once(" (0x").expect("a module line").0.to_string())
        .collect();
    assert!(modules.len() > 4, "{modules:?}");
    let third = listed + text[listed..].match_indices("\r\n").nth(2).expect("three modules").0 + 2;
    let cut = third + 12;
    std::fs::write(&pids, &text.as_bytes()[..cut]).expect("cut");

    ingest(&server, "half", &[], &[&logs]);
    let of_file = format!("file = '{pids_name}'");
    let kept = |sql: &str| server.query(&sql.replace("{file}", &of_file)).trim().to_string();
    assert_eq!(kept("SELECT count() FROM half.process_blocks WHERE {file}"), blocks.to_string());
    let first = kept("SELECT length(modules) FROM half.process_blocks WHERE {file} ORDER BY line DESC LIMIT 1");
    assert!(first.parse::<usize>().expect("a count") < modules.len(), "{first}");

    std::fs::write(&pids, &text).expect("the rest");
    let said = ingest(&server, "half", &[], &[&logs]);
    assert!(said.starts_with("0 rows and 1 process blocks loaded from 1 files"), "{said}");
    assert_eq!(
        kept("SELECT count(), uniqExact(line) FROM half.process_blocks WHERE {file}"),
        format!("{blocks}\t{blocks}")
    );
    assert_eq!(
        kept("SELECT count(), uniqExact(line) FROM half.port_tables WHERE {file}"),
        format!("{blocks}\t{blocks}")
    );
    let row: Value = serde_json::from_str(&kept(
        "SELECT modules FROM half.process_blocks WHERE {file} ORDER BY line DESC LIMIT 1 FORMAT JSONEachRow",
    ))
    .expect("a JSON row");
    let stored: Vec<String> = serde_json::from_value(row["modules"].clone()).expect("a list of modules");
    assert_eq!(stored, modules);
    assert_same_report(&server, "half", &[&logs], &[]);

    let said = ingest(&server, "half", &[], &[&logs]);
    assert!(said.starts_with("0 rows and 0 process blocks loaded from 0 files"), "{said}");
}

/// A database loaded before the port-tables table existed: the report refuses it in one line
/// naming the table, and the next ingest of the same logs reads the PIDS and INITIAL logs
/// again for their port tables only (no block or row twice), after which the Changes view
/// equals the local one.
#[test]
fn a_database_without_port_tables_gets_them_at_the_next_ingest() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let pc1 = dir.path().join("pc1");
    write_first_day(&pc1);
    write_second_day(&pc1);
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs").join("xp-v1.01-2008");
    let logs = [samples.as_path(), pc1.as_path()];
    ingest(&server, "old", &[], &logs);
    let blocks = count(&server, "SELECT count() FROM old.process_blocks");
    server.query("DROP TABLE old.port_tables");
    let url = server.url.clone();
    let (code, _, stderr) = prparser(&["report", "--clickhouse", &url, "--database", "old"], &[]);
    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("has no port_tables table"), "{stderr}");
    // Only the Changes view reads that table: a report without it is still given.
    let skipped = assert_same_report(&server, "old", &logs, &["--skip", "changes"]);
    assert_eq!(skipped.get("changes"), None);

    let said = ingest(&server, "old", &[], &logs);
    // The 2008 sample's PR-INITIAL and two PIDS logs, PC1's PR-INITIAL (its PIDS logs hold no
    // block, so nothing of them is behind).
    assert!(said.starts_with("0 rows and 0 process blocks loaded from 4 files"), "{said}");
    assert_eq!(count(&server, "SELECT count() FROM old.process_blocks"), blocks);
    assert_eq!(count(&server, "SELECT count() FROM old.port_tables WHERE kind = 'INITIAL'"), 2);
    assert_eq!(
        count(&server, "SELECT count() FROM old.port_tables WHERE kind = 'PIDS'"),
        count(&server, "SELECT count() FROM old.process_blocks WHERE kind = 'PIDS'")
    );
    assert_same_report(&server, "old", &logs, &[]);
    let said = ingest(&server, "old", &[], &logs);
    assert!(said.starts_with("0 rows and 0 process blocks loaded from 0 files"), "{said}");
}

/// Inserts fail once the server holds rows past line 1500 of the log (a materialized view
/// that throws): the load stops with one line naming the server; the same command, run again
/// once the server accepts rows, completes it without a duplicate.
#[test]
fn a_load_failed_mid_way_is_completed_by_a_retry_without_duplicates() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    generate(&logs, 5_000, 11, &["--malformed", "1%"]);
    for sql in prparser::clickhouse::schema::statements("retry") {
        server.query(&sql);
    }
    server.query(
        "CREATE MATERIALIZED VIEW retry.trap ENGINE = Memory AS SELECT throwIf(line > 1500) AS t FROM retry.ports",
    );
    let url = server.url.clone();
    let logs_arg = logs.display().to_string();
    let args = ["ingest", "--clickhouse", &url, "--database", "retry", "--batch-rows", "400", &logs_arg];
    let (code, _, stderr) = prparser(&args, &[]);
    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("ClickHouse at {url}")), "{stderr}");
    let landed = count(&server, "SELECT count() FROM retry.ports");
    assert!(landed > 0 && landed < 5000, "{landed}");
    assert_eq!(count(&server, "SELECT count() FROM retry.ingested_files WHERE kind = 'PORTS'"), 0);

    server.query("DROP TABLE retry.trap");
    let said = ingest(&server, "retry", &["--batch-rows", "400"], &[&logs]);
    assert!(said.starts_with(&format!("{} rows", 5000 - landed)), "{said}");
    assert_eq!(count(&server, "SELECT count() FROM retry.ports"), 5000);
    assert_eq!(count(&server, "SELECT uniqExact(file, line) FROM retry.ports"), 5000);
    assert_same_report(&server, "retry", &[&logs], &[]);
}

/// The password comes from CLICKHOUSE_PASSWORD, never the URL; a wrong one, a server that is
/// not there and a criterion the server cannot count each give one line naming the cause.
#[test]
fn credentials_unreachable_servers_and_refused_criteria() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    generate(&logs, 200, 5, &[]);
    let url = server.url.clone();
    let logs_arg = logs.display().to_string();
    let args = ["ingest", "--clickhouse", &url, "--user", "tester", &logs_arg];
    let (code, stdout, stderr) = prparser(&args, &[("CLICKHOUSE_PASSWORD", PASSWORD)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("200 rows"), "{stdout}");
    assert_eq!(count(&server, "SELECT count() FROM prparser.ports"), 200);

    let (code, _, stderr) = prparser(&args, &[("CLICKHOUSE_PASSWORD", "wrong")]);
    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&url) && stderr.contains("password"), "{stderr}");

    let in_url = url.replace("http://", "http://tester:pw@");
    let (code, _, stderr) = prparser(&["ingest", "--clickhouse", &in_url, &logs_arg], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no user or password in the URL"), "{stderr}");

    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
    );
    let (code, _, stderr) = prparser(&["report", "--clickhouse", &closed], &[]);
    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("ClickHouse at {closed} cannot be reached")), "{stderr}");

    let criteria = dir.path().join("regex.json");
    std::fs::write(
        &criteria,
        r#"{"criteria":[{"name":"temp dll","field":"module_path","match":"exact","pattern":"x.dll"}]}"#,
    )
    .expect("criteria");
    let criteria = criteria.display().to_string();
    let (code, _, stderr) = prparser(
        &["report", "--clickhouse", &url, "--user", "tester", "--criteria", &criteria],
        &[("CLICKHOUSE_PASSWORD", PASSWORD)],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("criterion \"temp dll\" (number 1): module path criteria"), "{stderr}");

    let (code, _, stderr) = prparser(&["report", "--clickhouse", &url, "--computer", "nobody"], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no computer \"nobody\""), "{stderr}");
}
