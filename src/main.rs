//! The `vic` binary: everything happens in `vic::cli`.

fn main() -> std::process::ExitCode {
    vic::cli::main()
}
