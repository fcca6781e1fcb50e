//! After the fit, through the real binary on the shipped examples: `sample --data`,
//! `encode`, `predict` and `eval`'s scores, with their text output snapshotted (numbers
//! rounded to 3 decimals) and their statistics checked: the predictive mean of a
//! linear regression against its closed form, reconstructions of digits closer to
//! their originals than prior draws, free locals taken from their table.

mod cli_support;

use std::path::{Path, PathBuf};

use cli_support::{assert_error, round_numbers, scratch, stderr, stdout, vic};

fn example(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
        .display()
        .to_string()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Fits `model` on `data` for `epochs` epochs into `dir/name.json`.
fn fit(dir: &Path, name: &str, model: &str, data: &str, epochs: &str) -> PathBuf {
    let out = dir.join(format!("{name}.json"));
    let run = vic(&[
        "fit",
        model,
        "--data",
        data,
        "--epochs",
        epochs,
        "--out",
        path(&out),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    out
}

/// The first `n` lines of a CSV file, with only the columns `keep` says.
fn head(src: &str, n: usize, keep: impl Fn(&str) -> bool, to: &Path) {
    let text = std::fs::read_to_string(src).expect("the example data");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let cols: Vec<usize> = (0..header.len()).filter(|&i| keep(header[i])).collect();
    let pick = |line: &str| {
        let fields: Vec<&str> = line.split(',').collect();
        cols.iter()
            .map(|&i| fields[i])
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = vec![pick(&header.join(","))];
    out.extend(lines.take(n).map(pick));
    std::fs::write(to, out.join("\n") + "\n").expect("a scratch file");
}

fn table(text: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            r.expect("a record")
                .iter()
                .map(|v| v.parse().expect("a number"))
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn logistic_regression_sample_predict_and_eval() {
    let dir = scratch("cli_after_logistic");
    let data = example("data/breast_cancer.csv");
    let fit = fit(&dir, "lr", &example("logistic.vi"), &data, "20");
    let rows = dir.join("rows.csv");
    head(&data, 3, |c| c != "y", &rows);

    let unconditioned = vic(&["sample", path(&fit), "-n", "2"]);
    assert_error(&unconditioned, "covariates that no `~` draws (x)");

    let sample = vic(&["sample", path(&fit), "-n", "2", "--data", path(&rows)]);
    assert!(sample.status.success(), "{}", stderr(&sample));
    let (header, draws) = table(&stdout(&sample));
    assert_eq!(&header[..3], ["row", "y", "w[0]"]);
    assert_eq!(header.len(), 1 + 1 + 30 + 1);
    let row_ids: Vec<f64> = draws.iter().map(|d| d[0]).collect();
    assert_eq!(row_ids, [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
    assert!(draws.iter().all(|d| d[1] == 0.0 || d[1] == 1.0));

    let predict = vic(&["predict", path(&fit), "--data", path(&rows)]);
    assert!(predict.status.success(), "{}", stderr(&predict));
    insta::assert_snapshot!("predict_logistic", round_numbers(&stdout(&predict)));
    // The first three rows are malignant tumours (y = 0) that the fit classifies.
    let (_, p) = table(&stdout(&predict));
    assert!(p.iter().all(|r| r[1] < 0.3), "{p:?}");

    let eval = vic(&["eval", path(&fit), "--data", &data, "--iwae", "0", "--json"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let text = stdout(&eval);
    let line = text
        .lines()
        .find(|l| l.starts_with("accuracy of `y`"))
        .expect("an accuracy line");
    let accuracy: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(accuracy > 0.9, "{line}");
    let json: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let exact = json["scores"]["y"]["accuracy"].as_f64().expect("a score");
    assert!((exact - accuracy).abs() < 1e-4, "{exact} vs {line}");
}

#[test]
fn the_predictive_mean_of_a_linear_regression_is_its_closed_form() {
    let dir = scratch("cli_after_linear");
    let model = dir.join("linear.vi");
    std::fs::write(
        &model,
        "data x: real[2]\ndata y: real\nglobal w: real[2] ~ Normal(0, 10)\n\
         global b: real ~ Normal(0, 10)\nglobal s: positive ~ HalfNormal(2)\n\
         y ~ Normal(dot(w, x) + b, s)\n",
    )
    .unwrap();
    // y = 1.5 x0 - 2 x1 + 0.5 + noise, with a fixed pseudo-random design.
    let mut csv = String::from("x0,x1,y\n");
    let mut state = 12345u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    for _ in 0..200 {
        let (x0, x1, e) = (uniform(), uniform(), uniform());
        csv += &format!("{x0},{x1},{}\n", 1.5 * x0 - 2.0 * x1 + 0.5 + 0.5 * e);
    }
    let data = dir.join("train.csv");
    std::fs::write(&data, csv).unwrap();
    let out = dir.join("fit.json");
    let run = vic(&[
        "fit",
        path(&model),
        "--data",
        path(&data),
        "--epochs",
        "300",
        "--out",
        path(&out),
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let json: serde_json::Value =
        serde_json::from_str(stdout(&run).lines().last().unwrap()).unwrap();
    let mean = |name: &str, j: usize| json["globals"][name]["mean"][j].as_f64().unwrap();
    let (w0, w1, b) = (mean("w", 0), mean("w", 1), mean("b", 0));

    let rows = dir.join("new.csv");
    std::fs::write(&rows, "x0,x1\n0,0\n1,0\n0.5,-1\n2,2\n").unwrap();
    let predict = vic(&[
        "predict",
        path(&out),
        "--data",
        path(&rows),
        "--draws",
        "4000",
    ]);
    assert!(predict.status.success(), "{}", stderr(&predict));
    let (header, p) = table(&stdout(&predict));
    assert_eq!(header, ["row", "y"]);
    for (r, (x0, x1)) in [(0.0, 0.0), (1.0, 0.0), (0.5, -1.0), (2.0, 2.0)]
        .iter()
        .enumerate()
    {
        let closed = w0 * x0 + w1 * x1 + b;
        // The draws' sd is about s = 0.29 (and the posterior's spread); 4000 draws.
        assert!(
            (p[r][1] - closed).abs() < 0.05,
            "row {r}: {} vs {closed}",
            p[r][1]
        );
    }
}

#[test]
fn digits_encode_and_reconstruct() {
    let dir = scratch("cli_after_vae");
    let fit = fit(
        &dir,
        "vae",
        &example("vae.vi"),
        &example("data/digits_train.csv"),
        "30",
    );
    let rows = dir.join("digits.csv");
    head(&example("data/digits_test.csv"), 20, |_| true, &rows);

    let encode = vic(&["encode", path(&fit), "--data", path(&rows)]);
    assert!(encode.status.success(), "{}", stderr(&encode));
    let (header, codes) = table(&stdout(&encode));
    assert_eq!(
        &header[..5],
        ["row", "mean(z[0])", "sd(z[0])", "mean(z[1])", "sd(z[1])"]
    );
    assert_eq!(header.len(), 1 + 2 * 8);
    assert_eq!(codes.len(), 20);
    // The encoder's scales are well below the prior's 1.
    assert!(
        codes
            .iter()
            .all(|r| (1..9).all(|j| r[2 * j] > 0.0 && r[2 * j] < 1.0))
    );

    let digits = table(&std::fs::read_to_string(&rows).unwrap()).1;
    let agreement = |args: &[&str]| {
        let out = vic(args);
        assert!(out.status.success(), "{}", stderr(&out));
        let (header, draws) = table(&stdout(&out));
        let x0 = header.iter().position(|h| h == "x[0]").expect("x[0]");
        let mut same = 0;
        for (i, d) in draws.iter().enumerate() {
            same += (0..64).filter(|&j| d[x0 + j] == digits[i % 20][j]).count();
        }
        same as f64 / (draws.len() * 64) as f64
    };
    let reconstructed = agreement(&["sample", path(&fit), "-n", "1", "--data", path(&rows)]);
    let prior = agreement(&["sample", path(&fit), "-n", "20"]);
    assert!(reconstructed > prior + 0.05, "{reconstructed} vs {prior}");
}

#[test]
fn eight_schools_free_locals_come_from_their_table_on_the_training_rows() {
    let dir = scratch("cli_after_schools");
    let data = example("data/eight_schools.csv");
    let fit = fit(&dir, "es", &example("eight_schools.vi"), &data, "2000");
    let sd_of_eta = |rows: &str| {
        let out = vic(&["sample", path(&fit), "-n", "200", "--data", rows]);
        assert!(out.status.success(), "{}", stderr(&out));
        let (header, draws) = table(&stdout(&out));
        assert_eq!(header, ["row", "y", "mu", "tau", "eta"]);
        let eta: Vec<f64> = draws.iter().filter(|d| d[0] == 1.0).map(|d| d[4]).collect();
        let m = eta.iter().sum::<f64>() / eta.len() as f64;
        (eta.iter().map(|e| (e - m).powi(2)).sum::<f64>() / eta.len() as f64).sqrt()
    };
    let fewer = dir.join("three.csv");
    head(&data, 3, |_| true, &fewer);
    let trained = sd_of_eta(&data);
    let prior = sd_of_eta(path(&fewer));
    assert!(trained < 0.8, "{trained}");
    assert!((prior - 1.0).abs() < 0.2, "{prior}");

    let encode = vic(&["encode", path(&fit), "--data", &data]);
    assert!(encode.status.success(), "{}", stderr(&encode));
    let (header, codes) = table(&stdout(&encode));
    assert_eq!(header, ["row", "mean(eta)", "sd(eta)"]);
    assert_eq!(codes.len(), 8);
    let left_out = vic(&["encode", path(&fit), "--data", path(&fewer)]);
    assert_eq!(left_out.status.code(), Some(1));
    let err = stderr(&left_out);
    assert!(
        err.contains("free locals eta exist only for the 8 training rows"),
        "{err}"
    );
    assert!(
        err.contains("error: the model has no local latents to encode"),
        "{err}"
    );
}

/// A CmdStan `variational` output file as the CmdStan guide shows one for the
/// `bernoulli` example (shortened): config comments, the header, the adaptation
/// comments, the approximation's mean with zero diagnostics, then the draws.
const CMDSTAN_VARIATIONAL: &str = "\
# stan_version_major = 2
# model = bernoulli_model
# method = variational
#   variational
#     algorithm = meanfield (Default)
#     output_samples = 1000 (Default)
lp__,log_p__,log_g__,theta
# Stepsize adaptation complete.
# eta = 1
0,0,0,0.214911
0,-6.92262,-0.0379694,0.208191
0,-6.83052,-0.0182236,0.225866
";

/// Reads a CmdStan CSV as CmdStan's readers do: comment lines skipped, then the header,
/// the mean row and the draws.
fn read_cmdstan(text: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let data: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    table(&data)
}

/// The comment lines, in order, before and after the header.
fn comments(text: &str) -> (Vec<&str>, Vec<&str>) {
    let header = text.lines().position(|l| !l.starts_with('#')).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let after = lines[header + 1..]
        .iter()
        .take_while(|l| l.starts_with('#'))
        .copied();
    (lines[..header].to_vec(), after.collect())
}

#[test]
fn summary_and_cmdstan_draws_of_globals_params_and_lets() {
    let dir = scratch("cli_after_draws");
    let model = dir.join("schools_mean.vi");
    std::fs::write(
        &model,
        "data y: real\ndata sigma: positive\nparam shift: real = 0.5\n\
         global mu: real ~ Normal(0, 5)\nglobal tau: positive ~ HalfCauchy(5)\n\
         latent eta: real ~ Normal(0, 1)\nlet theta = mu + tau * eta\n\
         let spread = [tau, 2 * tau]\n\
         y ~ Normal(theta + shift, sigma)\nguide { eta: free }\n",
    )
    .unwrap();
    let fit = dir.join("fit.json");
    let run = vic(&[
        "fit",
        path(&model),
        "--data",
        &example("data/eight_schools.csv"),
        "--epochs",
        "500",
        "--out",
        path(&fit),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let fit_text = stdout(&run);
    let summary = vic(&["summary", path(&fit)]);
    assert!(summary.status.success(), "{}", stderr(&summary));
    // `vic summary` prints again what `vic fit` printed.
    assert_eq!(stdout(&summary), fit_text);
    let table_text: String = fit_text
        .lines()
        .skip_while(|l| !l.starts_with("posterior"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("summary_names", {
        // Names and kinds only: the figures depend on the fit.
        table_text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    });

    let json = vic(&["summary", path(&fit), "--json"]);
    let json: serde_json::Value =
        serde_json::from_str(stdout(&json).lines().last().unwrap()).unwrap();
    let rows = json["summary"].as_array().unwrap();

    let draws = dir.join("draws.csv");
    let out = vic(&["draws", path(&fit), "-n", "4000", "--out", path(&draws)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&draws).unwrap();
    let (ours_before, ours_after) = comments(&text);
    let (theirs_before, theirs_after) = comments(CMDSTAN_VARIATIONAL);
    assert!(ours_before.contains(&"# method = variational"));
    assert!(theirs_before.contains(&"# method = variational"));
    assert_eq!(ours_after, theirs_after);
    let (header, values) = read_cmdstan(&text);
    let (their_header, their_values) = read_cmdstan(CMDSTAN_VARIATIONAL);
    assert_eq!(&header[..3], &their_header[..3]);
    assert_eq!(&header[3..], ["shift", "mu", "tau", "spread.1", "spread.2"]);
    assert_eq!(values.len(), 1 + 4000);
    assert_eq!(their_values[0][..3], [0.0, 0.0, 0.0]);
    assert_eq!(values[0][..3], [0.0, 0.0, 0.0]);
    for (j, name) in ["shift", "mu", "tau", "spread[0]", "spread[1]"]
        .iter()
        .enumerate()
    {
        let col: Vec<f64> = values[1..].iter().map(|r| r[3 + j]).collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        // The first row is the draws' mean.
        assert!(
            (values[0][3 + j] - mean).abs() < 1e-6 * (1.0 + mean.abs()),
            "{name}"
        );
        let row = rows
            .iter()
            .find(|r| r["name"] == *name)
            .expect("summarized");
        let (m, sd) = (row["mean"].as_f64().unwrap(), row["sd"].as_f64().unwrap());
        // Independent draws of the same guide: within 5 Monte Carlo errors.
        assert!(
            (mean - m).abs() <= 5.0 * sd / 4000f64.sqrt() + 1e-6,
            "{name}: {mean} vs {m}"
        );
    }
    let tau: Vec<f64> = values[1..].iter().map(|r| r[5]).collect();
    let spread2: Vec<f64> = values[1..].iter().map(|r| r[7]).collect();
    assert!(
        tau.iter()
            .zip(&spread2)
            .all(|(t, s)| (2.0 * t - s).abs() < 1e-4)
    );
}

#[test]
fn stdin_data_and_models_and_the_smaller_notes() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let with_stdin = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vic"))
            .args(args)
            .current_dir(cli_support::data(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vic runs");
        // vic may refuse before reading its input (a broken pipe here): the
        // refusal is what the test checks, not the write.
        let written = child.stdin.take().unwrap().write_all(input.as_bytes());
        if let Err(e) = written {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        child.wait_with_output().unwrap()
    };
    let model = std::fs::read_to_string(cli_support::data(cli_support::MODEL)).unwrap();
    let check = with_stdin(&["check", "-"], &model);
    assert!(check.status.success(), "{}", stderr(&check));
    assert_eq!(stdout(&check), stdout(&vic(&["check", cli_support::MODEL])));
    let both = with_stdin(&["fit", "-", "--data", "-"], &model);
    assert_error(&both, "only one of the model and the data");

    let dir = scratch("cli_after_small");
    let fit = dir.join("tiny.json");
    let run = vic(&[
        "fit",
        cli_support::MODEL,
        "--data",
        cli_support::CSV,
        "--epochs",
        "2",
        "--kl",
        "analytic",
        "--flow",
        "planar:1",
        "--out",
        path(&fit),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("note: `--kl analytic` with the flow `planar(1)` (--flow)"),
        "{}",
        stderr(&run)
    );

    // Columns the model does not read, most of the file: a warning.
    let csv = std::fs::read_to_string(cli_support::data(cli_support::CSV)).unwrap();
    let wide: String = csv
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let extra: Vec<String> = (0..5)
                .map(|j| {
                    if i == 0 {
                        format!("extra{j}")
                    } else {
                        "1".into()
                    }
                })
                .collect();
            format!("{l},{}\n", extra.join(","))
        })
        .collect();
    let eval = with_stdin(&["eval", path(&fit), "--data", "-", "--iwae", "0"], &wide);
    assert!(eval.status.success(), "{}", stderr(&eval));
    assert!(
        stderr(&eval).contains("warning: the model reads only 3 of the 8 columns of `-`"),
        "{}",
        stderr(&eval)
    );
    let encode = with_stdin(
        &["encode", path(&fit), "--data", "-", "--draws", "50"],
        &csv,
    );
    assert!(encode.status.success(), "{}", stderr(&encode));
    assert_eq!(
        stdout(&encode).lines().next(),
        Some("row,mean(z[0]),sd(z[0]),mean(z[1]),sd(z[1])")
    );
}

/// Decodes a grayscale PNG: (width, height, pixels).
fn decode_png(path: &Path) -> (usize, usize, Vec<u8>) {
    decode(path, png::ColorType::Grayscale)
}

/// Decodes a PNG of `color`: (width, height, bytes).
fn decode(path: &Path, color: png::ColorType) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("the PNG exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut pixels).expect("a PNG frame");
    assert_eq!(info.color_type, color);
    pixels.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, pixels)
}

#[test]
fn digit_grids_as_png() {
    let dir = scratch("cli_after_png");
    let fit = fit(
        &dir,
        "vae",
        &example("vae.vi"),
        &example("data/digits_train.csv"),
        "10",
    );
    let grid = dir.join("grid.png");
    let out = vic(&["sample", path(&fit), "-n", "16", "--png", path(&grid)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let (w, h, pixels) = decode_png(&grid);
    // 4 x 4 cells of 8x8 digits magnified 4 times, with one-pixel lines.
    assert_eq!((w, h), (4 * 33 + 1, 4 * 33 + 1));
    let white = pixels.iter().filter(|&&p| p == 255).count();
    let black = pixels.iter().filter(|&&p| p == 0).count();
    assert!(
        white > 16 * 16 * 5 && black > 16 * 16 * 5,
        "{white} white, {black} black"
    );

    let rows = dir.join("three.csv");
    head(&example("data/digits_test.csv"), 3, |_| true, &rows);
    let pairs = dir.join("pairs.png");
    let out = vic(&[
        "sample",
        path(&fit),
        "-n",
        "2",
        "--data",
        path(&rows),
        "--png",
        path(&pairs),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (w, h, pixels) = decode_png(&pairs);
    assert_eq!((w, h), (3 * 33 + 1, 3 * 33 + 1));
    // Each line starts with the original digit.
    let digits = table(&std::fs::read_to_string(&rows).unwrap()).1;
    for (r, digit) in digits.iter().enumerate() {
        for (j, value) in digit.iter().enumerate() {
            let (y, x) = (1 + r * 33 + (j / 8) * 4, 1 + (j % 8) * 4);
            assert_eq!(
                f64::from(pixels[y * w + x]),
                255.0 * value,
                "row {r} pixel {j}"
            );
        }
    }
    let no_image = vic(&[
        "sample",
        path(&fit),
        "-n",
        "2",
        "--png",
        path(&grid),
        "--out",
        "x",
    ]);
    assert_eq!(
        no_image.status.code(),
        Some(1),
        "--png conflicts with --out"
    );
}

/// Decodes an RGB PNG: (width, height, pixels as triples).
fn decode_rgb_png(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let (w, h, bytes) = decode(path, png::ColorType::Rgb);
    (w, h, bytes.chunks(3).map(|c| [c[0], c[1], c[2]]).collect())
}

/// `vic plot` of an Adam fit of eight schools: the ELBO trace with its step-size
/// halvings marked and the densities of `mu` and `tau`, as PNG (decoded: its size and
/// the colours of the curves, the marks and the text) and as SVG.
#[test]
fn elbo_trace_and_densities_as_png_and_svg() {
    let dir = scratch("cli_after_plot");
    let fit = dir.join("schools.json");
    let run = vic(&[
        "fit",
        &example("eight_schools.vi"),
        "--data",
        &example("data/eight_schools.csv"),
        "--optimizer",
        "adam",
        "--out",
        path(&fit),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let png = dir.join("schools.png");
    let plot = vic(&["plot", path(&fit), "--out", path(&png)]);
    assert!(plot.status.success(), "{}", stderr(&plot));
    insta::assert_snapshot!(
        "plot_eight_schools",
        stdout(&plot).replace(path(&png), "schools.png")
    );
    let (w, h, pixels) = decode_rgb_png(&png);
    // Three panels of 440x280, two to a row.
    assert_eq!((w, h), (880, 560));
    let count = |rgb: [u8; 3]| pixels.iter().filter(|&&p| p == rgb).count();
    let training = count([31, 119, 180]);
    let density = count([44, 140, 60]);
    let marks = count([150, 150, 150]);
    let ink = count([0, 0, 0]);
    // The trace spans the panel's width; each density curve about as much.
    assert!(training > 350, "{training} training-ELBO pixels");
    assert!(density > 2 * 350, "{density} density pixels");
    // Six halvings, each a dashed line of about half the plot's 212 pixels.
    assert!(marks > 6 * 80, "{marks} mark pixels");
    assert!(ink > 2000, "{ink} pixels of text and ticks");
    // The right half of the second row is empty.
    assert!(
        (300..540).all(|y| (460..860).all(|x| pixels[y * w + x] == [255, 255, 255])),
        "the fourth panel is blank"
    );

    let svg = dir.join("schools.svg");
    let plot = vic(&["plot", path(&fit), "--out", path(&svg)]);
    assert!(plot.status.success(), "{}", stderr(&plot));
    let text = std::fs::read_to_string(&svg).expect("the SVG");
    assert!(
        text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"880\" height=\"560\"")
    );
    assert_eq!(text.matches("<polyline").count(), 3);
    // Six marks and the legend's sample of one.
    assert_eq!(text.matches("stroke-dasharray").count(), 7);
    for label in [
        "ELBO per row",
        "posterior of mu",
        "posterior of tau",
        "step size halved",
    ] {
        assert!(text.contains(&format!(">{label}</text>")), "{label}");
    }

    let wrong = vic(&["plot", path(&fit), "--out", path(&dir.join("x.jpg"))]);
    assert_error(&wrong, "must end in `.png` or `.svg`");
    let plot = |draws: &str| vic(&["plot", path(&fit), "--out", path(&png), "--draws", draws]);
    assert_error(&plot("0"), "`--draws` must be at least 1");
    assert_error(&plot("200000000"), "is more draws than the limit of 100000");
}

/// `fit --resume` starts from a fit file's parameters: the resumed run's first epoch
/// is as good as the first run's last, its trace counts on from the first run's, and a
/// file from another model is refused with the parameter that does not match.
#[test]
fn a_fit_resumes_from_a_fit_file() {
    let dir = scratch("cli_after_resume");
    let (model, data) = (example("vae.vi"), example("data/digits_train.csv"));
    let first = fit(&dir, "first", &model, &data, "10");
    let second = dir.join("second.json");
    let run = vic(&[
        "fit",
        &model,
        "--data",
        &data,
        "--epochs",
        "10",
        "--resume",
        path(&first),
        "--out",
        path(&second),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("note: resumed from the parameters of"),
        "{}",
        stderr(&run)
    );
    let trace = |file: &Path| -> Vec<(u64, u64, f64)> {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        json["trace"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["epoch"].as_u64().unwrap(),
                    p["step"].as_u64().unwrap(),
                    p["elbo"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (a, b) = (trace(&first), trace(&second));
    assert_eq!(a.len(), 10);
    assert_eq!(b.len(), 20);
    assert_eq!(b[..10], a[..]);
    assert_eq!((b[10].0, b[10].1), (11, a[9].1 + a[0].1));
    // The first run's ELBO climbs by nats per epoch; the resumed one goes on from its end.
    let (start, end, resumed) = (a[0].2, a[9].2, b[10].2);
    assert!(end - start > 5.0, "{start} -> {end}");
    assert!(
        (resumed - end).abs() < 0.25 * (end - start),
        "resumed at {resumed}, the first run ended at {end}, started at {start}"
    );

    let wrong = vic(&[
        "fit",
        &example("logistic.vi"),
        "--data",
        &example("data/breast_cancer.csv"),
        "--resume",
        path(&first),
    ]);
    assert_error(
        &wrong,
        "the fit file given to `--resume` does not match this model and guide: the parameter `guide.globals.loc` (1x31) is missing",
    );
    let missing = dir.join("missing.json");
    let args = ["fit", &model, "--data", &data, "--resume", path(&missing)];
    assert_error(&vic(&args), "cannot read");
}
