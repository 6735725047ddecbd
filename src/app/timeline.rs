//! The timeline above the grid: rows per time bucket over the whole span of the logs, flagged
//! rows stacked in red on top; the wheel zooms around the pointer, dragging the axis pans, a
//! drag across the bars selects a time range (the grid and the statistics then show only that
//! range), a click on a bar brings the grid to the bar's earliest row (found by a job when the
//! grid is sorted: only a scan of every row finds it then).
//!
//! It counts the rows that pass the grid's other filters ([`view::Passing`], which the view
//! job hands over with every view), over every time: the selection is only shaded, so that it
//! can be widened. Counting is a job ([`Timeline::build`], minute buckets once, coarser steps
//! summed from them); seconds are counted, also as a job, for the window shown once the
//! person zooms that far in. A frame only binary-searches the kept buckets and paints the few
//! hundred that fit the width.

mod axis;

use std::sync::{Arc, Weak};

use egui::{Color32, CornerRadius, Rect, RichText, Sense, Ui, pos2, vec2};

use super::PrParserApp;
use super::handling::ViewRequest;
use super::jobs::{Done, Request, Slot, Ticket};
use crate::analysis::criteria::Evaluation;
use crate::analysis::time_range::TimeRange;
use crate::analysis::timeline::{Bin, Step, Timeline, from_secs, to_secs};
use crate::analysis::view::{self, Passing};
use axis::Axis;

const BARS_HEIGHT: f32 = 84.0;
const AXIS_HEIGHT: f32 = 18.0;
/// The narrowest a bucket is drawn before a coarser step is taken.
const MIN_BAR_WIDTH: f32 = 3.0;
/// Points between tick labels, at least: a label with its date is about this wide.
const TICK_GAP: f32 = 140.0;
/// Room kept at the axis's right end for the bucket size.
const STEP_LABEL_WIDTH: f32 = 130.0;
/// How much one point of wheel movement zooms (e^(points × this)).
const ZOOM_PER_POINT: f64 = 0.004;
const BAR: Color32 = Color32::from_rgb(0x4a, 0x8f, 0xd8);

/// A count of the rows, and what it counted (held weakly: a newer passing set or evaluation
/// replaces them, and an old one is then no longer kept alive for this).
struct Counted {
    timeline: Arc<Timeline>,
    passing: Weak<Passing>,
    evaluation: Weak<Evaluation>,
}

/// Second buckets of a window, counted for one timeline.
struct SecondBins {
    timeline: Weak<Timeline>,
    window: (i64, i64),
    bins: Arc<Vec<Bin>>,
}

/// Count these rows with these flags.
#[derive(Clone)]
pub(super) struct CountRequest {
    passing: Arc<Passing>,
    evaluation: Arc<Evaluation>,
}

impl Request for CountRequest {
    fn merge(self, newer: Self) -> Self {
        newer
    }
}

/// Count the seconds of a window of this timeline's rows.
#[derive(Clone)]
pub(super) struct SecondsRequest {
    timeline: Arc<Timeline>,
    passing: Arc<Passing>,
    evaluation: Arc<Evaluation>,
    window: (i64, i64),
}

impl Request for SecondsRequest {
    fn merge(self, newer: Self) -> Self {
        newer
    }
}

/// Find where a bar's first row stands in the grid's rows (sorted: they must be scanned).
#[derive(Clone)]
pub(super) struct FindRequest {
    view: Arc<Vec<u32>>,
    row: u32,
}

impl Request for FindRequest {
    fn merge(self, newer: Self) -> Self {
        newer
    }
}

/// What a timeline job reports.
pub enum TimelineDone {
    Counted { generation: u64, result: Result<Timeline, view::Cancelled> },
    Seconds { generation: u64, result: Result<Vec<Bin>, view::Cancelled> },
    Found { generation: u64, result: Result<Option<usize>, view::Cancelled> },
}

#[derive(Default)]
pub struct TimelineState {
    /// The rows passing the grid's filters but its time range, from the last view job.
    pub(super) passing: Option<Arc<Passing>>,
    counted: Option<Counted>,
    count: Slot<CountRequest>,
    seconds: Slot<SecondsRequest>,
    /// A clicked bar's first row being looked for in a sorted grid.
    find: Slot<FindRequest>,
    second_bins: Option<SecondBins>,
    /// The time shown, in axis seconds; `None` follows the whole span (and live rows).
    window: Option<(f64, f64)>,
    /// Where a selecting drag started, in axis seconds.
    selecting: Option<f64>,
}

impl TimelineState {
    pub(super) fn is_idle(&self) -> bool {
        self.count.is_idle() && self.seconds.is_idle() && self.find.is_idle()
    }

    /// Forgets everything about the rows on screen (a new dataset replaces them).
    pub(super) fn reset(&mut self) {
        self.count.cancel();
        self.seconds.cancel();
        self.find.cancel();
        self.passing = None;
        self.counted = None;
        self.second_bins = None;
        self.window = None;
        self.selecting = None;
    }
}

/// What the person did on the timeline this frame.
#[derive(Default)]
struct Events {
    range: Option<TimeRange>,
    go_to: Option<u32>,
}

/// The buckets to draw and the step they are of (minutes stand in for seconds while those
/// are counted).
struct Shown {
    step: Step,
    bins: Vec<Bin>,
}

impl PrParserApp {
    /// The timeline, above the grid.
    pub(super) fn timeline_ui(&mut self, ui: &mut Ui) {
        self.want_count();
        let counting = !self.timeline.count.is_idle();
        let finding = !self.timeline.find.is_idle();
        let counted = self.timeline.counted.as_ref().map(|c| Arc::clone(&c.timeline));
        ui.horizontal(|ui| {
            ui.strong("Timeline");
            if let Some(t) = &counted {
                ui.label(
                    RichText::new(format!(
                        "{} rows, {} flagged",
                        super::numbers::thousands(t.rows),
                        super::numbers::thousands(t.flagged)
                    ))
                    .weak(),
                );
            }
            if counting {
                ui.spinner();
            }
            if finding {
                ui.label(RichText::new("Finding the bar's first row...").weak());
            }
            ui.label(
                RichText::new(
                    "wheel: zoom · drag the axis: pan · drag across the bars: select a range · click a bar: its first row",
                )
                .weak()
                .small(),
            );
            if self.timeline.window.is_some() && ui.button("Whole span").clicked() {
                self.timeline.window = None;
            }
        });
        let width = ui.available_width();
        let (bars, _) = ui.allocate_exact_size(vec2(width, BARS_HEIGHT), Sense::hover());
        let (axis_rect, _) = ui.allocate_exact_size(vec2(width, AXIS_HEIGHT), Sense::hover());
        let bars_response = ui.interact(bars, ui.scope_id().with("timeline-bars"), Sense::click_and_drag());
        bars_response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "Timeline bars"));
        let axis_response = ui.interact(axis_rect, ui.scope_id().with("timeline-axis"), Sense::drag());
        axis_response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::ScrollBar, true, "Timeline axis"));
        let visuals = ui.visuals().clone();
        ui.painter().rect_filled(bars, 2.0, visuals.extreme_bg_color);
        let Some(timeline) = counted else {
            let text = if counting { "Counting rows..." } else { "" };
            ui.painter().text(
                bars.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::default(),
                visuals.weak_text_color(),
            );
            return;
        };
        let Some((lo, hi)) = timeline.span else {
            ui.painter().text(
                bars.center(),
                egui::Align2::CENTER_CENTER,
                "No rows pass the filters",
                egui::FontId::default(),
                visuals.weak_text_color(),
            );
            return;
        };
        let max_buckets = ((bars.width() / MIN_BAR_WIDTH) as i64).max(1);
        let (_, fitted) = axis::fit(lo, hi, max_buckets);
        let whole = (fitted.0 as f64, fitted.1 as f64);
        let window = self.timeline.window.unwrap_or(whole);
        let mut ax = Axis { from: window.0, to: window.1, left: bars.left(), width: bars.width() };

        // The wheel and the axis move the window before anything is drawn in it.
        if ui.rect_contains_pointer(bars.union(axis_rect)) {
            let (scroll, zoom, pointer) =
                ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta(), i.pointer.hover_pos()));
            let factor = f64::from(zoom) * (f64::from(scroll) * ZOOM_PER_POINT).exp();
            if let Some(p) = pointer
                && (factor - 1.0).abs() > 1e-6
            {
                self.timeline.window = axis::zoom((ax.from, ax.to), ax.t(p.x), factor, whole);
            }
        }
        if axis_response.dragged() {
            let by = -f64::from(axis_response.drag_delta().x / ax.width.max(1.0)) * ax.span();
            if by != 0.0 {
                self.timeline.window = Some(axis::pan((ax.from, ax.to), by, whole));
            }
        }
        if let Some(w) = self.timeline.window {
            (ax.from, ax.to) = w;
        }
        let step = Step::for_span(ax.span().ceil() as i64, max_buckets);
        let shown = self.shown_bins(&timeline, &ax, step);
        let events = self.timeline_input(ui, &bars_response, &ax, &shown);
        let drawn = Drawn {
            bars,
            axis_rect,
            ax: &ax,
            shown: &shown,
            range: self.filters.range,
            selecting: self.timeline.selecting,
        };
        paint(ui, &drawn, &bars_response);
        let step_rect = Rect::from_min_max(pos2(axis_rect.right() - STEP_LABEL_WIDTH, axis_rect.top()), axis_rect.max);
        ui.put(
            step_rect,
            egui::Label::new(RichText::new(format!("1 bar = {}", shown.step.name())).small().weak()).selectable(false),
        );
        if let Some(range) = events.range {
            self.filters.range = range;
            self.request_view(ViewRequest::Range);
        }
        if let Some(row) = events.go_to {
            self.go_to_row(row);
        }
    }

    /// Hover, click and selecting drags on the bars.
    fn timeline_input(&mut self, ui: &Ui, response: &egui::Response, ax: &Axis, shown: &Shown) -> Events {
        let mut events = Events::default();
        let bin_at = |x: f32| {
            let start = shown.step.floor(ax.t(x).floor() as i64);
            let found = shown.bins.binary_search_by_key(&start, |b| b.start).ok().map(|i| shown.bins[i]);
            (start, found)
        };
        if response.drag_started()
            && let Some(origin) = ui.input(|i| i.pointer.press_origin())
        {
            self.timeline.selecting = Some(ax.t(origin.x));
        }
        if response.drag_stopped()
            && let (Some(start), Some(end)) = (self.timeline.selecting.take(), response.interact_pointer_pos())
        {
            let (a, b) = axis::snap(start, ax.t(end.x), shown.step);
            if let (Some(from), Some(to)) = (from_secs(a), from_secs(b)) {
                events.range = Some(TimeRange { from: Some(from), to: Some(to) });
            }
        }
        if response.clicked()
            && let Some(p) = response.interact_pointer_pos()
            && let (_, Some(bin)) = bin_at(p.x)
        {
            events.go_to = Some(bin.first);
        }
        if self.timeline.selecting.is_none()
            && let Some(p) = response.hover_pos()
        {
            let (start, bin) = bin_at(p.x);
            let range = TimeRange { from: from_secs(start), to: from_secs(start + shown.step.seconds()) };
            let (rows, flagged) = bin.map_or((0, 0), |b| (b.rows, b.flagged));
            egui::containers::Tooltip::for_widget(response).at_pointer().gap(12.0).show(|ui| {
                ui.strong(range.label());
                ui.label(format!("Rows: {}", super::numbers::thousands(u64::from(rows))));
                ui.label(
                    RichText::new(format!("Flagged rows: {}", super::numbers::thousands(u64::from(flagged))))
                        .color(super::grid::FLAGGED),
                );
            });
        }
        events
    }

    /// The buckets of `step` in the window; for seconds, those counted for it (asked for when
    /// missing, minutes meanwhile).
    fn shown_bins(&mut self, timeline: &Arc<Timeline>, ax: &Axis, step: Step) -> Shown {
        let (from, to) = (ax.from.floor() as i64, ax.to.ceil() as i64);
        if let Some(bins) = timeline.bins(step, from, to) {
            return Shown { step, bins: bins.to_vec() };
        }
        let counted =
            self.timeline.second_bins.as_ref().filter(|s| {
                Weak::as_ptr(&s.timeline) == Arc::as_ptr(timeline) && s.window.0 <= from && s.window.1 >= to
            });
        if let Some(seconds) = counted {
            let bins = &seconds.bins;
            let a = bins.partition_point(|b| b.start < from);
            let b = bins.partition_point(|b| b.start < to);
            return Shown { step, bins: bins[a..b.max(a)].to_vec() };
        }
        self.want_seconds(timeline, (from, to));
        Shown { step: Step::Minute, bins: timeline.bins(Step::Minute, from, to).unwrap_or(&[]).to_vec() }
    }

    /// Asks for the rows to be counted when what is counted is not the grid's rows and flags.
    fn want_count(&mut self) {
        let Some(passing) = self.timeline.passing.clone() else {
            return;
        };
        // The view and the flags are about to change what is counted: count once, after.
        if !self.work.view.is_idle() || !self.work.flags.is_idle() {
            return;
        }
        let evaluation = Arc::clone(&self.evaluation);
        let same = |p: &Arc<Passing>, e: &Arc<Evaluation>| Arc::ptr_eq(p, &passing) && Arc::ptr_eq(e, &evaluation);
        let counted = self.timeline.counted.as_ref().is_some_and(|c| {
            Weak::as_ptr(&c.passing) == Arc::as_ptr(&passing) && Weak::as_ptr(&c.evaluation) == Arc::as_ptr(&evaluation)
        });
        let asked = self.timeline.count.current().is_some_and(|(r, _)| same(&r.passing, &r.evaluation))
            || self.timeline.count.waiting().is_some_and(|r| same(&r.passing, &r.evaluation));
        if counted || asked {
            return;
        }
        if let Some(request) = self.timeline.count.ask(CountRequest { passing, evaluation }) {
            self.start_count(request);
        }
    }

    fn start_count(&mut self, request: CountRequest) {
        let Some(data) = self.data.clone() else {
            return;
        };
        let Ticket { generation, request, flag } = self.timeline.count.start(request);
        let started = self.jobs.spawn("timeline", move || {
            let result = Timeline::build(&data.set.ports, &request.passing, &request.evaluation.flagged, &flag);
            Done::Timeline(TimelineDone::Counted { generation, result })
        });
        if let Err(e) = started {
            self.timeline.count.not_started();
            self.not_started(e);
        }
    }

    /// Asks for the seconds of a window around `(from, to)`, as wide again on each side so
    /// that a little panning needs no new count.
    fn want_seconds(&mut self, timeline: &Arc<Timeline>, (from, to): (i64, i64)) {
        let covers = |r: &SecondsRequest| Arc::ptr_eq(&r.timeline, timeline) && r.window.0 <= from && r.window.1 >= to;
        if self.timeline.seconds.current().is_some_and(|(r, _)| covers(r))
            || self.timeline.seconds.waiting().is_some_and(covers)
        {
            return;
        }
        let (Some(passing), Some(evaluation)) = (
            self.timeline.counted.as_ref().and_then(|c| c.passing.upgrade()),
            self.timeline.counted.as_ref().and_then(|c| c.evaluation.upgrade()),
        ) else {
            return;
        };
        let pad = to - from;
        let request =
            SecondsRequest { timeline: Arc::clone(timeline), passing, evaluation, window: (from - pad, to + pad) };
        if let Some(request) = self.timeline.seconds.ask(request) {
            self.start_seconds(request);
        }
    }

    fn start_seconds(&mut self, request: SecondsRequest) {
        let Some(data) = self.data.clone() else {
            return;
        };
        let Ticket { generation, request, flag } = self.timeline.seconds.start(request);
        let started = self.jobs.spawn("timeline-seconds", move || {
            let result = request.timeline.seconds(
                &data.set.ports,
                &request.passing,
                &request.evaluation.flagged,
                request.window,
                &flag,
            );
            Done::Timeline(TimelineDone::Seconds { generation, result })
        });
        if let Err(e) = started {
            self.timeline.seconds.not_started();
            self.not_started(e);
        }
    }

    /// Takes in a timeline job's result.
    pub(super) fn timeline_done(&mut self, done: TimelineDone) {
        match done {
            TimelineDone::Counted { generation, result } => {
                let Some(finished) = self.timeline.count.finish(generation) else {
                    return;
                };
                if finished.current
                    && let Ok(timeline) = result
                {
                    self.timeline.counted = Some(Counted {
                        timeline: Arc::new(timeline),
                        passing: Arc::downgrade(&finished.request.passing),
                        evaluation: Arc::downgrade(&finished.request.evaluation),
                    });
                }
                if let Some(next) = finished.next {
                    self.start_count(next);
                }
            }
            TimelineDone::Seconds { generation, result } => {
                let Some(finished) = self.timeline.seconds.finish(generation) else {
                    return;
                };
                if finished.current
                    && let Ok(bins) = result
                {
                    self.timeline.second_bins = Some(SecondBins {
                        timeline: Arc::downgrade(&finished.request.timeline),
                        window: finished.request.window,
                        bins: Arc::new(bins),
                    });
                }
                if let Some(next) = finished.next {
                    self.start_seconds(next);
                }
            }
            TimelineDone::Found { generation, result } => {
                let Some(finished) = self.timeline.find.finish(generation) else {
                    return;
                };
                if let Some(next) = finished.next {
                    self.start_find(next);
                } else if finished.current
                    && let Ok(pos) = result
                {
                    let FindRequest { view, row } = finished.request;
                    if Arc::ptr_eq(&view, &self.view) {
                        self.found_row(row, pos);
                    } else {
                        // The grid's rows changed (a new sort or filter) while they were
                        // scanned: the position is of the old ones; look again.
                        self.go_to_row(row);
                    }
                }
            }
        }
    }

    /// Brings the grid to `row` and selects it. Unsorted, the grid's rows ascend and a binary
    /// search finds it in the frame; sorted, only a scan of every row can, so that runs as a
    /// job and the grid moves when it reports.
    fn go_to_row(&mut self, row: u32) {
        if self.settings.sort.is_none() {
            let pos = self.view.binary_search(&row).ok();
            self.found_row(row, pos);
            return;
        }
        if let Some(request) = self.timeline.find.ask(FindRequest { view: Arc::clone(&self.view), row }) {
            self.start_find(request);
        }
    }

    fn start_find(&mut self, request: FindRequest) {
        let Ticket { generation, request, flag } = self.timeline.find.start(request);
        let started = self.jobs.spawn("timeline-find", move || {
            let result = view::position(&request.view, request.row, &flag);
            Done::Timeline(TimelineDone::Found { generation, result })
        });
        if let Err(e) = started {
            self.timeline.find.not_started();
            self.not_started(e);
        }
    }

    /// Scrolls the grid to `row` at `pos`, or says why it cannot: the row is outside the
    /// grid's current range.
    fn found_row(&mut self, row: u32, pos: Option<usize>) {
        match pos {
            Some(pos) => {
                self.grid.top = pos;
                self.grid.selected = Some(row);
                self.grid.selected_pos = Some(pos);
            }
            None => {
                self.message.say("That bar's rows are outside the selected time range: Clear it to see them".into())
            }
        }
    }

    /// The selected range, named, with Clear (shown on every tab: the statistics follow it
    /// too).
    pub(super) fn range_chip_ui(&mut self, ui: &mut Ui) {
        if self.filters.range.is_all() {
            return;
        }
        let mut clear = false;
        ui.horizontal(|ui| {
            ui.label("Time range");
            ui.label(RichText::new(self.filters.range.label()).strong());
            clear = ui.button("Clear").on_hover_text("Show every time again").clicked();
        });
        if clear {
            self.filters.range = TimeRange::ALL;
            self.request_view(ViewRequest::Range);
        }
    }
}

/// What one frame draws.
struct Drawn<'a> {
    bars: Rect,
    axis_rect: Rect,
    ax: &'a Axis,
    shown: &'a Shown,
    /// The grid's range, shaded.
    range: TimeRange,
    /// Where a selecting drag started.
    selecting: Option<f64>,
}

/// Draws the bars, the selection, the hovered bucket and the axis.
fn paint(ui: &Ui, drawn: &Drawn<'_>, response: &egui::Response) {
    let Drawn { bars, axis_rect, ax, shown, range, selecting } = *drawn;
    let visuals = ui.visuals();
    let painter = ui.painter_at(bars.union(axis_rect));
    let shade = |painter: &egui::Painter, a: f64, b: f64| {
        let (x0, x1) = (ax.x(a).max(bars.left()), ax.x(b).min(bars.right()));
        if x1 > x0 {
            let rect = Rect::from_x_y_ranges(x0..=x1, bars.y_range());
            painter.rect_filled(rect, 0.0, visuals.selection.bg_fill.gamma_multiply(0.35));
        }
    };
    if !range.is_all() {
        let a = range.from.map_or(ax.from, |t| to_secs(t) as f64);
        let b = range.to.map_or(ax.to, |t| to_secs(t) as f64);
        shade(&painter, a, b);
    }
    if let (Some(start), Some(p)) = (selecting, response.interact_pointer_pos()) {
        let (a, b) = axis::snap(start, ax.t(p.x), shown.step);
        shade(&painter, a as f64, b as f64);
    }
    let top_room = 14.0;
    let tallest = shown.bins.iter().map(|b| b.rows).max().unwrap_or(0).max(1);
    let height = bars.height() - top_room;
    let scale = |n: u32| (n as f32 / tallest as f32) * height;
    let seconds = shown.step.seconds() as f64;
    for b in &shown.bins {
        let (mut x0, mut x1) = (ax.x(b.start as f64), ax.x(b.start as f64 + seconds));
        if x1 - x0 > 3.0 {
            x1 -= 1.0;
        }
        (x0, x1) = (x0.max(bars.left()), x1.min(bars.right()).max(x0.max(bars.left()) + 1.0));
        let total = scale(b.rows).max(1.0);
        let flagged = if b.flagged > 0 { scale(b.flagged).max(1.0).min(total) } else { 0.0 };
        let bottom = bars.bottom();
        painter.rect_filled(Rect::from_x_y_ranges(x0..=x1, (bottom - total)..=bottom), 0.0, BAR);
        if flagged > 0.0 {
            let rect = Rect::from_x_y_ranges(x0..=x1, (bottom - total)..=(bottom - total + flagged));
            painter.rect_filled(rect, 0.0, super::grid::FLAGGED);
        }
    }
    if let Some(p) = response.hover_pos()
        && selecting.is_none()
    {
        let start = shown.step.floor(ax.t(p.x).floor() as i64) as f64;
        let rect = Rect::from_x_y_ranges(ax.x(start)..=ax.x(start + seconds).max(ax.x(start) + 1.0), bars.y_range());
        painter.rect_stroke(rect, CornerRadius::ZERO, visuals.widgets.hovered.fg_stroke, egui::StrokeKind::Inside);
    }
    let small = egui::FontId::proportional(11.0);
    let text = visuals.text_color();
    painter.text(
        bars.left_top() + vec2(4.0, 1.0),
        egui::Align2::LEFT_TOP,
        format!("{} rows", super::numbers::thousands(u64::from(tallest))),
        small.clone(),
        visuals.weak_text_color(),
    );
    painter.line_segment([axis_rect.left_top(), axis_rect.right_top()], visuals.widgets.noninteractive.bg_stroke);
    let interval = axis::tick_interval(ax, TICK_GAP);
    let label_end = axis_rect.right() - STEP_LABEL_WIDTH;
    for (k, t) in axis::ticks(ax, interval).into_iter().enumerate() {
        let x = ax.x(t as f64);
        painter.line_segment(
            [pos2(x, axis_rect.top()), pos2(x, axis_rect.top() + 4.0)],
            visuals.widgets.noninteractive.fg_stroke,
        );
        if x + TICK_GAP * 0.8 < label_end {
            painter.text(
                pos2(x + 2.0, axis_rect.top() + 3.0),
                egui::Align2::LEFT_TOP,
                axis::tick_label(t, interval, k == 0),
                small.clone(),
                text,
            );
        }
    }
}
