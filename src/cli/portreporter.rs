//! The command line of `portreporter`, the collector service, with the original's two-letter
//! start parameters (`-ld`, `-ls`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::collector::Backend;
use crate::collector::writer::Format;

/// The original's `-ls` range, in KB.
pub const MIN_SIZE_KB: u64 = 1000;
pub const MAX_SIZE_KB: u64 = 102_400;
/// Poll intervals accepted, in milliseconds.
pub const MIN_INTERVAL_MS: u64 = 50;
pub const MAX_INTERVAL_MS: u64 = 3_600_000;

#[derive(Parser, Debug)]
#[command(
    name = "portreporter",
    version,
    about = "Port Reporter for Linux: logs TCP and UDP port activity with the process, user, service and modules behind it",
    long_about = "Port Reporter for Linux: logs TCP and UDP port activity with the process, user, service and \
loaded modules behind it, in the three Port Reporter logs (PR-INITIAL, PR-PORTS, PR-PIDS) or as JSON lines.\n\n\
Run as root, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, to see every process; as an ordinary \
user it sees only that user's processes.",
    after_long_help = ORIGINAL_HELP
)]
pub struct Cli {
    /// Log folder (the original's -ld '<dir>'); created 0750 if missing. A symbolic link on the
    /// way is followed only if root or the user it runs as owns it.
    #[arg(long, value_name = "DIR", default_value = "/var/log/portreporter", value_parser = parse_dir)]
    pub log_dir: PathBuf,
    /// Size at which a log file is closed and a new set started, in KB (the original's -ls),
    /// 1000..102400.
    #[arg(long, value_name = "KB", default_value_t = 5000, value_parser = parse_size_kb)]
    pub max_size_kb: u64,
    /// Time between two polls of the socket tables, in ms (50..3600000); a connection opened
    /// and closed within it may not be seen.
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = parse_interval_ms)]
    pub interval_ms: u64,
    /// Take one snapshot (PR-INITIAL, or the JSON lines of it) and exit.
    #[arg(long)]
    pub once: bool,
    /// text: the three Port Reporter logs; jsonl: one JSON object per event in PR-EVENTS-*.jsonl.
    #[arg(long, value_name = "text|jsonl", default_value = "text")]
    pub format: Format,
    /// Where socket tables are read: netlink (sock_diag, the default, faster) or procfs
    /// (/proc/net). Without it, procfs is used if netlink is unavailable.
    #[arg(long, value_name = "netlink|procfs")]
    pub sockets: Option<Backend>,
}

/// The original's two-letter start parameters: (parameter, the long option it stands for, its
/// value, what it is). [`original_options`] translates them; `--help` ([`ORIGINAL_HELP`]) and
/// the man page list them.
pub const ORIGINAL_OPTIONS: [(&str, &str, &str, &str); 2] = [
    (
        "-ld",
        "--log-dir",
        "'<DIR>'",
        "The log folder. The original wanted it in single quotes; a shell takes them off, and \
         quotes a service manager leaves are taken off too.",
    ),
    (
        "-ls",
        "--max-size-kb",
        "<KB>",
        "The size at which a set of logs is closed and a new one started, 1000..102400 KB.",
    ),
];

/// What `--help` says of [`ORIGINAL_OPTIONS`].
pub const ORIGINAL_HELP: &str = "The original Port Reporter's start parameters are accepted as well:
  -ld '<DIR>'  the same as --log-dir (quotes around the folder are taken off)
  -ls <KB>     the same as --max-size-kb";

/// `-ld` and `-ls`, the original's two-letter options, as their long forms (clap's short
/// options are one letter).
pub fn original_options(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| {
            let long = a.to_str().and_then(|text| ORIGINAL_OPTIONS.iter().find(|o| o.0 == text)).map(|o| o.1);
            long.map_or(a, OsString::from)
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
    fn the_help_names_each_original_parameter_with_its_long_option() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for (short, long, value, _) in ORIGINAL_OPTIONS {
            let line = help.lines().find(|l| l.trim_start().starts_with(&format!("{short} {value}")));
            assert!(line.is_some_and(|l| l.contains(long)), "{short} in:\n{help}");
        }
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
