//! The timeline's geometry: which time is where on screen, what the whole span looks like
//! before any zoom, how the wheel zooms and the axis pans, where the tick labels go, and how a
//! drag becomes a range. Pure functions of times (seconds on the axis, see
//! [`crate::analysis::timeline::to_secs`]) and points, so that they are tested without a window.

use chrono::{Datelike, Timelike};

use crate::analysis::time_range::clock;
use crate::analysis::timeline::{Step, from_secs, to_secs};

/// The least span a zoom shows, in seconds: a few second-buckets stay readable.
pub const MIN_SPAN: f64 = 20.0;

/// The visible time over a width of screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    pub from: f64,
    pub to: f64,
    pub left: f32,
    pub width: f32,
}

impl Axis {
    pub fn span(&self) -> f64 {
        (self.to - self.from).max(f64::MIN_POSITIVE)
    }

    /// The point where second `t` falls.
    pub fn x(&self, t: f64) -> f32 {
        self.left + ((t - self.from) / self.span()) as f32 * self.width
    }

    /// The time at point `x`.
    pub fn t(&self, x: f32) -> f64 {
        self.from + f64::from((x - self.left) / self.width.max(1.0)) * self.span()
    }
}

/// The window showing every row from second `lo` to second `hi` (the last row's second, so
/// its bucket ends later), and the step it is drawn in: the finest whose buckets, aligned to
/// the step, number at most `max_buckets` (days whatever their number past that).
pub fn fit(lo: i64, hi: i64, max_buckets: i64) -> (Step, (i64, i64)) {
    let aligned = |s: Step| (s.floor(lo), s.ceil_end(hi));
    let step = Step::ALL
        .into_iter()
        .find(|s| {
            let (a, b) = aligned(*s);
            (b - a) / s.seconds() <= max_buckets.max(1)
        })
        .unwrap_or(Step::Day);
    (step, aligned(step))
}

/// The window after the wheel zoomed `window` by `factor` (above 1: in) around second `at`,
/// which stays where it was on screen. `None` when it would show all of `whole` or more: the
/// timeline then fits the span again.
pub fn zoom(window: (f64, f64), at: f64, factor: f64, whole: (f64, f64)) -> Option<(f64, f64)> {
    let (from, to) = window;
    let span = ((to - from) / factor).max(MIN_SPAN);
    if span >= whole.1 - whole.0 {
        return None;
    }
    let share = if to > from { ((at - from) / (to - from)).clamp(0.0, 1.0) } else { 0.5 };
    let start = at - share * span;
    Some(keep_in(start, span, whole))
}

/// The window moved by `by` seconds, kept over the rows' span.
pub fn pan(window: (f64, f64), by: f64, whole: (f64, f64)) -> (f64, f64) {
    keep_in(window.0 + by, window.1 - window.0, whole)
}

/// A window of `span` seconds from `start`, moved back inside `whole` when it left it.
fn keep_in(start: f64, span: f64, whole: (f64, f64)) -> (f64, f64) {
    let start = start.min(whole.1 - span).max(whole.0);
    (start, start + span)
}

/// The range a drag from second `a` to second `b` selects: whole buckets of `step`, from the
/// one where the drag started to the one where it ended, whichever way it went.
pub fn snap(a: f64, b: f64, step: Step) -> (i64, i64) {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    (step.floor(lo.floor() as i64), step.ceil_end(hi.floor() as i64))
}

/// Seconds between labelled ticks: round intervals a person reads at a glance.
const TICKS: [i64; 24] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800,
    1_209_600, 2_592_000, 7_776_000, 31_536_000,
];

/// The finest tick interval that leaves at least `min_gap` points between labels.
pub fn tick_interval(axis: &Axis, min_gap: f32) -> i64 {
    let per_second = f64::from(axis.width) / axis.span();
    TICKS.into_iter().find(|t| *t as f64 * per_second >= f64::from(min_gap)).unwrap_or(TICKS[TICKS.len() - 1])
}

/// Intervals of this many seconds or more are counted in calendar months (30 days: one, 90:
/// three, 365: twelve), so that their ticks fall on the first of a month.
const MONTH: i64 = 2_592_000;

/// The ticks in the window: multiples of `interval` (days fall on midnights), or firsts of
/// months for intervals of a month and more.
pub fn ticks(axis: &Axis, interval: i64) -> Vec<i64> {
    let last = axis.to.floor() as i64;
    if interval < MONTH {
        let first = (axis.from / interval as f64).ceil() as i64 * interval;
        return (0..).map(|k| first + k * interval).take_while(|t| *t <= last).collect();
    }
    let step = ((interval + MONTH / 2) / MONTH).clamp(1, 12) as i32;
    let Some(start) = from_secs(axis.from.ceil() as i64) else {
        return Vec::new();
    };
    // Months since year 0: the first month starting in the window, then the first of those
    // on a multiple of `step` counted from January (quarters, new years).
    let mut month = start.year() * 12 + start.month0() as i32;
    if start.day() != 1 || start.time() != chrono::NaiveTime::MIN {
        month += 1;
    }
    month += (step - month.rem_euclid(step)) % step;
    let mut out = Vec::new();
    while let Some(day) = chrono::NaiveDate::from_ymd_opt(month.div_euclid(12), month.rem_euclid(12) as u32 + 1, 1) {
        let t = to_secs(day.and_time(chrono::NaiveTime::MIN));
        if t > last {
            break;
        }
        out.push(t);
        month += step;
    }
    out
}

/// A tick's label: the date with its year where a day starts, on the first tick and when ticks
/// are days apart; the time of day otherwise.
pub fn tick_label(t: i64, interval: i64, first: bool) -> String {
    let Some(time) = from_secs(t) else {
        return String::new();
    };
    let date = time.format("%-d %b %Y").to_string();
    let midnight = time.num_seconds_from_midnight() == 0;
    if interval >= 86_400 {
        date
    } else if first || midnight {
        format!("{date} {}", clock_of(time, interval))
    } else {
        clock_of(time, interval)
    }
}

/// `10:00`, with seconds when ticks are less than a minute apart.
fn clock_of(time: chrono::NaiveDateTime, interval: i64) -> String {
    if interval < 60 { time.format("%H:%M:%S").to_string() } else { clock(time) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::make_datetime;

    fn at(h: u32, m: u32, s: u32) -> i64 {
        to_secs(make_datetime(8, 6, 30, h, m, s).expect("valid"))
    }

    #[test]
    fn the_whole_span_is_drawn_in_the_finest_step_that_fits() {
        // Four hours in 460 buckets: minutes, the window from the first row's minute to the
        // end of the last row's.
        assert_eq!(fit(at(10, 0, 30), at(13, 59, 59), 460), (Step::Minute, (at(10, 0, 0), at(14, 0, 0))));
        assert_eq!(fit(at(10, 0, 0), at(13, 59, 59), 100), (Step::TenMinutes, (at(10, 0, 0), at(14, 0, 0))));
        assert_eq!(fit(at(10, 0, 5), at(10, 1, 10), 100), (Step::Second, (at(10, 0, 5), at(10, 1, 11))));
        let years = at(0, 0, 0) + 4 * 365 * 86_400;
        assert_eq!(fit(at(12, 0, 0), years, 400).0, Step::Day, "years are drawn in days however thin");
        assert_eq!(fit(at(12, 0, 0), at(12, 0, 0), 400), (Step::Second, (at(12, 0, 0), at(12, 0, 1))));
    }

    #[test]
    fn zoom_keeps_the_time_under_the_pointer_and_pan_stays_over_the_rows() {
        let whole = (0.0, 1000.0);
        assert_eq!(zoom((0.0, 1000.0), 250.0, 2.0, whole), Some((125.0, 625.0)));
        assert_eq!(zoom((125.0, 625.0), 250.0, 0.5, whole), None, "back to the whole span");
        assert_eq!(zoom((0.0, 100.0), 50.0, 100.0, whole), Some((40.0, 60.0)), "no narrower than MIN_SPAN");
        assert_eq!(zoom((900.0, 1000.0), 990.0, 0.8, whole), Some((875.0, 1000.0)), "kept inside the span");
        assert_eq!(pan((100.0, 200.0), 50.0, whole), (150.0, 250.0));
        assert_eq!(pan((100.0, 200.0), -500.0, whole), (0.0, 100.0));
        assert_eq!(pan((100.0, 200.0), 5000.0, whole), (900.0, 1000.0));
    }

    #[test]
    fn a_drag_selects_the_whole_buckets_it_touched_either_way() {
        let (a, b) = (at(10, 0, 30) as f64, at(12, 29, 30) as f64 + 0.4);
        assert_eq!(snap(a, b, Step::Minute), (at(10, 0, 0), at(12, 30, 0)));
        assert_eq!(snap(b, a, Step::Minute), (at(10, 0, 0), at(12, 30, 0)));
        assert_eq!(snap(a, b, Step::Hour), (at(10, 0, 0), at(13, 0, 0)));
    }

    #[test]
    fn ticks_are_round_and_dates_carry_the_year() {
        let axis = Axis { from: at(10, 0, 0) as f64, to: at(14, 0, 0) as f64, left: 0.0, width: 1200.0 };
        let interval = tick_interval(&axis, 130.0);
        assert_eq!(interval, 1800, "a tick every half hour: 150 points apart");
        let half_hours = ticks(&axis, interval);
        assert_eq!(half_hours.len(), 9);
        assert_eq!(half_hours[0], at(10, 0, 0));
        assert_eq!(tick_label(half_hours[0], interval, true), "30 Jun 2008 10:00");
        assert_eq!(tick_label(half_hours[1], interval, false), "10:30");
        let midnight = to_secs(make_datetime(8, 7, 1, 0, 0, 0).expect("valid"));
        assert_eq!(tick_label(midnight, 3600, false), "1 Jul 2008 00:00");
        assert_eq!(tick_label(midnight, 86_400, false), "1 Jul 2008");
        assert_eq!(tick_label(at(10, 0, 15), 15, false), "10:00:15");
        assert_eq!((axis.x(at(12, 0, 0) as f64), axis.t(900.0)), (600.0, at(13, 0, 0) as f64));

        // Four years: ticks on new year's days, a month: on firsts of months.
        let day = |y, m, d| to_secs(make_datetime(y, m, d, 0, 0, 0).expect("valid"));
        let years = Axis { from: day(4, 1, 24) as f64, to: day(8, 7, 1) as f64, left: 0.0, width: 1200.0 };
        let interval = tick_interval(&years, 130.0);
        assert_eq!(interval, 31_536_000);
        assert_eq!(ticks(&years, interval), vec![day(5, 1, 1), day(6, 1, 1), day(7, 1, 1), day(8, 1, 1)]);
        assert_eq!(tick_label(day(5, 1, 1), interval, true), "1 Jan 2005");
        let months = Axis { from: day(8, 1, 15) as f64, to: day(8, 5, 2) as f64, left: 0.0, width: 500.0 };
        assert_eq!(ticks(&months, 2_592_000), vec![day(8, 2, 1), day(8, 3, 1), day(8, 4, 1), day(8, 5, 1)]);
        assert_eq!(ticks(&months, 7_776_000), vec![day(8, 4, 1)], "quarters from January");
    }
}
