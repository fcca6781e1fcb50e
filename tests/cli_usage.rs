//! Usage errors through the binary: every value that makes no sense, or asks for more
//! memory than vic allows, is refused with exit 1 and a message before any file is
//! read (the model and data paths below do not exist unless a test says otherwise).

mod cli_support;

use cli_support::{CSV, FIT_V1, MODEL, assert_error, vic};

/// `vic fit` of the tiny model with `extra` options.
fn fit(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["fit", MODEL, "--data", CSV];
    args.extend_from_slice(extra);
    vic(&args)
}

#[test]
fn zero_counts_are_usage_errors() {
    let cases: [(&[&str], &str); 4] = [
        (&["--epochs", "0"], "`--epochs` must be at least 1"),
        (&["--max-steps", "0"], "`--max-steps` must be at least 1"),
        (&["--batch", "0"], "`--batch` must be at least 1"),
        (&["--samples", "0"], "`--samples` must be at least 1"),
    ];
    for (extra, message) in cases {
        assert_error(&fit(extra), message);
    }
}

#[test]
fn the_step_size_must_be_finite_and_positive() {
    for lr in ["0", "-0.1", "nan", "inf"] {
        let flag = format!("--lr={lr}");
        assert_error(&fit(&[&flag]), "`--lr` must be a positive number");
    }
}

#[test]
fn validation_comes_before_reading_files() {
    let out = vic(&[
        "fit",
        "missing.vi",
        "--data",
        "missing.csv",
        "--epochs",
        "0",
    ]);
    assert_error(&out, "`--epochs` must be at least 1");
}

#[test]
fn closed_choices_list_their_values() {
    let out = fit(&["--kl", "exact"]);
    assert_error(&out, "possible values: sampled, analytic");
    let out = fit(&["--globals", "diagonal"]);
    assert_error(&out, "possible values: meanfield, full");
    let out = fit(&["--encoder-activation", "gelu"]);
    assert_error(&out, "possible values: tanh, relu, softplus, sigmoid, elu");
    let out = fit(&["--flow", "spline:3"]);
    assert_error(&out, "spline");
    let out = fit(&["--flow", "iaf:2:amortized"]);
    assert_error(&out, "`iaf` does not take the option amortized");
    let out = fit(&["--flow", "planar:2:hidden=8"]);
    assert_error(&out, "`planar` does not take the option hidden");
}

/// A flow whose parameters come per row from the encoder has nothing to read on a
/// model whose only latents are globals.
#[test]
fn an_amortized_flow_on_globals_is_refused() {
    let out = vic(&[
        "fit",
        "../../examples/logistic.vi",
        "--data",
        "../../examples/data/breast_cancer.csv",
        "--flow",
        "planar:2:amortized",
    ]);
    assert_error(&out, "which global latents do not have; drop `amortized`");
}

#[test]
fn requests_too_large_to_allocate_are_refused() {
    assert_error(
        &fit(&["--samples", "100000000"]),
        "asks for 100000000 rows per step, more than the limit of 10000000",
    );
    assert_error(
        &fit(&["--encoder-hidden", "100000,100000"]),
        "more than the limit of 268435456 (2^28, 1 GiB of values)",
    );
    // Within the limit between hidden layers, but over it with the layers next to the
    // data and the latents, which only the model knows.
    assert_error(
        &fit(&["--encoder-hidden", "16383,16383"]),
        "parameters in all, more than the limit of 268435456",
    );
    assert_error(
        &fit(&["--encoder-hidden", "0"]),
        "must each be between 1 and 1000000",
    );
    // Within the per-flag limits, but the built graph would need more than 4 GiB.
    assert_error(
        &fit(&["--samples", "1000000", "--batch", "10", "--epochs", "1"]),
        "of working memory, more than the limit of 4.0 GiB",
    );
    assert_error(
        &vic(&["eval", FIT_V1, "--data", CSV, "--iwae", "100000000"]),
        "more importance samples than the limit",
    );
    assert_error(
        &vic(&["eval", FIT_V1, "--data", CSV, "--iwae", "9000000", "--json"]),
        "of working memory, more than the limit of 4.0 GiB",
    );
}

#[test]
fn sample_zero_prints_the_header_only() {
    let out = vic(&["sample", FIT_V1, "-n", "0"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "x[0],x[1],x[2],s,z[0],z[1]\n"
    );
}

#[test]
fn sample_streams_more_draws_than_one_chunk() {
    // 2.5 chunks: every row is written, each with every column.
    let out = vic(&["sample", FIT_V1, "-n", "2600"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2601);
    assert!(lines[1..].iter().all(|l| l.split(',').count() == 6));
    // Draws differ from chunk to chunk (fresh noise, not a repeated chunk).
    assert_ne!(lines[1], lines[1025]);
}

#[test]
fn sample_out_streams_the_same_rows_to_a_file() {
    let dir = cli_support::scratch("cli_usage_sample_out");
    let path = dir.join("draws.csv");
    let path = path.to_str().expect("a UTF-8 path");
    let to_file = vic(&["sample", FIT_V1, "-n", "1500", "--out", path]);
    assert!(
        to_file.status.success(),
        "{}",
        cli_support::stderr(&to_file)
    );
    assert!(to_file.stdout.is_empty());
    let to_stdout = vic(&["sample", FIT_V1, "-n", "1500"]);
    assert_eq!(
        std::fs::read(path).expect("--out was written"),
        to_stdout.stdout
    );

    let missing = dir.join("no/such/dir/draws.csv");
    let out = vic(&[
        "sample",
        FIT_V1,
        "-n",
        "2",
        "--out",
        missing.to_str().expect("UTF-8"),
    ]);
    assert_error(&out, "cannot write");
}

/// A model whose first diagnostic is a warning is printed as rendered, not behind an
/// extra `error:` prefix.
#[test]
fn a_model_error_after_a_warning_keeps_its_headers() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.vi");
    std::fs::write(
        &model,
        "data y: real\nlatent u: real ~ Normal(0, 1)\ny ~ Normal(q, 1)\n",
    )
    .unwrap();
    let out = vic(&["check", model.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("warning: latent `u` is never used"),
        "{stderr}"
    );
    assert!(stderr.contains("\nerror: unknown name `q`"), "{stderr}");
}
