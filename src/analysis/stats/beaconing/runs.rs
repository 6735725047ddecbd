//! The connections the Beaconing view keeps: one arena of runs per accumulator, every
//! candidate's in one vector, rather than a vector per candidate (a log has as many
//! candidates as remote addresses, most of them seen once).
//!
//! Runs are pushed one a row and joined (a socket's runs within [`STATE_CHANGE_WINDOW_S`] of
//! each other become one) whenever they have doubled since the last join, so what is kept stays
//! within twice the connections whatever the order of the rows, and the work of joining stays
//! within twice that of one join of everything. A join groups the runs by candidate in place and
//! in linear time (candidate ids are dense), then sorts each candidate's runs alone: small sorts
//! that stay in cache.

use super::STATE_CHANGE_WINDOW_S;

/// One connection's rows, or some of them: its candidate (an id of the accumulator's), its
/// socket (PID; local port and protocol) and its first and last time in seconds since the Unix
/// epoch: `u32` (20 bytes a run) for 1970 to 2106, `i64` for times outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run<T> {
    pub candidate: u32,
    pub pid: u32,
    /// Local port in the low 16 bits, protocol above.
    pub port: u32,
    pub start: T,
    pub end: T,
}

impl<T: Copy> Run<T> {
    /// A run of one row.
    pub fn at(candidate: u32, pid: u32, port: u32, t: T) -> Run<T> {
        Run { candidate, pid, port, start: t, end: t }
    }
}

/// Runs of every candidate, and how many there were when they were last joined.
#[derive(Debug, Clone)]
pub(super) struct Arena<T> {
    runs: Vec<Run<T>>,
    joined: usize,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena { runs: Vec::new(), joined: 0 }
    }
}

impl<T: Copy + Ord + Into<i64>> Arena<T> {
    #[inline]
    pub fn push(&mut self, run: Run<T>) {
        self.runs.push(run);
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Joins the runs if they have doubled since they were last joined. Candidate ids are
    /// below `candidates`.
    pub fn settle(&mut self, candidates: usize) {
        if self.runs.len() >= 2 * self.joined.max(1) {
            self.join(candidates, 1);
        }
    }

    /// Takes in another accumulator's runs, its candidate ids mapped to ours by `ids`.
    pub fn append(&mut self, other: Arena<T>, ids: &[u32]) {
        self.runs.extend(other.runs.into_iter().map(|r| Run { candidate: ids[r.candidate as usize], ..r }));
        self.joined += other.joined;
    }

    /// Calls `f` with each candidate that has at least `min` connections and the start of each
    /// of them, sorted, in the order of candidate ids.
    pub fn connections(mut self, candidates: usize, min: usize, mut f: impl FnMut(u32, &[i64])) {
        self.join(candidates, min);
        let mut times = Vec::new();
        for group in self.runs.chunk_by(|a, b| a.candidate == b.candidate) {
            if group.len() >= min {
                times.clear();
                times.extend(group.iter().map(|r| r.start.into()));
                times.sort_unstable();
                f(group[0].candidate, &times);
            }
        }
    }

    /// Each socket's runs joined where one begins within the window after the one before it
    /// ends: one run per connection, ordered by candidate, socket and start. Candidates with
    /// fewer than `min` runs are dropped first: joining only lowers their count.
    fn join(&mut self, candidates: usize, min: usize) {
        let mut starts = vec![0usize; candidates + 1];
        for r in &self.runs {
            starts[r.candidate as usize + 1] += 1;
        }
        if min > 1 {
            self.runs.retain(|r| starts[r.candidate as usize + 1] >= min);
            starts.iter_mut().filter(|n| **n < min).for_each(|n| *n = 0);
        }
        for c in 0..candidates {
            starts[c + 1] += starts[c];
        }
        group_by_candidate(&mut self.runs, &starts);
        for w in starts.windows(2) {
            if w[1] - w[0] > 1 {
                self.runs[w[0]..w[1]].sort_unstable_by_key(|r| (r.pid, r.port, r.start));
            }
        }
        self.runs.dedup_by(|run, kept| {
            let same = kept.candidate == run.candidate
                && kept.pid == run.pid
                && kept.port == run.port
                && run.start.into() <= kept.end.into() + STATE_CHANGE_WINDOW_S;
            if same {
                kept.end = kept.end.max(run.end);
            }
            same
        });
        self.joined = self.runs.len();
    }
}

impl Arena<i64> {
    /// Takes in runs of the same candidates timed in `u32`.
    pub fn widen(&mut self, narrow: Arena<u32>) {
        let widen = |r: Run<u32>| Run {
            candidate: r.candidate,
            pid: r.pid,
            port: r.port,
            start: i64::from(r.start),
            end: i64::from(r.end),
        };
        self.runs.extend(narrow.runs.into_iter().map(widen));
        self.joined += narrow.joined;
    }
}

/// Puts each candidate's runs at `starts[c]..starts[c + 1]` (the prefix sums of their counts),
/// in place: an American flag sort on the candidate id, one swap a misplaced run.
fn group_by_candidate<T: Copy>(runs: &mut [Run<T>], starts: &[usize]) {
    let mut next: Vec<usize> = starts.to_vec();
    for c in 0..starts.len().saturating_sub(1) {
        let end = starts[c + 1];
        while next[c] < end {
            let i = next[c];
            let home = runs[i].candidate as usize;
            if home == c {
                next[c] += 1;
            } else {
                runs.swap(i, next[home]);
                next[home] += 1;
            }
        }
    }
}
