//! The time span of the rows: the earliest and the latest row time.

use chrono::NaiveDateTime;

use super::{Accumulate, Batch, Tables};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    first: Option<NaiveDateTime>,
    last: Option<NaiveDateTime>,
}

impl Accumulate for Span {
    /// (first, last); `None` without rows.
    type Output = (Option<NaiveDateTime>, Option<NaiveDateTime>);

    fn add(&mut self, batch: &Batch<'_>) {
        // Bounds that any row time replaces, so the loop carries no `Option`.
        let (mut lo, mut hi) = (NaiveDateTime::MAX, NaiveDateTime::MIN);
        let mut any = false;
        batch.for_each(|e| {
            any = true;
            if e.time < lo {
                lo = e.time;
            }
            if e.time > hi {
                hi = e.time;
            }
        });
        if any {
            self.merge(Span { first: Some(lo), last: Some(hi) });
        }
    }

    fn merge(&mut self, other: Span) {
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(other.last);
    }

    fn finish(self, _: Tables<'_>) -> Self::Output {
        (self.first, self.last)
    }
}
