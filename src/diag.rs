//! Source positions and diagnostics: [`Span`], [`Diagnostic`] and their rendering in the
//! style of SPEC section 6 (file, line and column, the line, carets under the span).
//!
//! This module never prints: [`render`] returns a string and the CLI decides where it goes.

use std::fmt::Write as _;

/// A byte range `start..end` in a source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A message about a span of the model: what is wrong, a label printed after the
/// carets, and an optional hint printed below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub label: String,
    pub hint: Option<String>,
    /// A second place worth showing, with its own label (the first declaration of a
    /// redeclared name).
    pub note: Option<(Span, String)>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            hint: None,
            note: None,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    /// Sets the text printed after the carets.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// Sets the `= hint: ...` line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Points at a second span, printed below the first with `-` marks.
    pub fn with_note(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.note = Some((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The 1-based line and column of byte `offset`; the column counts characters, not bytes.
/// An offset past the end (or inside a character) is clamped to the nearest boundary before it.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_boundary(source, offset);
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

fn floor_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Renders one diagnostic about `source` (named `file` in the `-->` line):
///
/// ```text
/// error: `z` is used before it is declared
///   --> model.vi:4:32
///    |
///  4 | x ~ Bernoulli(logits = decoder(z))
///    |                                ^ declare `latent z: ...` above this line
/// ```
pub fn render(file: &str, source: &str, diagnostic: &Diagnostic) -> String {
    let (line, col) = line_col(source, diagnostic.span.start);
    let note_line = diagnostic
        .note
        .as_ref()
        .map_or(0, |(span, _)| line_col(source, span.start).0);
    let pad = " ".repeat(line.max(note_line).to_string().len() + 1);
    let kind = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut out = String::new();
    let _ = writeln!(out, "{kind}: {}", diagnostic.message);
    let _ = writeln!(out, "{pad}--> {file}:{line}:{col}");
    let _ = writeln!(out, "{pad} |");
    snippet(
        &mut out,
        &pad,
        source,
        diagnostic.span,
        '^',
        &diagnostic.label,
    );
    if let Some((span, label)) = &diagnostic.note {
        let _ = writeln!(out, "{pad} |");
        snippet(&mut out, &pad, source, *span, '-', label);
    }
    if let Some(hint) = &diagnostic.hint {
        let _ = writeln!(out, "{pad} = hint: {hint}");
    }
    out
}

/// The line holding `span.start`, then `mark`s under the part of the span on that line.
fn snippet(out: &mut String, pad: &str, source: &str, span: Span, mark: char, label: &str) {
    let (line, col) = line_col(source, span.start);
    let start = floor_boundary(source, span.start);
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let text = &source[line_start..line_end];
    let end = floor_boundary(source, span.end.max(start).min(line_end));
    let marks = source[start..end].chars().count().max(1);
    let number = format!("{line:>width$}", width = pad.len() - 1);
    let _ = writeln!(out, " {number} | {}", visible(text).trim_end());
    let marker = format!("{}{}", " ".repeat(col - 1), mark.to_string().repeat(marks));
    if label.is_empty() {
        let _ = writeln!(out, "{pad} | {marker}");
    } else {
        let _ = writeln!(out, "{pad} | {marker} {label}");
    }
}

/// Control characters would garble the terminal; tabs become one space so carets line up.
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Renders every diagnostic, separated by blank lines.
pub fn render_all(file: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| render(file, source, d))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The closest of `candidates` to `word` by edit distance, if it is close enough to be
/// a plausible typo: used for "did you mean ...?" hints.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = "data x: real\nlatent z: real ~ Normal(0, 1)\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 5), (1, 6));
        assert_eq!(line_col(src, 13), (2, 1));
        assert_eq!(line_col(src, 20), (2, 8));
        assert_eq!(line_col(src, src.len()), (3, 1));
        assert_eq!(line_col(src, 10_000), (3, 1));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "# é→z\nlet é = ü";
        // `z` is after "# é→" = 4 characters (6 bytes).
        assert_eq!(line_col(src, src.find('z').unwrap()), (1, 5));
        assert_eq!(line_col(src, src.find('ü').unwrap()), (2, 9));
        // An offset inside a multi-byte character is clamped to its start.
        assert_eq!(line_col(src, 3), (1, 3));
    }

    #[test]
    fn renders_the_spec_example() {
        let src = "data x: bool[64]\nnet decoder = mlp(8 -> 64)\nlatent q: real ~ Normal(0, 1)\nx ~ Bernoulli(logits = decoder(z))\n";
        let start = src.find("(z)").unwrap() + 1;
        let d = Diagnostic::error(
            Span::new(start, start + 1),
            "`z` is used before it is declared",
        )
        .with_label("declare `latent z: ...` above this line");
        let expected = "error: `z` is used before it is declared\n  --> model.vi:4:32\n   |\n 4 | x ~ Bernoulli(logits = decoder(z))\n   |                                ^ declare `latent z: ...` above this line\n";
        assert_eq!(render("model.vi", src, &d), expected);
    }

    #[test]
    fn gutter_grows_and_hints_follow() {
        let src = format!("{}let y = 1", "\n".repeat(11));
        let start = src.find('y').unwrap();
        let d = Diagnostic::warning(Span::new(start, start + 1), "`y` is never used")
            .with_hint("remove it");
        let text = render("m.vi", &src, &d);
        assert!(text.starts_with("warning: `y` is never used\n   --> m.vi:12:5\n    |\n 12 | let y = 1\n    |     ^\n    = hint: remove it\n"), "{text}");
    }

    #[test]
    fn suggestions_are_close_words() {
        assert_eq!(suggest("Normall", ["Normal", "Beta"]), Some("Normal"));
        assert_eq!(suggest("normal", ["Normal", "Beta"]), Some("Normal"));
        assert_eq!(suggest("Zebra", ["Normal", "Gamma"]), None);
    }
}
