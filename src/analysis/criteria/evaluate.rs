//! Evaluation: flags over all rows in one pass, over rows a followed log just added, and the
//! checks of one row or one INITIAL mapping.
//!
//! Evaluation never runs a pattern once per row: each criterion is evaluated once per
//! distinct value of its field (module names, users, addresses, ports, PIDS blocks), and rows
//! are flagged with table look-ups in one parallel pass that also counts hits per value, so
//! per-criterion totals cost a sum over values, not another pass over rows.
//!
//! A row is flagged when a flag criterion matches it and no allow criterion does. Counts are
//! of what a person sees: a flag criterion counts the rows it matched that stay flagged; an
//! allow criterion counts the rows it cleared (rows a flag criterion matched); and
//! [`Evaluation::allowed_rows`] counts each cleared row once.

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::values::{Lookup, NONE, Offer, PORT_VALUES, SOURCES, Source, Table};
use super::{Compiled, CompiledSet, CriteriaSet, Effect, Field, Matcher};
use crate::analysis::address_list::ListEntry;
use crate::analysis::dns::HostNames;
use crate::analysis::index::{BlockId, NO_BLOCK, PidsIndex};
use crate::logs::set::LogSet;
use crate::model::{Modules, PortEvent, PortMapping, ProcessBlock};

/// What evaluation needs besides the criteria: the rows, their PIDS blocks, and names.
pub struct Context<'a> {
    pub set: &'a LogSet,
    pub index: &'a PidsIndex,
    /// From [`PidsIndex::row_blocks`].
    pub row_blocks: &'a [BlockId],
    pub hosts: &'a dyn HostNames,
}

impl<'a> Context<'a> {
    /// Where the PORTS log's ids are resolved.
    pub fn lookup(&self) -> Lookup<'a> {
        let log = &self.set.ports;
        Lookup {
            modules: &log.modules,
            users: &log.users,
            addrs: &log.addrs,
            files: &log.sources,
            computers: &log.computers,
            blocks: Some((self.set, self.index)),
            hosts: self.hosts,
        }
    }

    fn block(&self, row: usize) -> BlockId {
        self.row_blocks.get(row).copied().unwrap_or(NO_BLOCK)
    }
}

/// The outcome over all rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// One flag per row of the PORTS log: matched by a flag criterion and by no allow one.
    pub flagged: Vec<bool>,
    pub flagged_rows: usize,
    /// Rows a flag criterion matched that an allow criterion cleared, each once.
    pub allowed_rows: usize,
    /// Per criterion, by index in the criteria set: for a flag criterion the rows it matched
    /// that stay flagged, for an allow criterion the rows it cleared (0 for disabled or broken
    /// ones).
    pub per_criterion: Vec<usize>,
    /// Per INITIAL log of the set, one flag per port mapping.
    pub initial_flags: Vec<Vec<bool>>,
    /// The criteria this evaluation used, compiled, for the checks that follow it.
    pub compiled: Arc<CompiledSet>,
}

/// The ports that rows of the log use, local or remote, ascending: port criteria are checked
/// against these only, so that a criterion costs the log's ports, not all 65,536.
fn ports_in_use(log: &crate::logs::ports::PortsLog) -> Vec<u16> {
    let seen = log
        .events
        .par_chunks(ROWS_PER_STEP)
        .fold(
            || vec![false; PORT_VALUES],
            |mut seen, events| {
                for e in events {
                    seen[usize::from(e.local_port)] = true;
                    if let Some(r) = e.remote_port().num() {
                        seen[usize::from(r)] = true;
                    }
                }
                seen
            },
        )
        .reduce(
            || vec![false; PORT_VALUES],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x |= y);
                a
            },
        );
    (0..=u16::MAX).filter(|&p| seen[usize::from(p)]).collect()
}

/// Up to this many port criteria are checked against every port number; more, against the
/// ports in use only.
const FEW_PORT_CRITERIA: usize = 16;

/// The values of its field that one criterion matches, as ascending ids into that field's
/// table. A list, not a table of every value: with many criteria, tables of every value per
/// criterion would take gigabytes, while each criterion matches few values.
fn matching_values(c: &Compiled, lookup: &Lookup<'_>, ports: &[u16]) -> Vec<u32> {
    let table = c.field.table();
    match (table, &c.matcher) {
        (Table::Ports, Matcher::Ports(ranges)) => {
            let mut found: Vec<u32> = ranges
                .iter()
                .flat_map(|&(lo, hi)| {
                    let from = ports.partition_point(|&p| p < lo);
                    let to = ports.partition_point(|&p| p <= hi);
                    ports[from..to.max(from)].iter().map(|&p| u32::from(p))
                })
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        }
        (Table::Ports, _) => ports
            .iter()
            .filter(|&&p| c.test(table.value(lookup, usize::from(p)), lookup.hosts))
            .map(|&p| u32::from(p))
            .collect(),
        // Tens of thousands of blocks with dozens of modules each: the costly table, so split.
        // Blocks repeat the same few hundred module paths: each is matched once per thread.
        (Table::Blocks, _) => {
            let Some((set, index)) = lookup.blocks else {
                return Vec::new();
            };
            (0..index.len() as BlockId)
                .into_par_iter()
                .map_init(FxHashMap::<&str, bool>::default, |seen, id| {
                    let listed = match index.block(set, id).map(|b| &b.modules) {
                        Some(Modules::Listed(list)) => list,
                        _ => return None,
                    };
                    let hit =
                        listed.iter().any(|m| *seen.entry(m.path.as_str()).or_insert_with(|| c.matches_text(&m.path)));
                    hit.then_some(id)
                })
                .flatten()
                .collect()
        }
        // Split too: a long log may hold a million distinct addresses, each a list look-up.
        _ => (0..table.len(lookup))
            .into_par_iter()
            .with_min_len(VALUES_PER_TASK)
            .filter(|&id| c.test(table.value(lookup, id), lookup.hosts))
            .map(|id| id as u32)
            .collect(),
    }
}

/// Values of a table one task tests, at least: fewer are not worth a thread.
const VALUES_PER_TASK: usize = 1 << 12;

/// One criterion's matching values (see [`matching_values`]).
struct Matching {
    /// Index in the criteria set.
    index: usize,
    field: Field,
    effect: Effect,
    values: Vec<u32>,
}

/// Marks of matching values by id, per source a single-source field reads, and per pair of
/// sources an either-side field reads: the union of the criteria of one effect.
struct Marks {
    /// Empty for a source no criterion reads alone.
    slots: [Vec<bool>; SOURCES],
    pairs: Vec<Pair>,
}

/// The marks of the criteria reading either of two sources (local or remote).
struct Pair {
    sides: [Source; 2],
    marks: Vec<bool>,
}

impl Marks {
    fn build<'m>(matches: impl Iterator<Item = &'m Matching>, lookup: &Lookup<'_>) -> Marks {
        let mut t = Marks { slots: Default::default(), pairs: Vec::new() };
        for m in matches {
            let marks = match m.field.sources() {
                &[one] => &mut t.slots[one as usize],
                &[a, b, ..] => {
                    let at = match t.pairs.iter().position(|p| p.sides == [a, b]) {
                        Some(at) => at,
                        None => {
                            t.pairs.push(Pair { sides: [a, b], marks: Vec::new() });
                            t.pairs.len() - 1
                        }
                    };
                    &mut t.pairs[at].marks
                }
                [] => continue,
            };
            if marks.is_empty() {
                marks.resize(m.field.table().len(lookup), false);
            }
            for &v in &m.values {
                if let Some(mark) = marks.get_mut(v as usize) {
                    *mark = true;
                }
            }
        }
        t
    }

    fn is_empty(&self) -> bool {
        self.pairs.is_empty() && self.slots.iter().all(Vec::is_empty)
    }

    /// The sources read alone by some criterion.
    fn used(&self) -> Vec<Source> {
        Source::ALL.into_iter().filter(|s| !self.slots[*s as usize].is_empty()).collect()
    }

    /// Marks the rows of a run (`blocks` beside `events`) that some criterion matches, and
    /// counts a hit per value of each (none when `counts` is empty).
    fn scan(&self, used: &[Source], counts: &mut Counts, events: &[PortEvent], blocks: &[BlockId], out: &mut [bool]) {
        for &source in used {
            let marks = &self.slots[source as usize];
            let counts = counts.slots[source as usize].as_mut_slice();
            // One arm per source so that each loop reads its field directly.
            let read = |s: Source| move |e: &PortEvent| s.event_id(e);
            match source {
                Source::Block => scan_blocks(marks, counts, blocks, out),
                Source::Module => scan(marks, counts, events, out, read(Source::Module)),
                Source::User => scan(marks, counts, events, out, read(Source::User)),
                Source::LocalIp => scan(marks, counts, events, out, read(Source::LocalIp)),
                Source::RemoteIp => scan(marks, counts, events, out, read(Source::RemoteIp)),
                Source::LocalPort => scan(marks, counts, events, out, read(Source::LocalPort)),
                Source::RemotePort => scan(marks, counts, events, out, read(Source::RemotePort)),
                Source::Computer => scan(marks, counts, events, out, read(Source::Computer)),
            }
        }
        for (k, pair) in self.pairs.iter().enumerate() {
            let [a, b] = pair.sides;
            let mut counts = counts.pairs.get_mut(k);
            for (e, flag) in events.iter().zip(out.iter_mut()) {
                let (l, r) = (a.event_id(e), b.event_id(e));
                let mark = |v: usize| pair.marks.get(v).copied().unwrap_or(false);
                if mark(l) || mark(r) {
                    if let Some(counts) = counts.as_deref_mut() {
                        *counts.entry((l as u32, r as u32)).or_default() += 1;
                    }
                    *flag = true;
                }
            }
        }
    }

    /// Adds one row's hits to `counts` (`up`) or takes them away, value by value.
    fn count_row(&self, used: &[Source], counts: &mut Counts, e: &PortEvent, block: BlockId, up: bool) {
        let step = |n: &mut u32| *n = if up { *n + 1 } else { n.saturating_sub(1) };
        for &source in used {
            let id = source.row_id(e, block);
            if self.slots[source as usize].get(id).copied().unwrap_or(false)
                && let Some(n) = counts.slots[source as usize].get_mut(id)
            {
                step(n);
            }
        }
        for (pair, counts) in self.pairs.iter().zip(&mut counts.pairs) {
            let [a, b] = pair.sides;
            let (l, r) = (a.event_id(e), b.event_id(e));
            let mark = |v: usize| pair.marks.get(v).copied().unwrap_or(false);
            if mark(l) || mark(r) {
                step(counts.entry((l as u32, r as u32)).or_default());
            }
        }
    }

    /// Rows a criterion counted, from the hits per value.
    fn rows_matching(&self, counts: &Counts, pairs: &[EitherSide], m: &Matching) -> usize {
        match m.field.sources() {
            &[one] => {
                let counts = &counts.slots[one as usize];
                m.values.iter().map(|&v| counts.get(v as usize).copied().unwrap_or(0) as usize).sum()
            }
            &[a, b, ..] => self
                .pairs
                .iter()
                .position(|p| p.sides == [a, b])
                .and_then(|at| pairs.get(at))
                .map_or(0, |p| p.rows_matching(&m.values)),
            [] => 0,
        }
    }
}

/// Counted rows by value in each used slot, and by (local, remote) pair for each either-side
/// pair of sources.
#[derive(Default)]
struct Counts {
    slots: [Vec<u32>; SOURCES],
    pairs: Vec<FxHashMap<(u32, u32), u32>>,
}

impl Counts {
    fn sized_like(t: &Marks) -> Counts {
        Counts {
            slots: t.slots.clone().map(|table| vec![0; table.len()]),
            pairs: vec![FxHashMap::default(); t.pairs.len()],
        }
    }

    fn add(&mut self, other: Counts) {
        for (a, b) in self.slots.iter_mut().zip(other.slots) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        for (a, b) in self.pairs.iter_mut().zip(other.pairs) {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
        }
    }
}

/// What the pass over the rows counts, per thread: hits of flag criteria on rows that stay
/// flagged, hits of allow criteria on rows they cleared, and both totals.
struct Hits {
    flag: Counts,
    allow: Counts,
    flagged: usize,
    allowed: usize,
}

impl Hits {
    fn sized_like(flag: &Marks, allow: &Marks) -> Hits {
        Hits { flag: Counts::sized_like(flag), allow: Counts::sized_like(allow), flagged: 0, allowed: 0 }
    }

    fn add(mut self, other: Hits) -> Hits {
        self.flag.add(other.flag);
        self.allow.add(other.allow);
        self.flagged += other.flagged;
        self.allowed += other.allowed;
        self
    }
}

/// Rows per pass step: large enough to amortise a step, small enough to balance two cores.
const ROWS_PER_STEP: usize = 1 << 16;

/// Rows one slot's loop covers before the next slot's: about 360 KB of rows, read once from
/// memory and then from cache by the other slots.
const ROWS_PER_SCAN: usize = 1 << 13;

/// Flags the rows whose value (`value`; [`NONE`] for none) is marked in `table` and counts
/// a hit per value (when `counts` is not empty). Without a branch on the match: which rows
/// match follows no pattern, and mispredicted branches cost more than counting zeros.
#[inline(always)]
fn scan(
    table: &[bool],
    counts: &mut [u32],
    events: &[PortEvent],
    flags: &mut [bool],
    value: impl Fn(&PortEvent) -> usize,
) {
    for (e, flag) in events.iter().zip(flags.iter_mut()) {
        let v = value(e);
        let hit = table.get(v).copied().unwrap_or(false);
        if let Some(n) = counts.get_mut(v) {
            *n += u32::from(hit);
        }
        *flag |= hit;
    }
}

/// [`scan`] for the rows' PIDS blocks, which live beside the rows rather than in them.
fn scan_blocks(table: &[bool], counts: &mut [u32], blocks: &[BlockId], flags: &mut [bool]) {
    for (&b, flag) in blocks.iter().zip(flags.iter_mut()) {
        let hit = table.get(b as usize).copied().unwrap_or(false);
        if let Some(n) = counts.get_mut(b as usize) {
            *n += u32::from(hit);
        }
        *flag |= hit;
    }
}

/// Flags every row matching at least one enabled, valid flag criterion and no allow
/// criterion, and counts rows per criterion.
pub fn evaluate(criteria: &CriteriaSet, ctx: &Context<'_>) -> Evaluation {
    evaluate_compiled(Arc::new(CompiledSet::new(criteria)), ctx)
}

/// [`evaluate`] with criteria compiled already.
///
/// One pass over the rows flags them and counts: a row looks up its values in the union of
/// the criteria's matches and counts a hit against the value, so per-criterion totals are sums
/// over each criterion's matching values afterwards. The rows are only read once, which is
/// what costs on millions of them. With allow criteria, each run of rows is then checked
/// against their union, and a row they clear has its hits taken back from the flag criteria's
/// counts and given to the allow criteria's.
pub fn evaluate_compiled(compiled: Arc<CompiledSet>, ctx: &Context<'_>) -> Evaluation {
    let log = &ctx.set.ports;
    let lookup = ctx.lookup();
    let port_criteria = compiled.compiled.iter().filter(|(_, c)| c.field.is_port()).count();
    let ports: Vec<u16> = match port_criteria {
        0 => Vec::new(),
        // A few criteria cost less checked against every port than a pass over all rows.
        1..=FEW_PORT_CRITERIA => (0..=u16::MAX).collect(),
        _ => ports_in_use(log),
    };
    let matches: Vec<Matching> = compiled
        .compiled
        .par_iter()
        .map(|(i, c)| Matching {
            index: *i,
            field: c.field,
            effect: c.effect,
            values: matching_values(c, &lookup, &ports),
        })
        .collect();
    let of = |effect: Effect| matches.iter().filter(move |m| m.effect == effect);
    let flag = Marks::build(of(Effect::Flag), &lookup);
    let allow = Marks::build(of(Effect::Allow), &lookup);
    let (flag_used, allow_used) = (flag.used(), allow.used());

    let mut flagged = vec![false; log.events.len()];
    let hits = log
        .events
        .par_chunks(ROWS_PER_STEP)
        .zip(flagged.par_chunks_mut(ROWS_PER_STEP))
        .enumerate()
        .fold(
            || (Hits::sized_like(&flag, &allow), Vec::new()),
            |(mut h, mut allowed), (step, (events, out))| {
                let first = step * ROWS_PER_STEP;
                let blocks = ctx.row_blocks.get(first..).unwrap_or(&[]);
                // Slot by slot over a run of rows that stays in cache: each slot's loop is
                // then a tight one of its own, with no choice of field per row.
                for ((events, out), start) in
                    events.chunks(ROWS_PER_SCAN).zip(out.chunks_mut(ROWS_PER_SCAN)).zip((0..).step_by(ROWS_PER_SCAN))
                {
                    let blocks = blocks.get(start..).unwrap_or(&[]);
                    flag.scan(&flag_used, &mut h.flag, events, blocks, out);
                    if !allow.is_empty() {
                        allowed.clear();
                        allowed.resize(events.len(), false);
                        allow.scan(&allow_used, &mut Counts::default(), events, blocks, &mut allowed);
                        for (i, (e, flag_row)) in events.iter().zip(out.iter_mut()).enumerate() {
                            if *flag_row && allowed[i] {
                                let block = blocks.get(i).copied().unwrap_or(NO_BLOCK);
                                flag.count_row(&flag_used, &mut h.flag, e, block, false);
                                allow.count_row(&allow_used, &mut h.allow, e, block, true);
                                *flag_row = false;
                                h.allowed += 1;
                            }
                        }
                    }
                    h.flagged += out.iter().filter(|f| **f).count();
                }
                (h, allowed)
            },
        )
        .map(|(h, _)| h)
        .reduce(|| Hits::sized_like(&flag, &allow), Hits::add);

    let flag_pairs: Vec<EitherSide> = hits.flag.pairs.iter().map(EitherSide::new).collect();
    let allow_pairs: Vec<EitherSide> = hits.allow.pairs.iter().map(EitherSide::new).collect();
    let mut per_criterion = vec![0; compiled.source.criteria.len()];
    for m in &matches {
        per_criterion[m.index] = match m.effect {
            Effect::Flag => flag.rows_matching(&hits.flag, &flag_pairs, m),
            Effect::Allow => allow.rows_matching(&hits.allow, &allow_pairs, m),
        };
    }
    let initial_flags = initial_flags(&compiled, ctx);
    Evaluation {
        flagged,
        flagged_rows: hits.flagged,
        allowed_rows: hits.allowed,
        per_criterion,
        initial_flags,
        compiled,
    }
}

/// One flag per port mapping of each INITIAL log of the set: those logs are small (a
/// snapshot), so they are evaluated whole every time.
fn initial_flags(compiled: &CompiledSet, ctx: &Context<'_>) -> Vec<Vec<bool>> {
    ctx.set
        .initials
        .iter()
        .map(|log| {
            let computers = &ctx.set.ports.computers;
            let computer = computers.name(computers.of_file(&log.path));
            log.mappings
                .par_iter()
                .map(|m| {
                    let block = log.blocks.iter().find(|b| b.pid == m.pid);
                    explain_mapping(compiled, m, block, computer, ctx.hosts).flagged()
                })
                .collect()
        })
        .collect()
}

/// Counted rows of an either-side field (IP, port) by their (local, remote) values, for
/// counting a criterion's rows from its matching values alone: rows with a matching local
/// value, plus rows with a matching remote value, less rows with both (counted twice).
struct EitherSide {
    by_local: FxHashMap<u32, Vec<(u32, usize)>>,
    local: FxHashMap<u32, usize>,
    remote: FxHashMap<u32, usize>,
}

impl EitherSide {
    /// From rows counted by (local, remote) ids; a side without a value has an id no
    /// criterion matches.
    fn new(pairs: &FxHashMap<(u32, u32), u32>) -> EitherSide {
        let mut e =
            EitherSide { by_local: FxHashMap::default(), local: FxHashMap::default(), remote: FxHashMap::default() };
        for (&(l, r), &n) in pairs {
            let n = n as usize;
            e.by_local.entry(l).or_default().push((r, n));
            *e.local.entry(l).or_default() += n;
            *e.remote.entry(r).or_default() += n;
        }
        e
    }

    /// Rows whose local or remote value is one of `values` (ascending).
    fn rows_matching(&self, values: &[u32]) -> usize {
        let has = |v: u32| values.binary_search(&v).is_ok();
        values
            .iter()
            .map(|v| {
                let both: usize =
                    self.by_local.get(v).map_or(0, |list| list.iter().filter(|(r, _)| has(*r)).map(|(_, n)| n).sum());
                self.local.get(v).copied().unwrap_or(0) + self.remote.get(v).copied().unwrap_or(0) - both
            })
            .sum()
    }
}

/// One criterion a row or a mapping matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Index in the criteria set.
    pub criterion: usize,
    /// For a list criterion, the list entry that matched (`203.0.113.0/24 — bad.netset line
    /// 213`).
    pub entry: Option<ListEntry>,
}

/// What the criteria say of one row or mapping, for its notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub flagged_by: Vec<Match>,
    pub allowed_by: Vec<Match>,
}

impl Verdict {
    /// Red: a flag criterion matched and no allow criterion did.
    pub fn flagged(&self) -> bool {
        !self.flagged_by.is_empty() && self.allowed_by.is_empty()
    }

    /// Cleared: a flag criterion matched and an allow criterion too.
    pub fn cleared(&self) -> bool {
        !self.flagged_by.is_empty() && !self.allowed_by.is_empty()
    }

    fn of(criteria: &CompiledSet, offer: &Offer<'_>, hosts: &dyn HostNames) -> Verdict {
        let mut verdict = Verdict::default();
        for (i, c) in criteria.compiled.iter().filter(|(_, c)| c.matches(offer, hosts)) {
            let found = Match { criterion: *i, entry: c.entry(offer) };
            match c.effect {
                Effect::Flag => verdict.flagged_by.push(found),
                Effect::Allow => verdict.allowed_by.push(found),
            }
        }
        verdict
    }

    /// The flag criteria of a row that stays flagged; none for a row that is not.
    fn flagging(self) -> Vec<usize> {
        if self.flagged() { self.flagged_by.into_iter().map(|m| m.criterion).collect() } else { Vec::new() }
    }
}

/// Which criteria match one row and why (with the list entries), flag and allow criteria
/// apart; a row past the end matches none.
pub fn explain_row(criteria: &CompiledSet, ctx: &Context<'_>, row: usize) -> Verdict {
    match ctx.set.ports.events.get(row) {
        Some(e) => Verdict::of(criteria, &Offer::of_row(&ctx.lookup(), e, ctx.block(row)), ctx.hosts),
        None => Verdict::default(),
    }
}

/// [`explain_row`] for a PR-INITIAL mapping of `computer`; `block` is that process's block in the
/// same log.
pub fn explain_mapping(
    criteria: &CompiledSet,
    mapping: &PortMapping,
    block: Option<&ProcessBlock>,
    computer: &str,
    hosts: &dyn HostNames,
) -> Verdict {
    Verdict::of(criteria, &Offer::of_mapping(mapping, block, computer), hosts)
}

/// The criteria (indices into the set) that flag one row, for the notification shown when
/// the row is opened: none when the row is not flagged (no flag criterion matched, or an
/// allow criterion cleared it).
pub fn matching_criteria(criteria: &CriteriaSet, ctx: &Context<'_>, row: usize) -> Vec<usize> {
    matching_criteria_compiled(&CompiledSet::new(criteria), ctx, row)
}

/// [`matching_criteria`] with criteria compiled already.
pub fn matching_criteria_compiled(criteria: &CompiledSet, ctx: &Context<'_>, row: usize) -> Vec<usize> {
    explain_row(criteria, ctx, row).flagging()
}

/// The criteria (indices into the set) that flag a PR-INITIAL mapping (as
/// [`matching_criteria`]); `block` is that process's block in the same log (for module paths
/// and the user).
pub fn matching_mapping(
    criteria: &CriteriaSet,
    mapping: &PortMapping,
    block: Option<&ProcessBlock>,
    computer: &str,
    hosts: &dyn HostNames,
) -> Vec<usize> {
    matching_mapping_compiled(&CompiledSet::new(criteria), mapping, block, computer, hosts)
}

/// [`matching_mapping`] with criteria compiled already.
pub fn matching_mapping_compiled(
    criteria: &CompiledSet,
    mapping: &PortMapping,
    block: Option<&ProcessBlock>,
    computer: &str,
    hosts: &dyn HostNames,
) -> Vec<usize> {
    explain_mapping(criteria, mapping, block, computer, hosts).flagging()
}

impl Evaluation {
    /// Joins the evaluation of rows that follow the ones this one covers (see
    /// [`evaluate_rows`]).
    pub fn add(&mut self, later: Evaluation) {
        self.flagged.extend(later.flagged);
        self.flagged_rows += later.flagged_rows;
        self.allowed_rows += later.allowed_rows;
        if self.per_criterion.len() < later.per_criterion.len() {
            self.per_criterion.resize(later.per_criterion.len(), 0);
        }
        self.per_criterion.iter_mut().zip(later.per_criterion).for_each(|(a, b)| *a += b);
        // The later evaluation saw every INITIAL log of the grown set.
        self.initial_flags = later.initial_flags;
        self.compiled = later.compiled;
    }
}

/// Evaluates only the rows in `range` (rows a followed log just added), with the outcome
/// [`evaluate`] gives for them: their flags, in order, and their counts per criterion. Each
/// criterion runs once per distinct value of those rows, not of the whole log, so a poll's
/// rows cost little however long the log has grown; [`Evaluation::add`] joins the result.
pub fn evaluate_rows(compiled: Arc<CompiledSet>, ctx: &Context<'_>, range: std::ops::Range<usize>) -> Evaluation {
    let rows = ctx.set.ports.events.get(range.clone()).unwrap_or(&[]);
    let mut flagged = vec![false; rows.len()];
    let mut per_criterion = vec![0; compiled.source.criteria.len()];
    let mut known: Vec<FxHashMap<usize, bool>> = vec![FxHashMap::default(); compiled.compiled.len()];
    let allowed_rows = flag_rows(
        &compiled,
        &ctx.lookup(),
        rows,
        |j| ctx.block(range.start + j),
        &mut known,
        &mut Scratch::default(),
        &mut flagged,
        &mut per_criterion,
    );
    let flagged_rows = flagged.iter().filter(|f| **f).count();
    let initial_flags = initial_flags(&compiled, ctx);
    Evaluation { flagged, flagged_rows, allowed_rows, per_criterion, initial_flags, compiled }
}

/// Flags `rows` (`block(j)`: row `j`'s PIDS block) into `flags` (or'ed in; rows an allow
/// criterion clears are left as they were) and adds to `per_criterion` (by index in the
/// criteria set, as [`Evaluation::per_criterion`]): a flag criterion's rows that stay flagged,
/// an allow criterion's rows it cleared. Returns the rows cleared. `known` holds each compiled
/// criterion's answers by value id. Criterion by criterion, so each loop is a tight one.
#[allow(clippy::too_many_arguments)]
fn flag_rows<M: Memo>(
    compiled: &CompiledSet,
    lookup: &Lookup<'_>,
    rows: &[PortEvent],
    block: impl Fn(usize) -> BlockId,
    known: &mut [M],
    scratch: &mut Scratch,
    flags: &mut [bool],
    per_criterion: &mut [usize],
) -> usize {
    let has_allow = compiled.compiled.iter().any(|(_, c)| c.effect == Effect::Allow);
    let allowed = &mut scratch.allowed;
    allowed.clear();
    allowed.resize(rows.len(), false);
    if has_allow {
        for ((_, c), known) in
            compiled.compiled.iter().zip(known.iter_mut()).filter(|((_, c), _)| c.effect == Effect::Allow)
        {
            for (j, (e, allow)) in rows.iter().zip(allowed.iter_mut()).enumerate() {
                *allow = *allow || row_matches(c, lookup, e, block(j), known);
            }
        }
    }
    let cleared = &mut scratch.cleared;
    cleared.clear();
    cleared.resize(rows.len(), false);
    for ((i, c), known) in compiled.compiled.iter().zip(known.iter_mut()).filter(|((_, c), _)| c.effect == Effect::Flag)
    {
        let mut hits = 0;
        for (j, (e, flag)) in rows.iter().zip(flags.iter_mut()).enumerate() {
            if row_matches(c, lookup, e, block(j), known) {
                if allowed[j] {
                    cleared[j] = true;
                } else {
                    hits += 1;
                    *flag = true;
                }
            }
        }
        if let Some(n) = per_criterion.get_mut(*i) {
            *n += hits;
        }
    }
    let cleared_rows = cleared.iter().filter(|c| **c).count();
    if cleared_rows > 0 {
        for ((i, c), known) in
            compiled.compiled.iter().zip(known.iter_mut()).filter(|((_, c), _)| c.effect == Effect::Allow)
        {
            let hits =
                (0..rows.len()).filter(|&j| cleared[j] && row_matches(c, lookup, &rows[j], block(j), known)).count();
            if let Some(n) = per_criterion.get_mut(*i) {
                *n += hits;
            }
        }
    }
    cleared_rows
}

/// Per-row buffers of [`flag_rows`], kept between batches.
#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Matched by an allow criterion.
    allowed: Vec<bool>,
    /// Matched by a flag criterion and an allow criterion.
    cleared: Vec<bool>,
}

/// Whether a row matches one criterion, remembering the answer per value id in `known`
/// (ids of the criterion's one table: the memo serves one criterion).
#[inline(always)]
fn row_matches(c: &Compiled, lookup: &Lookup<'_>, e: &PortEvent, block: BlockId, known: &mut impl Memo) -> bool {
    let table = c.field.table();
    c.field.sources().iter().any(|&s| {
        let id = s.row_id(e, block);
        id != NONE && known.decide(id, || c.test(table.value(lookup, id), lookup.hosts))
    })
}

/// One criterion's answers by value id.
trait Memo {
    fn decide(&mut self, id: usize, test: impl FnOnce() -> bool) -> bool;
}

/// For the few distinct values of a poll's rows.
impl Memo for FxHashMap<usize, bool> {
    fn decide(&mut self, id: usize, test: impl FnOnce() -> bool) -> bool {
        *self.entry(id).or_insert_with(test)
    }
}

/// For every value of a whole stream: a byte per id (0 not asked, 1 no, 2 yes), grown with the
/// table, so a row costs an index rather than a hash.
#[derive(Debug, Clone, Default)]
struct Decided(Vec<u8>);

impl Memo for Decided {
    #[inline(always)]
    fn decide(&mut self, id: usize, test: impl FnOnce() -> bool) -> bool {
        if self.0.len() <= id {
            self.0.resize(id + 1, 0);
        }
        match self.0[id] {
            0 => {
                let yes = test();
                self.0[id] = 1 + u8::from(yes);
                yes
            }
            known => known == 2,
        }
    }
}

/// Flags rows handed over a batch at a time — a log streamed block by block, which keeps no
/// rows — with the outcome [`evaluate`] gives for them. Each criterion decides each distinct
/// value of its field once for the whole stream: answers are kept by value id, and ids stay
/// valid while the log's tables grow between batches.
#[derive(Debug, Clone)]
pub struct RowFlags {
    compiled: Arc<CompiledSet>,
    /// Per compiled criterion, in the order of `compiled.compiled`.
    decided: Vec<Decided>,
    scratch: Scratch,
}

impl RowFlags {
    pub fn new(compiled: Arc<CompiledSet>) -> RowFlags {
        let decided = vec![Decided::default(); compiled.compiled.len()];
        RowFlags { compiled, decided, scratch: Scratch::default() }
    }

    pub fn compiled(&self) -> &Arc<CompiledSet> {
        &self.compiled
    }

    /// Flags `rows` into `flags` (one per row, or'ed in; rows an allow criterion clears are
    /// left as they were) and adds to `per_criterion` (by index in the criteria set, as
    /// [`Evaluation::per_criterion`]: rows that stay flagged for a flag criterion, rows it
    /// cleared for an allow criterion). Returns the rows allow criteria cleared (each once).
    /// `blocks` holds each row's PIDS block ([`NO_BLOCK`] or missing: none). The rows' ids are
    /// those of `ctx.set.ports`'s tables as they are now; `ctx.row_blocks` is not read.
    pub fn flag(
        &mut self,
        ctx: &Context<'_>,
        rows: &[PortEvent],
        blocks: &[BlockId],
        flags: &mut [bool],
        per_criterion: &mut [usize],
    ) -> usize {
        flag_rows(
            &self.compiled,
            &ctx.lookup(),
            rows,
            |j| blocks.get(j).copied().unwrap_or(NO_BLOCK),
            &mut self.decided,
            &mut self.scratch,
            flags,
            per_criterion,
        )
    }
}
