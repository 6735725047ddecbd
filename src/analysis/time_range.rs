//! Times a person types and the ranges they make: `prparser report --from/--to`, `prparser
//! follow --from`, the timeline's selection in the app, and any later command that takes a
//! time (a baseline's end).
//!
//! The logs carry no time zone: Port Reporter writes the machine's local time, and rows are
//! compared as written. A time is therefore read as the logs' own local time, and one given
//! with an offset (`Z`, `+02:00`, `UTC`) is refused rather than converted to a zone the logs
//! do not know. A range is half-open: from inclusive, to exclusive, so consecutive ranges
//! (`--from 10:00 --to 11:00`, then `--from 11:00`) never count a row twice.

use std::fmt;

use chrono::{NaiveDateTime, Timelike};

/// How times are written in JSON and in errors: ISO 8601 without a zone, as `first` and
/// `last` of a report are.
pub const ISO: &str = "%Y-%m-%dT%H:%M:%S";

/// A time as the report writes it.
pub fn iso(t: NaiveDateTime) -> String {
    t.format(ISO).to_string()
}

/// Why a typed time or range was refused. Each message names the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("cannot read {0:?} as a time: write 2008-06-30T10:00:00 or 08/6/30 10:00:00 (the logs' local time)")]
    Unreadable(String),
    #[error(
        "{0:?} has a time-zone offset, but the logs carry no zone: give the time as the logs write it (their local time), without the offset"
    )]
    Offset(String),
    #[error("the range starts at {from} after it ends at {to}")]
    Reversed { from: String, to: String },
}

/// Reads a time as a person or the logs write it: ISO (`2008-06-30T10:00:00`, `2008-06-30
/// 10:00`), the PORTS spelling (`08/6/30 10:00:00`, `08/6/30,10:0:0`), the other spellings
/// Port Reporter's PIDS log uses, or a date alone (its midnight).
pub fn parse_time(text: &str) -> Result<NaiveDateTime, TimeError> {
    let t = text.trim();
    if has_offset(t) {
        return Err(TimeError::Offset(text.to_string()));
    }
    let date_only = !t.contains(|c: char| c == ',' || c == 'T' || c.is_whitespace());
    let parsed = if date_only {
        crate::logs::pids::parse_log_time(&format!("{t} 0:0:0"))
    } else {
        crate::logs::pids::parse_log_time(t)
    };
    parsed.ok_or_else(|| TimeError::Unreadable(text.to_string()))
}

/// Whether the part after the date names a zone: `Z`, `+hh:mm`, `-hhmm`, `UTC`, `GMT`. The
/// date may hold `-` (ISO), the time never does.
fn has_offset(t: &str) -> bool {
    let Some((_, rest)) = t.split_once(|c: char| c == ',' || c == 'T' || c.is_whitespace()) else {
        return false;
    };
    let upper = rest.to_ascii_uppercase();
    rest.contains(['+', '-'])
        || upper.trim_end().ends_with('Z')
        || upper.split(|c: char| !c.is_ascii_alphabetic()).any(|w| w == "UTC" || w == "GMT")
}

/// A half-open span of log time: rows at or after `from` and before `to`; a missing end is
/// open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

impl TimeRange {
    /// Every time.
    pub const ALL: TimeRange = TimeRange { from: None, to: None };

    /// The range between two times; refused when it would end before it starts (an empty
    /// range, `from == to`, is a range: it holds no rows).
    pub fn new(from: Option<NaiveDateTime>, to: Option<NaiveDateTime>) -> Result<TimeRange, TimeError> {
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(TimeError::Reversed { from: iso(f), to: iso(t) });
        }
        Ok(TimeRange { from, to })
    }

    /// The range typed as two optional times (see [`parse_time`]).
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<TimeRange, TimeError> {
        TimeRange::new(from.map(parse_time).transpose()?, to.map(parse_time).transpose()?)
    }

    pub fn is_all(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    #[inline]
    pub fn contains(&self, t: NaiveDateTime) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    /// How the range is named to a person: `30 Jun 2008 10:00 – 12:30` (the date written
    /// once when both ends fall on it), seconds only where they are not zero.
    pub fn label(&self) -> String {
        match (self.from, self.to) {
            (Some(f), Some(t)) if f.date() == t.date() => format!("{} – {}", day_and_time(f), clock(t)),
            (Some(f), Some(t)) => format!("{} – {}", day_and_time(f), day_and_time(t)),
            (Some(f), None) => format!("from {}", day_and_time(f)),
            (None, Some(t)) => format!("before {}", day_and_time(t)),
            (None, None) => "all times".to_string(),
        }
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// `30 Jun 2008 10:00`: the year always, the month by name (no day/month order to guess).
pub fn day_and_time(t: NaiveDateTime) -> String {
    format!("{} {}", t.format("%-d %b %Y"), clock(t))
}

/// `10:00`, or `10:00:05` when the seconds are not zero.
pub fn clock(t: NaiveDateTime) -> String {
    if t.second() == 0 { t.format("%H:%M").to_string() } else { t.format("%H:%M:%S").to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::make_datetime;

    fn at(h: u32, m: u32, s: u32) -> NaiveDateTime {
        make_datetime(8, 6, 30, h, m, s).expect("valid")
    }

    #[test]
    fn iso_and_the_logs_own_spelling_read_the_same() {
        for text in [
            "2008-06-30T10:00:00",
            "2008-06-30 10:00:00",
            "2008-06-30T10:00",
            "08/6/30 10:00:00",
            "08/6/30,10:0:0",
            " 2008-06-30T10:00:00 ",
        ] {
            assert_eq!(parse_time(text), Ok(at(10, 0, 0)), "{text}");
        }
        assert_eq!(parse_time("2008-06-30"), Ok(at(0, 0, 0)), "a date alone is its midnight");
        assert_eq!(parse_time("08/6/30"), Ok(at(0, 0, 0)));
        assert_eq!(parse_time("08/6/30 23:59:59"), Ok(at(23, 59, 59)));
    }

    #[test]
    fn a_time_with_an_offset_is_refused_and_nonsense_named() {
        for text in [
            "2008-06-30T10:00:00Z",
            "2008-06-30T10:00:00+02:00",
            "2008-06-30T10:00:00-0500",
            "2008-06-30 10:00:00 UTC",
            "08/6/30 10:00:00 GMT+1",
        ] {
            assert_eq!(parse_time(text), Err(TimeError::Offset(text.to_string())), "{text}");
        }
        for text in ["", "yesterday", "2008-13-01T10:00:00", "2008-02-30", "08/6/30 25:00:00", "10:00"] {
            assert_eq!(parse_time(text), Err(TimeError::Unreadable(text.to_string())), "{text}");
        }
        assert_eq!(
            TimeError::Unreadable("2008-13-01".into()).to_string(),
            "cannot read \"2008-13-01\" as a time: write 2008-06-30T10:00:00 or 08/6/30 10:00:00 (the logs' local time)"
        );
    }

    #[test]
    fn from_is_inclusive_and_to_exclusive() {
        let range = TimeRange::parse(Some("2008-06-30T10:00:00"), Some("08/6/30 12:30:00")).expect("a range");
        assert!(!range.contains(at(9, 59, 59)));
        assert!(range.contains(at(10, 0, 0)));
        assert!(range.contains(at(12, 29, 59)));
        assert!(!range.contains(at(12, 30, 0)));
        let open = TimeRange::parse(None, Some("2008-06-30T10:00:00")).expect("open start");
        assert!(open.contains(at(0, 0, 0)) && !open.contains(at(10, 0, 0)));
        assert!(TimeRange::ALL.contains(at(10, 0, 0)) && TimeRange::ALL.is_all());
        let empty = TimeRange::parse(Some("2008-06-30T10:00:00"), Some("2008-06-30T10:00:00")).expect("empty");
        assert!(!empty.contains(at(10, 0, 0)), "from == to holds no rows");
        assert_eq!(
            TimeRange::parse(Some("2008-06-30T12:00:00"), Some("2008-06-30T10:00:00")),
            Err(TimeError::Reversed { from: "2008-06-30T12:00:00".into(), to: "2008-06-30T10:00:00".into() })
        );
    }

    #[test]
    fn labels_carry_the_year_and_name_the_month() {
        let range = |from, to| TimeRange { from, to }.label();
        assert_eq!(range(Some(at(10, 0, 0)), Some(at(12, 30, 0))), "30 Jun 2008 10:00 – 12:30");
        let next_day = make_datetime(8, 7, 1, 2, 0, 5);
        assert_eq!(range(Some(at(10, 0, 0)), next_day), "30 Jun 2008 10:00 – 1 Jul 2008 02:00:05");
        assert_eq!(range(Some(at(10, 0, 0)), None), "from 30 Jun 2008 10:00");
        assert_eq!(range(None, Some(at(10, 0, 0))), "before 30 Jun 2008 10:00");
        assert_eq!(range(None, None), "all times");
    }
}
