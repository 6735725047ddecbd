//! Any text as a criteria file: parsed, compiled and evaluated on a small log, never a panic;
//! the bulk evaluation, the evaluation of followed rows and the per-row check agree.
//!
//! The input is the criteria JSON, then optionally a NUL byte and the text of the address
//! list that every list criterion reads: no file is opened.
#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use prparser::analysis::address_list::{AddressList, ListError, Lists};
use prparser::analysis::criteria::{CompiledSet, Context, CriteriaSet, evaluate_compiled, evaluate_rows, explain_row};
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

/// Every list is the one text the input carries.
struct Given<'a>(&'a [u8]);

impl Lists for Given<'_> {
    fn list(&self, path: &Path) -> Result<Arc<AddressList>, ListError> {
        Ok(Arc::new(AddressList::parse(path, self.0)))
    }
}

fuzz_target!(|data: &[u8]| {
    let (json, list) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(json) else {
        return;
    };
    let Ok(criteria) = CriteriaSet::from_json(text) else {
        return;
    };
    let (set, index, row_blocks) = log_set();
    let ctx = Context { set, index, row_blocks, hosts: &NoHostNames };
    let compiled = Arc::new(CompiledSet::with_lists(&criteria, &Given(list)));
    let eval = evaluate_compiled(Arc::clone(&compiled), &ctx);
    let rows = set.ports.events.len();
    assert_eq!(eval.flagged.len(), rows);
    assert_eq!(eval.per_criterion.len(), criteria.criteria.len());
    assert_eq!(eval.flagged_rows, eval.flagged.iter().filter(|f| **f).count());
    for row in 0..rows {
        assert_eq!(explain_row(&compiled, &ctx, row).flagged(), eval.flagged[row]);
    }
    let mut polled = evaluate_rows(Arc::clone(&compiled), &ctx, 0..1);
    polled.add(evaluate_rows(compiled, &ctx, 1..rows));
    assert_eq!(polled.flagged, eval.flagged);
    assert_eq!((polled.per_criterion, polled.allowed_rows), (eval.per_criterion, eval.allowed_rows));
});
