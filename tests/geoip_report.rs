//! `prparser report --geoip/--asn` (and `follow`) with databases in each layout prparser reads:
//! GeoLite2, DB-IP lite and IPinfo (the free country_asn file and IPinfo Lite), written by the
//! test (tests/support/mmdb.rs), over a log written by the test: exact counts.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use support::mmdb::{Writer, dbip_country, geolite2_asn, geolite2_country, ipinfo_country_asn, ipinfo_lite};

/// Twelve rows: 203.0.113.5 three times and 203.0.113.9 once (DE, AS64500), 198.51.100.1
/// twice (US, AS13335), 198.51.100.200 once (US, no AS), 2001:db8::1 twice (FR, AS64501),
/// 192.0.2.1 once (in no database), and a UDP `*` and a listener (no remote address).
const PORTS: &str = "\
Port Reporter Version 1.01 Log File - Port usage log
Check PR-PIDS-08-06-30-10-0-0.log for corresponding process data
Log format:
date,time,protocol,local port,local IP address,remote port,remote IP address,PID,module,user context
08/6/30,10:0:0,TCP,1447,192.168.1.103,443,203.0.113.5,100,a.exe,<CORP\\bob>
08/6/30,10:0:1,TCP,1448,192.168.1.103,443,203.0.113.5,100,a.exe,<CORP\\bob>
08/6/30,10:0:2,TCP,1449,192.168.1.103,443,203.0.113.5,100,a.exe,<CORP\\bob>
08/6/30,10:0:3,TCP,1450,192.168.1.103,443,203.0.113.9,100,a.exe,<CORP\\bob>
08/6/30,10:0:4,TCP,1451,192.168.1.103,443,198.51.100.1,200,b.exe,<CORP\\bob>
08/6/30,10:0:5,TCP,1452,192.168.1.103,443,198.51.100.1,200,b.exe,<CORP\\bob>
08/6/30,10:0:6,TCP,1453,192.168.1.103,443,198.51.100.200,200,b.exe,<CORP\\bob>
08/6/30,10:0:7,TCP,49201,2001:db8::10,443,2001:db8::1,300,c.exe,<CORP\\alice>
08/6/30,10:0:8,TCP,49202,2001:db8::10,443,2001:db8::1,300,c.exe,<CORP\\alice>
08/6/30,10:0:9,TCP,1454,192.168.1.103,443,192.0.2.1,300,c.exe,<CORP\\alice>
08/6/30,10:0:10,UDP,137,192.168.1.103,*,*,4,System,
08/6/30,10:0:11,TCP,3389,0.0.0.0,,0.0.0.0,1096,svchost.exe,<NT AUTHORITY\\SYSTEM>
";

/// An AS number and its organisation.
type As = (u32, &'static str);

/// The networks of the log's addresses: (network, country, AS).
const NETWORKS: [(&str, &str, Option<As>); 4] = [
    ("203.0.113.0/24", "DE", Some((64500, "Example Net"))),
    ("198.51.100.0/25", "US", Some((13335, "CLOUDFLARENET"))),
    ("198.51.100.128/25", "US", None),
    ("2001:db8::/32", "FR", Some((64501, "Doc Six"))),
];

fn log_folder(dir: &Path) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::write(logs.join("PR-PORTS-08-06-30-10-0-0.log"), PORTS).expect("write the log");
    logs
}

/// The databases of one layout, as `--geoip` and `--asn` arguments.
fn databases(dir: &Path, layout: &str) -> Vec<String> {
    let path = |name: &str| dir.join(name).to_str().expect("UTF-8").to_string();
    let pair = |country_type: &str, asn_type: &str, country: fn(&str) -> support::mmdb::Value| {
        let (mut c, mut a) = (Writer::new(country_type), Writer::new(asn_type));
        for (net, iso, asn) in NETWORKS {
            c.insert(net, country(iso));
            if let Some((n, name)) = asn {
                a.insert(net, geolite2_asn(n, name));
            }
        }
        c.write(Path::new(&path("country.mmdb")));
        a.write(Path::new(&path("asn.mmdb")));
        vec!["--geoip".into(), path("country.mmdb"), "--asn".into(), path("asn.mmdb")]
    };
    let flat = |kind: &str, record: fn(&str, u32, &str) -> support::mmdb::Value| {
        let mut w = Writer::new(kind);
        for (net, iso, asn) in NETWORKS {
            match asn {
                Some((n, name)) => w.insert(net, record(iso, n, name)),
                // A record without AS: only the country fields.
                None => w.insert(
                    net,
                    support::mmdb::map(vec![
                        ("country", support::mmdb::s(iso)),
                        ("country_code", support::mmdb::s(iso)),
                    ]),
                ),
            };
        }
        w.write(Path::new(&path("flat.mmdb")));
        vec!["--geoip".into(), path("flat.mmdb"), "--asn".into(), path("flat.mmdb")]
    };
    match layout {
        "geolite2" => pair("GeoLite2-Country", "GeoLite2-ASN", geolite2_country),
        "dbip" => pair("DBIP-Country-Lite", "DBIP-ASN-Lite", dbip_country),
        "ipinfo" => flat("ipinfo country_asn.mmdb", ipinfo_country_asn),
        "ipinfo-lite" => flat("ipinfo lite.mmdb", ipinfo_lite),
        other => panic!("no layout {other}"),
    }
}

fn prparser(args: &[String]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prparser")).args(args).output().expect("run prparser");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const CRITERIA: &str = r#"{"criteria": [
  {"name": "US or FR", "field": "country", "match": "one_of", "pattern": "US, FR"},
  {"name": "Example nets", "field": "asn", "match": "range", "pattern": "64500-64510"},
  {"name": "Doc Six is fine", "field": "asn", "match": "exact", "pattern": "AS64501", "effect": "allow"}
]}"#;

#[test]
fn every_layout_gives_the_same_exact_countries_asns_and_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = log_folder(dir.path());
    let criteria = dir.path().join("criteria.json");
    std::fs::write(&criteria, CRITERIA).expect("write criteria");
    for layout in ["geolite2", "dbip", "ipinfo", "ipinfo-lite"] {
        let mut all = args(&["report", "--format", "json", "--criteria", criteria.to_str().expect("UTF-8")]);
        all.extend(databases(dir.path(), layout));
        all.push(logs.to_str().expect("UTF-8").into());
        let (code, stdout, stderr) = prparser(&all);
        assert_eq!(code, 0, "{layout}: {stderr}");
        let report: Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(
            report["stats"]["remote_country_usage"],
            json!([
                {"country": "DE", "count": 4, "percent": 44.44},
                {"country": "US", "count": 3, "percent": 33.33},
                {"country": "FR", "count": 2, "percent": 22.22},
            ]),
            "{layout}"
        );
        assert_eq!(
            report["stats"]["remote_asn_usage"],
            json!([
                {"asn": 64500, "organization": "Example Net", "count": 4, "percent": 50.0},
                {"asn": 13335, "organization": "CLOUDFLARENET", "count": 2, "percent": 25.0},
                {"asn": 64501, "organization": "Doc Six", "count": 2, "percent": 25.0},
            ]),
            "{layout}"
        );
        // US rows (3) and FR rows (2) by country, DE (4) and FR by AS; Doc Six clears FR.
        assert_eq!(
            report["flagged"],
            json!({"rows": 7, "allowed": 2, "by_criterion": [
                {"name": "US or FR", "count": 3},
                {"name": "Example nets", "count": 4},
                {"name": "Doc Six is fine", "count": 2, "effect": "allow"},
            ]}),
            "{layout}"
        );
        // Beside remote IP usage in the printed object.
        let at = |k: &str| stdout.find(&format!("\"{k}\"")).expect(k);
        assert!(at("remote_ip_usage") < at("remote_country_usage"), "{layout}");
        assert!(
            at("remote_country_usage") < at("remote_asn_usage") && at("remote_asn_usage") < at("user_context_usage")
        );
        assert!(stderr.contains("prparser: countries from "), "{layout}: {stderr}");
    }
}

#[test]
fn without_databases_the_views_are_absent_and_geo_criteria_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = log_folder(dir.path());
    let (code, stdout, stderr) = prparser(&args(&["report", "--format", "json", logs.to_str().expect("UTF-8")]));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(report["stats"].get("remote_country_usage").is_none() && report["stats"].get("remote_asn_usage").is_none());

    let criteria = dir.path().join("criteria.json");
    std::fs::write(&criteria, CRITERIA).expect("write criteria");
    let mut only_country = args(&["report", "--criteria", criteria.to_str().expect("UTF-8")]);
    only_country.extend(databases(dir.path(), "geolite2").into_iter().take(2));
    only_country.push(logs.to_str().expect("UTF-8").into());
    let (code, stdout, stderr) = prparser(&only_country);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(
        stderr.lines().last(),
        Some("prparser: criterion \"Example nets\" (number 2) reads the AS (network): give a database with --asn FILE")
    );

    // Text for a person: the country view with --geoip alone, no ASN view.
    let mut text = args(&["report"]);
    text.extend(databases(dir.path(), "geolite2").into_iter().take(2));
    text.push(logs.to_str().expect("UTF-8").into());
    let (code, stdout, stderr) = prparser(&text);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\nRemote countries\n         4   44.44%  DE\n"), "{stdout}");
    assert!(!stdout.contains("Remote ASNs"), "{stdout}");
}

#[test]
fn a_bad_database_stops_the_report_with_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = log_folder(dir.path());
    databases(dir.path(), "geolite2");
    let whole = std::fs::read(dir.path().join("country.mmdb")).expect("read");
    let cut = dir.path().join("cut.mmdb");
    std::fs::write(&cut, &whole[..whole.len() / 2]).expect("write");
    let (code, _, stderr) =
        prparser(&args(&["report", "--geoip", cut.to_str().expect("UTF-8"), logs.to_str().expect("UTF-8")]));
    assert_eq!(code, 1);
    assert!(stderr.starts_with(&format!("prparser: {} is not a usable MaxMind database: ", cut.display())), "{stderr}");
    let asn = dir.path().join("asn.mmdb");
    let (code, _, stderr) =
        prparser(&args(&["report", "--geoip", asn.to_str().expect("UTF-8"), logs.to_str().expect("UTF-8")]));
    assert_eq!(code, 1);
    assert!(stderr.contains("holds no country codes"), "{stderr}");
}

#[test]
fn follow_flags_rows_by_country_with_its_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = log_folder(dir.path());
    let criteria = dir.path().join("criteria.json");
    std::fs::write(&criteria, r#"[{"name": "German peers", "field": "country", "pattern": "de"}]"#).expect("write");
    let mut all = args(&["follow", "--format", "jsonl", "--flagged-only", "--seconds", "1", "--interval-ms", "50"]);
    all.extend(["--criteria".into(), criteria.to_str().expect("UTF-8").into()]);
    all.extend(databases(dir.path(), "ipinfo"));
    all.push(logs.to_str().expect("UTF-8").into());
    let (code, stdout, stderr) = prparser(&all);
    assert_eq!(code, 0, "{stderr}");
    let remotes: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .map(|v| {
            assert_eq!(v["flagged_by"], json!(["German peers"]));
            v["remote_ip"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(remotes, ["203.0.113.5", "203.0.113.5", "203.0.113.5", "203.0.113.9"]);
}
