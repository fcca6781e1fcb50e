//! `vic check` on the example models: the summary is pinned by snapshots, and the real
//! binary exits 0 on a good model and 1 on a bad one.

use std::process::Command;

use vic::check::summary;
use vic::source::load;

#[test]
fn summaries_of_the_examples() {
    insta::glob!("../examples", "*.vi", |path| {
        let loaded = load(path).expect("the examples check");
        assert!(loaded.warnings.is_empty(), "{}", loaded.render_warnings());
        insta::with_settings!({ description => loaded.source.clone(), omit_expression => true }, {
            insta::assert_snapshot!(summary(&loaded.info));
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
