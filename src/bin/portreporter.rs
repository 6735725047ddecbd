//! `portreporter`: Port Reporter for Linux, the collector service. Wiring only: the command line
//! is `prparser::cli::portreporter`, the work is in `prparser::collector`.

use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use prparser::cli::portreporter::{Cli, original_options};
use prparser::collector::events::{EventId, Notice, report};
use prparser::collector::folder::LogFolder;
use prparser::collector::writer::{Format, LogWriter, WriterOptions};
use prparser::collector::{Backend, Collector, SystemClock, SystemSource, host};

/// The same failure (110, 111) is reported at most this often.
const REPEAT_REPORTS_EVERY: Duration = Duration::from_secs(600);

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
