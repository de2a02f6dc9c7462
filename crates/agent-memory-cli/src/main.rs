//! `agent-memory`: the command-line program and service.
//!
//! A thin shell over the `agent_memory` library: parse arguments, call the library,
//! print JSON, map errors to exit codes (2 for bad input).

mod conversations;
mod embed;
mod eval;
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
    /// Embed texts (one per line) and print one JSON vector per line.
    Embed(embed::EmbedArgs),
    /// The long-term memory store: put, get, delete, list, search, namespaces, count, purge.
    Store(store::StoreArgs),
    /// Past conversations: import (JSONL), search, sessions, delete.
    Conversations(conversations::ConversationsArgs),
    /// Retrieval benchmarks (LoCoMo).
    Eval(eval::EvalArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("agent-memory {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Embed(args) => match embed::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(embed::Failure::Usage(e)) => {
                eprintln!("agent-memory embed: {e:#}");
                ExitCode::from(2)
            }
            Err(embed::Failure::Runtime(e)) => {
                eprintln!("agent-memory embed: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Store(args) => store::run(args),
        Command::Conversations(args) => conversations::run(args),
        Command::Eval(args) => eval::run(args),
    }
}
