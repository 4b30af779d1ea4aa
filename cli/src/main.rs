//! `tollgate`: the command-line tool (DORA backfill and report).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tollgate::config::ProcessEnv;
use tollgate_cli::args::Cli;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match tollgate_cli::run(cli, &ProcessEnv).await {
        Ok(output) => {
            // A closed pipe (`tollgate dora report | head`) is not worth a panic.
            let _ = std::io::stdout().write_all(output.as_bytes());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
