//! `agent-memory`: the command-line program and service.
//!
//! A thin shell over the `agent_memory` library: parse arguments, call the library,
//! print JSON, map errors to exit codes (2 for bad input).

mod chat;
mod context_cmd;
mod conversations;
mod embed;
mod eval;
mod input;
mod mcp;
mod outcome;
mod serve;
mod sessions;
mod store;
mod tokens_cmd;
mod transfer_cmd;

use std::process::ExitCode;

use clap::Parser;
use outcome::{Described, EXIT_BAD_INPUT};

/// mimalloc instead of the system allocator: a request allocates and frees many small
/// buffers (JSON, rows, candidate lists) on two worker threads, where glibc's malloc spent
/// 8-9% of a search's server CPU (`bench/load/README.md`, "Session 10"). Built without
/// transparent huge pages (`no_thp`): with them, the indexes' relayouts (new arrays of
/// 100+ MB, under their write lock) faulted in and zeroed 2 MB pages and took 2-4x longer.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Serve the memory tools (remember, recall_memories, forget) over MCP on stdio.
    Mcp(mcp::stdio::McpArgs),
    /// The long-term memory store: put, get, delete, list, search, namespaces, count, purge.
    Store(store::StoreArgs),
    /// Count tokens.
    #[command(subcommand)]
    Tokens(tokens_cmd::TokensCommand),
    /// Trim or fit conversations.
    #[command(subcommand)]
    Context(context_cmd::ContextCommand),
    /// Embed texts (one per line) and print one JSON vector per line.
    Embed(embed::EmbedArgs),
    /// Past conversations: import (JSONL), search, sessions, delete.
    Conversations(conversations::ConversationsArgs),
    /// Retrieval benchmarks (LoCoMo).
    Eval(eval::EvalArgs),
    /// Chat with an LLM, the conversation kept in a session (one turn, or one per stdin line).
    Chat(chat::ChatArgs),
    /// The chat sessions: list, show S, delete S (JSON output).
    Sessions(sessions::SessionsArgs),
    /// Write a versioned JSONL dump of the database: items, conversations, sessions.
    Export(transfer_cmd::ExportArgs),
    /// Read a dump into the database (re-embedding what another embedder made).
    Import(transfer_cmd::ImportArgs),
}

/// Input the user must fix: reported as one line on stderr, exit code 2.
#[derive(Debug)]
struct BadInput(String);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("{}", one_line(&err.to_string()));
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let result = match cli.command {
        Command::Version => {
            println!("agent-memory {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Tokens(command) => tokens_cmd::run(command),
        Command::Context(command) => context_cmd::run(command),
        Command::Serve(args) => return run_serve(args),
        Command::Store(args) => return store::run(args),
        Command::Conversations(args) => return conversations::run(args),
        Command::Eval(args) => return eval::run(args),
        Command::Mcp(args) => return run_mcp(args),
        Command::Embed(args) => {
            return outcome::exit(
                "agent-memory embed",
                embed::run(args).map_err(|failure| match failure {
                    embed::Failure::Usage(error) => Described::new(&error, true),
                    embed::Failure::Runtime(error) => Described::new(&error, false),
                }),
            );
        }
        Command::Chat(args) => return chat::run(args),
        Command::Sessions(args) => return sessions::run(args),
        Command::Export(args) => return transfer_cmd::export(args),
        Command::Import(args) => return transfer_cmd::import(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(BadInput(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn run_serve(args: serve::ServeArgs) -> ExitCode {
    outcome::run_multi_thread("agent-memory", async {
        serve::run(args).await.map_err(|error| Described::new(&error, error.is::<serve::ConfigError>()))
    })
}

fn run_mcp(args: mcp::stdio::McpArgs) -> ExitCode {
    outcome::run_multi_thread("agent-memory mcp", async {
        mcp::stdio::run(args).await.map_err(|error| Described::new(&error, mcp::stdio::is_config_error(&error)))
    })
}

/// The first paragraph of a clap error (before its usage and help hints) on one line.
fn one_line(rendered: &str) -> String {
    let lines: Vec<&str> =
        rendered.lines().map(str::trim).take_while(|line| !line.is_empty()).filter(|line| !line.is_empty()).collect();
    if lines.is_empty() { "error: invalid arguments".to_owned() } else { lines.join(" ") }
}
