//! The `cognitod` binary: parse the command line, then hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use cognitod::cli::{Cli, Command};

fn main() -> ExitCode {
    // The very first thing, before the arguments are even parsed: every subcommand handles a
    // secret (the daemon's passwords and credentials, `get`'s shared secret and answer,
    // `configure`'s password), and the sooner the process is undumpable (no core dumps, no
    // ptrace attach by other processes of the same user), the shorter the window after exec in
    // which such a process could attach. serve warns if this failed.
    let _ = nix::sys::prctl::set_dumpable(false);
    // Still single-threaded: the one moment the environment may be changed.
    cognitod::cognito::drop_empty_endpoint_variables();
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
