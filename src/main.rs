//! The `vic` binary: everything happens in `vic::cli`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

fn main() -> std::process::ExitCode {
    vic::cli::main()
}
