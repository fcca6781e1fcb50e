//! The fit-file loader through the binary: a damaged file is refused with exit 1 and a
//! message saying what is wrong (the real sizes, the bad value), never a panic; random
//! edits of a real file never crash `eval` or `sample`.

mod cli_support;

use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;

use cli_support::{CSV, FIT_V1, assert_error, data, scratch, stderr, vic};

fn original() -> Value {
    let text = std::fs::read_to_string(data(FIT_V1)).expect("the committed fit file");
    serde_json::from_str(&text).expect("it is JSON")
}

/// Writes `text` as a fit file in `dir` and runs `eval` and `sample` on it.
fn run_both(dir: &Path, text: &str) -> [std::process::Output; 2] {
    let path = dir.join("edited.fit.json");
    std::fs::write(&path, text).expect("the scratch file is written");
    let path = path.to_str().expect("a UTF-8 path");
    [
        vic(&["eval", path, "--data", CSV, "--iwae", "2"]),
        vic(&["sample", path, "-n", "1"]),
    ]
}

/// Both commands refuse the edited file with `needle` in the message.
fn refused(name: &str, edit: impl FnOnce(&mut Value), needle: &str) {
    let dir = scratch(&format!("cli_fitfile_{name}"));
    let mut file = original();
    edit(&mut file);
    for out in run_both(&dir, &file.to_string()) {
        assert_error(&out, needle);
    }
}

fn param(file: &mut Value, name: &str) -> usize {
    file["params"]
        .as_array()
        .expect("params")
        .iter()
        .position(|p| p["name"] == name)
        .expect("the parameter exists")
}

#[test]
fn wrong_lengths_name_the_real_sizes() {
    refused(
        "short",
        |f| {
            let i = param(f, "decoder.0.w");
            f["params"][i]["values"]
                .as_array_mut()
                .expect("values")
                .pop();
        },
        "the parameter `decoder.0.w` has 7 values, but its shape 2x4 needs 8",
    );
    refused(
        "shape",
        |f| {
            let i = param(f, "decoder.0.w");
            f["params"][i]["rows"] = 4.into();
            f["params"][i]["cols"] = 2.into();
        },
        "the parameter `decoder.0.w` is 4x2 in the file, but the model needs 2x4",
    );
}

#[test]
fn missing_and_duplicated_parameters_are_refused() {
    refused(
        "missing",
        |f| {
            let i = param(f, "guide.globals.scale");
            f["params"].as_array_mut().expect("params").remove(i);
        },
        "the parameter `guide.globals.scale` (1x1) is missing",
    );
    refused(
        "duplicate",
        |f| {
            let copy = f["params"][0].clone();
            f["params"].as_array_mut().expect("params").push(copy);
        },
        "the parameter `guide.encoder.0.w` appears twice",
    );
}

#[test]
fn non_finite_parameters_are_refused() {
    // JSON has no NaN; a value beyond f32's range is the way one reaches the loader.
    refused(
        "overflow",
        |f| f["params"][1]["values"][2] = serde_json::json!(1e39),
        "the parameter `guide.encoder.0.b` has the non-finite value inf at index 2",
    );
}

#[test]
fn unknown_enum_values_are_refused() {
    refused(
        "kl",
        |f| f["guide"]["kl"] = "exact".into(),
        "unknown variant `exact`, expected `sampled` or `analytic`",
    );
    refused("flow", |f| f["guide"]["flow"] = "spline:2".into(), "`flow`");
    refused(
        "globals",
        |f| f["guide"]["globals"] = "diag".into(),
        "`globals`",
    );
    refused(
        "activation",
        |f| f["guide"]["encoder_activation"] = "gelu".into(),
        "unknown encoder activation `gelu`",
    );
    refused(
        "free",
        |f| f["guide"]["free"] = serde_json::json!(["w"]),
        "unknown latent `w`",
    );
    refused(
        "free-global",
        |f| f["guide"]["free"] = serde_json::json!(["s"]),
        "`s` in the guide's `free` list is a global, not a local latent",
    );
    refused(
        "free-twice",
        |f| f["guide"]["free"] = serde_json::json!(["z", "z"]),
        "`z` is listed twice in the guide's `free` list",
    );
}

#[test]
fn bad_sizes_and_versions_are_refused() {
    refused("rows", |f| f["train_rows"] = 0.into(), "`train_rows` is 0");
    refused(
        "version",
        |f| f["format"] = 7.into(),
        "format version 7 is not one this vic reads (1 to 2)",
    );
    refused(
        "hidden",
        |f| f["guide"]["encoder_hidden"] = serde_json::json!([0]),
        "must each be between 1 and 1000000",
    );
    refused(
        "huge_net",
        |f| {
            let source = f["model_source"].as_str().expect("source");
            f["model_source"] = source.replace("2 -> 4 -> 3", "2 -> 1000000 -> 3").into();
        },
        "the parameter `decoder.0.w` is 2x4 in the file, but the model needs 2x1000000",
    );
}

/// One random edit of the fit file's JSON text.
#[derive(Debug, Clone)]
enum Edit {
    /// Remove the `k`-th node (object field or array element) of the tree.
    Delete(usize),
    /// Replace the `k`-th node with a hostile value.
    Replace(usize, usize),
    /// Append a copy of parameter `k` (a duplicate name).
    DuplicateParam(usize),
    /// Cut the text at this fraction of its length.
    Truncate(f64),
    /// Write the `k`-th number of the text as `NaN` (which JSON cannot hold).
    NaN(usize),
}

const HOSTILE: [&str; 10] = [
    "null",
    "\"bogus\"",
    "-1",
    "0",
    "1e39",
    "-1e300",
    "18446744073709551616",
    "[]",
    "{}",
    "true",
];

/// Visits every node but the root, depth first, giving each its index; `f` returns
/// true to delete the node or sets it in place.
fn edit_nth(
    value: &mut Value,
    n: usize,
    counter: &mut usize,
    f: &mut dyn FnMut(&mut Value) -> bool,
) -> bool {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if *counter == n {
                    *counter += 1;
                    if f(map.get_mut(&key).expect("the key exists")) {
                        map.remove(&key);
                    }
                    return true;
                }
                *counter += 1;
                if edit_nth(map.get_mut(&key).expect("the key exists"), n, counter, f) {
                    return true;
                }
            }
            false
        }
        Value::Array(items) => {
            for i in 0..items.len() {
                if *counter == n {
                    *counter += 1;
                    if f(&mut items[i]) {
                        items.remove(i);
                    }
                    return true;
                }
                *counter += 1;
                if edit_nth(&mut items[i], n, counter, f) {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

fn count_nodes(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.values().map(|v| 1 + count_nodes(v)).sum(),
        Value::Array(items) => items.iter().map(|v| 1 + count_nodes(v)).sum(),
        _ => 0,
    }
}

fn apply(edit: &Edit) -> String {
    let mut file = original();
    let nodes = count_nodes(&file);
    match *edit {
        Edit::Delete(k) => {
            edit_nth(&mut file, k % nodes, &mut 0, &mut |_| true);
        }
        Edit::Replace(k, h) => {
            let hostile: Value =
                serde_json::from_str(HOSTILE[h % HOSTILE.len()]).unwrap_or(Value::Null);
            edit_nth(&mut file, k % nodes, &mut 0, &mut |v| {
                *v = hostile.clone();
                false
            });
        }
        Edit::DuplicateParam(k) => {
            let params = file["params"].as_array_mut().expect("params");
            let copy = params[k % params.len()].clone();
            params.push(copy);
        }
        Edit::Truncate(at) => {
            let text = file.to_string();
            let cut = (text.len() as f64 * at) as usize;
            return text[..cut.min(text.len())].to_string();
        }
        Edit::NaN(k) => return nan_at(&file.to_string(), k),
    }
    file.to_string()
}

/// `text` with its `k`-th number (modulo their count) replaced by `NaN`.
fn nan_at(text: &str, k: usize) -> String {
    let bytes = text.as_bytes();
    let starts: Vec<usize> = (1..bytes.len())
        .filter(|&i| {
            (bytes[i].is_ascii_digit() || bytes[i] == b'-') && b":[,".contains(&bytes[i - 1])
        })
        .collect();
    let start = starts[k % starts.len()];
    let end = (start..bytes.len())
        .find(|&i| !matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .unwrap_or(bytes.len());
    format!("{}NaN{}", &text[..start], &text[end..])
}

fn edits() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), any::<usize>()).prop_map(|(k, h)| Edit::Replace(k, h)),
        any::<usize>().prop_map(Edit::DuplicateParam),
        (0.0..1.0f64).prop_map(Edit::Truncate),
        any::<usize>().prop_map(Edit::NaN),
    ]
}

proptest! {
    // Each case spawns the binary twice; a few dozen cases keep the test fast.
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_never_crash(edit in edits()) {
        let dir = scratch("cli_fitfile_fuzz");
        for out in run_both(&dir, &apply(&edit)) {
            let code = out.status.code();
            // Some edits are harmless (the version string, a figure); the rest are errors.
            prop_assert!(code == Some(0) || code == Some(1), "{edit:?}: {:?} {}", code, stderr(&out));
            if code == Some(1) {
                prop_assert!(stderr(&out).starts_with("error"), "{edit:?}: {}", stderr(&out));
            }
        }
    }
}

#[test]
fn a_non_finite_final_figure_written_as_null_still_loads() {
    // serde_json writes a NaN or infinite ELBO (after a diverged fit) as `null`.
    let dir = scratch("cli_fitfile_null_figure");
    let mut file = original();
    file["figures"]["train_elbo"] = Value::Null;
    for out in run_both(&dir, &file.to_string()) {
        assert!(out.status.success(), "{}", stderr(&out));
    }
}
