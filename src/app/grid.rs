//! The PORTS grid: a table that lays out only the rows on screen.
//!
//! egui's scroll offsets are `f32` and lose whole rows past about two million (egui issue
//! 1391), so the grid does not use a scroll area at all: it keeps the first visible row as an
//! integer of its own, turns wheel, keys and its own scroll bar into row steps, and asks the
//! table for exactly the rows that fit. Ten million rows scroll like ten.
//!
//! Columns keep their widths (the person may widen any of them) and scroll sideways when they
//! do not fit — with Shift+wheel, a sideways wheel or the bar under the rows — so every column
//! stays reachable in a narrow window or beside the detail panel.

use egui::{Color32, Key, RichText, Sense, Ui};
use egui_extras::{Column as TableColumn, TableBuilder};

use crate::analysis::dns::HostNames;
use crate::analysis::view::{Column, Sort, cell_text};
use crate::logs::ports::PortsLog;

pub const ROW_HEIGHT: f32 = 20.0;
const HEADER_HEIGHT: f32 = 24.0;
const SCROLLBAR_WIDTH: f32 = 14.0;

/// Initial width of a column but the last shown, which takes the room left, at least
/// [`LAST_COLUMN_WIDTH`].
fn initial_width(column: Column) -> f32 {
    match column {
        Column::Time => 150.0,
        Column::Computer => 110.0,
        Column::Protocol | Column::Pid | Column::Country => 60.0,
        Column::Local => 170.0,
        Column::Remote => 220.0,
        Column::Host => 160.0,
        Column::Asn => 190.0,
        Column::Module | Column::User => 150.0,
    }
}
const LAST_COLUMN_WIDTH: f32 = 200.0;

/// Text colour of rows that match a criterion.
pub const FLAGGED: Color32 = Color32::from_rgb(0xE0, 0x30, 0x30);

/// What the person did in the grid this frame.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GridEvents {
    /// A row was clicked or reached with the keyboard: (view position, index into the log).
    pub selected: Option<(usize, u32)>,
    pub sort: Option<Column>,
    /// Copy this text to the clipboard.
    pub copy: Option<String>,
}

/// Scroll position and selection, in rows.
#[derive(Debug, Default, Clone)]
pub struct GridState {
    /// View position of the first row on screen.
    pub top: usize,
    /// The selected row, as an index into the log (so it survives re-sorting).
    pub selected: Option<u32>,
    /// Where the selected row stands in the current view (kept so that keys never search).
    pub selected_pos: Option<usize>,
    /// Wheel movement not yet worth a whole row.
    wheel_rest: f32,
    /// Rows that fit on screen, from the last frame.
    pub visible: usize,
    /// Points scrolled sideways.
    pub left: f32,
    /// Width of all columns, from the last frame.
    content_width: f32,
}

impl GridState {
    /// Scrolls so that view position `pos` is on screen.
    pub fn reveal(&mut self, pos: usize) {
        let visible = self.visible.max(1);
        if pos < self.top {
            self.top = pos;
        } else if pos >= self.top + visible {
            self.top = pos + 1 - visible;
        }
    }

    fn clamp(&mut self, len: usize) {
        self.top = self.top.min(len.saturating_sub(self.visible.max(1)));
    }
}

pub struct GridInput<'a> {
    pub log: &'a PortsLog,
    pub hosts: &'a dyn HostNames,
    /// The columns shown, in order.
    pub columns: &'a [Column],
    pub view: &'a [u32],
    pub flagged: &'a [bool],
    pub sort: Option<Sort>,
}

/// Draws the grid in the space left in `ui`.
pub fn grid_ui(ui: &mut Ui, state: &mut GridState, input: &GridInput<'_>) -> GridEvents {
    let mut events = GridEvents::default();
    let len = input.view.len();
    let full = ui.available_rect_before_wrap();
    let wide = state.content_width > full.width() - SCROLLBAR_WIDTH;
    let hbar = if wide { SCROLLBAR_WIDTH } else { 0.0 };
    // The table spaces rows by the item spacing too; count whole rows only, so the last
    // one asked for is really laid out (and readable) at the bottom.
    let pitch = ROW_HEIGHT + ui.spacing().item_spacing.y;
    let body = full.height() - hbar - HEADER_HEIGHT - 2.0 * ui.spacing().item_spacing.y;
    let visible = ((body / pitch).floor().max(1.0)) as usize;
    // The grid got shorter (a panel opened, the sideways bar appeared): a selected row that
    // was on screen stays there.
    let was_shown = |pos: usize| (state.top..state.top + state.visible).contains(&pos);
    if visible < state.visible
        && let Some(pos) = state.selected_pos.filter(|p| was_shown(*p))
    {
        state.visible = visible;
        state.reveal(pos);
    }
    state.visible = visible;
    keyboard(ui, state, input, &mut events);
    if ui.rect_contains_pointer(full) {
        let delta = ui.input(|i| i.smooth_scroll_delta);
        state.wheel_rest += delta.y;
        let steps = (state.wheel_rest / ROW_HEIGHT).trunc();
        state.wheel_rest -= steps * ROW_HEIGHT;
        if steps > 0.0 {
            state.top = state.top.saturating_sub(steps as usize);
        } else if steps < 0.0 {
            state.top = state.top.saturating_add((-steps) as usize);
        }
        state.left -= delta.x;
    }
    state.clamp(len);

    let table_rect = egui::Rect::from_min_max(full.min, egui::pos2(full.max.x - SCROLLBAR_WIDTH, full.max.y - hbar));
    let bar_rect = egui::Rect::from_min_max(
        egui::pos2(full.max.x - SCROLLBAR_WIDTH, full.min.y + HEADER_HEIGHT),
        egui::pos2(full.max.x, full.max.y - hbar),
    );
    scrollbar(ui, bar_rect, state, len);
    let hbar_rect = egui::Rect::from_min_max(table_rect.left_bottom(), egui::pos2(table_rect.max.x, full.max.y));
    hscrollbar(ui, hbar_rect, state, table_rect.width());
    state.left = state.left.clamp(0.0, (state.content_width - table_rect.width()).max(0.0));

    // The columns are laid out from `left` points before the visible area and clipped to it.
    let content = egui::Rect::from_min_size(
        egui::pos2(table_rect.min.x - state.left, table_rect.min.y),
        egui::vec2(table_rect.width().max(state.content_width), table_rect.height()),
    );
    let mut table_ui = ui.new_child(egui::UiBuilder::new().max_rect(content).id_salt("ports-grid"));
    table_ui.set_clip_rect(table_rect.intersect(ui.clip_rect()));
    let shown = state.visible.min(len.saturating_sub(state.top));
    let mut table = TableBuilder::new(&mut table_ui)
        .id_salt("ports-table")
        .striped(true)
        .resizable(true)
        .vscroll(false)
        .sense(Sense::click())
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center));
    for &column in input.columns.iter().take(input.columns.len().saturating_sub(1)) {
        table = table.column(TableColumn::initial(initial_width(column)).at_least(30.0).clip(true).resizable(true));
    }
    table = table.column(TableColumn::remainder().at_least(LAST_COLUMN_WIDTH).clip(true));
    // Where the columns before the last end: the width the columns need is that plus the
    // last one's least width.
    let mut fixed_right = content.min.x;
    table
        .header(HEADER_HEIGHT, |mut header| {
            for &column in input.columns {
                let (rect, _) = header.col(|ui| {
                    let arrow = match input.sort {
                        Some(Sort { column: c, descending: false }) if c == column => " (asc)",
                        Some(Sort { column: c, descending: true }) if c == column => " (desc)",
                        _ => "",
                    };
                    let title = format!("{}{arrow}", column.title());
                    if ui.add(egui::Button::new(RichText::new(title).strong()).frame(false)).clicked() {
                        events.sort = Some(column);
                    }
                });
                if input.columns.last() != Some(&column) {
                    fixed_right = rect.max.x;
                }
            }
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, shown, |mut row| {
                let pos = state.top + row.index();
                let Some(&ri) = input.view.get(pos) else {
                    return;
                };
                let Some(e) = input.log.events.get(ri as usize) else {
                    return;
                };
                let flagged = input.flagged.get(ri as usize).copied().unwrap_or(false);
                row.set_selected(state.selected == Some(ri));
                let mut clicked = false;
                for &column in input.columns {
                    // The cell's own response takes clicks and the context menu: a label that
                    // senses nothing is the cheapest widget there is, and a frame paging a
                    // whole screen of rows lays out hundreds.
                    let (_, cell) = row.col(|ui| {
                        let text = RichText::new(cell_text(input.log, input.hosts, e, column));
                        let text = if flagged { text.color(FLAGGED) } else { text };
                        ui.add(egui::Label::new(text).selectable(false).truncate());
                    });
                    clicked |= cell.clicked();
                    cell.context_menu(|ui| {
                        if ui.button("Copy cell").clicked() {
                            events.copy = Some(cell_text(input.log, input.hosts, e, column));
                            ui.close();
                        }
                        if ui.button("Copy row").clicked() {
                            events.copy =
                                Some(crate::analysis::view::row_text(input.log, input.hosts, input.columns, e));
                            ui.close();
                        }
                    });
                }
                if clicked || row.response().clicked() {
                    events.selected = Some((pos, ri));
                }
            });
        });
    state.content_width = fixed_right - content.min.x + LAST_COLUMN_WIDTH;
    ui.advance_cursor_after_rect(full);
    if let Some((pos, ri)) = events.selected {
        state.selected = Some(ri);
        state.selected_pos = Some(pos);
    }
    events
}

/// Arrow keys, Page Up/Down, Home/End move the selection; the grid follows it.
fn keyboard(ui: &Ui, state: &mut GridState, input: &GridInput<'_>, events: &mut GridEvents) {
    let len = input.view.len();
    if len == 0 || ui.ctx().egui_wants_keyboard_input() {
        return;
    }
    let page = state.visible.max(1);
    let current = state.selected_pos.filter(|&p| p < len);
    let moved = ui.input(|i| {
        let from = current.unwrap_or(state.top);
        if i.key_pressed(Key::ArrowDown) {
            Some((from + usize::from(current.is_some())).min(len - 1))
        } else if i.key_pressed(Key::ArrowUp) {
            Some(from.saturating_sub(1))
        } else if i.key_pressed(Key::PageDown) {
            Some((from + page).min(len - 1))
        } else if i.key_pressed(Key::PageUp) {
            Some(from.saturating_sub(page))
        } else if i.key_pressed(Key::Home) {
            Some(0)
        } else if i.key_pressed(Key::End) {
            Some(len - 1)
        } else {
            None
        }
    });
    if let Some(pos) = moved {
        state.reveal(pos);
        events.selected = Some((pos, input.view[pos]));
    }
}

/// A scroll bar of our own, exact at any row count.
fn scrollbar(ui: &mut Ui, rect: egui::Rect, state: &mut GridState, len: usize) {
    let visible = state.visible.max(1);
    if len <= visible || rect.height() < 8.0 {
        return;
    }
    let response = ui.interact(rect, ui.scope_id().with("grid-scrollbar"), Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::ScrollBar, true, "Scroll the rows"));
    let max_top = (len - visible) as f64;
    let thumb_h = ((visible as f64 / len as f64) * f64::from(rect.height())).max(16.0) as f32;
    let travel = (rect.height() - thumb_h).max(1.0);
    if let Some(pointer) = response.interact_pointer_pos() {
        let frac = f64::from(((pointer.y - rect.min.y - thumb_h / 2.0) / travel).clamp(0.0, 1.0));
        state.top = (frac * max_top).round() as usize;
    }
    let frac = (state.top as f64 / max_top).clamp(0.0, 1.0) as f32;
    let thumb = egui::Rect::from_min_size(
        egui::pos2(rect.min.x + 2.0, rect.min.y + frac * travel),
        egui::vec2(rect.width() - 4.0, thumb_h),
    );
    let visuals = ui.visuals();
    ui.painter().rect_filled(rect, 3.0, visuals.extreme_bg_color);
    let color = if response.dragged() || response.hovered() {
        visuals.widgets.hovered.bg_fill
    } else {
        visuals.widgets.inactive.bg_fill
    };
    ui.painter().rect_filled(thumb, 3.0, color);
}

/// The sideways scroll bar under the rows, shown when the columns are wider than the grid.
fn hscrollbar(ui: &mut Ui, rect: egui::Rect, state: &mut GridState, visible_width: f32) {
    if rect.height() <= 0.0 || state.content_width <= visible_width {
        return;
    }
    let response = ui
        .interact(rect, ui.scope_id().with("grid-hscrollbar"), Sense::click_and_drag())
        .on_hover_text("Scroll the columns (or Shift+wheel)");
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::ScrollBar, true, "Scroll the columns"));
    let max_left = state.content_width - visible_width;
    let thumb_w = (visible_width / state.content_width * rect.width()).max(16.0);
    let travel = (rect.width() - thumb_w).max(1.0);
    if let Some(pointer) = response.interact_pointer_pos() {
        let frac = ((pointer.x - rect.min.x - thumb_w / 2.0) / travel).clamp(0.0, 1.0);
        state.left = frac * max_left;
    }
    let frac = (state.left / max_left).clamp(0.0, 1.0);
    let thumb = egui::Rect::from_min_size(
        egui::pos2(rect.min.x + frac * travel, rect.min.y + 2.0),
        egui::vec2(thumb_w, rect.height() - 4.0),
    );
    let visuals = ui.visuals();
    ui.painter().rect_filled(rect, 3.0, visuals.extreme_bg_color);
    let color = if response.dragged() || response.hovered() {
        visuals.widgets.hovered.bg_fill
    } else {
        visuals.widgets.inactive.bg_fill
    };
    ui.painter().rect_filled(thumb, 3.0, color);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reveal_scrolls_just_enough() {
        let mut s = GridState { visible: 10, ..GridState::default() };
        s.reveal(5);
        assert_eq!(s.top, 0);
        s.reveal(25);
        assert_eq!(s.top, 16);
        s.reveal(3);
        assert_eq!(s.top, 3);
        s.reveal(9_999_999);
        assert_eq!(s.top, 9_999_990);
        s.clamp(10_000_000);
        assert_eq!(s.top, 9_999_990);
    }
}
