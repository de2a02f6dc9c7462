//! `agent-memory tokens …`: token counting.

use std::path::PathBuf;

use agent_memory::message::messages_from_value;
use agent_memory::models::counter_for_model;
use agent_memory::tokens::{ApproximateCounter, TokenCount, TokenCounter};
use serde_json::Value;

use crate::BadInput;
use crate::input::read_input;

/// Token counting.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokensCommand {
    /// Print the number of tokens of the input.
    ///
    /// A JSON array of messages is counted as a chat request (with the per-message
    /// framing); anything else is counted as plain text. Without --model, or for a model
    /// whose tokenizer is not available, the count is approximate and a note on stderr
    /// says so.
    Count {
        /// The model whose tokenizer counts (e.g. gpt-4o, gpt-4, claude-sonnet-4-5).
        #[arg(long)]
        model: Option<String>,
        /// The input file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
}

pub(crate) fn run(command: TokensCommand) -> Result<(), BadInput> {
    match command {
        TokensCommand::Count { model, file } => {
            let input = read_input(file.as_deref())?;
            let counter = match &model {
                Some(model) => counter_for_model(model),
                None => std::sync::Arc::new(ApproximateCounter),
            };
            let count = count(&input, counter.as_ref())?;
            if !count.exact {
                let reason = match &model {
                    Some(model) => format!("no tokenizer for model {model:?} here"),
                    None => "no --model given".to_owned(),
                };
                eprintln!("note: approximate count ({reason})");
            }
            println!("{}", count.tokens);
            Ok(())
        }
    }
}

/// Counts `input` as a chat when it is a JSON array of objects, else as plain text.
fn count(input: &str, counter: &dyn TokenCounter) -> Result<TokenCount, BadInput> {
    match serde_json::from_str::<Value>(input) {
        Ok(Value::Array(items)) if items.iter().all(Value::is_object) => {
            let messages =
                messages_from_value(Value::Array(items)).map_err(|err| BadInput(format!("invalid messages: {err}")))?;
            Ok(counter.count_messages(&messages))
        }
        _ => Ok(counter.count_text(input)),
    }
}
