//! The terminal side of `prparser ingest` and `prparser report --clickhouse`: the password
//! (from `CLICKHOUSE_PASSWORD`, else asked for on a terminal when a user is named), a progress
//! bar on a terminal, and what is printed.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::client::{Client, Connection};
use super::{ingest, report};
use crate::analysis::criteria::CriteriaSet;
use crate::cli::prparser::{Format, ServerArgs};
use crate::logs::ports::LoadProgress;

/// The environment variable the password is read from.
pub const PASSWORD_VARIABLE: &str = "CLICKHOUSE_PASSWORD";

/// A client for the server `url` names, with the password from the environment or the
/// terminal.
pub fn connect(url: &str, server: &ServerArgs) -> Result<Client> {
    let password = match std::env::var(PASSWORD_VARIABLE) {
        Ok(p) => Some(p),
        Err(_) if server.user.is_some() && std::io::stdin().is_terminal() => Some(
            rpassword::prompt_password(format!(
                "ClickHouse password for {}: ",
                server.user.as_deref().unwrap_or("default")
            ))
            .context("cannot read the password")?,
        ),
        Err(_) => None,
    };
    Ok(Client::new(Connection::new(url, &server.database, server.user.clone(), password)?))
}

/// `prparser ingest`.
pub fn ingest(url: &str, server: &ServerArgs, batch_rows: usize, paths: &[PathBuf]) -> Result<()> {
    let client = connect(url, server)?;
    let progress = Arc::new(LoadProgress::default());
    let done = Arc::new(AtomicBool::new(false));
    let bar = std::io::stderr().is_terminal().then(|| {
        let (progress, done) = (Arc::clone(&progress), Arc::clone(&done));
        std::thread::spawn(move || show_progress(&progress, &done))
    });
    let result = ingest::run(&client, paths, batch_rows, &progress);
    done.store(true, Ordering::Relaxed);
    if let Some(bar) = bar {
        let _ = bar.join();
    }
    let summary = result?;
    for file in &summary.changed {
        eprintln!(
            "prparser: {file}: its part already loaded into {} has changed since (not a file that grew): left alone",
            client.database()
        );
    }
    if summary.out_of_range > 0 {
        eprintln!(
            "prparser: {} rows or blocks dated before 1970 or after 2105 (out of ClickHouse's DateTime) were not loaded",
            summary.out_of_range
        );
    }
    println!(
        "{} rows and {} process blocks loaded from {} files into {} at {} ({} files unchanged, {} malformed lines counted)",
        summary.rows,
        summary.blocks,
        summary.files_loaded,
        client.database(),
        client.server(),
        summary.files_unchanged,
        summary.malformed
    );
    if !summary.changed.is_empty() {
        bail!("{} files were left alone", summary.changed.len());
    }
    Ok(())
}

fn show_progress(progress: &LoadProgress, done: &AtomicBool) {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while !done.load(Ordering::Relaxed) {
        bar.set_length(progress.bytes_total.load(Ordering::Relaxed));
        bar.set_position(progress.bytes_done.load(Ordering::Relaxed));
        bar.set_message(format!("{} rows", progress.rows.load(Ordering::Relaxed)));
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

/// `prparser report --clickhouse`.
pub fn report(
    url: &str,
    server: &ServerArgs,
    criteria: &CriteriaSet,
    options: &report::Options,
    format: Format,
    top: usize,
) -> Result<()> {
    let client = connect(url, server)?;
    let report = report::run(&client, criteria, options)?;
    match format {
        Format::Json => println!("{}", report.to_json()),
        Format::Text => print!("{}", report.to_text(top)),
    }
    Ok(())
}
