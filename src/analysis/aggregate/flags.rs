//! Rows flagged by criteria, counted: the report's `flagged` object as an accumulator, on the
//! criteria module's per-row evaluation ([`RowFlags`]), which decides each distinct value
//! once for all batches.

use std::sync::Arc;

use serde::Serialize;

use crate::analysis::criteria::{CompiledSet, Context, Effect, Field, RowFlags};
use crate::analysis::dns::HostNames;
use crate::analysis::geoip::{GeoIp, Located};
use crate::model::PortEvent;

use super::{Accumulate, Batch, Tables};
use crate::analysis::index::BlockId;

/// The report's `flagged` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flagged {
    /// Rows that stay flagged.
    pub rows: usize,
    /// Rows a flag criterion matched that an allow criterion cleared, each once.
    pub allowed: usize,
    pub by_criterion: Vec<CriterionCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CriterionCount {
    pub name: String,
    /// A flag criterion's rows that stay flagged; an allow criterion's rows it cleared.
    pub count: usize,
    /// Written only for allow criteria.
    #[serde(skip_serializing_if = "Effect::is_flag")]
    pub effect: Effect,
}

#[derive(Debug, Clone)]
pub struct FlagCounts {
    check: RowFlags,
    /// For country and AS criteria.
    geo: Option<Arc<GeoIp>>,
    /// Rows per criterion, by index in the criteria set.
    per_criterion: Vec<usize>,
    flagged: usize,
    allowed: usize,
    /// Reused per batch: each row's flag, and a subset's rows and blocks gathered.
    flags: Vec<bool>,
    rows: Vec<PortEvent>,
    blocks: Vec<BlockId>,
}

impl FlagCounts {
    pub fn new(compiled: Arc<CompiledSet>, geo: Option<Arc<GeoIp>>) -> FlagCounts {
        let per_criterion = vec![0; compiled.source.criteria.len()];
        FlagCounts {
            check: RowFlags::new(compiled),
            geo,
            per_criterion,
            flagged: 0,
            allowed: 0,
            flags: Vec::new(),
            rows: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// Each row's flag of the last batch counted, in the batch's order (see [`Batch::for_each`]).
    pub fn last_flags(&self) -> &[bool] {
        &self.flags
    }

    /// Whether a criterion of the set needs each row's PIDS block.
    pub fn needs_blocks(compiled: &CompiledSet) -> bool {
        compiled.compiled.iter().any(|(_, c)| c.field == Field::ModulePath)
    }
}

impl Accumulate for FlagCounts {
    type Output = Flagged;

    /// Batches must come from [`Batch::of_set`]: criteria read the set's tables and blocks.
    fn add(&mut self, batch: &Batch<'_>) {
        let Some(in_set) = batch.in_set else {
            debug_assert!(false, "flag counts need the batch's set");
            return;
        };
        let located;
        let hosts: &dyn HostNames = match &self.geo {
            Some(geo) => {
                located = Located { names: batch.hosts, geo, look_up: true };
                &located
            }
            None => batch.hosts,
        };
        let ctx = Context { set: in_set.set, index: in_set.index, row_blocks: &[], hosts };
        let (rows, blocks) = match batch.subset {
            None => (batch.events, batch.blocks),
            Some(_) => {
                self.rows.clear();
                self.blocks.clear();
                batch.for_each_with_block(|e, block| {
                    self.rows.push(*e);
                    self.blocks.push(block);
                });
                (&self.rows[..], &self.blocks[..])
            }
        };
        self.flags.clear();
        self.flags.resize(rows.len(), false);
        self.allowed += self.check.flag(&ctx, rows, blocks, &mut self.flags, &mut self.per_criterion);
        self.flagged += self.flags.iter().filter(|f| **f).count();
    }

    fn merge(&mut self, other: FlagCounts) {
        self.flagged += other.flagged;
        self.allowed += other.allowed;
        self.per_criterion.iter_mut().zip(other.per_criterion).for_each(|(a, b)| *a += b);
    }

    fn finish(self, _: Tables<'_>) -> Flagged {
        Flagged {
            rows: self.flagged,
            allowed: self.allowed,
            by_criterion: self
                .check
                .compiled()
                .source
                .criteria
                .iter()
                .zip(self.per_criterion)
                .filter(|(c, _)| c.enabled)
                .map(|(c, count)| CriterionCount { name: c.name.clone(), count, effect: c.effect })
                .collect(),
        }
    }
}
