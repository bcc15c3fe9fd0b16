//! The `propusk` binary: parses the command line and hands over to `cli`.

use clap::Parser as _;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    propusk::cli::run(propusk::cli::Cli::parse())
}
