use std::path::Path;

use super::*;
use crate::analysis::criteria::{self, Context, CriteriaSet, Criterion, Field, MatchKind};
use crate::analysis::dns::{DnsCache, Lookup};
use crate::analysis::stats::{self, IpCount};
use crate::analysis::test_support::set_from;
use crate::logs::ports::{LoadProgress, read_from};

const PORTS: &str = "\
08/6/30,10:0:0,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,10:0:1,TCP,1448,192.168.1.103,6667,203.0.113.66,6660,svchost.exe,<CORP\\bob>
08/6/30,11:0:2,UDP,137,192.168.1.103,*,*,4,System,
08/6/30,11:0:3,TCP,3389,0.0.0.0,,0.0.0.0,1096,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,23:0:4,TCP,49201,2001:db8::10,443,2001:db8::1,3312,iexplore.exe,<CORP\\alice>
08/6/30,23:0:5,TCP,1449,192.168.1.103,443,10.1.2.3,3312,IEXPLORE.EXE,<CORP\\alice>
08/6/30,23:0:6,TCP,1450,192.168.1.103,443,10.1.2.3,3480,iexplore.exe,<CORP\\bob>
08/6/30,9:59:59,TCP,1451,192.168.1.103,80,10.1.2.3,3312,iexplore.exe
04/1/24,8:52:21,TCP,4873,169.254.66.8,80,63.208.107.43
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
        message: String::new(),
        effect: Default::default(),
    }
}

/// A criterion on every field, one disabled, so every way a row is read is counted.
fn criteria() -> CriteriaSet {
    let mut off = crit("off", Field::Module, MatchKind::Exact, "svchost.exe");
    off.enabled = false;
    CriteriaSet {
        criteria: vec![
            crit("module", Field::Module, MatchKind::Wildcard, "IEXPLORE*"),
            off,
            crit("user", Field::User, MatchKind::Exact, "corp\\bob"),
            crit("remote", Field::RemoteIp, MatchKind::Cidr, "10.0.0.0/8"),
            crit("local", Field::LocalIp, MatchKind::Exact, "0.0.0.0"),
            crit("either ip", Field::Ip, MatchKind::Cidr, "2001:db8::/32"),
            crit("remote port", Field::RemotePort, MatchKind::Range, "6660-6669"),
            crit("local port", Field::LocalPort, MatchKind::Regex, "^14"),
            crit("either port", Field::Port, MatchKind::Range, "80,137"),
            crit("path", Field::ModulePath, MatchKind::Wildcard, "*\\ircbot.dll"),
            crit("host", Field::HostName, MatchKind::Wildcard, "*.example"),
        ],
    }
}

fn views(process: &str) -> Views {
    Views {
        process: Some(process.into()),
        criteria: Some(Arc::new(CompiledSet::new(&criteria()))),
        geo: None,
        beaconing: Some(usize::MAX),
    }
}

/// The aggregate of `set`'s rows fed as `parts` consecutive batches to `parts` accumulators
/// (merged in reverse order), with block look-ups and the host names given.
fn aggregate_in_parts(set: &LogSet, parts: usize, hosts: &dyn HostNames) -> Aggregate {
    let index = PidsIndex::build(set);
    let blocks = index.row_blocks(set);
    let tables = Tables::of(&set.ports);
    let batch = Batch::of_set(InSet { set, index: &index }, &set.ports.events).with_blocks(&blocks).with_hosts(hosts);
    let size = batch.len().div_ceil(parts).max(1);
    let mut accs: Vec<Aggregator> = batch
        .parts(size)
        .map(|part| {
            let mut a = Aggregator::new(&views("iexplore.exe"));
            a.add(&part);
            a
        })
        .collect();
    let mut acc = accs.pop().unwrap_or_else(|| Aggregator::new(&views("iexplore.exe")));
    while let Some(earlier) = accs.pop() {
        acc.merge(earlier);
    }
    acc.finish(tables)
}

#[test]
fn flag_counts_equal_the_criteria_evaluation() {
    let set = set_from(PORTS, Some(PIDS));
    let cache = DnsCache::default();
    cache.insert("10.1.2.3".parse().expect("ip"), Lookup::Name("files.example".into()));
    let index = PidsIndex::build(&set);
    let row_blocks = index.row_blocks(&set);
    let ctx = Context { set: &set, index: &index, row_blocks: &row_blocks, hosts: &cache };
    let eval = criteria::evaluate(&criteria(), &ctx);

    let flagged = aggregate_in_parts(&set, 1, &cache).flagged.expect("criteria were given");
    assert_eq!(flagged.rows, eval.flagged_rows);
    let enabled: Vec<(String, usize)> = criteria()
        .criteria
        .iter()
        .zip(&eval.per_criterion)
        .filter(|(c, _)| c.enabled)
        .map(|(c, n)| (c.name.clone(), *n))
        .collect();
    let got: Vec<(String, usize)> = flagged.by_criterion.iter().map(|c| (c.name.clone(), c.count)).collect();
    assert_eq!(got, enabled);
    // Exact figures, so that the two cannot agree by both counting nothing.
    assert_eq!(
        got.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        vec![4, 2, 3, 1, 1, 1, 5, 4, 1, 3],
        "module, user, remote, local, either ip, remote port, local port, either port, path, host"
    );
    assert_eq!(flagged.rows, 9);
}

#[test]
fn any_split_of_the_rows_gives_the_same_views() {
    let set = set_from(PORTS, Some(PIDS));
    let whole = aggregate_in_parts(&set, 1, &NoHostNames);
    for parts in [2, 3, set.ports.events.len()] {
        assert_eq!(aggregate_in_parts(&set, parts, &NoHostNames), whole, "{parts} parts");
    }
    assert_eq!(whole.counts, stats::row_stats(&set.ports, None));
    assert_eq!(whole.per_process.as_deref(), Some(&stats::per_process_usage(&set.ports, "iexplore.exe", None)[..]));
    assert_eq!(whole.counts.rows, 9);
    assert_eq!(whole.first.map(|t| t.to_string()).as_deref(), Some("2004-01-24 08:52:21"));
    assert_eq!(whole.last.map(|t| t.to_string()).as_deref(), Some("2008-06-30 23:00:06"));
}

#[test]
fn batches_read_while_the_tables_grow_count_as_the_whole_log() {
    // The first half of the file, counted; then the rest is read into the same log, which
    // interns new names and addresses, and only the new rows are counted.
    let (head, tail) = PORTS.split_at(PORTS.find("08/6/30,23:0:4").expect("row"));
    let mut log = PortsLog::default();
    let progress = LoadProgress::default();
    read_from(&mut log, Path::new("PR-PORTS-a.log"), head.as_bytes(), None, &progress).expect("read");
    let mut pieces =
        Pieces::new(|| Aggregator::new(&Views { process: Some("IEXPLORE.exe".into()), ..Views::default() }));
    pieces.add(Batch::new(Tables::of(&log), &log.events));
    let before = (log.events.len(), log.modules.len(), log.addrs.len());
    read_from(&mut log, Path::new("PR-PORTS-b.log"), tail.as_bytes(), None, &progress).expect("read");
    assert!(log.modules.len() > before.1 && log.addrs.len() > before.2, "the tables grew");
    pieces.add(Batch::new(Tables::of(&log), &log.events[before.0..]));
    let streamed = pieces.merged().finish(Tables::of(&log));

    let whole = aggregate_in_parts(&set_from(PORTS, None), 1, &NoHostNames);
    assert_eq!(streamed.counts, whole.counts);
    assert_eq!(streamed.per_process, whole.per_process);
    assert_eq!((streamed.first, streamed.last), (whole.first, whole.last));
    let users: Vec<(String, u64, Vec<IpCount>)> =
        streamed.per_process.unwrap_or_default().into_iter().map(|u| (u.user, u.count, u.remote_hosts)).collect();
    let ip = |s: &str, count, percent| IpCount { ip: s.parse().expect("ip"), count, percent };
    assert_eq!(
        users,
        vec![
            ("CORP\\alice".into(), 2, vec![ip("10.1.2.3", 1, 50.0), ip("2001:db8::1", 1, 50.0)]),
            ("".into(), 1, vec![ip("10.1.2.3", 1, 100.0)]),
            ("CORP\\bob".into(), 1, vec![ip("10.1.2.3", 1, 100.0)]),
        ]
    );
}

#[test]
fn a_subset_counts_only_its_rows() {
    let set = set_from(PORTS, None);
    let tables = Tables::of(&set.ports);
    // Indices past the end are skipped, not counted.
    let batch = Batch::new(tables, &set.ports.events).subset(Some(&[0, 2, 99]));
    let got = over_rows(batch, || Aggregator::new(&Views::default())).finish(tables);
    // Rows are in time order: 0 is the Windows 2000 row (no module), 2 the first svchost.exe.
    assert_eq!(got.counts.rows, 2);
    let procs: Vec<(&str, u64)> = got.counts.process_usage.iter().map(|p| (p.process.as_str(), p.count)).collect();
    assert_eq!(procs, vec![("svchost.exe", 1)]);
    assert_eq!(got.first.map(|t| t.to_string()).as_deref(), Some("2004-01-24 08:52:21"));
    assert_eq!(got.last.map(|t| t.to_string()).as_deref(), Some("2008-06-30 10:00:00"));
    assert_eq!(got.per_process, None);
    assert_eq!(got.flagged, None);

    // Flags of a subset: row 1 (9:59:59, iexplore.exe to 10.1.2.3 port 80) and row 3 (10:00:01,
    // bob's svchost.exe with the IRC module, port 6667).
    let set = set_from(PORTS, Some(PIDS));
    let index = PidsIndex::build(&set);
    let blocks = index.row_blocks(&set);
    let batch = Batch::of_set(InSet { set: &set, index: &index }, &set.ports.events).with_blocks(&blocks);
    let got = over_rows(batch.subset(Some(&[1, 3])), || Aggregator::new(&views("x"))).finish(tables);
    let flagged = got.flagged.expect("criteria were given");
    let counts: Vec<usize> = flagged.by_criterion.iter().map(|c| c.count).collect();
    assert_eq!(counts, vec![1, 1, 1, 0, 0, 1, 2, 1, 1, 0]);
    assert_eq!(flagged.rows, 2);
}

#[test]
fn beaconing_is_only_counted_when_asked_for() {
    let set = set_from(PORTS, None);
    let tables = Tables::of(&set.ports);
    let batch = || Batch::new(tables, &set.ports.events);
    let asked = Views { beaconing: Some(usize::MAX), ..Views::default() };
    assert!(Aggregator::new(&asked).beacons.is_some());
    assert!(Aggregator::new(&Views::default()).beacons.is_none(), "no accumulator, so no connection times kept");
    let with = over_rows(batch(), || Aggregator::new(&asked)).finish(tables);
    let without = over_rows(batch(), || Aggregator::new(&Views::default())).finish(tables);
    // Nine rows, none repeating a connection often enough to be a candidate: a list, but empty.
    assert_eq!(with.beaconing, Some(Vec::new()));
    assert_eq!(without.beaconing, None);
    assert_eq!(Aggregate { beaconing: None, ..with }, without);
}
