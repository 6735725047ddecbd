//! Criteria: what makes a row worth a red highlight and a notification.
//!
//! A criterion looks at one field of a row with one kind of pattern:
//! - **exact**: the whole value, without regard to case for names (Windows file and account
//!   names are case-insensitive); an IP or port compared as a value (`::1` equals `0:0::1`);
//! - **wildcard**: `*` and `?`, case-insensitive, over the whole value's text;
//! - **regex**: Rust regex syntax, unanchored, case-sensitive unless the pattern says `(?i)`;
//!   compiled with a size limit so a pathological pattern is refused, not run;
//! - **cidr**: for IP fields, `10.0.0.0/8` or `2001:db8::/32`;
//! - **range**: for port fields, a list like `135-139,445,3389`; for the AS field, AS numbers
//!   the same way (`64512-65534`);
//! - **one of**: for text fields, a comma-separated list of whole values, compared as exact
//!   does (`CN,RU,KP` for the country);
//! - **list**: for IP fields, a file of addresses and networks (FireHOL, Spamhaus DROP, ipsum
//!   or plain; see [`address_list`](crate::analysis::address_list)), named by the pattern:
//!   absolute, or relative to the criteria file it was loaded from.
//!
//! The **country** and **AS** fields read the remote IP through the GeoIP databases open
//! ([`geoip`](crate::analysis::geoip)): the country as its ISO code (`exact` takes one code,
//! `one of` several), the AS as its number (`exact` or `range`) or, for wildcard and regex, as
//! the grid shows it (`AS13335 CLOUDFLARENET`). An address the databases do not know, or any
//! address while none is open, matches no such criterion.
//!
//! A criterion's **effect** is to flag the rows it matches (the default) or to allow them: an
//! allow criterion clears the flag of every row it matches, whatever flagged it (the update
//! server, the backup job), everywhere flags show.
//!
//! How rows are flagged is in [`evaluate`]'s module; what a field reads of a row, in
//! `values`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::analysis::address_list::{AddressList, FileStamp, ListEntry, ListFiles, Lists};
use crate::analysis::dns::HostNames;
use crate::analysis::geoip::Network;
use crate::model::{Address, Modules, ProcessBlock};

mod evaluate;
mod values;

pub use evaluate::{
    Context, Evaluation, Match, RowFlags, Verdict, evaluate, evaluate_compiled, evaluate_rows, explain_mapping,
    explain_row, matching_criteria, matching_criteria_compiled, matching_mapping, matching_mapping_compiled,
};
pub use values::Lookup;
use values::{Offer, Source, Table, Value};

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
    /// The remote IP's country (ISO code), from the GeoIP database.
    Country,
    /// The remote IP's autonomous system, from the ASN database.
    Asn,
    /// The computer the row came from (see [`crate::logs::computers`]).
    Computer,
}

impl Field {
    pub const ALL: [Field; 13] = [
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
        Field::Country,
        Field::Asn,
        Field::Computer,
    ];

    /// What the field is: its label, the row values it reads (two for "local or remote": a row
    /// matches when either does) and how. The one place a field is defined; evaluation, the
    /// per-row check and the INITIAL view all go by it.
    fn spec(self) -> Spec {
        use Source::*;
        let (label, sources, via): (_, &'static [Source], _) = match self {
            Field::Module => ("module", &[Module], Via::Value),
            Field::ModulePath => ("module path", &[Block], Via::Value),
            Field::RemoteIp => ("remote IP", &[RemoteIp], Via::Value),
            Field::LocalIp => ("local IP", &[LocalIp], Via::Value),
            Field::Ip => ("IP (local or remote)", &[LocalIp, RemoteIp], Via::Value),
            Field::RemotePort => ("remote port", &[RemotePort], Via::Value),
            Field::LocalPort => ("local port", &[LocalPort], Via::Value),
            Field::Port => ("port (local or remote)", &[LocalPort, RemotePort], Via::Value),
            Field::User => ("user", &[User], Via::Value),
            Field::HostName => ("host name", &[RemoteIp], Via::HostName),
            Field::Country => ("country", &[RemoteIp], Via::Country),
            Field::Asn => ("AS (network)", &[RemoteIp], Via::Network),
            Field::Computer => ("computer", &[Computer], Via::Value),
        };
        Spec { label, sources, via }
    }

    pub fn label(self) -> &'static str {
        self.spec().label
    }

    /// The sources the field reads; both share one table when there are two.
    fn sources(self) -> &'static [Source] {
        self.spec().sources
    }

    /// The table of the values the field's patterns see.
    fn table(self) -> Table {
        self.sources().first().map_or(Table::Modules, |s| s.table())
    }

    fn is_ip(self) -> bool {
        self.spec().via == Via::Value && self.table() == Table::Addrs
    }

    fn is_port(self) -> bool {
        self.table() == Table::Ports
    }

    /// Whether the field reads the GeoIP databases: its criteria match nothing without them.
    pub fn reads_geoip(self) -> bool {
        matches!(self.spec().via, Via::Country | Via::Network)
    }

    /// Whether the field's values are text that `one of` lists whole values of.
    fn is_text(self) -> bool {
        !self.is_ip() && !self.is_port() && self.spec().via != Via::Network
    }
}

/// See [`Field::spec`].
struct Spec {
    label: &'static str,
    sources: &'static [Source],
    via: Via,
}

/// How a field sees the values of its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// As they are.
    Value,
    /// An address through its name in the DNS cache.
    HostName,
    /// An address through its country in the GeoIP database.
    Country,
    /// An address through its autonomous system in the ASN database.
    Network,
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
    List,
    OneOf,
}

impl MatchKind {
    pub const ALL: [MatchKind; 7] = [
        MatchKind::Exact,
        MatchKind::Wildcard,
        MatchKind::Regex,
        MatchKind::Cidr,
        MatchKind::Range,
        MatchKind::List,
        MatchKind::OneOf,
    ];

    pub fn label(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Wildcard => "wildcard",
            MatchKind::Regex => "regex",
            MatchKind::Cidr => "CIDR",
            MatchKind::Range => "range",
            MatchKind::List => "address list",
            MatchKind::OneOf => "one of",
        }
    }
}

/// What a criterion does to the rows it matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Flags them: red in the grid, a notification, counted in the report.
    #[default]
    Flag,
    /// Clears their flag, whatever flagged them.
    Allow,
}

impl Effect {
    pub const ALL: [Effect; 2] = [Effect::Flag, Effect::Allow];

    pub fn label(self) -> &'static str {
        match self {
            Effect::Flag => "flag",
            Effect::Allow => "allow",
        }
    }

    /// For serde: the default effect is left out of files.
    pub fn is_flag(&self) -> bool {
        *self == Effect::Flag
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
    /// Left out of files when it is the default, so files without allow criteria read as
    /// they always did.
    #[serde(default, skip_serializing_if = "Effect::is_flag")]
    pub effect: Effect,
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
    #[error("invalid AS numbers {0:?} (expected e.g. 13335 or 64512-65534)")]
    AsRange(String),
    #[error("{0:?} is not a country code (expected ISO codes such as DE or CN,RU)")]
    Country(String),
    #[error("a {kind} pattern does not apply to the {field} field")]
    KindForField { kind: &'static str, field: &'static str },
    #[error("empty pattern")]
    Empty,
    #[error("{0}")]
    List(String),
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
    List(Arc<AddressList>),
    /// Lower-cased whole values.
    OneOf(Vec<String>),
    /// AS numbers.
    Asns(Vec<(u32, u32)>),
}

/// A criterion ready to be evaluated.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub field: Field,
    pub effect: Effect,
    matcher: Matcher,
}

impl Criterion {
    /// Compiles the criterion, reading a list criterion's file (see [`ListFiles`]).
    pub fn compile(&self) -> Result<Compiled, CriterionError> {
        self.compile_with(&ListFiles)
    }

    /// Whether the criterion can be compiled, as far as is known without reading a list file:
    /// for checks as a person types (the file's own errors come with the compiled set).
    pub fn check(&self) -> Result<(), CriterionError> {
        match self.kind {
            MatchKind::List => self.list_path().map(|_| ()),
            // Only list criteria read files.
            _ => self.compile_with(&ListFiles).map(|_| ()),
        }
    }

    /// [`Criterion::compile`] with lists from `lists`.
    pub fn compile_with(&self, lists: &dyn Lists) -> Result<Compiled, CriterionError> {
        let pattern = self.pattern.trim();
        if pattern.is_empty() {
            return Err(CriterionError::Empty);
        }
        let wrong = || CriterionError::KindForField { kind: self.kind.label(), field: self.field.label() };
        let matcher = match self.kind {
            MatchKind::Exact if self.field.is_port() => Matcher::Ports(parse_ranges(pattern)?),
            MatchKind::Exact | MatchKind::Range if self.field == Field::Asn => Matcher::Asns(parse_asns(pattern)?),
            MatchKind::Exact if self.field == Field::Country => {
                Matcher::ExactText(country_codes(pattern, false)?.remove(0))
            }
            MatchKind::OneOf if self.field == Field::Country => Matcher::OneOf(country_codes(pattern, true)?),
            MatchKind::OneOf if self.field.is_text() => {
                Matcher::OneOf(pattern.split(',').map(|v| v.trim().to_lowercase()).filter(|v| !v.is_empty()).collect())
            }
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
            MatchKind::List => {
                Matcher::List(lists.list(&self.list_path()?).map_err(|e| CriterionError::List(e.to_string()))?)
            }
            MatchKind::Cidr | MatchKind::Range | MatchKind::OneOf => return Err(wrong()),
        };
        Ok(Compiled { field: self.field, effect: self.effect, matcher })
    }

    /// The file a list criterion names.
    fn list_path(&self) -> Result<PathBuf, CriterionError> {
        let pattern = self.pattern.trim();
        if pattern.is_empty() {
            Err(CriterionError::Empty)
        } else if !self.field.is_ip() {
            Err(CriterionError::KindForField { kind: self.kind.label(), field: self.field.label() })
        } else {
            Ok(PathBuf::from(pattern))
        }
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
    number_ranges(text, |n| n.trim().parse().ok()).ok_or_else(|| CriterionError::Range(text.to_string()))
}

/// AS numbers as `range` reads ports: `13335`, `64512-65534`, `AS15169,AS8075`.
fn parse_asns(text: &str) -> Result<Vec<(u32, u32)>, CriterionError> {
    number_ranges(text, crate::analysis::geoip::parse_asn).ok_or_else(|| CriterionError::AsRange(text.to_string()))
}

/// A comma-separated list of numbers and `low-high` ranges, each number read by `number`;
/// `None` when a part does not read or the list is empty.
fn number_ranges<N: Copy + Ord>(text: &str, number: impl Fn(&str) -> Option<N>) -> Option<Vec<(N, N)>> {
    let ranges = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let (lo, hi) = (number(lo)?, number(hi)?);
            (lo <= hi).then_some((lo, hi))
        })
        .collect::<Option<Vec<_>>>()?;
    (!ranges.is_empty()).then_some(ranges)
}

/// Lower-cased ISO country codes, one (`many` false) or a comma-separated list.
fn country_codes(text: &str, many: bool) -> Result<Vec<String>, CriterionError> {
    let bad = || CriterionError::Country(text.to_string());
    let parts: Vec<&str> =
        if many { text.split(',').map(str::trim).filter(|p| !p.is_empty()).collect() } else { vec![text] };
    let codes = parts
        .into_iter()
        .map(|p| crate::analysis::geoip::Country::parse(p).map(|c| c.as_str().to_lowercase()).ok_or_else(bad))
        .collect::<Result<Vec<_>, _>>()?;
    if codes.is_empty() { Err(bad()) } else { Ok(codes) }
}

impl Compiled {
    pub fn matches_text(&self, value: &str) -> bool {
        match &self.matcher {
            Matcher::ExactText(t) => value.to_lowercase() == *t,
            Matcher::Pattern(re) => re.is_match(value),
            Matcher::OneOf(values) => {
                let value = value.to_lowercase();
                values.contains(&value)
            }
            Matcher::ExactIp(_) | Matcher::Net(_) | Matcher::Ports(_) | Matcher::List(_) | Matcher::Asns(_) => false,
        }
    }

    pub fn matches_addr(&self, addr: Address) -> bool {
        match (&self.matcher, addr) {
            (Matcher::ExactIp(want), Address::Ip(ip)) => canonical(ip) == canonical(*want),
            (Matcher::Net(net), Address::Ip(ip)) => net.contains(&canonical(ip)) || net.contains(&ip),
            (Matcher::List(list), Address::Ip(ip)) => list.contains(ip),
            (Matcher::ExactIp(_) | Matcher::Net(_) | Matcher::List(_), _) => false,
            _ => self.matches_text(&addr.to_string()),
        }
    }

    pub fn matches_port(&self, port: Option<u16>) -> bool {
        match &self.matcher {
            Matcher::Ports(ranges) => port.is_some_and(|p| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&p))),
            _ => port.is_some_and(|p| self.matches_text(&p.to_string())),
        }
    }

    /// An autonomous system: by number for `exact` and `range`, else as the grid shows it.
    pub fn matches_network(&self, network: &Network) -> bool {
        match &self.matcher {
            Matcher::Asns(ranges) => ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&network.number)),
            _ => self.matches_text(&network.to_string()),
        }
    }

    pub fn matches_block(&self, block: &ProcessBlock) -> bool {
        match &block.modules {
            Modules::Listed(list) => list.iter().any(|m| self.matches_text(&m.path)),
            Modules::NotAccessible | Modules::Absent => false,
        }
    }

    /// Whether one value of the criterion's field matches; empty text never does.
    fn test(&self, value: Value<'_>, hosts: &dyn HostNames) -> bool {
        match (self.field.spec().via, value) {
            (Via::HostName, Value::Addr(a)) => {
                a.ip().and_then(|ip| hosts.host_name(ip)).is_some_and(|h| self.matches_text(&h))
            }
            (Via::Country, Value::Addr(a)) => {
                a.ip().and_then(|ip| hosts.place(ip)?.country).is_some_and(|c| self.matches_text(c.as_str()))
            }
            (Via::Network, Value::Addr(a)) => {
                a.ip().and_then(|ip| hosts.place(ip)?.network).is_some_and(|n| self.matches_network(&n))
            }
            (Via::HostName | Via::Country | Via::Network, _) => false,
            (Via::Value, Value::Text(t)) => !t.is_empty() && self.matches_text(&t),
            (Via::Value, Value::Addr(a)) => self.matches_addr(a),
            (Via::Value, Value::Port(p)) => self.matches_port(p),
            (Via::Value, Value::Block(b)) => b.is_some_and(|b| self.matches_block(b)),
        }
    }

    /// Whether a row or a mapping matches: any of the field's sources does.
    fn matches(&self, offer: &Offer<'_>, hosts: &dyn HostNames) -> bool {
        self.field.sources().iter().any(|&s| self.test(offer.value(s), hosts))
    }

    /// For a list criterion, the entry a row or a mapping matched (the first of its field's
    /// sources that did).
    fn entry(&self, offer: &Offer<'_>) -> Option<ListEntry> {
        let Matcher::List(list) = &self.matcher else {
            return None;
        };
        self.field.sources().iter().find_map(|&s| match offer.value(s) {
            Value::Addr(Address::Ip(ip)) => list.lookup(ip),
            _ => None,
        })
    }

    /// The list a list criterion reads.
    pub fn list(&self) -> Option<&Arc<AddressList>> {
        match &self.matcher {
            Matcher::List(list) => Some(list),
            _ => None,
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

    /// Reads a criteria file. The lists its list criteria name relative to it are named by
    /// their absolute paths from then on, so the set means the same wherever it is used or
    /// saved (the app keeps it in its settings).
    pub fn load(path: &Path) -> Result<CriteriaSet, CriteriaFileError> {
        let io = |source| CriteriaFileError::Io { path: path.into(), source };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_CRITERIA_FILE_BYTES {
            return Err(CriteriaFileError::TooLarge { path: path.into() });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut set =
            CriteriaSet::from_json(&text).map_err(|source| CriteriaFileError::Json { path: path.into(), source })?;
        let folder = std::path::absolute(path).map_err(io)?.parent().map(Path::to_path_buf).unwrap_or_default();
        set.resolve_lists(&folder);
        Ok(set)
    }

    /// Names the lists of list criteria that are relative by their path under `folder`.
    pub fn resolve_lists(&mut self, folder: &Path) {
        for c in self.criteria.iter_mut().filter(|c| c.kind == MatchKind::List) {
            let named = Path::new(c.pattern.trim());
            if named.is_relative()
                && !named.as_os_str().is_empty()
                && let Some(full) = folder.join(named).to_str()
            {
                c.pattern = full.to_string();
            }
        }
    }

    /// Writes the set as a criteria file. A list in the file's folder or below it is named
    /// relative to the file, as [`CriteriaSet::load`] reads it, so that the folder can move
    /// with its lists; lists elsewhere keep their absolute paths.
    pub fn save(&self, path: &Path) -> Result<(), CriteriaFileError> {
        let io = |source| CriteriaFileError::Io { path: path.into(), source };
        let folder = std::path::absolute(path).map_err(io)?.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut written = self.clone();
        for c in written.criteria.iter_mut().filter(|c| c.kind == MatchKind::List) {
            if let Ok(inside) = Path::new(c.pattern.trim()).strip_prefix(&folder)
                && let Some(relative) = inside.to_str()
                && !relative.is_empty()
            {
                c.pattern = relative.to_string();
            }
        }
        std::fs::write(path, written.to_json()).map_err(io)
    }

    /// Compiles the enabled criteria; the broken ones come back with their index and error
    /// (and are left out of evaluation).
    pub fn compile(&self) -> (Vec<(usize, Compiled)>, Vec<Broken>) {
        self.compile_with(&ListFiles)
    }

    /// [`CriteriaSet::compile`] with lists from `lists`.
    pub fn compile_with(&self, lists: &dyn Lists) -> (Vec<(usize, Compiled)>, Vec<Broken>) {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for (i, c) in self.criteria.iter().enumerate().filter(|(_, c)| c.enabled) {
            match c.compile_with(lists) {
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
    /// The files of list criteria that could not be read, as they were then (`None`: gone).
    unread_lists: Vec<(PathBuf, Option<FileStamp>)>,
}

impl CompiledSet {
    /// Compiles `source`, with lists from files.
    pub fn new(source: &CriteriaSet) -> CompiledSet {
        CompiledSet::with_lists(source, &ListFiles)
    }

    pub fn with_lists(source: &CriteriaSet, lists: &dyn Lists) -> CompiledSet {
        let (compiled, broken) = source.compile_with(lists);
        let unread_lists = broken
            .iter()
            .filter_map(|(i, _)| source.criteria.get(*i).and_then(|c| c.list_path().ok()))
            .map(|path| {
                let stamp = FileStamp::now(&path);
                (path, stamp)
            })
            .collect();
        CompiledSet { source: source.clone(), compiled, broken, unread_lists }
    }

    /// The lists of the list criteria, by criterion index: for their entry counts and
    /// unreadable lines.
    pub fn lists(&self) -> impl Iterator<Item = (usize, &Arc<AddressList>)> {
        self.compiled.iter().filter_map(|(i, c)| c.list().map(|l| (*i, l)))
    }

    /// Whether a list file changed on disk since it was read, or one that could not be read
    /// changed since: compiling the same criteria again then gives other lists. Costs a `stat`
    /// per list file; for a periodic check off the UI thread.
    pub fn lists_changed(&self) -> bool {
        self.lists().any(|(_, l)| l.changed_on_disk())
            || self.unread_lists.iter().any(|(path, stamp)| FileStamp::now(path) != *stamp)
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

#[cfg(test)]
mod tests;
