//! `portreporter`: Port Reporter for Linux, the collector service. Argument parsing and wiring
//! only; the work is in `prparser::collector`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use prparser::collector::events::{EventId, Notice, report};
use prparser::collector::folder::LogFolder;
use prparser::collector::writer::{Format, LogWriter, WriterOptions};
use prparser::collector::{Backend, Collector, SystemClock, SystemSource, host};

/// The original's `-ls` range, in KB.
const MIN_SIZE_KB: u64 = 1000;
const MAX_SIZE_KB: u64 = 102_400;
/// Poll intervals accepted, in milliseconds.
const MIN_INTERVAL_MS: u64 = 50;
const MAX_INTERVAL_MS: u64 = 3_600_000;
/// The same failure (110, 111) is reported at most this often.
const REPEAT_REPORTS_EVERY: Duration = Duration::from_secs(600);

#[derive(Parser, Debug)]
#[command(
    name = "portreporter",
    version,
    about = "Port Reporter for Linux: logs TCP and UDP port activity with the process, user, service and modules behind it",
    long_about = "Port Reporter for Linux: logs TCP and UDP port activity with the process, user, service and \
loaded modules behind it, in the three Port Reporter logs (PR-INITIAL, PR-PORTS, PR-PIDS) or as JSON lines.\n\n\
The original's start parameters work too: -ld '<dir>' (log folder) and -ls <KB> (size limit).\n\
Run as root, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, to see every process; as an ordinary \
user it sees only that user's processes."
)]
struct Cli {
    /// Log folder (the original's -ld '<dir>'); created 0750 if missing.
    #[arg(long, value_name = "DIR", default_value = "/var/log/portreporter", value_parser = parse_dir)]
    log_dir: PathBuf,
    /// Size at which a log file is closed and a new set started, in KB (the original's -ls),
    /// 1000..102400.
    #[arg(long, value_name = "KB", default_value_t = 5000, value_parser = parse_size_kb)]
    max_size_kb: u64,
    /// Time between two polls of the socket tables, in ms (50..3600000); a connection opened
    /// and closed within it may not be seen.
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = parse_interval_ms)]
    interval_ms: u64,
    /// Take one snapshot (PR-INITIAL, or the JSON lines of it) and exit.
    #[arg(long)]
    once: bool,
    /// text: the three Port Reporter logs; jsonl: one JSON object per event in PR-EVENTS-*.jsonl.
    #[arg(long, value_name = "text|jsonl", default_value = "text")]
    format: Format,
    /// Where socket tables are read: netlink (sock_diag, the default, faster) or procfs
    /// (/proc/net). Without it, procfs is used if netlink is unavailable.
    #[arg(long, value_name = "netlink|procfs")]
    sockets: Option<Backend>,
}

/// `-ld` and `-ls`, the original's two-letter options, as their long forms (clap's short
/// options are one letter).
fn original_options(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| match a.to_str() {
            Some("-ld") => OsString::from("--log-dir"),
            Some("-ls") => OsString::from("--max-size-kb"),
            _ => a,
        })
        .collect()
}

/// The original wanted the folder in single quotes; a shell removes them, a service manager
/// may not, so quotes around the whole value are taken off.
fn parse_dir(text: &str) -> Result<PathBuf, String> {
    let inner = [('\'', '\''), ('\u{2018}', '\u{2019}'), ('"', '"')]
        .iter()
        .find_map(|(open, close)| text.strip_prefix(*open)?.strip_suffix(*close))
        .unwrap_or(text);
    if inner.is_empty() {
        return Err("the log folder is empty".into());
    }
    Ok(PathBuf::from(inner))
}

fn parse_size_kb(text: &str) -> Result<u64, String> {
    let kb: u64 = text.parse().map_err(|_| format!("{text:?} is not a number of KB"))?;
    if !(MIN_SIZE_KB..=MAX_SIZE_KB).contains(&kb) {
        return Err(format!(
            "{kb} KB is out of range: the log size limit (-ls) must be between {MIN_SIZE_KB} and {MAX_SIZE_KB} KB"
        ));
    }
    Ok(kb)
}

fn parse_interval_ms(text: &str) -> Result<u64, String> {
    let ms: u64 = text.parse().map_err(|_| format!("{text:?} is not a number of milliseconds"))?;
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms) {
        return Err(format!(
            "{ms} ms is out of range: the poll interval must be between {MIN_INTERVAL_MS} and {MAX_INTERVAL_MS} ms"
        ));
    }
    Ok(ms)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(original_options(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // clap's message names the parameter and the allowed values.
            let _ = e.print();
            report(&Notice::new(EventId::Fatal, "invalid start parameters; the service did not start"));
            return ExitCode::from(2);
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&Notice::new(EventId::Fatal, format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Reports a failure at most once per [`REPEAT_REPORTS_EVERY`], so a lasting problem does not
/// flood the journal at every poll.
#[derive(Default)]
struct Quiet(Option<Instant>);

impl Quiet {
    fn report(&mut self, notice: Notice) {
        if self.0.is_none_or(|last| last.elapsed() >= REPEAT_REPORTS_EVERY) {
            self.0 = Some(Instant::now());
            report(&notice);
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    let stop = stop_signals()?;
    let source = open_source(cli.sockets)?;
    report(&Notice::new(
        EventId::Started,
        format!(
            "The Port Reporter service was started (pid {}): folder {}, size limit {} KB, poll every {} ms, \
             format {}, sockets from {}",
            std::process::id(),
            cli.log_dir.display(),
            cli.max_size_kb,
            cli.interval_ms,
            match cli.format {
                Format::Text => "text",
                Format::Jsonl => "jsonl",
            },
            source.backend()
        ),
    ));
    if let Some(why) = host::limited_visibility() {
        report(&Notice::new(EventId::LimitedVisibility, why));
    }
    let folder = LogFolder::open(&cli.log_dir).context("the log folder")?;
    let options = WriterOptions { format: cli.format, max_bytes: cli.max_size_kb * 1024, header: host::log_header() };
    let mut writer = LogWriter::new(folder, options);
    let mut collector = Collector::new(source, SystemClock);
    let interval = Duration::from_millis(cli.interval_ms);
    let (mut poll_failed, mut poll_slow) = (Quiet::default(), Quiet::default());
    let mut first = true;
    let mut next = Instant::now();
    let reason = loop {
        let began = Instant::now();
        match collector.poll() {
            Ok(batch) => writer.write(&batch).iter().for_each(report),
            Err(e) if first => return Err(e).context("the first look at the socket tables"),
            Err(e) => poll_failed.report(Notice::new(EventId::PollFailed, format!("{e}; this poll was skipped"))),
        }
        if first && writer.current_files().is_empty() {
            bail!("no log files could be created in {}", cli.log_dir.display());
        }
        first = false;
        if cli.once {
            break "one snapshot taken (--once)";
        }
        let took = began.elapsed();
        if took > interval {
            poll_slow.report(Notice::new(
                EventId::PollSlow,
                format!("a poll took {} ms, longer than the {} ms interval", took.as_millis(), cli.interval_ms),
            ));
        }
        next += interval;
        let now = Instant::now();
        if next < now {
            next = now;
        }
        match stop.recv_timeout(next - now) {
            Ok(SIGTERM) => break "SIGTERM",
            Ok(_) => break "SIGINT",
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break "the signal thread ended",
        }
    };
    writer.close().iter().for_each(report);
    report(&Notice::new(EventId::Stopped, format!("The Port Reporter service was stopped: {reason}")));
    Ok(())
}

/// SIGTERM and SIGINT, delivered as messages so that the wait between polls ends at once.
fn stop_signals() -> Result<mpsc::Receiver<i32>> {
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("installing the SIGTERM/SIGINT handlers")?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if tx.send(signal).is_err() {
                    break;
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(rx)
}

/// The chosen backend; without a choice, netlink, else procfs (reported as event 110).
fn open_source(choice: Option<Backend>) -> Result<SystemSource> {
    if let Some(backend) = choice {
        return SystemSource::open(backend).context("opening the socket tables");
    }
    match SystemSource::open(Backend::Netlink) {
        Ok(source) => Ok(source),
        Err(e) => {
            report(&Notice::new(EventId::PollFailed, format!("{e}; reading /proc/net instead")));
            SystemSource::open(Backend::Procfs).context("opening /proc/net")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(original_options(
            std::iter::once("portreporter").chain(args.iter().copied()).map(OsString::from),
        ))
    }

    #[test]
    fn the_original_start_parameters() {
        let cli = parse(&["-ld", "'/srv/port reporter'", "-ls", "7000"]).expect("parse");
        assert_eq!(cli.log_dir, PathBuf::from("/srv/port reporter"));
        assert_eq!(cli.max_size_kb, 7000);
        let cli = parse(&[]).expect("defaults");
        assert_eq!(
            (cli.log_dir, cli.max_size_kb, cli.interval_ms),
            (PathBuf::from("/var/log/portreporter"), 5000, 500)
        );
        assert_eq!(cli.format, Format::Text);
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_range() {
        for args in [["-ls", "999"], ["-ls", "102401"]] {
            let message = parse(&args).expect_err("refused").to_string();
            assert!(message.contains("between 1000 and 102400 KB"), "{message}");
        }
        assert!(parse(&["--interval-ms", "10"]).expect_err("refused").to_string().contains("between 50"));
        assert!(parse(&["--format", "xml"]).is_err());
        assert!(parse(&["-ld", "''"]).is_err());
    }

    #[test]
    fn long_options() {
        let cli =
            parse(&["--log-dir", "/tmp/x", "--max-size-kb", "1000", "--interval-ms", "250", "--once"]).expect("parse");
        assert!(cli.once);
        assert_eq!(cli.interval_ms, 250);
        let cli = parse(&["--format", "jsonl", "--sockets", "procfs"]).expect("parse");
        assert_eq!((cli.format, cli.sockets), (Format::Jsonl, Some(Backend::Procfs)));
    }
}
