//! `agent-memory chat --session S [MESSAGE]`: talk to a model, the history kept in the
//! session store. One turn when MESSAGE is given (the reply on stdout); otherwise one turn
//! per line of stdin until it ends.
//!
//! Errors go to stderr on one line: exit code 2 for input the user must fix (a bad session
//! id, provider or `--db`, no LLM configured), 1 when the model or the database fails.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use agent_memory::agent::{Agent, AgentError};
use agent_memory::llm::{ChatModel, LlmConfig, LlmError, Provider};
use agent_memory::session::{SessionError, open_sessions, validate_session_id};

use crate::sessions::DEFAULT_SESSION_DB;

#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    /// The conversation to continue (created on first use).
    #[arg(long)]
    session: String,
    /// The LLM provider: openai, anthropic, ollama, openrouter, groq or openai-compatible
    /// (default: detected from AGENT_MEMORY_LLM_PROVIDER and the API-key variables).
    #[arg(long)]
    provider: Option<String>,
    /// The model name (default: AGENT_MEMORY_LLM_MODEL, else the provider's default).
    #[arg(long)]
    model: Option<String>,
    /// The API's base URL, for OpenAI-compatible servers (vLLM, llama.cpp, Ollama…).
    #[arg(long)]
    base_url: Option<String>,
    /// The system prompt, sent first in every call (not stored in the session).
    #[arg(long)]
    system: Option<String>,
    /// The session store: sqlite:PATH (or a bare path) or memory:; the store's database by default.
    #[arg(long, env = "AGENT_MEMORY_DATABASE_URL", default_value = DEFAULT_SESSION_DB)]
    db: String,
    /// The message to send; without it, each line of stdin is one turn.
    message: Option<String>,
}

/// Why `chat` stopped: `Usage` is the user's to fix (exit 2), `Runtime` is not (exit 1).
enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<SessionError> for Failure {
    fn from(error: SessionError) -> Failure {
        match error {
            SessionError::InvalidId { .. } | SessionError::Config(_) => Failure::Usage(error.to_string()),
            other => Failure::Runtime(other.to_string()),
        }
    }
}

fn agent_failure(error: AgentError) -> Failure {
    match error {
        AgentError::Llm(LlmError::NotConfigured(_)) => Failure::Usage(error.to_string()),
        AgentError::Session(error) => error.into(),
        other => Failure::Runtime(other.to_string()),
    }
}

/// The model from the flags, filling what they leave out from the environment.
fn model(args: &ChatArgs) -> Result<Arc<dyn ChatModel>, LlmError> {
    let provider = args.provider.as_deref().map(Provider::parse).transpose()?;
    let mut config = match provider {
        Some(provider) => {
            let default = match provider {
                Provider::Anthropic => LlmConfig::DEFAULT_ANTHROPIC_MODEL,
                _ => LlmConfig::DEFAULT_MODEL,
            };
            let model = std::env::var(LlmConfig::MODEL_VAR).ok().filter(|m| !m.trim().is_empty());
            LlmConfig::from_env(provider, model.unwrap_or_else(|| default.to_owned()))
        }
        None => match LlmConfig::detect() {
            Ok(config) => config,
            // A base URL alone means an OpenAI-compatible server.
            Err(_) if args.base_url.is_some() => LlmConfig::from_env(
                Provider::OpenAiCompatible,
                args.model.clone().unwrap_or_else(|| LlmConfig::DEFAULT_MODEL.to_owned()),
            ),
            Err(error) => return Err(error),
        },
    };
    if let Some(model) = &args.model {
        config.model = model.clone();
    }
    if let Some(base_url) = &args.base_url {
        config.base_url = Some(base_url.clone());
    }
    config.connect()
}

async fn execute(args: ChatArgs) -> Result<(), Failure> {
    validate_session_id(&args.session)?;
    let model = model(&args).map_err(|e| Failure::Usage(e.to_string()))?;
    let sessions = open_sessions(&args.db).await?;
    let mut builder = Agent::builder(model).sessions(sessions);
    if let Some(system) = &args.system {
        builder = builder.system(system.clone());
    }
    let agent = builder.build().map_err(agent_failure)?;
    if let Some(message) = &args.message {
        let run = agent.run(message, Some(&args.session)).await.map_err(agent_failure)?;
        println!("{}", run.reply);
        return Ok(());
    }
    let interactive = std::io::stdin().is_terminal();
    let mut lines = std::io::stdin().lock().lines();
    loop {
        if interactive {
            eprint!("> ");
            let _ = std::io::stderr().flush();
        }
        let Some(line) = lines.next() else { return Ok(()) };
        let line = line.map_err(|e| Failure::Runtime(format!("cannot read stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let run = agent.run(&line, Some(&args.session)).await.map_err(agent_failure)?;
        println!("{}", run.reply);
    }
}

/// Runs `chat`.
pub(crate) fn run(args: ChatArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("agent-memory chat: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("agent-memory chat: {}", message.replace('\n', " "));
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("agent-memory chat: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
