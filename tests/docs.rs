//! Every code block of `docs/language.md`, and every model block of `README.md`, is a
//! test, so the reference cannot drift from the code.
//!
//! Blocks are told apart by their info string:
//! - `vi`: the model checks; its warnings are exactly those its `# warning: TEXT` lines name;
//! - `vi,error`: the model fails to check with every `# error: TEXT` line it holds (one at least);
//! - `vi,pending`: a model for a feature not merged yet; counted, not checked;
//! - `csv` / `csv,error`: data for the last `vi` block above; `vic fit --epochs 1` succeeds / fails;
//! - `text,output`: exactly what the block before it printed (diagnostics or stderr);
//! - `json`: parses as JSON; `sh`: every `--flag` of a `vic` command line exists; `text`: prose.
//!
//! Besides the blocks: every shipped example appears verbatim, every option of every
//! command and every distribution the checker knows is named in the reference. The
//! test reads files and runs the real binary a few times; it never trains for long.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vic::source::analyze;

const REFERENCE: &str = "docs/language.md";
const COMMANDS: [&str; 10] = [
    "check", "graph", "fit", "eval", "sample", "encode", "predict", "summary", "draws", "plot",
];

/// One fenced code block.
struct Block {
    file: &'static str,
    /// The line of its opening fence, 1-based.
    line: usize,
    tag: String,
    text: String,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{} (```{})", self.file, self.line, self.tag)
    }

    /// The `TEXT` of every `# KIND: TEXT` comment line.
    fn expected(&self, kind: &str) -> Vec<String> {
        let prefix = format!("# {kind}: ");
        self.text
            .lines()
            .filter_map(|l| l.trim().strip_prefix(&prefix).map(str::to_string))
            .collect()
    }
}

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

/// The fenced blocks of a Markdown text: a line starting with three backticks opens a
/// block and the next line of exactly three backticks closes it.
fn blocks(file: &'static str, markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut open {
            None => {
                if let Some(tag) = line.strip_prefix("```")
                    && !tag.starts_with('`')
                {
                    open = Some(Block {
                        file,
                        line: i + 1,
                        tag: tag.trim().to_string(),
                        text: String::new(),
                    });
                }
            }
            Some(block) => {
                if line.trim_end() == "```" {
                    out.extend(open.take());
                } else {
                    block.text.push_str(line);
                    block.text.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "{file}: a code block is never closed");
    out
}

fn vic(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vic"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn help(command: &str) -> String {
    let out = vic(&[command, "--help"], Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(out.status.success(), "vic {command} --help fails");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The options `vic COMMAND --help` lists, `--help` aside: `--data`, `-n`, ... They
/// are the leading words of the lines that start with `-`.
fn options(help: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in help.lines() {
        let words = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .take_while(|w| w.starts_with('-'));
        for word in words {
            if !["-h", "--help", "-V", "--version"].contains(&word)
                && !found.iter().any(|f| f == word)
            {
                found.push(word.to_string());
            }
        }
    }
    found
}

/// A fresh directory for one block's files.
fn scratch(n: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("docs-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The output of the last checked block, for a following `text,output` block.
struct Last {
    at: String,
    output: String,
}

#[derive(Default)]
struct Counts {
    checked: usize,
    pending: usize,
}

/// Checks the blocks of one file in order.
fn check_blocks(blocks: &[Block], strict: bool, counts: &mut Counts) {
    let mut model: Option<&Block> = None;
    let mut last: Option<Last> = None;
    for (n, block) in blocks.iter().enumerate() {
        let at = block.at();
        let output = match block.tag.as_str() {
            "vi" => {
                assert!(
                    block.expected("error").is_empty(),
                    "{at}: `# error:` in a good model"
                );
                let loaded = analyze("model.vi", block.text.clone())
                    .unwrap_or_else(|e| panic!("{at}: the model does not check:\n{e}"));
                let rendered = loaded.render_warnings();
                let wanted = block.expected("warning");
                assert_eq!(
                    loaded.warnings.len(),
                    wanted.len(),
                    "{at}: warnings other than announced:\n{rendered}"
                );
                for w in &wanted {
                    assert!(
                        rendered.contains(&format!("warning: {w}")),
                        "{at}: no warning `{w}`:\n{rendered}"
                    );
                }
                model = Some(block);
                Some(rendered)
            }
            "vi,error" => {
                let wanted = block.expected("error");
                assert!(
                    !wanted.is_empty(),
                    "{at}: an error block names no `# error:`"
                );
                let rendered = match analyze("model.vi", block.text.clone()) {
                    Ok(_) => panic!("{at}: the model checks, but should fail"),
                    Err(e) => e.to_string(),
                };
                for kind in ["error", "warning"] {
                    for w in block.expected(kind) {
                        assert!(
                            rendered.contains(&format!("{kind}: {w}")),
                            "{at}: no {kind} `{w}`:\n{rendered}"
                        );
                    }
                }
                Some(rendered)
            }
            "vi,pending" => {
                counts.pending += 1;
                None
            }
            "csv" | "csv,error" => {
                let model = model.unwrap_or_else(|| panic!("{at}: no `vi` block above"));
                let dir = scratch(n);
                std::fs::write(dir.join("model.vi"), &model.text).expect("write the model");
                std::fs::write(dir.join("data.csv"), &block.text).expect("write the data");
                let out = vic(
                    &["fit", "model.vi", "--data", "data.csv", "--epochs", "1"],
                    &dir,
                );
                let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                let _ = std::fs::remove_dir_all(&dir);
                let fails = block.tag == "csv,error";
                assert_eq!(
                    !out.status.success(),
                    fails,
                    "{at}: `vic fit` with the model of {}:{} {}:\n{stderr}",
                    model.file,
                    model.line,
                    if fails {
                        "succeeds, but should fail"
                    } else {
                        "fails"
                    }
                );
                Some(stderr)
            }
            "text,output" => {
                let Last { at: source, output } = last
                    .take()
                    .unwrap_or_else(|| panic!("{at}: no checked block before it"));
                assert_eq!(
                    output.trim_end(),
                    block.text.trim_end(),
                    "{at}: not what {source} prints"
                );
                None
            }
            "json" => {
                serde_json::from_str::<serde_json::Value>(&block.text)
                    .unwrap_or_else(|e| panic!("{at}: not JSON: {e}"));
                None
            }
            "sh" => {
                check_command_lines(block);
                None
            }
            "text" => None,
            other if strict => panic!("{at}: unknown code block tag `{other}`"),
            _ => {
                continue;
            }
        };
        counts.checked += 1;
        last = output.map(|output| Last {
            at: at.clone(),
            output,
        });
    }
}

/// Every `--flag` on a `vic COMMAND ...` line is an option of that command.
fn check_command_lines(block: &Block) {
    for line in block.text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        if words.next() != Some("vic") {
            continue;
        }
        let command = words
            .next()
            .unwrap_or_else(|| panic!("{}: `vic` without a command", block.at()));
        assert!(
            COMMANDS.contains(&command),
            "{}: unknown command `{command}`",
            block.at()
        );
        let known = options(&help(command));
        for word in words {
            let word = word.trim_matches(|c| c == '[' || c == ']');
            let flag = word.split('=').next().unwrap_or(word);
            if flag.starts_with('-') && flag.len() > 1 {
                assert!(
                    known.iter().any(|k| k == flag),
                    "{}: `vic {command}` has no option `{flag}`",
                    block.at()
                );
            }
        }
    }
}

#[test]
fn every_code_block_is_what_the_code_does() {
    let mut counts = Counts::default();
    check_blocks(&blocks(REFERENCE, &read(REFERENCE)), true, &mut counts);
    check_blocks(&blocks("README.md", &read("README.md")), false, &mut counts);
    println!(
        "docs: {} code blocks checked, {} pending",
        counts.checked, counts.pending
    );
    assert!(
        counts.checked > 20,
        "only {} code blocks were checked",
        counts.checked
    );
}

#[test]
fn the_shipped_examples_appear_verbatim() {
    let reference = blocks(REFERENCE, &read(REFERENCE));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut examples = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "vi") {
            let text = std::fs::read_to_string(&path).expect("an example");
            assert!(
                reference.iter().any(|b| b.tag == "vi" && b.text == text),
                "{REFERENCE} has no ```vi block equal to {}",
                path.display()
            );
            examples += 1;
        }
    }
    assert!(examples >= 4, "found {examples} examples");
}

#[test]
fn every_option_of_every_command_is_described() {
    let reference = read(REFERENCE);
    for command in COMMANDS {
        assert!(
            reference.contains(&format!("### vic {command}")),
            "no section for `vic {command}`"
        );
        for option in options(&help(command)) {
            assert!(
                reference.contains(&format!("`{option} "))
                    || reference.contains(&format!("`{option}`")),
                "{REFERENCE} does not describe `vic {command} {option}`"
            );
        }
    }
}

#[test]
fn every_distribution_is_in_the_table() {
    let reference = read(REFERENCE);
    // The checker lists the distributions it knows when a name is nothing like any.
    let error = match analyze("m.vi", "data y: real\ny ~ Qxzqxzqxz(0)\n".to_string()) {
        Ok(_) => panic!("an unknown distribution checks"),
        Err(e) => e.to_string(),
    };
    let list = error
        .split("the distributions are ")
        .nth(1)
        .unwrap_or_else(|| panic!("the checker no longer lists its distributions:\n{error}"));
    let list = list.lines().next().unwrap_or("");
    let names: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    assert!(names.len() >= 10, "read only {names:?} from {list}");
    for name in names {
        assert!(
            reference.contains(&format!("| `{name}` |")),
            "{REFERENCE}'s distribution table has no row for `{name}`"
        );
    }
}
