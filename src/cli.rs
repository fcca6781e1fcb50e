//! The `vic` command line: clap commands that call the library. This is the only module
//! that prints or decides the exit status.
//!
//! Subcommands are variants of [`Command`]; each has one `run_*` function.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::check::summary;
use crate::source::load;

#[derive(Debug, Parser)]
#[command(
    name = "vic",
    version,
    about = "A probabilistic-programming language with automatic amortized variational inference"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and check a model, and print a summary of it and of its guide.
    Check {
        /// The `.vi` model file.
        model: PathBuf,
    },
}

/// Why a command stopped: an error to report, or a closed stdout (quietly fine).
enum Failure {
    Error(crate::error::Error),
    Output(io::Error),
}

impl From<crate::error::Error> for Failure {
    fn from(error: crate::error::Error) -> Failure {
        Failure::Error(error)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Output(error)
    }
}

/// Runs `vic` with the process's arguments and returns its exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Check { model } => run_check(&model),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(Failure::Output(error)) => {
            let _ = writeln!(io::stderr(), "error: cannot write the output: {error}");
            ExitCode::FAILURE
        }
        Err(Failure::Error(error)) => {
            let text = error.to_string();
            let text = if text.starts_with("error") {
                text
            } else {
                format!("error: {text}")
            };
            let _ = writeln!(io::stderr(), "{}", text.trim_end());
            ExitCode::FAILURE
        }
    }
}

fn run_check(path: &std::path::Path) -> Result<(), Failure> {
    let loaded = load(path)?;
    if !loaded.warnings.is_empty() {
        let _ = write!(io::stderr(), "{}", loaded.render_warnings());
    }
    let mut out = io::stdout().lock();
    write!(out, "{}", summary(&loaded.info))?;
    out.flush()?;
    Ok(())
}
