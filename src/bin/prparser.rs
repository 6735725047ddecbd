//! `prparser`: the Port Reporter log analyser. Wiring only: the command line is
//! `prparser::cli::prparser`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use prparser::analysis::changes::Baseline;
use prparser::analysis::criteria::{CompiledSet, CriteriaSet, Field};
use prparser::analysis::geoip::GeoIp;
use prparser::analysis::time_range::{TimeRange, parse_time};
use prparser::cli::prparser::{BaselineArgs, Cli, Command, FollowFormat, Format, RangeArgs};
use prparser::clickhouse::changes::ServerBaseline;
use prparser::logs::ports::LoadProgress;
use prparser::report::Skip;

fn main() -> ExitCode {
    match run(Cli::parse_checked()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prparser: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Report {
            clickhouse: Some(url),
            server,
            criteria,
            computers,
            range,
            baseline,
            format,
            top,
            skip,
            ..
        }) => {
            let (criteria, _lists) = load_criteria(criteria, None)?;
            let baseline = match baseline_of(baseline)? {
                Baseline::Until(until) => ServerBaseline::Until(until),
                Baseline::Initial => ServerBaseline::Initial,
                // The command line refuses the two together already; said again here so that
                // the other logs are never silently replaced by the default baseline.
                Baseline::Paths(_) => bail!(
                    "--baseline PATH cannot be used with --clickhouse: ingest those logs and use --baseline-until"
                ),
            };
            let options = prparser::clickhouse::report::Options {
                computers,
                range: time_range(&range)?,
                baseline,
                skip: Skip::of(&skip),
            };
            prparser::clickhouse::command::report(&url, &server, &criteria, &options, format, top)
        }
        Some(Command::Ingest { clickhouse, server, batch_rows, paths }) => {
            prparser::clickhouse::command::ingest(&clickhouse, &server, batch_rows as usize, &paths)
        }
        Some(Command::Report {
            criteria,
            geoip,
            asn,
            process,
            computers,
            range,
            baseline,
            format,
            top,
            skip,
            paths,
            ..
        }) => {
            let geo = open_geoip(geoip.as_deref(), asn.as_deref())?;
            let baseline = baseline_of(baseline)?;
            let options = prparser::report::Options {
                process,
                computers,
                geo,
                range: time_range(&range)?,
                baseline,
                skip: Skip::of(&skip),
            };
            report(criteria, &options, format, top, &paths)
        }
        Some(Command::Follow { criteria, geoip, asn, format, flagged_only, from, interval_ms, seconds, path }) => {
            let from = time_range(&RangeArgs { from, to: None })?.from;
            let style = match format {
                FollowFormat::Text => prparser::tail::Style::Text,
                FollowFormat::Jsonl => prparser::tail::Style::JsonLines,
            };
            let options = prparser::tail::Options {
                style,
                interval: std::time::Duration::from_millis(interval_ms),
                flagged_only,
                from,
                duration: seconds.map(std::time::Duration::from_secs),
                geo: open_geoip(geoip.as_deref(), asn.as_deref())?,
            };
            follow(criteria, &options, &path)
        }
        Some(Command::Generate { rows, out, seed, computers, shape }) => {
            let options = prparser::generate::Options { rows, seed, shape: shape.shape() };
            let summaries = prparser::generate::write_fleet(&out, &options, computers)
                .with_context(|| format!("cannot write generated logs to {}", out.display()))?;
            for summary in summaries {
                println!("{summary}");
            }
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

/// Opens the GeoIP databases named (none: `None`) and says on stderr what they are.
fn open_geoip(country: Option<&Path>, network: Option<&Path>) -> Result<Option<Arc<GeoIp>>> {
    if country.is_none() && network.is_none() {
        return Ok(None);
    }
    let geo = GeoIp::open(country, network)?;
    for (role, db) in [("countries", geo.country_database()), ("ASNs", geo.network_database())] {
        if let Some(db) = db {
            eprintln!("prparser: {role} from {}", db.summary());
        }
    }
    Ok(Some(Arc::new(geo)))
}

/// Loads a criteria file and refuses it if any criterion cannot be used, naming it (a country
/// or AS criterion without the database it reads, too: it would match nothing); says on
/// stderr what each address list holds. The compiled set comes back too: while it is held, the
/// run's own compilation shares its lists instead of reading them again.
fn load_criteria(path: Option<PathBuf>, geo: Option<&GeoIp>) -> Result<(CriteriaSet, CompiledSet)> {
    let criteria = match path {
        Some(path) => CriteriaSet::load(&path)?,
        None => CriteriaSet::default(),
    };
    let compiled = CompiledSet::new(&criteria);
    if let Some((i, err)) = compiled.broken.first() {
        bail!("criterion {:?} (number {}) cannot be used: {err}", criteria.criteria[*i].name, i + 1);
    }
    for (i, c) in criteria.criteria.iter().enumerate().filter(|(_, c)| c.enabled) {
        let (needed, option) = match c.field {
            Field::Country => (geo.and_then(GeoIp::country_database), "--geoip"),
            Field::Asn => (geo.and_then(GeoIp::network_database), "--asn"),
            _ => continue,
        };
        if needed.is_none() {
            bail!(
                "criterion {:?} (number {}) reads the {}: give a database with {option} FILE",
                c.name,
                i + 1,
                c.field.label()
            );
        }
    }
    for (i, list) in compiled.lists() {
        eprintln!("prparser: criterion {:?}: {}", criteria.criteria[i].name, list.summary());
    }
    Ok((criteria, compiled))
}

fn follow(criteria: Option<PathBuf>, options: &prparser::tail::Options, path: &Path) -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};

    let (criteria, _lists) = load_criteria(criteria, options.geo.as_deref())?;
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

/// The range `--from` and `--to` name; an error naming the option and the value otherwise.
fn time_range(args: &RangeArgs) -> Result<TimeRange> {
    let from = args.from.as_deref().map(parse_time).transpose().context("--from")?;
    let to = args.to.as_deref().map(parse_time).transpose().context("--to")?;
    Ok(TimeRange::new(from, to)?)
}

/// The baseline `--baseline` or `--baseline-until` names (the default: each computer's
/// earliest PR-INITIAL).
fn baseline_of(args: BaselineArgs) -> Result<Baseline> {
    Ok(match (args.baseline_until, args.baseline) {
        (Some(until), _) => Baseline::Until(parse_time(&until).context("--baseline-until")?),
        (None, paths) if !paths.is_empty() => Baseline::Paths(paths),
        _ => Baseline::Initial,
    })
}

fn report(
    criteria: Option<PathBuf>,
    options: &prparser::report::Options,
    format: Format,
    top: usize,
    paths: &[PathBuf],
) -> Result<()> {
    let (criteria, _lists) = load_criteria(criteria, options.geo.as_deref())?;
    let report = prparser::report::run(paths, &criteria, options, &LoadProgress::default())?;
    match format {
        Format::Json => println!("{}", report.to_json()),
        Format::Text => print!("{}", report.to_text(top)),
    }
    Ok(())
}
