//! What a generated log looks like: the share of rows of each shape the readers accept, and
//! the file-wide choices (line ends, encoding, header version), with named presets.
//!
//! A share is exact, not a probability: of `rows` rows, ⌊rows × share⌋ have the shape, at
//! places drawn from the seed. The row shapes (quoted, multi-line, non-ASCII, 7-field,
//! 9-field) exclude one another, so their shares add up to at most 1; IPv6 applies to any
//! row; malformed lines come between rows, at most one before each.

use super::machine::{Rng, Source};

/// Line ends of all three logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LineEnds {
    /// `\r\n`, as Port Reporter wrote on Windows.
    #[default]
    Crlf,
    /// `\n`, as logs copied through Unix tools come.
    Lf,
}

/// Encoding of all three logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TextEncoding {
    /// UTF-8 without a byte-order mark (ASCII unless non-ASCII names are asked for).
    #[default]
    #[value(name = "utf-8")]
    Utf8,
    /// The Windows ANSI code page of western machines: non-ASCII names are not valid UTF-8.
    #[value(name = "windows-1252")]
    Windows1252,
    /// UTF-16 little-endian with a byte-order mark, as Windows editors save "Unicode" text.
    #[value(name = "utf-16le")]
    Utf16Le,
}

/// The version the three headers name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HeaderVersion {
    /// Version 1.0: the computer name on the `Local computer name:` line, no operating system.
    #[value(name = "1.0")]
    V1_0,
    /// Version 1.01: the computer name on the next line, then `Operating System:`.
    #[default]
    #[value(name = "1.01")]
    V1_01,
}

impl HeaderVersion {
    pub fn text(self) -> &'static str {
        match self {
            HeaderVersion::V1_0 => "1.0",
            HeaderVersion::V1_01 => "1.01",
        }
    }
}

/// The shares and file-wide choices of a generated set. Shares are fractions of the rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Rows whose module name RFC 4180 must quote, on one line (`"evil, inc.exe"`,
    /// `"Acme ""Sync"", v2.exe"`).
    pub quoted: f64,
    /// Rows whose quoted module name holds a line break, so the record spans two lines.
    pub multiline: f64,
    /// Rows with IPv6 addresses (local and, where there is one, remote).
    pub ipv6: f64,
    /// Rows of processes whose name and user are not ASCII (`Büro-Sync.exe`, `CORP\jürgen`);
    /// their module paths in PIDS and INITIAL also hold Windows-1252 letters beyond Latin-1
    /// (`€uro–Plug.dll`).
    pub non_ascii: f64,
    /// Windows 2000 rows: 7 fields, no PID, module or user. At 1 the whole set is a Windows
    /// 2000 machine's: INITIAL says port-to-process mappings are not available, PIDS is empty.
    pub seven_field: f64,
    /// Rows of System or System Idle whose user context is missing with its comma (9 fields).
    pub nine_field: f64,
    /// Malformed lines per row (at most 1), each a different way for a line to be unreadable.
    pub malformed: f64,
    pub line_ends: LineEnds,
    pub encoding: TextEncoding,
    pub version: HeaderVersion,
}

impl Default for Shape {
    /// The plain shape: one row in ten over IPv6, as today's dual-stack machines write.
    fn default() -> Shape {
        Shape {
            quoted: 0.0,
            multiline: 0.0,
            ipv6: 0.1,
            non_ascii: 0.0,
            seven_field: 0.0,
            nine_field: 0.0,
            malformed: 0.0,
            line_ends: LineEnds::Crlf,
            encoding: TextEncoding::Utf8,
            version: HeaderVersion::V1_01,
        }
    }
}

/// Named shapes: one per shape the readers accept, for benchmarks and quick tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// CRLF, UTF-8, 10-field rows, one row in ten over IPv6.
    Plain,
    /// A mix seen in the field: one row in 13 with a quoted module name, IPv6 rows,
    /// listeners with an empty remote port, 9-field System rows.
    Mixed,
    /// One row in 13 with a quoted module name, one in 1,000 spanning a line break.
    Quoted,
    /// Half the rows over IPv6.
    Ipv6,
    /// LF line ends.
    Lf,
    /// UTF-16LE with a byte-order mark.
    Utf16,
    /// Windows-1252, one row in 20 from a process with a non-ASCII name.
    Cp1252,
    /// A Windows 2000 machine: every row has 7 fields.
    Win2000,
    /// The version 1.0 headers.
    #[value(name = "v1.0")]
    V1_0,
    /// One row in ten a System row with 9 fields (no user context).
    NineField,
    /// One malformed line per hundred rows.
    Malformed,
}

impl Preset {
    pub fn shape(self) -> Shape {
        let plain = Shape::default();
        match self {
            Preset::Plain => plain,
            Preset::Mixed => Shape { quoted: 1.0 / 13.0, nine_field: 0.05, ..plain },
            Preset::Quoted => Shape { quoted: 1.0 / 13.0, multiline: 0.001, ..plain },
            Preset::Ipv6 => Shape { ipv6: 0.5, ..plain },
            Preset::Lf => Shape { line_ends: LineEnds::Lf, ..plain },
            Preset::Utf16 => Shape { encoding: TextEncoding::Utf16Le, ..plain },
            Preset::Cp1252 => Shape { non_ascii: 0.05, encoding: TextEncoding::Windows1252, ..plain },
            Preset::Win2000 => Shape { seven_field: 1.0, ..plain },
            Preset::V1_0 => Shape { version: HeaderVersion::V1_0, ..plain },
            Preset::NineField => Shape { nine_field: 0.1, ..plain },
            Preset::Malformed => Shape { malformed: 0.01, ..plain },
        }
    }
}

/// Why a shape cannot be generated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShapeError {
    #[error("the share of {name} must be between 0 and 1, not {value}")]
    OutOfRange { name: &'static str, value: f64 },
    #[error(
        "quoted, multi-line, non-ASCII, 7-field and 9-field rows exclude one another: their shares add up to {0}, more than 1"
    )]
    OverOne(f64),
}

/// The rows of a shape class, in a fixed order (the order of [`RowClass::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowClass {
    Quoted,
    Multiline,
    NonAscii,
    SevenField,
    NineField,
    Plain,
}

impl RowClass {
    const SHAPED: [RowClass; 5] =
        [RowClass::Quoted, RowClass::Multiline, RowClass::NonAscii, RowClass::SevenField, RowClass::NineField];

    /// The processes whose rows this class writes.
    pub(super) fn source(self) -> Source {
        match self {
            RowClass::Quoted => Source::Quoted,
            RowClass::Multiline => Source::Multiline,
            RowClass::NonAscii => Source::NonAscii,
            RowClass::NineField => Source::NoUser,
            RowClass::SevenField | RowClass::Plain => Source::Ordinary,
        }
    }
}

impl Shape {
    fn class_share(&self, class: RowClass) -> f64 {
        match class {
            RowClass::Quoted => self.quoted,
            RowClass::Multiline => self.multiline,
            RowClass::NonAscii => self.non_ascii,
            RowClass::SevenField => self.seven_field,
            RowClass::NineField => self.nine_field,
            RowClass::Plain => 0.0,
        }
    }

    pub fn validate(&self) -> Result<(), ShapeError> {
        for (name, value) in [
            ("quoted rows", self.quoted),
            ("multi-line rows", self.multiline),
            ("IPv6 rows", self.ipv6),
            ("non-ASCII rows", self.non_ascii),
            ("7-field rows", self.seven_field),
            ("9-field rows", self.nine_field),
            ("malformed lines", self.malformed),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ShapeError::OutOfRange { name, value });
            }
        }
        let sum: f64 = RowClass::SHAPED.iter().map(|&c| self.class_share(c)).sum();
        if sum > 1.0 + 1e-9 {
            return Err(ShapeError::OverOne(sum));
        }
        Ok(())
    }

    /// True when every row is a Windows 2000 row, so the set is a Windows 2000 machine's.
    pub(super) fn windows_2000(&self) -> bool {
        self.seven_field >= 1.0
    }

    /// True when rows of `class` are written at all.
    pub(super) fn writes(&self, class: RowClass) -> bool {
        self.class_share(class) > 0.0
    }

    /// How many rows of each class, IPv6 rows and malformed lines `rows` rows get.
    pub(super) fn plan(&self, rows: u64) -> Plan {
        let classes = Picker::new(rows, RowClass::SHAPED.iter().map(|&c| count(rows, self.class_share(c))).collect());
        Plan {
            classes,
            ipv6: Picker::new(rows, vec![count(rows, self.ipv6)]),
            malformed: Picker::new(rows, vec![count(rows, self.malformed)]),
        }
    }
}

/// ⌊n × share⌋, the float product nudged so that 0.29 × 1000 is 290 and not 289.
pub fn count(n: u64, share: f64) -> u64 {
    (n as f64 * share + 1e-6).floor() as u64
}

/// Parses a share: a fraction (`0.05`), a ratio (`1/13`) or a percentage (`5%`).
pub fn parse_share(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a share: give a fraction (0.05), a ratio (1/13) or a percentage (5%)");
    let number = |t: &str| t.trim().parse::<f64>().map_err(|_| bad());
    let value = if let Some(p) = text.strip_suffix('%') {
        number(p)? / 100.0
    } else if let Some((a, b)) = text.split_once('/') {
        let (a, b) = (number(a)?, number(b)?);
        if b == 0.0 {
            return Err(bad());
        }
        a / b
    } else {
        number(text)?
    };
    if (0.0..=1.0).contains(&value) { Ok(value) } else { Err(format!("{text:?} is not between 0 and 1")) }
}

/// Which rows get which shape, drawn as the rows are written.
pub(super) struct Plan {
    classes: Picker,
    ipv6: Picker,
    malformed: Picker,
}

impl Plan {
    pub(super) fn class(&mut self, rng: &mut Rng) -> RowClass {
        self.classes.pick(rng).map_or(RowClass::Plain, |c| RowClass::SHAPED[c])
    }

    pub(super) fn ipv6(&mut self, rng: &mut Rng) -> bool {
        self.ipv6.pick(rng).is_some()
    }

    /// True when a malformed line comes before the next row.
    pub(super) fn malformed(&mut self, rng: &mut Rng) -> bool {
        self.malformed.pick(rng).is_some()
    }
}

/// Gives each of `left` items one of several classes, class `c` exactly `counts[c]` times
/// (the rest none), in an order drawn from the generator: selection sampling, where each
/// class is taken with the probability of its remaining count among the remaining items.
struct Picker {
    left: u64,
    counts: Vec<u64>,
}

impl Picker {
    fn new(items: u64, counts: Vec<u64>) -> Picker {
        Picker { left: items, counts }
    }

    fn pick(&mut self, rng: &mut Rng) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        let mut draw = rng.below(self.left);
        self.left -= 1;
        for (class, count) in self.counts.iter_mut().enumerate() {
            if draw < *count {
                *count -= 1;
                return Some(class);
            }
            draw -= *count;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picker_gives_each_class_its_exact_count() {
        let mut rng = Rng::new(5);
        let mut picker = Picker::new(1000, vec![77, 0, 300]);
        let mut seen = [0u64; 4];
        for _ in 0..1000 {
            seen[picker.pick(&mut rng).unwrap_or(3)] += 1;
        }
        assert_eq!(seen, [77, 0, 300, 623]);
        assert_eq!(picker.pick(&mut rng), None);
    }

    #[test]
    fn shares_parse_as_fractions_ratios_and_percentages() {
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert_eq!(parse_share("1/4"), Ok(0.25));
        assert_eq!(parse_share("25%"), Ok(0.25));
        assert!(parse_share("1.5").is_err());
        assert!(parse_share("1/0").is_err());
        assert!(parse_share("lots").is_err());
    }

    #[test]
    fn counts_are_floors_of_exact_products() {
        assert_eq!(count(1000, 0.29), 290);
        assert_eq!(count(1_000_000, 1.0 / 13.0), 76_923);
        assert_eq!(count(7, 0.5), 3);
    }

    #[test]
    fn row_shares_over_one_are_refused() {
        let shape = Shape { quoted: 0.75, seven_field: 0.5, ..Shape::default() };
        assert_eq!(shape.validate(), Err(ShapeError::OverOne(1.25)));
        let shape = Shape { ipv6: 1.5, ..Shape::default() };
        assert_eq!(shape.validate(), Err(ShapeError::OutOfRange { name: "IPv6 rows", value: 1.5 }));
        for preset in <Preset as clap::ValueEnum>::value_variants() {
            assert_eq!(preset.shape().validate(), Ok(()), "{preset:?}");
        }
    }
}
