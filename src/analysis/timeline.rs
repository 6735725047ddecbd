//! The timeline: rows counted by time bucket, flagged rows apart, for the histogram above the
//! grid.
//!
//! Counting ten million rows takes tens of milliseconds, drawing must take far less than a
//! frame, and the person zooms and pans freely. So the rows are counted once (off the UI
//! thread) into minute buckets, and the coarser steps (10 minutes, hour, day) are summed from
//! those; every step keeps only its non-empty buckets, sorted, so the buckets on screen are a
//! binary search and a slice away, whatever the zoom. Second buckets are not kept for the
//! whole span (a log of ten million rows a second apart would need ten million of them): they
//! are counted for a window around what is shown when the person zooms that far in
//! ([`Timeline::seconds`]), which for a log in time order is a binary search to the window's
//! rows.
//!
//! Times are log times as written (no zone): on the axis they are seconds counted as if the
//! log's clock were UTC, which keeps calendar days and hours where the log has them.

use std::sync::atomic::AtomicBool;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};
use rayon::prelude::*;

use crate::analysis::view::{CHUNK_ROWS, Cancelled, Passing, check};
use crate::logs::ports::PortsLog;

/// The width of the buckets, chosen from how much time is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Second,
    Minute,
    TenMinutes,
    Hour,
    Day,
}

impl Step {
    pub const ALL: [Step; 5] = [Step::Second, Step::Minute, Step::TenMinutes, Step::Hour, Step::Day];

    pub fn seconds(self) -> i64 {
        match self {
            Step::Second => 1,
            Step::Minute => 60,
            Step::TenMinutes => 600,
            Step::Hour => 3600,
            Step::Day => 86_400,
        }
    }

    /// How the axis names it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Second => "1 second",
            Step::Minute => "1 minute",
            Step::TenMinutes => "10 minutes",
            Step::Hour => "1 hour",
            Step::Day => "1 day",
        }
    }

    /// The finest step that shows `span` seconds in at most `max_buckets` buckets (days when
    /// none does: a span of years is drawn a day per bucket, however thin).
    pub fn for_span(span: i64, max_buckets: i64) -> Step {
        let max = max_buckets.max(1);
        let span = span.max(0);
        Step::ALL.into_iter().find(|s| (span + s.seconds() - 1) / s.seconds() <= max).unwrap_or(Step::Day)
    }

    /// The start of the bucket holding second `t`.
    pub fn floor(self, t: i64) -> i64 {
        t.div_euclid(self.seconds()) * self.seconds()
    }

    /// The end of the bucket holding second `t` (the next bucket's start).
    pub fn ceil_end(self, t: i64) -> i64 {
        self.floor(t) + self.seconds()
    }

    /// Index of the kept level (none for seconds).
    fn level(self) -> Option<usize> {
        match self {
            Step::Second => None,
            Step::Minute => Some(0),
            Step::TenMinutes => Some(1),
            Step::Hour => Some(2),
            Step::Day => Some(3),
        }
    }
}

/// A log time as seconds on the axis.
pub fn to_secs(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

/// The log time at second `s` of the axis.
pub fn from_secs(s: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(s, 0).map(|d| d.naive_utc())
}

/// One non-empty bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    /// Its first second.
    pub start: i64,
    pub rows: u32,
    pub flagged: u32,
    /// Its earliest row in time (the first in log order among rows of that second).
    pub first: u32,
    first_time: i64,
}

impl Bin {
    fn one(start: i64, time: i64, row: u32, flagged: bool) -> Bin {
        Bin { start, rows: 1, flagged: u32::from(flagged), first: row, first_time: time }
    }

    #[inline]
    fn add(&mut self, time: i64, row: u32, flagged: bool) {
        self.rows += 1;
        self.flagged += u32::from(flagged);
        if (time, row) < (self.first_time, self.first) {
            self.first = row;
            self.first_time = time;
        }
    }

    fn merge(&mut self, other: &Bin) {
        self.rows += other.rows;
        self.flagged += other.flagged;
        if (other.first_time, other.first) < (self.first_time, self.first) {
            self.first = other.first;
            self.first_time = other.first_time;
        }
    }
}

/// Rows counted by minute, 10 minutes, hour and day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Per kept step (minute, 10 minutes, hour, day): the non-empty buckets, by start.
    levels: [Vec<Bin>; 4],
    pub rows: u64,
    pub flagged: u64,
    /// The earliest and the latest row's second.
    pub span: Option<(i64, i64)>,
    /// Whether the rows' times never go down in their order: a window's rows are then found
    /// by binary search.
    sorted: bool,
}

/// What one chunk of rows counted.
struct Counted {
    bins: Vec<Bin>,
    flagged: u64,
    /// First and last time in the chunk's order; `None` for no rows.
    ends: Option<(i64, i64)>,
    lo: i64,
    hi: i64,
    sorted: bool,
}

/// Seconds of a log time, computed per row cheaply: the date's seconds change rarely.
struct Clock {
    day: Option<NaiveDate>,
    day_secs: i64,
}

impl Clock {
    #[inline]
    fn secs(&mut self, t: NaiveDateTime) -> i64 {
        let day = t.date();
        if self.day != Some(day) {
            self.day = Some(day);
            self.day_secs = to_secs(day.and_time(chrono::NaiveTime::MIN));
        }
        self.day_secs + i64::from(t.num_seconds_from_midnight())
    }
}

/// Counts the rows at `positions` of `passing` into buckets of `step` seconds, keeping those
/// within `[from, to)`.
fn count(
    log: &PortsLog,
    passing: &Passing,
    flagged: &[bool],
    positions: std::ops::Range<usize>,
    step: i64,
    (from, to): (i64, i64),
) -> Counted {
    let mut clock = Clock { day: None, day_secs: 0 };
    let mut out = Counted { bins: Vec::new(), flagged: 0, ends: None, lo: i64::MAX, hi: i64::MIN, sorted: true };
    let mut current: Option<Bin> = None;
    let mut last = i64::MIN;
    let mut first = None;
    for pos in positions {
        let row = passing.row(pos);
        let Some(e) = log.events.get(row as usize) else {
            continue;
        };
        let t = clock.secs(e.time);
        if t < last {
            out.sorted = false;
        }
        last = t;
        first.get_or_insert(t);
        if t < from || t >= to {
            continue;
        }
        out.lo = out.lo.min(t);
        out.hi = out.hi.max(t);
        let f = flagged.get(row as usize).copied().unwrap_or(false);
        out.flagged += u64::from(f);
        let start = t.div_euclid(step) * step;
        match current.as_mut() {
            Some(b) if b.start == start => b.add(t, row, f),
            _ => {
                out.bins.extend(current.take());
                current = Some(Bin::one(start, t, row, f));
            }
        }
    }
    out.bins.extend(current);
    out.ends = first.map(|f| (f, last));
    out
}

/// Chunks' buckets as one sorted list, buckets of the same start merged.
fn merge_chunks(chunks: Vec<Counted>) -> (Vec<Bin>, bool) {
    let mut sorted = true;
    let mut previous_end = None;
    for c in &chunks {
        if let Some((first, last)) = c.ends {
            sorted &= c.sorted && previous_end.is_none_or(|p| p <= first);
            previous_end = Some(last);
        }
    }
    let mut bins: Vec<Bin> = chunks.into_iter().flat_map(|c| c.bins).collect();
    if !bins.is_sorted_by_key(|b| b.start) {
        bins.par_sort_by_key(|b| b.start);
    }
    (coalesce(bins, |s| s), sorted)
}

/// Merges neighbouring buckets that `key` puts in one (buckets sorted by start).
fn coalesce(bins: Vec<Bin>, key: impl Fn(i64) -> i64) -> Vec<Bin> {
    let mut out: Vec<Bin> = Vec::with_capacity(bins.len());
    for mut b in bins {
        b.start = key(b.start);
        match out.last_mut() {
            Some(last) if last.start == b.start => last.merge(&b),
            _ => out.push(b),
        }
    }
    out
}

impl Timeline {
    /// Counts the rows of `passing` (`flagged` by row; rows past its end are not flagged), on
    /// all cores; `Err` as soon as `cancel` is seen raised.
    pub fn build(
        log: &PortsLog,
        passing: &Passing,
        flagged: &[bool],
        cancel: &AtomicBool,
    ) -> Result<Timeline, Cancelled> {
        let len = passing.len();
        let chunks: Vec<Counted> = (0..len.div_ceil(CHUNK_ROWS))
            .into_par_iter()
            .map(|k| {
                check(cancel)?;
                let positions = k * CHUNK_ROWS..((k + 1) * CHUNK_ROWS).min(len);
                Ok(count(log, passing, flagged, positions, Step::Minute.seconds(), (i64::MIN, i64::MAX)))
            })
            .collect::<Result<_, Cancelled>>()?;
        check(cancel)?;
        let flagged_rows = chunks.iter().map(|c| c.flagged).sum();
        let lo = chunks.iter().map(|c| c.lo).min().unwrap_or(i64::MAX);
        let hi = chunks.iter().map(|c| c.hi).max().unwrap_or(i64::MIN);
        let (minutes, sorted) = merge_chunks(chunks);
        let coarser = |bins: &[Bin], step: Step| coalesce(bins.to_vec(), |s| step.floor(s));
        let tens = coarser(&minutes, Step::TenMinutes);
        let hours = coarser(&tens, Step::Hour);
        let days = coarser(&hours, Step::Day);
        Ok(Timeline {
            rows: minutes.iter().map(|b| u64::from(b.rows)).sum(),
            flagged: flagged_rows,
            span: (lo <= hi).then_some((lo, hi)),
            sorted,
            levels: [minutes, tens, hours, days],
        })
    }

    /// The non-empty buckets of `step` that meet `[from, to)`, in order; `None` for seconds,
    /// which are counted on demand ([`Timeline::seconds`]).
    pub fn bins(&self, step: Step, from: i64, to: i64) -> Option<&[Bin]> {
        let bins = &self.levels[step.level()?];
        let start = bins.partition_point(|b| b.start + step.seconds() <= from);
        let end = bins.partition_point(|b| b.start < to);
        Some(&bins[start..end.max(start)])
    }

    /// Second buckets of the rows of `passing` within `[from, to)` (the rows this timeline
    /// counted). For rows in time order the window is found by binary search and only its
    /// rows are read; otherwise every row is looked at, on all cores.
    pub fn seconds(
        &self,
        log: &PortsLog,
        passing: &Passing,
        flagged: &[bool],
        (from, to): (i64, i64),
        cancel: &AtomicBool,
    ) -> Result<Vec<Bin>, Cancelled> {
        let len = passing.len();
        let time = |pos: usize| log.events.get(passing.row(pos) as usize).map_or(i64::MAX, |e| to_secs(e.time));
        let positions =
            if self.sorted { partition(len, |p| time(p) < from)..partition(len, |p| time(p) < to) } else { 0..len };
        let chunks: Vec<Counted> = (0..positions.len().div_ceil(CHUNK_ROWS))
            .into_par_iter()
            .map(|k| {
                check(cancel)?;
                let start = positions.start + k * CHUNK_ROWS;
                let part = start..(start + CHUNK_ROWS).min(positions.end);
                Ok(count(log, passing, flagged, part, 1, (from, to)))
            })
            .collect::<Result<_, Cancelled>>()?;
        Ok(merge_chunks(chunks).0)
    }
}

/// The first position in `0..len` where `before` turns false (it is true, then false).
fn partition(len: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests;
