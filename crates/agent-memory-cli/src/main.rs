//! `agent-memory`: the command-line program and service.
//!
//! A thin shell over the `agent_memory` library: parse arguments, call the library,
//! print JSON, map errors to exit codes (2 for bad input).

mod serve;
mod store;

use std::process::ExitCode;

use clap::Parser;

/// The memory layer for LLM agents.
#[derive(Debug, Parser)]
#[command(name = "agent-memory", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the version and exit.
    Version,
    /// Run the REST service (by default on 127.0.0.1:8080 with a SQLite file in the
    /// working directory and the built-in embedder).
    Serve(serve::ServeArgs),
    /// The long-term memory store: put, get, delete, list, search, namespaces, count, purge.
    Store(store::StoreArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("agent-memory {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Serve(args) => run_serve(args),
        Command::Store(args) => store::run(args),
    }
}

fn run_serve(args: serve::ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("agent-memory: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("agent-memory: {error:#}");
            if error.is::<serve::ConfigError>() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}
