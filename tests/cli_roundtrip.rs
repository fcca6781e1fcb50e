//! A round trip through the binary: `fit --epochs 1 --out`, then `eval --json` on the
//! file, then `sample -n 2`, with every output snapshotted. The timing is masked and
//! numbers are rounded to 3 decimals, so the snapshots pin what vic computes and
//! prints, not the last bits of one machine's floating point.

mod cli_support;

use cli_support::{CSV, FIT_V1, MODEL, round_numbers, scratch, stderr, stdout, vic};

/// The fit summary with its wall-clock time masked.
fn mask_seconds(text: &str) -> String {
    text.lines()
        .map(|line| match (line.find(" steps in "), line.find(" s (")) {
            (Some(a), Some(b)) if a < b => {
                format!("{} steps in [seconds]{}", &line[..a], &line[b + 2..])
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn fit_eval_sample_round_trip() {
    let dir = scratch("cli_roundtrip");
    let fit_path = dir.join("fit.json");
    let fit_path = fit_path.to_str().expect("a UTF-8 path");

    let fit = vic(&[
        "fit", MODEL, "--data", CSV, "--epochs", "1", "--json", "--out", fit_path,
    ]);
    assert!(fit.status.success(), "{}", stderr(&fit));
    let text = stdout(&fit);
    let (summary, json) = text.trim_end().rsplit_once('\n').expect("a JSON line");
    let mut json: serde_json::Value = serde_json::from_str(json).expect("JSON");
    json["seconds"] = "[seconds]".into();
    insta::assert_snapshot!(
        "fit",
        round_numbers(&format!("{}\n{json}", mask_seconds(summary)))
    );

    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fit_path).expect("--out")).expect("JSON");
    assert_eq!(file["format_version"], 2);
    assert_eq!(file["interrupted"], false);

    let eval = vic(&["eval", fit_path, "--data", CSV, "--json", "--iwae", "10"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    insta::assert_snapshot!("eval", round_numbers(&stdout(&eval)));

    let sample = vic(&["sample", fit_path, "-n", "2"]);
    assert!(sample.status.success(), "{}", stderr(&sample));
    insta::assert_snapshot!("sample", round_numbers(&stdout(&sample)));
}

#[test]
fn a_version_1_fit_file_still_loads() {
    // Written by vic 0.1.0 before `format_version` (its field was `format`).
    let eval = vic(&["eval", FIT_V1, "--data", CSV, "--json", "--iwae", "10"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    insta::assert_snapshot!("eval_v1", round_numbers(&stdout(&eval)));
    let sample = vic(&["sample", FIT_V1, "-n", "2"]);
    assert!(sample.status.success(), "{}", stderr(&sample));
    insta::assert_snapshot!("sample_v1", round_numbers(&stdout(&sample)));
}

#[test]
fn numbers_round_and_integers_stay() {
    assert_eq!(
        round_numbers("a -1.23456,7 x0 1e-3 {\"k\":-2.5e1}"),
        "a -1.235,7 x0 0.001 {\"k\":-25.000}"
    );
}
