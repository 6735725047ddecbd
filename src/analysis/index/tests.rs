use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDateTime;

use super::*;
use crate::analysis::test_support::set_from;
use crate::logs::initial::InitialLog;
use crate::logs::pids::{LogHeader, PidsLog};
use crate::logs::ports::PortsSource;
use crate::logs::process_block::clean;
use crate::logs::text::Encoding;
use crate::model::{AddrId, Modules, PortField, PortStatistics, Protocol, RowShape, make_datetime};

const PORTS: &str = "\
08/6/30,10:0:1,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,10:9:0,TCP,1448,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
";

const PIDS: &str = "\
Port Reporter Version 1.01 Log File
Process detail log
======================================================
Log entry below recorded at: 08/6/30 10:0:0
======================================================
Process ID: 1900 (svchost.exe)
Process doesn't appear to be a service
======================================================
Log entry below recorded at: 08/6/30 10:8:0
======================================================
Process ID: 1900 (svchost.exe)
Process doesn't appear to be a service
";

fn blocks_of_rows(index: &PidsIndex, set: &LogSet) -> Vec<Option<BlockRef>> {
    index.row_blocks(set).into_iter().map(|id| index.block_ref(id)).collect()
}

#[test]
fn extending_gives_what_building_gives() {
    let set = set_from(PORTS, Some(PIDS));
    let built = PidsIndex::build(&set);
    let mut grown = PidsIndex::default();
    // In reverse, so the second one has to be placed before the first by time.
    let added = [BlockRef::Pids { file: 0, block: 1 }, BlockRef::Pids { file: 0, block: 0 }];
    let key = PidKey { computer: Symbol::EMPTY, pid: 1900 };
    assert_eq!(grown.extend(&set, &added), vec![key, key]);
    assert_eq!(blocks_of_rows(&grown, &set), blocks_of_rows(&built, &set));
    assert_eq!(
        blocks_of_rows(&grown, &set),
        vec![Some(BlockRef::Pids { file: 0, block: 0 }), Some(BlockRef::Pids { file: 0, block: 1 })]
    );
}

/// A module name holding a line break or a tab is kept inside its quotes by the PORTS log,
/// while PIDS and INITIAL logs (Port Reporter's, the collector's) write it with spaces: the
/// row still finds its block, with or without the same case.
#[test]
fn a_multi_line_module_finds_its_block() {
    let ports = "\
08/6/30,10:0:1,TCP,1447,192.168.1.103,80,65.55.200.252,7,\"evil\nname.exe\",<u>
08/6/30,10:0:2,TCP,1448,192.168.1.103,80,65.55.200.252,7,\"EVIL\tNAME.exe\",<u>
08/6/30,10:0:3,TCP,1449,192.168.1.103,80,65.55.200.252,7,evilname.exe,<u>
";
    let pids = "\
Process detail log
======================================================
Log entry below recorded at: 08/6/30 10:0:0
======================================================
Process ID: 7 (evil name.exe)
";
    let set = set_from(ports, Some(pids));
    assert_eq!(set.ports.module(&set.ports.events[0]), "evil\nname.exe");
    let index = PidsIndex::build(&set);
    let found = Some(BlockRef::Pids { file: 0, block: 0 });
    assert_eq!(blocks_of_rows(&index, &set), vec![found, found, None]);
    let one_by_one: Vec<_> =
        set.ports.events.iter().map(|e| index.lookup_event(&set, e).and_then(|id| index.block_ref(id))).collect();
    assert_eq!(one_by_one, vec![found, found, None]);
}

/// A deterministic generator for the differential test.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

fn block(pid: u32, process: &str, recorded_at: Option<NaiveDateTime>) -> ProcessBlock {
    ProcessBlock {
        recorded_at,
        source: 0,
        line: 0,
        pid,
        process: process.to_string(),
        user: None,
        system_process: false,
        services: Vec::new(),
        ports: Vec::new(),
        port_statistics: PortStatistics::default(),
        modules: Modules::Absent,
    }
}

/// A set of `computers` machines whose PIDs are reused by several programs (names in any case,
/// some with a line break, some blocks nameless), with PIDS blocks timed by their own line, by
/// their log's date or not at all, INITIAL blocks, and rows of every kind around them, on
/// computers that share PIDs. One PORTS file per computer, and one that no computer owns.
fn random_set(seed: u64, computers: usize, rows: usize) -> LogSet {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let base = make_datetime(8, 6, 30, 10, 0, 0).expect("valid");
    let at = |rng: &mut Rng| base + TimeDelta::seconds(rng.below(3 * 3600) as i64);
    let block_names = ["a.exe", "A.EXE", "b.exe", "", "evil x.exe", "svchost.exe", "Setup (x86).exe"];
    let row_names = ["a.exe", "B.exe", "", "evil\nx.exe", "EVIL\tX.EXE", "svchost.exe", "c.exe"];
    let mut set = LogSet::default();
    let header = |date: Option<NaiveDateTime>| LogHeader { system_date: date, ..LogHeader::default() };
    for c in 0..computers {
        let name = format!("PC{c}");
        let ports = Path::new(&name).join("PR-PORTS.log");
        let computer = set.ports.computers.assign(&ports, &name);
        set.ports.sources.push(PortsSource {
            path: Arc::from(ports.as_path()),
            version: None,
            encoding: Encoding::Utf8OrAnsi,
            partner: None,
            rows: 0,
            malformed: 0,
            computer,
        });
        for k in 0..2 {
            let path = Path::new(&name).join(format!("PR-PIDS-{k}.log"));
            set.ports.computers.assign(&path, &name);
            let date = (rng.below(4) > 0).then(|| at(&mut rng));
            let blocks = (0..rng.below(150))
                .map(|_| {
                    let time = (rng.below(8) > 0).then(|| at(&mut rng));
                    block(1 + rng.below(20) as u32, rng.pick(&block_names), time)
                })
                .collect();
            set.pids.push(PidsLog {
                path: Arc::from(path.as_path()),
                header: header(date),
                blocks,
                warnings: Vec::new(),
                mappings_available: true,
            });
        }
        let path = Path::new(&name).join("PR-INITIAL.log");
        set.ports.computers.assign(&path, &name);
        let blocks =
            (0..rng.below(12)).map(|_| block(1 + rng.below(20) as u32, rng.pick(&block_names), None)).collect();
        set.initials.push(InitialLog {
            path: Arc::from(path.as_path()),
            header: header(Some(base + TimeDelta::minutes(rng.below(90) as i64))),
            mappings_found: None,
            mappings: Vec::new(),
            mappings_available: true,
            blocks,
            warnings: Vec::new(),
        });
    }
    set.ports.sources.push(PortsSource { computer: Symbol::EMPTY, ..set.ports.sources[0].clone() });
    for line in 0..rows {
        let pid = (rng.below(10) > 0).then(|| 1 + rng.below(22) as u32);
        let module = set.ports.modules.intern(rng.pick(&row_names));
        let mut e = PortEvent::new(
            at(&mut rng),
            Protocol::Tcp,
            1000,
            AddrId(0),
            PortField::Num(80),
            AddrId(0),
            pid,
            module,
            Symbol::EMPTY,
            RowShape::Full,
        );
        e.source = rng.below(computers as u64 + 1) as u16;
        e.line = line as u32 + 1;
        set.ports.events.push(e);
    }
    set.ports.sort_by_time();
    set
}

/// A block the plain rule considers: its time, its place among blocks of that time, where it
/// is, and the block.
type Candidate<'a> = (NaiveDateTime, (u8, u16, u32), BlockRef, &'a ProcessBlock);

/// The rule of the module docs, written the plain way: every block of the set, in the order
/// the index builds, tried one by one (what `lookup` did before the index was keyed by
/// computer, with names compared as the logs write them).
fn plain_lookup(set: &LogSet, e: &PortEvent) -> Option<BlockRef> {
    let pid = e.pid()?;
    let computer = set.ports.computer_id(e);
    let module = set.ports.module(e);
    let mut entries: Vec<Candidate<'_>> = Vec::new();
    for (f, log) in set.pids.iter().enumerate() {
        for (b, block) in log.blocks.iter().enumerate() {
            let r = BlockRef::Pids { file: f as u16, block: b as u32 };
            if let Some(t) = block.recorded_at.or(log.header.system_date)
                && block.pid == pid
                && set.ports.computers.of_file(&log.path) == computer
            {
                entries.push((t, build_order(r), r, block));
            }
        }
    }
    for (f, log) in set.initials.iter().enumerate() {
        for (b, block) in log.blocks.iter().enumerate() {
            let r = BlockRef::Initial { file: f as u16, block: b as u32 };
            if let Some(t) = log.header.system_date
                && block.pid == pid
                && set.ports.computers.of_file(&log.path) == computer
            {
                entries.push((t, build_order(r), r, block));
            }
        }
    }
    entries.sort_by_key(|(t, order, _, _)| (*t, *order));
    let same = |b: &ProcessBlock| {
        module.is_empty() || b.process.is_empty() || clean(&b.process).eq_ignore_ascii_case(&clean(module))
    };
    let split = entries.partition_point(|(t, ..)| *t <= e.time);
    entries[..split]
        .iter()
        .rev()
        .find(|(.., b)| same(b))
        .or_else(|| entries[split..].iter().take_while(|(t, ..)| *t - e.time <= AFTER_WINDOW).find(|(.., b)| same(b)))
        .map(|(_, _, r, _)| *r)
}

/// Linking every row at once, row by row, and the plain rule give the same block for every
/// row of sets with many reused PIDs and blocks, on one computer and on several.
#[test]
fn row_blocks_agree_with_the_plain_rule() {
    let mut linked = 0;
    for seed in 1..=40 {
        let set = random_set(seed, 1 + (seed % 3) as usize, 3000);
        let index = PidsIndex::build(&set);
        let all = blocks_of_rows(&index, &set);
        for (i, e) in set.ports.events.iter().enumerate() {
            let want = plain_lookup(&set, e);
            assert_eq!(all[i], want, "seed {seed}, row {i}");
            assert_eq!(index.lookup_event(&set, e).and_then(|id| index.block_ref(id)), want, "seed {seed}, row {i}");
            linked += usize::from(want.is_some());
        }
    }
    // Most rows find a block, and many do not: both sides of the rule are exercised.
    assert!((30_000..=90_000).contains(&linked), "{linked} rows of 120,000 linked");
}
