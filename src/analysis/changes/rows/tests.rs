use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use proptest::prelude::*;

use super::*;
use crate::analysis::test_support::fleet_from;
use crate::model::Address;

fn at(minute: u32) -> NaiveDateTime {
    let start = NaiveDate::from_ymd_opt(2008, 6, 30).and_then(|d| d.and_hms_opt(10, 0, 0)).expect("time");
    start + TimeDelta::minutes(i64::from(minute))
}

type Process = (u32, u32);
type Endpoint = (u32, u32, u32, u16);

/// What a [`ChangeRows`] counted, in ordered collections, compared as a whole.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counted {
    base: BTreeMap<Process, BTreeSet<(u32, u16)>>,
    /// (first, rows, users) of each process.
    after: BTreeMap<Process, (NaiveDateTime, u64, BTreeSet<u32>)>,
    endpoints: BTreeMap<Endpoint, (NaiveDateTime, u32)>,
}

impl Counted {
    fn of(rows: &ChangeRows) -> Counted {
        let mut counted = Counted::default();
        for (&k, endpoints) in &rows.base {
            counted.base.insert(process_ids(k), endpoints.iter().map(|&e| endpoint_ids(e)).collect());
        }
        for (&k, p) in &rows.after {
            let (c, m) = process_ids(k);
            counted.after.insert((c, m), (p.seen.first, p.seen.rows, p.seen.users.iter().copied().collect()));
            for (&e, seen) in &p.endpoints {
                let (addr, port) = endpoint_ids(e);
                counted.endpoints.insert((c, m, addr, port), (seen.first, seen.rows));
            }
        }
        counted
    }

    /// The plain rule, one row after another: a baseline row names its process and its
    /// endpoint (a numbered port at a real address); a row after counts for both.
    fn reference(sides: &Sides, tables: &Tables<'_>, events: &[PortEvent], counted: &[bool]) -> Counted {
        let mut out = Counted::default();
        for (e, &counted) in events.iter().zip(counted) {
            let process = (tables.computer(e).0, e.module.0);
            let endpoint = match (e.remote_port(), tables.remote_ip(e)) {
                (PortField::Num(port), Address::Ip(ip)) if !ip.is_unspecified() => Some((e.remote_ip.0, port)),
                _ => None,
            };
            match sides.of(e.time) {
                Side::Base => {
                    out.base.entry(process).or_default().extend(endpoint);
                }
                Side::After if counted => {
                    let p = out.after.entry(process).or_insert((e.time, 0, BTreeSet::new()));
                    p.0 = p.0.min(e.time);
                    p.1 += 1;
                    if !e.user.is_empty() {
                        p.2.insert(e.user.0);
                    }
                    if let Some((addr, port)) = endpoint {
                        let seen = out.endpoints.entry((process.0, process.1, addr, port)).or_insert((e.time, 0));
                        seen.0 = seen.0.min(e.time);
                        seen.1 += 1;
                    }
                }
                _ => {}
            }
        }
        out
    }
}

const IPS: &[&str] = &["0.0.0.0", "::", "*", "10.0.0.1", "10.0.0.2", "2001:db8::1"];
const PORTS: &[&str] = &["", "*", "0", "80", "443"];
const MODULES: &[&str] = &["a.exe", "A.EXE", "b.exe", "System"];
const USERS: &[&str] = &["", "<PC\\eve>", "<PC\\bob>"];

/// A PORTS row: (minute, remote IP, remote port, module, user) as indices into the lists above.
fn row_text((minute, ip, port, module, user): (u32, usize, usize, usize, usize)) -> String {
    let t = at(minute);
    let (ip, port) = (IPS[ip % IPS.len()], PORTS[port % PORTS.len()]);
    let protocol = if ip == "*" { "UDP" } else { "TCP" };
    format!(
        "08/6/30,{},{protocol},1500,10.0.0.5,{port},{ip},100,{},{}\n",
        t.format("%H:%M:%S"),
        MODULES[module % MODULES.len()],
        USERS[user % USERS.len()]
    )
}

fn sides_of(all_base: bool, until: Option<u32>, range: (Option<u32>, Option<u32>)) -> Sides {
    let (from, to) = (range.0.map(at), range.1.map(at));
    let range = match (from, to) {
        (Some(f), Some(t)) if t < f => TimeRange { from: Some(t), to: Some(f) },
        _ => TimeRange { from, to },
    };
    Sides { all_base, until: until.map(at), range }
}

type Row = (u32, usize, usize, usize, usize);

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec((0u32..30, 0usize..6, 0usize..5, 0usize..4, 0usize..3), 0..60)
}

proptest! {
    /// Rows of two computers cut into parts at random, each part counted by its own
    /// accumulator, the parts merged in a random order: the same as the plain rule.
    #[test]
    fn parts_merged_in_any_order_count_as_the_plain_rule(
        pc1 in rows(),
        pc2 in rows(),
        counted in prop::collection::vec(any::<bool>(), 120),
        cuts in prop::collection::vec(0usize..120, 0..6),
        order in prop::collection::vec(any::<prop::sample::Index>(), 6),
        all_base in any::<bool>(),
        until in prop::option::of(0u32..30),
        range in (prop::option::of(0u32..30), prop::option::of(0u32..30)),
    ) {
        let text = |rows: &[Row]| rows.iter().map(|&r| row_text(r)).collect::<String>();
        let set = fleet_from(&[("PC1", &text(&pc1)), ("PC2", &text(&pc2))]);
        let tables = Tables::of(&set.ports);
        let events = &set.ports.events;
        prop_assert_eq!(events.len(), pc1.len() + pc2.len());
        let sides = sides_of(all_base, until, range);
        let counted: Vec<bool> = (0..events.len()).map(|i| counted[i % counted.len()]).collect();

        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(events.len())).collect();
        cuts.extend([0, events.len()]);
        cuts.sort_unstable();
        let mut parts: Vec<ChangeRows> = cuts
            .windows(2)
            .map(|w| {
                let mut acc = ChangeRows::new(sides);
                for i in w[0]..w[1] {
                    acc.row(&tables, &events[i], counted[i]);
                }
                acc
            })
            .collect();
        // Merge a randomly chosen part into another until one is left.
        for pick in order.iter().cycle() {
            if parts.len() < 2 {
                break;
            }
            let from = parts.swap_remove(pick.index(parts.len()));
            let into = pick.index(parts.len());
            parts[into].merge(from);
        }
        let merged = parts.pop().expect("one part");
        prop_assert_eq!(Counted::of(&merged), Counted::reference(&sides, &tables, events, &counted));
    }
}

/// The batch path counts every row, as the plain rule with every row counted does.
#[test]
fn batches_count_every_row() {
    let text: String =
        (0..40).map(|i| row_text((i % 30, i as usize, i as usize / 2, i as usize / 3, i as usize))).collect();
    let set = fleet_from(&[("PC1", &text)]);
    let tables = Tables::of(&set.ports);
    let events = &set.ports.events;
    let sides = sides_of(false, Some(10), (None, Some(25)));
    let mut acc = ChangeRows::new(sides);
    acc.add(&Batch::new(tables, &events[..15]));
    let mut other = ChangeRows::new(sides);
    other.add(&Batch::new(tables, &events[15..]));
    acc.merge(other);
    let counted = Counted::of(&acc);
    assert_eq!(counted, Counted::reference(&sides, &tables, events, &vec![true; events.len()]));
    assert!(!counted.base.is_empty() && !counted.endpoints.is_empty(), "{counted:?}");
}
