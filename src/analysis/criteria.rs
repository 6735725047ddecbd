//! Criteria: what makes a row worth a red highlight and a notification.
//!
//! A criterion looks at one field of a row with one kind of pattern:
//! - **exact**: the whole value, without regard to case for names (Windows file and account
//!   names are case-insensitive); an IP or port compared as a value (`::1` equals `0:0::1`);
//! - **wildcard**: `*` and `?`, case-insensitive, over the whole value's text;
//! - **regex**: Rust regex syntax, unanchored, case-sensitive unless the pattern says `(?i)`;
//!   compiled with a size limit so a pathological pattern is refused, not run;
//! - **cidr**: for IP fields, `10.0.0.0/8` or `2001:db8::/32`;
//! - **range**: for port fields, a list like `135-139,445,3389`.
//!
//! Evaluation never runs a pattern once per row: each criterion is evaluated once per
//! distinct value of its field (module names, users, addresses, ports, PIDS blocks, host
//! names), and rows are flagged with table look-ups in one parallel pass that also counts hits
//! per value, so per-criterion totals cost a sum over values, not another pass over rows.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use rayon::prelude::*;
use regex::{Regex, RegexBuilder};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::analysis::dns::HostNames;
use crate::analysis::index::{BlockId, NO_BLOCK, PidsIndex};
use crate::logs::set::LogSet;
use crate::model::{Address, Modules, PortEvent, ProcessBlock};

/// The field of a row a criterion looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The row's module (process image name).
    Module,
    /// Any loaded module path of the row's PIDS block (suspicious DLLs, drivers, folders).
    ModulePath,
    RemoteIp,
    LocalIp,
    /// Local or remote IP.
    Ip,
    RemotePort,
    LocalPort,
    /// Local or remote port.
    Port,
    User,
    /// The remote IP's name from the DNS cache.
    HostName,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::Module,
        Field::ModulePath,
        Field::RemoteIp,
        Field::LocalIp,
        Field::Ip,
        Field::RemotePort,
        Field::LocalPort,
        Field::Port,
        Field::User,
        Field::HostName,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::Module => "module",
            Field::ModulePath => "module path",
            Field::RemoteIp => "remote IP",
            Field::LocalIp => "local IP",
            Field::Ip => "IP (local or remote)",
            Field::RemotePort => "remote port",
            Field::LocalPort => "local port",
            Field::Port => "port (local or remote)",
            Field::User => "user",
            Field::HostName => "host name",
        }
    }

    fn is_ip(self) -> bool {
        matches!(self, Field::RemoteIp | Field::LocalIp | Field::Ip)
    }

    fn is_port(self) -> bool {
        matches!(self, Field::RemotePort | Field::LocalPort | Field::Port)
    }
}

/// How a criterion's pattern is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    Exact,
    Wildcard,
    Regex,
    Cidr,
    Range,
}

impl MatchKind {
    pub const ALL: [MatchKind; 5] =
        [MatchKind::Exact, MatchKind::Wildcard, MatchKind::Regex, MatchKind::Cidr, MatchKind::Range];

    pub fn label(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Wildcard => "wildcard",
            MatchKind::Regex => "regex",
            MatchKind::Cidr => "CIDR",
            MatchKind::Range => "port range",
        }
    }
}

/// One criterion as a person writes it and as the JSON file stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    pub name: String,
    pub field: Field,
    #[serde(rename = "match", default = "default_kind")]
    pub kind: MatchKind,
    pub pattern: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Shown in the notification when a flagged row is opened.
    #[serde(default)]
    pub message: String,
}

fn default_kind() -> MatchKind {
    MatchKind::Exact
}

fn default_true() -> bool {
    true
}

/// Why a criterion cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CriterionError {
    #[error("invalid regular expression: {0}")]
    Regex(String),
    #[error("invalid CIDR {0:?} (expected e.g. 10.0.0.0/8 or 2001:db8::/32)")]
    Cidr(String),
    #[error("invalid port range {0:?} (expected e.g. 135-139,445)")]
    Range(String),
    #[error("a {kind} pattern does not apply to the {field} field")]
    KindForField { kind: &'static str, field: &'static str },
    #[error("empty pattern")]
    Empty,
}

/// Regex programs larger than this are refused (the regex crate runs in linear time, but a
/// pattern like `(a{1000}){1000}` would still take memory and time to build).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone)]
enum Matcher {
    /// Lower-cased text, compared to lower-cased values.
    ExactText(String),
    ExactIp(IpAddr),
    Ports(Vec<(u16, u16)>),
    Net(IpNet),
    Pattern(Regex),
}

/// A criterion ready to be evaluated.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub field: Field,
    matcher: Matcher,
}

impl Criterion {
    pub fn compile(&self) -> Result<Compiled, CriterionError> {
        let pattern = self.pattern.trim();
        if pattern.is_empty() {
            return Err(CriterionError::Empty);
        }
        let wrong = || CriterionError::KindForField { kind: self.kind.label(), field: self.field.label() };
        let matcher = match self.kind {
            MatchKind::Exact if self.field.is_port() => Matcher::Ports(parse_ranges(pattern)?),
            MatchKind::Exact if self.field.is_ip() => match pattern.trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => Matcher::ExactIp(ip),
                Err(_) => Matcher::ExactText(pattern.to_lowercase()),
            },
            MatchKind::Exact => Matcher::ExactText(pattern.to_lowercase()),
            MatchKind::Wildcard => Matcher::Pattern(build_regex(&wildcard_to_regex(pattern))?),
            MatchKind::Regex => Matcher::Pattern(build_regex(pattern)?),
            MatchKind::Cidr if self.field.is_ip() => {
                Matcher::Net(parse_net(pattern).ok_or_else(|| CriterionError::Cidr(pattern.to_string()))?)
            }
            MatchKind::Range if self.field.is_port() => Matcher::Ports(parse_ranges(pattern)?),
            MatchKind::Cidr | MatchKind::Range => return Err(wrong()),
        };
        Ok(Compiled { field: self.field, matcher })
    }
}

fn build_regex(pattern: &str) -> Result<Regex, CriterionError> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| CriterionError::Regex(e.to_string()))
}

/// `*` and `?` as in a file name, the whole value matched. Leading and trailing stars become an
/// unanchored end rather than `.*`, which lets the regex engine search for the literal part
/// directly (`*\\Temp\\*` over a million module paths: several times faster).
fn wildcard_to_regex(pattern: &str) -> String {
    let core = pattern.trim_start_matches('*');
    let open_start = core.len() < pattern.len();
    let trimmed = core.trim_end_matches('*');
    let open_end = trimmed.len() < core.len();
    let mut re = String::from(if open_start { "(?is)" } else { "(?is)^" });
    for c in trimmed.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    if !open_end {
        re.push('$');
    }
    re
}

/// `10.0.0.0/8`, or a bare address as a single-host network.
fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>().ok().map(|n| n.trunc()).or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn parse_ranges(text: &str) -> Result<Vec<(u16, u16)>, CriterionError> {
    let bad = || CriterionError::Range(text.to_string());
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
            let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
            if lo > hi { Err(bad()) } else { Ok((lo, hi)) }
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|v| if v.is_empty() { Err(bad()) } else { Ok(v) })
}

impl Compiled {
    pub fn matches_text(&self, value: &str) -> bool {
        match &self.matcher {
            Matcher::ExactText(t) => value.to_lowercase() == *t,
            Matcher::Pattern(re) => re.is_match(value),
            Matcher::ExactIp(_) | Matcher::Net(_) | Matcher::Ports(_) => false,
        }
    }

    pub fn matches_addr(&self, addr: Address) -> bool {
        match (&self.matcher, addr) {
            (Matcher::ExactIp(want), Address::Ip(ip)) => canonical(ip) == canonical(*want),
            (Matcher::Net(net), Address::Ip(ip)) => net.contains(&canonical(ip)) || net.contains(&ip),
            (Matcher::ExactIp(_) | Matcher::Net(_), _) => false,
            _ => self.matches_text(&addr.to_string()),
        }
    }

    pub fn matches_port(&self, port: Option<u16>) -> bool {
        match &self.matcher {
            Matcher::Ports(ranges) => port.is_some_and(|p| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&p))),
            _ => port.is_some_and(|p| self.matches_text(&p.to_string())),
        }
    }

    pub fn matches_block(&self, block: &ProcessBlock) -> bool {
        match &block.modules {
            Modules::Listed(list) => list.iter().any(|m| self.matches_text(&m.path)),
            Modules::NotAccessible | Modules::Absent => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) compare as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A criterion that cannot be used: its index in the set and why.
pub type Broken = (usize, CriterionError);

/// A criteria file: `{"criteria": [...]}`, or a bare list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriteriaSet {
    pub criteria: Vec<Criterion>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CriteriaFile {
    Wrapped(CriteriaSet),
    Bare(Vec<Criterion>),
}

/// Criteria files larger than this are refused: a hostile file should not exhaust memory.
pub const MAX_CRITERIA_FILE_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CriteriaFileError {
    #[error("cannot read criteria file {}: {source}", path.display())]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("criteria file {} is not valid criteria JSON: {source}", path.display())]
    Json { path: std::path::PathBuf, source: serde_json::Error },
    #[error("criteria file {} is larger than {} MiB", path.display(), MAX_CRITERIA_FILE_BYTES >> 20)]
    TooLarge { path: std::path::PathBuf },
}

impl CriteriaSet {
    pub fn from_json(text: &str) -> Result<CriteriaSet, serde_json::Error> {
        Ok(match serde_json::from_str::<CriteriaFile>(text)? {
            CriteriaFile::Wrapped(set) => set,
            CriteriaFile::Bare(criteria) => CriteriaSet { criteria },
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| String::from("{\"criteria\":[]}"))
    }

    pub fn load(path: &Path) -> Result<CriteriaSet, CriteriaFileError> {
        let io = |source| CriteriaFileError::Io { path: path.into(), source };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_CRITERIA_FILE_BYTES {
            return Err(CriteriaFileError::TooLarge { path: path.into() });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        CriteriaSet::from_json(&text).map_err(|source| CriteriaFileError::Json { path: path.into(), source })
    }

    pub fn save(&self, path: &Path) -> Result<(), CriteriaFileError> {
        std::fs::write(path, self.to_json()).map_err(|source| CriteriaFileError::Io { path: path.into(), source })
    }

    /// Compiles the enabled criteria; the broken ones come back with their index and error
    /// (and are left out of evaluation).
    pub fn compile(&self) -> (Vec<(usize, Compiled)>, Vec<Broken>) {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for (i, c) in self.criteria.iter().enumerate().filter(|(_, c)| c.enabled) {
            match c.compile() {
                Ok(m) => ok.push((i, m)),
                Err(e) => bad.push((i, e)),
            }
        }
        (ok, bad)
    }
}

/// A criteria set compiled once for every check that uses it: evaluation, the notification of
/// an opened row, the INITIAL view's flags and the editor's messages. Compiling is the costly
/// part with many criteria, so it happens once per change of the set, never per row or frame.
#[derive(Debug, Default)]
pub struct CompiledSet {
    /// The criteria as they were when compiled.
    pub source: CriteriaSet,
    pub compiled: Vec<(usize, Compiled)>,
    pub broken: Vec<Broken>,
}

impl CompiledSet {
    pub fn new(source: &CriteriaSet) -> CompiledSet {
        let (compiled, broken) = source.compile();
        CompiledSet { source: source.clone(), compiled, broken }
    }

    /// Why criterion `index` cannot be used, when it is enabled and broken.
    pub fn error(&self, index: usize) -> Option<&CriterionError> {
        self.broken.binary_search_by_key(&index, |(i, _)| *i).ok().map(|k| &self.broken[k].1)
    }
}

/// Two compilations of the same criteria are the same.
impl PartialEq for CompiledSet {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for CompiledSet {}

/// What evaluation needs besides the criteria: the rows, their PIDS blocks, and names.
pub struct Context<'a> {
    pub set: &'a LogSet,
    pub index: &'a PidsIndex,
    /// From [`PidsIndex::row_blocks`].
    pub row_blocks: &'a [BlockId],
    pub hosts: &'a dyn HostNames,
}

/// The outcome over all rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// One flag per row of the PORTS log.
    pub flagged: Vec<bool>,
    pub flagged_rows: usize,
    /// Rows matched per criterion, by index in the criteria set (0 for disabled or broken ones).
    pub per_criterion: Vec<usize>,
    /// Per INITIAL log of the set, one flag per port mapping.
    pub initial_flags: Vec<Vec<bool>>,
    /// The criteria this evaluation used, compiled, for the checks that follow it.
    pub compiled: std::sync::Arc<CompiledSet>,
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

/// The positions of the `true`s.
fn matching_ids(matches: impl Iterator<Item = bool>) -> Vec<u32> {
    matches.enumerate().filter(|(_, m)| *m).map(|(i, _)| i as u32).collect()
}

/// Up to this many port criteria are checked against every port number; more, against the
/// ports in use only.
const FEW_PORT_CRITERIA: usize = 16;

/// Port numbers, the size of a port field's tables.
const PORT_VALUES: usize = 1 << 16;

/// The values of its field that one criterion matches, as ascending ids into that field's
/// table. A list, not a table of every value: with many criteria, tables of every value per
/// criterion would take gigabytes, while each criterion matches few values.
fn matching_values(c: &Compiled, ctx: &Context<'_>, ports: &[u16]) -> Vec<u32> {
    let log = &ctx.set.ports;
    match c.field {
        Field::Module => matching_ids(log.modules.iter().map(|(s, t)| !s.is_empty() && c.matches_text(t))),
        Field::User => matching_ids(log.users.iter().map(|(s, t)| !s.is_empty() && c.matches_text(t))),
        Field::RemoteIp | Field::LocalIp | Field::Ip => matching_ids(log.addrs.iter().map(|(_, a)| c.matches_addr(a))),
        Field::HostName => matching_ids(
            log.addrs
                .iter()
                .map(|(_, a)| a.ip().and_then(|ip| ctx.hosts.host_name(ip)).is_some_and(|h| c.matches_text(&h))),
        ),
        Field::RemotePort | Field::LocalPort | Field::Port => match &c.matcher {
            Matcher::Ports(ranges) => {
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
            _ => ports.iter().filter(|&&p| c.matches_port(Some(p))).map(|&p| u32::from(p)).collect(),
        },
        // Tens of thousands of blocks with dozens of modules each: the costly table, so split.
        // Blocks repeat the same few hundred module paths: each is matched once per thread.
        Field::ModulePath => (0..ctx.index.len() as BlockId)
            .into_par_iter()
            .map_init(FxHashMap::<&str, bool>::default, |seen, id| {
                let listed = match ctx.index.block(ctx.set, id).map(|b| &b.modules) {
                    Some(Modules::Listed(list)) => list,
                    _ => return None,
                };
                let hit =
                    listed.iter().any(|m| *seen.entry(m.path.as_str()).or_insert_with(|| c.matches_text(&m.path)));
                hit.then_some(id)
            })
            .flatten()
            .collect(),
    }
}

/// The one value of a row that a single-valued field reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Module,
    User,
    LocalIp,
    RemoteIp,
    LocalPort,
    RemotePort,
    Block,
}

impl Slot {
    const ALL: [Slot; 7] =
        [Slot::Module, Slot::User, Slot::LocalIp, Slot::RemoteIp, Slot::LocalPort, Slot::RemotePort, Slot::Block];

    /// The slot of a single-valued field; `None` for the either-side fields (IP, port).
    fn of(field: Field) -> Option<Slot> {
        match field {
            Field::Module => Some(Slot::Module),
            Field::User => Some(Slot::User),
            Field::LocalIp => Some(Slot::LocalIp),
            Field::RemoteIp | Field::HostName => Some(Slot::RemoteIp),
            Field::LocalPort => Some(Slot::LocalPort),
            Field::RemotePort => Some(Slot::RemotePort),
            Field::ModulePath => Some(Slot::Block),
            Field::Ip | Field::Port => None,
        }
    }
}

/// The union of all criteria's tables, by where they look: one table per single-valued slot
/// (empty when no criterion reads it) and one per either-side field.
struct Tables {
    slots: [Vec<bool>; 7],
    /// Matches of IP criteria, by address id; empty without any.
    either_ip: Vec<bool>,
    either_port: Vec<bool>,
}

/// What the pass over the rows counts, per thread: matching rows by value in each used slot,
/// and by (local, remote) pair for the either-side fields.
#[derive(Default)]
struct Hits {
    slots: [Vec<u32>; 7],
    ip_pairs: FxHashMap<(u32, u32), u32>,
    port_pairs: FxHashMap<(u32, Option<u16>), u32>,
    flagged: usize,
}

impl Hits {
    fn sized_like(t: &Tables) -> Hits {
        Hits { slots: t.slots.clone().map(|table| vec![0; table.len()]), ..Hits::default() }
    }

    fn add(mut self, other: Hits) -> Hits {
        for (a, b) in self.slots.iter_mut().zip(other.slots) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        for (k, v) in other.ip_pairs {
            *self.ip_pairs.entry(k).or_default() += v;
        }
        for (k, v) in other.port_pairs {
            *self.port_pairs.entry(k).or_default() += v;
        }
        self.flagged += other.flagged;
        self
    }
}

/// Rows per pass step: large enough to amortise a step, small enough to balance two cores.
const ROWS_PER_STEP: usize = 1 << 16;

/// Rows one slot's loop covers before the next slot's: about 360 KB of rows, read once from
/// memory and then from cache by the other slots.
const ROWS_PER_SCAN: usize = 1 << 13;

/// Flags the rows whose value (`value`; `usize::MAX` for none) is marked in `table` and counts
/// a hit per value. Without a branch on the match: which rows match follows no pattern, and
/// mispredicted branches cost more than counting zeros.
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

/// Flags every row matching at least one enabled, valid criterion, and counts rows per criterion.
pub fn evaluate(criteria: &CriteriaSet, ctx: &Context<'_>) -> Evaluation {
    evaluate_compiled(std::sync::Arc::new(CompiledSet::new(criteria)), ctx)
}

/// [`evaluate`] with criteria compiled already.
///
/// One pass over the rows flags them and counts: a row looks up its values in the union of
/// the criteria's matches and counts a hit against the value, so per-criterion totals are sums
/// over each criterion's matching values afterwards. The rows are only read once, which is
/// what costs on millions of them.
pub fn evaluate_compiled(compiled: std::sync::Arc<CompiledSet>, ctx: &Context<'_>) -> Evaluation {
    let log = &ctx.set.ports;
    let port_criteria = compiled.compiled.iter().filter(|(_, c)| c.field.is_port()).count();
    let ports: Vec<u16> = match port_criteria {
        0 => Vec::new(),
        // A few criteria cost less checked against every port than a pass over all rows.
        1..=FEW_PORT_CRITERIA => (0..=u16::MAX).collect(),
        _ => ports_in_use(log),
    };
    let matches: Vec<(usize, Field, Vec<u32>)> =
        compiled.compiled.par_iter().map(|(i, c)| (*i, c.field, matching_values(c, ctx, &ports))).collect();
    let domain = |field: Field| match field {
        Field::Module => log.modules.len(),
        Field::User => log.users.len(),
        Field::RemoteIp | Field::LocalIp | Field::Ip | Field::HostName => log.addrs.len(),
        Field::RemotePort | Field::LocalPort | Field::Port => PORT_VALUES,
        Field::ModulePath => ctx.index.len(),
    };

    let mut t = Tables { slots: Default::default(), either_ip: Vec::new(), either_port: Vec::new() };
    for (_, field, values) in &matches {
        let target = match (Slot::of(*field), field) {
            (Some(slot), _) => &mut t.slots[slot as usize],
            (None, Field::Ip) => &mut t.either_ip,
            (None, _) => &mut t.either_port,
        };
        if target.is_empty() {
            target.resize(domain(*field), false);
        }
        for &v in values {
            if let Some(slot) = target.get_mut(v as usize) {
                *slot = true;
            }
        }
    }
    let used: Vec<Slot> = Slot::ALL.into_iter().filter(|s| !t.slots[*s as usize].is_empty()).collect();

    let mut flagged = vec![false; log.events.len()];
    let hits = log
        .events
        .par_chunks(ROWS_PER_STEP)
        .zip(flagged.par_chunks_mut(ROWS_PER_STEP))
        .enumerate()
        .fold(
            || Hits::sized_like(&t),
            |mut h, (step, (events, out))| {
                let first = step * ROWS_PER_STEP;
                let blocks = ctx.row_blocks.get(first..).unwrap_or(&[]);
                // Slot by slot over a run of rows that stays in cache: each slot's loop is
                // then a tight one of its own, with no choice of field per row.
                for ((events, out), start) in
                    events.chunks(ROWS_PER_SCAN).zip(out.chunks_mut(ROWS_PER_SCAN)).zip((0..).step_by(ROWS_PER_SCAN))
                {
                    let blocks = blocks.get(start..).unwrap_or(&[]);
                    for &slot in &used {
                        let (table, counts) = (&t.slots[slot as usize], &mut h.slots[slot as usize]);
                        match slot {
                            Slot::Module => scan(table, counts, events, out, |e| e.module.0 as usize),
                            Slot::User => scan(table, counts, events, out, |e| e.user.0 as usize),
                            Slot::LocalIp => scan(table, counts, events, out, |e| e.local_ip.0 as usize),
                            Slot::RemoteIp => scan(table, counts, events, out, |e| e.remote_ip.0 as usize),
                            Slot::LocalPort => scan(table, counts, events, out, |e| e.local_port as usize),
                            Slot::RemotePort => scan(table, counts, events, out, |e| {
                                e.remote_port().num().map_or(usize::MAX, usize::from)
                            }),
                            Slot::Block => scan_blocks(table, counts, blocks, out),
                        }
                    }
                    for (e, flag) in events.iter().zip(out.iter_mut()) {
                        let mut any = false;
                        if !t.either_ip.is_empty() {
                            let (l, r) = (e.local_ip.0, e.remote_ip.0);
                            let hit = |v: u32| t.either_ip.get(v as usize).copied().unwrap_or(false);
                            if hit(l) || hit(r) {
                                *h.ip_pairs.entry((l, r)).or_default() += 1;
                                any = true;
                            }
                        }
                        if !t.either_port.is_empty() {
                            let (l, r) = (e.local_port, e.remote_port().num());
                            if t.either_port[usize::from(l)] || r.is_some_and(|r| t.either_port[usize::from(r)]) {
                                *h.port_pairs.entry((u32::from(l), r)).or_default() += 1;
                                any = true;
                            }
                        }
                        *flag |= any;
                    }
                    h.flagged += out.iter().filter(|f| **f).count();
                }
                h
            },
        )
        .reduce(|| Hits::sized_like(&t), Hits::add);

    let ip_pairs = EitherSide::new(hits.ip_pairs.iter().map(|(&(l, r), &n)| (l, Some(r), n)));
    let port_pairs = EitherSide::new(hits.port_pairs.iter().map(|(&(l, r), &n)| (l, r.map(u32::from), n)));
    let mut per_criterion = vec![0; compiled.source.criteria.len()];
    for (i, field, values) in &matches {
        per_criterion[*i] = match (Slot::of(*field), field) {
            (Some(slot), _) => {
                let counts = &hits.slots[slot as usize];
                values.iter().map(|&v| counts.get(v as usize).copied().unwrap_or(0) as usize).sum()
            }
            (None, Field::Ip) => ip_pairs.rows_matching(values),
            (None, _) => port_pairs.rows_matching(values),
        };
    }
    let initial_flags = initial_flags(&compiled, ctx);
    Evaluation { flagged, flagged_rows: hits.flagged, per_criterion, initial_flags, compiled }
}

/// One flag per port mapping of each INITIAL log of the set: those logs are small (a
/// snapshot), so they are evaluated whole every time.
fn initial_flags(compiled: &CompiledSet, ctx: &Context<'_>) -> Vec<Vec<bool>> {
    ctx.set
        .initials
        .iter()
        .map(|log| {
            log.mappings
                .par_iter()
                .map(|m| {
                    let block = log.blocks.iter().find(|b| b.pid == m.pid);
                    !matching_mapping_compiled(compiled, m, block, ctx.hosts).is_empty()
                })
                .collect()
        })
        .collect()
}

/// Flagged rows of an either-side field (IP, port) by their (local, remote) values, for
/// counting a criterion's rows from its matching values alone: rows with a matching local
/// value, plus rows with a matching remote value, less rows with both (counted twice).
struct EitherSide {
    by_local: FxHashMap<u32, Vec<(Option<u32>, usize)>>,
    local: FxHashMap<u32, usize>,
    remote: FxHashMap<u32, usize>,
}

impl EitherSide {
    fn new(pairs: impl Iterator<Item = (u32, Option<u32>, u32)>) -> EitherSide {
        let mut e =
            EitherSide { by_local: FxHashMap::default(), local: FxHashMap::default(), remote: FxHashMap::default() };
        for (l, r, n) in pairs {
            let n = n as usize;
            e.by_local.entry(l).or_default().push((r, n));
            *e.local.entry(l).or_default() += n;
            if let Some(r) = r {
                *e.remote.entry(r).or_default() += n;
            }
        }
        e
    }

    /// Rows whose local or remote value is one of `values` (ascending).
    fn rows_matching(&self, values: &[u32]) -> usize {
        let has = |v: u32| values.binary_search(&v).is_ok();
        values
            .iter()
            .map(|v| {
                let both: usize = self
                    .by_local
                    .get(v)
                    .map_or(0, |list| list.iter().filter(|(r, _)| r.is_some_and(has)).map(|(_, n)| n).sum());
                self.local.get(v).copied().unwrap_or(0) + self.remote.get(v).copied().unwrap_or(0) - both
            })
            .sum()
    }
}

/// The criteria (indices into the set) that one row matches, for the notification shown when
/// the row is opened.
pub fn matching_criteria(criteria: &CriteriaSet, ctx: &Context<'_>, row: usize) -> Vec<usize> {
    matching_criteria_compiled(&CompiledSet::new(criteria), ctx, row)
}

/// [`matching_criteria`] with criteria compiled already.
pub fn matching_criteria_compiled(criteria: &CompiledSet, ctx: &Context<'_>, row: usize) -> Vec<usize> {
    let Some(e) = ctx.set.ports.events.get(row) else {
        return Vec::new();
    };
    let log = &ctx.set.ports;
    let block = ctx.row_blocks.get(row).copied().unwrap_or(NO_BLOCK);
    criteria
        .compiled
        .iter()
        .filter(|(_, c)| match c.field {
            Field::Module => !e.module.is_empty() && c.matches_text(log.module(e)),
            Field::User => !e.user.is_empty() && c.matches_text(log.user(e)),
            Field::LocalIp => c.matches_addr(log.local_ip(e)),
            Field::RemoteIp => c.matches_addr(log.remote_ip(e)),
            Field::Ip => c.matches_addr(log.local_ip(e)) || c.matches_addr(log.remote_ip(e)),
            Field::LocalPort => c.matches_port(Some(e.local_port)),
            Field::RemotePort => c.matches_port(e.remote_port().num()),
            Field::Port => c.matches_port(Some(e.local_port)) || c.matches_port(e.remote_port().num()),
            Field::HostName => {
                log.remote_ip(e).ip().and_then(|ip| ctx.hosts.host_name(ip)).is_some_and(|h| c.matches_text(&h))
            }
            Field::ModulePath => ctx.index.block(ctx.set, block).is_some_and(|b| c.matches_block(b)),
        })
        .map(|(i, _)| *i)
        .collect()
}

/// The criteria (indices into the set) that a PR-INITIAL mapping matches; `block` is that
/// process's block in the same log (for module paths and the user).
pub fn matching_mapping(
    criteria: &CriteriaSet,
    mapping: &crate::model::PortMapping,
    block: Option<&ProcessBlock>,
    hosts: &dyn HostNames,
) -> Vec<usize> {
    matching_mapping_compiled(&CompiledSet::new(criteria), mapping, block, hosts)
}

/// [`matching_mapping`] with criteria compiled already.
pub fn matching_mapping_compiled(
    criteria: &CompiledSet,
    mapping: &crate::model::PortMapping,
    block: Option<&ProcessBlock>,
    hosts: &dyn HostNames,
) -> Vec<usize> {
    let process = mapping.process.as_deref().or(block.map(|b| b.process.as_str())).unwrap_or("");
    let user = block.and_then(|b| b.user.as_deref()).unwrap_or("");
    let remote_port = mapping.remote_port.num();
    criteria
        .compiled
        .iter()
        .filter(|(_, c)| match c.field {
            Field::Module => !process.is_empty() && c.matches_text(process),
            Field::User => !user.is_empty() && c.matches_text(user),
            Field::LocalIp => c.matches_addr(mapping.local_ip),
            Field::RemoteIp => c.matches_addr(mapping.remote_ip),
            Field::Ip => c.matches_addr(mapping.local_ip) || c.matches_addr(mapping.remote_ip),
            Field::LocalPort => c.matches_port(Some(mapping.local_port)),
            Field::RemotePort => c.matches_port(remote_port),
            Field::Port => c.matches_port(Some(mapping.local_port)) || c.matches_port(remote_port),
            Field::HostName => {
                mapping.remote_ip.ip().and_then(|ip| hosts.host_name(ip)).is_some_and(|h| c.matches_text(&h))
            }
            Field::ModulePath => block.is_some_and(|b| c.matches_block(b)),
        })
        .map(|(i, _)| *i)
        .collect()
}

impl Evaluation {
    /// Joins the evaluation of rows that follow the ones this one covers (see
    /// [`evaluate_rows`]).
    pub fn add(&mut self, later: Evaluation) {
        self.flagged.extend(later.flagged);
        self.flagged_rows += later.flagged_rows;
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
/// [`evaluate`] gives for them: their flags, in order, and their hits per criterion. Each
/// criterion runs once per distinct value of those rows, not of the whole log, so a poll's
/// rows cost little however long the log has grown; [`Evaluation::add`] joins the result.
pub fn evaluate_rows(
    compiled: std::sync::Arc<CompiledSet>,
    ctx: &Context<'_>,
    range: std::ops::Range<usize>,
) -> Evaluation {
    let rows = ctx.set.ports.events.get(range.clone()).unwrap_or(&[]);
    let mut flagged = vec![false; rows.len()];
    let mut per_criterion = vec![0; compiled.source.criteria.len()];
    for (i, c) in &compiled.compiled {
        let mut known: FxHashMap<u64, bool> = FxHashMap::default();
        for (j, (e, flag)) in rows.iter().zip(flagged.iter_mut()).enumerate() {
            let block = ctx.row_blocks.get(range.start + j).copied().unwrap_or(NO_BLOCK);
            if row_matches(c, ctx, e, block, &mut known) {
                per_criterion[*i] += 1;
                *flag = true;
            }
        }
    }
    let flagged_rows = flagged.iter().filter(|f| **f).count();
    let initial_flags = initial_flags(&compiled, ctx);
    Evaluation { flagged, flagged_rows, per_criterion, initial_flags, compiled }
}

/// Whether a row matches one criterion, remembering the answer per value id in `known`
/// (ids of one field only: the map serves one criterion).
fn row_matches(
    c: &Compiled,
    ctx: &Context<'_>,
    e: &PortEvent,
    block: BlockId,
    known: &mut FxHashMap<u64, bool>,
) -> bool {
    let log = &ctx.set.ports;
    let mut value = |id: u64, test: &dyn Fn() -> bool| *known.entry(id).or_insert_with(test);
    let addr = |id: crate::model::AddrId| c.matches_addr(log.addrs.resolve(id));
    // Ports are matched by number: cheap enough not to remember.
    match c.field {
        Field::Module => value(u64::from(e.module.0), &|| !e.module.is_empty() && c.matches_text(log.module(e))),
        Field::User => value(u64::from(e.user.0), &|| !e.user.is_empty() && c.matches_text(log.user(e))),
        Field::LocalIp => value(u64::from(e.local_ip.0), &|| addr(e.local_ip)),
        Field::RemoteIp => value(u64::from(e.remote_ip.0), &|| addr(e.remote_ip)),
        Field::Ip => {
            value(u64::from(e.local_ip.0), &|| addr(e.local_ip))
                || value(u64::from(e.remote_ip.0), &|| addr(e.remote_ip))
        }
        Field::HostName => value(u64::from(e.remote_ip.0), &|| {
            log.remote_ip(e).ip().and_then(|ip| ctx.hosts.host_name(ip)).is_some_and(|h| c.matches_text(&h))
        }),
        Field::LocalPort => c.matches_port(Some(e.local_port)),
        Field::RemotePort => c.matches_port(e.remote_port().num()),
        Field::Port => c.matches_port(Some(e.local_port)) || c.matches_port(e.remote_port().num()),
        Field::ModulePath => {
            block != NO_BLOCK
                && value(u64::from(block), &|| ctx.index.block(ctx.set, block).is_some_and(|b| c.matches_block(b)))
        }
    }
}

#[cfg(test)]
mod tests;
