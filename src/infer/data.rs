//! Reading a data table (SPEC section 2): a CSV file whose rows are the model's rows.
//!
//! Each `data` declaration becomes one [`Column`] group of `width` floats per row. A
//! file with a header is matched by name (`y`; `x0..x{n-1}`, also `x_0`, `x.0`, `x[0]`,
//! or 1-based when there is no `x0`); a file whose first line is all numbers is read by
//! position. Every value is checked against its declared type *as the `f32` training
//! stores it*, and against its family's range ([`Bound`]: a class below the number of
//! logits, a count at most its total); a bad one is reported with the file, line,
//! column and value.
//!
//! The file is streamed one record at a time and only the values the model reads are
//! kept, so memory follows the declared data, not the file: a table needing more than
//! [`MAX_VALUES`] values, or a line longer than [`MAX_LINE_BYTES`] (an endless
//! `/dev/zero`), is refused with a message instead of allocated. This module reads
//! files and returns values; it never prints.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::dist::{Elem, transform};

/// The most values a data table may hold: 2^28 values of 4 bytes, 1 GiB. A file whose
/// declared data needs more is refused at the row that crosses the limit.
pub const MAX_VALUES: usize = 1 << 28;

/// The longest line accepted, 64 MiB: a header of a million `x123456` names is 8 MiB.
/// Without a limit, a file with no line end is buffered whole before any check runs.
pub const MAX_LINE_BYTES: usize = 1 << 26;

/// The largest count an `int` may hold: every whole number up to it is exact in `f32`.
const MAX_COUNT: f64 = 16_777_215.0;

/// A per-family range on top of the element type, which the checked model knows and
/// the data must respect (a likelihood evaluated outside it is meaningless, and for a
/// class index out of bounds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// A class of a `Categorical` with this many logits: `value < K`.
    Below(usize),
    /// A count with a literal total (`Binomial(total_count = 10, ..)`): `value <= n`.
    AtMost(u64),
    /// A vector of counts with a vector literal of totals (`Binomial([3, 5], ..)`):
    /// element j at most `totals[j]`.
    AtMostEach(Vec<u64>),
    /// A count whose total is the `int` data column of this name on the same row
    /// (`Binomial(total_count = n, ..)`). A scalar total bounds every element; a vector
    /// total of the same width bounds element by element. The name must be another
    /// declaration of the same spec list, which a checked model guarantees.
    AtMostColumn(String),
}

/// What the model expects of one `data` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub elem: Elem,
    /// `None` for a scalar (`data y: real`), `Some(n)` for a vector (`data x: real[n]`).
    pub size: Option<usize>,
    /// The family's range, when the likelihood over this column has one.
    pub bound: Option<Bound>,
}

impl ColumnSpec {
    pub fn width(&self) -> usize {
        self.size.unwrap_or(1)
    }
}

/// The values of one `data` declaration: `rows x width` floats, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub spec: ColumnSpec,
    pub values: Vec<f32>,
}

impl Column {
    /// The values of row `row`.
    pub fn row(&self, row: usize) -> &[f32] {
        let w = self.spec.width();
        &self.values[row * w..(row + 1) * w]
    }
}

/// A data table matched to a model's declarations.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub path: PathBuf,
    pub rows: usize,
    /// One per `data` declaration, in declaration order.
    pub columns: Vec<Column>,
    /// Header columns the model does not read.
    pub ignored: Vec<String>,
}

#[derive(Debug, Error)]
pub enum DataError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("`{path}` holds no data rows")]
    Empty { path: PathBuf },
    #[error("`{path}` has no column for `{name}`{hint}")]
    MissingColumn {
        path: PathBuf,
        name: String,
        /// Text appended to the message, e.g. a list of the columns found.
        hint: String,
    },
    #[error(
        "{path}:{line}: has {found} columns, but the model's data declarations need {expected} (a file without a header is read by position)"
    )]
    WrongColumnCount {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("{path}:{line}:{column}: `{value}` in column `{name}` {problem}")]
    BadValue {
        path: PathBuf,
        line: u64,
        column: usize,
        name: String,
        /// The cell as written (control characters escaped, long cells shortened).
        value: String,
        /// Boxed to keep every `Result` carrying a `DataError` small.
        problem: Box<Problem>,
    },
    #[error(
        "{path}:{line}: the data passes vic's limit of {limit} values ({} MiB of 32-bit floats) at this line: the model reads {width} values per row, so a file may have at most {max_rows} rows (use fewer rows, or split the file)",
        (limit * 4) >> 20
    )]
    TooLarge {
        path: PathBuf,
        line: u64,
        width: usize,
        max_rows: usize,
        limit: usize,
    },
    #[error(
        "{path}:{line}: the line is longer than {limit} bytes, which is not a data table (is this the right file?)"
    )]
    LineTooLong {
        path: PathBuf,
        line: u64,
        limit: usize,
    },
}

/// Why a cell was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// Not a value of the declared type; says what was expected.
    NotA(&'static str),
    /// A finite number beyond the largest `f32`, which would become infinite.
    TooLarge,
    /// A `positive` or `unit` value that `f32` would store as 0 or as a subnormal that
    /// has lost most of its digits.
    TooSmall(Elem),
    /// A `unit` value that `f32` would round to 1.
    RoundsToOne,
    /// An `int` above [`MAX_COUNT`], which `f32` cannot hold exactly.
    CountTooLarge,
    /// A class index outside `0..classes`.
    ClassOutOfRange { classes: usize },
    /// A count above its literal total.
    AboveTotal { total: u64 },
    /// A count above the total read from another column of the same line.
    AboveTotalColumn {
        total: String,
        name: String,
        column: usize,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotA(expected) => write!(f, "is not {expected}"),
            Problem::TooLarge => f.write_str(
                "is too large for vic's 32-bit floats, whose largest magnitude is about 3.4e38 (rescale the column, e.g. to other units)",
            ),
            Problem::TooSmall(elem) => write!(
                f,
                "is too close to 0 for vic's 32-bit floats, which would store it as 0 or lose its digits: a `{elem}` value must be at least about 1.2e-38 (rescale the column, e.g. to other units)"
            ),
            Problem::RoundsToOne => f.write_str(
                "is so close to 1 that vic's 32-bit floats would store it as 1, outside `unit` (the largest `unit` value is about 0.99999994)",
            ),
            Problem::CountTooLarge => write!(
                f,
                "is above {MAX_COUNT}, the largest count vic's 32-bit floats hold exactly"
            ),
            Problem::ClassOutOfRange { classes } => write!(
                f,
                "is a class outside 0..{} (the logits have {classes} entries, and classes are numbered from 0)",
                classes.saturating_sub(1)
            ),
            Problem::AboveTotal { total } => {
                write!(f, "is a count above its total count {total}")
            }
            Problem::AboveTotalColumn {
                total,
                name,
                column,
            } => write!(
                f,
                "is a count above its total count `{total}` (column `{name}`, column {column} of the same line)"
            ),
        }
    }
}

/// Reads `path` and matches it to `specs`.
pub fn load(path: &Path, specs: &[ColumnSpec]) -> Result<Dataset, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    read(path, std::io::BufReader::new(file), specs, Limits::DEFAULT)
}

/// Matches CSV text (from `path`, named in errors) to `specs`.
pub fn parse(path: &Path, bytes: &[u8], specs: &[ColumnSpec]) -> Result<Dataset, DataError> {
    read(path, bytes, specs, Limits::DEFAULT)
}

/// How much a data table may take; [`MAX_VALUES`] and [`MAX_LINE_BYTES`] but in tests.
#[derive(Debug, Clone, Copy)]
struct Limits {
    values: usize,
    line_bytes: usize,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        values: MAX_VALUES,
        line_bytes: MAX_LINE_BYTES,
    };
}

/// Streams CSV from `input`: the header (or the first data line) decides where each
/// declaration's fields are, then every record is checked and kept as floats.
fn read(
    path: &Path,
    input: impl Read,
    specs: &[ColumnSpec],
    limits: Limits,
) -> Result<Dataset, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(Lines::new(input, limits.line_bytes));
    let mut record = csv::StringRecord::new();
    let (first, first_line) = loop {
        let Some(line) = next_record(path, &mut reader, &mut record)? else {
            return Err(DataError::Empty {
                path: path.to_owned(),
            });
        };
        if !is_blank(&record) {
            break (record.clone(), line);
        }
    };
    let has_header = !first.iter().all(|f| f.parse::<f64>().is_ok());
    let (sources, ignored) = if has_header {
        match_header(path, &first, specs)?
    } else {
        let expected: usize = specs.iter().map(ColumnSpec::width).sum();
        if first.len() != expected {
            return Err(DataError::WrongColumnCount {
                path: path.to_owned(),
                line: first_line,
                expected,
                found: first.len(),
            });
        }
        let mut next = 0;
        let sources = specs
            .iter()
            .map(|s| {
                let fields: Vec<usize> = (next..next + s.width()).collect();
                next += s.width();
                fields
            })
            .collect();
        (sources, Vec::new())
    };
    let header = has_header.then(|| first.clone());
    let mut table = Table::new(path, specs, sources, header, limits.values);
    if !has_header {
        table.push(&first, first_line)?;
    }
    while let Some(line) = next_record(path, &mut reader, &mut record)? {
        if !is_blank(&record) {
            table.push(&record, line)?;
        }
    }
    if table.rows == 0 {
        return Err(DataError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(Dataset {
        path: path.to_owned(),
        rows: table.rows,
        columns: table.columns,
        ignored,
    })
}

/// Reads the next record into `record` and returns its line; `None` at the end.
fn next_record<R: Read>(
    path: &Path,
    reader: &mut csv::Reader<Lines<R>>,
    record: &mut csv::StringRecord,
) -> Result<Option<u64>, DataError> {
    let read = reader.read_record(record);
    let mut line_of = |position: Option<&csv::Position>| match position {
        Some(p) => reader.get_mut().line_at(p.byte()),
        None => 0,
    };
    let e = match read {
        Ok(true) => return Ok(Some(line_of(record.position()))),
        Ok(false) => return Ok(None),
        Err(e) => e,
    };
    let line = line_of(e.position());
    Err(csv_error(path, e, line))
}

/// A `csv` error as a data error at `line`.
fn csv_error(path: &Path, e: csv::Error, line: u64) -> DataError {
    let message = e.to_string();
    let message = match e.into_kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields, but earlier lines have {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8 text".to_string(),
        csv::ErrorKind::Io(source) => {
            return match source.get_ref().and_then(|e| e.downcast_ref::<LongLine>()) {
                Some(long) => DataError::LineTooLong {
                    path: path.to_owned(),
                    line: long.line,
                    limit: long.limit,
                },
                None => DataError::Io {
                    path: path.to_owned(),
                    source,
                },
            };
        }
        _ => message,
    };
    DataError::Malformed {
        path: path.to_owned(),
        line,
        message,
    }
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.len() == 1 && record[0].is_empty()
}

/// The columns being filled, one record at a time.
struct Table<'a> {
    path: &'a Path,
    specs: &'a [ColumnSpec],
    /// For every spec, the record fields it reads, in element order.
    sources: Vec<Vec<usize>>,
    header: Option<csv::StringRecord>,
    /// For every spec bounded by another column, that column's index in `specs`.
    totals: Vec<Option<usize>>,
    /// Values per row, over all specs.
    width: usize,
    /// The most values the table may hold.
    limit: usize,
    rows: usize,
    columns: Vec<Column>,
}

impl<'a> Table<'a> {
    fn new(
        path: &'a Path,
        specs: &'a [ColumnSpec],
        sources: Vec<Vec<usize>>,
        header: Option<csv::StringRecord>,
        limit: usize,
    ) -> Table<'a> {
        let totals = specs
            .iter()
            .map(|spec| match &spec.bound {
                Some(Bound::AtMostColumn(name)) => {
                    let total = specs
                        .iter()
                        .position(|s| &s.name == name)
                        .expect("internal: a bounding column is a data declaration");
                    let w = specs[total].width();
                    assert!(
                        w == 1 || w == spec.width(),
                        "internal: a bounding column is a scalar or as wide as the count"
                    );
                    Some(total)
                }
                _ => None,
            })
            .collect();
        Table {
            path,
            specs,
            sources,
            header,
            totals,
            width: specs.iter().map(ColumnSpec::width).sum(),
            limit,
            rows: 0,
            columns: specs
                .iter()
                .map(|spec| Column {
                    spec: spec.clone(),
                    values: Vec::new(),
                })
                .collect(),
        }
    }

    /// Checks one data record and appends its values.
    fn push(&mut self, record: &csv::StringRecord, line: u64) -> Result<(), DataError> {
        if (self.rows + 1).saturating_mul(self.width) > self.limit {
            return Err(DataError::TooLarge {
                path: self.path.to_owned(),
                line,
                width: self.width,
                max_rows: self.limit / self.width.max(1),
                limit: self.limit,
            });
        }
        for (s, spec) in self.specs.iter().enumerate() {
            for (j, &field) in self.sources[s].iter().enumerate() {
                let text = &record[field];
                let value = check_value(text, spec.elem)
                    .and_then(|v| check_bound(v, j, spec.bound.as_ref()))
                    .map_err(|problem| self.bad(record, line, s, field, problem))?;
                self.columns[s].values.push(value);
            }
        }
        for (s, total) in self.totals.iter().enumerate() {
            let Some(t) = *total else { continue };
            let count = self.columns[s].row(self.rows);
            let totals = self.columns[t].row(self.rows);
            let over = (0..count.len()).find(|&j| count[j] > totals[j % totals.len()]);
            if let Some(j) = over {
                let total_field = self.sources[t][j % totals.len()];
                let problem = Problem::AboveTotalColumn {
                    total: shown(&record[total_field]),
                    name: self.column_name(t, total_field),
                    column: total_field + 1,
                };
                return Err(self.bad(record, line, s, self.sources[s][j], problem));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The name a field goes by in messages: its header, or its declaration's name.
    fn column_name(&self, spec: usize, field: usize) -> String {
        match &self.header {
            Some(h) => shown(&h[field]),
            None => self.specs[spec].name.clone(),
        }
    }

    fn bad(
        &self,
        record: &csv::StringRecord,
        line: u64,
        spec: usize,
        field: usize,
        problem: Problem,
    ) -> DataError {
        DataError::BadValue {
            path: self.path.to_owned(),
            line,
            column: field + 1,
            name: self.column_name(spec, field),
            value: shown(&record[field]),
            problem: Box::new(problem),
        }
    }
}

/// A cell or header name as messages show it: control characters (a NUL, a stray
/// `\r`) escaped, and a long cell cut after 40 characters.
fn shown(text: &str) -> String {
    const LONGEST: usize = 40;
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == LONGEST {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Watches the bytes the CSV parser reads. It refuses a line longer than its limit
/// ([`MAX_LINE_BYTES`]), so that input without line ends is refused instead of buffered
/// until memory runs out; and it numbers lines as the file has them, which the `csv`
/// crate's positions do not do across the blank lines it skips.
struct Lines<R> {
    inner: R,
    limit: usize,
    /// Bytes read so far.
    offset: u64,
    /// Bytes since the last line end.
    current: usize,
    /// `\n`s read so far, for a long line's message.
    newlines: u64,
    /// The line ends (`\n` or `\r`) at or after the last record start asked about, each
    /// with its offset and whether it is a `\n`. The parser reads at most a buffer
    /// ahead, so this stays small.
    ends: VecDeque<(u64, bool)>,
    /// `\n`s before the first of `ends`.
    newlines_before: u64,
    /// The length of a UTF-8 byte-order mark at the start, which the parser skips.
    bom: u64,
}

impl<R> Lines<R> {
    fn new(inner: R, limit: usize) -> Lines<R> {
        Lines {
            inner,
            limit,
            offset: 0,
            current: 0,
            newlines: 0,
            ends: VecDeque::new(),
            newlines_before: 0,
            bom: 0,
        }
    }

    /// The line of the record the parser started reading at byte `start` (its
    /// position), past the blank lines the parser skipped there. Calls come in file
    /// order; line ends before `start` are forgotten.
    fn line_at(&mut self, start: u64) -> u64 {
        let start = start.max(self.bom);
        while let Some(&(offset, newline)) = self.ends.front() {
            if offset >= start {
                break;
            }
            self.newlines_before += u64::from(newline);
            self.ends.pop_front();
        }
        // The blank lines skipped: line ends one after the other from `start` on.
        let skipped = (start..)
            .zip(&self.ends)
            .take_while(|(at, (offset, _))| at == offset)
            .filter(|(_, (_, newline))| *newline)
            .count();
        self.newlines_before + 1 + skipped as u64
    }
}

/// The error [`Lines`] reads fail with.
#[derive(Debug)]
struct LongLine {
    line: u64,
    limit: usize,
}

impl fmt::Display for LongLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} is too long", self.line)
    }
}

impl std::error::Error for LongLine {}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.offset == 0 && buf[..n].starts_with(b"\xef\xbb\xbf") {
            self.bom = 3;
        }
        for (i, &byte) in buf[..n].iter().enumerate() {
            if byte == b'\n' || byte == b'\r' {
                self.ends.push_back((self.offset + i as u64, byte == b'\n'));
                self.newlines += u64::from(byte == b'\n');
                self.current = 0;
            } else {
                self.current += 1;
                if self.current > self.limit {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        LongLine {
                            line: self.newlines + 1,
                            limit: self.limit,
                        },
                    ));
                }
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// For every spec, the header fields it reads; and the header names nobody reads.
fn match_header(
    path: &Path,
    header: &csv::StringRecord,
    specs: &[ColumnSpec],
) -> Result<(Vec<Vec<usize>>, Vec<String>), DataError> {
    let names: Vec<&str> = header.iter().collect();
    // The first field of each name, looked up in constant time: a vector of a million
    // elements against a header of a million names must not take 10^12 comparisons.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        index.entry(*name).or_insert(i);
    }
    let find = |name: &str| index.get(name).copied();
    let mut used = vec![false; names.len()];
    let mut sources = Vec::with_capacity(specs.len());
    for spec in specs {
        let fields = match spec.size {
            None => find(&spec.name).map(|i| vec![i]),
            Some(n) => vector_fields(&spec.name, n, &find),
        };
        let Some(fields) = fields else {
            return Err(DataError::MissingColumn {
                path: path.to_owned(),
                name: spec.name.clone(),
                hint: missing_hint(spec, &names),
            });
        };
        for &f in &fields {
            used[f] = true;
        }
        sources.push(fields);
    }
    let ignored = names
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(n, _)| n.to_string())
        .collect();
    Ok((sources, ignored))
}

/// The fields of a vector `name` of size `n`, under the first naming scheme that
/// matches every element: `x0`, `x_0`, `x.0`, `x[0]`, 0-based, then 1-based.
fn vector_fields(name: &str, n: usize, find: &dyn Fn(&str) -> Option<usize>) -> Option<Vec<usize>> {
    let schemes: [fn(&str, usize) -> String; 4] = [
        |s, i| format!("{s}{i}"),
        |s, i| format!("{s}_{i}"),
        |s, i| format!("{s}.{i}"),
        |s, i| format!("{s}[{i}]"),
    ];
    for base in [0, 1] {
        for scheme in schemes {
            if let Some(fields) = (base..base + n).map(|i| find(&scheme(name, i))).collect() {
                return Some(fields);
            }
        }
    }
    None
}

fn missing_hint(spec: &ColumnSpec, names: &[&str]) -> String {
    let wanted = match spec.size {
        None => format!("`{}`", spec.name),
        Some(n) => format!("`{0}0` .. `{0}{1}`", spec.name, n - 1),
    };
    let listed: Vec<String> = names.iter().take(12).map(|n| shown(n)).collect();
    let more = if names.len() > listed.len() {
        ", ..."
    } else {
        ""
    };
    format!(
        " (expected {wanted}; the header has: {}{more})",
        listed.join(", ")
    )
}

/// Parses one cell and checks it against its element type, as the `f32` it becomes:
/// a value `f32` cannot hold (beyond 3.4e38, a count above 2^24 - 1, a `positive` or
/// `unit` below the smallest normal `f32`, a `unit` that rounds to 1) is refused rather
/// than turned into an infinity, a zero or a boundary that training then trips on. A
/// `real` that underflows is kept as the tiny or zero `f32` it becomes: 0 is a real,
/// and the change is below 1.2e-38 in absolute terms.
fn check_value(text: &str, elem: Elem) -> Result<f32, Problem> {
    let expected = match elem {
        Elem::Real => "a finite number",
        Elem::Bool => "a bool (0 or 1)",
        Elem::Int => "a whole number >= 0",
        Elem::Positive => "a positive number (> 0)",
        Elem::Unit => "a number strictly between 0 and 1",
    };
    let not_a = Problem::NotA(expected);
    let value: f64 = text.parse().map_err(|_| not_a.clone())?;
    // `inf` and `nan` are spelled without digits; `1e999` overflowed the parse.
    if value.is_nan() || (value.is_infinite() && !text.bytes().any(|b| b.is_ascii_digit())) {
        return Err(not_a);
    }
    let narrow = value as f32;
    if !transform::contains(elem, value) {
        // Tell a value of the type that 32-bit floats cannot hold from one of another type.
        let whole = value >= 0.0 && (value.is_infinite() || value.fract() == 0.0);
        return Err(match elem {
            Elem::Int if whole && value > MAX_COUNT => Problem::CountTooLarge,
            Elem::Real if value.is_infinite() => Problem::TooLarge,
            Elem::Positive if value.is_infinite() && value > 0.0 => Problem::TooLarge,
            _ => not_a,
        });
    }
    match elem {
        Elem::Real | Elem::Positive if !narrow.is_finite() => Err(Problem::TooLarge),
        Elem::Positive | Elem::Unit if !narrow.is_normal() => Err(Problem::TooSmall(elem)),
        Elem::Unit if narrow >= 1.0 => Err(Problem::RoundsToOne),
        _ => Ok(narrow),
    }
}

/// Checks a value of the right type against its family's range.
fn check_bound(value: f32, element: usize, bound: Option<&Bound>) -> Result<f32, Problem> {
    match bound {
        Some(&Bound::Below(classes)) if value >= classes as f32 => {
            Err(Problem::ClassOutOfRange { classes })
        }
        Some(&Bound::AtMost(total)) if f64::from(value) > total as f64 => {
            Err(Problem::AboveTotal { total })
        }
        Some(Bound::AtMostEach(totals)) => match totals.get(element) {
            Some(&total) if f64::from(value) > total as f64 => Err(Problem::AboveTotal { total }),
            _ => Ok(value),
        },
        _ => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, elem: Elem, size: Option<usize>) -> ColumnSpec {
        ColumnSpec {
            name: name.to_string(),
            elem,
            size,
            bound: None,
        }
    }

    fn read(text: &str, specs: &[ColumnSpec]) -> Result<Dataset, DataError> {
        parse(Path::new("t.csv"), text.as_bytes(), specs)
    }

    #[test]
    fn reads_scalars_and_vectors_by_name() {
        let specs = [spec("x", Elem::Real, Some(2)), spec("y", Elem::Bool, None)];
        let d = read("y,x1,x0,other\n1,0.5,-2,9\n0,3,4,9\n", &specs).unwrap();
        assert_eq!(d.rows, 2);
        assert_eq!(d.columns[0].values, vec![-2.0, 0.5, 4.0, 3.0]);
        assert_eq!(d.columns[1].values, vec![1.0, 0.0]);
        assert_eq!(d.ignored, vec!["other".to_string()]);
    }

    #[test]
    fn accepts_every_vector_naming_scheme() {
        let specs = [spec("x", Elem::Real, Some(2))];
        for header in ["x_0,x_1", "x.0,x.1", "x[0],x[1]", "x1,x2", "x_1,x_2"] {
            let d = read(&format!("{header}\n1,2\n"), &specs).unwrap();
            assert_eq!(d.columns[0].values, vec![1.0, 2.0], "{header}");
        }
    }

    #[test]
    fn reads_a_headerless_file_by_position() {
        let specs = [spec("y", Elem::Real, None), spec("s", Elem::Positive, None)];
        let d = read("28,15\n8,10\n", &specs).unwrap();
        assert_eq!(d.rows, 2);
        assert_eq!(d.columns[1].values, vec![15.0, 10.0]);
        let err = read("28,15,3\n", &specs).unwrap_err();
        assert!(matches!(
            err,
            DataError::WrongColumnCount {
                expected: 2,
                found: 3,
                ..
            }
        ));
    }

    #[test]
    fn bad_values_name_line_column_and_value() {
        let specs = [spec("x", Elem::Bool, Some(2))];
        let err = read("x0,x1\n0,1\n1,2\n", &specs).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv:3:2: `2` in column `x1` is not a bool (0 or 1)"
        );
        let ints = [spec("k", Elem::Int, None)];
        assert!(read("k\n1.0\n3\n", &ints).is_ok());
        let err = read("k\n1.5\n", &ints).unwrap_err();
        assert!(err.to_string().starts_with("t.csv:2:1: `1.5`"), "{err}");
        let pos = [spec("s", Elem::Positive, None)];
        assert!(read("s\n0\n", &pos).is_err());
        assert!(read("s\nNaN\n", &pos).is_err());
        let err = read("s\n\n1\n \n", &pos);
        assert!(err.is_ok(), "blank lines are skipped: {err:?}");
        let err = read("s,t\n1,\n", &[spec("t", Elem::Real, None)]).unwrap_err();
        assert!(err.to_string().contains("`` in column `t`"), "{err}");
    }

    #[test]
    fn missing_columns_and_ragged_rows_are_errors() {
        let specs = [spec("x", Elem::Real, Some(3))];
        let err = read("x0,x1,y\n1,2,3\n", &specs).unwrap_err();
        assert!(err.to_string().contains("no column for `x`"), "{err}");
        let err = read("x0,x1,x2\n1,2,3\n1,2\n", &specs).unwrap_err();
        assert!(
            err.to_string().starts_with("t.csv:3: has 2 fields"),
            "{err}"
        );
        assert!(matches!(read("", &specs), Err(DataError::Empty { .. })));
        assert!(matches!(
            read("x0,x1,x2\n", &specs),
            Err(DataError::Empty { .. })
        ));
    }

    fn bounded(name: &str, elem: Elem, size: Option<usize>, bound: Bound) -> ColumnSpec {
        ColumnSpec {
            bound: Some(bound),
            ..spec(name, elem, size)
        }
    }

    fn message(text: &str, specs: &[ColumnSpec]) -> String {
        read(text, specs).unwrap_err().to_string()
    }

    #[test]
    fn classes_must_be_below_the_number_of_logits() {
        let specs = [
            spec("x", Elem::Real, Some(2)),
            bounded("y", Elem::Int, None, Bound::Below(3)),
        ];
        let d = read("x0,x1,y\n0,1,0\n0,1,2\n", &specs).unwrap();
        assert_eq!(d.columns[1].values, vec![0.0, 2.0]);
        assert_eq!(
            message("x0,x1,y\n0,1,2\n0.5,1,5\n", &specs),
            "t.csv:3:3: `5` in column `y` is a class outside 0..2 (the logits have 3 entries, and classes are numbered from 0)"
        );
        // Without a header the column is named after its declaration.
        assert_eq!(
            message("0,1,3\n", &specs),
            "t.csv:1:3: `3` in column `y` is a class outside 0..2 (the logits have 3 entries, and classes are numbered from 0)"
        );
        // The type is checked first: a negative class is not an `int` at all.
        assert!(message("0,1,-1\n", &specs).ends_with("is not a whole number >= 0"));
    }

    #[test]
    fn counts_must_not_exceed_a_literal_total() {
        let specs = [bounded("k", Elem::Int, Some(2), Bound::AtMost(10))];
        assert!(read("k0,k1\n10,0\n3,7\n", &specs).is_ok());
        assert_eq!(
            message("k0,k1\n10,0\n3,11\n", &specs),
            "t.csv:3:2: `11` in column `k1` is a count above its total count 10"
        );
    }

    #[test]
    fn counts_must_not_exceed_the_total_column_of_their_line() {
        let specs = [
            bounded("k", Elem::Int, None, Bound::AtMostColumn("n".into())),
            spec("n", Elem::Int, None),
        ];
        // The total may come later in the file than the count it bounds.
        let d = read("n,k\n5,5\n9,0\n", &specs).unwrap();
        assert_eq!(d.columns[0].values, vec![5.0, 0.0]);
        assert_eq!(
            message("n,k\n5,5\n3,4\n", &specs),
            "t.csv:3:2: `4` in column `k` is a count above its total count `3` (column `n`, column 1 of the same line)"
        );
        // A vector total bounds element by element; a scalar total bounds every element.
        let vector = [
            bounded("k", Elem::Int, Some(2), Bound::AtMostColumn("n".into())),
            spec("n", Elem::Int, Some(2)),
        ];
        assert!(read("k0,k1,n0,n1\n1,4,1,4\n", &vector).is_ok());
        assert_eq!(
            message("k0,k1,n0,n1\n1,4,2,3\n", &vector),
            "t.csv:2:2: `4` in column `k1` is a count above its total count `3` (column `n1`, column 4 of the same line)"
        );
        let scalar = [
            bounded("k", Elem::Int, Some(2), Bound::AtMostColumn("n".into())),
            spec("n", Elem::Int, None),
        ];
        assert!(read("2,3,3\n", &scalar).is_ok());
        assert_eq!(
            message("2,3,3\n4,1,3\n", &scalar),
            "t.csv:2:1: `4` in column `k` is a count above its total count `3` (column `n`, column 3 of the same line)"
        );
    }

    #[test]
    fn values_are_checked_as_the_f32_they_become() {
        let one = |elem: Elem, text: &str| check_value(text, elem);
        assert_eq!(one(Elem::Real, "1e39"), Err(Problem::TooLarge));
        assert_eq!(one(Elem::Real, "-1e39"), Err(Problem::TooLarge));
        assert_eq!(one(Elem::Real, "1e999"), Err(Problem::TooLarge));
        assert_eq!(one(Elem::Positive, "1e39"), Err(Problem::TooLarge));
        assert_eq!(one(Elem::Real, "3.4e38"), Ok(3.4e38));
        // A real that underflows is kept as the zero it becomes.
        assert_eq!(one(Elem::Real, "1e-46"), Ok(0.0));
        assert_eq!(one(Elem::Real, "-1e-46"), Ok(-0.0));
        assert_eq!(
            one(Elem::Positive, "1e-46"),
            Err(Problem::TooSmall(Elem::Positive))
        );
        // Subnormal: stored as 9.99995e-41, most digits lost.
        assert_eq!(
            one(Elem::Positive, "1e-40"),
            Err(Problem::TooSmall(Elem::Positive))
        );
        assert_eq!(one(Elem::Positive, "1.2e-38"), Ok(1.2e-38));
        assert_eq!(one(Elem::Unit, "1e-46"), Err(Problem::TooSmall(Elem::Unit)));
        assert_eq!(one(Elem::Unit, "0.99999999"), Err(Problem::RoundsToOne));
        assert_eq!(one(Elem::Unit, "0.9999999"), Ok(0.9999999));
        assert_eq!(
            one(Elem::Unit, "1e39"),
            Err(Problem::NotA("a number strictly between 0 and 1"))
        );
        assert_eq!(
            one(Elem::Positive, "-1e39"),
            Err(Problem::NotA("a positive number (> 0)"))
        );
        assert_eq!(one(Elem::Int, "16777215"), Ok(16_777_215.0));
        assert_eq!(one(Elem::Int, "16777216"), Err(Problem::CountTooLarge));
        assert_eq!(one(Elem::Int, "1e999"), Err(Problem::CountTooLarge));
        for text in ["inf", "-inf", "+infinity", "nan", "NaN", "", "1,5", "0x10"] {
            assert!(
                matches!(one(Elem::Real, text), Err(Problem::NotA(_))),
                "{text}"
            );
        }
        let specs = [spec("s", Elem::Positive, None)];
        assert_eq!(
            message("s\n1\n1e-46\n", &specs),
            "t.csv:3:1: `1e-46` in column `s` is too close to 0 for vic's 32-bit floats, which would store it as 0 or lose its digits: a `positive` value must be at least about 1.2e-38 (rescale the column, e.g. to other units)"
        );
    }

    #[test]
    fn messages_escape_control_characters_and_shorten_long_cells() {
        let specs = [spec("y", Elem::Real, None)];
        assert_eq!(
            message("y\n1\x002\n", &specs),
            "t.csv:2:1: `1\\u{0}2` in column `y` is not a finite number"
        );
        let long = "9".repeat(30) + &"x".repeat(100);
        let err = message(&format!("y\n{long}\n"), &specs);
        assert!(err.contains(&format!("`{}...`", &long[..40])), "{err}");
    }

    #[test]
    fn a_table_past_the_value_limit_is_refused_at_its_line() {
        let specs = [spec("x", Elem::Real, Some(2))];
        let limits = Limits {
            values: 4,
            line_bytes: MAX_LINE_BYTES,
        };
        let within = super::read(Path::new("t.csv"), &b"1,2\n3,4\n"[..], &specs, limits);
        assert_eq!(within.unwrap().rows, 2);
        let err = super::read(
            Path::new("t.csv"),
            &b"1,2\n3,4\n\n5,6\n"[..],
            &specs,
            limits,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv:4: the data passes vic's limit of 4 values (0 MiB of 32-bit floats) at this line: the model reads 2 values per row, so a file may have at most 2 rows (use fewer rows, or split the file)"
        );
    }

    #[test]
    fn a_line_past_the_length_limit_is_refused() {
        let specs = [spec("y", Elem::Real, None)];
        let limits = Limits {
            values: MAX_VALUES,
            line_bytes: 8,
        };
        let read = |text: &str| super::read(Path::new("t.csv"), text.as_bytes(), &specs, limits);
        assert!(read("y\r\n12345678\r\n2\n").is_ok());
        let err = read("y\n1\n123456789\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv:3: the line is longer than 8 bytes, which is not a data table (is this the right file?)"
        );
        // An endless line is refused after the limit, not read to the end.
        let endless = std::io::repeat(b'7');
        let err = super::read(Path::new("zero"), endless, &specs, limits).unwrap_err();
        assert!(
            matches!(err, DataError::LineTooLong { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_repeated_header_name_reads_its_first_column() {
        let specs = [spec("y", Elem::Real, None)];
        let d = read("y,y\n1,2\n", &specs).unwrap();
        assert_eq!(d.columns[0].values, vec![1.0]);
        assert_eq!(d.ignored, vec!["y".to_string()]);
    }

    #[test]
    fn lines_are_numbered_as_in_the_file() {
        let specs = [spec("y", Elem::Real, None)];
        let line = |text: &str| match read(text, &specs) {
            Err(DataError::BadValue { line, .. }) => line,
            other => panic!("{text:?}: {other:?}"),
        };
        assert_eq!(line("y\n1\nbad\n"), 3);
        // Blank lines, which the csv crate skips without counting.
        assert_eq!(line("y\n1\n\nbad\n"), 4);
        assert_eq!(line("\n\ny\n\n1\n\n\n\nbad"), 9);
        assert_eq!(line("y\r\n1\r\n\r\n\r\nbad\r\n"), 5);
        assert_eq!(line("\u{feff}y\n\n1\nbad\n"), 4);
        assert_eq!(line("\u{feff}\n\ny\nbad\n"), 4);
        // A quoted field may hold a line end; the next record starts after it.
        let quoted = [spec("y", Elem::Real, None), spec("note", Elem::Real, None)];
        let err = read("y,note\n1,\"a\nb\"\n", &quoted).unwrap_err();
        assert!(err.to_string().starts_with("t.csv:2:2: `a\\nb`"), "{err}");
        let err = read("y,note\n\"1\n\",2\n\nx,3\n", &quoted).unwrap_err();
        assert!(err.to_string().starts_with("t.csv:5:1: `x`"), "{err}");
        let err = read("y\n1\n\n1,2\n", &specs).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv:4: has 2 fields, but earlier lines have 1"
        );
    }
}
