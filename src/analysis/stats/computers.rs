//! The Computers view: per computer, its rows, the first and last row time, and its rows
//! that stay flagged. Every computer of the log's table is listed, one with no rows counted
//! too (a machine whose rows a filter left out is still one of the dataset's); the unknown
//! computer (rows of logs read from memory) only when it has rows.

use chrono::NaiveDateTime;

use crate::analysis::aggregate::{self, Accumulate, Batch, Tables};
use crate::logs::ports::PortsLog;

/// One computer's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputerUsage {
    pub computer: String,
    pub rows: u64,
    /// `None` without rows.
    pub first: Option<NaiveDateTime>,
    pub last: Option<NaiveDateTime>,
    pub flagged: u64,
}

/// Counts per computer id, grown with the table.
#[derive(Debug, Clone, Default)]
pub struct ComputerCounts {
    per: Vec<Counts>,
}

#[derive(Debug, Clone, Copy)]
struct Counts {
    rows: u64,
    /// Bounds any row time replaces, so the per-row loop carries no `Option`.
    first: NaiveDateTime,
    last: NaiveDateTime,
    flagged: u64,
}

impl Default for Counts {
    fn default() -> Counts {
        Counts { rows: 0, first: NaiveDateTime::MAX, last: NaiveDateTime::MIN, flagged: 0 }
    }
}

impl ComputerCounts {
    fn fit(&mut self, tables: &Tables<'_>) {
        if self.per.len() < tables.computers.len() {
            self.per.resize(tables.computers.len(), Counts::default());
        }
    }

    /// Counts the rows of `batch` that stay flagged; `flags` holds one flag per row, in the
    /// batch's order.
    pub fn add_flags(&mut self, batch: &Batch<'_>, flags: &[bool]) {
        self.fit(&batch.tables);
        let mut flags = flags.iter();
        batch.for_each(|e| {
            if flags.next().copied().unwrap_or(false)
                && let Some(c) = self.per.get_mut(batch.tables.computer(e).0 as usize)
            {
                c.flagged += 1;
            }
        });
    }
}

impl Accumulate for ComputerCounts {
    type Output = Vec<ComputerUsage>;

    fn add(&mut self, batch: &Batch<'_>) {
        self.fit(&batch.tables);
        let tables = batch.tables;
        batch.for_each(|e| {
            if let Some(c) = self.per.get_mut(tables.computer(e).0 as usize) {
                c.rows += 1;
                c.first = c.first.min(e.time);
                c.last = c.last.max(e.time);
            }
        });
    }

    fn merge(&mut self, other: ComputerCounts) {
        if self.per.len() < other.per.len() {
            self.per.resize(other.per.len(), Counts::default());
        }
        for (a, b) in self.per.iter_mut().zip(other.per) {
            a.rows += b.rows;
            a.first = a.first.min(b.first);
            a.last = a.last.max(b.last);
            a.flagged += b.flagged;
        }
    }

    /// Ordered by rows descending, then by name.
    fn finish(self, tables: Tables<'_>) -> Vec<ComputerUsage> {
        let mut list: Vec<ComputerUsage> = tables
            .computers
            .iter()
            .map(|(id, name)| (id, name, self.per.get(id.0 as usize).copied().unwrap_or_default()))
            .filter(|(id, _, c)| !id.is_empty() || c.rows > 0)
            .map(|(_, name, c)| ComputerUsage {
                computer: name.to_string(),
                rows: c.rows,
                first: (c.rows > 0).then_some(c.first),
                last: (c.rows > 0).then_some(c.last),
                flagged: c.flagged,
            })
            .collect();
        list.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.computer.cmp(&b.computer)));
        list
    }
}

/// The Computers view over all rows of `log` or a subset (row indices), with `flagged[i]`
/// telling whether row `i` stays flagged (rows past its end are not).
pub fn computer_usage(log: &PortsLog, subset: Option<&[u32]>, flagged: &[bool]) -> Vec<ComputerUsage> {
    let tables = Tables::of(log);
    let batch = Batch::new(tables, &log.events).subset(subset);
    let mut counts = aggregate::over_rows(batch, ComputerCounts::default);
    match subset {
        None => counts.add_flags(&batch, flagged),
        Some(rows) => {
            let in_order: Vec<bool> = rows.iter().map(|&i| flagged.get(i as usize).copied().unwrap_or(false)).collect();
            counts.add_flags(&batch, &in_order);
        }
    }
    counts.finish(tables)
}
