//! Token counting: exact for OpenAI models, from a local `tokenizer.json` for open models,
//! and approximate for everything else, where every count says whether it is exact.
//!
//! # Counters
//!
//! | counter | text counts | use it for |
//! |---|---|---|
//! | [`OpenAiCounter`] | exact (`o200k_base`, `cl100k_base`, compiled in, offline) | OpenAI models |
//! | `HuggingFaceCounter` (feature `hf-tokenizer`) | exact | open models with a local `tokenizer.json` |
//! | [`ApproximateCounter`] | `ceil(chars / 4)` | models whose tokenizer is not available |
//!
//! [`crate::models::counter_for_model`] picks the right one for a model name; an unknown
//! model gets the approximate counter and its counts say `exact: false`. Nothing ever falls
//! back silently.
//!
//! # Chat framing
//!
//! A chat request costs more than the sum of its texts. OpenAI documents the framing in its
//! cookbook ("How to count tokens with tiktoken"), and [`ChatFraming::OPENAI`] applies it:
//!
//! * 3 tokens per message (`<|start|>{role}<|message|>…<|end|>`), plus the tokens of the
//!   role name and of the content;
//! * when the message has a `name`: the tokens of the name plus 1;
//! * 3 tokens once per request, for the reply priming (`<|start|>assistant<|message|>`).
//!
//! These are exactly the numbers of tiktoken's and `tiktoken-rs`'s `num_tokens_from_messages`.
//! Tool calls count like `tiktoken-rs` does (the tokens of the function name and arguments
//! plus 1 per call), but OpenAI does not document how it renders them, so a message with
//! tool calls, a tool result, or a multi-part content is counted as *not exact*.
//!
//! # Examples
//!
//! ```
//! use agent_memory::message::Message;
//! use agent_memory::tokens::{ApproximateCounter, OpenAiCounter, TokenCount, TokenCounter};
//!
//! let messages = [Message::user("Hello, world!")];
//! // "Hello, world!" is 4 tokens; 3 + 1 ("user") per message; 3 for the reply priming.
//! assert_eq!(OpenAiCounter::o200k_base().count_messages(&messages), TokenCount::exact(11));
//! // ceil(13 / 4) + 4 per message.
//! assert_eq!(ApproximateCounter.count_messages(&messages), TokenCount::approximate(8));
//! ```

mod approximate;
#[cfg(feature = "hf-tokenizer")]
#[cfg_attr(docsrs, doc(cfg(feature = "hf-tokenizer")))]
mod huggingface;
mod openai;
mod pretokenize;

use std::fmt;
use std::ops::{Add, AddAssign};
use std::sync::Arc;

pub use approximate::{APPROXIMATE_TOKENS_PER_MESSAGE, ApproximateCounter};
#[cfg(feature = "hf-tokenizer")]
pub use huggingface::{HuggingFaceCounter, TokenizerError};
pub use openai::{Encoding, OpenAiCounter};

use crate::message::{Content, Message, Role};

/// A number of tokens and whether it is exact.
///
/// A count is exact when it was made with the model's own tokenizer and a documented chat
/// framing. Sums are exact only when every part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TokenCount {
    /// The number of tokens.
    pub tokens: usize,
    /// True when `tokens` is what the model's tokenizer produces; false for estimates.
    pub exact: bool,
}

impl TokenCount {
    /// An exact count.
    pub const fn exact(tokens: usize) -> TokenCount {
        TokenCount { tokens, exact: true }
    }

    /// An estimate.
    pub const fn approximate(tokens: usize) -> TokenCount {
        TokenCount { tokens, exact: false }
    }

    /// Zero tokens, exactly: the neutral element of `+`.
    pub const ZERO: TokenCount = TokenCount::exact(0);
}

impl Add for TokenCount {
    type Output = TokenCount;

    fn add(self, other: TokenCount) -> TokenCount {
        TokenCount { tokens: self.tokens + other.tokens, exact: self.exact && other.exact }
    }
}

impl AddAssign for TokenCount {
    fn add_assign(&mut self, other: TokenCount) {
        *self = *self + other;
    }
}

impl std::iter::Sum for TokenCount {
    fn sum<I: Iterator<Item = TokenCount>>(iter: I) -> TokenCount {
        iter.fold(TokenCount::ZERO, Add::add)
    }
}

impl fmt::Display for TokenCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exact { write!(f, "{}", self.tokens) } else { write!(f, "~{}", self.tokens) }
    }
}

/// Counts the tokens of texts and chat messages.
///
/// Implementations must keep one rule, which trimming relies on: the count of a list of
/// messages is the sum of the counts of its messages plus [`TokenCounter::reply_priming`]
/// (when the list is not empty). The provided [`TokenCounter::count_messages`] does exactly
/// that; do not override it with something else.
pub trait TokenCounter: Send + Sync {
    /// A short name for this counter, such as `o200k_base` or `approximate`.
    fn name(&self) -> &str;

    /// The tokens of a plain text, without any chat framing.
    fn count_text(&self, text: &str) -> TokenCount;

    /// The tokens of one message, with its per-message framing.
    fn count_message(&self, message: &Message) -> TokenCount;

    /// Tokens added once per non-empty request (OpenAI's reply priming: 3).
    fn reply_priming(&self) -> usize;

    /// The tokens of a whole request: the sum of [`TokenCounter::count_message`] plus
    /// [`TokenCounter::reply_priming`]; 0 for no messages.
    fn count_messages(&self, messages: &[Message]) -> TokenCount {
        if messages.is_empty() {
            return TokenCount::ZERO;
        }
        let exact_priming = TokenCount::exact(self.reply_priming());
        messages.iter().map(|message| self.count_message(message)).sum::<TokenCount>() + exact_priming
    }
}

impl<T: TokenCounter + ?Sized> TokenCounter for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn count_text(&self, text: &str) -> TokenCount {
        (**self).count_text(text)
    }

    fn count_message(&self, message: &Message) -> TokenCount {
        (**self).count_message(message)
    }

    fn reply_priming(&self) -> usize {
        (**self).reply_priming()
    }

    fn count_messages(&self, messages: &[Message]) -> TokenCount {
        (**self).count_messages(messages)
    }
}

impl<T: TokenCounter + ?Sized> TokenCounter for &T {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn count_text(&self, text: &str) -> TokenCount {
        (**self).count_text(text)
    }

    fn count_message(&self, message: &Message) -> TokenCount {
        (**self).count_message(message)
    }

    fn reply_priming(&self) -> usize {
        (**self).reply_priming()
    }

    fn count_messages(&self, messages: &[Message]) -> TokenCount {
        (**self).count_messages(messages)
    }
}

/// How a chat template wraps messages, in tokens; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatFraming {
    /// Tokens around every message (OpenAI: 3).
    pub per_message: usize,
    /// Extra tokens when a message has a `name`, on top of the name's own tokens (OpenAI: 1).
    pub per_name: usize,
    /// Extra tokens per tool call, on top of its name and arguments (`tiktoken-rs`: 1).
    pub per_tool_call: usize,
    /// Tokens once per request (OpenAI: 3).
    pub reply_priming: usize,
    /// Whether the role name's own tokens are counted (OpenAI: yes).
    pub count_role: bool,
}

impl ChatFraming {
    /// OpenAI's documented framing for every current chat model (gpt-3.5-turbo-0613 and later).
    pub const OPENAI: ChatFraming =
        ChatFraming { per_message: 3, per_name: 1, per_tool_call: 1, reply_priming: 3, count_role: true };

    /// Counts `message` under this framing, with `count` giving the tokens of a text.
    ///
    /// The result is exact when `text_is_exact` and the message is plain text (or empty)
    /// from a system, developer, user or assistant without tool calls; tool calls, tool
    /// results and multi-part contents make it an estimate (see the [module docs](self)).
    pub fn count_message(&self, message: &Message, text_is_exact: bool, count: impl Fn(&str) -> usize) -> TokenCount {
        let role_tokens = if self.count_role { count(message.role.as_str()) } else { 0 };
        self.count_message_with_role(message, text_is_exact, role_tokens, count)
    }

    /// [`ChatFraming::count_message`] with the role's tokens already known.
    pub(crate) fn count_message_with_role(
        &self,
        message: &Message,
        text_is_exact: bool,
        role_tokens: usize,
        count: impl Fn(&str) -> usize,
    ) -> TokenCount {
        let mut tokens = self.per_message + if self.count_role { role_tokens } else { 0 };
        let mut exact = text_is_exact && message.role != Role::Tool && message.tool_calls.is_empty();
        match &message.content {
            None => {}
            Some(Content::Text(text)) => tokens += count(text),
            Some(Content::Parts(parts)) => {
                exact = exact && parts.len() <= 1;
                for part in parts {
                    match part.as_text() {
                        Some(text) => tokens += count(text),
                        None => exact = false,
                    }
                }
            }
        }
        if let Some(name) = &message.name {
            tokens += count(name) + self.per_name;
        }
        for call in &message.tool_calls {
            tokens += count(&call.name) + count(&call.arguments) + self.per_tool_call;
        }
        if let Some(serde_json::Value::String(refusal)) = message.extra.get("refusal") {
            tokens += count(refusal);
        }
        TokenCount { tokens, exact }
    }
}

/// Counts a whole request with `counter`: a shorthand for
/// [`TokenCounter::count_messages`].
///
/// ```
/// use agent_memory::message::Message;
/// use agent_memory::models::counter_for_model;
/// use agent_memory::tokens::count_tokens;
///
/// let messages = [Message::user("Hello, world!")];
/// let count = count_tokens(&messages, &counter_for_model("gpt-4o"));
/// assert_eq!((count.tokens, count.exact), (11, true));
/// let count = count_tokens(&messages, &counter_for_model("some-new-model"));
/// assert_eq!((count.tokens, count.exact), (8, false));
/// ```
pub fn count_tokens(messages: &[Message], counter: &dyn TokenCounter) -> TokenCount {
    counter.count_messages(messages)
}
