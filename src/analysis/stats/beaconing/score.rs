//! The beacon score of one list of connection times, after RITA's timestamp and duration
//! scores with its data-size and histogram terms left out (the logs hold no byte counts).
//!
//! Three terms, each from 0 to 1:
//! - skew: `1 - |Bowley skew|` of the gaps between connections. A timer's gaps are symmetric
//!   about their median; a person's are not. As in RITA, the skew counts as 0 when the
//!   quartiles lie within 10 s of each other or the median equals a quartile, so a jitter of a
//!   few seconds is not read as skew.
//! - dispersion: `(median - MAD - 1 s) / median` of the gaps (MAD: median absolute deviation),
//!   0 when negative. RITA has no second term; here times are whole seconds, so every gap is
//!   known to a second only: a burst of connections one second apart (a browser opening a
//!   page) has no measurable rhythm, and would otherwise look perfectly regular.
//! - coverage: how much of the observed span the connections cover, each one covering one
//!   median gap: `connections * median / span`, at most 1. A timer that ran the whole time
//!   covers all of it; a burst of regular connections in one hour of a day covers 1/24.
//!
//! Score: `(skew + dispersion) / 4 + coverage / 2` — RITA's timestamp score (the mean of the
//! first two) and its coverage weighted equally — rounded to three decimals. Gaps of zero (two
//! connections in the same second) are left out, as RITA does; fewer than three other gaps
//! give 0.

/// What a connection list scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The median of the non-zero gaps, in seconds (0 when there are none).
    pub median_interval_s: f64,
    pub score: f64,
}

/// Quartile spread below which the skew is not measured, in seconds (RITA's).
const MIN_SKEW_SPREAD: f64 = 10.0;

/// How precisely the logs time a row, in seconds.
const RESOLUTION_S: f64 = 1.0;

/// Scores connection times (seconds, sorted ascending) over an observed span of `span_s`
/// seconds.
pub fn score(times: &[i64], span_s: i64) -> Scored {
    let mut gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) as f64).filter(|g| *g > 0.0).collect();
    gaps.sort_by(f64::total_cmp);
    if gaps.len() < 3 {
        return Scored { median_interval_s: median(&gaps).unwrap_or(0.0), score: 0.0 };
    }
    let mid = median(&gaps).unwrap_or(0.0);
    let skew = 1.0 - bowley_skew(&gaps).abs();
    let dispersion = dispersion(&gaps, mid);
    let coverage = if span_s > 0 { (times.len() as f64 * mid / span_s as f64).min(1.0) } else { 0.0 };
    let score = (skew + dispersion) / 4.0 + coverage / 2.0;
    Scored { median_interval_s: mid, score: round3(score.clamp(0.0, 1.0)) }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if !n.is_multiple_of(2) => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Bowley's skew `(Q1 + Q3 - 2 Q2) / (Q3 - Q1)` of sorted values (at least three), with the
/// quartiles as RITA's statistics library takes them: the medians of the lower and upper
/// halves, the middle value left out of both when the count is odd.
pub fn bowley_skew(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    let (lower_end, upper_start) = if n.is_multiple_of(2) { (n / 2, n / 2) } else { (n / 2, n / 2 + 1) };
    let (Some(q1), Some(q2), Some(q3)) = (median(&sorted[..lower_end]), median(sorted), median(&sorted[upper_start..]))
    else {
        return 0.0;
    };
    let spread = q3 - q1;
    if spread < MIN_SKEW_SPREAD || q2 == q1 || q2 == q3 {
        return 0.0;
    }
    (q1 + q3 - 2.0 * q2) / spread
}

/// `(median - MAD - resolution) / median`, from 0 to 1.
fn dispersion(sorted: &[f64], mid: f64) -> f64 {
    if mid <= RESOLUTION_S {
        return 0.0;
    }
    let mut deviations: Vec<f64> = sorted.iter().map(|g| (g - mid).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    let mad = median(&deviations).unwrap_or(0.0);
    ((mid - mad - RESOLUTION_S) / mid).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connection times from gaps, starting at 0.
    fn times(gaps: &[i64]) -> Vec<i64> {
        std::iter::once(0)
            .chain(gaps.iter().scan(0, |t, g| {
                *t += g;
                Some(*t)
            }))
            .collect()
    }

    #[test]
    fn a_perfect_timer_over_the_whole_span_loses_only_the_second_it_is_timed_to() {
        let t = times(&[60; 9]);
        // 10 connections, median 60 s: they cover 600 s of a 540 s span (capped at 1).
        // Skew 1, dispersion 59 / 60: (1 + 59 / 60) / 4 + 1 / 2 = 0.99583.
        assert_eq!(score(&t, 540), Scored { median_interval_s: 60.0, score: 0.996 });
    }

    #[test]
    fn coverage_is_connections_times_the_median_over_the_span() {
        let t = times(&[60; 9]);
        // 10 * 60 / 6000 = 0.1: (1 + 59 / 60) / 4 + 0.1 / 2 = 0.54583.
        assert_eq!(score(&t, 6000).score, 0.546);
        assert_eq!(score(&t, 0).score, 0.496);
    }

    #[test]
    fn jitter_of_a_few_seconds_costs_only_its_dispersion() {
        // Gaps sorted: 297 298 299 300 300 301 302 303; median 300; quartiles 298.5 and 301.5,
        // 3 s apart (under 10: no skew). Deviations 0 0 1 1 2 2 3 3: MAD 1.5.
        let t = times(&[300, 297, 303, 298, 302, 300, 299, 301]);
        let s = score(&t, 9 * 300);
        let dispersion = (300.0 - 1.5 - 1.0) / 300.0;
        assert_eq!(s.median_interval_s, 300.0);
        assert_eq!(s.score, round3((1.0 + dispersion) / 4.0 + 0.5));
        assert_eq!(s.score, 0.998);
    }

    #[test]
    fn skewed_gaps_score_low() {
        // Gaps sorted: 5 10 20 30 60 600 3600 (odd: Q1 = median(5 10 20) = 10, Q2 = 30,
        // Q3 = median(60 600 3600) = 600). Bowley: (10 + 600 - 60) / 590 = 0.9322.
        let gaps = [600, 5, 3600, 10, 30, 20, 60];
        let mut sorted: Vec<f64> = gaps.iter().map(|g| *g as f64).collect();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(bowley_skew(&sorted), 550.0 / 590.0);
        // MAD: deviations from 30: 25 20 10 0 30 570 3570 -> sorted 0 10 20 25 30 570 3570,
        // median 25: dispersion (30 - 25 - 1) / 30. Coverage 8 * 30 / 4325.
        let t = times(&gaps);
        let expected = (1.0 - 550.0 / 590.0 + 4.0 / 30.0) / 4.0 + (8.0 * 30.0 / 4325.0) / 2.0;
        assert_eq!(score(&t, 4325), Scored { median_interval_s: 30.0, score: round3(expected) });
        assert_eq!(round3(expected), 0.078);
    }

    #[test]
    fn a_burst_a_second_apart_has_no_rhythm() {
        // A page's connections: gaps of 1 s, then a pause. Skew 1 (quartiles equal), but the
        // median gap is the log's resolution: dispersion 0. Coverage 8 * 1 / 3600.
        let t = times(&[1, 1, 1, 1, 1, 1, 3000]);
        assert_eq!(score(&t, 3600), Scored { median_interval_s: 1.0, score: 0.251 });
    }

    #[test]
    fn even_counts_take_quartiles_from_halves() {
        // 1 2 | 40 100: Q1 1.5, Q2 21, Q3 70: (1.5 + 70 - 42) / 68.5.
        assert_eq!(bowley_skew(&[1.0, 2.0, 40.0, 100.0]), 29.5 / 68.5);
        // Median equal to a quartile: no skew measured.
        assert_eq!(bowley_skew(&[1.0, 50.0, 50.0, 50.0, 50.0, 100.0]), 0.0);
    }

    #[test]
    fn connections_in_the_same_second_are_not_gaps() {
        // Gaps 0 0 0 60 60: two non-zero gaps only.
        let t = times(&[0, 0, 0, 60, 60]);
        assert_eq!(score(&t, 120), Scored { median_interval_s: 60.0, score: 0.0 });
        // With a third, it scores; the zero gaps are ignored (median 60, not 0).
        let t = times(&[0, 0, 0, 60, 60, 60]);
        assert_eq!(score(&t, 180), Scored { median_interval_s: 60.0, score: 0.996 });
    }

    #[test]
    fn dispersion_is_the_mad_relative_to_the_median() {
        // Deviations from 100: 0 10 50 99 200; MAD 50: (100 - 50 - 1) / 100.
        assert_eq!(dispersion(&[1.0, 50.0, 100.0, 110.0, 300.0], 100.0), 0.49);
        // Deviations from 100: 0 99 99 100 200; MAD 99: nothing left after the second.
        assert_eq!(dispersion(&[1.0, 1.0, 100.0, 200.0, 300.0], 100.0), 0.0);
        assert_eq!(dispersion(&[1.0, 1.0, 1.0], 1.0), 0.0);
    }
}
