//! The `vic` command line. This is the only module that prints or decides the exit
//! status.
//!
//! Raw arguments ([`args`]) become validated configuration ([`config`]) before any
//! file is read; each subcommand is one function in [`commands`]; [`report`] formats
//! what they show; [`error`] is the aggregate error every layer's error converts into.

mod args;
mod commands;
mod config;
mod error;
mod report;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use error::Error;

/// The exit status after Ctrl-C, as shells report a process ended by SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

/// Why a command stopped: an error to report, a closed stdout (quietly fine), or a
/// Ctrl-C that ended a fit early (its message already said what was kept).
enum Failure {
    Error(Error),
    Output(io::Error),
    Interrupted(String),
}

impl<E: Into<Error>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::Error(error.into())
    }
}

impl Failure {
    /// Output errors, from stdout or the csv writer.
    fn output(error: impl Into<io::Error>) -> Failure {
        Failure::Output(error.into())
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
        Command::Check { model } => commands::check(&model),
        Command::Graph(args) => config::GraphConfig::try_from(args)
            .map_err(Failure::from)
            .and_then(|c| commands::graph(&c)),
        Command::Fit(args) => config::FitConfig::try_from(args)
            .map_err(Failure::from)
            .and_then(|c| commands::fit(&c)),
        Command::Eval(args) => config::EvalConfig::try_from(args)
            .map_err(Failure::from)
            .and_then(|c| commands::eval(&c)),
        Command::Sample(args) => commands::sample(&args.into()),
        Command::Encode(args) => config::RowsConfig::try_from(args)
            .map_err(Failure::from)
            .and_then(|c| commands::encode(&c)),
        Command::Predict(args) => config::RowsConfig::try_from(args)
            .map_err(Failure::from)
            .and_then(|c| commands::predict(&c)),
        Command::Summary(args) => commands::summary(&args.into()),
        Command::Draws(args) => config::DrawsConfig::try_from(args)
            .map_err(Failure::from)
            .and_then(|c| commands::draws(&c)),
        Command::Plot(args) => config::PlotConfig::try_from(args)
            .map_err(Failure::from)
            .and_then(|c| commands::plot(&c)),
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
        Err(Failure::Interrupted(message)) => {
            let _ = writeln!(io::stderr(), "{message}");
            ExitCode::from(EXIT_INTERRUPTED)
        }
        Err(Failure::Error(error)) => {
            let text = error.to_string();
            // A rendered diagnostic list (a model's errors, which may start with one of its
            // warnings) carries its own `error:`/`warning:` headers.
            let text = if error.is_rendered() || text.starts_with("error") {
                text
            } else {
                format!("error: {text}")
            };
            let _ = writeln!(io::stderr(), "{}", text.trim_end());
            ExitCode::FAILURE
        }
    }
}
