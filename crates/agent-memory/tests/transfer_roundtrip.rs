//! Export and import (`agent_memory::transfer`): a dump from each backend imports into
//! each backend with nothing lost (items with times, expiry, TTL and vectors, conversation
//! chunks, session messages and times); another embedder re-embeds; a malformed line
//! imports nothing; a dump larger than one write batch imports in batches. PostgreSQL comes from `DATABASE_URL` (see `store_postgres_support`).
#![cfg(all(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used)] // a test may panic: that is the test failing

#[path = "store_postgres_support/mod.rs"]
mod support;

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use agent_memory::embed::{Embedder, HashEmbedder};
use agent_memory::message::{Message, ToolCall};
use agent_memory::recall::{ChunkingOptions, ConversationMemory, RecallQuery};
use agent_memory::session::{InMemorySessions, PostgresSessions, RestoredSession, SessionStore, SqliteSessions};
use agent_memory::store::{
    ExportQuery, ExportedItem, ItemIndex, ManualClock, MemoryBackend, MemoryStore, NamespacePrefix, PutRequest, Scope,
    SearchMode, SearchQuery, SqliteBackend, StoreBackend, StoreOptions,
};
use agent_memory::transfer::{ExportOptions, TransferError, export_dump, export_dump_with, import_dump};
use serde_json::{Value, json};

/// 2023-11-14T22:13:20Z.
const T0: f64 = 1_700_000_000.0;
/// When the checks run: 100 s after the data was written.
const NOW: f64 = T0 + 100.0;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    Sqlite,
    Postgres,
}

const KINDS: [Kind; 3] = [Kind::Memory, Kind::Sqlite, Kind::Postgres];

struct Place {
    store: MemoryStore,
    sessions: Arc<dyn SessionStore>,
    clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
}

/// An empty store and session store of `kind`, with a manual clock at `T0` and `embedder`.
async fn place(kind: Kind, embedder: Arc<dyn Embedder>) -> Place {
    let clock = ManualClock::new(T0);
    let (backend, sessions, dir): (Arc<dyn StoreBackend>, Arc<dyn SessionStore>, _) = match kind {
        Kind::Memory => (Arc::new(MemoryBackend::new()), Arc::new(InMemorySessions::new()), None),
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("memory.db");
            let backend = Arc::new(SqliteBackend::open(&path).await.unwrap());
            (backend, Arc::new(SqliteSessions::open(&path).await.unwrap()), Some(dir))
        }
        Kind::Postgres => {
            let backend = Arc::new(support::backend().await);
            let sessions = Arc::new(PostgresSessions::new(backend.clone()).await.unwrap());
            (backend, sessions, None)
        }
    };
    let options = StoreOptions { clock: Arc::new(clock.clone()), ..StoreOptions::default() };
    let store = MemoryStore::new(backend, options).with_embedder(embedder);
    Place { store, sessions, clock, _dir: dir }
}

fn hash64() -> Arc<dyn Embedder> {
    Arc::new(HashEmbedder::new(64))
}

fn printer_conversation() -> Vec<Message> {
    vec![
        Message::user("My printer shows error E42 after the firmware update").with_id("m1"),
        Message::assistant_tool_calls(vec![ToolCall::new("c1", "lookup_error", &json!({"code": "E42"}))]),
        Message::tool("c1", "E42: firmware mismatch"),
        Message::assistant("Roll back the firmware from the settings menu."),
    ]
}

fn session_messages() -> Vec<Message> {
    let mut hello = Message::user("Hi, I'm Bob").with_id("u-1");
    hello.metadata.insert("lang".into(), json!("en"));
    vec![hello, Message::assistant("Hi Bob!")]
}

/// The same data in any place: memories with and without TTL (one refreshed, one
/// expired), one without vector, a conversation, two sessions written now and one restored
/// with fixed times.
async fn populate(place: &Place) {
    let store = &place.store;
    store.put(("u1", "prefs"), "lang", json!({"text": "prefers Rust", "score": 0.1}), None).await.unwrap();
    store.put(("u1", "prefs"), "tea", json!({"text": "green tea in the morning"}), Some(3600.0)).await.unwrap();
    store.put(("app",), "gone", json!({"text": "short-lived"}), Some(5.0)).await.unwrap();
    store.clone().without_embedder().put(("app",), "plain", json!({"note": "no vector"}), None).await.unwrap();
    let metadata = json!({"topic": "printer", "date": "2025-01-15"});
    ConversationMemory::new(store.clone())
        .index_conversation("u1", "s1", &printer_conversation(), metadata.as_object().unwrap())
        .await
        .unwrap();
    place.clock.advance(10.0);
    store.put(("u1", "prefs"), "lang", json!({"text": "prefers Rust and Go", "score": 0.2}), None).await.unwrap();
    store.get_and_refresh(("u1", "prefs"), "tea").await.unwrap().unwrap();
    place.sessions.append("thread_1", &session_messages()).await.unwrap();
    place.sessions.append("thread_0", &printer_conversation()).await.unwrap();
    let archived = RestoredSession {
        session_id: "archived".to_owned(),
        messages: session_messages(),
        created_at: UNIX_EPOCH + Duration::from_secs_f64(T0 - 86_400.25),
        updated_at: UNIX_EPOCH + Duration::from_secs_f64(T0 - 3_600.125),
    };
    place.sessions.restore(&[archived]).await.unwrap();
    place.clock.set(NOW);
}

async fn dump_of(place: &Place) -> String {
    let mut out = Vec::new();
    export_dump(&place.store, Some(place.sessions.as_ref()), &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// The dump's lines, the times of sessions written now removed (session stores set them
/// from the system clock, so they differ between places).
fn normalized(dump: &str) -> Vec<Value> {
    dump.lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).unwrap();
            if value["type"] == "session" && value["session_id"] != "archived" {
                let object = value.as_object_mut().unwrap();
                object.remove("created_at");
                object.remove("updated_at");
            }
            value
        })
        .collect()
}

/// Every live item at `NOW`, in one page.
async fn items(place: &Place) -> Vec<ExportedItem> {
    let query = ExportQuery { scope: Scope::Prefix(NamespacePrefix::root()), after: None, limit: usize::MAX, now: NOW };
    place.store.backend().export_items(&query).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_exports_the_same_dump_and_imports_every_other_losslessly() {
    let mut dumps = Vec::new();
    let mut sources = Vec::new();
    for kind in KINDS {
        let source = place(kind, hash64()).await;
        populate(&source).await;
        dumps.push(dump_of(&source).await);
        sources.push(source);
    }
    let reference = normalized(&dumps[0]);
    for (kind, dump) in KINDS.iter().zip(&dumps) {
        assert_eq!(normalized(dump), reference, "{kind:?} exports the same dump as memory");
    }
    let header = &reference[0];
    assert_eq!(header["format"], "agent-memory-dump");
    assert_eq!(header["version"], 1);
    assert_eq!(header["exported_at"], NOW);
    assert_eq!(header["embedder"], json!({"model": "hash-v1/64", "dimensions": 64}));
    let kinds: Vec<&str> = reference[1..].iter().map(|line| line["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["item", "conversation_chunk", "item", "item", "session", "session", "session"]);
    let namespaces: Vec<&Value> = reference[1..5].iter().map(|line| &line["namespace"]).collect();
    assert_eq!(
        namespaces,
        [&json!(["app"]), &json!(["u1", "conversations", "s1"]), &json!(["u1", "prefs"]), &json!(["u1", "prefs"])]
    );
    let keys: Vec<&str> = [1, 3, 4].iter().map(|&i| reference[i]["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["plain", "lang", "tea"], "address order; the expired item is not exported");
    assert_eq!(reference[1]["vector"], Value::Null);
    assert_eq!(reference[4]["expires_at"], T0 + 10.0 + 3600.0, "the refreshed expiry is kept");
    assert_eq!(reference[4]["updated_at"], T0);
    assert_eq!(reference[3]["created_at"], T0);
    assert_eq!(reference[3]["updated_at"], T0 + 10.0);
    let sessions: Vec<&str> = reference[5..].iter().map(|line| line["session_id"].as_str().unwrap()).collect();
    assert_eq!(sessions, ["archived", "thread_0", "thread_1"]);
    assert_eq!(
        (&reference[5]["created_at"], &reference[5]["updated_at"]),
        (&json!(T0 - 86_400.25), &json!(T0 - 3_600.125))
    );

    for (source_kind, source) in KINDS.iter().zip(&sources) {
        let expected_items = items(source).await;
        assert_eq!(expected_items.len(), 4);
        for target_kind in KINDS {
            let target = place(target_kind, hash64()).await;
            let dump = dump_of(source).await;
            let summary = import_dump(&target.store, Some(target.sessions.as_ref()), Cursor::new(&dump), &|_, _| {})
                .await
                .unwrap();
            let context = format!("{source_kind:?} → {target_kind:?}");
            assert_eq!((summary.items, summary.conversation_chunks, summary.sessions), (3, 1, 3), "{context}");
            assert_eq!((summary.vectors_reused, summary.vectors_embedded), (3, 1), "{context}: plain gets a vector");
            let mut got = items(&target).await;
            // The item stored without vector was embedded by the importing store.
            let plain = got.iter_mut().find(|e| e.item.key == "plain").unwrap();
            let vector = plain.vector.take().unwrap();
            assert_eq!(vector.vector, HashEmbedder::new(64).embed(&["note: no vector".to_owned()]).await.unwrap()[0]);
            assert_eq!(got, expected_items, "{context}");
            for session in ["archived", "thread_0", "thread_1"] {
                assert_eq!(
                    target.sessions.load(session).await.unwrap(),
                    source.sessions.load(session).await.unwrap(),
                    "{context}"
                );
            }
            // Every session keeps its times exactly: the target exports the very same
            // session lines, Unix seconds bit for bit, the system-clock ones included.
            let sessions_of = |dump: &str| -> Vec<Value> {
                dump.lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .filter(|v| v["type"] == "session")
                    .collect()
            };
            let exported_again = dump_of(&target).await;
            assert_eq!(sessions_of(&exported_again), sessions_of(&dump), "{context}");
            let times = |infos: Vec<agent_memory::session::SessionInfo>| -> Vec<(String, u64, u64)> {
                let bits = |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64().to_bits();
                infos.into_iter().map(|i| (i.session_id, bits(i.created_at), bits(i.updated_at))).collect()
            };
            assert_eq!(
                times(target.sessions.list().await.unwrap()),
                times(source.sessions.list().await.unwrap()),
                "{context}"
            );
            // The conversation is searchable by keyword and by meaning in the target.
            let memory = ConversationMemory::new(target.store.clone());
            for mode in [SearchMode::Keyword, SearchMode::Semantic] {
                let query = RecallQuery::new("printer firmware error").mode(mode);
                let found = memory.search("u1", &query).await.unwrap();
                assert_eq!(found[0].chunk.messages, printer_conversation(), "{context} {mode:?}");
            }
        }
    }
}

#[tokio::test]
async fn another_embedder_re_embeds_with_progress() {
    let source = place(Kind::Memory, hash64()).await;
    populate(&source).await;
    let dump = dump_of(&source).await;
    let other: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(32));
    let target = place(Kind::Sqlite, other.clone()).await;
    let reports = Mutex::new(Vec::new());
    let summary = import_dump(&target.store, Some(target.sessions.as_ref()), Cursor::new(&dump), &|done, total| {
        reports.lock().unwrap().push((done, total));
    })
    .await
    .unwrap();
    assert_eq!((summary.vectors_reused, summary.vectors_embedded), (0, 4));
    assert_eq!(summary.source_embedder.map(|e| (e.model, e.dimensions)), Some(("hash-v1/64".to_owned(), 64)));
    assert_eq!(*reports.lock().unwrap(), [(4, 4)]);
    for exported in items(&target).await {
        let vector = exported.vector.unwrap();
        assert_eq!((vector.model.as_str(), vector.vector.len()), ("hash-v1/32", 32));
    }
    let found = target.store.get(("u1", "prefs"), "lang").await.unwrap().unwrap();
    assert_eq!(Some(found), source.store.get(("u1", "prefs"), "lang").await.unwrap());
    let memory = ConversationMemory::new(target.store.clone());
    let query = RecallQuery::new("printer firmware error").mode(SearchMode::Semantic);
    assert_eq!(memory.search("u1", &query).await.unwrap()[0].chunk.session_id, "s1");
}

/// Items put with their own index spec: one not indexed, one indexing its title only, one
/// under the store's fields.
async fn populate_specs(place: &Place) {
    let put = async |key: &str, value: Value, index: ItemIndex| {
        let request = PutRequest::new("docs", key, value).unwrap().index(index);
        place.store.put_with(request).await.unwrap();
    };
    put("hidden", json!({"text": "alpine ski trip"}), ItemIndex::Disabled).await;
    put("titled", json!({"title": "alpine hut", "body": "lake swim"}), ItemIndex::paths(["title"])).await;
    put("whole", json!({"text": "lake swim"}), ItemIndex::StoreDefault).await;
}

async fn search_keys(store: &MemoryStore, mode: SearchMode, text: &str) -> Vec<String> {
    let hits = store.search("docs", SearchQuery::text(text).mode(mode)).await.unwrap();
    hits.into_iter().map(|hit| hit.item.key).collect()
}

/// Each item's index spec goes through the dump (`index`: `false` or the paths, absent for
/// the store's fields) and comes back on every backend: the same vectors reused, or the
/// item's own text embedded again under another embedder; the unindexed item never gets a
/// vector and no query finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_item_index_specs_survive_the_round_trip_on_every_backend() {
    for source_kind in KINDS {
        let source = place(source_kind, hash64()).await;
        populate_specs(&source).await;
        let dump = dump_of(&source).await;
        let lines: Vec<Value> = dump.lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
        let specs: Vec<(&str, Option<&Value>)> =
            lines.iter().map(|l| (l["key"].as_str().unwrap(), l.get("index"))).collect();
        let expected = [("hidden", Some(&json!(false))), ("titled", Some(&json!(["title"]))), ("whole", None)];
        assert_eq!(specs, expected, "{source_kind:?}");
        let expected_items = items(&source).await;
        assert_eq!(expected_items[0].vector, None, "{source_kind:?}: the unindexed item has no vector");

        for target_kind in KINDS {
            let context = format!("{source_kind:?} → {target_kind:?}");
            let same = place(target_kind, hash64()).await;
            let summary = import_dump(&same.store, None, Cursor::new(&dump), &|_, _| {}).await.unwrap();
            assert_eq!((summary.vectors_reused, summary.vectors_embedded), (2, 0), "{context}");
            assert_eq!(items(&same).await, expected_items, "{context}");
            assert_eq!(search_keys(&same.store, SearchMode::Keyword, "alpine").await, ["titled"], "{context}");
            assert_eq!(search_keys(&same.store, SearchMode::Keyword, "swim").await, ["whole"], "{context}");
            let semantic = search_keys(&same.store, SearchMode::Semantic, "text: alpine ski trip").await;
            assert_eq!(semantic.len(), 2, "{context}: {semantic:?}");
            assert!(!semantic.contains(&"hidden".to_owned()), "{context}");

            // Another embedder embeds each item's own text again.
            let small = HashEmbedder::new(32);
            let other = place(target_kind, Arc::new(HashEmbedder::new(32))).await;
            let summary = import_dump(&other.store, None, Cursor::new(&dump), &|_, _| {}).await.unwrap();
            assert_eq!((summary.vectors_reused, summary.vectors_embedded), (0, 2), "{context}");
            let got = items(&other).await;
            let texts = ["title: alpine hut".to_owned(), "text: lake swim".to_owned()];
            let wanted = small.embed(&texts).await.unwrap();
            let vectors: Vec<Option<&Vec<f32>>> = got.iter().map(|e| e.vector.as_ref().map(|v| &v.vector)).collect();
            assert_eq!(vectors, [None, Some(&wanted[0]), Some(&wanted[1])], "{context}");
            let specs: Vec<&ItemIndex> = got.iter().map(|e| &e.index).collect();
            assert_eq!(specs, expected_items.iter().map(|e| &e.index).collect::<Vec<_>>(), "{context}");
            assert_eq!(search_keys(&other.store, SearchMode::Keyword, "alpine").await, ["titled"], "{context}");
            assert_eq!(dump_of(&other).await.lines().skip(1).filter(|l| l.contains("\"index\"")).count(), 2);
        }
    }

    // A dump without the field (as every dump before it) imports under the store's fields.
    let source = place(Kind::Memory, hash64()).await;
    populate_specs(&source).await;
    let older: Vec<String> = dump_of(&source)
        .await
        .lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("index");
            value.to_string()
        })
        .collect();
    let target = place(Kind::Sqlite, hash64()).await;
    let summary = import_dump(&target.store, None, Cursor::new(older.join("\n")), &|_, _| {}).await.unwrap();
    assert_eq!((summary.vectors_reused, summary.vectors_embedded), (2, 1));
    assert!(items(&target).await.iter().all(|e| e.index == ItemIndex::StoreDefault && e.vector.is_some()));
    assert_eq!(search_keys(&target.store, SearchMode::Keyword, "alpine").await.len(), 2);
}

/// Three chunks of two lines: the first says "painting" and "lighthouse", the last
/// "pottery"; the middle one holds neither, only its neighbours do.
fn hobby_conversation() -> Vec<Message> {
    vec![
        Message::user("I spent the weekend painting a lighthouse"),
        Message::assistant("Watercolours or oils?"),
        Message::user("Oils, on a big canvas"),
        Message::assistant("Sounds lovely"),
        Message::user("Next I want to try pottery"),
        Message::assistant("Clay is fun"),
    ]
}

fn hobby_memory(store: &MemoryStore) -> ConversationMemory {
    ConversationMemory::new(store.clone()).with_chunking(ChunkingOptions::new(2, 0).unwrap())
}

async fn index_hobbies(store: &MemoryStore) {
    let metadata = json!({"topic": "hobbies", "date": "2025-02-01"});
    hobby_memory(store)
        .index_conversation("u1", "s2", &hobby_conversation(), metadata.as_object().unwrap())
        .await
        .unwrap();
}

/// Each query's results (chunk offset and score, bit for bit) in keyword and hybrid modes.
async fn hobby_results(store: &MemoryStore) -> Vec<(SearchMode, &'static str, Vec<(usize, u64)>)> {
    let memory = hobby_memory(store);
    let mut all = Vec::new();
    for mode in [SearchMode::Keyword, SearchMode::Hybrid] {
        for text in ["painted", "pottery", "lighthouse oils", "hobbies"] {
            let found = memory.search("u1", &RecallQuery::new(text).mode(mode).limit(10)).await.unwrap();
            all.push((mode, text, found.iter().map(|r| (r.chunk.offset, r.score.to_bits())).collect()));
        }
    }
    all
}

/// The offsets `query` finds by keyword.
async fn keyword_offsets(store: &MemoryStore, query: &str) -> Vec<usize> {
    let query = RecallQuery::new(query).mode(SearchMode::Keyword).limit(10);
    hobby_memory(store).search("u1", &query).await.unwrap().iter().map(|r| r.chunk.offset).collect()
}

/// A conversation chunk is keyword-indexed by stemmed terms of its own lines (twice) and of
/// its neighbours' lines: the dump carries that text (`keyword_text`), so after an export
/// and an import conversation search answers exactly as in a store that indexed the
/// conversation itself, on every pair of backends, with the same embedder (vectors reused)
/// or another one (vectors made again from each chunk's search text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_keyword_search_is_the_same_after_a_round_trip() {
    for source_kind in KINDS {
        let source = place(source_kind, hash64()).await;
        index_hobbies(&source.store).await;
        // Stemmed ("painted" finds "painting") and by context (the middle chunk is found by
        // its neighbours' words, ranked below the chunk that holds them).
        assert_eq!(keyword_offsets(&source.store, "painted").await, [0, 2], "{source_kind:?}");
        assert_eq!(keyword_offsets(&source.store, "pottery").await, [4, 2], "{source_kind:?}");
        let dump = dump_of(&source).await;
        let chunk_lines: Vec<Value> = dump.lines().skip(1).map(|l| serde_json::from_str::<Value>(l).unwrap()).collect();
        assert_eq!(chunk_lines.len(), 3);
        assert!(chunk_lines.iter().all(|l| l["type"] == "conversation_chunk" && l["keyword_text"].is_string()));
        // The middle chunk's text: the terms of its header and neighbours once, of its own
        // lines twice, in byte order.
        let middle = chunk_lines.iter().find(|l| l["value"]["offset"] == 2).unwrap()["keyword_text"].as_str().unwrap();
        assert_eq!(
            middle,
            "01 02 2025 assist assist assist assist big big canva canva clay date fun hobbi human human human human \
             lighthous love love next oil oil oil paint potteri sound sound spent topic tri want watercolour weekend",
            "{source_kind:?}"
        );

        for target_kind in KINDS {
            for dimensions in [64, 32] {
                let context = format!("{source_kind:?} → {target_kind:?}, hash {dimensions}");
                let embedder: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(dimensions));
                let target = place(target_kind, embedder.clone()).await;
                let summary = import_dump(&target.store, None, Cursor::new(&dump), &|_, _| {}).await.unwrap();
                let reused = if dimensions == 64 { 3 } else { 0 };
                assert_eq!((summary.vectors_reused, summary.vectors_embedded), (reused, 3 - reused), "{context}");
                // What the target answers had it indexed the conversation itself.
                let direct = place(target_kind, embedder).await;
                index_hobbies(&direct.store).await;
                let expected = hobby_results(&direct.store).await;
                assert_eq!(expected[1].2.len(), 2, "{context}: pottery by keyword, own and context");
                assert_eq!(hobby_results(&target.store).await, expected, "{context}");
                assert_eq!(items(&target).await, items(&direct).await, "{context}");
            }
        }
    }

    // A dump without the field (as every dump before it): each chunk is indexed with its own
    // lines and header, stemmed, without its neighbours' lines.
    let source = place(Kind::Memory, hash64()).await;
    index_hobbies(&source.store).await;
    let older: Vec<String> = dump_of(&source)
        .await
        .lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("keyword_text");
            value.to_string()
        })
        .collect();
    for kind in KINDS {
        let target = place(kind, hash64()).await;
        import_dump(&target.store, None, Cursor::new(older.join("\n")), &|_, _| {}).await.unwrap();
        assert_eq!(keyword_offsets(&target.store, "painted").await, [0], "{kind:?}: stemmed, no context");
        assert_eq!(keyword_offsets(&target.store, "pottery").await, [4], "{kind:?}");
        assert_eq!(keyword_offsets(&target.store, "hobbies").await.len(), 3, "{kind:?}: the header's terms");
    }
}

#[tokio::test]
async fn a_malformed_line_names_its_number_and_imports_nothing() {
    let source = place(Kind::Memory, hash64()).await;
    populate(&source).await;
    let dump = dump_of(&source).await;
    let mut lines: Vec<String> = dump.lines().map(str::to_owned).collect();
    let chunk_with = |keyword_text: Value| {
        let mut chunk: Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(chunk["type"], "conversation_chunk");
        chunk["keyword_text"] = keyword_text;
        chunk.to_string()
    };
    let too_long = "a ".repeat(2 << 20) + "b";
    let cases = [
        (3, chunk_with(json!(5)), "line 3: keyword_text must be a string, got a number"),
        (3, chunk_with(json!(["printer"])), "line 3: keyword_text must be a string, got an array"),
        (3, chunk_with(json!(too_long)), "line 3: keyword_text is 4194305 bytes, the limit is 4194304 (4 MiB)"),
        (3, chunk_with(json!("printer\u{0}")), "line 3: keyword_text holds a U+0000 character"),
        (3, r#"{"type": "item", "namespace": [], "key": "k"}"#.to_owned(), "line 3: missing field `value`"),
        (3, r#"{"type": "item", "namespace": [], "key": "k", "value": {}, "created_at": 1, "updated_at": 1, "expires_at": null, "ttl_seconds": null, "vector": null}"#.to_owned(), "line 3: invalid namespace: a namespace needs at least one label"),
        (6, r#"{"type": "session", "session_id": "", "message_count": 0, "created_at": 0, "updated_at": 0, "messages": []}"#.to_owned(), "line 6: invalid session id \"\": it is empty"),
        (8, r#"{"type": "session", "session_id": "s", "message_count": 0, "created_at": -1, "updated_at": 0, "messages": []}"#.to_owned(), "line 8: created_at is not a finite number of seconds since 1970"),
        (4, "not json".to_owned(), "line 4: expected ident at line 1 column 2"),
        (1, r#"{"format": "agent-memory-dump", "version": 2, "tool_version": "9", "exported_at": 0, "embedder": null}"#.to_owned(), "line 1: dump format version 2 is not one this build reads (1 to 1): use a newer agent-memory"),
    ];
    for (line, replacement, message) in cases {
        let original = std::mem::replace(&mut lines[line - 1], replacement);
        let target = place(Kind::Sqlite, hash64()).await;
        let broken = lines.join("\n");
        let error = import_dump(&target.store, Some(target.sessions.as_ref()), Cursor::new(&broken), &|_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(error, TransferError::Malformed { .. }));
        assert_eq!(error.to_string(), message);
        assert_eq!(items(&target).await, vec![], "nothing imported");
        assert_eq!(target.sessions.list().await.unwrap(), vec![], "no session imported");
        lines[line - 1] = original;
    }
    let target = place(Kind::Memory, hash64()).await;
    let error = import_dump(&target.store, None, Cursor::new(&dump), &|_, _| {}).await.unwrap_err();
    assert_eq!(error.to_string(), "the dump holds 3 sessions and no session store was given");
    assert_eq!(items(&target).await, vec![]);
}

/// 2,345 items and 300 sessions: more than one write batch of each (1,000 items, 256
/// sessions). Everything arrives, re-embedding reports its progress across the batches,
/// and the dump read back is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_larger_than_a_batch_imports_in_batches() {
    use agent_memory::store::PutRequest;

    let source = place(Kind::Memory, hash64()).await;
    let requests: Vec<PutRequest> = (0..2_345)
        .map(|i| {
            PutRequest::new(("bulk", format!("n{}", i % 7)), format!("k{i:05}"), json!({"text": format!("fact {i}")}))
        })
        .collect::<Result<_, _>>()
        .unwrap();
    source.store.put_many(requests).await.unwrap();
    let sessions: Vec<RestoredSession> = (0..300)
        .map(|i| RestoredSession {
            session_id: format!("s{i:03}"),
            messages: vec![Message::user(format!("question {i}")), Message::assistant(format!("answer {i}"))],
            created_at: UNIX_EPOCH + Duration::from_secs_f64(T0 + f64::from(i)),
            updated_at: UNIX_EPOCH + Duration::from_secs_f64(T0 + f64::from(i) + 0.5),
        })
        .collect();
    source.sessions.restore(&sessions).await.unwrap();
    let dump = dump_of(&source).await;

    let target = place(Kind::Sqlite, Arc::new(HashEmbedder::new(32))).await;
    let reports = Mutex::new(Vec::new());
    let summary = import_dump(&target.store, Some(target.sessions.as_ref()), Cursor::new(&dump), &|done, total| {
        reports.lock().unwrap().push((done, total));
    })
    .await
    .unwrap();
    assert_eq!((summary.items, summary.sessions, summary.vectors_embedded), (2_345, 300, 2_345));
    let reports = reports.into_inner().unwrap();
    // Batches of 1,000, 1,000 and 345 items, each embedded 64 texts at a time.
    assert_eq!(reports.len(), 16 + 16 + 6);
    assert_eq!(reports[15], (1_000, 2_345));
    assert_eq!(reports.last(), Some(&(2_345, 2_345)));
    assert!(reports.windows(2).all(|pair| pair[0].0 < pair[1].0));
    assert_eq!(target.store.count(("bulk",)).await.unwrap(), 2_345);
    assert_eq!(target.sessions.list().await.unwrap().len(), 300);
    let reexported = dump_of(&target).await;
    let without_vectors = |dump: &str| -> Vec<Value> {
        dump.lines()
            .skip(1)
            .map(|line| {
                let mut value: Value = serde_json::from_str(line).unwrap();
                value.as_object_mut().unwrap().remove("vector");
                value
            })
            .collect()
    };
    assert_eq!(without_vectors(&reexported), without_vectors(&dump));
}

/// An export in pages smaller than the store (down to one item or one session per page)
/// writes the very dump a one-page export writes, on every backend: every item and session
/// exactly once, in order, with progress after each page of items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_in_small_pages_writes_every_item_and_session_once_in_order() {
    for kind in KINDS {
        let source = place(kind, hash64()).await;
        populate(&source).await;
        for i in 0..23 {
            let namespace = ("bulk", format!("n{}", i % 4));
            source.store.put(namespace, format!("k{i:02}"), json!({"text": format!("fact {i}")}), None).await.unwrap();
        }
        let one_page = ExportOptions::default().page_sizes(usize::MAX, usize::MAX);
        let reference = export_with(&source, &one_page).await.0;
        assert_eq!(reference, dump_of(&source).await, "{kind:?}: the default pages are larger than this store");
        let item_lines = 27;
        for (items, sessions) in [(1, 1), (2, 2), (5, 3), (27, 3), (28, 4)] {
            let (dump, reports) = export_with(&source, &ExportOptions::default().page_sizes(items, sessions)).await;
            assert_eq!(dump, reference, "{kind:?}: pages of {items} items, {sessions} sessions");
            let expected: Vec<(u64, u64)> = (1..=item_lines / items + 1)
                .map(|page| ((page * items).min(item_lines) as u64, item_lines as u64))
                .collect();
            assert_eq!(reports, expected, "{kind:?}: a report per page, the last one short (maybe empty)");
        }
    }
}

/// The items under one namespace prefix, without sessions: a partial dump that imports.
#[tokio::test]
async fn an_export_of_a_namespace_prefix_holds_its_items_only() {
    let source = place(Kind::Sqlite, hash64()).await;
    populate(&source).await;
    let prefix = NamespacePrefix::new(["u1"]).unwrap();
    let mut out = Vec::new();
    let options = ExportOptions::default().namespace_prefix(prefix).page_sizes(1, 1);
    let summary = export_dump_with(&source.store, None, &mut out, &options, &|_, _| {}).await.unwrap();
    assert_eq!((summary.items, summary.conversation_chunks, summary.sessions), (2, 1, 0));
    let dump = String::from_utf8(out).unwrap();
    let lines = normalized(&dump);
    let namespaces: Vec<&Value> = lines[1..].iter().map(|line| &line["namespace"]).collect();
    assert_eq!(namespaces, [&json!(["u1", "conversations", "s1"]), &json!(["u1", "prefs"]), &json!(["u1", "prefs"])]);
    assert_eq!((&lines[2]["key"], &lines[3]["key"]), (&json!("lang"), &json!("tea")));
    let full = normalized(&dump_of(&source).await);
    assert_eq!(lines[1..], full[2..5], "the same lines as in the full dump");
    let target = place(Kind::Memory, hash64()).await;
    let imported = import_dump(&target.store, None, Cursor::new(&dump), &|_, _| {}).await.unwrap();
    assert_eq!((imported.items, imported.conversation_chunks, imported.sessions), (2, 1, 0));
    assert_eq!(target.store.count(("app",)).await.unwrap(), 0);
}

/// The dump written with `options`, and the progress reports.
async fn export_with(place: &Place, options: &ExportOptions) -> (String, Vec<(u64, u64)>) {
    let reports = Mutex::new(Vec::new());
    let mut out = Vec::new();
    export_dump_with(&place.store, Some(place.sessions.as_ref()), &mut out, options, &|done, total| {
        reports.lock().unwrap().push((done, total));
    })
    .await
    .unwrap();
    (String::from_utf8(out).unwrap(), reports.into_inner().unwrap())
}
