//! `portreporter`: Port Reporter for Linux, the collector service. Wiring only: the command line
//! is `prparser::cli::portreporter`, the work is in `prparser::collector`.

use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
            report(&Notice::new(EventId::Fatal, format!("{}; the service did not start", parameter_error(&e))));
            return ExitCode::from(2);
        }
    };
    match Service::start(&cli) {
        Ok(service) => {
            service.run(&cli);
            ExitCode::SUCCESS
        }
        Err(why) => {
            report(&Notice::new(EventId::Fatal, format!("the service did not start: {why}")));
            ExitCode::FAILURE
        }
    }
}

/// clap's message on one line: its first line (the others are a usage summary and a pointer
/// to `--help`), which names the parameter and, for values out of range, the range.
fn parameter_error(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    format!("invalid start parameters: {} (see portreporter --help)", first.strip_prefix("error: ").unwrap_or(first))
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

/// A started service: its folder usable, its first files written.
struct Service {
    stop: mpsc::Receiver<i32>,
    collector: Collector<SystemSource, SystemClock>,
    writer: LogWriter<LogFolder>,
    /// When the first poll began: the next ones follow at every interval from it.
    began: Instant,
}

impl Service {
    /// Everything that can keep the service from working, checked before it says it started
    /// (event 100): the log folder, the socket tables, the first poll, the first set of files.
    /// Returns the one reason it cannot start.
    fn start(cli: &Cli) -> Result<Service, String> {
        let stop = stop_signals().map_err(|e| format!("cannot install the SIGTERM/SIGINT handlers: {e}"))?;
        let folder = LogFolder::open(&cli.log_dir).map_err(|e| e.to_string())?;
        let (source, fallback) = open_source(cli.sockets)?;
        let backend = source.backend();
        let mut collector = Collector::new(source, SystemClock);
        let began = Instant::now();
        let first = collector.poll().map_err(|e| e.to_string())?;
        let options =
            WriterOptions { format: cli.format, max_bytes: cli.max_size_kb * 1024, header: host::log_header() };
        let mut writer = LogWriter::new(folder, options);
        let notices = writer.start(&first).map_err(|e| e.to_string())?;
        report(&Notice::new(
            EventId::Started,
            format!(
                "The Port Reporter service was started (pid {}): folder {}, size limit {} KB, poll every {} ms, \
                 format {}, sockets from {backend}",
                std::process::id(),
                cli.log_dir.display(),
                cli.max_size_kb,
                cli.interval_ms,
                match cli.format {
                    Format::Text => "text",
                    Format::Jsonl => "jsonl",
                },
            ),
        ));
        fallback.iter().chain(&notices).for_each(report);
        if let Some(why) = host::limited_visibility() {
            report(&Notice::new(EventId::LimitedVisibility, why));
        }
        Ok(Service { stop, collector, writer, began })
    }

    /// Polls until told to stop (or at once with `--once`), then closes the files.
    fn run(mut self, cli: &Cli) {
        let interval = Duration::from_millis(cli.interval_ms);
        let (mut poll_failed, mut poll_slow) = (Quiet::default(), Quiet::default());
        let mut next = self.began;
        let reason = loop {
            if cli.once {
                break "one snapshot taken (--once)";
            }
            next += interval;
            let now = Instant::now();
            if next < now {
                next = now;
            }
            match self.stop.recv_timeout(next - now) {
                Ok(SIGTERM) => break "SIGTERM",
                Ok(_) => break "SIGINT",
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break "the signal thread ended",
            }
            let began = Instant::now();
            match self.collector.poll() {
                Ok(batch) => self.writer.write(&batch).iter().for_each(report),
                Err(e) => poll_failed.report(Notice::new(EventId::PollFailed, format!("{e}; this poll was skipped"))),
            }
            let took = began.elapsed();
            if took > interval {
                poll_slow.report(Notice::new(
                    EventId::PollSlow,
                    format!("a poll took {} ms, longer than the {} ms interval", took.as_millis(), cli.interval_ms),
                ));
            }
        };
        self.writer.close().iter().for_each(report);
        report(&Notice::new(EventId::Stopped, format!("The Port Reporter service was stopped: {reason}")));
    }
}

/// SIGTERM and SIGINT, delivered as messages so that the wait between polls ends at once.
fn stop_signals() -> std::io::Result<mpsc::Receiver<i32>> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        for signal in signals.forever() {
            if tx.send(signal).is_err() {
                break;
            }
        }
    })?;
    Ok(rx)
}

/// The chosen backend; without a choice, netlink, else procfs, with the event 110 that says so
/// (reported once the service has started).
fn open_source(choice: Option<Backend>) -> Result<(SystemSource, Option<Notice>), String> {
    if let Some(backend) = choice {
        return SystemSource::open(backend).map(|s| (s, None)).map_err(|e| e.to_string());
    }
    match SystemSource::open(Backend::Netlink) {
        Ok(source) => Ok((source, None)),
        Err(netlink) => match SystemSource::open(Backend::Procfs) {
            Ok(source) => {
                Ok((source, Some(Notice::new(EventId::PollFailed, format!("{netlink}; reading /proc/net instead")))))
            }
            Err(procfs) => Err(format!("{netlink}; {procfs}")),
        },
    }
}
