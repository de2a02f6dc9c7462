//! Trimming a conversation to a number of messages or a token budget.
//!
//! [`trim_messages`] keeps the newest (`last`, `token`) or oldest (`first`) messages that
//! fit, and guarantees that what it returns is a valid conversation for the OpenAI and
//! Anthropic APIs:
//!
//! * an assistant message that calls tools and the tool results answering it are one unit,
//!   kept or dropped together, so a tool result never loses the call it answers and a call
//!   never loses one of its results;
//! * the token budget is never exceeded: when the system messages alone do not fit, the
//!   result is [`TrimError::SystemOverBudget`], not an oversized context;
//! * with `preserve_system` (the default), every system and developer message is kept, in
//!   its place, and does not count towards `max_messages`;
//! * the kept messages are a contiguous run of the conversation (newest for `last` and
//!   `token`, oldest for `first`), in their original order, unchanged (`id` and metadata
//!   included).
//!
//! Trimming never makes a valid conversation invalid; it does not repair an invalid one
//! (an orphan tool result in the input is a unit of its own).
//!
//! # Examples
//!
//! ```
//! use agent_memory::message::{Message, ToolCall};
//! use agent_memory::trim::{trim_messages, TrimOptions};
//! use serde_json::json;
//!
//! let messages = vec![
//!     Message::system("You are helpful."),
//!     Message::user("Weather in Paris?"),
//!     Message::assistant_tool_calls(vec![ToolCall::new("c1", "weather", &json!({"city": "Paris"}))]),
//!     Message::tool("c1", "sunny"),
//!     Message::assistant("It is sunny."),
//! ];
//! // The last 2 messages would orphan the tool result: the call and its result go together.
//! let trimmed = trim_messages(&messages, &TrimOptions::last(2))?;
//! assert_eq!(trimmed, [messages[0].clone(), messages[4].clone()]);
//! let trimmed = trim_messages(&messages, &TrimOptions::last(3))?;
//! assert_eq!(trimmed, [&messages[0], &messages[2], &messages[3], &messages[4]].map(Clone::clone));
//! # Ok::<(), agent_memory::trim::TrimError>(())
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use crate::message::{Message, Role};
use crate::tokens::{ApproximateCounter, TokenCount, TokenCounter};

/// Why a conversation could not be trimmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrimError {
    /// `last` and `first` need `max_messages`.
    #[error("max_messages is required for strategy {strategy}")]
    MissingMaxMessages {
        /// The strategy that was asked for.
        strategy: TrimStrategy,
    },
    /// `token` needs `max_tokens`.
    #[error("max_tokens is required for strategy token")]
    MissingMaxTokens,
    /// A strategy name that is not `last`, `first` or `token`.
    #[error("unknown strategy {0:?}: use last, first or token")]
    UnknownStrategy(String),
    /// The messages that must be kept (system messages, a summary) need more tokens than
    /// the budget allows.
    #[error(
        "the system messages alone need {required} tokens, over the budget of {max_tokens}: raise max_tokens or shorten the system prompt"
    )]
    SystemOverBudget {
        /// Tokens of the messages that must be kept, with the reply priming.
        required: usize,
        /// The budget.
        max_tokens: usize,
    },
}

/// Which end of the conversation to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrimStrategy {
    /// Keep the newest messages, up to `max_messages` (and `max_tokens` when set).
    Last,
    /// Keep the oldest messages, up to `max_messages` (and `max_tokens` when set).
    First,
    /// Keep the newest messages that fit in `max_tokens` (and `max_messages` when set).
    Token,
}

impl TrimStrategy {
    /// The strategy's name: `last`, `first` or `token`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrimStrategy::Last => "last",
            TrimStrategy::First => "first",
            TrimStrategy::Token => "token",
        }
    }
}

impl fmt::Display for TrimStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrimStrategy {
    type Err = TrimError;

    fn from_str(name: &str) -> Result<TrimStrategy, TrimError> {
        match name {
            "last" => Ok(TrimStrategy::Last),
            "first" => Ok(TrimStrategy::First),
            "token" => Ok(TrimStrategy::Token),
            other => Err(TrimError::UnknownStrategy(other.to_owned())),
        }
    }
}

/// What [`trim_messages`] keeps.
///
/// Build it with [`TrimOptions::last`], [`TrimOptions::first`] or [`TrimOptions::token`]
/// and refine it with the `with_*` methods. Limits given together all apply.
#[derive(Clone)]
pub struct TrimOptions {
    /// Which end to keep.
    pub strategy: TrimStrategy,
    /// The most messages to keep, not counting preserved system messages.
    pub max_messages: Option<usize>,
    /// The most tokens the result may have, as `counter` counts a request
    /// ([`TokenCounter::count_messages`]).
    pub max_tokens: Option<usize>,
    /// Keep every system and developer message (default: true).
    pub preserve_system: bool,
    /// Counts tokens for `max_tokens` (default: [`ApproximateCounter`]; use
    /// [`crate::models::counter_for_model`] for a model's own tokenizer).
    pub counter: Arc<dyn TokenCounter>,
}

impl fmt::Debug for TrimOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrimOptions")
            .field("strategy", &self.strategy)
            .field("max_messages", &self.max_messages)
            .field("max_tokens", &self.max_tokens)
            .field("preserve_system", &self.preserve_system)
            .field("counter", &self.counter.name())
            .finish()
    }
}

impl TrimOptions {
    /// `strategy` with no limits yet (validated by [`trim_messages`]), system messages
    /// preserved and the approximate counter.
    pub fn new(strategy: TrimStrategy) -> TrimOptions {
        TrimOptions {
            strategy,
            max_messages: None,
            max_tokens: None,
            preserve_system: true,
            counter: Arc::new(ApproximateCounter),
        }
    }

    /// Keep the last `max_messages` messages.
    pub fn last(max_messages: usize) -> TrimOptions {
        TrimOptions::new(TrimStrategy::Last).with_max_messages(max_messages)
    }

    /// Keep the first `max_messages` messages.
    pub fn first(max_messages: usize) -> TrimOptions {
        TrimOptions::new(TrimStrategy::First).with_max_messages(max_messages)
    }

    /// Keep the newest messages that fit in `max_tokens`.
    pub fn token(max_tokens: usize) -> TrimOptions {
        TrimOptions::new(TrimStrategy::Token).with_max_tokens(max_tokens)
    }

    /// Sets [`TrimOptions::max_messages`].
    pub fn with_max_messages(mut self, max_messages: usize) -> TrimOptions {
        self.max_messages = Some(max_messages);
        self
    }

    /// Sets [`TrimOptions::max_tokens`].
    pub fn with_max_tokens(mut self, max_tokens: usize) -> TrimOptions {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets [`TrimOptions::preserve_system`].
    pub fn with_preserve_system(mut self, preserve_system: bool) -> TrimOptions {
        self.preserve_system = preserve_system;
        self
    }

    /// Sets [`TrimOptions::counter`].
    pub fn with_counter(mut self, counter: Arc<dyn TokenCounter>) -> TrimOptions {
        self.counter = counter;
        self
    }

    fn validate(&self) -> Result<(), TrimError> {
        match self.strategy {
            TrimStrategy::Last | TrimStrategy::First if self.max_messages.is_none() => {
                Err(TrimError::MissingMaxMessages { strategy: self.strategy })
            }
            TrimStrategy::Token if self.max_tokens.is_none() => Err(TrimError::MissingMaxTokens),
            _ => Ok(()),
        }
    }
}

/// Trims `messages` as `options` say; see the [module docs](self) for the guarantees.
///
/// Empty input gives an empty result.
///
/// # Errors
///
/// * [`TrimError::MissingMaxMessages`] / [`TrimError::MissingMaxTokens`] when the
///   strategy's limit is not set;
/// * [`TrimError::SystemOverBudget`] when the preserved system messages alone exceed
///   `max_tokens`.
///
/// # Examples
///
/// ```
/// use agent_memory::message::Message;
/// use agent_memory::models::counter_for_model;
/// use agent_memory::trim::{trim_messages, TrimOptions};
///
/// let messages: Vec<Message> = (0..10).map(|i| Message::user(format!("message {i}"))).collect();
/// let options = TrimOptions::token(31).with_counter(counter_for_model("gpt-4o"));
/// let trimmed = trim_messages(&messages, &options)?;
/// // A message is 3 + 1 ("user") + 3 ("message", " ", "7") tokens; 4 of them and the
/// // reply priming (3) are 31.
/// assert_eq!(trimmed, messages[6..]);
/// # Ok::<(), agent_memory::trim::TrimError>(())
/// ```
pub fn trim_messages(messages: &[Message], options: &TrimOptions) -> Result<Vec<Message>, TrimError> {
    let selection = select(messages, options, &[], None)?;
    Ok(selection.indices.iter().map(|&index| messages[index].clone()).collect())
}

/// Like [`trim_messages`], without copying: returns references to the kept messages.
///
/// # Errors
///
/// As [`trim_messages`].
///
/// # Examples
///
/// ```
/// use agent_memory::message::Message;
/// use agent_memory::trim::{trim_message_refs, TrimOptions};
///
/// let messages = vec![Message::system("Be brief."), Message::user("a"), Message::user("b")];
/// let kept = trim_message_refs(&messages, &TrimOptions::last(1))?;
/// assert!(std::ptr::eq(kept[1], &messages[2]));
/// # Ok::<(), agent_memory::trim::TrimError>(())
/// ```
pub fn trim_message_refs<'a>(messages: &'a [Message], options: &TrimOptions) -> Result<Vec<&'a Message>, TrimError> {
    let selection = select(messages, options, &[], None)?;
    Ok(selection.indices.iter().map(|&index| &messages[index]).collect())
}

/// The messages [`trim_messages`] keeps, by index, and their token count when a token
/// limit was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    pub(crate) indices: Vec<usize>,
    pub(crate) tokens: Option<TokenCount>,
}

/// Selects the messages to keep. `pinned` are indices kept whatever happens (on top of the
/// preserved system messages), such as an injected summary. `counts`, when given, are the
/// messages' token counts by `options.counter`, so they are not counted twice.
pub(crate) fn select<M: Borrow<Message>>(
    messages: &[M],
    options: &TrimOptions,
    pinned: &[usize],
    counts: Option<&[TokenCount]>,
) -> Result<Selection, TrimError> {
    options.validate()?;
    if messages.is_empty() {
        return Ok(Selection { indices: Vec::new(), tokens: options.max_tokens.map(|_| TokenCount::ZERO) });
    }
    let is_pinned = |index: usize| {
        (options.preserve_system && messages[index].borrow().role.is_system()) || pinned.contains(&index)
    };
    let units = units(messages, &is_pinned);
    let pinned_indices: Vec<usize> = (0..messages.len()).filter(|&index| is_pinned(index)).collect();

    let counter = &options.counter;
    let count_at = |index: usize| match counts {
        Some(counts) => counts[index],
        None => counter.count_message(messages[index].borrow()),
    };
    let mut tokens = TokenCount::ZERO;
    if let Some(max_tokens) = options.max_tokens {
        tokens = pinned_indices.iter().map(|&index| count_at(index)).sum();
        if !pinned_indices.is_empty() {
            let required = tokens.tokens + counter.reply_priming();
            if required > max_tokens {
                return Err(TrimError::SystemOverBudget { required, max_tokens });
            }
        }
    }

    let mut kept_units: Vec<Range<usize>> = Vec::new();
    let mut kept_messages = 0;
    let ordered: Box<dyn Iterator<Item = &Range<usize>>> = match options.strategy {
        TrimStrategy::First => Box::new(units.iter()),
        TrimStrategy::Last | TrimStrategy::Token => Box::new(units.iter().rev()),
    };
    for unit in ordered {
        if options.max_messages.is_some_and(|max| kept_messages + unit.len() > max) {
            break;
        }
        if let Some(max_tokens) = options.max_tokens {
            let unit_tokens: TokenCount = unit.clone().map(count_at).sum();
            if tokens.tokens + unit_tokens.tokens + counter.reply_priming() > max_tokens {
                break;
            }
            tokens += unit_tokens;
        }
        kept_messages += unit.len();
        kept_units.push(unit.clone());
    }

    let mut indices = pinned_indices;
    indices.extend(kept_units.into_iter().flatten());
    indices.sort_unstable();
    let tokens = options.max_tokens.map(|_| {
        if indices.is_empty() { TokenCount::ZERO } else { tokens + TokenCount::exact(counter.reply_priming()) }
    });
    Ok(Selection { indices, tokens })
}

/// Splits the messages that are not pinned into units that are kept or dropped whole: an
/// assistant message with tool calls plus the tool results that follow it and answer its
/// calls; every other message alone.
fn units<M: Borrow<Message>>(messages: &[M], is_pinned: &impl Fn(usize) -> bool) -> Vec<Range<usize>> {
    let mut units = Vec::new();
    let mut index = 0;
    while index < messages.len() {
        if is_pinned(index) {
            index += 1;
            continue;
        }
        let start = index;
        index += 1;
        let message = messages[start].borrow();
        if message.role == Role::Assistant && !message.tool_calls.is_empty() {
            while index < messages.len()
                && !is_pinned(index)
                && messages[index].borrow().role == Role::Tool
                && messages[index]
                    .borrow()
                    .tool_call_id
                    .as_deref()
                    .is_some_and(|id| message.tool_calls.iter().any(|call| call.id == id))
            {
                index += 1;
            }
        }
        units.push(start..index);
    }
    units
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::message::ToolCall;

    #[test]
    fn units_group_a_call_with_its_results() {
        let call = |id: &str| ToolCall::new(id, "f", &json!({}));
        let messages = vec![
            Message::system("s"),
            Message::user("u"),
            Message::assistant_tool_calls(vec![call("a"), call("b")]),
            Message::tool("a", "1"),
            Message::tool("b", "2"),
            Message::tool("zzz", "orphan"),
            Message::assistant("done"),
        ];
        assert_eq!(units(&messages, &|i| i == 0), [1..2, 2..5, 5..6, 6..7]);
        assert_eq!(units(&messages, &|_| false), [0..1, 1..2, 2..5, 5..6, 6..7]);
    }

    #[test]
    fn strategies_parse_and_print() {
        for strategy in [TrimStrategy::Last, TrimStrategy::First, TrimStrategy::Token] {
            assert_eq!(strategy.as_str().parse::<TrimStrategy>(), Ok(strategy));
        }
        assert_eq!(
            "middle".parse::<TrimStrategy>().unwrap_err().to_string(),
            "unknown strategy \"middle\": use last, first or token"
        );
    }
}
