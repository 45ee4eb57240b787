//! The `jwtx` binary: parse the command line, run it.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    jwtx_server::execute(&jwtx_server::cli::Cli::parse())
}
