//! The data reader against random files, and its errors through the real binary.
//!
//! Random tables (cells of every magnitude, `nan`, `inf`, empty and text cells, quotes
//! and padding, ragged rows, a byte-order mark, `\r\n` line ends, blank lines, stray
//! invalid UTF-8, NUL and quote bytes, with and without a header) go through the
//! library's `parse`: it never panics, every error names a line that exists, and on a
//! well-formed file it accepts exactly the tables whose every cell an independent
//! oracle accepts, with the values the oracle computes. A handful go through
//! `vic fit`, which must exit 0 or 1, print the library's error, and never crash.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use proptest::prelude::*;
use vic::dist::Elem;
use vic::infer::data::{Bound, ColumnSpec, DataError, Dataset, parse};
use vic::infer::fit::column_specs;

/// One cell as written in the file, and the field the CSV reader hands over
/// (unquoted and trimmed).
#[derive(Debug, Clone)]
struct Cell {
    raw: String,
    field: String,
}

fn cell() -> impl Strategy<Value = Cell> {
    let number = prop_oneof![
        4 => (0u32..6).prop_map(|k| k.to_string()),
        2 => (-1e3f64..1e3).prop_map(|v| v.to_string()),
        2 => (0.0f64..1.0).prop_map(|v| v.to_string()),
        2 => (1u32..10, -330i32..330).prop_map(|(m, e)| format!("{m}e{e}")),
        1 => any::<f64>().prop_map(|v| format!("{v:e}")),
    ];
    let odd = prop::sample::select(vec![
        "nan",
        "NaN",
        "inf",
        "-inf",
        "infinity",
        "",
        "abc",
        "1e-46",
        "-1e-46",
        "1e-40",
        "1e39",
        "-1e39",
        "0.99999999",
        "1e99999",
        "-0",
        "16777216",
        "1.5",
        "0x1",
        "1\u{0}",
        "1 2",
    ])
    .prop_map(str::to_string);
    let text = "[a-z0-9 .e+-]{0,6}";
    let field = prop_oneof![6 => number, 3 => odd, 1 => text];
    (field, 0u8..4).prop_map(|(f, wrap)| {
        let raw = match wrap {
            0 => format!("\"{f}\""),
            1 => format!(" {f}\t"),
            _ => f.clone(),
        };
        Cell {
            raw,
            field: f.trim().to_string(),
        }
    })
}

fn elem() -> impl Strategy<Value = Elem> {
    prop::sample::select(Elem::ALL.to_vec())
}

/// Declarations `a`, `b`, `c` with random types and sizes; integer ones may carry a
/// class bound, and with `counts` a literal or another column's total.
fn specs(counts: bool) -> impl Strategy<Value = Vec<ColumnSpec>> {
    let one = (elem(), prop::option::of(1usize..4), 0u8..4, 1u64..6);
    prop::collection::vec(one, 1..4).prop_map(move |raw| {
        let names = ["a", "b", "c"];
        let mut specs: Vec<ColumnSpec> = raw
            .iter()
            .enumerate()
            .map(|(i, &(elem, size, _, _))| ColumnSpec {
                name: names[i].to_string(),
                elem,
                size,
                bound: None,
            })
            .collect();
        for (i, &(elem, size, choice, k)) in raw.iter().enumerate() {
            if elem != Elem::Int {
                continue;
            }
            let width = size.unwrap_or(1);
            let total = (0..raw.len()).find(|&j| {
                j != i && raw[j].0 == Elem::Int && [1, width].contains(&raw[j].1.unwrap_or(1))
            });
            specs[i].bound = match (choice, size) {
                (0, None) => Some(Bound::Below(k as usize + 1)),
                (1, _) if counts => Some(Bound::AtMost(k)),
                (2, _) if counts => total.map(|j| Bound::AtMostColumn(names[j].to_string())),
                _ => None,
            };
        }
        specs
    })
}

/// How a table is written out.
#[derive(Debug, Clone)]
struct Layout {
    header: bool,
    /// A header column no declaration reads.
    extra: bool,
    reverse: bool,
    /// A column left out of the header and every row.
    drop: Option<usize>,
    bom: bool,
    crlf: bool,
    /// Blank lines before these rows (`rows.len()`: at the end).
    blanks: Vec<usize>,
    /// A row written with one cell too many or too few.
    ragged: Option<(usize, bool)>,
    /// A byte (invalid UTF-8, NUL or a stray quote) inserted at this offset.
    corrupt: Option<(usize, u8)>,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        (any::<bool>(), any::<bool>(), any::<bool>()),
        prop::option::weighted(0.1, 0usize..12),
        (any::<bool>(), any::<bool>()),
        prop::collection::vec(0usize..7, 0..3),
        prop::option::weighted(0.1, (0usize..7, any::<bool>())),
        prop::option::weighted(
            0.15,
            (
                any::<usize>(),
                prop::sample::select(vec![0xff, 0xc3, 0x00, b'"']),
            ),
        ),
    )
        .prop_map(
            |((header, extra, reverse), drop, (bom, crlf), blanks, ragged, corrupt)| Layout {
                header,
                extra: header && extra,
                reverse: header && reverse,
                drop,
                bom,
                crlf,
                blanks,
                ragged,
                corrupt,
            },
        )
}

/// Which declaration element a file column holds (`None`: an unread column).
type Slot = Option<(usize, usize)>;

/// A random table, written out, with what the oracle needs to judge the reader.
#[derive(Debug, Clone)]
struct Case {
    specs: Vec<ColumnSpec>,
    layout: Layout,
    slots: Vec<Slot>,
    rows: Vec<Vec<Cell>>,
    bytes: Vec<u8>,
}

impl Case {
    fn new(specs: Vec<ColumnSpec>, layout: Layout, pool: Vec<Vec<Draw>>) -> Case {
        let mut slots: Vec<Slot> = specs
            .iter()
            .enumerate()
            .flat_map(|(s, spec)| (0..spec.width()).map(move |j| Some((s, j))))
            .collect();
        if layout.extra {
            slots.push(None);
        }
        if layout.reverse {
            slots.reverse();
        }
        if let Some(d) = layout.drop {
            slots.remove(d % slots.len());
        }
        let rows: Vec<Vec<Cell>> = pool
            .into_iter()
            .enumerate()
            .map(|(r, draws)| {
                let mut cells: Vec<Cell> = draws
                    .into_iter()
                    .zip(slots.iter().chain(std::iter::repeat(&None)))
                    .map(|(draw, slot)| match (draw, slot) {
                        (Draw::Typical(u, k), Some((s, _))) => typical(&specs[*s], u, k),
                        (Draw::Typical(u, _), None) => plain(&u.to_string()),
                        (Draw::Any(cell), _) => cell,
                    })
                    .collect();
                let width = match layout.ragged {
                    Some((row, longer)) if row == r => {
                        if longer {
                            slots.len() + 1
                        } else {
                            slots.len().saturating_sub(1)
                        }
                    }
                    _ => slots.len(),
                };
                cells.truncate(width);
                cells
            })
            .collect();
        let end = if layout.crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        if layout.bom {
            text.push('\u{feff}');
        }
        if layout.header {
            let names: Vec<String> = slots
                .iter()
                .map(|slot| match slot {
                    Some((s, j)) => match specs[*s].size {
                        None => specs[*s].name.clone(),
                        Some(_) => format!("{}{j}", specs[*s].name),
                    },
                    None => "zz".to_string(),
                })
                .collect();
            text.push_str(&names.join(","));
            text.push_str(end);
        }
        for r in 0..=rows.len() {
            for _ in layout.blanks.iter().filter(|&&b| b.min(rows.len()) == r) {
                text.push_str(end);
            }
            if let Some(row) = rows.get(r) {
                let raw: Vec<&str> = row.iter().map(|c| c.raw.as_str()).collect();
                text.push_str(&raw.join(","));
                text.push_str(end);
            }
        }
        let mut bytes = text.into_bytes();
        if let Some((at, byte)) = layout.corrupt {
            bytes.insert(at % (bytes.len() + 1), byte);
        }
        Case {
            specs,
            layout,
            slots,
            rows,
            bytes,
        }
    }

    /// The rows the reader keeps, with their lines: a one-column row whose cell is
    /// empty is a blank line.
    fn kept(&self) -> Vec<(u64, &[Cell])> {
        let mut line = 1 + u64::from(self.layout.header);
        let mut kept = Vec::new();
        for r in 0..=self.rows.len() {
            line += self
                .layout
                .blanks
                .iter()
                .filter(|&&b| b.min(self.rows.len()) == r)
                .count() as u64;
            if let Some(row) = self.rows.get(r) {
                if !(row.len() == 1 && row[0].field.is_empty()) {
                    kept.push((line, row.as_slice()));
                }
                line += 1;
            }
        }
        kept
    }

    /// Whether the file is well formed, so that only its cells decide the outcome: no
    /// stray bytes, no ragged row or missing column, and a headerless first row that
    /// reads as numbers (else it is taken for a header).
    fn well_formed(&self) -> bool {
        let numeric_first = self
            .kept()
            .first()
            .is_none_or(|(_, row)| row.iter().all(|c| c.field.parse::<f64>().is_ok()));
        self.layout.corrupt.is_none()
            && self.layout.ragged.is_none_or(|(r, _)| r >= self.rows.len())
            && self.layout.drop.is_none()
            && !self.slots.is_empty()
            && (self.layout.header || numeric_first)
    }

    fn column_of(&self, s: usize, j: usize) -> usize {
        self.slots
            .iter()
            .position(|slot| *slot == Some((s, j)))
            .expect("a well-formed case holds every element")
    }

    /// The oracle's verdict on one kept row: its values per declaration, or the
    /// column of a refused cell.
    fn judge(&self, row: &[Cell]) -> Verdict {
        let mut values = Vec::new();
        for (s, spec) in self.specs.iter().enumerate() {
            let mut column = Vec::new();
            for j in 0..spec.width() {
                let c = self.column_of(s, j);
                column.push(cell_value(&row[c].field, spec).ok_or(c + 1)?);
            }
            values.push(column);
        }
        for (s, spec) in self.specs.iter().enumerate() {
            let Some(Bound::AtMostColumn(name)) = &spec.bound else {
                continue;
            };
            let t = self.specs.iter().position(|x| &x.name == name).unwrap();
            let totals = &values[t];
            if let Some(j) = (0..spec.width()).find(|&j| values[s][j] > totals[j % totals.len()]) {
                return Err(self.column_of(s, j) + 1);
            }
        }
        Ok(values)
    }
}

/// The values of a row per declaration, or the column of a refused cell.
type Verdict = Result<Vec<Vec<f32>>, usize>;

/// A cell's value if its type and its own bound (not another column's) accept it.
fn cell_value(field: &str, spec: &ColumnSpec) -> Option<f32> {
    oracle(field, spec.elem).filter(|&v| match &spec.bound {
        Some(Bound::Below(k)) => v < *k as f32,
        Some(Bound::AtMost(n)) => f64::from(v) <= *n as f64,
        _ => true,
    })
}

/// An independent statement of SPEC section 2's value rules, as the `f32` kept.
fn oracle(field: &str, elem: Elem) -> Option<f32> {
    let v: f64 = field.parse().ok()?;
    let f = v as f32;
    let ok = match elem {
        Elem::Real => f.is_finite(),
        Elem::Bool => v == 0.0 || v == 1.0,
        Elem::Int => v >= 0.0 && v.fract() == 0.0 && v <= 16_777_215.0,
        Elem::Positive => v > 0.0 && f.is_normal(),
        Elem::Unit => v > 0.0 && v < 1.0 && f.is_normal() && f < 1.0,
    };
    ok.then_some(f)
}

/// A cell to be: mostly a value of its column's type, so that many files are valid.
#[derive(Debug, Clone)]
enum Draw {
    Typical(f64, u64),
    Any(Cell),
}

fn draw() -> impl Strategy<Value = Draw> {
    prop_oneof![
        12 => (0.001f64..0.999, 0u64..1000).prop_map(|(u, k)| Draw::Typical(u, k)),
        1 => cell().prop_map(Draw::Any),
    ]
}

fn plain(text: &str) -> Cell {
    Cell {
        raw: text.to_string(),
        field: text.to_string(),
    }
}

/// A value of the column's type and within its literal bound, from `u` in (0, 1) and `k`.
fn typical(spec: &ColumnSpec, u: f64, k: u64) -> Cell {
    let count = match spec.bound {
        Some(Bound::Below(classes)) => k % classes as u64,
        Some(Bound::AtMost(n)) => k % (n + 1),
        _ => k % 8,
    };
    plain(&match spec.elem {
        Elem::Real => (u * 200.0 - 100.0).to_string(),
        Elem::Bool => (k % 2).to_string(),
        Elem::Int => count.to_string(),
        Elem::Positive => (u * 50.0).to_string(),
        Elem::Unit => u.to_string(),
    })
}

fn case(counts: bool) -> impl Strategy<Value = Case> {
    let pool = prop::collection::vec(prop::collection::vec(draw(), 13), 0..6);
    (specs(counts), layout(), pool).prop_map(|(s, l, p)| Case::new(s, l, p))
}

/// What every outcome must satisfy, whatever the file.
fn check_any(case: &Case, result: &Result<Dataset, DataError>) -> Result<(), TestCaseError> {
    let lines = case.bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    match result {
        Ok(d) => {
            prop_assert!(d.rows >= 1);
            for (column, spec) in d.columns.iter().zip(&case.specs) {
                prop_assert_eq!(column.values.len(), d.rows * spec.width());
                for &v in &column.values {
                    prop_assert!(
                        oracle(&v.to_string(), spec.elem).is_some(),
                        "{v} as {}",
                        spec.elem
                    );
                    if let Some(Bound::Below(k)) = spec.bound {
                        prop_assert!(v < k as f32);
                    }
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(!message.is_empty());
            prop_assert!(!message.chars().any(char::is_control), "{message:?}");
            let line = match e {
                DataError::Malformed { line, .. }
                | DataError::WrongColumnCount { line, .. }
                | DataError::BadValue { line, .. }
                | DataError::TooLarge { line, .. }
                | DataError::LineTooLong { line, .. } => Some(*line),
                _ => None,
            };
            if let Some(line) = line {
                prop_assert!(
                    (1..=lines).contains(&line),
                    "line {line} of {lines}: {message}"
                );
                prop_assert!(message.starts_with(&format!("t.csv:{line}:")), "{message}");
            }
        }
    }
    Ok(())
}

/// On a well-formed file, the outcome the oracle predicts.
fn check_well_formed(
    case: &Case,
    result: &Result<Dataset, DataError>,
) -> Result<(), TestCaseError> {
    let kept = case.kept();
    let verdicts: Vec<(u64, Verdict)> = kept
        .iter()
        .map(|(line, row)| (*line, case.judge(row)))
        .collect();
    match result {
        Ok(d) => {
            prop_assert_eq!(d.rows, kept.len());
            for (r, (_, verdict)) in verdicts.iter().enumerate() {
                let Ok(values) = verdict else {
                    return Err(TestCaseError::fail(format!(
                        "accepted a refused row {r}: {verdict:?}"
                    )));
                };
                for (column, expected) in d.columns.iter().zip(values) {
                    prop_assert_eq!(column.row(r), expected.as_slice());
                }
            }
        }
        Err(DataError::Empty { .. }) => prop_assert!(kept.is_empty()),
        Err(DataError::BadValue { line, column, .. }) => {
            let verdict = verdicts.iter().find(|(l, _)| l == line);
            prop_assert!(verdict.is_some(), "no row on line {line}");
            let refused = verdict.and_then(|(_, v)| v.as_ref().err());
            prop_assert!(refused.is_some(), "refused an accepted row: {result:?}");
            // The reported cell is one the oracle refuses (not necessarily its first).
            let row = kept.iter().find(|(l, _)| l == line).unwrap().1;
            let slot = case.slots[column - 1];
            prop_assert!(slot.is_some(), "reported an unread column");
            let (s, j) = slot.unwrap();
            let spec = &case.specs[s];
            let field = &row[column - 1].field;
            let above_total = matches!(spec.bound, Some(Bound::AtMostColumn(_)));
            prop_assert!(
                cell_value(field, spec).is_none() || above_total,
                "cell {}.{} = {:?} is fine",
                s,
                j,
                field
            );
        }
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "unexpected error on a well-formed file: {e}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_reader_never_panics_and_agrees_with_the_oracle(case in case(true)) {
        let result = parse(Path::new("t.csv"), &case.bytes, &case.specs);
        check_any(&case, &result)?;
        if case.well_formed() {
            check_well_formed(&case, &result)?;
        }
    }
}

/// A model whose data declarations are `specs`, each observed by a family of its type.
fn model_for(specs: &[ColumnSpec]) -> String {
    let mut text = String::new();
    for spec in specs {
        let ty = match spec.size {
            None => spec.elem.keyword().to_string(),
            Some(n) => format!("{}[{n}]", spec.elem),
        };
        text.push_str(&format!("data {}: {ty}\n", spec.name));
    }
    for spec in specs {
        let dist = match (spec.elem, &spec.bound) {
            (Elem::Int, Some(Bound::Below(k))) => {
                let logits: Vec<String> = (0..*k).map(|i| format!("0.{i}")).collect();
                format!("Categorical(logits = [{}])", logits.join(", "))
            }
            (Elem::Int, _) => "Poisson(3.0)".to_string(),
            (Elem::Bool, _) => "Bernoulli(0.5)".to_string(),
            (Elem::Positive, _) => "Exponential(1.0)".to_string(),
            (Elem::Unit, _) => "Beta(2.0, 2.0)".to_string(),
            (Elem::Real, _) => "Normal(0.0, 1.0)".to_string(),
        };
        text.push_str(&format!("{} ~ {dist}\n", spec.name));
    }
    text
}

fn vic(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vic"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run vic")
}

fn fit(model: &str, data: &[u8]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.vi"), model).unwrap();
    std::fs::write(dir.path().join("data.csv"), data).unwrap();
    let output = vic(
        &["fit", "model.vi", "--data", "data.csv", "--epochs", "1"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn the_binary_reports_the_readers_error_and_never_crashes(case in case(false)) {
        let model = model_for(&case.specs);
        let loaded = vic::source::analyze("model.vi", model.clone()).unwrap();
        prop_assert_eq!(&column_specs(&loaded), &case.specs);
        let result = parse(Path::new("data.csv"), &case.bytes, &case.specs);
        let (output, stderr) = fit(&model, &case.bytes);
        let code = output.status.code();
        prop_assert!(matches!(code, Some(0 | 1)), "status {:?}: {}", output.status, stderr);
        if let Err(e) = result {
            prop_assert_eq!(code, Some(1));
            prop_assert!(stderr.contains(&format!("error: {e}")), "{e}\nnot in: {stderr}");
        } else if code == Some(1) {
            prop_assert!(stderr.contains("error:"), "{stderr}");
        }
    }
}

/// Asserts `vic fit` on `data` exits 1 with `message` on stderr.
fn assert_data_error(model: &str, data: &str, message: &str) {
    let (output, stderr) = fit(model, data.as_bytes());
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(message),
        "expected `{message}` in: {stderr}"
    );
}

const CATEGORICAL: &str =
    "data x: real[2]\ndata y: int\ny ~ Categorical(logits = [0.1 * x[0], 0.2, 0.3 + x[1]])\n";

#[test]
fn a_class_outside_the_logits_is_a_data_error() {
    assert_data_error(
        CATEGORICAL,
        "x0,x1,y\n0.5,1,2\n0.1,0.2,5\n",
        "error: data.csv:3:3: `5` in column `y` is a class outside 0..2 (the logits have 3 entries, and classes are numbered from 0)",
    );
    let (output, stderr) = fit(CATEGORICAL, b"x0,x1,y\n0.5,1,2\n0.1,0.2,0\n");
    assert!(output.status.success(), "{stderr}");
}

#[test]
fn a_binomial_count_above_its_total_is_a_data_error() {
    let literal = "data x: real\ndata k: int\nk ~ Binomial(10, logits = x)\n";
    assert_data_error(
        literal,
        "x,k\n0.5,3\n0.1,11\n",
        "error: data.csv:3:2: `11` in column `k` is a count above its total count 10",
    );
    let column = "data n: int\ndata k: int\nk ~ Binomial(n, 0.3)\n";
    assert_data_error(
        column,
        "n,k\n5,3\n4,7\n",
        "error: data.csv:3:2: `7` in column `k` is a count above its total count `4` (column `n`, column 1 of the same line)",
    );
    let each = "data x: real\ndata k: int[2]\nk ~ Binomial([3, 5], logits = x)\n";
    assert_data_error(
        each,
        "x,k0,k1\n0.5,3,5\n0.1,2,6\n",
        "error: data.csv:3:3: `6` in column `k1` is a count above its total count 5",
    );
    let (output, stderr) = fit(column, b"n,k\n5,3\n4,4\n");
    assert!(output.status.success(), "{stderr}");
}

#[test]
fn values_beyond_f32_are_data_errors() {
    let real = "data x: real\nx ~ Normal(0, 1)\n";
    let too_large = "is too large for vic's 32-bit floats, whose largest magnitude is about 3.4e38";
    assert_data_error(
        real,
        "x\n1\n1e39\n",
        &format!("error: data.csv:3:1: `1e39` in column `x` {too_large}"),
    );
    assert_data_error(
        real,
        "x\n-1e39\n",
        &format!("error: data.csv:2:1: `-1e39` in column `x` {too_large}"),
    );
    let (output, stderr) = fit(real, b"x\n1e-46\n0.5\n");
    assert!(
        output.status.success(),
        "a real that underflows to 0 is kept: {stderr}"
    );
    let positive = "data s: positive\ns ~ Exponential(1)\n";
    assert_data_error(
        positive,
        "s\n1\n1e-46\n",
        "error: data.csv:3:1: `1e-46` in column `s` is too close to 0 for vic's 32-bit floats",
    );
    let unit = "data u: unit\nu ~ Beta(2, 2)\n";
    assert_data_error(
        unit,
        "u\n0.5\n0.99999999\n",
        "error: data.csv:3:1: `0.99999999` in column `u` is so close to 1 that vic's 32-bit floats would store it as 1",
    );
    assert_data_error(
        unit,
        "u\n1e-46\n",
        "error: data.csv:2:1: `1e-46` in column `u` is too close to 0",
    );
}

#[test]
fn a_file_without_line_ends_is_refused_before_it_fills_memory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("model.vi"),
        "data x: real\nx ~ Normal(0, 1)\n",
    )
    .unwrap();
    let output = vic(
        &["fit", "model.vi", "--data", "/dev/zero", "--epochs", "1"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: /dev/zero:1: the line is longer than 67108864 bytes"),
        "{stderr}"
    );
}

#[test]
fn a_bom_crlf_and_blank_lines_read_like_plain_text() {
    let model = "data x: real\ndata s: positive\nx ~ Normal(0, s)\n";
    let (output, stderr) = fit(model, "\u{feff}x,s\r\n\r\n1,2\r\n\r\n3,4\r\n".as_bytes());
    assert!(output.status.success(), "{stderr}");
    assert_data_error(
        model,
        "\u{feff}x,s\r\n\r\n1,2\r\n\r\n3,-4\r\n",
        "error: data.csv:5:2: `-4` in column `s` is not a positive number (> 0)",
    );
}
