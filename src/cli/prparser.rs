//! The command line of `prparser`: the desktop app (no command) and its headless commands.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::generate::{HeaderVersion, LineEnds, Preset, Shape, TextEncoding, parse_share};
use crate::report::View;

#[derive(Parser)]
#[command(
    name = "prparser",
    version,
    about = "Analyse Port Reporter logs (PR-PORTS, PR-PIDS, PR-INITIAL)",
    long_about = "Analyse Port Reporter logs. Without a command, opens the desktop app on the given logs or folders \
(else the most recent ones, else the bundled sample logs).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Logs or folders to open in the app.
    pub paths: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Analyse logs without a window: statistics, flagged rows, malformed lines.
    Report {
        /// Criteria file (JSON) whose enabled criteria flag rows.
        #[arg(long)]
        criteria: Option<PathBuf>,
        /// A MaxMind-format country or city database (GeoLite2, DB-IP lite, IPinfo): adds
        /// remote countries and lets country criteria match. Read locally; nothing is sent.
        #[arg(long, value_name = "FILE")]
        geoip: Option<PathBuf>,
        /// A MaxMind-format ASN database (GeoLite2-ASN, DB-IP lite ASN, IPinfo): adds remote
        /// ASNs and lets AS criteria match. May be the same file as --geoip.
        #[arg(long, value_name = "FILE")]
        asn: Option<PathBuf>,
        /// Also show per-process usage by user for this process (e.g. iexplore.exe).
        #[arg(long)]
        process: Option<String>,
        /// Report on this computer's logs only (repeat for several; names as in the report's
        /// `computers` list, without regard to case).
        #[arg(long = "computer", value_name = "NAME")]
        computers: Vec<String>,
        #[command(flatten)]
        range: RangeArgs,
        #[command(flatten)]
        baseline: BaselineArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Entries shown per view in text output.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Do not compute this view (repeat for both): it is left out of the report, not shown
        /// empty. Beaconing and Changes cost more time and memory than all the statistics
        /// together; a script that wants only the statistics skips them.
        #[arg(long, value_enum, value_name = "VIEW")]
        skip: Vec<View>,
        /// Report on what `prparser ingest` loaded into this ClickHouse server (its HTTP
        /// interface, http://host:8123) instead of reading logs: every view is computed there.
        /// Changes compares with the default baseline or --baseline-until; --baseline PATH
        /// (logs on this machine) is not offered with it.
        #[arg(long, value_name = "URL", conflicts_with_all = ["geoip", "asn", "process", "paths", "baseline"])]
        clickhouse: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        /// PR-PORTS logs (partners are found beside them), PR-PIDS/PR-INITIAL logs, or folders.
        #[arg(required_unless_present = "clickhouse")]
        paths: Vec<PathBuf>,
    },
    /// Load logs into ClickHouse (created when missing): PORTS rows, process blocks and what
    /// was loaded of each file. Loading again adds nothing; a grown file adds its new rows.
    Ingest {
        /// The server's HTTP interface, e.g. http://127.0.0.1:8123 (no password in it: the
        /// password comes from CLICKHOUSE_PASSWORD or a prompt).
        #[arg(long, value_name = "URL")]
        clickhouse: String,
        #[command(flatten)]
        server: ServerArgs,
        /// Rows per insert. Each insert is written whole or not at all by the server while it
        /// stays under a million rows; smaller batches lose less work to a failure.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        batch_rows: u64,
        /// PR-PORTS logs (partners are found beside them), PR-PIDS/PR-INITIAL logs, or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print a log's rows as they are written (tail -F), following rotations to the next file.
    Follow {
        /// Criteria file (JSON) whose enabled criteria flag rows.
        #[arg(long)]
        criteria: Option<PathBuf>,
        /// A MaxMind-format country or city database (GeoLite2, DB-IP lite, IPinfo): adds
        /// remote countries and lets country criteria match. Read locally; nothing is sent.
        #[arg(long, value_name = "FILE")]
        geoip: Option<PathBuf>,
        /// A MaxMind-format ASN database (GeoLite2-ASN, DB-IP lite ASN, IPinfo): adds remote
        /// ASNs and lets AS criteria match. May be the same file as --geoip.
        #[arg(long, value_name = "FILE")]
        asn: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = FollowFormat::Text)]
        format: FollowFormat,
        /// Print flagged rows only.
        #[arg(long)]
        flagged_only: bool,
        /// Print rows from this time on only (ISO 2008-06-30T10:00:00 or the logs' 08/6/30
        /// 10:00:00, in the logs' local time).
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
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
        /// Machines to write sets for, each with --rows rows, its own PR-INITIAL and computer
        /// name (PC12347, PC12348, ...) in a folder of --out named like it; 1 writes into --out.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::generate::MAX_COMPUTERS)))]
        computers: u32,
        #[command(flatten)]
        shape: ShapeArgs,
    },
}

impl Cli {
    /// Parses the command line, then makes the checks clap cannot declare (it knows conflicts
    /// between options, not with one value of an option); a failure exits as clap's own do.
    pub fn parse_checked() -> Cli {
        let cli = Cli::parse();
        if let Err(e) = cli.check() {
            e.exit();
        }
        cli
    }

    /// A baseline is what the Changes view compares with, so naming one while skipping that
    /// view is a mistake worth stopping at rather than silently ignoring.
    pub fn check(&self) -> Result<(), clap::Error> {
        let Some(Command::Report { skip, baseline, .. }) = &self.command else { return Ok(()) };
        if !skip.contains(&View::Changes) {
            return Ok(());
        }
        let given = if !baseline.baseline.is_empty() {
            "--baseline <PATH>"
        } else if baseline.baseline_until.is_some() {
            "--baseline-until <TIME>"
        } else {
            return Ok(());
        };
        let why = format!(
            "the argument '--skip changes' cannot be used with '{given}' (a baseline is what the Changes view compares with)"
        );
        // Built, so the error's usage line is the report command's, as clap's own conflicts show.
        let mut cli = Cli::command();
        cli.build();
        let report = cli.find_subcommand_mut("report").expect("the report command is declared");
        Err(report.error(ErrorKind::ArgumentConflict, why))
    }
}

/// Where in a ClickHouse server, and as whom.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The database holding prparser's tables.
    #[arg(long, default_value = "prparser")]
    pub database: String,
    /// The ClickHouse user (default: the server's default user). Its password is read from
    /// CLICKHOUSE_PASSWORD, else asked for on the terminal.
    #[arg(long)]
    pub user: Option<String>,
}

/// A time range of the logs. Times are ISO (2008-06-30T10:00:00, 2008-06-30 10:00, a date
/// alone for its midnight) or as the logs write them (08/6/30 10:00:00), in the logs' own local
/// time: the logs carry no time zone, so a time with an offset is refused.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RangeArgs {
    /// Count rows from this time on (inclusive).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Count rows before this time (exclusive).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
}

/// What the Changes view compares the logs with; by default each computer's earliest
/// PR-INITIAL snapshot (the ports open when the service first started).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BaselineArgs {
    /// Other logs or folders (last month's, say) to take as the baseline: everything in them
    /// is the baseline (repeat for several).
    #[arg(long, value_name = "PATH", conflicts_with = "baseline_until")]
    pub baseline: Vec<PathBuf>,
    /// Take the loaded logs before this time as the baseline (a time as for --from).
    #[arg(long, value_name = "TIME")]
    pub baseline_until: Option<String>,
}

/// The shape of a generated set: a named preset, changed by the options given. A SHARE is a
/// fraction (0.05), a ratio (1/13) or a percentage (5%) of the rows.
#[derive(clap::Args)]
pub struct ShapeArgs {
    /// Named shape to start from.
    #[arg(long, value_enum, default_value_t = Preset::Plain)]
    pub shape: Preset,
    /// Rows whose module name must be RFC 4180-quoted ("evil, inc.exe", a quote inside).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub quoted: Option<f64>,
    /// Rows whose quoted module name holds a line break (the record spans two lines).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub multiline: Option<f64>,
    /// Rows over IPv6.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    ipv6: Option<f64>,
    /// Rows of processes whose name and user are not ASCII (written in --encoding).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub non_ascii: Option<f64>,
    /// Windows 2000 rows: 7 fields, no PID, module or user (at 1, a Windows 2000 set).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub seven_field: Option<f64>,
    /// System rows whose user context is missing with its comma (9 fields).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub nine_field: Option<f64>,
    /// Malformed lines per row, written between rows.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub malformed: Option<f64>,
    /// Line ends of the three logs.
    #[arg(long, value_enum)]
    pub line_ends: Option<LineEnds>,
    /// Encoding of the three logs.
    #[arg(long, value_enum)]
    pub encoding: Option<TextEncoding>,
    /// Version the three headers name.
    #[arg(long, value_enum)]
    pub header_version: Option<HeaderVersion>,
}

impl ShapeArgs {
    pub fn shape(&self) -> Shape {
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
pub enum Format {
    Json,
    Text,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FollowFormat {
    Text,
    /// One JSON object per row and line.
    Jsonl,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(args: &[&str]) -> Result<Cli, clap::Error> {
        let cli = Cli::try_parse_from(args)?;
        cli.check()?;
        Ok(cli)
    }

    #[test]
    fn skipping_changes_conflicts_with_a_baseline() {
        for baseline in [["--baseline", "old"], ["--baseline-until", "2008-06-30"]] {
            let args = ["prparser", "report", "--skip", "changes", baseline[0], baseline[1], "logs"];
            let err = checked(&args).err().expect("a conflict");
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{baseline:?}");
            assert!(err.to_string().contains(&format!("'--skip changes' cannot be used with '{}", baseline[0])));
        }
        // Skipping beaconing leaves the baseline meaningful.
        let cli = checked(&["prparser", "report", "--skip", "beaconing", "--baseline", "old", "logs"]).expect("valid");
        let Some(Command::Report { skip, .. }) = cli.command else { panic!("a report") };
        assert_eq!(skip, vec![View::Beaconing]);
        let cli = checked(&["prparser", "report", "--skip", "changes", "--skip", "beaconing", "logs"]).expect("valid");
        let Some(Command::Report { skip, .. }) = cli.command else { panic!("a report") };
        assert_eq!(skip, vec![View::Changes, View::Beaconing]);
        assert_eq!(
            checked(&["prparser", "report", "--skip", "flags", "logs"]).err().map(|e| e.kind()),
            Some(ErrorKind::InvalidValue)
        );
    }
}
