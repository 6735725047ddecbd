//! Any text as a criteria file: parsed, compiled and evaluated on a small log, never a panic;
//! the bulk evaluation and the per-row check agree.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prparser::analysis::criteria::{Context, CriteriaSet, evaluate, matching_criteria};
use prparser::analysis::dns::NoHostNames;
use prparser::analysis::index::PidsIndex;
use prparser::logs::pids::read_pids_from;
use prparser::logs::ports::{LoadProgress, read_from};
use prparser::logs::set::LogSet;

const PORTS: &str = "\
08/6/30,10:0:0,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,10:0:1,TCP,1448,192.168.1.103,6667,203.0.113.66,6660,svchost.exe,<CORP\\bob>
08/6/30,10:0:2,UDP,137,192.168.1.103,*,*,4,System,
08/6/30,10:0:4,TCP,49201,2001:db8::10,443,2001:db8::1,3312,iexplore.exe,<CORP\\alice>
";

const PIDS: &str = "\
Port Reporter Version 1.01 Log File
Process detail log
======================================================
Log entry below recorded at: 08/6/30 10:0:1
======================================================
Process ID: 6660 (svchost.exe)
User context: CORP\\bob
Loaded modules:
C:\\Temp\\svchost.exe (0x00400000)
C:\\Temp\\ircbot.dll (0x10000000)
";

fn log_set() -> &'static (LogSet, PidsIndex, Vec<u32>) {
    static SET: OnceLock<(LogSet, PidsIndex, Vec<u32>)> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = LogSet::default();
        read_from(&mut set.ports, Path::new("PR-PORTS-f.log"), PORTS.as_bytes(), None, &LoadProgress::default())
            .expect("in-memory read");
        set.pids.push(read_pids_from(Path::new("PR-PIDS-f.log"), 0, PIDS.as_bytes()).expect("in-memory read"));
        let index = PidsIndex::build(&set);
        let blocks = index.row_blocks(&set);
        (set, index, blocks)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(criteria) = CriteriaSet::from_json(text) else {
        return;
    };
    let (set, index, row_blocks) = log_set();
    let ctx = Context { set, index, row_blocks, hosts: &NoHostNames };
    let eval = evaluate(&criteria, &ctx);
    assert_eq!(eval.flagged.len(), set.ports.events.len());
    assert_eq!(eval.per_criterion.len(), criteria.criteria.len());
    for row in 0..set.ports.events.len() {
        let one = matching_criteria(&criteria, &ctx, row);
        assert_eq!(!one.is_empty(), eval.flagged[row]);
    }
});
