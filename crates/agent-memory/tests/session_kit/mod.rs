//! The `SessionStore` conformance check, shared by every backend's test file
//! (`tests/agent_sessions.rs` in memory, `tests/session_sqlite.rs`, `tests/session_postgres.rs`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // helpers of a test may panic: that is the test failing

use std::sync::Arc;

use agent_memory::message::{Message, ToolCall};
use std::time::{Duration, UNIX_EPOCH};

use agent_memory::session::{
    MAX_SESSION_PAGE, RestoredSession, SessionError, SessionInfo, SessionListQuery, SessionPage, SessionStore,
};
use serde_json::json;

/// Runs every check below on fresh stores made by `$make` (an async expression giving an
/// `Arc<dyn SessionStore>` on an empty store; it may capture nothing that must outlive it,
/// so SQL backends return a store that owns its database).
#[macro_export]
macro_rules! session_conformance {
    ($make:expr) => {
        #[tokio::test]
        async fn conforms_to_the_session_contract() {
            $crate::session_kit::conformance(&*$make).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn takes_concurrent_appends_in_order() {
            $crate::session_kit::concurrent_appends($make).await;
        }

        #[tokio::test]
        async fn restores_sessions_with_their_times() {
            $crate::session_kit::restore(&*$make).await;
        }

        #[tokio::test]
        async fn exports_sessions_in_pages_by_id() {
            $crate::session_kit::export_pages(&*$make).await;
        }

        #[tokio::test]
        async fn lists_pages_of_a_prefix_and_nothing_outside_it() {
            $crate::session_kit::prefix_pages(&*$make).await;
        }

        #[tokio::test]
        async fn pages_list_every_session_once_while_writers_work() {
            $crate::session_kit::pages_with_writes(&*$make).await;
        }

        #[tokio::test]
        async fn empty_pages_and_invalid_listings() {
            $crate::session_kit::empty_pages(&*$make).await;
        }

        #[tokio::test]
        async fn agent_history_limits_persist() {
            $crate::session_kit::agent_history_limits_persist($make).await;
        }
    };
}

/// Checks every rule of the `SessionStore` contract on an empty store.
pub async fn conformance(store: &dyn SessionStore) {
    // An unknown session is empty and not listed.
    assert_eq!(store.load("missing").await.unwrap(), vec![]);
    assert!(store.list().await.unwrap().is_empty());
    assert!(!store.delete("missing").await.unwrap());

    // Appends keep order and every field of a message.
    let mut with_metadata = Message::user("Hi, I'm Bob").with_id("m1");
    with_metadata.metadata.insert("turn".into(), json!(1));
    let mut failed = Message::tool("c1", "Error: down");
    failed.extra.insert("is_error".into(), json!(true));
    let first = vec![
        with_metadata,
        Message::assistant_tool_calls(vec![ToolCall::new("c1", "weather", &json!({"city": "Paris"}))]),
        failed,
    ];
    store.append("b-thread", &first).await.unwrap();
    store.append("b-thread", &[Message::assistant("Hello Bob")]).await.unwrap();
    store.append("a-thread", &[Message::user("other")]).await.unwrap();
    let mut expected = first.clone();
    expected.push(Message::assistant("Hello Bob"));
    assert_eq!(store.load("b-thread").await.unwrap(), expected);
    assert_eq!(store.load("a-thread").await.unwrap(), vec![Message::user("other")]);

    // Listing is sorted by id, with counts and sane times.
    let listed = store.list().await.unwrap();
    let summary: Vec<(&str, usize)> = listed.iter().map(|i| (i.session_id.as_str(), i.message_count)).collect();
    assert_eq!(summary, vec![("a-thread", 1), ("b-thread", 4)]);
    assert!(listed.iter().all(|info| info.created_at <= info.updated_at));

    // Replace swaps the whole history; an empty replacement leaves an empty session.
    store.replace("b-thread", &[Message::system("[Previous conversation summary]\nBob")]).await.unwrap();
    assert_eq!(store.load("b-thread").await.unwrap(), vec![Message::system("[Previous conversation summary]\nBob")]);
    store.replace("c-thread", &[]).await.unwrap();
    assert_eq!(store.load("c-thread").await.unwrap(), vec![]);

    // Delete says whether the session existed and leaves the others alone.
    assert!(store.delete("b-thread").await.unwrap());
    assert!(!store.delete("b-thread").await.unwrap());
    assert_eq!(store.load("b-thread").await.unwrap(), vec![]);
    assert_eq!(store.load("a-thread").await.unwrap(), vec![Message::user("other")]);

    // Ids are checked.
    for (id, reason) in [
        ("", "it is empty"),
        ("a\nb", "it contains control characters"),
        (&"x".repeat(257), "it is longer than 256 bytes"),
    ] {
        match store.append(id, &[Message::user("x")]).await {
            Err(SessionError::InvalidId { reason: got, .. }) => assert_eq!(got, reason),
            other => panic!("expected an invalid id error for {id:?}, got {other:?}"),
        }
        assert!(matches!(store.load(id).await, Err(SessionError::InvalidId { .. })));
    }
    assert!(store.append(&"x".repeat(256), &[]).await.is_ok());
}

/// `restore` writes sessions exactly (messages, `created_at`, `updated_at`), replaces an
/// existing session of the same id, lets a later duplicate win, leaves other sessions alone,
/// and writes nothing when one id is invalid.
pub async fn restore(store: &dyn SessionStore) {
    let at = |seconds: f64| UNIX_EPOCH + Duration::from_secs_f64(seconds);
    store.append("kept", &[Message::user("untouched")]).await.unwrap();
    store.append("replaced", &[Message::user("old"), Message::assistant("old reply")]).await.unwrap();
    let conversation = vec![
        Message::user("Hi, I'm Bob").with_id("m1"),
        Message::assistant_tool_calls(vec![ToolCall::new("c1", "weather", &json!({"city": "Paris"}))]),
        Message::tool("c1", "sunny"),
    ];
    let session = |id: &str, messages: Vec<Message>, created: f64, updated: f64| RestoredSession {
        session_id: id.to_owned(),
        messages,
        created_at: at(created),
        updated_at: at(updated),
    };
    store
        .restore(&[
            session("replaced", vec![Message::user("first version")], 1.0, 2.0),
            session("new", conversation.clone(), 1_700_000_000.25, 1_700_000_100.5),
            session("replaced", vec![Message::user("new")], 1_600_000_000.0, 1_650_000_000.125),
            session("empty", vec![], 1_700_000_000.0, 1_700_000_000.0),
        ])
        .await
        .unwrap();
    assert_eq!(store.load("new").await.unwrap(), conversation);
    assert_eq!(store.load("replaced").await.unwrap(), vec![Message::user("new")]);
    assert_eq!(store.load("kept").await.unwrap(), vec![Message::user("untouched")]);
    let seconds = |time: std::time::SystemTime| time.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let listed: Vec<(String, usize, f64, f64)> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|info| info.session_id != "kept")
        .map(|info| (info.session_id, info.message_count, seconds(info.created_at), seconds(info.updated_at)))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("empty".to_owned(), 0, 1_700_000_000.0, 1_700_000_000.0),
            ("new".to_owned(), 3, 1_700_000_000.25, 1_700_000_100.5),
            ("replaced".to_owned(), 1, 1_600_000_000.0, 1_650_000_000.125),
        ]
    );
    // An append after a restore keeps the restored creation time and moves updated_at on.
    store.append("new", &[Message::assistant("It is sunny.")]).await.unwrap();
    let info = store.list().await.unwrap().into_iter().find(|info| info.session_id == "new").unwrap();
    assert_eq!((info.message_count, seconds(info.created_at)), (4, 1_700_000_000.25));
    assert!(seconds(info.updated_at) > 1_700_000_100.5);

    let invalid = store.restore(&[session("fine", vec![], 1.0, 1.0), session("", vec![], 1.0, 1.0)]).await;
    assert!(matches!(invalid, Err(SessionError::InvalidId { .. })), "{invalid:?}");
    assert_eq!(store.load("fine").await.unwrap(), vec![], "nothing written");
    assert!(store.list().await.unwrap().iter().all(|info| info.session_id != "fine"));
}

/// `export_sessions` pages by id (bytewise: `"B" < "a" < "a/x" < "b" < "é"`), from the start or
/// after any id (stored or not), each session with its messages and times exactly.
pub async fn export_pages(store: &dyn SessionStore) {
    let at = |seconds: f64| UNIX_EPOCH + Duration::from_secs_f64(seconds);
    let ids = ["b", "é", "a/x", "B", "a", "empty"];
    let sessions: Vec<RestoredSession> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| RestoredSession {
            session_id: (*id).to_owned(),
            messages: if *id == "empty" {
                vec![]
            } else {
                vec![Message::user(format!("{id} asks")).with_id(format!("m{i}")), Message::assistant(format!("{i}"))]
            },
            created_at: at(1_700_000_000.125 + i as f64),
            updated_at: at(1_700_000_100.000_001 + i as f64),
        })
        .collect();
    store.restore(&sessions).await.unwrap();
    let mut expected = sessions.clone();
    expected.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    let order: Vec<&str> = expected.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(order, ["B", "a", "a/x", "b", "empty", "é"]);

    let everything = store.export_sessions(None, 100).await.unwrap();
    let bits = |sessions: &[RestoredSession]| -> Vec<(String, Vec<Message>, u64, u64)> {
        let bits = |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64().to_bits();
        sessions
            .iter()
            .map(|s| (s.session_id.clone(), s.messages.clone(), bits(s.created_at), bits(s.updated_at)))
            .collect()
    };
    assert_eq!(bits(&everything), bits(&expected), "messages and times exactly");
    for limit in 1..=expected.len() {
        let mut paged: Vec<RestoredSession> = Vec::new();
        for _ in 0..=expected.len() {
            let after = paged.last().map(|s| s.session_id.clone());
            let page = store.export_sessions(after.as_deref(), limit).await.unwrap();
            assert!(page.len() <= limit);
            let last = page.len() < limit;
            paged.extend(page);
            if last {
                break;
            }
        }
        assert_eq!(bits(&paged), bits(&expected), "pages of {limit}");
    }
    let ids_after = |page: Vec<RestoredSession>| page.into_iter().map(|s| s.session_id).collect::<Vec<_>>();
    assert_eq!(ids_after(store.export_sessions(Some("a/"), 2).await.unwrap()), ["a/x", "b"], "after an absent id");
    assert_eq!(ids_after(store.export_sessions(Some("é"), 2).await.unwrap()), Vec::<String>::new());
    let invalid = store.export_sessions(Some(""), 2).await;
    assert!(matches!(invalid, Err(SessionError::InvalidId { .. })), "{invalid:?}");
}

/// Eight tasks append 50 messages each to one session: all 400 arrive, each task's in order.
pub async fn concurrent_appends(store: Arc<dyn SessionStore>) {
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    store.append("shared", &[Message::user(format!("{task}-{i}"))]).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let messages = store.load("shared").await.unwrap();
    assert_eq!(messages.len(), 400);
    for task in 0..8 {
        let own: Vec<String> =
            messages.iter().map(|m| m.text().into_owned()).filter(|t| t.starts_with(&format!("{task}-"))).collect();
        let expected: Vec<String> = (0..50).map(|i| format!("{task}-{i}")).collect();
        assert_eq!(own, expected, "task {task}'s appends kept their order");
    }
}

/// An agent with `TrimMiddleware::new(TrimOptions::last(4))` keeps the stored session to the
/// last 4 messages the model saw plus its reply, across runs: the next run starts from the
/// trimmed history, and no request carries more than the system prompt and 4 messages.
pub async fn agent_history_limits_persist(store: Arc<dyn SessionStore>) {
    use agent_memory::agent::{Agent, TrimMiddleware};
    use agent_memory::llm::ScriptedChat;
    use agent_memory::trim::TrimOptions;

    let model = Arc::new(ScriptedChat::new(
        (1..=4).map(|turn| Message::assistant(format!("reply {turn}"))).collect::<Vec<_>>(),
    ));
    let agent = Agent::builder(model.clone())
        .system("Be brief.")
        .sessions(store.clone())
        .middleware(Arc::new(TrimMiddleware::new(TrimOptions::last(4))))
        .build()
        .unwrap();
    for turn in 1..=4 {
        agent.run(&format!("question {turn}"), Some("limited")).await.unwrap();
    }
    let stored: Vec<String> = store.load("limited").await.unwrap().iter().map(|m| m.text().into_owned()).collect();
    assert_eq!(stored, vec!["reply 2", "question 3", "reply 3", "question 4", "reply 4"]);
    assert_eq!(store.list().await.unwrap()[0].message_count, stored.len());
    let seen: Vec<usize> = model.requests().iter().map(|request| request.messages.len()).collect();
    assert_eq!(seen, vec![2, 4, 5, 5], "system prompt + at most 4 messages per request");
}

/// Every page of `query`, following `next_after` to the end (at most `bound` pages).
async fn all_pages(store: &dyn SessionStore, query: &SessionListQuery, bound: usize) -> Vec<SessionPage> {
    let mut pages = vec![store.list_page(query).await.unwrap()];
    while let Some(after) = pages.last().and_then(|page| page.next_after.clone()) {
        assert!(pages.len() < bound, "more than {bound} pages: {pages:?}");
        pages.push(store.list_page(&query.clone().with_after(after).unwrap()).await.unwrap());
    }
    pages
}

fn ids(infos: &[SessionInfo]) -> Vec<&str> {
    infos.iter().map(|info| info.session_id.as_str()).collect()
}

/// Ids that share bytes with each prefix below without starting with it: another tenant
/// whose name starts with this one's, the prefix's successor (`acme0` after `acme/`),
/// LIKE's wildcards and escape, and the highest code points.
const PREFIX_IDS: [&str; 20] = [
    "acme",
    "acme/",
    "acme/a",
    "acme/b%",
    "acme/_x",
    "acme/\\",
    "acme/\u{ffff}",
    "acme/\u{ffff}z",
    "acme/\u{10ffff}",
    "acme/é",
    "acme0",
    "acmex/a",
    "acme-eu/a",
    "acme_/1",
    "acmeX1",
    "acme%/1",
    "acme\\/1",
    "acme\\x",
    "\u{ffff}",
    "\u{10ffff}\u{10ffff}",
];

/// `list_page` with a prefix lists exactly the sessions whose id starts with it (byte for
/// byte, whatever LIKE would make of `%`, `_` or `\`), sorted, with the counts and times
/// `list` gives, in pages of every size.
pub async fn prefix_pages(store: &dyn SessionStore) {
    for (i, id) in PREFIX_IDS.iter().enumerate() {
        let messages: Vec<Message> = (0..i % 3).map(|n| Message::user(format!("{id} {n}"))).collect();
        store.replace(id, &messages).await.unwrap();
    }
    let everything = store.list().await.unwrap();
    assert_eq!(everything.len(), PREFIX_IDS.len());
    let prefixes =
        ["", "acme/", "acme", "acme_", "acme%", "acme\\", "acme/\u{ffff}", "acme/\u{10ffff}", "\u{10ffff}", "zzz"];
    for prefix in prefixes {
        let expected: Vec<&SessionInfo> =
            everything.iter().filter(|info| info.session_id.starts_with(prefix)).collect();
        for limit in [1, 2, 3, MAX_SESSION_PAGE] {
            let query = SessionListQuery::new(limit).unwrap().with_prefix(prefix).unwrap();
            let pages = all_pages(store, &query, PREFIX_IDS.len() + 1).await;
            for page in &pages {
                assert!(page.sessions.len() <= limit);
                if let Some(after) = &page.next_after {
                    assert_eq!(page.sessions.len(), limit, "only a full page says more follow");
                    assert_eq!(Some(after), page.sessions.last().map(|info| &info.session_id));
                }
            }
            let listed: Vec<SessionInfo> = pages.into_iter().flat_map(|page| page.sessions).collect();
            assert_eq!(listed.iter().collect::<Vec<_>>(), expected, "prefix {prefix:?}, pages of {limit}");
        }
    }
    let query = SessionListQuery::new(100).unwrap().with_prefix("acme/").unwrap();
    let page = store.list_page(&query).await.unwrap();
    assert_eq!(
        ids(&page.sessions),
        [
            "acme/",
            "acme/\\",
            "acme/_x",
            "acme/a",
            "acme/b%",
            "acme/é",
            "acme/\u{ffff}",
            "acme/\u{ffff}z",
            "acme/\u{10ffff}"
        ]
    );
    assert_eq!(page.next_after, None);
    // A cursor before the prefix starts at the prefix; one inside it continues after it
    // (whether or not it is a stored id).
    let from = |after: &str| query.clone().with_after(after).unwrap();
    assert_eq!(ids(&store.list_page(&from("a")).await.unwrap().sessions)[..2], ["acme/", "acme/\\"]);
    assert_eq!(ids(&store.list_page(&from("acme/b")).await.unwrap().sessions)[..2], ["acme/b%", "acme/é"]);
    assert_eq!(ids(&store.list_page(&from("acme/\u{ffff}z")).await.unwrap().sessions), ["acme/\u{10ffff}"]);
}

/// Paging through a prefix while sessions are added, changed and deleted between pages:
/// every session that exists from the first page to the last is listed exactly once, ids
/// only rise from page to page, and nothing outside the prefix appears.
pub async fn pages_with_writes(store: &dyn SessionStore) {
    for n in 0..30 {
        store.append(&format!("t/{n:02}"), &[Message::user("hi")]).await.unwrap();
        store.append(&format!("t0{n:02}"), &[Message::user("outside")]).await.unwrap();
    }
    let query = SessionListQuery::new(4).unwrap().with_prefix("t/").unwrap();
    let mut listed: Vec<String> = Vec::new();
    let mut page = store.list_page(&query).await.unwrap();
    for round in 0..40 {
        listed.extend(page.sessions.iter().map(|info| info.session_id.clone()));
        let Some(after) = page.next_after.clone() else { break };
        assert!(round < 30, "the listing does not end");
        // Writers between pages: the cursor's own session goes, one is added behind it and
        // one ahead of it; one ahead is changed; one far ahead goes.
        assert!(store.delete(&after).await.unwrap());
        store.append(&format!("t/{round:02}-behind"), &[Message::user("new")]).await.unwrap();
        store.append(&format!("t/{:02}-ahead", 29 - round), &[Message::user("new")]).await.unwrap();
        store.append("t/29", &[Message::user("more")]).await.unwrap();
        store.delete("t/27").await.unwrap();
        page = store.list_page(&query.clone().with_after(after).unwrap()).await.unwrap();
    }
    assert!(listed.windows(2).all(|pair| pair[0] < pair[1]), "ids only rise: {listed:?}");
    assert!(listed.iter().all(|id| id.starts_with("t/")), "{listed:?}");
    for n in (0..30).filter(|n| *n != 27) {
        let id = format!("t/{n:02}");
        assert_eq!(listed.iter().filter(|listed| **listed == id).count(), 1, "{id} listed once: {listed:?}");
    }
}

/// Empty stores, prefixes and ranges give an empty last page; a page exactly as long as
/// what is left is the last one; a limit of 0 or over the maximum is refused.
pub async fn empty_pages(store: &dyn SessionStore) {
    let nothing = SessionPage { sessions: vec![], next_after: None };
    let query = |limit: usize, prefix: &str| SessionListQuery::new(limit).unwrap().with_prefix(prefix).unwrap();
    assert_eq!(store.list_page(&query(10, "")).await.unwrap(), nothing, "an empty store");
    for id in ["a/1", "a/2", "a/3", "b"] {
        store.append(id, &[Message::user(id)]).await.unwrap();
    }
    assert_eq!(store.list_page(&query(10, "a/4")).await.unwrap(), nothing, "no id has the prefix");
    assert_eq!(store.list_page(&query(10, "c")).await.unwrap(), nothing, "past every id");
    let after = |limit, prefix, after: &str| query(limit, prefix).with_after(after).unwrap();
    assert_eq!(store.list_page(&after(10, "a/", "a/3")).await.unwrap(), nothing, "after the prefix's last id");
    assert_eq!(store.list_page(&after(10, "a/", "a0")).await.unwrap(), nothing, "after the prefix's successor");
    assert_eq!(store.list_page(&after(10, "a/", "z")).await.unwrap(), nothing, "after everything");
    let exact = store.list_page(&query(3, "a/")).await.unwrap();
    assert_eq!((ids(&exact.sessions), exact.next_after), (vec!["a/1", "a/2", "a/3"], None));
    let short = store.list_page(&query(2, "a/")).await.unwrap();
    assert_eq!((ids(&short.sessions), short.next_after.as_deref()), (vec!["a/1", "a/2"], Some("a/2")));
    let last = store.list_page(&after(2, "a/", "a/2")).await.unwrap();
    assert_eq!((ids(&last.sessions), last.next_after), (vec!["a/3"], None));

    // The query is checked as it is built, so no store ever sees an invalid one.
    assert!(matches!(SessionListQuery::new(0), Err(SessionError::InvalidQuery(_))));
    assert!(matches!(SessionListQuery::new(MAX_SESSION_PAGE + 1), Err(SessionError::InvalidQuery(_))));
    assert!(matches!(query(1, "").with_after(""), Err(SessionError::InvalidId { .. })));
}
