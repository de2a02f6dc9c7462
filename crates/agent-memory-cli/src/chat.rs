//! `agent-memory chat --session S [MESSAGE]`: talk to a model, the history kept in the
//! session store. One turn when MESSAGE is given (the reply on stdout); otherwise one turn
//! per line of stdin until it ends.
//!
//! Conversation memory: when the database holds indexed past conversations of `--user`
//! (`agent-memory conversations import`, or earlier `chat --remember` runs), the model gets
//! the `recall_past_conversations` tool over them. With `--remember`, the session is
//! indexed as one of the user's conversations when the chat ends (re-indexing a session
//! replaces it).
//!
//! Errors go to stderr on one line: exit code 2 for input the user must fix (a bad session
//! id, provider or `--db`, no LLM configured), 1 when the model or the database fails.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use agent_memory::agent::{Agent, AgentError};
use agent_memory::embed::{EmbedderOptions, from_spec};
use agent_memory::llm::{ChatModel, LlmConfig, LlmError, Provider};
use agent_memory::recall::{ConversationMemory, RecallError, create_memory_tool, date_of_unix_seconds};
use agent_memory::session::{SessionError, SessionStore, open_sessions, validate_session_id};
use serde_json::{Map, Value};

use crate::outcome::{self, CommandError};
use crate::serve::config::{KeywordStatisticsArgs, VectorIndexArgs};
use crate::serve::open_store_url;
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
    /// Whose past conversations the recall tool searches and `--remember` adds to
    /// (default: AGENT_MEMORY_USER, else the login name from USER or USERNAME, else
    /// "default").
    #[arg(long)]
    user: Option<String>,
    /// The embedder of the conversation memory, as in `agent-memory conversations`
    /// (default: the built-in one; `none`: keyword search only). Use the one the
    /// conversations were imported with.
    #[arg(long, env = "AGENT_MEMORY_EMBEDDER", value_name = "NAME")]
    embedder: Option<String>,
    /// When the chat ends, index this session as one of the user's past conversations.
    #[arg(long)]
    remember: bool,
    /// Never give the model the recall tool.
    #[arg(long)]
    no_recall: bool,
    /// The message to send; without it, each line of stdin is one turn.
    message: Option<String>,
    #[command(flatten)]
    vector_index: VectorIndexArgs,
    #[command(flatten)]
    keyword_statistics: KeywordStatisticsArgs,
}

/// Why `chat` stopped: `Usage` is the user's to fix (exit 2), `Runtime` is not (exit 1).
enum Failure {
    Usage(String),
    Runtime(String),
}

impl CommandError for Failure {
    fn message(&self) -> String {
        match self {
            Failure::Usage(message) | Failure::Runtime(message) => message.clone(),
        }
    }

    fn is_bad_input(&self) -> bool {
        matches!(self, Failure::Usage(_))
    }
}

impl From<SessionError> for Failure {
    fn from(error: SessionError) -> Failure {
        if error.is_bad_input() { Failure::Usage(error.to_string()) } else { Failure::Runtime(error.to_string()) }
    }
}

impl From<RecallError> for Failure {
    fn from(error: RecallError) -> Failure {
        let message = format!("conversation memory: {error}");
        if error.is_invalid_input() { Failure::Usage(message) } else { Failure::Runtime(message) }
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

/// The user whose conversations are recalled: `--user`, else the environment, else
/// `"default"`.
fn user_id(args: &ChatArgs) -> String {
    let from_env = || {
        ["AGENT_MEMORY_USER", "USER", "USERNAME"]
            .into_iter()
            .find_map(|var| std::env::var(var).ok().filter(|value| !value.trim().is_empty()))
    };
    args.user.clone().or_else(from_env).unwrap_or_else(|| DEFAULT_USER.to_owned())
}

/// The user id when neither `--user` nor the environment names one.
const DEFAULT_USER: &str = "default";

/// The conversation memory in the chat's database, with the embedder from `--embedder`;
/// `None` for an in-process database (it would always be empty) or when neither recall nor
/// `--remember` needs it.
async fn conversation_memory(args: &ChatArgs) -> Result<Option<ConversationMemory>, Failure> {
    if (args.no_recall && !args.remember) || args.db == "memory" || args.db == "memory:" {
        return Ok(None);
    }
    let vector_index = args.vector_index.resolve().map_err(|error| Failure::Usage(error.to_string()))?;
    let store =
        open_store_url(&args.db, &vector_index, args.keyword_statistics.resolve()).await.map_err(RecallError::from)?;
    let memory = match args.embedder.as_deref() {
        Some("none") => ConversationMemory::new(store.without_embedder()),
        Some(spec) => {
            let embedder = from_spec(spec, &EmbedderOptions::new())
                .map_err(|error| Failure::Usage(format!("embedder {spec:?}: {error}")))?;
            ConversationMemory::new(store).with_embedder(embedder)
        }
        None => ConversationMemory::new(store),
    };
    Ok(Some(memory))
}

/// Indexes the session's stored history as one of `user`'s past conversations, dated
/// today (so the recall tool shows when it took place).
async fn remember(
    memory: &ConversationMemory,
    sessions: &dyn SessionStore,
    user: &str,
    session: &str,
) -> Result<(), Failure> {
    let messages = sessions.load(session).await?;
    if !messages.is_empty() {
        let today = date_of_unix_seconds(memory.store().options().clock.now());
        let metadata = Map::from_iter([("date".to_owned(), Value::String(today))]);
        memory.index_conversation(user, session, &messages, &metadata).await?;
    }
    Ok(())
}

async fn execute(args: ChatArgs) -> Result<(), Failure> {
    validate_session_id(&args.session)?;
    let model = model(&args).map_err(|e| Failure::Usage(e.to_string()))?;
    let sessions = open_sessions(&args.db).await?;
    let user = user_id(&args);
    let memory = conversation_memory(&args).await?;
    let mut builder = Agent::builder(model).sessions(sessions.clone());
    if let Some(system) = &args.system {
        builder = builder.system(system.clone());
    }
    if let Some(memory) = memory.as_ref().filter(|_| !args.no_recall) {
        // Only when there is something to recall: a tool that can only answer "nothing
        // found" costs tokens in every request and invites useless calls.
        if !memory.sessions(&user).await?.is_empty() {
            builder = builder.tool(create_memory_tool(memory.clone(), Some(&user)));
        }
    }
    let agent = builder.build().map_err(agent_failure)?;
    let chatted = converse(&agent, &args).await;
    let remembered = match (&memory, args.remember) {
        // What was said before a failure is kept in the session; remember it too.
        (Some(memory), true) => remember(memory, sessions.as_ref(), &user, &args.session).await,
        _ => Ok(()),
    };
    chatted.and(remembered)
}

/// One turn for MESSAGE, or one per line of stdin.
async fn converse(agent: &Agent, args: &ChatArgs) -> Result<(), Failure> {
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
    outcome::run_current_thread("agent-memory chat", execute(args))
}
