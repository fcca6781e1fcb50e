//! Running the real `vic` binary for the `cli_*` tests, on the tiny model in
//! `tests/data/cli_tiny.vi` (a global, an amortized local, a decoder, an encoder).
#![allow(dead_code)] // each `cli_*` target uses a part of this

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub const MODEL: &str = "cli_tiny.vi";
pub const CSV: &str = "cli_tiny.csv";
/// A fit file written by vic 0.1.0 (format 1) before the fit-file format types.
pub const FIT_V1: &str = "cli_tiny_v1.fit.json";

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch directory can be made");
    dir
}

/// Runs `vic` with `args` in `tests/data`.
pub fn vic(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vic"))
        .args(args)
        .current_dir(data(""))
        .output()
        .expect("vic runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a usage, model or data error: exit 1 with an `error` message on stderr
/// that contains `needle`.
pub fn assert_error(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.starts_with("error"), "stderr: {err}");
    assert!(err.contains(needle), "`{needle}` not in stderr: {err}");
}

/// Every decimal number in `text` rounded to 3 decimals; integers stay as they are.
pub fn round_numbers(text: &str) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let is_float = token.contains(['.', 'e']) && token.parse::<f64>().is_ok();
        if is_float {
            let v: f64 = token.parse().expect("checked above");
            out.push_str(&format!("{v:.3}"));
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        let continues = c.is_ascii_digit()
            || c == '.'
            || (c == 'e' && !token.is_empty())
            || (c == '-' && (token.is_empty() || token.ends_with('e')));
        if continues && !(c == '-' && !token.is_empty() && !token.ends_with('e')) {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}
