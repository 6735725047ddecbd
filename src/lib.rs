//! prparser: the successor of Microsoft's Port Reporter and Port Reporter Parser.
//!
//! Port Reporter writes three logs: PR-INITIAL (a snapshot of every port and its process at
//! start), PR-PORTS (one CSV line per new socket or state change) and PR-PIDS (a block of
//! process detail — user, services, ports, loaded modules — whenever a process starts new
//! network activity). [`logs`] reads and writes them, quirks included; [`analysis`] indexes,
//! flags and counts what they say, with no user interface; the `prparser` program shows it
//! (or prints it with `prparser report`) and the `portreporter` program collects it.

pub mod analysis;
pub mod app;
pub mod cli;
pub mod clickhouse;
pub mod collector;
pub mod error;
pub mod generate;
pub mod intern;
pub mod logs;
pub mod model;
pub mod package;
pub mod report;
pub mod tail;
