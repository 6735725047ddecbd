use std::sync::atomic::AtomicBool;

use super::*;
use crate::analysis::dns::NoHostNames;
use crate::analysis::view::{Column, Filter};
use crate::model::{AddrId, PortEvent, PortField, Protocol, RowShape, Symbol, make_datetime};

/// A log whose rows are at these seconds after 2008-06-30 00:00:00, in this order; row `i`
/// has local port `i`.
fn log_at(seconds: &[i64]) -> PortsLog {
    let base = make_datetime(8, 6, 30, 0, 0, 0).expect("valid");
    let events = seconds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            PortEvent::new(
                base + chrono::TimeDelta::seconds(*s),
                Protocol::Tcp,
                i as u16,
                AddrId(0),
                PortField::Num(80),
                AddrId(0),
                Some(4),
                Symbol::EMPTY,
                Symbol::EMPTY,
                RowShape::Full,
            )
        })
        .collect();
    PortsLog { events, ..Default::default() }
}

fn base() -> i64 {
    to_secs(make_datetime(8, 6, 30, 0, 0, 0).expect("valid"))
}

fn all(log: &PortsLog) -> Passing {
    Passing::of(log, &NoHostNames, &Filter::default(), &AtomicBool::new(false)).expect("not cancelled")
}

/// (start relative to midnight, rows, flagged, first row) of each bucket.
fn shape(bins: &[Bin]) -> Vec<(i64, u32, u32, u32)> {
    bins.iter().map(|b| (b.start - base(), b.rows, b.flagged, b.first)).collect()
}

#[test]
fn rows_are_counted_per_bucket_at_every_step_with_their_earliest_row() {
    // Out of time order on purpose: row 3 (00:00:30) is earlier than rows 1 and 2.
    let log = log_at(&[59, 61, 119, 30, 600, 3_599, 3_600, 86_400 + 5]);
    let flagged = [false, true, true, false, false, true];
    let never = AtomicBool::new(false);
    let t = Timeline::build(&log, &all(&log), &flagged, &never).expect("not cancelled");
    assert_eq!((t.rows, t.flagged), (8, 3), "rows past the flags' end are not flagged");
    assert_eq!(t.span, Some((base() + 30, base() + 86_405)));
    let every = (i64::MIN / 2, i64::MAX / 2);
    let at = |step| shape(t.bins(step, every.0, every.1).expect("kept"));
    assert_eq!(
        at(Step::Minute),
        vec![(0, 2, 0, 3), (60, 2, 2, 1), (600, 1, 0, 4), (3_540, 1, 1, 5), (3_600, 1, 0, 6), (86_400, 1, 0, 7)]
    );
    assert_eq!(
        at(Step::TenMinutes),
        vec![(0, 4, 2, 3), (600, 1, 0, 4), (3_000, 1, 1, 5), (3_600, 1, 0, 6), (86_400, 1, 0, 7)]
    );
    assert_eq!(at(Step::Hour), vec![(0, 6, 3, 3), (3_600, 1, 0, 6), (86_400, 1, 0, 7)]);
    assert_eq!(at(Step::Day), vec![(0, 7, 3, 3), (86_400, 1, 0, 7)]);
    assert!(t.bins(Step::Second, every.0, every.1).is_none(), "seconds are counted on demand");
    // A window gets the buckets that meet it, the one it starts inside included.
    let window = shape(t.bins(Step::Minute, base() + 90, base() + 3_600).expect("kept"));
    assert_eq!(window, vec![(60, 2, 2, 1), (600, 1, 0, 4), (3_540, 1, 1, 5)]);
}

#[test]
fn only_the_rows_passing_the_other_filters_are_counted() {
    let log = log_at(&[0, 10, 70, 130]);
    let never = AtomicBool::new(false);
    // Local ports are the row numbers: `Local` containing "2" keeps row 2 only... and "1" row 1.
    let filter = Filter { columns: vec![(Column::Local, "1".into())], ..Filter::default() };
    let passing = Passing::of(&log, &NoHostNames, &filter, &never).expect("not cancelled");
    let t = Timeline::build(&log, &passing, &[], &never).expect("not cancelled");
    assert_eq!(shape(t.bins(Step::Minute, i64::MIN / 2, i64::MAX / 2).expect("kept")), vec![(0, 1, 0, 1)]);
    assert_eq!(t.span, Some((base() + 10, base() + 10)));
    let none = Timeline::build(&log, &Passing::default(), &[], &never).expect("not cancelled");
    assert_eq!((none.rows, none.span), (0, None));
}

#[test]
fn second_buckets_of_a_window_are_the_same_in_time_order_or_not() {
    let times = [5, 5, 6, 8, 8, 8, 20, 21];
    let flagged = [true, false, false, true, true, false, false, true];
    let never = AtomicBool::new(false);
    let sorted = log_at(&times);
    let t = Timeline::build(&sorted, &all(&sorted), &flagged, &never).expect("not cancelled");
    assert!(t.sorted);
    let window = (base() + 6, base() + 21);
    let secs = t.seconds(&sorted, &all(&sorted), &flagged, window, &never).expect("not cancelled");
    assert_eq!(shape(&secs), vec![(6, 1, 0, 2), (8, 3, 2, 3), (20, 1, 0, 6)], "from inclusive, to exclusive");

    // The same rows shuffled: row numbers change, counts do not.
    let order = [7, 3, 0, 6, 2, 5, 1, 4];
    let shuffled = log_at(&order.map(|i| times[i]));
    let shuffled_flags = order.map(|i| flagged[i]);
    let u = Timeline::build(&shuffled, &all(&shuffled), &shuffled_flags, &never).expect("not cancelled");
    assert!(!u.sorted);
    let secs = u.seconds(&shuffled, &all(&shuffled), &shuffled_flags, window, &never).expect("not cancelled");
    // Second 8 holds rows 1, 5 and 7 of the shuffled log; its earliest is the first of them.
    assert_eq!(shape(&secs), vec![(6, 1, 0, 4), (8, 3, 2, 1), (20, 1, 0, 3)]);
    let cancelled = AtomicBool::new(true);
    assert!(Timeline::build(&sorted, &all(&sorted), &flagged, &cancelled).is_err());
}

#[test]
fn buckets_across_chunks_merge_and_match_a_plain_count() {
    // More rows than one chunk, two a second, with a bucket cut by the chunk boundary.
    let n = CHUNK_ROWS + 1_000;
    let times: Vec<i64> = (0..n as i64).map(|i| i / 2).collect();
    let flagged: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
    let log = log_at(&times);
    let never = AtomicBool::new(false);
    let t = Timeline::build(&log, &all(&log), &flagged, &never).expect("not cancelled");
    for step in [Step::Minute, Step::TenMinutes, Step::Hour, Step::Day] {
        let mut plain: Vec<(i64, u32, u32, u32)> = Vec::new();
        for (i, s) in times.iter().enumerate() {
            let start = step.floor(*s);
            match plain.last_mut() {
                Some(b) if b.0 == start => {
                    b.1 += 1;
                    b.2 += u32::from(flagged[i]);
                }
                _ => plain.push((start, 1, u32::from(flagged[i]), i as u32)),
            }
        }
        assert_eq!(shape(t.bins(step, i64::MIN / 2, i64::MAX / 2).expect("kept")), plain, "{step:?}");
    }
    let secs = t.seconds(&log, &all(&log), &flagged, (base() + 32_767, base() + 32_769), &never).expect("ok");
    assert_eq!(shape(&secs), vec![(32_767, 2, 1, 65_534), (32_768, 2, 0, 65_536)], "row 65,535 is flagged");
}

#[test]
fn the_step_follows_the_span_shown() {
    assert_eq!(Step::for_span(300, 400), Step::Second);
    assert_eq!(Step::for_span(401, 400), Step::Minute);
    assert_eq!(Step::for_span(6 * 3_600, 400), Step::Minute);
    assert_eq!(Step::for_span(3 * 86_400, 400), Step::Hour);
    assert_eq!(Step::for_span(30 * 86_400, 400), Step::Day);
    assert_eq!(Step::for_span(3_000 * 86_400, 400), Step::Day, "years: still days");
    assert_eq!(Step::Hour.floor(base() + 3_599) - base(), 0);
    assert_eq!(Step::Hour.ceil_end(base() + 3_600) - base(), 7_200);
    assert_eq!(Step::Minute.floor(-1), -60, "before 1970 too");
}
