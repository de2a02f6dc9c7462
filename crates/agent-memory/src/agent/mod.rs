//! The agent loop: a model, a system prompt, tools, middleware and sessions.
//!
//! [`Agent::run`] sends the conversation to the model, runs the tool calls it asks for
//! (several per turn, concurrently), sends their results back, and repeats until the
//! model answers without calling tools or [`max_steps`](AgentBuilder::max_steps) model
//! calls have been made. A tool's failure (an error, bad arguments, an unknown tool, a
//! panic) goes back to the model as the tool's result, marked as an error; it does not
//! end the run.
//!
//! With a [`SessionStore`] and a `session_id`, the run starts from the session's history
//! and stores the new turn. [`Middleware`] runs before each model call; when it rewrites
//! the history, the session is replaced by the rewritten one. That is how history limits
//! apply: [`TrimMiddleware`] keeps a session within `max_messages` / `max_tokens`
//! (the seed's `trim_strategy = "last"`), and
//! [`SummarizationMiddleware`](crate::summarize::SummarizationMiddleware) summarizes what
//! is past its trigger (`trim_strategy = "summarize"`).
//!
//! # Examples
//!
//! The seed's "Session vs Memory" flow:
//!
//! ```
//! use std::sync::Arc;
//! use agent_memory::agent::Agent;
//! use agent_memory::llm::ScriptedChat;
//! use agent_memory::message::Message;
//! use agent_memory::session::InMemorySessions;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), agent_memory::agent::AgentError> {
//! let model = Arc::new(ScriptedChat::new([Message::assistant("Hi Bob!"), Message::assistant("You are Bob.")]));
//! let agent = Agent::builder(model.clone())
//!     .system("You are helpful.")
//!     .sessions(Arc::new(InMemorySessions::new()))
//!     .build()?;
//! agent.run("Hi, I'm Bob", Some("thread_123")).await?;
//! let run = agent.run("What's my name?", Some("thread_123")).await?;
//! assert_eq!(run.reply, "You are Bob.");
//! assert_eq!(model.requests()[1].messages[1], Message::user("Hi, I'm Bob"));
//! # Ok(())
//! # }
//! ```

mod middleware;
mod tool;

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::join_all;

use crate::llm::{ChatModel, ChatRequest, LlmError, ToolDefinition, Usage};
use crate::message::{Message, ToolCall};
use crate::session::{SessionError, SessionStore};
use crate::summarize::SummarizeError;
use crate::trim::TrimError;

pub use middleware::{Middleware, TrimMiddleware};
pub use tool::{FunctionTool, Tool, ToolError, input_schema};

/// Why an agent run failed. Nothing is stored in the session when a run fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The model call failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The session store failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Summarizing middleware failed.
    #[error(transparent)]
    Summarize(#[from] SummarizeError),
    /// Trimming middleware failed (for example a system prompt over the token limit).
    #[error(transparent)]
    Trim(#[from] TrimError),
    /// Other middleware failed.
    #[error("middleware failed: {0}")]
    Middleware(String),
    /// The model still asked for tools after the last allowed step.
    #[error("the agent made {steps} model calls without a final answer; raise max_steps or check the tools")]
    MaxSteps {
        /// The model calls made.
        steps: usize,
        /// The conversation so far (ending with tool results).
        messages: Vec<Message>,
    },
    /// A `session_id` was given to an agent without a session store.
    #[error(
        "session_id {0:?} was given but the agent has no session store; build it with \
         Agent::builder(model).sessions(Arc::new(InMemorySessions::new()))"
    )]
    NoSessionStore(String),
    /// The agent's configuration is invalid.
    #[error("invalid agent configuration: {0}")]
    InvalidConfig(String),
}

/// What [`Agent::run`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRun {
    /// The text of the model's final answer.
    pub reply: String,
    /// The whole conversation as the model last saw it, its final answer included
    /// (starting with the system prompt, if any).
    pub messages: Vec<Message>,
    /// The tokens of every model call of this run (the summarizer's calls not included).
    pub usage: Usage,
    /// How many model calls were made.
    pub steps: usize,
}

/// An LLM agent: a model, a system prompt, tools, middleware and an optional session
/// store. Build one with [`Agent::builder`].
pub struct Agent {
    model: Arc<dyn ChatModel>,
    system: Option<String>,
    tools: Vec<Arc<dyn Tool>>,
    definitions: Vec<ToolDefinition>,
    middleware: Vec<Arc<dyn Middleware>>,
    sessions: Option<Arc<dyn SessionStore>>,
    max_steps: usize,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("model", &self.model.model())
            .field("system", &self.system)
            .field("tools", &self.definitions.iter().map(|d| &d.name).collect::<Vec<_>>())
            .field("middleware", &self.middleware.len())
            .field("sessions", &self.sessions.is_some())
            .field("max_steps", &self.max_steps)
            .finish()
    }
}

/// Builds an [`Agent`].
pub struct AgentBuilder {
    agent: Agent,
}

impl AgentBuilder {
    /// Sets the system prompt, sent first in every model call (and not stored in sessions).
    pub fn system(mut self, system: impl Into<String>) -> AgentBuilder {
        self.agent.system = Some(system.into());
        self
    }

    /// Adds a tool.
    pub fn tool(self, tool: impl Tool + 'static) -> AgentBuilder {
        self.shared_tool(Arc::new(tool))
    }

    /// Adds a shared tool.
    pub fn shared_tool(mut self, tool: Arc<dyn Tool>) -> AgentBuilder {
        self.agent.tools.push(tool);
        self
    }

    /// Adds middleware; middleware runs in the order added, before each model call.
    pub fn middleware(mut self, middleware: Arc<dyn Middleware>) -> AgentBuilder {
        self.agent.middleware.push(middleware);
        self
    }

    /// Keeps conversation history in `sessions`, keyed by the `session_id` of each run.
    pub fn sessions(mut self, sessions: Arc<dyn SessionStore>) -> AgentBuilder {
        self.agent.sessions = Some(sessions);
        self
    }

    /// The most model calls one run may make (default 10).
    pub fn max_steps(mut self, max_steps: usize) -> AgentBuilder {
        self.agent.max_steps = max_steps;
        self
    }

    /// The `max_tokens` of each model call.
    pub fn max_tokens(mut self, max_tokens: u32) -> AgentBuilder {
        self.agent.max_tokens = Some(max_tokens);
        self
    }

    /// The sampling temperature of each model call.
    pub fn temperature(mut self, temperature: f32) -> AgentBuilder {
        self.agent.temperature = Some(temperature);
        self
    }

    /// The agent; fails when two tools share a name, a tool name is not one models
    /// accept, or `max_steps` is 0.
    pub fn build(mut self) -> Result<Agent, AgentError> {
        if self.agent.max_steps == 0 {
            return Err(AgentError::InvalidConfig("max_steps must be at least 1".into()));
        }
        let mut names = HashSet::new();
        for tool in &self.agent.tools {
            let name = tool.name();
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(AgentError::InvalidConfig(format!(
                    "tool name {name:?} must be 1 to 64 letters, digits, '_' or '-'"
                )));
            }
            if !names.insert(name.to_owned()) {
                return Err(AgentError::InvalidConfig(format!("two tools are named {name:?}")));
            }
        }
        self.agent.definitions = self.agent.tools.iter().map(|tool| tool.definition()).collect();
        Ok(self.agent)
    }
}

impl Agent {
    /// Starts building an agent around `model`.
    pub fn builder(model: Arc<dyn ChatModel>) -> AgentBuilder {
        AgentBuilder {
            agent: Agent {
                model,
                system: None,
                tools: Vec::new(),
                definitions: Vec::new(),
                middleware: Vec::new(),
                sessions: None,
                max_steps: 10,
                max_tokens: None,
                temperature: None,
            },
        }
    }

    /// The definitions of the agent's tools, as sent to the model.
    pub fn tool_definitions(&self) -> &[ToolDefinition] {
        &self.definitions
    }

    /// Answers `input`. With a `session_id`, the conversation continues that session's
    /// history and the new turn is stored there once the run succeeds.
    pub async fn run(&self, input: &str, session_id: Option<&str>) -> Result<AgentRun, AgentError> {
        let sessions = match session_id {
            Some(id) => Some((id, self.sessions.as_ref().ok_or_else(|| AgentError::NoSessionStore(id.to_owned()))?)),
            None => None,
        };
        let history = match sessions {
            Some((id, store)) => store.load(id).await?,
            None => Vec::new(),
        };
        let system = self.system.as_ref().map(|text| Message::system(text.clone()));
        let mut conversation: Vec<Message> = system.iter().cloned().chain(history).collect();
        let new_from = conversation.len();
        conversation.push(Message::user(input));

        let mut usage = Usage::default();
        let mut rewritten = false;
        let mut steps = 0;
        let reply = loop {
            if steps == self.max_steps {
                return Err(AgentError::MaxSteps { steps, messages: conversation });
            }
            for middleware in &self.middleware {
                if let Some(messages) = middleware.before_model(&conversation).await? {
                    conversation = messages;
                    rewritten = true;
                }
            }
            let request = ChatRequest {
                messages: conversation.clone(),
                tools: self.definitions.clone(),
                max_tokens: self.max_tokens,
                temperature: self.temperature,
            };
            let response = self.model.chat(&request).await?;
            steps += 1;
            usage += response.usage;
            let calls = response.message.tool_calls.clone();
            conversation.push(response.message);
            if calls.is_empty() {
                break conversation.last().map(|m| m.text().into_owned()).unwrap_or_default();
            }
            let results = join_all(calls.iter().map(|call| self.call_tool(call))).await;
            conversation.extend(results);
        };

        if let Some((id, store)) = sessions {
            if rewritten {
                let skip = usize::from(system.is_some() && conversation.first() == system.as_ref());
                store.replace(id, &conversation[skip..]).await?;
            } else {
                store.append(id, &conversation[new_from..]).await?;
            }
        }
        Ok(AgentRun { reply, messages: conversation, usage, steps })
    }

    async fn call_tool(&self, call: &ToolCall) -> Message {
        let outcome = match self.tools.iter().find(|tool| tool.name() == call.name) {
            None => {
                let names: Vec<&str> = self.tools.iter().map(|tool| tool.name()).collect();
                Err(format!("unknown tool {:?}; the tools are: {}", call.name, names.join(", ")))
            }
            Some(tool) => match call.parsed_arguments() {
                Err(_) => Err(format!("invalid arguments: {:?} is not valid JSON", call.arguments)),
                Ok(input) => match AssertUnwindSafe(tool.call(input)).catch_unwind().await {
                    Ok(result) => result.map_err(|err| err.to_string()),
                    Err(_) => Err("the tool panicked".to_owned()),
                },
            },
        };
        match outcome {
            Ok(text) => Message::tool(call.id.clone(), text),
            Err(error) => {
                tracing::debug!(tool = %call.name, %error, "tool call failed");
                let mut message = Message::tool(call.id.clone(), format!("Error: {error}"));
                message.extra.insert("is_error".into(), serde_json::Value::Bool(true));
                message
            }
        }
    }
}
