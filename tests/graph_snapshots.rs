//! `vic graph` on every example model: the lowered log joint and the whole ELBO graph
//! (model plus automatic guide) are pinned as text, exactly as the binary prints them.
//! A change to lowering, the guide or the printer shows up here for review.

use std::process::Command;

fn vic_graph(path: &std::path::Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vic"))
        .arg("graph")
        .arg(path)
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the graph is text")
}

#[test]
fn log_joint_graphs_of_the_examples() {
    insta::glob!("../examples", "*.vi", |path| {
        insta::assert_snapshot!(vic_graph(path, &[]));
    });
}

#[test]
fn elbo_graphs_of_the_examples() {
    insta::glob!("../examples", "*.vi", |path| {
        insta::assert_snapshot!(vic_graph(path, &["--guide"]));
    });
}

#[test]
fn flows_join_the_guide_graph() {
    let path = std::path::Path::new("examples/vae.vi");
    insta::assert_snapshot!(
        "vae_planar_2",
        vic_graph(path, &["--guide", "--flow", "planar:2"])
    );
    insta::assert_snapshot!(
        "vae_radial_1",
        vic_graph(path, &["--guide", "--flow", "radial:1"])
    );
    insta::assert_snapshot!(
        "vae_planar_1_amortized",
        vic_graph(path, &["--guide", "--flow", "planar:1:amortized"])
    );
    let logistic = std::path::Path::new("examples/logistic.vi");
    insta::assert_snapshot!(
        "logistic_full_rank",
        vic_graph(logistic, &["--guide", "--globals", "full"])
    );
}

#[test]
fn dot_output_is_a_digraph() {
    let dot = vic_graph(std::path::Path::new("examples/vae.vi"), &["--dot"]);
    assert!(dot.starts_with("digraph vic {") && dot.trim_end().ends_with('}'));
}
