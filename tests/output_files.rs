//! `--out` through the real binary: vic replaces only regular files, never follows or
//! replaces a symlink, FIFO, device or directory, writes through a randomly named
//! temporary file that a planted symlink cannot redirect, and leaves no temporary file
//! behind when a write fails.

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/eight_schools.vi");
const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/eight_schools.csv"
);

/// Waits for a started vic, killing it after a minute: a vic that opened a FIFO for
/// writing would block forever, and the test must fail rather than hang.
fn finish(mut child: std::process::Child) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("wait for vic").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("vic did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect vic's output")
}

fn start(args: &[&str], dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_vic"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vic")
}

fn fit_to(out: &Path, dir: &Path) -> Output {
    let out = out.to_str().expect("a UTF-8 path");
    finish(start(
        &["fit", MODEL, "--data", DATA, "--epochs", "1", "--out", out],
        dir,
    ))
}

/// Asserts vic failed with exit status 1 and a message containing `wanted`.
fn assert_refused(output: &Output, wanted: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(wanted), "expected `{wanted}` in: {stderr}");
    assert!(
        stderr.contains("vic replaces only regular files"),
        "{stderr}"
    );
    stderr
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list the directory")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().to_owned();
    (dir, path)
}

#[test]
fn out_replaces_a_regular_file_and_leaves_nothing_else() {
    let (_guard, dir) = scratch();
    let out = dir.join("fit.json");
    fs::write(&out, "old contents").unwrap();
    let output = fit_to(&out, &dir);
    assert!(output.status.success(), "{output:?}");
    let text = fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with('{') && text.contains("\"model_source\""),
        "{text}"
    );
    assert_eq!(listing(&dir), vec!["fit.json".to_string()]);
}

#[test]
fn out_refuses_a_symlink_and_leaves_its_target_alone() {
    let (_guard, dir) = scratch();
    let victim = dir.join("victim.txt");
    fs::write(&victim, "precious").unwrap();
    let link = dir.join("fit.json");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let stderr = assert_refused(&fit_to(&link, &dir), "is a symbolic link");
    assert!(stderr.contains("fit.json"), "{stderr}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(listing(&dir), vec!["fit.json", "victim.txt"]);
}

#[test]
fn out_refuses_a_fifo_without_opening_it() {
    let (_guard, dir) = scratch();
    let fifo = dir.join("fit.json");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    assert_refused(&fit_to(&fifo, &dir), "is a named pipe (FIFO)");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(listing(&dir), vec!["fit.json"]);
}

#[test]
fn out_refuses_a_device() {
    let (_guard, dir) = scratch();
    assert_refused(&fit_to(Path::new("/dev/null"), &dir), "is a device");
    let null = fs::symlink_metadata("/dev/null").unwrap().file_type();
    assert!(null.is_char_device(), "/dev/null is still a device");
    assert!(listing(&dir).is_empty());
}

#[test]
fn out_refuses_a_directory_and_leaves_no_temporary_file() {
    let (_guard, dir) = scratch();
    let target = dir.join("fit.json");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("inside.txt"), "kept").unwrap();
    assert_refused(&fit_to(&target, &dir), "is a directory");
    assert_eq!(listing(&dir), vec!["fit.json"]);
    assert_eq!(listing(&target), vec!["inside.txt"]);
}

#[test]
fn sample_out_refuses_a_symlink() {
    let (_guard, dir) = scratch();
    let fit = dir.join("fit.json");
    assert!(fit_to(&fit, &dir).status.success());
    let victim = dir.join("victim.csv");
    fs::write(&victim, "precious").unwrap();
    let link = dir.join("draws.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let output = finish(start(
        &["sample", "fit.json", "-n", "2", "--out", "draws.csv"],
        &dir,
    ));
    assert_refused(&output, "is a symbolic link");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    // A regular target is written (eight schools reads the covariate `sigma`, so its
    // draws are conditioned on the data: 2 per school).
    let output = finish(start(
        &[
            "sample",
            "fit.json",
            "-n",
            "2",
            "--data",
            DATA,
            "--out",
            "fresh.csv",
        ],
        &dir,
    ));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        fs::read_to_string(dir.join("fresh.csv"))
            .unwrap()
            .lines()
            .count(),
        1 + 8 * 2
    );
}

/// Before the fix, vic wrote `--out fit.json` through `.fit.json.tmp<pid>`, created
/// with `File::create`, which follows a symlink: anyone who could write to the output
/// directory could plant that link and make vic overwrite any file the user may write.
/// The data comes from a FIFO so that vic waits, with its pid known, until the link is
/// planted.
#[test]
fn a_symlink_planted_at_the_old_temporary_name_is_not_followed() {
    let (_guard, dir) = scratch();
    let victim = dir.join("victim.txt");
    fs::write(&victim, "precious").unwrap();
    let data = dir.join("data.csv");
    let made = Command::new("mkfifo")
        .arg(&data)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    let child = start(
        &[
            "fit", MODEL, "--data", "data.csv", "--epochs", "1", "--out", "fit.json",
        ],
        &dir,
    );
    let planted = dir.join(format!(".fit.json.tmp{}", child.id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    // Opening the FIFO for writing waits for vic to open it for reading.
    let mut feed = fs::OpenOptions::new().write(true).open(&data).unwrap();
    feed.write_all(&fs::read(DATA).unwrap()).unwrap();
    drop(feed);
    let output = finish(child);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let out = dir.join("fit.json");
    assert!(fs::symlink_metadata(&out).unwrap().file_type().is_file());
    assert!(
        fs::read_to_string(&out)
            .unwrap()
            .contains("\"model_source\"")
    );
    let planted_name = planted.file_name().unwrap().to_string_lossy().into_owned();
    let mut expected = vec![
        planted_name,
        "data.csv".into(),
        "fit.json".into(),
        "victim.txt".into(),
    ];
    expected.sort();
    assert_eq!(listing(&dir), expected);
}
