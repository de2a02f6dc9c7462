//! Exact OpenAI counting: identical to tiktoken (`tiktoken-rs`) for text and for chats.

use agent_memory::message::{Content, ContentPart, Message, ToolCall};
use agent_memory::models::counter_for_model;
use agent_memory::tokens::{OpenAiCounter, TokenCount, TokenCounter};
use proptest::prelude::*;
use serde_json::json;
use tiktoken_rs::{ChatCompletionRequestMessage, FunctionCall, cl100k_base_singleton, o200k_base_singleton};

const SAMPLES: &[&str] = &[
    "",
    "Hello, world!",
    "tiktoken is great!",
    "antidisestablishmentarianism",
    "  leading and trailing spaces  \n\n\ttabs\r\nand CRLF",
    "Numbers: 1234567890 3.14159 -42 1e10",
    "fn main() { println!(\"{}\", 1 + 2); }\n    let x = vec![1, 2, 3];",
    "Unicode: naïve café, Straße, 東京タワー, 안녕하세요, مرحبا, 🚀🎉👍🏽",
    "I'm sure they've said we'll see what you'd do. DON'T SHOUT.",
    "<|endoftext|> is ordinary text here",
];

fn tiktoken_message(role: &str, content: &str, name: Option<&str>) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage {
        role: role.to_owned(),
        content: Some(content.to_owned()),
        name: name.map(str::to_owned),
        ..Default::default()
    }
}

fn named(message: Message, name: &str) -> Message {
    Message { name: Some(name.to_owned()), ..message }
}

#[test]
fn text_counts_equal_tiktoken_on_both_encodings() {
    for text in SAMPLES {
        let o200k = o200k_base_singleton().encode_ordinary(text).len();
        let cl100k = cl100k_base_singleton().encode_ordinary(text).len();
        assert_eq!(OpenAiCounter::o200k_base().count_text(text), TokenCount::exact(o200k), "o200k {text:?}");
        assert_eq!(OpenAiCounter::cl100k_base().count_text(text), TokenCount::exact(cl100k), "cl100k {text:?}");
    }
}

#[test]
fn known_text_counts() {
    // cl100k values from OpenAI's cookbook "How to count tokens with tiktoken"; the o200k
    // values are tiktoken's (cross-checked above).
    assert_eq!(OpenAiCounter::cl100k_base().count_text("tiktoken is great!").tokens, 6);
    assert_eq!(OpenAiCounter::o200k_base().count_text("tiktoken is great!").tokens, 6);
    assert_eq!(OpenAiCounter::cl100k_base().count_text("antidisestablishmentarianism").tokens, 6);
    assert_eq!(OpenAiCounter::o200k_base().count_text("antidisestablishmentarianism").tokens, 6);
    assert_eq!(OpenAiCounter::o200k_base().count_text("Hello, world!").tokens, 4);
}

/// The example conversation of OpenAI's cookbook, for which it prints 129 prompt tokens
/// for gpt-3.5-turbo and gpt-4, and 124 for gpt-4o and gpt-4o-mini.
fn cookbook_conversation() -> Vec<Message> {
    vec![
        Message::system(
            "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
        ),
        named(Message::system("New synergies will help drive top-line growth."), "example_user"),
        named(Message::system("Things working well together will increase revenue."), "example_assistant"),
        named(
            Message::system(
                "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
            ),
            "example_user",
        ),
        named(Message::system("Let's talk later when we're less busy about how to do better."), "example_assistant"),
        Message::user("This late pivot means we don't have time to boil the ocean for the client deliverable."),
    ]
}

#[test]
fn cookbook_chat_counts() {
    let messages = cookbook_conversation();
    assert_eq!(OpenAiCounter::cl100k_base().count_messages(&messages), TokenCount::exact(129));
    assert_eq!(OpenAiCounter::o200k_base().count_messages(&messages), TokenCount::exact(124));
    assert_eq!(counter_for_model("gpt-4-0613").count_messages(&messages), TokenCount::exact(129));
    assert_eq!(counter_for_model("gpt-4o-mini").count_messages(&messages), TokenCount::exact(124));
}

#[test]
fn chat_counts_equal_tiktoken_rs() {
    let messages = cookbook_conversation();
    let theirs: Vec<ChatCompletionRequestMessage> =
        messages.iter().map(|m| tiktoken_message(m.role.as_str(), &m.text(), m.name.as_deref())).collect();
    for model in ["gpt-4o", "gpt-4", "gpt-4.1", "gpt-5", "o3", "gpt-3.5-turbo"] {
        let expected = tiktoken_rs::num_tokens_from_messages(model, &theirs).unwrap();
        assert_eq!(counter_for_model(model).count_messages(&messages), TokenCount::exact(expected), "{model}");
    }
}

#[test]
fn per_message_overhead_is_three_plus_role_plus_one_per_name() {
    let counter = OpenAiCounter::o200k_base();
    // "Hello, world!" = 4 tokens, "user" = 1 token.
    assert_eq!(counter.count_message(&Message::user("Hello, world!")).tokens, 3 + 1 + 4);
    // "bob" = 1 token, plus 1 for having a name.
    assert_eq!(counter.count_message(&named(Message::user("Hello, world!"), "bob")).tokens, 3 + 1 + 4 + 1 + 1);
    // The reply priming is added once per request.
    assert_eq!(counter.count_messages(&[Message::user("Hello, world!")]).tokens, 8 + 3);
    assert_eq!(counter.count_messages(&[Message::user("Hello, world!"), Message::user("Hello, world!")]).tokens, 19);
    assert_eq!(counter.count_messages(&[]), TokenCount::exact(0));
}

#[test]
fn tool_calls_count_like_tiktoken_rs_but_are_not_exact() {
    let call = ToolCall::new("call_1", "get_weather", &json!({"city": "Paris"}));
    let messages = vec![Message::user("Weather in Paris?"), Message::assistant_tool_calls(vec![call.clone()])];
    let theirs = vec![
        tiktoken_message("user", "Weather in Paris?", None),
        ChatCompletionRequestMessage {
            role: "assistant".into(),
            tool_calls: vec![FunctionCall { name: call.name.clone(), arguments: call.arguments.clone() }],
            ..Default::default()
        },
    ];
    let expected = tiktoken_rs::num_tokens_from_messages("gpt-4o", &theirs).unwrap();
    assert_eq!(OpenAiCounter::o200k_base().count_messages(&messages), TokenCount::approximate(expected));
    // A tool result is an estimate too: OpenAI does not document how it is framed.
    assert!(!OpenAiCounter::o200k_base().count_message(&Message::tool("call_1", "sunny")).exact);
}

#[test]
fn multi_part_content_counts_text_parts_and_is_exact_only_for_one_text_part() {
    let counter = OpenAiCounter::o200k_base();
    let one_part =
        Message { content: Some(Content::Parts(vec![ContentPart::Text("Hello, world!".into())])), ..Message::user("") };
    assert_eq!(counter.count_message(&one_part), TokenCount::exact(8));
    let with_image = Message {
        content: Some(Content::Parts(vec![
            ContentPart::Text("Hello, world!".into()),
            ContentPart::ImageUrl { url: "https://example.com/a.png".into(), detail: None },
        ])),
        ..Message::user("")
    };
    assert_eq!(counter.count_message(&with_image), TokenCount::approximate(8));
}

#[test]
fn every_message_keeps_its_text_count_plus_framing() {
    let counter = OpenAiCounter::cl100k_base();
    for text in SAMPLES {
        let expected = 3 + 1 + cl100k_base_singleton().encode_ordinary(text).len();
        assert_eq!(counter.count_message(&Message::user(*text)), TokenCount::exact(expected));
    }
}

proptest! {
    #[test]
    fn any_text_counts_like_tiktoken(text in "\\PC{0,200}") {
        prop_assert_eq!(OpenAiCounter::o200k_base().count_text(&text).tokens, o200k_base_singleton().encode_ordinary(&text).len());
        prop_assert_eq!(OpenAiCounter::cl100k_base().count_text(&text).tokens, cl100k_base_singleton().encode_ordinary(&text).len());
    }

    #[test]
    fn any_ascii_like_text_counts_like_tiktoken(text in "[ a-zA-Z0-9.,;:'!?\\n\\t-]{0,300}") {
        prop_assert_eq!(OpenAiCounter::o200k_base().count_text(&text).tokens, o200k_base_singleton().encode_ordinary(&text).len());
        prop_assert_eq!(OpenAiCounter::cl100k_base().count_text(&text).tokens, cl100k_base_singleton().encode_ordinary(&text).len());
    }
}

/// Text made of a few pieces that repeat, so that most pieces are counted from the piece
/// cache, mixed with Unicode, contractions, numbers and whitespace runs.
fn repetitive_text() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        " the",
        "The",
        " don't",
        "'s",
        "'LL",
        " 12345",
        "1",
        " über",
        "Ünïcödé",
        " 日本語",
        "😀",
        " —",
        "...",
        "\n\n",
        "  ",
        "\t",
        "\r\n",
        " a",
        "b",
        "ABCdef",
        "x/y",
        " //",
        "ǅungla",
        "٣٤٥",
        "🤖🤖",
    ]);
    prop::collection::vec(word, 0..60).prop_map(|words| words.concat())
}

proptest! {
    #[test]
    fn repeated_pieces_count_like_tiktoken_and_the_uncached_encoder(text in repetitive_text()) {
        for _ in 0..2 {
            let o200k = OpenAiCounter::o200k_base().count_text(&text).tokens;
            prop_assert_eq!(o200k, o200k_base_singleton().encode_ordinary(&text).len());
            prop_assert_eq!(o200k, bpe_openai::o200k_base().count(text.as_str()));
            let cl100k = OpenAiCounter::cl100k_base().count_text(&text).tokens;
            prop_assert_eq!(cl100k, cl100k_base_singleton().encode_ordinary(&text).len());
            prop_assert_eq!(cl100k, bpe_openai::cl100k_base().count(text.as_str()));
        }
    }
}

#[test]
fn counts_stay_exact_when_the_piece_cache_fills_up() {
    // More distinct pieces than the cache holds (131,072), then the first ones again.
    let words: Vec<String> = (0..140_000u32).map(|i| format!(" w{}q", i * 7919 % 1_000_003)).collect();
    let counter = OpenAiCounter::o200k_base();
    let total: usize = words.iter().map(|word| counter.count_text(word).tokens).sum();
    let again: usize = words[..100].iter().map(|word| counter.count_text(word).tokens).sum();
    let expected: usize = words.iter().map(|word| bpe_openai::o200k_base().count(word.as_str())).sum();
    let expected_again: usize = words[..100].iter().map(|word| bpe_openai::o200k_base().count(word.as_str())).sum();
    assert_eq!((total, again), (expected, expected_again));
}
