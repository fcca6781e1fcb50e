//! Reading a data table (SPEC section 2): a CSV file whose rows are the model's rows.
//!
//! Each `data` declaration becomes one [`Column`] group of `width` floats per row. A
//! file with a header is matched by name (`y`; `x0..x{n-1}`, also `x_0`, `x.0`, `x[0]`,
//! or 1-based when there is no `x0`); a file whose first line is all numbers is read by
//! position. Every value is checked against its declared type, and a bad one is
//! reported with the file, line, column and value. This module reads files and returns
//! values; it never prints.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::dist::{Elem, transform};

/// What the model expects of one `data` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub elem: Elem,
    /// `None` for a scalar (`data y: real`), `Some(n)` for a vector (`data x: real[n]`).
    pub size: Option<usize>,
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
    #[error("{path}:{line}:{column}: `{value}` in column `{name}` is not {expected}")]
    BadValue {
        path: PathBuf,
        line: u64,
        column: usize,
        name: String,
        value: String,
        expected: &'static str,
    },
}

/// Reads `path` and matches it to `specs`.
pub fn load(path: &Path, specs: &[ColumnSpec]) -> Result<Dataset, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &bytes, specs)
}

/// Matches CSV text (from `path`, named in errors) to `specs`.
pub fn parse(path: &Path, bytes: &[u8], specs: &[ColumnSpec]) -> Result<Dataset, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let malformed = |e: csv::Error| {
        let line = e.position().map(|p| p.line()).unwrap_or(0);
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("has {len} fields, but earlier lines have {expected_len}"),
            csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8 text".to_string(),
            _ => e.to_string(),
        };
        DataError::Malformed {
            path: path.to_owned(),
            line,
            message,
        }
    };
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(malformed)?;
        if record.len() == 1 && record[0].is_empty() {
            continue; // a blank line
        }
        records.push(record);
    }
    let Some(first) = records.first() else {
        return Err(DataError::Empty {
            path: path.to_owned(),
        });
    };
    let has_header = !first.iter().all(|f| f.parse::<f64>().is_ok());
    let (sources, ignored) = if has_header {
        match_header(path, first, specs)?
    } else {
        let expected: usize = specs.iter().map(ColumnSpec::width).sum();
        if first.len() != expected {
            return Err(DataError::WrongColumnCount {
                path: path.to_owned(),
                line: line_of(first),
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
    let body = if has_header {
        &records[1..]
    } else {
        &records[..]
    };
    if body.is_empty() {
        return Err(DataError::Empty {
            path: path.to_owned(),
        });
    }
    let header: Option<&csv::StringRecord> = has_header.then_some(first);
    let mut columns = Vec::with_capacity(specs.len());
    for (spec, fields) in specs.iter().zip(&sources) {
        let mut values = Vec::with_capacity(body.len() * fields.len());
        for record in body {
            for &field in fields {
                let text = &record[field];
                let name = match header {
                    Some(h) => h[field].to_string(),
                    None => spec.name.clone(),
                };
                let value =
                    check_value(text, spec.elem).map_err(|expected| DataError::BadValue {
                        path: path.to_owned(),
                        line: line_of(record),
                        column: field + 1,
                        name,
                        value: text.to_string(),
                        expected,
                    })?;
                values.push(value);
            }
        }
        columns.push(Column {
            spec: spec.clone(),
            values,
        });
    }
    Ok(Dataset {
        path: path.to_owned(),
        rows: body.len(),
        columns,
        ignored,
    })
}

fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map(|p| p.line()).unwrap_or(0)
}

/// For every spec, the header fields it reads; and the header names nobody reads.
fn match_header(
    path: &Path,
    header: &csv::StringRecord,
    specs: &[ColumnSpec],
) -> Result<(Vec<Vec<usize>>, Vec<String>), DataError> {
    let names: Vec<&str> = header.iter().collect();
    let find = |name: &str| names.iter().position(|n| *n == name);
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
    let shown: Vec<&str> = names.iter().copied().take(12).collect();
    let more = if names.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    format!(
        " (expected {wanted}; the header has: {}{more})",
        shown.join(", ")
    )
}

/// Parses one cell and checks it against its element type.
fn check_value(text: &str, elem: Elem) -> Result<f32, &'static str> {
    let expected = match elem {
        Elem::Real => "a finite number",
        Elem::Bool => "a bool (0 or 1)",
        Elem::Int => "a whole number >= 0",
        Elem::Positive => "a positive number (> 0)",
        Elem::Unit => "a number strictly between 0 and 1",
    };
    let value: f64 = text.parse().map_err(|_| expected)?;
    if transform::contains(elem, value) {
        Ok(value as f32)
    } else {
        Err(expected)
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
}
