//! Consistent PR-INITIAL + PR-PORTS + PR-PIDS sets of any size and of every shape the readers
//! accept, for benchmarks and tests: a made-up Windows XP machine ([`machine`]) whose
//! processes, users, services and modules agree across the three logs, with PIDS blocks
//! recorded when a process starts new activity, as Port Reporter did. The shares of quoted,
//! multi-line, IPv6, non-ASCII, 7-field and 9-field rows and of malformed lines, and the line
//! ends, encoding and header version, are chosen by a [`Shape`] ([`shape`]). The same options
//! and seed write the same bytes.
//!
//! What the logs cannot carry stays inconsistent on purpose, as it would in real logs: a PIDS
//! or INITIAL block writes a name's line break as a space, since those logs have no quoting.

mod encode;
mod machine;
mod malformed;
mod shape;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{NaiveDateTime, TimeDelta};

use crate::logs::header::{LogKind, Version, file_name};
use crate::logs::initial::{self, InitialLog};
use crate::logs::pids::{self, LogHeader};
use crate::logs::ports::{self, RowOut};
use crate::logs::process_block::{EOL, MAPPINGS_UNAVAILABLE};
use crate::model::{PortMapping, make_datetime};
use encode::Encoder;
use machine::{Kind, Machine, Rng, block_for, mapping};
pub use shape::{HeaderVersion, LineEnds, Preset, Shape, ShapeError, TextEncoding, count, parse_share};
use shape::{Plan, RowClass};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Rows of the PORTS log (malformed lines come on top).
    pub rows: u64,
    pub seed: u64,
    pub shape: Shape,
}

/// Why a set could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} computers asked for: from 1 to {MAX_COMPUTERS}")]
    Computers(u32),
}

/// What was written: the counts of each shape, and the three files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub quoted: u64,
    pub multiline: u64,
    pub non_ascii: u64,
    pub seven_field: u64,
    pub nine_field: u64,
    pub ipv6: u64,
    pub malformed: u64,
    pub ports: PathBuf,
    pub pids: PathBuf,
    pub initial: PathBuf,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wrote {} rows", self.rows)?;
        let shaped = [
            (self.quoted, "quoted"),
            (self.multiline, "multi-line"),
            (self.non_ascii, "non-ASCII"),
            (self.seven_field, "7-field"),
            (self.nine_field, "9-field"),
            (self.ipv6, "IPv6"),
        ];
        let parts: Vec<String> = shaped.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        if self.malformed > 0 {
            write!(f, " and {} malformed lines", self.malformed)?;
        }
        write!(f, ": {}, {}, {}", self.ports.display(), self.pids.display(), self.initial.display())
    }
}

/// A new PIDS block is written for a process after this many of its rows ("new activity").
const ROWS_PER_BLOCK: u64 = 400;

/// The computer a single set belongs to; the computers of a fleet are numbered on from it.
const FIRST_COMPUTER: u32 = 12347;

/// Most computers a fleet may have.
pub const MAX_COMPUTERS: u32 = 1000;

/// The name of a fleet's `k`-th computer (from 0): PC12347, PC12348, ...
pub fn computer_name(k: u32) -> String {
    format!("PC{}", FIRST_COMPUTER + k)
}

/// Writes the three logs into `out` (created if missing), for computer PC12347.
pub fn write_set(out: &Path, options: &Options) -> Result<Summary, GenerateError> {
    write_computer_set(out, options, &computer_name(0))
}

/// Writes the sets of `computers` machines, each a different made-up machine (seeds `seed`,
/// `seed + 1`, ...) with `options.rows` rows, its own PR-INITIAL and computer name
/// ([`computer_name`]), into a folder of `out` named like it: one folder per computer, as a
/// case folder holds machines' logs. One computer's set is written into `out` itself, as
/// [`write_set`] does.
pub fn write_fleet(out: &Path, options: &Options, computers: u32) -> Result<Vec<Summary>, GenerateError> {
    if computers == 0 || computers > MAX_COMPUTERS {
        return Err(GenerateError::Computers(computers));
    }
    if computers == 1 {
        return Ok(vec![write_set(out, options)?]);
    }
    (0..computers)
        .map(|k| {
            let name = computer_name(k);
            let options = Options { seed: options.seed.wrapping_add(u64::from(k)), ..options.clone() };
            write_computer_set(&out.join(&name), &options, &name)
        })
        .collect()
}

/// Writes one computer's three logs into `out`.
fn write_computer_set(out: &Path, options: &Options, computer: &str) -> Result<Summary, GenerateError> {
    let shape = &options.shape;
    shape.validate()?;
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GenerateError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let start = make_datetime(8, 6, 30, 0, 0, 0).ok_or_else(|| io_err(out)(io::Error::other("bad start date")))?;
    let mut rng = Rng::new(options.seed);
    let machine = Machine::new(&mut rng);
    let path = |kind| out.join(file_name(kind, start));
    let mut summary = Summary {
        ports: path(LogKind::Ports),
        pids: path(LogKind::Pids),
        initial: path(LogKind::Initial),
        ..Summary::default()
    };

    let system = if shape.windows_2000() { "windows 2000" } else { "windows xp" };
    let header = LogHeader {
        version: Some(Version(shape.version.text().into())),
        system_date: Some(start),
        computer_name: Some(computer.into()),
        operating_system: (shape.version == HeaderVersion::V1_01).then(|| system.into()),
    };
    write_initial(&summary.initial, &header, &machine, shape, &mut rng).map_err(io_err(&summary.initial))?;
    let mut writer = SetWriter {
        ports: open(&summary.ports, shape).map_err(io_err(&summary.ports))?,
        pids: open(&summary.pids, shape).map_err(io_err(&summary.pids))?,
        machine: &machine,
        seen: vec![0; machine.procs.len()],
        line: Vec::with_capacity(256),
    };
    ports::write_header(&mut writer.ports, shape.version.text(), &file_name(LogKind::Pids, start))
        .map_err(io_err(&summary.ports))?;
    pids::write_header(&mut writer.pids, &header).map_err(io_err(&summary.pids))?;
    if shape.windows_2000() {
        // The PIDS log's reason for holding no blocks, as the INITIAL log gives it.
        write!(writer.pids, "{MAPPINGS_UNAVAILABLE}{EOL}").map_err(io_err(&summary.pids))?;
    }

    let mut plan = shape.plan(options.rows);
    let mut time = start;
    for _ in 0..options.rows {
        time += TimeDelta::seconds(rng.below(3) as i64);
        writer.next(&mut plan, &mut rng, time, &mut summary)?;
    }
    writer.ports.finish().map_err(io_err(&summary.ports))?;
    writer.pids.finish().map_err(io_err(&summary.pids))?;
    Ok(summary)
}

fn open(path: &Path, shape: &Shape) -> io::Result<Encoder<BufWriter<File>>> {
    Encoder::new(BufWriter::with_capacity(1 << 20, File::create(path)?), shape.line_ends, shape.encoding)
}

/// The PORTS and PIDS logs being written.
struct SetWriter<'m> {
    ports: Encoder<BufWriter<File>>,
    pids: Encoder<BufWriter<File>>,
    machine: &'m Machine,
    /// Rows written per process, to know when a process starts new activity.
    seen: Vec<u64>,
    /// The row being written, reused.
    line: Vec<u8>,
}

impl SetWriter<'_> {
    /// Writes the next row (after a malformed line if the plan puts one there), and its
    /// process's PIDS block when the row starts new activity.
    fn next(
        &mut self,
        plan: &mut Plan,
        rng: &mut Rng,
        time: NaiveDateTime,
        summary: &mut Summary,
    ) -> Result<(), GenerateError> {
        let ports_err = |source| GenerateError::Io { path: summary.ports.clone(), source };
        if plan.malformed(rng) {
            malformed::write(&mut self.ports, time, rng.below(malformed::KINDS)).map_err(ports_err)?;
            summary.malformed += 1;
        }
        let class = plan.class(rng);
        let v6 = plan.ipv6(rng);
        let i = self.machine.pick(class.source(), rng);
        let p = &self.machine.procs[i];
        let ev = self.machine.event(p, v6, rng);
        let seven = class == RowClass::SevenField;
        let row = RowOut {
            time,
            protocol: ev.protocol,
            local_port: ev.local_port,
            local_ip: ev.local_ip,
            remote_port: ev.remote_port,
            remote_ip: ev.remote_ip,
            pid: (!seven).then_some(p.pid),
            module: p.name.as_bytes(),
            user: p.user,
        };
        self.line.clear();
        ports::write_row(&mut self.line, &row).map_err(ports_err)?;
        if class == RowClass::NineField {
            // The writer gives a user-less row its empty tenth field; this shape has none.
            let end = self.line.len() - b",\r\n".len();
            if self.line[end..] == *b",\r\n" {
                self.line.truncate(end);
                self.line.extend_from_slice(b"\r\n");
            }
        }
        self.ports.write_all(&self.line).map_err(ports_err)?;
        summary.rows += 1;
        summary.ipv6 += u64::from(v6);
        match class {
            RowClass::Quoted => summary.quoted += 1,
            RowClass::Multiline => summary.multiline += 1,
            RowClass::NonAscii => summary.non_ascii += 1,
            RowClass::SevenField => summary.seven_field += 1,
            RowClass::NineField => summary.nine_field += 1,
            RowClass::Plain => {}
        }
        // A Windows 2000 row has no PID, so no process block to go with it.
        if !seven {
            if self.seen[i].is_multiple_of(ROWS_PER_BLOCK) {
                pids::write_entry(&mut self.pids, time, &block_for(p, vec![mapping(p, &ev)]))
                    .map_err(|source| GenerateError::Io { path: summary.pids.clone(), source })?;
            }
            self.seen[i] += 1;
        }
        Ok(())
    }
}

/// The INITIAL snapshot: the processes running at service start that the set's rows use. A
/// Windows 2000 machine's says port-to-process mappings are not available, and nothing else.
fn write_initial(path: &Path, header: &LogHeader, machine: &Machine, shape: &Shape, rng: &mut Rng) -> io::Result<()> {
    let windows_2000 = shape.windows_2000();
    let used = |kind| match kind {
        Kind::Ordinary => true,
        Kind::Quoted => shape.writes(RowClass::Quoted),
        Kind::Multiline => shape.writes(RowClass::Multiline),
        Kind::NonAscii => shape.writes(RowClass::NonAscii),
    };
    let mut blocks = Vec::new();
    let mut mappings = Vec::new();
    for p in machine.procs.iter().filter(|p| !windows_2000 && !p.late && used(p.kind)) {
        let ev = machine.event(p, false, rng);
        let m = mapping(p, &ev);
        mappings.push(PortMapping { process: Some(p.name.to_string()), ..m.clone() });
        blocks.push(block_for(p, vec![m]));
    }
    let log = InitialLog {
        path: Arc::from(path),
        header: header.clone(),
        mappings_found: (!windows_2000).then_some(mappings.len() as u32),
        mappings,
        mappings_available: !windows_2000,
        blocks,
        warnings: Vec::new(),
    };
    let mut w = Encoder::new(BufWriter::new(File::create(path)?), shape.line_ends, shape.encoding)?;
    initial::write_initial(&mut w, &log)?;
    w.finish().map(drop)
}
