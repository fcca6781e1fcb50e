//! A fit that blows up names the `.vi` line of the first non-finite value, for models
//! whose first bad value is in the guide (the VAE's encoder, the globals' Gaussian) as
//! well as in the model, through the real binary: exit 1 and a source excerpt with a
//! caret under the blamed declaration.

use std::process::Command;

/// Runs `vic fit` and returns the exit code and stderr.
fn fit(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vic"))
        .arg("fit")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line number of the `--> file:line:col` pointer, and whether a caret line
/// follows it.
fn pointed_line(stderr: &str, file: &str) -> Option<(usize, bool)> {
    let prefix = format!("--> {file}:");
    let at = stderr.find(&prefix)?;
    let rest = &stderr[at + prefix.len()..];
    let line: usize = rest.split(':').next()?.parse().ok()?;
    let caret = rest
        .lines()
        .any(|l| l.trim_start().starts_with('|') && l.contains('^'));
    Some((line, caret))
}

fn assert_names_line(args: &[&str], file: &str, expected_line: usize) {
    let (code, stderr) = fit(args);
    assert_eq!(code, Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.contains("the ELBO became non-finite"),
        "{args:?}: {stderr}"
    );
    assert_eq!(
        pointed_line(&stderr, file),
        Some((expected_line, true)),
        "{args:?} should point at line {expected_line} with a caret:\n{stderr}"
    );
}

/// `--lr 10` blows the VAE up in its encoder, which the model text does not mention:
/// the guide's nodes are blamed on the latent they draw, `latent z` on line 4.
#[test]
fn a_vae_blown_up_by_the_learning_rate_names_its_latent() {
    let data = "--data=examples/data/digits_train.csv";
    assert_names_line(
        &["examples/vae.vi", data, "--lr", "10"],
        "examples/vae.vi",
        4,
    );
    let flow = ["examples/vae.vi", data, "--lr", "10", "--flow", "planar:2"];
    assert_names_line(&flow, "examples/vae.vi", 4);
}

/// A regression blown up in the globals' guide names the global's declaration.
#[test]
fn a_regression_blown_up_in_its_globals_names_the_global() {
    let args = [
        "examples/logistic.vi",
        "--data=examples/data/breast_cancer.csv",
        "--lr",
        "1000",
        "--epochs",
        "500",
    ];
    assert_names_line(&args, "examples/logistic.vi", 5);
}
