//! `prparser report --clickhouse`: the report of [`crate::report`], computed by ClickHouse.
//!
//! Every view is a GROUP BY in the server; prparser fetches grouped results only (counts per
//! port, module, address, user, hour, computer; svchost and look-alike blocks; and the distinct
//! values of the fields criteria read) and puts them in the local report's order and shape,
//! with the same ranking and percentages. Criteria are decided in Rust, by the same matchers
//! as the local report, over each distinct value of their field; the values that match go to
//! the server as `IN` lists, so `exact`, `one of`, `CIDR`, `range` and address `list` criteria
//! mean exactly what they mean locally. Regex, wildcard, module path, host name, country and
//! AS criteria are refused, naming the criterion.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use super::changes::ServerBaseline;
use super::client::{ClickHouseError, Client, number, quote, text};
use super::schema::{self, BLOCKS, FILES, PORT_TABLES, PORTS, computer_filter, row_filter};
use crate::analysis::aggregate::{CriterionCount, Flagged};
use crate::analysis::criteria::{Compiled, CriteriaSet, Effect, Field, MatchKind};
use crate::analysis::stats::{
    self, HourCount, IpCount, Masquerade, PortCount, ProcessCount, SvchostEntry, UserCount, ranked,
};
use crate::analysis::time_range::{TimeRange, iso};
use crate::model::Address;
use crate::report::{ComputerEntry, MAX_LISTED_BEACONS, RangeOut, Report, Skip, Stats};

/// What a server report is asked for beyond its criteria.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these computers (without regard to case); none: every computer.
    pub computers: Vec<String>,
    pub range: TimeRange,
    /// What the Changes view compares with.
    pub baseline: ServerBaseline,
    /// Views the server is not asked for.
    pub skip: Skip,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error("criterion {name:?} (number {number}): {why}")]
    Criterion { name: String, number: usize, why: String },
    #[error("no computer {name:?} in ClickHouse database {database} (there are: {known})")]
    NoSuchComputer { name: String, database: String, known: String },
    #[error("ClickHouse at {server}: database {database} holds no prparser tables (run prparser ingest first)")]
    NotIngested { server: String, database: String },
    #[error(
        "ClickHouse at {server}: database {database} has no {PORT_TABLES} table, which the Changes view reads (it was loaded by an older prparser): run prparser ingest on the same logs again to add it"
    )]
    NoPortTables { server: String, database: String },
}

const ISO_SQL: &str = "%Y-%m-%dT%H:%M:%S";

/// Builds the report of what the database holds.
pub fn run(client: &Client, criteria: &CriteriaSet, options: &Options) -> Result<Report, ReportError> {
    let predicates = criteria_predicates(criteria)?;
    if !schema::exists(client)? {
        return Err(ReportError::NotIngested {
            server: client.server().to_string(),
            database: client.database().to_string(),
        });
    }
    if !options.skip.changes && !schema::holds(client, PORT_TABLES)? {
        return Err(ReportError::NoPortTables {
            server: client.server().to_string(),
            database: client.database().to_string(),
        });
    }
    let computers = chosen_computers(client, &options.computers)?;
    let named: &[String] = if options.computers.is_empty() { &[] } else { &computers };
    let of_computers = computer_filter(named);
    let query = Query { client, filter: row_filter(named, &options.range) };
    let flags = FlagSql::new(&query, &predicates)?;
    let totals = query.rows(&format!(
        "SELECT count(), min(time), max(time), {} FROM ({})",
        flags.counts(),
        flags.table(&query.filter)
    ))?;
    let totals = totals.first().cloned().unwrap_or_default();
    let rows = totals.first().map_or(0, number);
    let at = |i: usize| if rows == 0 { None } else { totals.get(i).map(|v| iso_of(text(v))) };
    let counts: Vec<usize> = totals.iter().skip(3).map(|v| number(v) as usize).collect();
    let mut report =
        Report {
            rows,
            malformed: malformed(&query, &of_computers)?,
            malformed_lines: Vec::new(),
            warnings: Vec::new(),
            first: at(1),
            last: at(2),
            computers: per_computer(&query, &flags, &computers)?,
            range: None,
            stats: Stats {
                local_tcp_port_usage: ranked(
                    query
                        .counts("local_port", "protocol = 'TCP'")?
                        .into_iter()
                        .filter_map(|(p, c)| Some((p.parse().ok()?, c)))
                        .collect(),
                    |port, count, percent| PortCount { port, count, percent },
                ),
                process_usage: ranked(query.counts("module", "module != ''")?, |process, count, percent| {
                    ProcessCount { process, count, percent }
                }),
                remote_ip_usage: ranked(
                    query
                        .counts("remote_ip", "1")?
                        .into_iter()
                        .filter_map(|(a, c)| {
                            parse_address(&a).is_specific().then(|| parse_address(&a).ip()).flatten().map(|ip| (ip, c))
                        })
                        .collect::<Vec<(IpAddr, u64)>>(),
                    |ip, count, percent| IpCount { ip, count, percent },
                ),
                remote_country_usage: None,
                remote_asn_usage: None,
                user_context_usage: ranked(query.counts("user", "user != ''")?, |user, count, percent| UserCount {
                    user,
                    count,
                    percent,
                }),
                port_usage_by_hour: hours(&query)?,
                svchost_enumeration: svchosts(&query, &of_computers)?,
                masquerading: masquerading(&query, &of_computers)?,
                beaconing: if options.skip.beaconing {
                    None
                } else {
                    Some(super::beaconing::beacons(client, &query.filter, MAX_LISTED_BEACONS)?)
                },
            },
            flagged: flags.flagged(criteria, &counts),
            per_process_usage: None,
            changes: if options.skip.changes {
                None
            } else {
                Some(super::changes::changes(client, &of_computers, &options.range, options.baseline)?)
            },
        };
    if !options.range.is_all() {
        report.range = Some(RangeOut { from: options.range.from.map(iso), to: options.range.to.map(iso) });
    }
    Ok(report)
}

/// The server and the rows a report counts.
struct Query<'a> {
    client: &'a Client,
    /// The condition on PORTS rows: computers and time range.
    filter: String,
}

impl Query<'_> {
    fn rows(&self, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, ClickHouseError> {
        self.client.select(sql)
    }

    /// Rows per value of `column` among the rows counted that meet `condition`.
    fn counts(&self, column: &str, condition: &str) -> Result<Vec<(String, u64)>, ClickHouseError> {
        let rows = self.rows(&format!(
            "SELECT toString({column}), count() FROM {PORTS} WHERE {} AND {condition} GROUP BY {column}",
            self.filter
        ))?;
        Ok(rows.iter().filter(|r| r.len() == 2).map(|r| (text(&r[0]).to_string(), number(&r[1]))).collect())
    }

    /// The distinct values of `column` among the rows counted.
    fn distinct(&self, column: &str) -> Result<Vec<String>, ClickHouseError> {
        let rows = self.rows(&format!("SELECT DISTINCT toString({column}) FROM {PORTS} WHERE {}", self.filter))?;
        Ok(rows.iter().filter_map(|r| r.first()).map(|v| text(v).to_string()).collect())
    }
}

/// A `DateTime` of an answer as the report writes times.
fn iso_of(value: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
        .map(|t| t.format(ISO_SQL).to_string())
        .unwrap_or_else(|_| value.to_string())
}

/// An address as ingest wrote it: the log's text (`*` and empty included).
fn parse_address(text: &str) -> Address {
    match text {
        "" => Address::Empty,
        "*" => Address::Any,
        t => t.parse().map_or(Address::Empty, Address::Ip),
    }
}

/// The computers the database knows: those of its ingested files, and those of rows other
/// loaders (a Vector pipeline) put in without files.
fn known_computers(client: &Client) -> Result<Vec<String>, ClickHouseError> {
    let rows = client.select(&format!(
        "SELECT DISTINCT computer FROM (SELECT computer FROM {FILES} UNION ALL SELECT DISTINCT computer FROM {PORTS}) \
         ORDER BY computer"
    ))?;
    Ok(rows.iter().filter_map(|r| r.first()).map(|v| text(v).to_string()).collect())
}

/// `names` as a SQL list of literals.
fn sql_list<'n>(names: impl IntoIterator<Item = &'n str>) -> String {
    names.into_iter().map(quote).collect::<Vec<_>>().join(", ")
}

/// The database's computers that `wanted` names (all when none is named).
fn chosen_computers(client: &Client, wanted: &[String]) -> Result<Vec<String>, ReportError> {
    let known = known_computers(client)?;
    if wanted.is_empty() {
        return Ok(known);
    }
    let mut chosen = Vec::new();
    for name in wanted {
        let lower = name.to_lowercase();
        let matching: Vec<&String> = known.iter().filter(|k| k.to_lowercase() == lower).collect();
        if matching.is_empty() {
            return Err(ReportError::NoSuchComputer {
                name: name.clone(),
                database: client.database().to_string(),
                known: known.join(", "),
            });
        }
        chosen.extend(matching.into_iter().cloned());
    }
    chosen.sort();
    chosen.dedup();
    Ok(chosen)
}

/// The malformed lines of the computers' PORTS files, as counted at their latest load.
fn malformed(query: &Query<'_>, of_computers: &str) -> Result<u64, ClickHouseError> {
    let rows = query.rows(&format!(
        "SELECT sum(m) FROM (SELECT argMax(malformed, length) AS m FROM {FILES} \
         WHERE kind = 'PORTS' AND {of_computers} GROUP BY computer, file)"
    ))?;
    Ok(rows.first().and_then(|r| r.first()).map_or(0, number))
}

fn hours(query: &Query<'_>) -> Result<Vec<HourCount>, ClickHouseError> {
    let found: HashMap<u32, u64> =
        query.counts("toHour(time)", "1")?.into_iter().filter_map(|(h, c)| Some((h.parse().ok()?, c))).collect();
    Ok((0..24).map(|hour| HourCount { hour, count: found.get(&hour).copied().unwrap_or(0) }).collect())
}

/// Every computer chosen, with its rows, span and flagged rows; one without rows too.
fn per_computer(
    query: &Query<'_>,
    flags: &FlagSql,
    computers: &[String],
) -> Result<Vec<ComputerEntry>, ClickHouseError> {
    let rows = query.rows(&format!(
        "SELECT computer, count(), min(time), max(time), countIf({}) FROM ({}) GROUP BY computer",
        flags.stays_flagged(),
        flags.table(&query.filter)
    ))?;
    let mut by_name: BTreeMap<String, ComputerEntry> = computers
        .iter()
        .map(|c| (c.clone(), ComputerEntry { computer: c.clone(), rows: 0, first: None, last: None, flagged: 0 }))
        .collect();
    for r in rows.iter().filter(|r| r.len() == 5) {
        let name = text(&r[0]).to_string();
        by_name.insert(
            name.clone(),
            ComputerEntry {
                computer: name,
                rows: number(&r[1]),
                first: Some(iso_of(text(&r[2]))),
                last: Some(iso_of(text(&r[3]))),
                flagged: number(&r[4]),
            },
        );
    }
    let mut list: Vec<ComputerEntry> = by_name.into_values().filter(|c| !c.computer.is_empty() || c.rows > 0).collect();
    list.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.computer.cmp(&b.computer)));
    Ok(list)
}

fn svchosts(query: &Query<'_>, of_computers: &str) -> Result<Vec<SvchostEntry>, ClickHouseError> {
    let rows = query.rows(&format!(
        "SELECT computer, pid, groupUniqArrayArray(services) FROM {BLOCKS} \
         WHERE lower(process) = 'svchost.exe' AND {of_computers} GROUP BY computer, pid"
    ))?;
    let mut by_pid: BTreeMap<(String, u32), BTreeSet<String>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.len() == 3) {
        let services = r[2].as_array().map(|a| a.iter().map(|s| text(s).to_string()).collect()).unwrap_or_default();
        by_pid.insert((text(&r[0]).to_string(), number(&r[1]) as u32), services);
    }
    Ok(by_pid
        .into_iter()
        .map(|((computer, pid), services)| SvchostEntry { computer, pid, services: services.into_iter().collect() })
        .collect())
}

fn masquerading(query: &Query<'_>, of_computers: &str) -> Result<Vec<Masquerade>, ClickHouseError> {
    let names = sql_list(stats::SYSTEM_BINARIES.iter().map(|(n, _)| *n));
    let rows = query.rows(&format!(
        "SELECT DISTINCT computer, pid, process, image_path FROM {BLOCKS} \
         WHERE lower(process) IN ({names}) AND has_image = 1 AND {of_computers}"
    ))?;
    let found: BTreeSet<Masquerade> = rows
        .iter()
        .filter(|r| r.len() == 4)
        .filter_map(|r| {
            let process = text(&r[2]);
            let name = stats::SYSTEM_BINARIES.iter().find(|(n, _)| n.eq_ignore_ascii_case(process))?.0;
            let path = text(&r[3]);
            (!stats::is_normal_location(name, path)).then(|| Masquerade {
                computer: text(&r[0]).to_string(),
                pid: number(&r[1]) as u32,
                process: process.to_string(),
                path: path.to_string(),
            })
        })
        .collect();
    Ok(found.into_iter().collect())
}

/// An enabled criterion the server can count: its index, effect, and the columns it reads.
struct Predicate {
    index: usize,
    effect: Effect,
    compiled: Compiled,
    columns: &'static [Column],
}

/// How a PORTS column's values are read by criteria.
#[derive(Debug, Clone, Copy)]
enum Column {
    Text(&'static str),
    Addr(&'static str),
    /// A port held as a number (`local_port`).
    Number(&'static str),
    /// A port held as text: a number, `*` or empty (`remote_port`).
    PortText(&'static str),
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Text(n) | Column::Addr(n) | Column::Number(n) | Column::PortText(n) => n,
        }
    }

    fn matches(self, c: &Compiled, value: &str) -> bool {
        match self {
            Column::Text(_) => !value.is_empty() && c.matches_text(value),
            Column::Addr(_) => c.matches_addr(parse_address(value)),
            Column::Number(_) | Column::PortText(_) => c.matches_port(value.parse().ok()),
        }
    }

    /// `values` as a literal list of the column's type.
    fn literal(self, values: &[&str]) -> String {
        match self {
            Column::Number(_) => values.join(", "),
            _ => sql_list(values.iter().copied()),
        }
    }
}

/// The criteria the server can count, compiled; the others refused, named.
fn criteria_predicates(criteria: &CriteriaSet) -> Result<Vec<Predicate>, ReportError> {
    let mut out = Vec::new();
    for (i, c) in criteria.criteria.iter().enumerate().filter(|(_, c)| c.enabled) {
        let refuse = |why: &str| ReportError::Criterion { name: c.name.clone(), number: i + 1, why: why.to_string() };
        match c.kind {
            MatchKind::Regex => {
                return Err(refuse(
                    "regex criteria are not counted in ClickHouse (its regex engine is not Rust's); use exact, one of, CIDR, range or list",
                ));
            }
            MatchKind::Wildcard => {
                return Err(refuse(
                    "wildcard criteria are not counted in ClickHouse (18.16 has no case-insensitive LIKE); use exact or one of",
                ));
            }
            _ => {}
        }
        let columns: &'static [Column] = match c.field {
            Field::Module => &[Column::Text("module")],
            Field::User => &[Column::Text("user")],
            Field::Computer => &[Column::Text("computer")],
            Field::RemoteIp => &[Column::Addr("remote_ip")],
            Field::LocalIp => &[Column::Addr("local_ip")],
            Field::Ip => &[Column::Addr("local_ip"), Column::Addr("remote_ip")],
            Field::LocalPort => &[Column::Number("local_port")],
            Field::RemotePort => &[Column::PortText("remote_port")],
            Field::Port => &[Column::Number("local_port"), Column::PortText("remote_port")],
            Field::ModulePath => {
                return Err(refuse(
                    "module path criteria are not counted in ClickHouse (they need an as-of join of rows to process blocks, which 18.16 lacks)",
                ));
            }
            Field::HostName => {
                return Err(refuse("host name criteria read the DNS cache, which the server does not have"));
            }
            Field::Country | Field::Asn => {
                return Err(refuse("country and AS criteria read GeoIP databases, which the server does not have"));
            }
        };
        let compiled = c.compile().map_err(|e| refuse(&e.to_string()))?;
        out.push(Predicate { index: i, effect: c.effect, compiled, columns });
    }
    Ok(out)
}

/// The criteria as SQL: one boolean column per criterion over the rows counted.
struct FlagSql {
    /// Per predicate, its SQL condition.
    conditions: Vec<(usize, Effect, String)>,
}

impl FlagSql {
    /// Decides every predicate over the distinct values of its columns.
    fn new(query: &Query<'_>, predicates: &[Predicate]) -> Result<FlagSql, ClickHouseError> {
        let mut values: HashMap<&'static str, Vec<String>> = HashMap::new();
        let mut conditions = Vec::new();
        for p in predicates {
            let mut sides = Vec::new();
            for &column in p.columns {
                if !values.contains_key(column.name()) {
                    values.insert(column.name(), query.distinct(column.name())?);
                }
                let matched: Vec<&str> = values[column.name()]
                    .iter()
                    .filter(|v| column.matches(&p.compiled, v))
                    .map(String::as_str)
                    .collect();
                if !matched.is_empty() {
                    sides.push(format!("{} IN ({})", column.name(), column.literal(&matched)));
                }
            }
            let condition = if sides.is_empty() { "0".to_string() } else { sides.join(" OR ") };
            conditions.push((p.index, p.effect, condition));
        }
        Ok(FlagSql { conditions })
    }

    /// The rows counted with a `c<N>` column per criterion.
    fn table(&self, filter: &str) -> String {
        let mut columns = String::from("computer, time");
        for (i, _, condition) in &self.conditions {
            columns.push_str(&format!(", ({condition}) AS c{i}"));
        }
        format!("SELECT {columns} FROM {PORTS} WHERE {filter}")
    }

    fn any(&self, effect: Effect) -> String {
        let of: Vec<String> =
            self.conditions.iter().filter(|(_, e, _)| *e == effect).map(|(i, _, _)| format!("c{i}")).collect();
        if of.is_empty() { "0".to_string() } else { format!("({})", of.join(" OR ")) }
    }

    fn stays_flagged(&self) -> String {
        format!("{} AND NOT {}", self.any(Effect::Flag), self.any(Effect::Allow))
    }

    /// Counts, in order: rows that stay flagged, rows cleared, then one per criterion.
    fn counts(&self) -> String {
        let (flag, allow) = (self.any(Effect::Flag), self.any(Effect::Allow));
        let mut out = vec![format!("countIf({flag} AND NOT {allow})"), format!("countIf({flag} AND {allow})")];
        for (i, effect, _) in &self.conditions {
            out.push(match effect {
                Effect::Flag => format!("countIf(c{i} AND NOT {allow})"),
                Effect::Allow => format!("countIf(c{i} AND {flag})"),
            });
        }
        out.join(", ")
    }

    /// The report's `flagged` object from [`FlagSql::counts`]' values.
    fn flagged(&self, criteria: &CriteriaSet, counts: &[usize]) -> Flagged {
        let per: HashMap<usize, usize> =
            self.conditions.iter().zip(counts.iter().skip(2)).map(|((i, _, _), n)| (*i, *n)).collect();
        Flagged {
            rows: counts.first().copied().unwrap_or(0),
            allowed: counts.get(1).copied().unwrap_or(0),
            by_criterion: criteria
                .criteria
                .iter()
                .enumerate()
                .filter(|(_, c)| c.enabled)
                .map(|(i, c)| CriterionCount {
                    name: c.name.clone(),
                    count: per.get(&i).copied().unwrap_or(0),
                    effect: c.effect,
                })
                .collect(),
        }
    }
}
