//! `agent-memory context …`: trimming and fitting conversations.

use std::path::PathBuf;
use std::sync::Arc;

use agent_memory::context::{ContextResult, FitOptions, fit_context};
use agent_memory::message::{Message, Role, messages_to_value, parse_messages};
use agent_memory::models::counter_for_model;
use agent_memory::tokens::{ApproximateCounter, TokenCounter};
use agent_memory::trim::{TrimOptions, TrimStrategy, trim_messages};
use serde_json::json;

use crate::BadInput;
use crate::input::read_input;

/// Trimming and fitting conversations (JSON arrays of OpenAI-style messages).
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ContextCommand {
    /// Trim messages and print the kept ones as a JSON array.
    ///
    /// A tool call and its results are kept or dropped together; system messages are kept
    /// unless --no-preserve-system; the token budget is never exceeded.
    Trim {
        /// Which messages to keep: last, first or token.
        #[arg(long)]
        strategy: TrimStrategy,
        /// The most messages to keep, system messages aside (required for last and first).
        #[arg(long)]
        max_messages: Option<usize>,
        /// The most tokens the result may have (required for token).
        #[arg(long)]
        max_tokens: Option<usize>,
        /// The model whose tokenizer counts (approximate counting without it).
        #[arg(long)]
        model: Option<String>,
        /// Treat system messages like the others.
        #[arg(long)]
        no_preserve_system: bool,
        /// For last and token: drop the oldest kept messages until one has this role (user
        /// keeps a trimmed conversation from opening with an answer).
        #[arg(long, value_parser = parse_role)]
        start_on: Option<Role>,
        /// The messages file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
    /// Fit messages into a token budget and print the result as a JSON object.
    ///
    /// Prints {"messages", "action" (none|trimmed), "tokens", "exact", "summary",
    /// "original_count", "final_count", "summarized_count"}.
    Fit {
        /// The token budget.
        #[arg(long)]
        max_tokens: usize,
        /// The model whose tokenizer counts (approximate counting without it).
        #[arg(long)]
        model: Option<String>,
        /// The messages file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
}

pub(crate) fn run(command: ContextCommand) -> Result<(), BadInput> {
    match command {
        ContextCommand::Trim { strategy, max_messages, max_tokens, model, no_preserve_system, start_on, file } => {
            let messages = read_messages(file)?;
            let mut options =
                TrimOptions::new(strategy).with_preserve_system(!no_preserve_system).with_counter(counter(model));
            options.max_messages = max_messages;
            options.max_tokens = max_tokens;
            options.start_on = start_on;
            let trimmed = trim_messages(&messages, &options).map_err(|err| BadInput(err.to_string()))?;
            println!("{}", messages_to_value(&trimmed));
            Ok(())
        }
        ContextCommand::Fit { max_tokens, model, file } => {
            let messages = read_messages(file)?;
            let options = FitOptions::new().with_counter(counter(model));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|err| BadInput(format!("cannot start the runtime: {err}")))?;
            let result = runtime
                .block_on(fit_context(&messages, max_tokens, &options))
                .map_err(|err| BadInput(err.to_string()))?;
            println!("{}", result_to_json(&result));
            Ok(())
        }
    }
}

fn read_messages(file: Option<PathBuf>) -> Result<Vec<Message>, BadInput> {
    let input = read_input(file.as_deref())?;
    parse_messages(&input).map_err(|err| BadInput(format!("invalid messages: {err}")))
}

fn counter(model: Option<String>) -> Arc<dyn TokenCounter> {
    match model {
        Some(model) => counter_for_model(&model),
        None => Arc::new(ApproximateCounter),
    }
}

fn result_to_json(result: &ContextResult) -> serde_json::Value {
    json!({
        "messages": messages_to_value(&result.messages),
        "action": result.action.as_str(),
        "tokens": result.tokens.tokens,
        "exact": result.tokens.exact,
        "summary": result.summary,
        "original_count": result.original_count,
        "final_count": result.final_count,
        "summarized_count": result.summarized_count,
    })
}

fn parse_role(name: &str) -> Result<Role, String> {
    Role::parse(name).map_err(|error| error.to_string())
}
