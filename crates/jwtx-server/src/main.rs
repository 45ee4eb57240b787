//! The `jwtx` binary: parse the command line, run it.

use clap::Parser;

fn main() -> std::process::ExitCode {
    jwtx_server::execute(&jwtx_server::cli::Cli::parse())
}
