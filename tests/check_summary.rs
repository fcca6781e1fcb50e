//! `vic check` on the example models: the summary is pinned by snapshots, and the real
//! binary exits 0 on a good model and 1 on a bad one.

use std::process::Command;

use vic::check::summary;
use vic::guide::flow::encoder_columns;
use vic::source::load;

#[test]
fn summaries_of_the_examples() {
    insta::glob!("../examples", "*.vi", |path| {
        let loaded = load(path).expect("the examples check");
        assert!(loaded.warnings.is_empty(), "{}", loaded.render_warnings());
        insta::with_settings!({ description => loaded.source.clone(), omit_expression => true }, {
            let info = &loaded.info;
            let flow_columns = encoder_columns(info.guide.flow, info.amortized_width());
            insta::assert_snapshot!(summary(&loaded.model, info, flow_columns));
        });
    });
}

fn vic(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vic"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// An amortized flow's parameters are encoder outputs: the encoder line counts them.
#[test]
fn the_encoder_line_counts_an_amortized_flows_columns() {
    let out = vic(&["check", "tests/data/banana_rows_flow.vi"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // Four planar steps on two latents: 4 x (u, w: 2 + 2, b: 1) = 20 columns.
    assert!(
        text.contains("encoder  2 -> 32 -> 2x2 + 20 for the flow (tanh)"),
        "{text}"
    );
    assert!(text.contains("flow     planar(4, amortized)"), "{text}");
}

#[test]
fn the_binary_exits_0_on_success_and_1_on_errors() {
    let ok = vic(&["check", "examples/vae.vi"]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("encoder  64 -> 128 -> 2x8 (tanh)"));

    let bad = vic(&["check", "errors/used_before_declared.vi"]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("error: `z` is used before it is declared"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--> errors/used_before_declared.vi:3:32"),
        "{stderr}"
    );

    let missing = vic(&["check", "no/such/model.vi"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .starts_with("error: cannot read `no/such/model.vi`")
    );

    let usage = vic(&["frobnicate"]);
    assert_eq!(usage.status.code(), Some(1));
}

#[test]
fn the_binary_reports_invalid_utf8_and_binary_garbage() {
    let dir = std::env::temp_dir().join(format!("vic-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let garbage = dir.join("garbage.vi");
    std::fs::write(&garbage, [0x64, 0x61, 0xff, 0xfe, 0x00, 0x01]).expect("write");
    let out = vic(&["check", &garbage.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid UTF-8 at byte 2"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scratch directory for one test's model files.
fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vic-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// A flat sum of 100,000 terms is not nested: `vic check` accepts it and `vic graph`
/// lowers it, with no stack overflow and one node per term.
#[test]
fn the_binary_checks_and_lowers_a_flat_sum_of_100000_terms() {
    let dir = scratch("flat-sum");
    let model = dir.join("sum.vi");
    let sum = vec!["a"; 100_000].join(" + ");
    std::fs::write(
        &model,
        format!("data y: real\ndata a: real\ny ~ Normal({sum}, 1)\n"),
    )
    .expect("write");
    let path = model.display().to_string();
    let check = vic(&["check", &path]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let graph = vic(&["graph", &path]);
    assert_eq!(graph.status.code(), Some(0));
    let text = String::from_utf8_lossy(&graph.stdout);
    assert_eq!(text.matches(" add ").count(), 99_999, "one add per `+`");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A byte-order mark before the first statement is skipped, and columns count from
/// the first visible character.
#[test]
fn the_binary_skips_a_byte_order_mark() {
    let dir = scratch("bom");
    let good = dir.join("good.vi");
    std::fs::write(&good, "\u{feff}data y: real\ny ~ Normal(0, 1)\n").expect("write");
    let out = vic(&["check", &good.display().to_string()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = dir.join("bad.vi");
    std::fs::write(&bad, "\u{feff}data y: reel\ny ~ Normal(0, 1)\n").expect("write");
    let out = vic(&["check", &bad.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.vi:1:9\n"), "{stderr}");
    assert!(stderr.contains(" 1 | data y: reel\n"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A net of 10^12 parameters is refused by `vic check`, naming the count and the limit,
/// instead of aborting on allocation in `fit`.
#[test]
fn the_binary_refuses_an_absurd_net() {
    let dir = scratch("net-size");
    let model = dir.join("big.vi");
    std::fs::write(
        &model,
        "data x: real\ndata y: real\nnet f = mlp(1000000 -> 1000000 -> 1000000, tanh)\ny ~ Normal(f(x), 1)\n",
    )
    .expect("write");
    let out = vic(&["check", &model.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("net `f` has 2000002000000 parameters, more than the limit of 268435456"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_summary_lists_lets_and_shows_a_net_without_hidden_layers_as_affine() {
    let dir = scratch("affine");
    let model = dir.join("affine.vi");
    std::fs::write(
        &model,
        "data x: real[2]\nlatent z: real[2] ~ Normal(0, 1)\nnet lin = mlp(2 -> 2)\n\
         let m = lin(z)\nx ~ Normal(m, 1)\n",
    )
    .expect("the scratch model is written");
    let out = vic(&["check", model.to_str().expect("a UTF-8 path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("lin  affine 2 -> 2, 6 parameters"), "{text}");
    assert!(text.contains("lets\n  m  real[2] = lin(z)"), "{text}");
}
