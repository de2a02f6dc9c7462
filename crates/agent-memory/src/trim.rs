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
    /// `start_on` was set with strategy `first`, whose result always starts at the
    /// conversation's first message.
    #[error("start_on applies to strategies last and token, not first")]
    StartOnWithFirst,
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
    /// For `last` and `token`: the oldest kept message (system messages aside) must have this
    /// role; older ones are dropped until it does (default: none). `Some(Role::User)` keeps a
    /// trimmed conversation from opening with an answer, as Anthropic's API requires.
    pub start_on: Option<Role>,
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
            .field("start_on", &self.start_on)
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
            start_on: None,
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

    /// Sets [`TrimOptions::start_on`].
    ///
    /// ```
    /// use agent_memory::message::{Message, Role};
    /// use agent_memory::trim::{trim_messages, TrimOptions};
    ///
    /// let messages = vec![
    ///     Message::user("Weather in Paris?"),
    ///     Message::assistant("Sunny."),
    ///     Message::user("And in Rome?"),
    ///     Message::assistant("Rain."),
    /// ];
    /// // The last 3 messages would open with an answer: it goes too.
    /// let trimmed = trim_messages(&messages, &TrimOptions::last(3).with_start_on(Role::User))?;
    /// assert_eq!(trimmed, messages[2..]);
    /// # Ok::<(), agent_memory::trim::TrimError>(())
    /// ```
    pub fn with_start_on(mut self, role: Role) -> TrimOptions {
        self.start_on = Some(role);
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
            TrimStrategy::First if self.start_on.is_some() => Err(TrimError::StartOnWithFirst),
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
    let pinned_indices: Vec<usize> = (0..messages.len()).filter(|&index| is_pinned(index)).collect();

    let counter = &options.counter;
    let count_at = |index: usize| match counts {
        Some(counts) => counts[index],
        None => counter.count_message(messages[index].borrow()),
    };
    let mut pinned_tokens = TokenCount::ZERO;
    if let Some(max_tokens) = options.max_tokens {
        pinned_tokens = pinned_indices.iter().map(|&index| count_at(index)).sum();
        if !pinned_indices.is_empty() {
            let required = pinned_tokens.tokens + counter.reply_priming();
            if required > max_tokens {
                return Err(TrimError::SystemOverBudget { required, max_tokens });
            }
        }
    }

    // The kept units in the order they were taken, with their tokens.
    let mut kept_units: Vec<(Range<usize>, TokenCount)> = Vec::new();
    let mut kept_messages = 0;
    let mut tokens = pinned_tokens;
    // Units are found lazily from the end being kept, so trimming a long conversation to
    // its newest messages does not walk all of it.
    let ordered: Box<dyn Iterator<Item = Range<usize>>> = match options.strategy {
        TrimStrategy::First => Box::new(units_forward(messages, &is_pinned)),
        TrimStrategy::Last | TrimStrategy::Token => Box::new(units_backward(messages, &is_pinned)),
    };
    for unit in ordered {
        if options.max_messages.is_some_and(|max| kept_messages + unit.len() > max) {
            break;
        }
        let mut unit_tokens = TokenCount::ZERO;
        if let Some(max_tokens) = options.max_tokens {
            unit_tokens = unit.clone().map(count_at).sum();
            if tokens.tokens + unit_tokens.tokens + counter.reply_priming() > max_tokens {
                break;
            }
            tokens += unit_tokens;
        }
        kept_messages += unit.len();
        kept_units.push((unit, unit_tokens));
    }
    if let Some(role) = options.start_on {
        // Newest first (`first` refuses `start_on`): drop the oldest units until one opens
        // with `role`.
        let opens_otherwise = |unit: &Range<usize>| messages[unit.start].borrow().role != role;
        if kept_units.last().is_some_and(|(unit, _)| opens_otherwise(unit)) {
            while kept_units.pop_if(|(unit, _)| opens_otherwise(unit)).is_some() {}
            kept_messages = kept_units.iter().map(|(unit, _)| unit.len()).sum();
            tokens = pinned_tokens + kept_units.iter().map(|(_, unit_tokens)| *unit_tokens).sum::<TokenCount>();
        }
    }

    if options.strategy != TrimStrategy::First {
        kept_units.reverse();
    }
    // Both lists are ascending and disjoint (units skip pinned messages): merge them.
    let mut indices = Vec::with_capacity(pinned_indices.len() + kept_messages);
    let mut pinned_left = pinned_indices.into_iter().peekable();
    for index in kept_units.into_iter().flat_map(|(unit, _)| unit) {
        while let Some(pinned_index) = pinned_left.next_if(|&pinned_index| pinned_index < index) {
            indices.push(pinned_index);
        }
        indices.push(index);
    }
    indices.extend(pinned_left);
    let tokens = options.max_tokens.map(|_| {
        if indices.is_empty() { TokenCount::ZERO } else { tokens + TokenCount::exact(counter.reply_priming()) }
    });
    Ok(Selection { indices, tokens })
}

/// Splits the messages that are not pinned into units that are kept or dropped whole: an
/// assistant message with tool calls plus the tool results that follow it and answer its
/// calls; every other message alone.
fn unit_end<M: Borrow<Message>>(messages: &[M], start: usize, is_pinned: &impl Fn(usize) -> bool) -> usize {
    let message = messages[start].borrow();
    let mut end = start + 1;
    if message.role == Role::Assistant && !message.tool_calls.is_empty() {
        while end < messages.len()
            && !is_pinned(end)
            && messages[end].borrow().role == Role::Tool
            && messages[end]
                .borrow()
                .tool_call_id
                .as_deref()
                .is_some_and(|id| message.tool_calls.iter().any(|call| call.id == id))
        {
            end += 1;
        }
    }
    end
}

/// The messages that are not pinned, as units kept or dropped whole, oldest first: an
/// assistant message with tool calls plus the tool results that follow it and answer its
/// calls; every other message alone.
fn units_forward<'a, M: Borrow<Message>>(
    messages: &'a [M],
    is_pinned: &'a impl Fn(usize) -> bool,
) -> impl Iterator<Item = Range<usize>> + 'a {
    let mut index = 0;
    std::iter::from_fn(move || {
        while index < messages.len() && is_pinned(index) {
            index += 1;
        }
        if index == messages.len() {
            return None;
        }
        let start = index;
        index = unit_end(messages, start, is_pinned);
        Some(start..index)
    })
}

/// The same units as [`units_forward`], newest first.
fn units_backward<'a, M: Borrow<Message>>(
    messages: &'a [M],
    is_pinned: &'a impl Fn(usize) -> bool,
) -> impl Iterator<Item = Range<usize>> + 'a {
    let mut end = messages.len();
    std::iter::from_fn(move || {
        while end > 0 && is_pinned(end - 1) {
            end -= 1;
        }
        if end == 0 {
            return None;
        }
        let last = end - 1;
        let mut start = last;
        if messages[last].borrow().role == Role::Tool {
            // Back over the run of tool results to the message before it: if that is a call
            // whose results reach `last`, the unit starts there; else `last` is an orphan.
            let mut first_result = last;
            while first_result > 0
                && !is_pinned(first_result - 1)
                && messages[first_result - 1].borrow().role == Role::Tool
            {
                first_result -= 1;
            }
            if first_result > 0 && !is_pinned(first_result - 1) {
                let call = first_result - 1;
                if unit_end(messages, call, is_pinned) > last {
                    start = call;
                }
            }
        }
        let unit = start..end;
        end = start;
        Some(unit)
    })
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
        let forward = |pinned: &dyn Fn(usize) -> bool| units_forward(&messages, &pinned).collect::<Vec<_>>();
        let backward = |pinned: &dyn Fn(usize) -> bool| units_backward(&messages, &pinned).collect::<Vec<_>>();
        assert_eq!(forward(&|i| i == 0), [1..2, 2..5, 5..6, 6..7]);
        assert_eq!(backward(&|i| i == 0), [6..7, 5..6, 2..5, 1..2]);
        assert_eq!(forward(&|_| false), [0..1, 1..2, 2..5, 5..6, 6..7]);
        assert_eq!(backward(&|_| false), [6..7, 5..6, 2..5, 1..2, 0..1]);
        // A pinned message inside a group cuts it, both ways.
        assert_eq!(forward(&|i| i == 3), [0..1, 1..2, 2..3, 4..5, 5..6, 6..7]);
        assert_eq!(backward(&|i| i == 3), [6..7, 5..6, 4..5, 2..3, 1..2, 0..1]);
    }

    proptest::proptest! {
        /// On any sequence (orphan results, partial groups, pinned messages anywhere), the
        /// units found from the end are those found from the start, reversed.
        #[test]
        fn backward_units_are_forward_units_reversed(
            kinds in proptest::collection::vec((0u8..5, 0u8..3, proptest::bool::ANY), 0..30),
        ) {
            let messages: Vec<Message> = kinds
                .iter()
                .map(|&(kind, id, _)| match kind {
                    0 => Message::system("s"),
                    1 => Message::user("u"),
                    2 => Message::assistant_tool_calls(vec![
                        ToolCall::new(format!("c{id}"), "f", &json!({})),
                        ToolCall::new(format!("c{}", id + 1), "f", &json!({})),
                    ]),
                    _ => Message::tool(format!("c{id}"), "r"),
                })
                .collect();
            let is_pinned = |i: usize| kinds[i].2 && (kinds[i].0 == 0 || kinds[i].1 == 0);
            let forward: Vec<Range<usize>> = units_forward(&messages, &is_pinned).collect();
            let mut backward: Vec<Range<usize>> = units_backward(&messages, &is_pinned).collect();
            backward.reverse();
            proptest::prop_assert_eq!(forward, backward);
        }
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
