//! The `propusk` binary: parses the command line and hands over to `cli`.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    propusk::cli::run(propusk::cli::Cli::parse())
}
