use super::*;
use crate::analysis::dns::{DnsCache, Lookup};
use crate::analysis::index::PidsIndex;
use crate::analysis::test_support::set_from;

const PORTS: &str = "\
08/6/30,10:0:0,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,10:0:1,TCP,1448,192.168.1.103,6667,203.0.113.66,6660,svchost.exe,<CORP\\bob>
08/6/30,10:0:2,UDP,137,192.168.1.103,*,*,4,System,
08/6/30,10:0:3,TCP,3389,0.0.0.0,,0.0.0.0,1096,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,10:0:4,TCP,49201,2001:db8::10,443,2001:db8::1,3312,iexplore.exe,<CORP\\alice>
08/6/30,10:0:5,TCP,1449,192.168.1.103,443,10.1.2.3,3312,IEXPLORE.EXE,<CORP\\alice>
";

const PIDS: &str = "\
Port Reporter Version 1.01 Log File
Process detail log
System Date: Mon Jun 30 09:00:00 2008
======================================================
Log entry below recorded at: 08/6/30 10:0:1
======================================================
Process ID: 6660 (svchost.exe)
User context: CORP\\bob
Process doesn't appear to be a service
Loaded modules:
C:\\Temp\\svchost.exe (0x00400000)
C:\\Temp\\ircbot.dll (0x10000000)
";

fn crit(name: &str, field: Field, kind: MatchKind, pattern: &str) -> Criterion {
    Criterion { name: name.into(), field, kind, pattern: pattern.into(), enabled: true, message: format!("{name}!") }
}

fn run(criteria: Vec<Criterion>, hosts: &dyn HostNames) -> Evaluation {
    let set = set_from(PORTS, Some(PIDS));
    let index = PidsIndex::build(&set);
    let row_blocks = index.row_blocks(&set);
    let ctx = Context { set: &set, index: &index, row_blocks: &row_blocks, hosts };
    let eval = evaluate(&CriteriaSet { criteria: criteria.clone() }, &ctx);
    // The per-row check used by the notification agrees with the bulk evaluation.
    for row in 0..set.ports.events.len() {
        let one = matching_criteria(&CriteriaSet { criteria: criteria.clone() }, &ctx, row);
        assert_eq!(!one.is_empty(), eval.flagged[row], "row {row}");
    }
    // So does the evaluation of rows a followed log adds, in two polls.
    let rows = set.ports.events.len();
    let mut polled = evaluate_rows(std::sync::Arc::clone(&eval.compiled), &ctx, 0..2);
    polled.add(evaluate_rows(std::sync::Arc::clone(&eval.compiled), &ctx, 2..rows));
    assert_eq!((&polled.flagged, polled.flagged_rows), (&eval.flagged, eval.flagged_rows));
    assert_eq!(polled.per_criterion, eval.per_criterion);
    eval
}

fn flagged_rows(e: &Evaluation) -> Vec<usize> {
    e.flagged.iter().enumerate().filter(|(_, f)| **f).map(|(i, _)| i).collect()
}

#[test]
fn every_field_and_kind_flags_the_right_rows() {
    use crate::analysis::dns::NoHostNames;
    let cases: Vec<(Criterion, Vec<usize>)> = vec![
        (crit("module exact, any case", Field::Module, MatchKind::Exact, "iexplore.exe"), vec![4, 5]),
        (crit("module wildcard", Field::Module, MatchKind::Wildcard, "svc*.EXE"), vec![0, 1, 3]),
        (crit("module regex", Field::Module, MatchKind::Regex, "^System$"), vec![2]),
        (crit("user", Field::User, MatchKind::Exact, "corp\\bob"), vec![1]),
        (crit("user wildcard", Field::User, MatchKind::Wildcard, "CORP\\*"), vec![1, 4, 5]),
        (crit("remote ip exact", Field::RemoteIp, MatchKind::Exact, "203.0.113.66"), vec![1]),
        (crit("remote cidr v4", Field::RemoteIp, MatchKind::Cidr, "10.0.0.0/8"), vec![5]),
        (crit("remote cidr v6", Field::RemoteIp, MatchKind::Cidr, "2001:db8::/32"), vec![4]),
        (crit("any ip", Field::Ip, MatchKind::Cidr, "2001:db8::10/128"), vec![4]),
        (crit("local ip wildcard", Field::LocalIp, MatchKind::Wildcard, "0.0.*"), vec![3]),
        (crit("remote port", Field::RemotePort, MatchKind::Exact, "6667"), vec![1]),
        (crit("local port range", Field::LocalPort, MatchKind::Range, "135-139, 3389"), vec![2, 3]),
        (crit("any port", Field::Port, MatchKind::Range, "443"), vec![4, 5]),
        (crit("module path", Field::ModulePath, MatchKind::Wildcard, "*\\ircbot.dll"), vec![1]),
    ];
    for (c, want) in cases {
        let name = c.name.clone();
        let eval = run(vec![c], &NoHostNames);
        assert_eq!(flagged_rows(&eval), want, "{name}");
        assert_eq!(eval.flagged_rows, want.len(), "{name}");
        assert_eq!(eval.per_criterion, vec![want.len()], "{name}");
    }
}

#[test]
fn counts_per_criterion_and_union_of_flags() {
    let eval = run(
        vec![
            crit("a", Field::Module, MatchKind::Exact, "svchost.exe"),
            crit("b", Field::RemotePort, MatchKind::Range, "6667,80"),
            Criterion { enabled: false, ..crit("off", Field::Module, MatchKind::Exact, "System") },
            crit("broken", Field::Module, MatchKind::Regex, "("),
        ],
        &crate::analysis::dns::NoHostNames,
    );
    assert_eq!(eval.per_criterion, vec![3, 2, 0, 0]);
    assert_eq!(flagged_rows(&eval), vec![0, 1, 3]);
}

#[test]
fn host_names_come_from_the_dns_cache() {
    let cache = DnsCache::default();
    cache.insert("203.0.113.66".parse().expect("ip"), Lookup::Name("irc.evil.example".into()));
    cache.insert("65.55.200.252".parse().expect("ip"), Lookup::NoName);
    let eval = run(vec![crit("irc", Field::HostName, MatchKind::Wildcard, "irc.*")], &cache);
    assert_eq!(flagged_rows(&eval), vec![1]);
}

#[test]
fn bad_patterns_are_errors_not_panics() {
    let err = |c: Criterion| c.compile().expect_err("should not compile").to_string();
    assert!(err(crit("x", Field::Module, MatchKind::Regex, "(")).starts_with("invalid regular expression"));
    assert!(err(crit("x", Field::RemoteIp, MatchKind::Cidr, "10.0.0.0/33")).starts_with("invalid CIDR"));
    assert!(err(crit("x", Field::LocalPort, MatchKind::Range, "90-80")).starts_with("invalid port range"));
    assert!(err(crit("x", Field::LocalPort, MatchKind::Range, "70000")).starts_with("invalid port range"));
    assert_eq!(
        err(crit("x", Field::Module, MatchKind::Cidr, "10.0.0.0/8")),
        "a CIDR pattern does not apply to the module field"
    );
    assert_eq!(err(crit("x", Field::Module, MatchKind::Exact, "  ")), "empty pattern");
    let huge = crit("x", Field::Module, MatchKind::Regex, "(a{1000}){1000}");
    assert!(err(huge).starts_with("invalid regular expression"));
}

#[test]
fn criteria_files_round_trip_as_json() {
    let set = CriteriaSet {
        criteria: vec![
            crit("IRC", Field::RemotePort, MatchKind::Range, "6660-6669"),
            Criterion { enabled: false, ..crit("Temp binaries", Field::ModulePath, MatchKind::Wildcard, "*\\Temp\\*") },
        ],
    };
    let json = set.to_json();
    assert!(json.contains("\"field\": \"remote_port\""), "{json}");
    assert!(json.contains("\"match\": \"range\""), "{json}");
    assert_eq!(CriteriaSet::from_json(&json).expect("parse"), set);
    let bare = r#"[{"name":"n","field":"module","pattern":"evil.exe"}]"#;
    let parsed = CriteriaSet::from_json(bare).expect("bare list");
    assert_eq!(parsed.criteria[0].kind, MatchKind::Exact);
    assert!(parsed.criteria[0].enabled);
    assert!(CriteriaSet::from_json("{\"criteria\": 5}").is_err());

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.json");
    set.save(&path).expect("save");
    assert_eq!(CriteriaSet::load(&path).expect("load"), set);
}

#[test]
fn initial_mappings_are_matched_with_their_process_block() {
    use crate::model::{Address, PortField, PortMapping, Protocol};
    let set = set_from(PORTS, Some(PIDS));
    let block = &set.pids[0].blocks[0];
    let mapping = PortMapping {
        pid: 6660,
        process: Some("svchost.exe".into()),
        protocol: Protocol::Tcp,
        local_port: 1448,
        local_ip: Address::Ip("192.168.1.103".parse().expect("ip")),
        state: None,
        remote_ip: Address::Ip("203.0.113.66".parse().expect("ip")),
        remote_port: PortField::Num(6667),
    };
    let criteria = CriteriaSet {
        criteria: vec![
            crit("irc", Field::RemotePort, MatchKind::Range, "6660-6669"),
            crit("bot dll", Field::ModulePath, MatchKind::Wildcard, "*ircbot*"),
            crit("bob", Field::User, MatchKind::Exact, "CORP\\bob"),
            crit("word", Field::Module, MatchKind::Exact, "winword.exe"),
        ],
    };
    let none = crate::analysis::dns::NoHostNames;
    assert_eq!(matching_mapping(&criteria, &mapping, Some(block), &none), vec![0, 1, 2]);
    assert_eq!(matching_mapping(&criteria, &mapping, None, &none), vec![0]);
}

#[test]
fn either_side_criteria_count_each_row_once_per_criterion() {
    let eval = run(
        vec![
            crit("v4 side", Field::Ip, MatchKind::Exact, "192.168.1.103"),
            crit("remote v4", Field::Ip, MatchKind::Cidr, "203.0.113.0/24"),
            crit("web", Field::Port, MatchKind::Range, "80,443"),
            crit("low local", Field::Port, MatchKind::Range, "1-1448"),
            crit("same rows, single side", Field::RemotePort, MatchKind::Range, "80,443"),
        ],
        &crate::analysis::dns::NoHostNames,
    );
    // Row 1 matches both IP criteria (local and remote side) and counts once for each.
    assert_eq!(eval.per_criterion, vec![4, 1, 3, 5, 3]);
    assert_eq!(flagged_rows(&eval), vec![0, 1, 2, 4, 5]);
    assert_eq!(eval.flagged_rows, 5);
}

#[test]
fn wildcards_match_the_whole_value_whatever_stars_they_start_or_end_with() {
    let matches = |pattern: &str, value: &str| {
        let c = Criterion {
            name: "w".into(),
            field: Field::Module,
            kind: MatchKind::Wildcard,
            pattern: pattern.into(),
            enabled: true,
            message: String::new(),
        };
        c.compile().expect("compiles").matches_text(value)
    };
    assert!(matches("*\\Temp\\*", "C:\\Users\\bob\\AppData\\Local\\TEMP\\x.dll"));
    assert!(!matches("*\\Temp\\*", "C:\\Temporary\\x.dll"));
    assert!(matches("svc*.exe", "SVCHOST.EXE"));
    assert!(!matches("svc*.exe", "xsvchost.exe"));
    assert!(!matches("svc*.exe", "svchost.exe.bak"));
    assert!(matches("*host.exe", "svchost.exe"));
    assert!(!matches("*host.exe", "svchost.exe.bak"));
    assert!(matches("svc*", "svchost.exe"));
    assert!(!matches("svc*", "a svchost"));
    assert!(matches("**", "anything\nat all"));
    assert!(matches("*a?c*", "xxabcxx"));
    assert!(!matches("*a?c*", "xxacxx"));
}
