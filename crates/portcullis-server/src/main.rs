//! The `portcullis` binary: parses the command line and runs one command of
//! [`portcullis_server::cli`] on a multi-threaded runtime.
//!
//! Every failure ends with one line on standard error naming the problem and a non-zero exit
//! status; nothing here panics on bad input.

use std::process::ExitCode;

use clap::Parser as _;
use portcullis_server::cli::{Cli, run};
use portcullis_server::config::one_line_error;

/// mimalloc instead of glibc's malloc: under load glibc's malloc, free and their consolidation
/// took about 12 % of the server's CPU samples (docs/BENCHMARKS.md, "Where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("portcullis: error: {}", one_line_error(e));
    ExitCode::FAILURE
}
