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
    Criterion {
        name: name.into(),
        field,
        kind,
        pattern: pattern.into(),
        enabled: true,
        message: format!("{name}!"),
        effect: Default::default(),
    }
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
    assert_eq!((polled.per_criterion, polled.allowed_rows), (eval.per_criterion.clone(), eval.allowed_rows));
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
    assert_eq!(matching_mapping(&criteria, &mapping, Some(block), "PC1", &none), vec![0, 1, 2]);
    assert_eq!(matching_mapping(&criteria, &mapping, None, "PC1", &none), vec![0]);
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
            effect: Default::default(),
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

/// Writes `text` as a list file in `dir` and returns its absolute path as a pattern.
fn list_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write list");
    path.to_str().expect("utf-8 temp path").to_string()
}

fn allow(c: Criterion) -> Criterion {
    Criterion { effect: Effect::Allow, ..c }
}

#[test]
fn list_criteria_flag_the_rows_whose_addresses_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = list_file(dir.path(), "bad.netset", "# bad\n203.0.113.0/24\n2001:db8::1\n65.55.200.252 ; SBL1\njunk\n");
    let none = crate::analysis::dns::NoHostNames;
    let eval = run(vec![crit("bad remote", Field::RemoteIp, MatchKind::List, &bad)], &none);
    assert_eq!(flagged_rows(&eval), vec![0, 1, 4]);
    assert_eq!(eval.per_criterion, vec![3]);
    let eval = run(vec![crit("bad local", Field::LocalIp, MatchKind::List, &bad)], &none);
    assert_eq!(flagged_rows(&eval), Vec::<usize>::new());
    let local = list_file(dir.path(), "local.txt", "192.168.1.0/24\n2001:db8::10\n");
    let eval = run(vec![crit("either side", Field::Ip, MatchKind::List, &local)], &none);
    assert_eq!((flagged_rows(&eval), eval.per_criterion.clone()), (vec![0, 1, 2, 4, 5], vec![5]));

    // The notification names the entry and its line; the compiled set, the list's figures.
    let set = set_from(PORTS, Some(PIDS));
    let index = PidsIndex::build(&set);
    let row_blocks = index.row_blocks(&set);
    let ctx = Context { set: &set, index: &index, row_blocks: &row_blocks, hosts: &none };
    let criteria = CriteriaSet { criteria: vec![crit("bad remote", Field::RemoteIp, MatchKind::List, &bad)] };
    let compiled = CompiledSet::new(&criteria);
    let why = explain_row(&compiled, &ctx, 1);
    assert!(why.flagged());
    let entry = why.flagged_by[0].entry.as_ref().expect("a list entry");
    assert_eq!(entry.to_string(), "203.0.113.0/24 — bad.netset line 2");
    assert_eq!(explain_row(&compiled, &ctx, 4).flagged_by[0].entry.as_ref().map(|e| e.line), Some(3));
    let lists: Vec<(usize, String)> = compiled.lists().map(|(i, l)| (i, l.summary())).collect();
    assert_eq!(lists, vec![(0, "bad.netset: 3 entries; 1 unreadable line skipped (line 5)".to_string())]);
}

#[test]
fn list_criteria_errors_name_the_file_and_checks_read_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.netset");
    let c = crit("gone", Field::RemoteIp, MatchKind::List, missing.to_str().expect("utf-8"));
    assert_eq!(c.check(), Ok(()));
    let err = c.compile().expect_err("no file").to_string();
    assert!(err.starts_with(&format!("cannot read address list {}: ", missing.display())), "{err}");
    let wrong = crit("list of names", Field::Module, MatchKind::List, "names.txt");
    assert_eq!(
        wrong.check().expect_err("not an IP field").to_string(),
        "a address list pattern does not apply to the module field"
    );
    let wrong = crit("hosts", Field::HostName, MatchKind::List, "names.txt");
    assert!(wrong.check().is_err());
    assert_eq!(crit("empty", Field::Ip, MatchKind::List, " ").check(), Err(CriterionError::Empty));
}

#[test]
fn list_files_are_named_relative_to_the_criteria_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("lists")).expect("mkdir");
    list_file(&dir.path().join("lists"), "drop.txt", "203.0.113.0/24 ; SBL9\n");
    let json = r#"{"criteria": [
        {"name": "DROP", "field": "remote_ip", "match": "list", "pattern": "lists/drop.txt"},
        {"name": "abs", "field": "ip", "match": "list", "pattern": "/nowhere/x.netset"},
        {"name": "mod", "field": "module", "pattern": "lists/drop.txt"}
    ]}"#;
    let path = dir.path().join("c.json");
    std::fs::write(&path, json).expect("write");
    let set = CriteriaSet::load(&path).expect("load");
    let full = dir.path().join("lists/drop.txt");
    assert_eq!(set.criteria[0].pattern, full.to_str().expect("utf-8"));
    assert_eq!(set.criteria[1].pattern, "/nowhere/x.netset");
    assert_eq!(set.criteria[2].pattern, "lists/drop.txt");
    let eval = run(set.criteria, &crate::analysis::dns::NoHostNames);
    assert_eq!((flagged_rows(&eval), eval.per_criterion.clone()), (vec![1], vec![1, 0, 0]));
}

#[test]
fn a_saved_set_names_its_folders_lists_relative_so_the_folder_can_move() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("case");
    std::fs::create_dir_all(folder.join("lists")).expect("mkdir");
    let inside = list_file(&folder.join("lists"), "drop.txt", "203.0.113.0/24\n");
    let set = CriteriaSet {
        criteria: vec![
            crit("DROP", Field::RemoteIp, MatchKind::List, &inside),
            crit("elsewhere", Field::Ip, MatchKind::List, "/nowhere/x.netset"),
            crit("module", Field::Module, MatchKind::Exact, &inside),
        ],
    };
    let path = folder.join("c.json");
    set.save(&path).expect("save");
    let written = CriteriaSet::from_json(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let patterns: Vec<&str> = written.criteria.iter().map(|c| c.pattern.as_str()).collect();
    assert_eq!(patterns, ["lists/drop.txt", "/nowhere/x.netset", inside.as_str()]);
    assert_eq!(CriteriaSet::load(&path).expect("load"), set, "read back as it was");
    let moved = dir.path().join("moved");
    std::fs::rename(&folder, &moved).expect("move the folder");
    let loaded = CriteriaSet::load(&moved.join("c.json")).expect("load moved");
    assert_eq!(loaded.criteria[0].pattern, moved.join("lists/drop.txt").to_str().expect("utf-8"));
}

#[test]
fn a_relative_list_path_outside_a_criteria_file_is_refused_not_read_from_the_working_directory() {
    let criteria = CriteriaSet { criteria: vec![crit("typed", Field::RemoteIp, MatchKind::List, "lists/drop.txt")] };
    let compiled = CompiledSet::new(&criteria);
    let messages: Vec<String> = compiled.broken.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(messages, ["address list lists/drop.txt is a relative path: give its full path (or choose the file)"]);
}

#[test]
fn a_list_changed_on_disk_is_seen_and_read_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = list_file(dir.path(), "watch.netset", "203.0.113.0/24\n");
    let later = dir.path().join("later.netset");
    let criteria = CriteriaSet {
        criteria: vec![
            crit("watched", Field::RemoteIp, MatchKind::List, &path),
            crit("not yet there", Field::RemoteIp, MatchKind::List, later.to_str().expect("utf-8")),
        ],
    };
    let first = CompiledSet::new(&criteria);
    assert_eq!((first.lists().count(), first.broken.len()), (1, 1));
    assert!(!first.lists_changed());
    std::fs::write(&later, "10.0.0.0/8\n").expect("create the missing list");
    assert!(first.lists_changed());
    let second = CompiledSet::new(&criteria);
    assert_eq!((second.lists().count(), second.broken.len()), (2, 0));
    assert!(!second.lists_changed());
    std::fs::write(&path, "203.0.113.0/24\n198.51.100.0/24\n").expect("rewrite");
    assert!(second.lists_changed());
    let third = CompiledSet::new(&criteria);
    let sizes: Vec<usize> = third.lists().map(|(_, l)| l.len()).collect();
    assert_eq!(sizes, vec![2, 1]);
}

#[test]
fn lists_can_be_given_without_files() {
    struct Given;
    impl Lists for Given {
        fn list(&self, path: &Path) -> Result<Arc<AddressList>, crate::analysis::address_list::ListError> {
            Ok(Arc::new(AddressList::parse(path, b"10.0.0.0/8\n")))
        }
    }
    let criteria = CriteriaSet { criteria: vec![crit("ten", Field::RemoteIp, MatchKind::List, "ten.netset")] };
    let compiled = CompiledSet::with_lists(&criteria, &Given);
    let set = set_from(PORTS, Some(PIDS));
    let index = PidsIndex::build(&set);
    let row_blocks = index.row_blocks(&set);
    let ctx = Context { set: &set, index: &index, row_blocks: &row_blocks, hosts: &crate::analysis::dns::NoHostNames };
    let eval = evaluate_compiled(Arc::new(compiled), &ctx);
    assert_eq!((flagged_rows(&eval), eval.per_criterion), (vec![5], vec![1]));
    assert!(!eval.compiled.lists_changed());
}

#[test]
fn allow_criteria_clear_flags_whatever_set_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let known = list_file(dir.path(), "known.txt", "65.55.200.0/24\n2001:db8::1\n");
    let eval = run(
        vec![
            crit("svchost", Field::Module, MatchKind::Exact, "svchost.exe"),
            crit("web", Field::Port, MatchKind::Range, "80,443"),
            allow(crit("update servers", Field::Ip, MatchKind::List, &known)),
            allow(crit("alice", Field::User, MatchKind::Exact, "CORP\\alice")),
            allow(crit("system", Field::Module, MatchKind::Exact, "System")),
        ],
        &crate::analysis::dns::NoHostNames,
    );
    // Flag criteria matched rows 0, 1, 3, 4 and 5; 0 and 4 are known servers, 4 and 5 alice's.
    assert_eq!(flagged_rows(&eval), vec![1, 3]);
    assert_eq!((eval.flagged_rows, eval.allowed_rows), (2, 3));
    // svchost keeps rows 1 and 3; web keeps none; the allow criteria cleared 0 and 4, and 4
    // and 5; System (row 2) was never flagged, so it cleared nothing.
    assert_eq!(eval.per_criterion, vec![2, 0, 2, 2, 0]);
}

#[test]
fn allow_criteria_alone_flag_nothing() {
    let eval = run(
        vec![allow(crit("alice", Field::User, MatchKind::Exact, "CORP\\alice"))],
        &crate::analysis::dns::NoHostNames,
    );
    assert_eq!((eval.flagged_rows, eval.allowed_rows, eval.per_criterion), (0, 0, vec![0]));
}

#[test]
fn allowed_rows_and_mappings_explain_themselves() {
    use crate::model::{Address, PortField, PortMapping, Protocol};
    let set = set_from(PORTS, Some(PIDS));
    let index = PidsIndex::build(&set);
    let row_blocks = index.row_blocks(&set);
    let none = crate::analysis::dns::NoHostNames;
    let ctx = Context { set: &set, index: &index, row_blocks: &row_blocks, hosts: &none };
    let criteria = CriteriaSet {
        criteria: vec![
            crit("irc", Field::RemotePort, MatchKind::Range, "6660-6669"),
            allow(crit("bob", Field::User, MatchKind::Exact, "CORP\\bob")),
        ],
    };
    let compiled = CompiledSet::new(&criteria);
    let why = explain_row(&compiled, &ctx, 1);
    assert!(why.cleared() && !why.flagged());
    assert_eq!(why.flagged_by.iter().map(|m| m.criterion).collect::<Vec<_>>(), vec![0]);
    assert_eq!(why.allowed_by.iter().map(|m| m.criterion).collect::<Vec<_>>(), vec![1]);
    assert_eq!(matching_criteria_compiled(&compiled, &ctx, 1), Vec::<usize>::new());

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
    let block = &set.pids[0].blocks[0];
    assert_eq!(matching_mapping(&criteria, &mapping, Some(block), "PC1", &none), Vec::<usize>::new());
    // Without the block there is no user to allow by.
    assert_eq!(matching_mapping(&criteria, &mapping, None, "PC1", &none), vec![0]);
}

#[test]
fn effects_round_trip_and_flag_is_the_default() {
    let set = CriteriaSet {
        criteria: vec![
            crit("flag", Field::Module, MatchKind::Exact, "a.exe"),
            allow(crit("allow", Field::Module, MatchKind::Exact, "b.exe")),
        ],
    };
    let json = set.to_json();
    assert_eq!(json.matches("\"effect\"").count(), 1, "{json}");
    assert!(json.contains("\"effect\": \"allow\""), "{json}");
    assert_eq!(CriteriaSet::from_json(&json).expect("parse"), set);
    let err = CriteriaSet::from_json(r#"[{"name":"n","field":"module","pattern":"x","effect":"ignore"}]"#);
    assert!(err.is_err());
}

/// Places as a GeoIP database would give them: 203.0.113.66 in Russia (AS 65001), 2001:db8::1
/// in Germany (AS 3320), 65.55.200.252 in the US (AS 8075); the rest unknown.
struct Places;

impl HostNames for Places {
    fn host_name(&self, _: std::net::IpAddr) -> Option<String> {
        None
    }

    fn place(&self, ip: std::net::IpAddr) -> Option<crate::analysis::geoip::Place> {
        use crate::analysis::geoip::{Country, Network, Place};
        let (code, number, name) = match ip.to_string().as_str() {
            "203.0.113.66" => ("RU", 65001, "Example Hosting"),
            "2001:db8::1" => ("DE", 3320, "Deutsche Telekom AG"),
            "65.55.200.252" => ("US", 8075, "MICROSOFT-CORP-MSN-AS-BLOCK"),
            _ => return Some(Place::default()),
        };
        Some(Place { country: Country::parse(code), network: Some(Network { number, organization: Arc::from(name) }) })
    }
}

#[test]
fn country_and_as_criteria_read_the_remote_address_through_the_databases() {
    let cases: Vec<(Criterion, Vec<usize>)> = vec![
        (crit("country", Field::Country, MatchKind::Exact, "ru"), vec![1]),
        (crit("countries", Field::Country, MatchKind::OneOf, "CN, RU,DE"), vec![1, 4]),
        (crit("country wildcard", Field::Country, MatchKind::Wildcard, "?E"), vec![4]),
        (crit("asn", Field::Asn, MatchKind::Exact, "AS8075"), vec![0]),
        (crit("private asns", Field::Asn, MatchKind::Range, "64512-65534"), vec![1]),
        (crit("asn list", Field::Asn, MatchKind::Range, "3320,8075"), vec![0, 4]),
        (crit("org", Field::Asn, MatchKind::Wildcard, "*telekom*"), vec![4]),
        (crit("org regex", Field::Asn, MatchKind::Regex, "^AS65001 "), vec![1]),
        (crit("module one of", Field::Module, MatchKind::OneOf, "system, IEXPLORE.exe"), vec![2, 4, 5]),
    ];
    for (c, want) in cases {
        let name = c.name.clone();
        let eval = run(vec![c.clone()], &Places);
        assert_eq!(flagged_rows(&eval), want, "{name}");
        assert_eq!(eval.per_criterion, vec![want.len()], "{name}");
        let without = run(vec![c], &crate::analysis::dns::NoHostNames);
        let expect_none = name.starts_with("module");
        assert_eq!(flagged_rows(&without).is_empty(), !expect_none, "{name}: no database, no match");
    }
    let allowed = run(
        vec![
            crit("anything", Field::Module, MatchKind::Wildcard, "*"),
            allow(crit("home", Field::Country, MatchKind::OneOf, "DE,US")),
        ],
        &Places,
    );
    assert_eq!(flagged_rows(&allowed), vec![1, 2, 3, 5]);
    assert_eq!((allowed.allowed_rows, allowed.per_criterion.clone()), (2, vec![4, 2]));
}

#[test]
fn country_and_as_patterns_are_checked() {
    let err = |c: Criterion| c.compile().expect_err("should not compile").to_string();
    assert_eq!(
        err(crit("c", Field::Country, MatchKind::Exact, "Germany")),
        "\"Germany\" is not a country code (expected ISO codes such as DE or CN,RU)"
    );
    assert!(err(crit("c", Field::Country, MatchKind::OneOf, "DE,,X1")).contains("not a country code"));
    assert_eq!(
        err(crit("a", Field::Asn, MatchKind::Range, "65534-64512")),
        "invalid AS numbers \"65534-64512\" (expected e.g. 13335 or 64512-65534)"
    );
    assert!(err(crit("a", Field::Asn, MatchKind::Exact, "Cloudflare")).starts_with("invalid AS numbers"));
    assert_eq!(
        err(crit("a", Field::Asn, MatchKind::Cidr, "10.0.0.0/8")),
        "a CIDR pattern does not apply to the AS (network) field"
    );
    assert_eq!(
        err(crit("o", Field::Asn, MatchKind::OneOf, "1,2")),
        "a one of pattern does not apply to the AS (network) field"
    );
    assert_eq!(
        err(crit("o", Field::RemotePort, MatchKind::OneOf, "80")),
        "a one of pattern does not apply to the remote port field"
    );
    assert_eq!(
        err(crit("l", Field::Country, MatchKind::List, "/tmp/x")),
        "a address list pattern does not apply to the country field"
    );
    assert!(crit("r", Field::Asn, MatchKind::Range, "AS64512-AS65534, 13335").compile().is_ok());
    let json = r#"[{"name":"c","field":"country","match":"one_of","pattern":"CN,RU"},{"name":"a","field":"asn","match":"range","pattern":"64512-65534"}]"#;
    let set = CriteriaSet::from_json(json).expect("reads");
    assert_eq!((set.criteria[0].field, set.criteria[0].kind), (Field::Country, MatchKind::OneOf));
    assert_eq!((set.criteria[1].field, set.criteria[1].kind), (Field::Asn, MatchKind::Range));
    assert!(Field::Country.reads_geoip() && Field::Asn.reads_geoip() && !Field::HostName.reads_geoip());
}

/// The computer field reads a row's computer through its file, without regard to case for
/// exact patterns; the bulk evaluation, the per-row check and the streamed flags agree.
#[test]
fn the_computer_field_flags_the_rows_of_a_computer() {
    use crate::analysis::dns::NoHostNames;
    use crate::analysis::test_support::fleet_from;
    let set = fleet_from(&[
        (
            "WS-ANN",
            "08/6/30,10:0:0,TCP,1447,10.0.0.1,80,192.0.2.1,100,a.exe,<u>\n08/6/30,10:0:3,TCP,1448,10.0.0.1,80,192.0.2.1,100,a.exe,<u>\n",
        ),
        ("SRV-DB", "08/6/30,10:0:1,TCP,1433,10.0.0.2,50000,192.0.2.2,200,sqlservr.exe,<u>\n"),
        ("ws-bob", "08/6/30,10:0:2,TCP,1449,10.0.0.3,443,192.0.2.3,300,b.exe,<u>\n"),
    ]);
    let computers: Vec<&str> = set.ports.events.iter().map(|e| set.ports.computer(e)).collect();
    assert_eq!(computers, vec!["WS-ANN", "SRV-DB", "ws-bob", "WS-ANN"]);
    let index = PidsIndex::build(&set);
    let ctx = Context { set: &set, index: &index, row_blocks: &[], hosts: &NoHostNames };
    for (criterion, want) in [
        (crit("one machine", Field::Computer, MatchKind::Exact, "ws-ann"), vec![0, 3]),
        (crit("workstations", Field::Computer, MatchKind::Wildcard, "WS-*"), vec![0, 2, 3]),
        (crit("servers", Field::Computer, MatchKind::Regex, "^SRV-"), vec![1]),
    ] {
        let criteria = CriteriaSet { criteria: vec![criterion.clone()] };
        let eval = evaluate(&criteria, &ctx);
        assert_eq!(flagged_rows(&eval), want, "{}", criterion.name);
        assert_eq!(eval.per_criterion, vec![want.len()], "{}", criterion.name);
        for row in 0..4 {
            assert_eq!(matching_criteria(&criteria, &ctx, row).is_empty(), !want.contains(&row), "{}", criterion.name);
        }
        let mut streamed = RowFlags::new(std::sync::Arc::clone(&eval.compiled));
        let mut flags = vec![false; 4];
        let mut per = vec![0];
        streamed.flag(&ctx, &set.ports.events, &[], &mut flags, &mut per);
        assert_eq!(flags, eval.flagged, "{}", criterion.name);
    }
    let cidr = crit("cidr", Field::Computer, MatchKind::Cidr, "10.0.0.0/8");
    assert!(matches!(cidr.compile(), Err(CriterionError::KindForField { .. })));
}
