//! The connections the Beaconing view keeps: every candidate's runs in a few arenas per
//! accumulator rather than a vector per candidate (a log has about as many candidates as
//! remote addresses, most of them seen once).
//!
//! Runs are pushed one a row and joined (a socket's runs within [`STATE_CHANGE_WINDOW_S`] of
//! each other become one) whenever they have doubled since the last join, so what is kept stays
//! within twice the connections whatever the order of the rows, and the work of joining stays
//! within twice that of one join of everything. A join groups an arena's runs by remote address
//! in place and in linear time (address ids are dense), then sorts each address's runs alone.
//! Addresses are spread over [`SHARDS`] arenas by their id, so that each join works on an
//! arena that fits in cache, and the last join runs on all cores.
//!
//! A streamed report also retires connections ([`Runs::retire`]): a joined run that ended more
//! than the window before its computer's latest row can no longer be joined by a row that
//! comes in time order, so only its candidate and start are kept, packed ([`RetiredBlock`],
//! about 5 bytes, against 24 bytes for a run and the room the joins need).

use rayon::prelude::*;

use super::STATE_CHANGE_WINDOW_S;
use super::retired::{Retired, RetiredBlock};

/// Arenas per accumulator: address `a` is in arena `a % SHARDS`, at place `a / SHARDS`.
const SHARDS: usize = 64;

/// One connection's rows, or some of them: its candidate (remote address id; an id of the
/// accumulator's for the computer, process and remote port), its socket (PID; local port and
/// protocol) and its first and last time in seconds since the Unix epoch: `u32` (24 bytes a
/// run) for 1970 to 2106, `i64` for times outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run<T> {
    pub addr: u32,
    pub rest: u32,
    pub pid: u32,
    /// Local port in the low 16 bits, protocol above.
    pub port: u32,
    pub start: T,
    pub end: T,
}

impl<T: Copy> Run<T> {
    /// A run of one row.
    pub fn at((addr, rest): (u32, u32), pid: u32, port: u32, t: T) -> Run<T> {
        Run { addr, rest, pid, port, start: t, end: t }
    }

    /// The address's place in its arena.
    fn place(&self) -> usize {
        self.addr as usize / SHARDS
    }

    fn same_candidate(&self, other: &Run<T>) -> bool {
        self.addr == other.addr && self.rest == other.rest
    }
}

/// A run's time: seconds since the Unix epoch.
pub(super) trait Time: Copy + Ord + Into<i64> + Send {
    /// What orders an address's runs by candidate, socket and start.
    type Order: Ord;

    fn order(run: &Run<Self>) -> Self::Order;

    /// A time of 1970 to 2106 (a retired connection's start).
    fn of_secs(s: u32) -> Self;
}

impl Time for u32 {
    /// All four in one integer: one comparison where a tuple takes four.
    type Order = u128;

    #[inline]
    fn order(r: &Run<u32>) -> u128 {
        u128::from(r.rest) << 96 | u128::from(r.pid) << 64 | u128::from(r.port) << 32 | u128::from(r.start)
    }

    fn of_secs(s: u32) -> u32 {
        s
    }
}

impl Time for i64 {
    type Order = (u32, u32, u32, i64);

    fn order(r: &Run<i64>) -> Self::Order {
        (r.rest, r.pid, r.port, r.start)
    }

    fn of_secs(s: u32) -> i64 {
        i64::from(s)
    }
}

/// The runs of every candidate of an accumulator.
#[derive(Debug, Clone)]
pub(super) struct Runs<T> {
    shards: Vec<Arena<T>>,
}

impl<T> Default for Runs<T> {
    fn default() -> Self {
        Runs { shards: std::iter::repeat_with(Arena::default).take(SHARDS).collect() }
    }
}

impl<T: Time> Runs<T> {
    #[inline]
    pub fn push(&mut self, run: Run<T>) {
        self.shards[run.addr as usize % SHARDS].runs.push(run);
    }

    /// How many runs are kept (retired connections aside).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.runs.len()).sum()
    }

    /// How many connections are retired.
    #[cfg(test)]
    pub fn retired(&self) -> usize {
        self.shards.iter().flat_map(|s| &s.retired).map(RetiredBlock::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.runs.is_empty() && s.retired.is_empty())
    }

    /// Joins the arenas whose runs have doubled since they were last joined.
    pub fn settle(&mut self) {
        for shard in &mut self.shards {
            if shard.runs.len() >= 2 * shard.joined.max(1) {
                shard.join(1);
                // Room for exactly the runs until the next join, rather than the vector's
                // doubling on top of the doubling the joins allow.
                shard.runs.reserve_exact(shard.joined);
            }
        }
    }

    /// Takes in another accumulator's runs, its ids of the rest of a candidate's key mapped to
    /// ours by `rests`.
    pub fn append(&mut self, other: Runs<T>, rests: &[u32]) {
        for (mine, theirs) in self.shards.iter_mut().zip(other.shards) {
            mine.runs.reserve_exact(theirs.runs.len());
            mine.runs.extend(theirs.runs.into_iter().map(|r| Run { rest: rests[r.rest as usize], ..r }));
            mine.retired.extend(theirs.retired.iter().map(|b| b.remapped(SHARDS as u32, rests)));
        }
        // Not joined here: merging comes last, and the view's end joins every arena on all
        // cores.
    }

    /// `f` of each candidate that has at least `min` connections and the start of each of them,
    /// sorted; the arenas on all cores, each arena's results passed through `keep` (which may
    /// drop some), all in no particular order.
    pub fn connections<R: Send>(
        self,
        min: usize,
        f: impl Fn((u32, u32), &[i64]) -> Option<R> + Sync,
        keep: impl Fn(&mut Vec<R>) + Sync,
    ) -> Vec<R> {
        self.shards
            .into_par_iter()
            .flat_map_iter(|mut shard| {
                let mut times = Vec::new();
                let mut found = Vec::new();
                if shard.retired.is_empty() {
                    shard.join(min);
                    for group in shard.runs.chunk_by(Run::same_candidate) {
                        if group.len() >= min {
                            times.clear();
                            times.extend(group.iter().map(|r| r.start.into()));
                            times.sort_unstable();
                            found.extend(f((group[0].addr, group[0].rest), &times));
                        }
                    }
                    keep(&mut found);
                    return found;
                }
                // Every run counts here (one of a few connections may have retired ones), and
                // each is a connection of its own: no kept run can join a retired one.
                shard.join(1);
                let size = shard.runs.len() + shard.retired.iter().map(RetiredBlock::len).sum::<usize>();
                let mut all: Vec<Retired<T>> = Vec::with_capacity(size);
                for block in std::mem::take(&mut shard.retired) {
                    block.unpack(SHARDS as u32, |r| {
                        all.push(Retired { addr: r.addr, rest: r.rest, start: T::of_secs(r.start) });
                    });
                }
                all.extend(shard.runs.drain(..).map(|r| Retired { addr: r.addr, rest: r.rest, start: r.start }));
                all.sort_unstable_by_key(|r| (r.addr, r.rest, r.start));
                for group in all.chunk_by(|a, b| a.addr == b.addr && a.rest == b.rest) {
                    if group.len() >= min {
                        times.clear();
                        times.extend(group.iter().map(|r| r.start.into()));
                        found.extend(f((group[0].addr, group[0].rest), &times));
                    }
                }
                keep(&mut found);
                found
            })
            .collect()
    }
}

impl Runs<i64> {
    /// Takes in runs of the same candidates timed in `u32`.
    pub fn widen(&mut self, narrow: Runs<u32>) {
        let widen = |r: Run<u32>| Run {
            addr: r.addr,
            rest: r.rest,
            pid: r.pid,
            port: r.port,
            start: i64::from(r.start),
            end: i64::from(r.end),
        };
        for (mine, theirs) in self.shards.iter_mut().zip(narrow.shards) {
            mine.runs.extend(theirs.runs.into_iter().map(widen));
            mine.joined += theirs.joined;
            mine.retired.extend(theirs.retired);
        }
    }
}

impl Runs<u32> {
    /// Takes every run of `other`, which keeps none, their ids of the rest of a candidate's key
    /// mapped to ours by `rests` (the accumulators of one stream, gathered to retire).
    pub fn take_from(&mut self, other: &mut Runs<u32>, rests: &[u32]) {
        for (mine, theirs) in self.shards.iter_mut().zip(&mut other.shards) {
            mine.runs.extend(theirs.runs.drain(..).map(|r| Run { rest: rests[r.rest as usize], ..r }));
            theirs.joined = 0;
            mine.retired.extend(std::mem::take(&mut theirs.retired).iter().map(|b| b.remapped(SHARDS as u32, rests)));
        }
    }

    /// Joins every arena, then retires each run that ended more than the window before
    /// `latest[c]`, the latest row of its computer `c` (`computer_of` a rest id): a row at or
    /// after that time cannot join it. Returns, per computer, the time at or before which a
    /// row could still have joined a run retired now (the window after its end): a row that
    /// late comes out of time order, and the view must then be found again without retiring.
    pub fn retire(&mut self, computer_of: impl Fn(u32) -> usize + Sync, latest: &[i64]) -> Vec<i64> {
        let computers = latest.len();
        self.shards
            .par_iter_mut()
            .map(|shard| {
                let mut reach = vec![i64::MIN; computers];
                shard.join(1);
                let mut retired = Vec::new();
                let mut kept = 0;
                for i in 0..shard.runs.len() {
                    let run = shard.runs[i];
                    let c = computer_of(run.rest);
                    let end = i64::from(run.end) + STATE_CHANGE_WINDOW_S;
                    // A run within the window of 1970 or 2106 may join a run timed outside
                    // them, which is kept in another arena: it stays.
                    let inside = i64::from(run.start) >= STATE_CHANGE_WINDOW_S && end <= i64::from(u32::MAX);
                    if inside && latest.get(c).is_some_and(|&l| end < l) {
                        retired.push(Retired { addr: run.addr, rest: run.rest, start: run.start });
                        reach[c] = reach[c].max(end);
                    } else {
                        shard.runs[kept] = run;
                        kept += 1;
                    }
                }
                shard.runs.truncate(kept);
                shard.joined = kept;
                // The joined runs are by address: so are the connections retired.
                if !retired.is_empty() {
                    shard.retired.push(RetiredBlock::pack(&retired, SHARDS as u32));
                }
                reach
            })
            .reduce(|| vec![i64::MIN; computers], |a, b| a.into_iter().zip(b).map(|(x, y)| x.max(y)).collect())
    }
}

/// Runs of some candidates, how many there were when they were last joined, and the
/// connections retired from them.
#[derive(Debug, Clone)]
struct Arena<T> {
    runs: Vec<Run<T>>,
    joined: usize,
    retired: Vec<RetiredBlock>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena { runs: Vec::new(), joined: 0, retired: Vec::new() }
    }
}

impl<T: Time> Arena<T> {
    /// Each socket's runs joined where one begins within the window after the one before it
    /// ends: one run per connection, ordered by address, candidate, socket and start. Runs of
    /// addresses with fewer than `min` runs are dropped first: joining only lowers the count
    /// of each of their candidates.
    fn join(&mut self, min: usize) {
        let places = self.runs.iter().map(Run::place).max().map_or(0, |p| p + 1);
        let mut starts = vec![0usize; places + 1];
        for r in &self.runs {
            starts[r.place() + 1] += 1;
        }
        if min > 1 {
            self.runs.retain(|r| starts[r.place() + 1] >= min);
            starts.iter_mut().filter(|n| **n < min).for_each(|n| *n = 0);
        }
        for p in 0..places {
            starts[p + 1] += starts[p];
        }
        group_by_place(&mut self.runs, &starts);
        for w in starts.windows(2) {
            if w[1] - w[0] > 1 {
                self.runs[w[0]..w[1]].sort_unstable_by_key(T::order);
            }
        }
        self.runs.dedup_by(|run, kept| {
            let same = kept.same_candidate(run)
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

/// Puts each address's runs at `starts[p]..starts[p + 1]` (the prefix sums of their counts,
/// by place `p`), in place: an American flag sort on the place, one swap a misplaced run.
fn group_by_place<T: Copy>(runs: &mut [Run<T>], starts: &[usize]) {
    let mut next: Vec<usize> = starts.to_vec();
    for p in 0..starts.len().saturating_sub(1) {
        let end = starts[p + 1];
        while next[p] < end {
            let i = next[p];
            let home = runs[i].place();
            if home == p {
                next[p] += 1;
            } else {
                runs.swap(i, next[home]);
                next[home] += 1;
            }
        }
    }
}
