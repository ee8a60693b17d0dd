//! The `cognitod` binary: parse the command line, then hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use cognitod::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cognitod::daemon::serve(args),
        Command::Install(args) => cognitod::install::run(&args),
        Command::Configure(args) => cognitod::configure::run(&args),
        Command::Check(args) => cognitod::check::run(&args),
        Command::Get(args) => Ok(cognitod::client::run(&args)),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("cognitod: {err:#}");
            ExitCode::FAILURE
        }
    }
}
