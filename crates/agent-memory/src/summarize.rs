//! Summarization of old messages.
//!
//! * [`Summarizer`] is the seam between context management ([`crate::context`]) and
//!   whatever writes summaries; [`LlmSummarizer`] writes them with any
//!   [`ChatModel`] (see [`crate::llm`]).
//! * [`summarize_messages`] replaces all but the last `keep_last` messages with one summary
//!   message (the seed's `summarize_messages`); [`extend_summary`] is its running-summary
//!   form, which folds an existing summary and the old messages into a new one.
//! * [`SummarizationMiddleware`] summarizes automatically when a conversation grows past a
//!   token or message count, on its own or as agent middleware (it runs before each model
//!   call of an [`Agent`](crate::agent::Agent)).
//!
//! Rules that the reference library breaks and this one keeps:
//!
//! * the cut point never separates an assistant tool call from its results (the kept part
//!   never starts with an orphan tool result);
//! * the leading system messages are kept, not summarized;
//! * a previous summary message (`[Previous conversation summary]` after the system
//!   messages) is folded into the new summary, not stacked;
//! * when nothing would be summarized (`keep_last >= len`), the model is not called.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use agent_memory::llm::ScriptedChat;
//! use agent_memory::message::Message;
//! use agent_memory::summarize::{summarize_messages, LlmSummarizer, SummarizeOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), agent_memory::summarize::SummarizeError> {
//! let model = Arc::new(ScriptedChat::new([Message::assistant("Bob likes Rust.")]));
//! let summarizer = LlmSummarizer::new(model.clone());
//! let messages = vec![
//!     Message::system("Be brief."),
//!     Message::user("I'm Bob."),
//!     Message::assistant("Hi Bob!"),
//!     Message::user("I like Rust."),
//!     Message::assistant("Nice."),
//! ];
//! let result = summarize_messages(&messages, &SummarizeOptions::keep_last(1), &summarizer).await?;
//! assert_eq!(result.summary, "Bob likes Rust.");
//! assert_eq!(result.messages, vec![
//!     Message::system("Be brief."),
//!     Message::system("[Previous conversation summary]\nBob likes Rust."),
//!     Message::assistant("Nice."),
//! ]);
//! assert_eq!((result.original_count, result.summarized_count, result.kept_count), (5, 3, 1));
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::llm::{ChatModel, ChatRequest, LlmConfig, LlmError};
use crate::message::{Message, Role};
use crate::tokens::{ApproximateCounter, TokenCounter};

/// Why a summary could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SummarizeError {
    /// No summarizer is configured; the message says how to configure one.
    #[error("no summarizer configured: {0}")]
    NotConfigured(String),
    /// The summarizer (for example an LLM call) failed.
    #[error("summarization failed: {0}")]
    Failed(String),
}

impl From<LlmError> for SummarizeError {
    fn from(err: LlmError) -> SummarizeError {
        match err {
            LlmError::NotConfigured(how) => SummarizeError::NotConfigured(how),
            other => SummarizeError::Failed(other.to_string()),
        }
    }
}

/// Writes a summary of messages, optionally extending an existing running summary.
#[async_trait]
pub trait Summarizer: Send + Sync {
    /// Summarizes `messages`. When `existing` is given, the result must incorporate it
    /// (a running summary), so the caller can drop both the old summary and `messages`.
    async fn summarize(&self, messages: &[Message], existing: Option<&str>) -> Result<String, SummarizeError>;
}

/// The prompt [`LlmSummarizer`] sends for a new summary; `{conversation}` is replaced by
/// the transcript ([`format_transcript`]). The reference library's text.
pub const DEFAULT_SUMMARIZE_PROMPT: &str = "Summarize the following conversation history concisely.
Focus on:
- Key topics discussed
- Important decisions made
- Relevant context for continuing the conversation
- Any user preferences or facts mentioned

Keep the summary brief but comprehensive enough to maintain conversation context.

Conversation to summarize:
{conversation}

Summary:";

/// The prompt [`LlmSummarizer`] sends to extend an existing summary; `{summary}` and
/// `{conversation}` are replaced. The reference library's text.
pub const DEFAULT_EXTEND_PROMPT: &str = "You have an existing summary of a conversation, plus new messages.
Create an updated summary that incorporates both.

Existing summary:
{summary}

New messages:
{conversation}

Updated summary:";

/// The first line of the system message that carries a summary in
/// [`SummarizeResult::messages`].
pub const SUMMARY_HEADER: &str = "[Previous conversation summary]";

/// The outcome of [`summarize_messages`] / [`extend_summary`] (the seed's `SummarizeResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct SummarizeResult {
    /// The new conversation: the leading system messages, one summary message
    /// (`[Previous conversation summary]\n{summary}`) and the kept messages. When nothing
    /// was summarized, the input unchanged.
    pub messages: Vec<Message>,
    /// The summary written; empty when nothing was summarized.
    pub summary: String,
    /// How many messages came in.
    pub original_count: usize,
    /// How many were summarized (a previous summary message not included).
    pub summarized_count: usize,
    /// How many were kept verbatim after the summary; when nothing was summarized, all of
    /// them.
    pub kept_count: usize,
}

/// How [`summarize_messages`] splits a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummarizeOptions {
    /// How many of the most recent messages to keep verbatim (more when the cut would
    /// separate a tool call from its results).
    pub keep_last: usize,
    /// Keep the leading system messages out of the summary (the default). When false they
    /// are summarized like any other message.
    pub include_system: bool,
}

impl SummarizeOptions {
    /// Keeps the last `keep_last` messages and the leading system messages (the seed's
    /// default is 5).
    pub fn keep_last(keep_last: usize) -> SummarizeOptions {
        SummarizeOptions { keep_last, include_system: true }
    }

    /// Sets [`SummarizeOptions::include_system`].
    pub fn include_system(mut self, include_system: bool) -> SummarizeOptions {
        self.include_system = include_system;
        self
    }
}

/// Replaces all but the last `options.keep_last` messages with one summary message.
///
/// The leading system messages are kept (unless `include_system` is false); a previous
/// summary message right after them is folded into the new summary (the running form);
/// the cut moves earlier rather than separate a tool call from its results. When nothing
/// is left to summarize, the summarizer is not called and the input comes back unchanged.
pub async fn summarize_messages(
    messages: &[Message],
    options: &SummarizeOptions,
    summarizer: &dyn Summarizer,
) -> Result<SummarizeResult, SummarizeError> {
    summarize_onto(None, messages, options, summarizer).await
}

/// The running-summary form of [`summarize_messages`]: the new summary incorporates
/// `existing` as well as the summarized messages.
///
/// ```
/// use agent_memory::llm::ScriptedChat;
/// use agent_memory::message::Message;
/// use agent_memory::summarize::{extend_summary, LlmSummarizer, SummarizeOptions};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agent_memory::summarize::SummarizeError> {
/// let model = Arc::new(ScriptedChat::new([Message::assistant("Bob likes Rust and tea.")]));
/// let messages = [Message::user("I like tea."), Message::assistant("Noted."), Message::user("Bye")];
/// let result = extend_summary("Bob likes Rust.", &messages, &SummarizeOptions::keep_last(1), &LlmSummarizer::new(model.clone())).await?;
/// assert_eq!(result.summary, "Bob likes Rust and tea.");
/// let prompt = model.requests()[0].messages[0].text().into_owned();
/// assert!(prompt.contains("Existing summary:\nBob likes Rust.\n\nNew messages:\nUser: I like tea.\nAssistant: Noted."));
/// # Ok(())
/// # }
/// ```
pub async fn extend_summary(
    existing: &str,
    messages: &[Message],
    options: &SummarizeOptions,
    summarizer: &dyn Summarizer,
) -> Result<SummarizeResult, SummarizeError> {
    summarize_onto(Some(existing), messages, options, summarizer).await
}

async fn summarize_onto(
    existing: Option<&str>,
    messages: &[Message],
    options: &SummarizeOptions,
    summarizer: &dyn Summarizer,
) -> Result<SummarizeResult, SummarizeError> {
    let unchanged = || SummarizeResult {
        messages: messages.to_vec(),
        summary: String::new(),
        original_count: messages.len(),
        summarized_count: 0,
        kept_count: messages.len(),
    };
    let head_len = if options.include_system { messages.iter().take_while(|m| m.role.is_system()).count() } else { 0 };
    let (head, work) = messages.split_at(head_len);
    let (head, previous): (Vec<&Message>, Vec<&Message>) = head.iter().partition(|m| summary_text(m).is_none());
    let mut cut = work.len().saturating_sub(options.keep_last);
    while cut > 0 && work[cut..].first().is_some_and(|m| m.role == Role::Tool) {
        cut -= 1;
    }
    if cut == 0 {
        return Ok(unchanged());
    }
    let mut prior: Vec<&str> = previous.iter().filter_map(|m| summary_text(m)).collect();
    if let Some(existing) = existing.filter(|s| !s.trim().is_empty()) {
        prior.insert(0, existing);
    }
    let prior = (!prior.is_empty()).then(|| prior.join("\n\n"));
    let summary = summarizer.summarize(&work[..cut], prior.as_deref()).await?.trim().to_owned();
    if summary.is_empty() {
        return Err(SummarizeError::Failed("the summarizer returned an empty summary".into()));
    }
    let mut out: Vec<Message> = head.into_iter().cloned().collect();
    out.push(summary_message(&summary));
    out.extend_from_slice(&work[cut..]);
    Ok(SummarizeResult {
        messages: out,
        summary,
        original_count: messages.len(),
        summarized_count: cut,
        kept_count: work.len() - cut,
    })
}

/// The system message that carries `summary`: `[Previous conversation summary]\n{summary}`.
pub fn summary_message(summary: &str) -> Message {
    Message::system(format!("{SUMMARY_HEADER}\n{summary}"))
}

/// The summary in a message made by [`summary_message`], if it is one.
pub fn summary_text(message: &Message) -> Option<&str> {
    if !message.role.is_system() {
        return None;
    }
    match &message.content {
        Some(crate::message::Content::Text(text)) => text.strip_prefix(SUMMARY_HEADER)?.strip_prefix('\n'),
        _ => None,
    }
}

/// The transcript a summarizer reads: one `Role: text` line per message (`User`,
/// `Assistant`, `System`, `Developer`, `Tool`); tool calls are shown as
/// `[called name(arguments)]`.
///
/// ```
/// use agent_memory::message::{Message, ToolCall};
/// use agent_memory::summarize::format_transcript;
///
/// let call = ToolCall::new("c1", "weather", &serde_json::json!({"city": "Paris"}));
/// let transcript = format_transcript(&[
///     Message::user("Weather?"),
///     Message::assistant_tool_calls(vec![call]),
///     Message::tool("c1", "sunny"),
///     Message::assistant("Sunny."),
/// ]);
/// assert_eq!(transcript, "User: Weather?\nAssistant: [called weather({\"city\":\"Paris\"})]\nTool: sunny\nAssistant: Sunny.");
/// ```
pub fn format_transcript(messages: &[Message]) -> String {
    let mut lines = Vec::with_capacity(messages.len());
    for message in messages {
        let role = match message.role {
            Role::System => "System",
            Role::Developer => "Developer",
            Role::User => "User",
            Role::Assistant => "Assistant",
            Role::Tool => "Tool",
        };
        let mut text = message.text().into_owned();
        for call in &message.tool_calls {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&format!("[called {}({})]", call.name, call.arguments));
        }
        lines.push(format!("{role}: {text}"));
    }
    lines.join("\n")
}

/// A [`Summarizer`] that asks a chat model, with [`DEFAULT_SUMMARIZE_PROMPT`] (or
/// [`DEFAULT_EXTEND_PROMPT`] when extending a summary) unless given other prompts.
#[derive(Clone)]
pub struct LlmSummarizer {
    model: Arc<dyn ChatModel>,
    prompt: String,
    extend_prompt: String,
    max_tokens: Option<u32>,
}

impl std::fmt::Debug for LlmSummarizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSummarizer")
            .field("provider", &self.model.provider())
            .field("model", &self.model.model())
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl LlmSummarizer {
    /// Summarizes with `model` and the default prompts.
    pub fn new(model: Arc<dyn ChatModel>) -> LlmSummarizer {
        LlmSummarizer {
            model,
            prompt: DEFAULT_SUMMARIZE_PROMPT.to_owned(),
            extend_prompt: DEFAULT_EXTEND_PROMPT.to_owned(),
            max_tokens: None,
        }
    }

    /// Summarizes with the model configured in the environment ([`LlmConfig::detect`]: the
    /// seed's `openai` / `gpt-4o-mini` by default); when none is, an error that says how to
    /// configure one.
    pub fn from_env() -> Result<LlmSummarizer, SummarizeError> {
        LlmSummarizer::detect_with(|name| std::env::var(name).ok())
    }

    /// [`LlmSummarizer::from_env`] reading variables through `env`.
    ///
    /// ```
    /// use agent_memory::summarize::LlmSummarizer;
    ///
    /// let err = LlmSummarizer::detect_with(|_| None).unwrap_err();
    /// assert!(err.to_string().starts_with("no summarizer configured: set OPENAI_API_KEY"));
    /// ```
    pub fn detect_with(env: impl Fn(&str) -> Option<String>) -> Result<LlmSummarizer, SummarizeError> {
        Ok(LlmSummarizer::new(LlmConfig::detect_with(env)?.connect()?))
    }

    /// Replaces the prompt for new summaries; `{conversation}` marks where the transcript
    /// goes (without it, the transcript is appended after a blank line).
    pub fn with_prompt(mut self, prompt: impl Into<String>) -> LlmSummarizer {
        self.prompt = prompt.into();
        self
    }

    /// Replaces the prompt for extending a summary; `{summary}` and `{conversation}` mark
    /// where the existing summary and the transcript go.
    pub fn with_extend_prompt(mut self, prompt: impl Into<String>) -> LlmSummarizer {
        self.extend_prompt = prompt.into();
        self
    }

    /// Caps the summary's length in tokens.
    pub fn with_max_tokens(mut self, max_tokens: u32) -> LlmSummarizer {
        self.max_tokens = Some(max_tokens);
        self
    }
}

#[async_trait]
impl Summarizer for LlmSummarizer {
    async fn summarize(&self, messages: &[Message], existing: Option<&str>) -> Result<String, SummarizeError> {
        let transcript = format_transcript(messages);
        let prompt = match existing {
            Some(summary) => fill(&self.extend_prompt, &transcript, summary),
            None => fill(&self.prompt, &transcript, ""),
        };
        let mut request = ChatRequest::new(vec![Message::user(prompt)]);
        request.max_tokens = self.max_tokens;
        let response = self.model.chat(&request).await?;
        Ok(response.message.text().trim().to_owned())
    }
}

/// Replaces `{conversation}` and `{summary}` in one pass (so a summary that contains
/// `{conversation}` is not expanded); appends the transcript when the template lacks it.
fn fill(template: &str, conversation: &str, summary: &str) -> String {
    let mut out = String::with_capacity(template.len() + conversation.len() + summary.len());
    let mut rest = template;
    let mut placed = false;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix("{conversation}") {
            out.push_str(conversation);
            placed = true;
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{summary}") {
            out.push_str(summary);
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if !placed {
        out.push_str("\n\n");
        out.push_str(conversation);
    }
    out
}

/// Summarizes a conversation once it grows past a token or message count (the seed's
/// `SummarizationMiddleware`, usable on its own and as [`Agent`](crate::agent::Agent)
/// middleware, where it runs before each model call).
///
/// The triggers are OR-ed and strict: more than `trigger_messages` messages, or more than
/// `trigger_tokens` tokens by its counter (the approximate counter unless
/// [`with_counter`](SummarizationMiddleware::with_counter) sets another). With neither set
/// it never summarizes. With no summarizer given, the first summary uses the model
/// configured in the environment ([`LlmSummarizer::from_env`]) and fails with
/// [`SummarizeError::NotConfigured`], saying how to configure one, when there is none.
///
/// ```
/// use std::sync::Arc;
/// use agent_memory::llm::ScriptedChat;
/// use agent_memory::message::Message;
/// use agent_memory::summarize::{LlmSummarizer, SummarizationMiddleware};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agent_memory::summarize::SummarizeError> {
/// let model = Arc::new(ScriptedChat::new([Message::assistant("Earlier: greetings.")]));
/// let middleware = SummarizationMiddleware::new()
///     .trigger_messages(3)
///     .keep_last(1)
///     .with_summarizer(Arc::new(LlmSummarizer::new(model)));
/// let messages: Vec<Message> = (1..=4).map(|i| Message::user(format!("message {i}"))).collect();
/// assert!(middleware.should_summarize(&messages));
/// let processed = middleware.process(messages).await?;
/// assert_eq!(processed, vec![
///     Message::system("[Previous conversation summary]\nEarlier: greetings."),
///     Message::user("message 4"),
/// ]);
/// assert_eq!(middleware.last_summary().as_deref(), Some("Earlier: greetings."));
/// # Ok(())
/// # }
/// ```
pub struct SummarizationMiddleware {
    /// Summarize when the conversation counts more tokens than this.
    pub trigger_tokens: Option<usize>,
    /// Summarize when the conversation has more messages than this.
    pub trigger_messages: Option<usize>,
    /// How many recent messages to keep verbatim (the seed's default is 10).
    pub keep_last: usize,
    summarizer: Option<Arc<dyn Summarizer>>,
    from_env: Mutex<Option<Arc<dyn Summarizer>>>,
    counter: Arc<dyn TokenCounter>,
    last_summary: Mutex<Option<String>>,
}

impl std::fmt::Debug for SummarizationMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummarizationMiddleware")
            .field("trigger_tokens", &self.trigger_tokens)
            .field("trigger_messages", &self.trigger_messages)
            .field("keep_last", &self.keep_last)
            .field("counter", &self.counter.name())
            .finish_non_exhaustive()
    }
}

impl SummarizationMiddleware {
    /// No triggers, `keep_last` 10, the approximate counter, and the summarizer from the
    /// environment.
    pub fn new() -> SummarizationMiddleware {
        SummarizationMiddleware {
            trigger_tokens: None,
            trigger_messages: None,
            keep_last: 10,
            summarizer: None,
            from_env: Mutex::new(None),
            counter: Arc::new(ApproximateCounter),
            last_summary: Mutex::new(None),
        }
    }

    /// Summarizes when the conversation counts more than `tokens` tokens.
    pub fn trigger_tokens(mut self, tokens: usize) -> SummarizationMiddleware {
        self.trigger_tokens = Some(tokens);
        self
    }

    /// Summarizes when the conversation has more than `messages` messages.
    pub fn trigger_messages(mut self, messages: usize) -> SummarizationMiddleware {
        self.trigger_messages = Some(messages);
        self
    }

    /// Keeps the last `keep_last` messages verbatim.
    pub fn keep_last(mut self, keep_last: usize) -> SummarizationMiddleware {
        self.keep_last = keep_last;
        self
    }

    /// Writes summaries with `summarizer`.
    pub fn with_summarizer(mut self, summarizer: Arc<dyn Summarizer>) -> SummarizationMiddleware {
        self.summarizer = Some(summarizer);
        self
    }

    /// Writes summaries with `model` and the default prompts.
    pub fn with_model(self, model: Arc<dyn ChatModel>) -> SummarizationMiddleware {
        self.with_summarizer(Arc::new(LlmSummarizer::new(model)))
    }

    /// Counts tokens for `trigger_tokens` with `counter` (for example
    /// [`crate::models::counter_for_model`]).
    pub fn with_counter(mut self, counter: Arc<dyn TokenCounter>) -> SummarizationMiddleware {
        self.counter = counter;
        self
    }

    /// True when `messages` is past a trigger.
    pub fn should_summarize(&self, messages: &[Message]) -> bool {
        if messages.is_empty() {
            return false;
        }
        if self.trigger_messages.is_some_and(|limit| messages.len() > limit) {
            return true;
        }
        self.trigger_tokens.is_some_and(|limit| self.counter.count_messages(messages).tokens > limit)
    }

    /// Summarizes `messages` when past a trigger ([`summarize_messages`] with `keep_last`),
    /// otherwise returns them unchanged.
    pub async fn process(&self, messages: Vec<Message>) -> Result<Vec<Message>, SummarizeError> {
        match self.process_detailed(&messages).await? {
            Some(result) => Ok(result.messages),
            None => Ok(messages),
        }
    }

    /// Like [`process`](SummarizationMiddleware::process), but returns the whole
    /// [`SummarizeResult`], or `None` when no trigger fired.
    pub async fn process_detailed(&self, messages: &[Message]) -> Result<Option<SummarizeResult>, SummarizeError> {
        if !self.should_summarize(messages) {
            return Ok(None);
        }
        let summarizer = self.summarizer(|name| std::env::var(name).ok())?;
        let result = summarize_messages(messages, &SummarizeOptions::keep_last(self.keep_last), &*summarizer).await?;
        if !result.summary.is_empty() {
            *self.last_summary.lock().unwrap_or_else(PoisonError::into_inner) = Some(result.summary.clone());
        }
        Ok(Some(result))
    }

    /// The last summary written, if any.
    pub fn last_summary(&self) -> Option<String> {
        self.last_summary.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn summarizer(&self, env: impl Fn(&str) -> Option<String>) -> Result<Arc<dyn Summarizer>, SummarizeError> {
        if let Some(summarizer) = &self.summarizer {
            return Ok(summarizer.clone());
        }
        let mut cached = self.from_env.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(summarizer) = cached.as_ref() {
            return Ok(summarizer.clone());
        }
        let summarizer: Arc<dyn Summarizer> = Arc::new(LlmSummarizer::detect_with(env)?);
        *cached = Some(summarizer.clone());
        Ok(summarizer)
    }
}

impl Default for SummarizationMiddleware {
    fn default() -> SummarizationMiddleware {
        SummarizationMiddleware::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_placeholders_once_and_appends_a_missing_transcript() {
        assert_eq!(
            fill("S={summary} C={conversation}", "User: hi", "old {conversation}"),
            "S=old {conversation} C=User: hi"
        );
        assert_eq!(fill("Summarize {this}:", "User: hi", ""), "Summarize {this}:\n\nUser: hi");
    }

    #[test]
    fn a_middleware_without_a_model_says_how_to_configure_one() {
        let middleware = SummarizationMiddleware::new().trigger_messages(1);
        let err = middleware.summarizer(|_| None).err().map(|e| e.to_string());
        assert_eq!(err, Some(format!("no summarizer configured: {}", LlmConfig::how_to_configure())));
        let configured =
            middleware.summarizer(|name| (name == "OPENAI_BASE_URL").then(|| "http://127.0.0.1:9/v1".into()));
        assert!(configured.is_ok());
    }

    #[test]
    fn summary_messages_are_recognised() {
        assert_eq!(summary_text(&summary_message("Bob.")), Some("Bob."));
        assert_eq!(summary_text(&Message::system("Be brief.")), None);
        assert_eq!(summary_text(&Message::user("[Previous conversation summary]\nx")), None);
    }
}
