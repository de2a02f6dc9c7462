//! The ConversationMemory checks every store backend must pass, shared by
//! `tests/recall_memory.rs` (in memory), `tests/recall_sqlite.rs` and
//! `tests/recall_postgres.rs`: the reference's tests (test_conversation_memory.py 7–20, 31,
//! 32) with exact values and its defects replaced by correct behaviour, then what the
//! reference got wrong (re-indexing, filters before limit, tool messages, async search with
//! an embedder).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // helpers of a test may panic: that is the test failing

use std::sync::Arc;

use agent_memory::embed::HashEmbedder;
use agent_memory::message::{Message, Role, ToolCall, parse_messages};
use agent_memory::recall::{ChunkingOptions, ConversationMemory, FusionWeights, RecallError, RecallQuery, chunk_id};
use agent_memory::store::{ManualClock, MemoryStore, SearchMode};
use agent_memory::summarize::{SummarizeError, Summarizer};
use serde_json::{Map, Value, json};

/// One test per check below, each on a fresh, empty store: `$make` is an async
/// expression giving a `MemoryStore` (its embedder is replaced), evaluated after the
/// statements of an optional leading `{ … }` block (which may create what the store must
/// not outlive, such as a temporary folder): `recall_conformance!({ let dir = …; } make(&dir))`.
#[macro_export]
macro_rules! recall_conformance {
    ($make:expr) => {
        $crate::recall_conformance!({} $make);
    };
    ({ $($setup:tt)* } $make:expr) => {
        #[tokio::test]
        async fn t07_two_messages_make_one_chunk_with_a_16_character_id() {
            $($setup)*
            $crate::recall_kit::t07_two_messages_make_one_chunk_with_a_16_character_id($make).await;
        }

        #[tokio::test]
        async fn t08_metadata_is_stored_with_the_chunk() {
            $($setup)*
            $crate::recall_kit::t08_metadata_is_stored_with_the_chunk($make).await;
        }

        #[tokio::test]
        async fn t09_twenty_messages_size_3_overlap_1_make_ten_chunks() {
            $($setup)*
            $crate::recall_kit::t09_twenty_messages_size_3_overlap_1_make_ten_chunks($make).await;
        }

        #[tokio::test]
        async fn t10_no_messages_make_no_chunks() {
            $($setup)*
            $crate::recall_kit::t10_no_messages_make_no_chunks($make).await;
        }

        #[tokio::test]
        async fn t11_system_messages_are_not_indexed() {
            $($setup)*
            $crate::recall_kit::t11_system_messages_are_not_indexed($make).await;
        }

        #[tokio::test]
        async fn t12_json_messages_are_indexed() {
            $($setup)*
            $crate::recall_kit::t12_json_messages_are_indexed($make).await;
        }

        #[tokio::test]
        async fn t13_search_finds_the_matching_session_first() {
            $($setup)*
            $crate::recall_kit::t13_search_finds_the_matching_session_first($make).await;
        }

        #[tokio::test]
        async fn t14_an_empty_store_finds_nothing() {
            $($setup)*
            $crate::recall_kit::t14_an_empty_store_finds_nothing($make).await;
        }

        #[tokio::test]
        async fn t15_results_name_the_owner_from_storage() {
            $($setup)*
            $crate::recall_kit::t15_results_name_the_owner_from_storage($make).await;
        }

        #[tokio::test]
        async fn t16_context_is_the_reference_format() {
            $($setup)*
            $crate::recall_kit::t16_context_is_the_reference_format($make).await;
        }

        #[tokio::test]
        async fn t17_delete_conversation_removes_one_session_and_counts() {
            $($setup)*
            $crate::recall_kit::t17_delete_conversation_removes_one_session_and_counts($make).await;
        }

        #[tokio::test]
        async fn t18_delete_user_conversations_removes_all_of_them() {
            $($setup)*
            $crate::recall_kit::t18_delete_user_conversations_removes_all_of_them($make).await;
        }

        #[tokio::test]
        async fn t19_eight_messages_size_4_overlap_2_make_three_chunks_not_four() {
            $($setup)*
            $crate::recall_kit::t19_eight_messages_size_4_overlap_2_make_three_chunks_not_four($make).await;
        }

        #[tokio::test]
        async fn t20_one_message_makes_one_chunk() {
            $($setup)*
            $crate::recall_kit::t20_one_message_makes_one_chunk($make).await;
        }

        #[tokio::test]
        async fn t31_index_search_delete_search() {
            $($setup)*
            $crate::recall_kit::t31_index_search_delete_search($make).await;
        }

        #[tokio::test]
        async fn t32_users_are_isolated() {
            $($setup)*
            $crate::recall_kit::t32_users_are_isolated($make).await;
        }

        #[tokio::test]
        async fn indexing_a_session_again_replaces_it() {
            $($setup)*
            $crate::recall_kit::indexing_a_session_again_replaces_it($make).await;
        }

        #[tokio::test]
        async fn session_filter_applies_before_the_limit() {
            $($setup)*
            $crate::recall_kit::session_filter_applies_before_the_limit($make).await;
        }

        #[tokio::test]
        async fn date_ranges_filter_by_conversation_date() {
            $($setup)*
            $crate::recall_kit::date_ranges_filter_by_conversation_date($make).await;
        }

        #[tokio::test]
        async fn without_a_date_the_day_of_indexing_is_used() {
            $($setup)*
            $crate::recall_kit::without_a_date_the_day_of_indexing_is_used($make).await;
        }

        #[tokio::test]
        async fn tool_calls_results_ids_and_metadata_come_back_intact() {
            $($setup)*
            $crate::recall_kit::tool_calls_results_ids_and_metadata_come_back_intact($make).await;
        }

        #[tokio::test]
        async fn every_search_mode_works_with_an_embedder() {
            $($setup)*
            $crate::recall_kit::every_search_mode_works_with_an_embedder($make).await;
        }

        #[tokio::test]
        async fn summaries_are_stored_shown_and_searched() {
            $($setup)*
            $crate::recall_kit::summaries_are_stored_shown_and_searched($make).await;
        }

        #[tokio::test]
        async fn invalid_ids_and_blank_queries_are_errors() {
            $($setup)*
            $crate::recall_kit::invalid_ids_and_blank_queries_are_errors($make).await;
        }

        #[tokio::test]
        async fn summaries_come_from_a_chat_model_through_the_llm_summarizer() {
            $($setup)*
            $crate::recall_kit::summaries_come_from_a_chat_model_through_the_llm_summarizer($make).await;
        }
        #[tokio::test]
        async fn keyword_search_matches_word_forms_and_ignores_stopwords() {
            $($setup)*
            $crate::recall_kit::keyword_search_matches_word_forms_and_ignores_stopwords($make).await;
        }

        #[tokio::test]
        async fn a_message_is_found_by_the_words_of_its_neighbours() {
            $($setup)*
            $crate::recall_kit::a_message_is_found_by_the_words_of_its_neighbours($make).await;
        }

        #[tokio::test]
        async fn hybrid_scores_are_a_weighted_average_of_normalized_scores() {
            $($setup)*
            $crate::recall_kit::hybrid_scores_are_a_weighted_average_of_normalized_scores($make).await;
        }
    };
}

fn meta(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("metadata is an object")
}

fn none() -> Map<String, Value> {
    Map::new()
}

fn numbered(n: usize) -> Vec<Message> {
    (0..n).map(|i| Message::user(format!("Message {i}"))).collect()
}

fn python_conversation() -> Vec<Message> {
    vec![
        Message::user("I'm having trouble debugging my Python code"),
        Message::assistant("What error are you seeing in Python?"),
        Message::user("An import error when I run the script"),
        Message::assistant(
            "Check that the package is installed in the active virtualenv; that fixes most import errors.",
        ),
    ]
}

fn cooking_conversation() -> Vec<Message> {
    vec![
        Message::user("How long should I roast a chicken?"),
        Message::assistant("About 20 minutes per pound at 375°F."),
    ]
}

/// Keyword-only memory (no embedder): the reference's "no embeddings" configuration.
fn keyword_memory(store: &MemoryStore) -> ConversationMemory {
    ConversationMemory::new(store.clone().without_embedder())
}

/// Memory with an embedder, so search is hybrid.
fn hybrid_memory(store: &MemoryStore) -> ConversationMemory {
    ConversationMemory::new(store.clone()).with_embedder(Arc::new(HashEmbedder::new(256)))
}

struct FixedSummarizer;

#[async_trait::async_trait]
impl Summarizer for FixedSummarizer {
    async fn summarize(&self, messages: &[Message], existing: Option<&str>) -> Result<String, SummarizeError> {
        assert_eq!(existing, None);
        Ok(format!("{} messages about roasting", messages.len()))
    }
}

// --- Indexing (reference 7–12) ---

pub async fn t07_two_messages_make_one_chunk_with_a_16_character_id(store: MemoryStore) {
    let memory = keyword_memory(&store);
    let ids = memory
        .index_conversation("user_1", "session_1", &[Message::user("Hello"), Message::assistant("Hi!")], &none())
        .await
        .unwrap();
    assert_eq!(ids, [chunk_id("user_1", "session_1", 0)]);
    assert_eq!(ids[0].len(), 16);
}

pub async fn t08_metadata_is_stored_with_the_chunk(store: MemoryStore) {
    let memory = keyword_memory(&store);
    let ids = memory
        .index_conversation("user_1", "session_1", &python_conversation(), &meta(json!({"topic": "python"})))
        .await
        .unwrap();
    let item = memory.store().get(("user_1", "conversations", "session_1"), ids[0].as_str()).await.unwrap().unwrap();
    assert_eq!(item.value["metadata"]["topic"], "python");
    let chunks = memory.session_chunks("user_1", "session_1").await.unwrap();
    assert_eq!(chunks[0].metadata, meta(json!({"topic": "python"})));
}

pub async fn t09_twenty_messages_size_3_overlap_1_make_ten_chunks(store: MemoryStore) {
    let memory = keyword_memory(&store).with_chunking(ChunkingOptions::new(3, 1).unwrap());
    let ids = memory.index_conversation("user_1", "session_1", &numbered(20), &none()).await.unwrap();
    assert_eq!(ids.len(), 10);
    let chunks = memory.session_chunks("user_1", "session_1").await.unwrap();
    let offsets: Vec<usize> = chunks.iter().map(|c| c.offset).collect();
    assert_eq!(offsets, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    assert_eq!(chunks[9].text, "Human: Message 18\nHuman: Message 19");
}

pub async fn t10_no_messages_make_no_chunks(store: MemoryStore) {
    let memory = keyword_memory(&store);
    assert_eq!(memory.index_conversation("user_1", "session_1", &[], &none()).await.unwrap(), Vec::<String>::new());
    assert_eq!(memory.store().count(("user_1",)).await.unwrap(), 0);
}

pub async fn t11_system_messages_are_not_indexed(store: MemoryStore) {
    let memory = keyword_memory(&store);
    let messages = [Message::system("You are helpful."), Message::user("Hello"), Message::assistant("Hi!")];
    let ids = memory.index_conversation("user_1", "session_1", &messages, &none()).await.unwrap();
    assert_eq!(ids.len(), 1);
    let chunks = memory.session_chunks("user_1", "session_1").await.unwrap();
    assert_eq!(chunks[0].messages, messages[1..]);
    assert_eq!(chunks[0].text, "Human: Hello\nAssistant: Hi!");
}

pub async fn t12_json_messages_are_indexed(store: MemoryStore) {
    let memory = keyword_memory(&store);
    let messages =
        parse_messages(r#"[{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi there!"}]"#).unwrap();
    let ids = memory.index_conversation("user_1", "session_1", &messages, &none()).await.unwrap();
    assert_eq!(ids.len(), 1);
}

// --- Search (reference 13–16) ---

async fn two_sessions(memory: &ConversationMemory) {
    memory
        .index_conversation("user_1", "session_1", &python_conversation(), &meta(json!({"topic": "python"})))
        .await
        .unwrap();
    memory.index_conversation("user_1", "session_2", &cooking_conversation(), &none()).await.unwrap();
}

pub async fn t13_search_finds_the_matching_session_first(store: MemoryStore) {
    let memory = keyword_memory(&store);
    two_sessions(&memory).await;
    let results = memory.search("user_1", &RecallQuery::new("python debugging")).await.unwrap();
    assert_eq!(results.len(), 1, "only the python session has these words");
    assert_eq!(results[0].chunk.session_id, "session_1");
    assert!(results[0].score > 0.0 && results[0].score < 1.0, "normalized BM25");
    // Semantic search ranks every chunk, so hybrid finds both, the python one first.
    let memory = hybrid_memory(&store);
    two_sessions(&memory).await;
    let results = memory.search("user_1", &RecallQuery::new("python debugging")).await.unwrap();
    let sessions: Vec<&str> = results.iter().map(|r| r.chunk.session_id.as_str()).collect();
    assert_eq!(sessions, ["session_1", "session_2"]);
    assert_eq!(results[0].score, 1.0, "first in both rankings");
}

pub async fn t14_an_empty_store_finds_nothing(store: MemoryStore) {
    let results = keyword_memory(&store).search("user_1", &RecallQuery::new("anything")).await.unwrap();
    assert!(results.is_empty());
}

pub async fn t15_results_name_the_owner_from_storage(store: MemoryStore) {
    let memory = keyword_memory(&store);
    two_sessions(&memory).await;
    memory.index_conversation("user_2", "session_1", &python_conversation(), &none()).await.unwrap();
    for user in ["user_1", "user_2"] {
        let results = memory.search(user, &RecallQuery::new("python import error")).await.unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].chunk.user_id, user);
    }
}

pub async fn t16_context_is_the_reference_format(store: MemoryStore) {
    let memory = keyword_memory(&store);
    two_sessions(&memory).await;
    let results = memory.search("user_1", &RecallQuery::new("python")).await.unwrap();
    assert_eq!(
        results[0].context,
        "[Topic: python]\n\n\
         Human: I'm having trouble debugging my Python code\n\
         Assistant: What error are you seeing in Python?\n\
         Human: An import error when I run the script\n\
         Assistant: Check that the package is installed in the active virtualenv; that fixes most import errors."
    );
}

// --- Delete (reference 17–18) ---

pub async fn t17_delete_conversation_removes_one_session_and_counts(store: MemoryStore) {
    let memory = keyword_memory(&store).with_chunking(ChunkingOptions::new(2, 0).unwrap());
    two_sessions(&memory).await;
    assert_eq!(memory.delete_conversation("user_1", "session_1").await.unwrap(), 2);
    assert_eq!(memory.sessions("user_1").await.unwrap(), ["session_2"]);
    assert_eq!(memory.delete_conversation("user_1", "session_1").await.unwrap(), 0);
}

pub async fn t18_delete_user_conversations_removes_all_of_them(store: MemoryStore) {
    let memory = keyword_memory(&store).with_chunking(ChunkingOptions::new(2, 0).unwrap());
    two_sessions(&memory).await;
    memory.index_conversation("user_2", "session_1", &cooking_conversation(), &none()).await.unwrap();
    assert_eq!(memory.delete_user_conversations("user_1").await.unwrap(), 3);
    assert!(memory.sessions("user_1").await.unwrap().is_empty());
    assert_eq!(memory.sessions("user_2").await.unwrap(), ["session_1"]);
}

// --- Chunking (reference 19–20) ---

pub async fn t19_eight_messages_size_4_overlap_2_make_three_chunks_not_four(store: MemoryStore) {
    let memory = keyword_memory(&store).with_chunking(ChunkingOptions::new(4, 2).unwrap());
    let ids = memory.index_conversation("user_1", "session_1", &numbered(8), &none()).await.unwrap();
    assert_eq!(ids, [0, 2, 4].map(|offset| chunk_id("user_1", "session_1", offset)));
}

pub async fn t20_one_message_makes_one_chunk(store: MemoryStore) {
    let memory = keyword_memory(&store);
    assert_eq!(memory.index_conversation("user_1", "session_1", &numbered(1), &none()).await.unwrap().len(), 1);
}

// --- Integration (reference 31–32) ---

pub async fn t31_index_search_delete_search(store: MemoryStore) {
    let memory = hybrid_memory(&store);
    memory.index_conversation("user_1", "session_1", &python_conversation(), &none()).await.unwrap();
    let results = memory.search("user_1", &RecallQuery::new("python import error fix")).await.unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[0].context.contains("An import error when I run the script"));
    assert_eq!(memory.delete_conversation("user_1", "session_1").await.unwrap(), 1);
    assert!(memory.search("user_1", &RecallQuery::new("python import error fix")).await.unwrap().is_empty());
}

pub async fn t32_users_are_isolated(store: MemoryStore) {
    let memory = hybrid_memory(&store);
    memory.index_conversation("alice", "s1", &python_conversation(), &none()).await.unwrap();
    memory.index_conversation("bob", "s1", &cooking_conversation(), &none()).await.unwrap();
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let alice =
            memory.search("alice", &RecallQuery::new("roast chicken python").mode(mode).limit(10)).await.unwrap();
        assert!(!alice.is_empty());
        assert!(alice.iter().all(|r| r.chunk.user_id == "alice" && r.chunk.text.contains("Python")), "{mode:?}");
        let bob = memory.search("bob", &RecallQuery::new("roast chicken python").mode(mode).limit(10)).await.unwrap();
        assert!(bob.iter().all(|r| r.chunk.user_id == "bob" && r.chunk.text.contains("chicken")), "{mode:?}");
    }
    // A user id that looks like a path cannot reach another user's namespace.
    assert!(memory.search("alice/conversations", &RecallQuery::new("python")).await.unwrap().is_empty());
}

// --- Beyond the reference: its defects, fixed ---

pub async fn indexing_a_session_again_replaces_it(store: MemoryStore) {
    let memory = hybrid_memory(&store).with_chunking(ChunkingOptions::new(4, 2).unwrap());
    let first = memory.index_conversation("u", "s", &numbered(8), &none()).await.unwrap();
    let again = memory.index_conversation("u", "s", &numbered(8), &none()).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(memory.store().count(("u",)).await.unwrap(), 3);
    // A shorter conversation leaves no stale chunk behind.
    let shorter = memory.index_conversation("u", "s", &numbered(3), &none()).await.unwrap();
    assert_eq!(shorter, [chunk_id("u", "s", 0)]);
    let chunks = memory.session_chunks("u", "s").await.unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].text, "Human: Message 0\nHuman: Message 1\nHuman: Message 2");
}

pub async fn session_filter_applies_before_the_limit(store: MemoryStore) {
    let memory = keyword_memory(&store);
    for session in ["s1", "s2", "s3", "s4"] {
        let messages =
            [Message::user(format!("deploy question in {session}")), Message::assistant("use the deploy script")];
        memory.index_conversation("u", session, &messages, &none()).await.unwrap();
    }
    let results = memory.search("u", &RecallQuery::new("deploy script").limit(2).session("s4")).await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].chunk.session_id, "s4");
    // min_score 0 is a threshold like any other (the reference ignored it).
    let all = memory.search("u", &RecallQuery::new("deploy script").limit(10).min_score(0.0)).await.unwrap();
    assert_eq!(all.len(), 4);
    let none_left = memory.search("u", &RecallQuery::new("deploy script").limit(10).min_score(1.0)).await.unwrap();
    assert!(none_left.is_empty());
}

pub async fn date_ranges_filter_by_conversation_date(store: MemoryStore) {
    let memory = keyword_memory(&store);
    let dates = [("s1", "2025-01-15"), ("s2", "1:56 pm on 8 May, 2025"), ("s3", "2025-09-01T08:00:00Z")];
    for (session, date) in dates {
        let messages = [Message::user("status of the migration"), Message::assistant("migration is done")];
        memory.index_conversation("u", session, &messages, &meta(json!({"date": date}))).await.unwrap();
    }
    let sessions = |results: Vec<agent_memory::recall::SearchResult>| {
        let mut ids: Vec<String> = results.into_iter().map(|r| r.chunk.session_id).collect();
        ids.sort();
        ids
    };
    let query = RecallQuery::new("migration").limit(10);
    let spring = memory.search("u", &query.clone().dates(Some("2025-02-01"), Some("2025-06-30"))).await.unwrap();
    assert_eq!(sessions(spring), ["s2"]);
    let from_may = memory.search("u", &query.clone().dates(Some("2025-05-08"), None)).await.unwrap();
    assert_eq!(sessions(from_may), ["s2", "s3"]);
    let until_may = memory.search("u", &query.clone().dates(None, Some("2025-05-08"))).await.unwrap();
    assert_eq!(sessions(until_may), ["s1", "s2"]);
    let err = memory.search("u", &query.dates(Some("May 2025"), None)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid conversation memory options: date_from must be a date written YYYY-MM-DD, got \"May 2025\""
    );
}

pub async fn without_a_date_the_day_of_indexing_is_used(store: MemoryStore) {
    let clock = Arc::new(ManualClock::new(1_736_899_200.0)); // 2025-01-15T00:00:00Z
    let memory = ConversationMemory::new(store.without_embedder().with_clock(clock));
    memory.index_conversation("u", "s", &numbered(2), &none()).await.unwrap();
    let chunks = memory.session_chunks("u", "s").await.unwrap();
    assert_eq!(chunks[0].date.as_deref(), Some("2025-01-15"));
    assert_eq!(chunks[0].created_at, 1_736_899_200.0);
}

pub async fn tool_calls_results_ids_and_metadata_come_back_intact(store: MemoryStore) {
    let memory = hybrid_memory(&store);
    let mut asked = Message::user("What's the weather in Paris?").with_id("m1");
    asked.metadata.insert("channel".into(), json!("web"));
    let messages = vec![
        asked,
        Message::assistant_tool_calls(vec![ToolCall::new("call_1", "get_weather", &json!({"city": "Paris"}))])
            .with_id("m2"),
        Message::tool("call_1", "sunny, 21 °C").with_id("m3"),
        Message::assistant("It's sunny and 21 °C in Paris.").with_id("m4"),
    ];
    memory.index_conversation("u", "s", &messages, &none()).await.unwrap();
    let results = memory.search("u", &RecallQuery::new("get_weather Paris")).await.unwrap();
    assert_eq!(results[0].chunk.messages, messages);
    assert_eq!(results[0].chunk.messages[2].role, Role::Tool);
    assert_eq!(
        results[0].chunk.text,
        "Human: What's the weather in Paris?\n\
         Assistant: called get_weather({\"city\":\"Paris\"})\n\
         Tool get_weather: sunny, 21 °C\n\
         Assistant: It's sunny and 21 °C in Paris."
    );
}

pub async fn every_search_mode_works_with_an_embedder(store: MemoryStore) {
    let memory = hybrid_memory(&store);
    two_sessions(&memory).await;
    for mode in [SearchMode::Auto, SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let results = memory.search("user_1", &RecallQuery::new("roast chicken").mode(mode).limit(1)).await.unwrap();
        assert_eq!(results[0].chunk.session_id, "session_2", "{mode:?}");
    }
    let err = keyword_memory(&store).search("u", &RecallQuery::new("x").mode(SearchMode::Semantic)).await.unwrap_err();
    assert!(err.to_string().starts_with("semantic search requires an embedder"), "{err}");
}

pub async fn summaries_are_stored_shown_and_searched(store: MemoryStore) {
    let memory = keyword_memory(&store).with_summarizer(Arc::new(FixedSummarizer));
    memory.index_conversation("u", "s", &cooking_conversation(), &meta(json!({"date": "2025-01-15"}))).await.unwrap();
    let results = memory.search("u", &RecallQuery::new("roasting")).await.unwrap();
    assert_eq!(results[0].chunk.summary.as_deref(), Some("2 messages about roasting"));
    assert_eq!(
        results[0].context,
        "[Date: 2025-01-15]\n\nSummary: 2 messages about roasting\n\n\
         Human: How long should I roast a chicken?\nAssistant: About 20 minutes per pound at 375°F."
    );
}

pub async fn invalid_ids_and_blank_queries_are_errors(store: MemoryStore) {
    let memory = keyword_memory(&store);
    assert!(matches!(memory.index_conversation("", "s", &numbered(1), &none()).await, Err(RecallError::Store(_))));
    assert!(matches!(memory.index_conversation("u", "a\nb", &numbered(1), &none()).await, Err(RecallError::Store(_))));
    let err = memory.search("u", &RecallQuery::new("  ")).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid conversation memory options: the search query must not be blank");
}

pub async fn summaries_come_from_a_chat_model_through_the_llm_summarizer(store: MemoryStore) {
    use agent_memory::llm::ScriptedChat;
    use agent_memory::summarize::LlmSummarizer;

    let model = Arc::new(ScriptedChat::new([Message::assistant("They discussed roasting a chicken.")]));
    let memory = keyword_memory(&store).with_summarizer(Arc::new(LlmSummarizer::new(model.clone())));
    memory.index_conversation("u", "s", &cooking_conversation(), &none()).await.unwrap();
    let chunks = memory.session_chunks("u", "s").await.unwrap();
    assert_eq!(chunks[0].summary.as_deref(), Some("They discussed roasting a chicken."));
    assert_eq!(model.requests().len(), 1, "one model call per chunk");
    let results = memory.search("u", &RecallQuery::new("discussed")).await.unwrap();
    assert_eq!(results.len(), 1, "the summary is searched");
}

// --- Retrieval: the keyword index and hybrid fusion ---

pub async fn keyword_search_matches_word_forms_and_ignores_stopwords(store: MemoryStore) {
    let memory = hybrid_memory(&store).with_chunking(ChunkingOptions::new(1, 0).unwrap());
    let messages = [
        Message::user("I painted a sunrise over the lake last year").with_id("m1"),
        Message::assistant("What is it that you would do with it?").with_id("m2"),
    ];
    memory.index_conversation("u", "s", &messages, &none()).await.unwrap();
    let keyword = |text: &str| RecallQuery::new(text).mode(SearchMode::Keyword);
    // "paint" finds "painted"; "did", "she", "the" and "when" match nothing.
    let results = memory.search("u", &keyword("When did she paint the sunrise?")).await.unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r.chunk.messages[0].id.as_deref().unwrap()).collect();
    assert_eq!(ids, ["m1", "m2"], "m2 only through its neighbour m1");
    assert!(results[0].score > results[1].score);
    // Stopwords are not indexed: a query of stopwords alone finds nothing by keyword…
    assert!(memory.search("u", &keyword("What would you do?")).await.unwrap().is_empty());
    // … and hybrid search still ranks by meaning.
    let results = memory.search("u", &RecallQuery::new("What would you do?")).await.unwrap();
    assert_eq!(results.len(), 2);
}

pub async fn a_message_is_found_by_the_words_of_its_neighbours(store: MemoryStore) {
    let memory = keyword_memory(&store).with_chunking(ChunkingOptions::new(1, 0).unwrap());
    let lines = [
        "How was the pottery class on Saturday?",
        "Wonderful, I made a bowl for my mother!",
        "Did she like it?",
        "She cried. Anyway, the car needs new tyres.",
        "Winter is coming, so that is sensible.",
        "I booked the garage for Monday.",
    ];
    let messages: Vec<Message> = lines
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let message = if i % 2 == 0 { Message::user(*text) } else { Message::assistant(*text) };
            message.with_id(format!("m{i}"))
        })
        .collect();
    memory.index_conversation("u", "s", &messages, &none()).await.unwrap();
    let results = memory.search("u", &RecallQuery::new("what did I make in pottery class").limit(10)).await.unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r.chunk.messages[0].id.as_deref().unwrap()).collect();
    // The message with the words comes first; the two after it (the answer among them) are
    // found through it; nothing further away matches.
    assert_eq!(ids[0], "m0");
    let mut neighbours = ids[1..].to_vec();
    neighbours.sort_unstable();
    assert_eq!(neighbours, ["m1", "m2"]);
    assert_eq!(results[0].chunk.messages, messages[..1], "a result is the message alone");
}

pub async fn hybrid_scores_are_a_weighted_average_of_normalized_scores(store: MemoryStore) {
    let memory = hybrid_memory(&store);
    two_sessions(&memory).await;
    let query = RecallQuery::new("python debugging").mode(SearchMode::Hybrid);
    let results = memory.search("user_1", &query).await.unwrap();
    let sessions: Vec<&str> = results.iter().map(|r| r.chunk.session_id.as_str()).collect();
    assert_eq!(sessions, ["session_1", "session_2"]);
    // Best in both rankings: 1. Only in the semantic ranking, and last there: 0.
    assert_eq!(results[0].score, 1.0);
    assert_eq!(results[1].score, 0.0);
    let kept = memory.search("user_1", &query.clone().min_score(0.5)).await.unwrap();
    assert_eq!(kept.len(), 1);
    // With the keyword ranking alone, the same order and scores.
    let keyword_only = hybrid_memory(&store).with_fusion(FusionWeights { keyword: 1.0, semantic: 0.0 });
    let results = keyword_only.search("user_1", &query).await.unwrap();
    assert_eq!(results.iter().map(|r| r.score).collect::<Vec<_>>(), [1.0, 0.0]);
}
