//! `prparser`: the Port Reporter log analyser. Argument parsing and wiring only.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use prparser::analysis::criteria::CriteriaSet;
use prparser::generate::{HeaderVersion, LineEnds, Preset, Shape, TextEncoding, parse_share};
use prparser::logs::ports::LoadProgress;
use prparser::logs::set;

#[derive(Parser)]
#[command(
    name = "prparser",
    version,
    about = "Analyse Port Reporter logs (PR-PORTS, PR-PIDS, PR-INITIAL)",
    long_about = "Analyse Port Reporter logs. Without a command, opens the desktop app on the given logs or folders \
(else the most recent ones, else the bundled sample logs).",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Logs or folders to open in the app.
    paths: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse logs without a window: statistics, flagged rows, malformed lines.
    Report {
        /// Criteria file (JSON) whose enabled criteria flag rows.
        #[arg(long)]
        criteria: Option<PathBuf>,
        /// Also show per-process usage by user for this process (e.g. iexplore.exe).
        #[arg(long)]
        process: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Entries shown per view in text output.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// PR-PORTS logs (partners are found beside them), PR-PIDS/PR-INITIAL logs, or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print a log's rows as they are written (tail -F), following rotations to the next file.
    Follow {
        /// Criteria file (JSON) whose enabled criteria flag rows.
        #[arg(long)]
        criteria: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = FollowFormat::Text)]
        format: FollowFormat,
        /// Print flagged rows only.
        #[arg(long)]
        flagged_only: bool,
        /// How often to look for new rows, in milliseconds.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
        interval_ms: u64,
        /// Stop after this many seconds (default: until interrupted).
        #[arg(long)]
        seconds: Option<u64>,
        /// A log folder, or a PR-PORTS file (then the files rotated after it in its folder).
        path: PathBuf,
    },
    /// Write a consistent PR-INITIAL + PR-PORTS + PR-PIDS set of any size and shape, for
    /// benchmarks and tests. Shares are exact: of N rows, floor(N x share) have the shape.
    Generate {
        /// Rows of the PR-PORTS log (malformed lines come on top).
        #[arg(long)]
        rows: u64,
        /// Folder to write the three logs into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the generator: the same seed and options write the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        shape: ShapeArgs,
    },
}

/// The shape of a generated set: a named preset, changed by the options given. A SHARE is a
/// fraction (0.05), a ratio (1/13) or a percentage (5%) of the rows.
#[derive(clap::Args)]
struct ShapeArgs {
    /// Named shape to start from.
    #[arg(long, value_enum, default_value_t = Preset::Plain)]
    shape: Preset,
    /// Rows whose module name must be RFC 4180-quoted ("evil, inc.exe", a quote inside).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    quoted: Option<f64>,
    /// Rows whose quoted module name holds a line break (the record spans two lines).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    multiline: Option<f64>,
    /// Rows over IPv6.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    ipv6: Option<f64>,
    /// Rows of processes whose name and user are not ASCII (written in --encoding).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    non_ascii: Option<f64>,
    /// Windows 2000 rows: 7 fields, no PID, module or user (at 1, a Windows 2000 set).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    seven_field: Option<f64>,
    /// System rows whose user context is missing with its comma (9 fields).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    nine_field: Option<f64>,
    /// Malformed lines per row, written between rows.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    malformed: Option<f64>,
    /// Line ends of the three logs.
    #[arg(long, value_enum)]
    line_ends: Option<LineEnds>,
    /// Encoding of the three logs.
    #[arg(long, value_enum)]
    encoding: Option<TextEncoding>,
    /// Version the three headers name.
    #[arg(long, value_enum)]
    header_version: Option<HeaderVersion>,
}

impl ShapeArgs {
    fn shape(&self) -> Shape {
        let mut shape = self.shape.shape();
        for (value, share) in [
            (self.quoted, &mut shape.quoted),
            (self.multiline, &mut shape.multiline),
            (self.ipv6, &mut shape.ipv6),
            (self.non_ascii, &mut shape.non_ascii),
            (self.seven_field, &mut shape.seven_field),
            (self.nine_field, &mut shape.nine_field),
            (self.malformed, &mut shape.malformed),
        ] {
            if let Some(value) = value {
                *share = value;
            }
        }
        shape.line_ends = self.line_ends.unwrap_or(shape.line_ends);
        shape.encoding = self.encoding.unwrap_or(shape.encoding);
        shape.version = self.header_version.unwrap_or(shape.version);
        shape
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Text,
}

#[derive(Clone, Copy, ValueEnum)]
enum FollowFormat {
    Text,
    /// One JSON object per row and line.
    Jsonl,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prparser: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Report { criteria, process, format, top, paths }) => {
            report(criteria, process, format, top, &paths)
        }
        Some(Command::Follow { criteria, format, flagged_only, interval_ms, seconds, path }) => {
            let style = match format {
                FollowFormat::Text => prparser::tail::Style::Text,
                FollowFormat::Jsonl => prparser::tail::Style::JsonLines,
            };
            let options = prparser::tail::Options {
                style,
                interval: std::time::Duration::from_millis(interval_ms),
                flagged_only,
                duration: seconds.map(std::time::Duration::from_secs),
            };
            follow(criteria, &options, &path)
        }
        Some(Command::Generate { rows, out, seed, shape }) => {
            let options = prparser::generate::Options { rows, seed, shape: shape.shape() };
            let summary = prparser::generate::write_set(&out, &options)
                .with_context(|| format!("cannot write generated logs to {}", out.display()))?;
            println!("{summary}");
            Ok(())
        }
        None => gui(cli.paths),
    }
}

fn gui(paths: Vec<PathBuf>) -> Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Port Reporter Parser")
            .with_app_id("prparser")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0])
            .with_icon(icon()),
        ..Default::default()
    };
    eframe::run_native("prparser", options, Box::new(|cc| Ok(Box::new(prparser::app::PrParserApp::new(cc, paths)))))
        .map_err(|e| anyhow::anyhow!("cannot open a window: {e}"))
}

/// The window icon, built into the binary.
fn icon() -> egui::IconData {
    eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon-256.png")).unwrap_or_default()
}

/// Loads a criteria file and refuses it if any criterion cannot be used, naming it.
fn load_criteria(path: Option<PathBuf>) -> Result<CriteriaSet> {
    let criteria = match path {
        Some(path) => CriteriaSet::load(&path)?,
        None => CriteriaSet::default(),
    };
    let (_, broken) = criteria.compile();
    if let Some((i, err)) = broken.first() {
        bail!("criterion {:?} (number {}) cannot be used: {err}", criteria.criteria[*i].name, i + 1);
    }
    Ok(criteria)
}

fn follow(criteria: Option<PathBuf>, options: &prparser::tail::Options, path: &std::path::Path) -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let criteria = load_criteria(criteria)?;
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("cannot handle signals")?;
    }
    let stop_now = || stop.load(Ordering::Relaxed);
    let totals =
        prparser::tail::run(path, &criteria, options, &mut std::io::stdout().lock(), &mut std::io::stderr(), &stop_now)
            .with_context(|| format!("while following {}", path.display()))?;
    eprintln!("prparser: {} rows, {} flagged, {} malformed lines", totals.rows, totals.flagged, totals.malformed);
    Ok(())
}

fn report(
    criteria: Option<PathBuf>,
    process: Option<String>,
    format: Format,
    top: usize,
    paths: &[PathBuf],
) -> Result<()> {
    let criteria = load_criteria(criteria)?;
    let set = set::open(paths, &LoadProgress::default())?;
    let report = prparser::report::build(&set, &criteria, process.as_deref());
    match format {
        Format::Json => println!("{}", report.to_json()),
        Format::Text => print!("{}", report.to_text(top)),
    }
    Ok(())
}
