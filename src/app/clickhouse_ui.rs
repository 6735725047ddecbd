//! File › Open from ClickHouse...: a window asking for a server, database, user and password,
//! the computers (picked from the server's list, fetched when asked) and a time range, and a
//! row cap; Open loads that part of the database as a dataset ([`crate::clickhouse::load`]) in
//! the load slot, with progress and Cancel like a file load.
//!
//! The URL, database and user are remembered in the settings once a load succeeds; the
//! password stays in this window's memory for the session and is never written anywhere.

use std::sync::Arc;

use egui::RichText;

use super::jobs::Done;
use super::numbers::thousands;
use super::{PrParserApp, grid};
use crate::analysis::time_range::{TimeRange, parse_time};
use crate::clickhouse::client::{ClickHouseError, Client, Connection};
use crate::clickhouse::load::{self, DEFAULT_CAP, LoadError};

/// The window's fields and what it is waiting for.
pub(super) struct ClickHouseForm {
    pub open: bool,
    url: String,
    database: String,
    user: String,
    /// Kept for the session only.
    password: String,
    from: String,
    to: String,
    cap: String,
    /// The server's computers, each with whether it is picked (none picked: all).
    computers: Vec<(String, bool)>,
    fetching: bool,
    /// Why the last fetch or load failed, in one line naming the server.
    pub problem: Option<String>,
}

impl Default for ClickHouseForm {
    fn default() -> Self {
        ClickHouseForm {
            open: false,
            url: String::new(),
            database: String::new(),
            user: String::new(),
            password: String::new(),
            from: String::new(),
            to: String::new(),
            cap: thousands(DEFAULT_CAP),
            computers: Vec::new(),
            fetching: false,
            problem: None,
        }
    }
}

impl ClickHouseForm {
    pub fn is_idle(&self) -> bool {
        !self.fetching
    }
}

/// A load from a server: where, what, and how the app names it.
#[derive(Clone)]
pub(super) struct ServerLoad {
    pub connection: Connection,
    pub request: load::Request,
}

impl ServerLoad {
    /// Where the data came from, as the title and status bar say it.
    pub fn source(&self) -> String {
        source(&self.connection)
    }
}

/// `ClickHouse http://host:port/database`.
fn source(connection: &Connection) -> String {
    format!("ClickHouse {}/{}", connection.url, connection.database)
}

/// How much of what matched a load from a server holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cut {
    pub rows: u64,
    pub matching: u64,
}

impl Cut {
    /// The status bar's line when the cap left rows out.
    pub fn notice(&self) -> Option<String> {
        (self.matching > self.rows).then(|| {
            format!(
                "Row cap: the first {} of {} matching rows (narrow the computers or time range for the rest)",
                thousands(self.rows),
                thousands(self.matching)
            )
        })
    }
}

/// The connection error of [`Connection::new`], in the window's words rather than the command
/// line's.
fn in_window_words(message: &str) -> String {
    message
        .replace("use --user and CLICKHOUSE_PASSWORD", "use the User and Password fields")
        .replace("--clickhouse ", "URL ")
        .replace("--clickhouse:", "URL:")
        .replace("--database ", "Database ")
}

/// A typed row cap: digits, with or without thousands separators; at least 1.
fn parse_cap(text: &str) -> Result<u64, String> {
    let digits: String = text.chars().filter(|c| !matches!(c, ',' | '_' | ' ' | '.')).collect();
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("Row cap {text:?}: give a number of rows, at least 1 (e.g. 10,000,000)")),
    }
}

/// A typed time range (empty ends are open), as `report --from/--to` reads it.
fn parse_range(from: &str, to: &str) -> Result<TimeRange, String> {
    let at = |label: &str, text: &str| {
        if text.trim().is_empty() { Ok(None) } else { parse_time(text).map(Some).map_err(|e| format!("{label}: {e}")) }
    };
    TimeRange::new(at("From", from)?, at("To", to)?).map_err(|e| e.to_string())
}

impl PrParserApp {
    /// File › Open from ClickHouse...: the window, filled with what was remembered.
    pub(super) fn show_clickhouse_window(&mut self) {
        let form = &mut self.clickhouse;
        form.open = true;
        form.problem = None;
        if form.url.is_empty() {
            form.url = self.settings.clickhouse_url.clone();
            form.database = self.settings.clickhouse_database.clone();
            form.user = self.settings.clickhouse_user.clone();
        }
    }

    /// The connection the fields describe, or why they do not describe one.
    fn clickhouse_connection(&self) -> Result<Connection, String> {
        let form = &self.clickhouse;
        let user = Some(form.user.trim().to_string()).filter(|u| !u.is_empty());
        let password = Some(form.password.clone()).filter(|p| !p.is_empty());
        Connection::new(form.url.trim(), form.database.trim(), user, password).map_err(|e| match e {
            ClickHouseError::Usage(message) => in_window_words(&message),
            other => other.to_string(),
        })
    }

    pub(super) fn clickhouse_window(&mut self, ctx: &egui::Context) {
        let mut open = self.clickhouse.open;
        let (mut fetch, mut start) = (false, false);
        let loading = !self.work.load_is_idle();
        egui::Window::new("Open from ClickHouse").open(&mut open).default_width(460.0).show(ctx, |ui| {
            let form = &mut self.clickhouse;
            ui.label("Rows and process blocks that prparser ingest put in a ClickHouse database.");
            // Enter in a field opens, as in any dialog whose fields are filled in turn.
            let mut entered = false;
            egui::Grid::new("clickhouse-fields").num_columns(2).show(ui, |ui| {
                let mut field = |ui: &mut egui::Ui, name: &str, edit: egui::TextEdit<'_>| {
                    let label = ui.label(name);
                    let response = ui.add(edit).labelled_by(label.id);
                    entered |= response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    ui.end_row();
                };
                field(ui, "URL", egui::TextEdit::singleline(&mut form.url));
                field(ui, "Database", egui::TextEdit::singleline(&mut form.database));
                field(ui, "User", egui::TextEdit::singleline(&mut form.user).hint_text("default"));
                field(ui, "Password", egui::TextEdit::singleline(&mut form.password).password(true));
                field(
                    ui,
                    "From",
                    egui::TextEdit::singleline(&mut form.from).hint_text("2008-06-30T10:00:00 (empty: the start)"),
                );
                field(ui, "To", egui::TextEdit::singleline(&mut form.to).hint_text("exclusive (empty: the end)"));
                field(ui, "Row cap", egui::TextEdit::singleline(&mut form.cap));
            });
            ui.separator();
            ui.horizontal(|ui| {
                ui.strong("Computers");
                let picked = form.computers.iter().filter(|(_, on)| *on).count();
                ui.label(if picked == 0 { "all".to_string() } else { format!("{picked} picked") });
                fetch = ui.add_enabled(!form.fetching, egui::Button::new("Fetch computers")).clicked();
                if form.fetching {
                    ui.spinner();
                }
            });
            egui::ScrollArea::vertical().id_salt("clickhouse-computers").max_height(160.0).show(ui, |ui| {
                for (name, on) in &mut form.computers {
                    ui.checkbox(on, name.as_str());
                }
            });
            if let Some(problem) = &form.problem {
                ui.colored_label(grid::FLAGGED, problem);
            }
            ui.separator();
            ui.horizontal(|ui| {
                start = ui.add_enabled(!loading, egui::Button::new("Open")).clicked() || (entered && !loading);
                if loading {
                    ui.spinner();
                    ui.label("Loading...");
                }
            });
        });
        self.clickhouse.open = open;
        if fetch {
            self.fetch_computers();
        }
        if start {
            self.open_clickhouse();
        }
    }

    /// Asks the server for its computers, in the background.
    fn fetch_computers(&mut self) {
        let connection = match self.clickhouse_connection() {
            Ok(c) => c,
            Err(problem) => {
                self.clickhouse.problem = Some(problem);
                return;
            }
        };
        self.clickhouse.problem = None;
        let started = self.jobs.spawn("clickhouse-computers", move || Done::ClickHouseComputers {
            result: load::computers(&Client::new(connection)),
        });
        match started {
            Ok(()) => self.clickhouse.fetching = true,
            Err(e) => self.clickhouse.problem = Some(e.to_string()),
        }
    }

    pub(super) fn computers_fetched(&mut self, result: Result<Vec<String>, LoadError>) {
        self.clickhouse.fetching = false;
        match result {
            Ok(names) => {
                let was: Vec<String> =
                    self.clickhouse.computers.iter().filter(|(_, on)| *on).map(|(n, _)| n.clone()).collect();
                self.clickhouse.computers = names.into_iter().map(|n| (n.clone(), was.contains(&n))).collect();
                if self.clickhouse.computers.is_empty() {
                    self.clickhouse.problem = Some("The database holds no computers yet".into());
                }
            }
            Err(e) => self.clickhouse.problem = Some(e.to_string()),
        }
    }

    /// Open in the window: checks the fields and starts the load.
    fn open_clickhouse(&mut self) {
        let form = &self.clickhouse;
        let checked = self.clickhouse_connection().and_then(|connection| {
            let range = parse_range(&form.from, &form.to)?;
            let cap = parse_cap(&form.cap)?;
            let computers = form.computers.iter().filter(|(_, on)| *on).map(|(n, _)| n.clone()).collect();
            Ok(ServerLoad { connection, request: load::Request { computers, range, cap } })
        });
        match checked {
            Ok(server) => {
                self.clickhouse.problem = None;
                self.load_from(super::handling::LoadRequest::ClickHouse(Arc::new(server)));
            }
            Err(problem) => self.clickhouse.problem = Some(problem),
        }
    }

    /// A load from a server ended well: remember where (not the password) and close the
    /// window.
    pub(super) fn clickhouse_opened(&mut self, server: &ServerLoad) {
        self.settings.clickhouse_url = server.connection.url.clone();
        self.settings.clickhouse_database = server.connection.database.clone();
        self.settings.clickhouse_user = server.connection.user.clone().unwrap_or_default();
        self.clickhouse.open = false;
    }

    /// The status bar's part about a dataset from a server: where from, and the cap's cut.
    pub(super) fn clickhouse_status(&self, ui: &mut egui::Ui) {
        let Some((source, cut)) = &self.source else {
            return;
        };
        ui.separator();
        ui.label(source);
        if let Some(notice) = cut.notice() {
            ui.separator();
            ui.label(RichText::new(notice).strong());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_read_with_or_without_separators() {
        assert_eq!(parse_cap("10,000,000"), Ok(10_000_000));
        assert_eq!(parse_cap(" 25 "), Ok(25));
        assert_eq!(parse_cap("1_000"), Ok(1000));
        assert!(parse_cap("0").expect_err("zero").contains("at least 1"));
        assert!(parse_cap("lots").is_err());
    }

    #[test]
    fn ranges_read_as_the_report_reads_them() {
        let range = parse_range("2008-06-30T10:00:00", "08/6/30 11:00:00").expect("a range");
        assert_eq!(range.from.map(|t| t.to_string()), Some("2008-06-30 10:00:00".into()));
        assert_eq!(range.to.map(|t| t.to_string()), Some("2008-06-30 11:00:00".into()));
        assert_eq!(parse_range("", ""), Ok(TimeRange::ALL));
        assert!(parse_range("yesterday", "").expect_err("unreadable").starts_with("From: cannot read \"yesterday\""));
        assert!(parse_range("2008-07-01", "2008-06-30").expect_err("reversed").contains("after it ends"));
    }

    #[test]
    fn connection_problems_name_the_windows_fields() {
        let err = |url: &str, db: &str| match Connection::new(url, db, None, None) {
            Err(ClickHouseError::Usage(m)) => in_window_words(&m),
            other => panic!("{url}: {other:?}"),
        };
        assert_eq!(
            err("http://u:p@localhost:8123", "prparser"),
            "URL: put no user or password in the URL (every user sees it in the process list); use the User and Password fields"
        );
        assert_eq!(err("ftp://x", "prparser"), "URL \"ftp://x\": ClickHouse's HTTP interface is http:// or https://");
        assert_eq!(err("http://x:1", "a;b"), "Database \"a;b\": letters, digits and underscores only");
    }

    #[test]
    fn the_cut_is_told_only_when_rows_were_left_out() {
        assert_eq!(Cut { rows: 5, matching: 5 }.notice(), None);
        assert_eq!(
            Cut { rows: 10_000_000, matching: 12_345_678 }.notice().as_deref(),
            Some(
                "Row cap: the first 10,000,000 of 12,345,678 matching rows (narrow the computers or time range for the rest)"
            )
        );
    }
}
