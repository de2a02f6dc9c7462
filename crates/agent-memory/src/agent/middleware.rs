//! Middleware: what runs before each model call of an agent.

use async_trait::async_trait;

use super::AgentError;
use crate::message::Message;
use crate::summarize::SummarizationMiddleware;
use crate::trim::{TrimOptions, trim_messages};

/// Runs before each model call and may rewrite the conversation.
#[async_trait]
pub trait Middleware: Send + Sync {
    /// Returns the conversation to send instead of `messages`, or `None` to leave it
    /// unchanged. The agent continues with the rewritten conversation (and stores it in
    /// the session).
    async fn before_model(&self, messages: &[Message]) -> Result<Option<Vec<Message>>, AgentError>;
}

#[async_trait]
impl Middleware for SummarizationMiddleware {
    async fn before_model(&self, messages: &[Message]) -> Result<Option<Vec<Message>>, AgentError> {
        Ok(self.process_detailed(messages).await?.filter(|result| result.summarized_count > 0).map(|r| r.messages))
    }
}

/// Keeps the conversation within a message and/or token limit with
/// [`trim_messages`] (tool calls and their results stay together, system messages are
/// kept), so a session's history stays bounded.
///
/// ```
/// use std::sync::Arc;
/// use agent_memory::agent::{Agent, TrimMiddleware};
/// use agent_memory::llm::ScriptedChat;
/// use agent_memory::message::Message;
/// use agent_memory::session::{InMemorySessions, SessionStore};
/// use agent_memory::trim::TrimOptions;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let model = Arc::new(ScriptedChat::new([Message::assistant("one"), Message::assistant("two")]));
/// let sessions = Arc::new(InMemorySessions::new());
/// let agent = Agent::builder(model.clone())
///     .sessions(sessions.clone())
///     .middleware(Arc::new(TrimMiddleware::new(TrimOptions::last(2))))
///     .build()?;
/// agent.run("first", Some("s")).await?;
/// agent.run("second", Some("s")).await?;
/// // The model saw the last 2 messages, and the session keeps only those and the answer.
/// assert_eq!(model.requests()[1].messages, vec![Message::assistant("one"), Message::user("second")]);
/// assert_eq!(sessions.load("s").await?.len(), 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TrimMiddleware {
    options: TrimOptions,
}

impl TrimMiddleware {
    /// Trims with `options` before each model call.
    pub fn new(options: TrimOptions) -> TrimMiddleware {
        TrimMiddleware { options }
    }
}

#[async_trait]
impl Middleware for TrimMiddleware {
    async fn before_model(&self, messages: &[Message]) -> Result<Option<Vec<Message>>, AgentError> {
        let trimmed = trim_messages(messages, &self.options)?;
        Ok((trimmed.len() != messages.len()).then_some(trimmed))
    }
}
