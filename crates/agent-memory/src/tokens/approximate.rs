//! The approximate counter: a quarter of the characters, rounded up.

use super::{TokenCount, TokenCounter};
use crate::message::Message;

/// Estimates tokens from characters, for models whose tokenizer is not available.
///
/// The formula (the reference library's, extended to count everything a message sends):
///
/// * a text: `ceil(chars / 4)`, where `chars` counts Unicode scalar values;
/// * a message: `4 + ceil(chars / 4)`, where `chars` adds up the text of its content (text
///   parts joined by a newline), its `name`, its `tool_call_id`, and the function name and
///   arguments of every tool call;
/// * a request: the sum of its messages, with no reply priming.
///
/// Every count it returns has `exact: false`. On English prose it undercounts OpenAI's
/// tokenizers by about 10%.
///
/// ```
/// use agent_memory::message::Message;
/// use agent_memory::tokens::{ApproximateCounter, TokenCount, TokenCounter};
///
/// assert_eq!(ApproximateCounter.count_text("Hello, world!"), TokenCount::approximate(4));
/// assert_eq!(ApproximateCounter.count_message(&Message::user("x".repeat(100))).tokens, 29);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApproximateCounter;

/// Tokens the approximate counter adds for each message.
pub const APPROXIMATE_TOKENS_PER_MESSAGE: usize = 4;

fn quarter_rounded_up(chars: usize) -> usize {
    chars.div_ceil(4)
}

impl TokenCounter for ApproximateCounter {
    fn name(&self) -> &str {
        "approximate"
    }

    fn count_text(&self, text: &str) -> TokenCount {
        TokenCount::approximate(quarter_rounded_up(text.chars().count()))
    }

    fn count_message(&self, message: &Message) -> TokenCount {
        let mut chars = message.text().chars().count();
        chars += message.name.as_deref().map_or(0, |name| name.chars().count());
        chars += message.tool_call_id.as_deref().map_or(0, |id| id.chars().count());
        for call in &message.tool_calls {
            chars += call.name.chars().count() + call.arguments.chars().count();
        }
        TokenCount::approximate(APPROXIMATE_TOKENS_PER_MESSAGE + quarter_rounded_up(chars))
    }

    fn reply_priming(&self) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::message::ToolCall;

    #[test]
    fn counts_a_quarter_of_the_characters_rounded_up() {
        let count = |text: &str| ApproximateCounter.count_text(text).tokens;
        assert_eq!(count(""), 0);
        assert_eq!(count("a"), 1);
        assert_eq!(count("abcd"), 1);
        assert_eq!(count("abcde"), 2);
        // Characters, not bytes: 4 two-byte characters are 1 token.
        assert_eq!(count("éééé"), 1);
    }

    #[test]
    fn tool_calls_and_ids_are_counted() {
        // "get_weather" (11) + {"city":"Paris"} (16) = 27 chars -> 7, + 4.
        let call = ToolCall::new("c1", "get_weather", &json!({"city": "Paris"}));
        assert_eq!(ApproximateCounter.count_message(&Message::assistant_tool_calls(vec![call])).tokens, 11);
        // "sunny" (5) + "c1" (2) = 7 chars -> 2, + 4.
        assert_eq!(ApproximateCounter.count_message(&Message::tool("c1", "sunny")).tokens, 6);
    }
}
