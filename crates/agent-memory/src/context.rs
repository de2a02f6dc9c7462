//! Fitting a conversation into a token budget: [`fit_context`], the primary entry point of
//! short-term memory.
//!
//! Given the messages since the last summary, the running summary (if any) and a budget,
//! [`fit_context`] returns what to send to the model:
//!
//! 1. The running summary is injected as a system message
//!    (`"[Conversation summary]\n{summary}"`) right after the leading system messages, so
//!    the model always sees it (the reference library dropped it while messages fit).
//! 2. If everything fits, nothing else happens ([`FitAction::None`]).
//! 3. Otherwise, without a [`Summarizer`], the oldest messages are trimmed
//!    ([`FitAction::Trimmed`]) with the guarantees of [`crate::trim`]: system messages and
//!    the summary are kept, tool calls stay with their results.
//! 4. With a summarizer, the messages before the last `keep` (moved back so a tool call is
//!    not split from its results, and fewer when the last `keep` do not fit) are folded into
//!    a new running summary ([`FitAction::Summarized`]); the leading system messages are
//!    not summarized. If the new summary turns out longer than the room left for it, the
//!    kept messages that no longer fit are folded into it with one more summarizer call.
//!    When `keep` covers every message there is nothing to summarize: the summarizer is
//!    not called and the messages are trimmed instead.
//!
//! The budget is enforced on every path, after summarizing too: when even the system
//! messages and the summary do not fit, the result is [`FitError::OverBudget`].
//!
//! # Examples
//!
//! ```
//! use agent_memory::context::{fit_context, FitAction, FitOptions};
//! use agent_memory::message::Message;
//!
//! # tokio_test_block_on(async {
//! let messages = vec![Message::system("Be brief."), Message::user("Hello"), Message::assistant("Hi!")];
//! let options = FitOptions::for_model("gpt-4o").with_summary("The user is called Ada.");
//! let fitted = fit_context(&messages, 4_000, &options).await?;
//! assert_eq!(fitted.action, FitAction::None);
//! assert_eq!(fitted.messages[1].text(), "[Conversation summary]\nThe user is called Ada.");
//! assert!(fitted.tokens.exact);
//! # Ok::<(), agent_memory::context::FitError>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(future: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use crate::message::{Message, Role};
use crate::models::counter_for_model;
use crate::summarize::{SummarizeError, Summarizer};
use crate::tokens::{ApproximateCounter, TokenCount, TokenCounter};
use crate::trim::{self, TrimError, TrimOptions};

/// The prefix of the system message that carries the running summary.
pub const SUMMARY_PREFIX: &str = "[Conversation summary]\n";

/// The system message that carries `summary`: `"[Conversation summary]\n{summary}"`.
pub fn summary_message(summary: &str) -> Message {
    Message::system(format!("{SUMMARY_PREFIX}{summary}"))
}

/// Why a conversation could not be fitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// The messages that must be kept (system messages and the summary) alone exceed the
    /// budget.
    #[error(
        "the system messages and the summary alone need {required} tokens, over the budget of {max_tokens}: raise max_tokens or shorten them"
    )]
    OverBudget {
        /// Tokens of the messages that must be kept, with the reply priming.
        required: usize,
        /// The budget.
        max_tokens: usize,
    },
    /// The summarizer failed.
    #[error(transparent)]
    Summarize(#[from] SummarizeError),
}

impl From<TrimError> for FitError {
    fn from(err: TrimError) -> FitError {
        match err {
            TrimError::SystemOverBudget { required, max_tokens } => FitError::OverBudget { required, max_tokens },
            // fit_context always sets the token strategy and its budget.
            other => FitError::Summarize(SummarizeError::Failed(other.to_string())),
        }
    }
}

/// What [`fit_context`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FitAction {
    /// Everything fitted.
    None,
    /// The oldest messages were dropped.
    Trimmed,
    /// The oldest messages were folded into the running summary.
    Summarized,
}

impl FitAction {
    /// `none`, `trimmed` or `summarized`.
    pub fn as_str(self) -> &'static str {
        match self {
            FitAction::None => "none",
            FitAction::Trimmed => "trimmed",
            FitAction::Summarized => "summarized",
        }
    }
}

impl fmt::Display for FitAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of [`fit_context`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContextResult {
    /// The messages to send, the running summary injected.
    pub messages: Vec<Message>,
    /// What was done.
    pub action: FitAction,
    /// The tokens of `messages` as a request ([`TokenCounter::count_messages`]), and
    /// whether that count is exact.
    pub tokens: TokenCount,
    /// The running summary: the new one after summarizing, else the one given.
    pub summary: Option<String>,
    /// How many messages were given.
    pub original_count: usize,
    /// How many messages are in `messages` (the summary message included).
    pub final_count: usize,
    /// How many of the given messages were folded into the summary by this call.
    pub summarized_count: usize,
}

/// How [`fit_context`] counts, summarizes and what it starts from.
#[derive(Clone)]
pub struct FitOptions {
    /// Counts tokens (default: [`ApproximateCounter`]).
    pub counter: Arc<dyn TokenCounter>,
    /// The running summary of the messages before these.
    pub summary: Option<String>,
    /// Summarizes old messages when they do not fit; without one, they are trimmed.
    pub summarizer: Option<Arc<dyn Summarizer>>,
    /// How many of the newest messages to keep verbatim when summarizing (default: 10).
    pub keep: usize,
}

impl fmt::Debug for FitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FitOptions")
            .field("counter", &self.counter.name())
            .field("summary", &self.summary)
            .field("summarizer", &self.summarizer.as_ref().map(|_| "…"))
            .field("keep", &self.keep)
            .finish()
    }
}

impl FitOptions {
    /// The approximate counter, no summary, no summarizer, `keep` 10.
    pub fn new() -> FitOptions {
        FitOptions { counter: Arc::new(ApproximateCounter), summary: None, summarizer: None, keep: 10 }
    }

    /// Like [`FitOptions::new`], counting with `model`'s tokenizer
    /// ([`crate::models::counter_for_model`]; approximate for unknown models).
    pub fn for_model(model: &str) -> FitOptions {
        FitOptions { counter: counter_for_model(model), ..FitOptions::new() }
    }

    /// Sets [`FitOptions::counter`].
    pub fn with_counter(mut self, counter: Arc<dyn TokenCounter>) -> FitOptions {
        self.counter = counter;
        self
    }

    /// Sets [`FitOptions::summary`].
    pub fn with_summary(mut self, summary: impl Into<String>) -> FitOptions {
        self.summary = Some(summary.into());
        self
    }

    /// Sets [`FitOptions::summarizer`].
    pub fn with_summarizer(mut self, summarizer: Arc<dyn Summarizer>) -> FitOptions {
        self.summarizer = Some(summarizer);
        self
    }

    /// Sets [`FitOptions::keep`].
    pub fn with_keep(mut self, keep: usize) -> FitOptions {
        self.keep = keep;
        self
    }
}

impl Default for FitOptions {
    fn default() -> FitOptions {
        FitOptions::new()
    }
}

/// Fits `messages` (the messages since the running summary) into `max_tokens`; see the
/// [module docs](self).
///
/// # Errors
///
/// * [`FitError::OverBudget`] when the system messages and the summary alone do not fit;
/// * [`FitError::Summarize`] when the summarizer fails.
pub async fn fit_context(
    messages: &[Message],
    max_tokens: usize,
    options: &FitOptions,
) -> Result<ContextResult, FitError> {
    let counter = &options.counter;
    let lead = messages.iter().take_while(|m| m.role.is_system()).count();
    let existing = options.summary.as_deref().map(summary_message);
    let conversation = assemble(messages, lead, existing.as_ref(), 0);
    let counts: Vec<TokenCount> = conversation.iter().map(|m| counter.count_message(m)).collect();
    let tokens = total(&counts, counter.reply_priming());
    if tokens.tokens <= max_tokens {
        return Ok(ContextResult {
            messages: conversation.into_iter().cloned().collect(),
            final_count: counts.len(),
            action: FitAction::None,
            tokens,
            summary: options.summary.clone(),
            original_count: messages.len(),
            summarized_count: 0,
        });
    }

    let rest = &messages[lead..];
    let rest_counts = &counts[counts.len() - rest.len()..];
    let summary_index = existing.as_ref().map(|_| lead);
    if let Some(summarizer) = options.summarizer.as_ref().filter(|_| options.keep < rest.len()) {
        // Room for the kept messages: the budget less the system messages, the reply
        // priming and, as an estimate of the new summary, the current one.
        let reserved = counts[..lead].iter().map(|c| c.tokens).sum::<usize>()
            + counter.reply_priming()
            + summary_index.map_or(0, |index| counts[index].tokens);
        let boundary = summary_boundary(rest, rest_counts, options.keep, max_tokens.saturating_sub(reserved));
        let summary = summarizer.summarize(&rest[..boundary], options.summary.as_deref()).await?;
        let message = summary_message(&summary);
        let assembled = assemble(messages, lead, Some(&message), boundary);
        let assembled_counts = assemble_counts(&counts, lead, summary_index, counter.count_message(&message), boundary);
        let selection = trim_to_budget(&assembled, &assembled_counts, Some(lead), max_tokens, counter)?;
        let first_kept = first_kept_of_rest(&selection, lead, boundary, rest);
        if first_kept == boundary {
            return Ok(result(&assembled, selection, FitAction::Summarized, Some(summary), messages.len(), boundary));
        }
        // The new summary took more room than estimated: fold the kept messages that no
        // longer fit into it too, rather than dropping them unsummarized.
        let summary = summarizer.summarize(&rest[boundary..first_kept], Some(&summary)).await?;
        let message = summary_message(&summary);
        let assembled = assemble(messages, lead, Some(&message), first_kept);
        let assembled_counts =
            assemble_counts(&counts, lead, summary_index, counter.count_message(&message), first_kept);
        let selection = trim_to_budget(&assembled, &assembled_counts, Some(lead), max_tokens, counter)?;
        return Ok(result(&assembled, selection, FitAction::Summarized, Some(summary), messages.len(), first_kept));
    }

    let selection = trim_to_budget(&conversation, &counts, summary_index, max_tokens, counter)?;
    Ok(result(&conversation, selection, FitAction::Trimmed, options.summary.clone(), messages.len(), 0))
}

/// The leading system messages, the summary message (if any), then `messages[lead + from..]`,
/// borrowed.
fn assemble<'a>(messages: &'a [Message], lead: usize, summary: Option<&'a Message>, from: usize) -> Vec<&'a Message> {
    let mut out = Vec::with_capacity(messages.len() - from + 1);
    out.extend(&messages[..lead]);
    out.extend(summary);
    out.extend(&messages[lead + from..]);
    out
}

/// The counts of [`assemble`]'s output, from the counts of the first conversation (which
/// had a summary message at `summary_index`, if any) and of the new summary message.
fn assemble_counts(
    counts: &[TokenCount],
    lead: usize,
    summary_index: Option<usize>,
    summary_count: TokenCount,
    from: usize,
) -> Vec<TokenCount> {
    let rest_start = lead + usize::from(summary_index.is_some());
    let mut out = Vec::with_capacity(counts.len() - from + 1);
    out.extend_from_slice(&counts[..lead]);
    out.push(summary_count);
    out.extend_from_slice(&counts[rest_start + from..]);
    out
}

fn total(counts: &[TokenCount], reply_priming: usize) -> TokenCount {
    if counts.is_empty() {
        return TokenCount::ZERO;
    }
    counts.iter().copied().sum::<TokenCount>() + TokenCount::exact(reply_priming)
}

/// Where to cut `rest` (the messages after the leading system messages): everything
/// before the boundary is summarized. Keeps at most `keep` of the newest messages, only as
/// many as fit in `room` tokens, and never splits a tool call from its results.
fn summary_boundary(rest: &[Message], rest_counts: &[TokenCount], keep: usize, room: usize) -> usize {
    let floor = rest.len().saturating_sub(keep);
    let mut available = room;
    let mut boundary = rest.len();
    while boundary > floor {
        // The unit ending at `boundary`: back over tool results to the call they answer.
        let mut start = boundary - 1;
        while start > 0 && rest[start].role == Role::Tool {
            start -= 1;
        }
        let unit_tokens: usize = rest_counts[start..boundary].iter().map(|c| c.tokens).sum();
        if start < floor || unit_tokens > available {
            break;
        }
        available -= unit_tokens;
        boundary = start;
    }
    boundary
}

/// The position in `rest` of the first message after `from` that `selection` kept (system
/// messages aside); `rest.len()` when none was.
fn first_kept_of_rest(selection: &trim::Selection, lead: usize, from: usize, rest: &[Message]) -> usize {
    selection
        .indices
        .iter()
        .filter(|&&index| index > lead)
        .map(|&index| index - lead - 1 + from)
        .find(|&position| !rest[position].role.is_system())
        .unwrap_or(rest.len())
}

/// Trims a candidate to `max_tokens`, keeping system messages and the summary.
fn trim_to_budget(
    candidate: &[&Message],
    counts: &[TokenCount],
    summary_index: Option<usize>,
    max_tokens: usize,
    counter: &Arc<dyn TokenCounter>,
) -> Result<trim::Selection, FitError> {
    let options = TrimOptions::token(max_tokens).with_counter(Arc::clone(counter));
    let pinned: Vec<usize> = summary_index.into_iter().collect();
    Ok(trim::select(candidate, &options, &pinned, Some(counts))?)
}

fn result(
    candidate: &[&Message],
    selection: trim::Selection,
    action: FitAction,
    summary: Option<String>,
    original_count: usize,
    summarized_count: usize,
) -> ContextResult {
    let messages: Vec<Message> = selection.indices.iter().map(|&index| candidate[index].clone()).collect();
    ContextResult {
        final_count: messages.len(),
        messages,
        action,
        tokens: selection.tokens.unwrap_or(TokenCount::ZERO),
        summary,
        original_count,
        summarized_count,
    }
}
