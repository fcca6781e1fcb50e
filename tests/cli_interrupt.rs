//! Ctrl-C during `vic fit`, through the real binary: SIGINT stops training at the end
//! of the current step, `--out` gets the parameters so far marked as interrupted, the
//! message says so, and the exit status is 130.

mod cli_support;

use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use cli_support::{CSV, MODEL, data, scratch};

#[test]
fn ctrl_c_writes_the_fit_so_far_and_exits_130() {
    let dir = scratch("cli_interrupt");
    let out = dir.join("fit.json");
    // A hundred million epochs of one step each: it runs until interrupted.
    let child = Command::new(env!("CARGO_BIN_EXE_vic"))
        .args([
            "fit",
            MODEL,
            "--data",
            CSV,
            "--epochs",
            "100000000",
            "--out",
        ])
        .arg(&out)
        .current_dir(data(""))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vic starts");
    wait_for_sigint_handler(child.id());
    sleep(Duration::from_millis(100));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let start = Instant::now();
    let output = child.wait_with_output().expect("vic ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "stderr: {stderr}");
    assert!(
        stderr.contains("interrupted: training stopped at step")
            && stderr.contains("marked as interrupted"),
        "stderr: {stderr}"
    );
    assert!(start.elapsed() < Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("(interrupted at step"), "stdout: {stdout}");

    let text = std::fs::read_to_string(&out).expect("--out was written");
    let file: serde_json::Value = serde_json::from_str(&text).expect("--out is JSON");
    assert_eq!(file["interrupted"], true);
    let steps = file["figures"]["steps"].as_u64().expect("steps");
    assert!(steps > 0 && steps < 100_000_000, "{steps}");
    // The trace ends at the last finished step.
    let trace = file["trace"].as_array().expect("trace");
    assert_eq!(trace.last().expect("a trace point")["step"], steps);
    // The interrupted fit is a usable fit file.
    let sample = Command::new(env!("CARGO_BIN_EXE_vic"))
        .args(["sample", "-n", "2"])
        .arg(&out)
        .output()
        .expect("vic runs");
    assert!(sample.status.success());
    assert!(
        String::from_utf8_lossy(&sample.stderr).contains("holds a fit that was interrupted"),
        "sample says the fit was interrupted"
    );
}

/// Waits until process `pid` catches SIGINT (Linux's `SigCgt` mask in
/// `/proc/PID/status`), so the signal never meets the default action.
fn wait_for_sigint_handler(pid: u32) {
    let start = Instant::now();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .unwrap_or(0);
        // SIGINT is signal 2: bit 1 of the mask.
        if caught & (1 << 1) != 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "vic never installed its Ctrl-C handler"
        );
        sleep(Duration::from_millis(10));
    }
}
