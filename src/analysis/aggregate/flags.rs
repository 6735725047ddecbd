//! Rows flagged by criteria, counted: the report's `flagged` object as an accumulator.
//!
//! Each criterion is decided once per distinct value of its field (module and user names,
//! addresses, ports, PIDS blocks) and the answer kept in a table by id, so a row costs a table
//! look-up per criterion however many rows repeat the value. Rows are taken a batch at a
//! time, criterion by criterion, as `criteria::evaluate_compiled` does over a whole log.

use std::sync::Arc;

use serde::Serialize;

use crate::analysis::criteria::{Compiled, CompiledSet, Field};
use crate::analysis::index::NO_BLOCK;
use crate::model::{Address, PortEvent};

use super::{Accumulate, Batch, Tables};

/// The report's `flagged` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flagged {
    pub rows: usize,
    pub by_criterion: Vec<CriterionCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CriterionCount {
    pub name: String,
    pub count: usize,
}

/// What is known of one value: not yet asked, or the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Unknown,
    No,
    Yes,
}

/// One criterion's answers by value id, grown as the tables grow.
#[derive(Debug, Clone, Default)]
struct Answers(Vec<Known>);

impl Answers {
    #[inline(always)]
    fn get(&mut self, id: usize, decide: impl FnOnce() -> bool) -> bool {
        if self.0.len() <= id {
            self.0.resize(id + 1, Known::Unknown);
        }
        match self.0[id] {
            Known::Yes => true,
            Known::No => false,
            Known::Unknown => {
                let yes = decide();
                self.0[id] = if yes { Known::Yes } else { Known::No };
                yes
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct FlagCounts {
    compiled: Arc<CompiledSet>,
    /// Per compiled criterion, in the order of `compiled.compiled`.
    answers: Vec<Answers>,
    /// Rows per compiled criterion, same order.
    hits: Vec<usize>,
    flagged: usize,
    /// Per row of the batch being counted: flagged by some criterion. Reused.
    row_flags: Vec<bool>,
}

impl FlagCounts {
    pub fn new(compiled: Arc<CompiledSet>) -> FlagCounts {
        let n = compiled.compiled.len();
        FlagCounts {
            compiled,
            answers: vec![Answers::default(); n],
            hits: vec![0; n],
            flagged: 0,
            row_flags: Vec::new(),
        }
    }

    /// Whether a criterion of the set needs each row's PIDS block.
    pub fn needs_blocks(compiled: &CompiledSet) -> bool {
        compiled.compiled.iter().any(|(_, c)| c.field == Field::ModulePath)
    }
}

/// Whether `c` matches row `e` (whose PIDS block is `block`), asking `answers` first.
#[inline(always)]
fn row_matches(c: &Compiled, answers: &mut Answers, batch: &Batch<'_>, e: &PortEvent, block: u32) -> bool {
    let t = &batch.tables;
    let addr = |a: crate::model::AddrId| move || c.matches_addr(t.addrs.resolve(a));
    match c.field {
        Field::Module => {
            answers.get(e.module.0 as usize, || !e.module.is_empty() && c.matches_text(t.modules.resolve(e.module)))
        }
        Field::User => answers.get(e.user.0 as usize, || !e.user.is_empty() && c.matches_text(t.users.resolve(e.user))),
        Field::LocalIp => answers.get(e.local_ip.0 as usize, addr(e.local_ip)),
        Field::RemoteIp => answers.get(e.remote_ip.0 as usize, addr(e.remote_ip)),
        Field::Ip => {
            answers.get(e.local_ip.0 as usize, addr(e.local_ip))
                || answers.get(e.remote_ip.0 as usize, addr(e.remote_ip))
        }
        Field::HostName => answers.get(e.remote_ip.0 as usize, || match t.addrs.resolve(e.remote_ip) {
            Address::Ip(ip) => batch.hosts.host_name(ip).is_some_and(|h| c.matches_text(&h)),
            _ => false,
        }),
        Field::LocalPort => answers.get(usize::from(e.local_port), || c.matches_port(Some(e.local_port))),
        Field::RemotePort => match e.remote_port().num() {
            Some(p) => answers.get(usize::from(p), || c.matches_port(Some(p))),
            None => false,
        },
        Field::Port => {
            answers.get(usize::from(e.local_port), || c.matches_port(Some(e.local_port)))
                || e.remote_port().num().is_some_and(|p| answers.get(usize::from(p), || c.matches_port(Some(p))))
        }
        Field::ModulePath => {
            block != NO_BLOCK
                && answers.get(block as usize, || {
                    batch.process_logs.and_then(|p| p.index.block(p.set, block)).is_some_and(|b| c.matches_block(b))
                })
        }
    }
}

impl Accumulate for FlagCounts {
    type Output = Flagged;

    fn add(&mut self, batch: &Batch<'_>) {
        self.row_flags.clear();
        self.row_flags.resize(batch.len(), false);
        for (k, (_, c)) in self.compiled.compiled.iter().enumerate() {
            let (answers, hits, flags) = (&mut self.answers[k], &mut self.hits[k], &mut self.row_flags);
            let mut row = 0;
            batch.for_each_with_block(|e, block| {
                let hit = row_matches(c, answers, batch, e, block);
                *hits += usize::from(hit);
                flags[row] |= hit;
                row += 1;
            });
        }
        self.flagged += self.row_flags.iter().filter(|f| **f).count();
    }

    fn merge(&mut self, other: FlagCounts) {
        self.flagged += other.flagged;
        self.hits.iter_mut().zip(other.hits).for_each(|(a, b)| *a += b);
    }

    fn finish(self, _: Tables<'_>) -> Flagged {
        let mut per_criterion = vec![0; self.compiled.source.criteria.len()];
        for ((i, _), n) in self.compiled.compiled.iter().zip(&self.hits) {
            per_criterion[*i] = *n;
        }
        Flagged {
            rows: self.flagged,
            by_criterion: self
                .compiled
                .source
                .criteria
                .iter()
                .zip(per_criterion)
                .filter(|(c, _)| c.enabled)
                .map(|(c, count)| CriterionCount { name: c.name.clone(), count })
                .collect(),
        }
    }
}
