//! The MCP tools over `POST /mcp`, driven as JSON-RPC through the router: `remember`'s
//! per-item `index` (LangGraph's `index`) decides what `recall_memories` finds by query.

use std::sync::Arc;

use agent_memory::embed::HashEmbedder;
use agent_memory::store::MemoryStore;
use axum::Router;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::super::metrics::Metrics;
use super::super::{AppState, router};
use super::{keys, limits, mcp_post};

/// One MCP session of tenant acme on one router (the router holds the sessions).
struct McpSession {
    app: Router,
    session: String,
    next_id: u64,
}

impl McpSession {
    /// Initializes a session on a server over `store`.
    async fn open(store: MemoryStore) -> McpSession {
        let app = router(AppState::new(keys(), limits(), store, Arc::new(Metrics::new())));
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
        let response = app.clone().oneshot(mcp_post(None, &initialize)).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let session = response.headers()["mcp-session-id"].to_str().expect("text").to_owned();
        response.into_body().collect().await.expect("body");
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = app.clone().oneshot(mcp_post(Some(&session), &initialized)).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        McpSession { app, session, next_id: 1 }
    }

    /// Sends one request; returns its JSON-RPC `result`.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.app.clone().oneshot(mcp_post(Some(&self.session), &body)).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        // Server-sent events: the answer is the `data:` line holding our id.
        let message = text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(|message| message["id"] == id)
            .unwrap_or_else(|| panic!("no answer to request {id} in {text:?}"));
        message.get("result").cloned().unwrap_or_else(|| panic!("not a result: {message}"))
    }

    /// Calls `tool`: its structured result, or `Err(text)` for a tool error.
    async fn call(&mut self, tool: &str, arguments: Value) -> Result<Value, String> {
        let result = self.request("tools/call", json!({"name": tool, "arguments": arguments})).await;
        if result["isError"] == true {
            return Err(result["content"][0]["text"].as_str().expect("error text").to_owned());
        }
        Ok(result["structuredContent"].clone())
    }

    /// The keys `recall_memories` returns for `arguments`, best first.
    async fn recall(&mut self, arguments: Value) -> Vec<String> {
        let found = self.call("recall_memories", arguments).await.expect("recall");
        found["memories"]
            .as_array()
            .expect("memories")
            .iter()
            .map(|memory| memory["key"].as_str().expect("key").to_owned())
            .collect()
    }
}

/// An argument under a name no tool takes (`content` for `text`, a plausible guess) is an
/// error that names it and the names there are, never silently dropped; nothing is stored.
#[tokio::test]
async fn an_unknown_argument_is_an_error_naming_it() {
    let mut mcp = McpSession::open(MemoryStore::in_memory().without_embedder()).await;
    for (tool, arguments) in [
        ("remember", json!({"user_id": "u1", "content": "likes tea"})),
        ("recall_memories", json!({"user_id": "u1", "question": "tea?"})),
        ("forget", json!({"user_id": "u1", "id": "k"})),
        ("search_past_conversations", json!({"user_id": "u1", "query": "tea", "top_k": 3})),
    ] {
        let id = mcp.next_id;
        mcp.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}});
        let response = mcp.app.clone().oneshot(mcp_post(Some(&mcp.session), &body)).await.expect("infallible");
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        let unknown = arguments.as_object().expect("object").keys().find(|name| *name != "user_id" && *name != "query");
        let unknown = unknown.expect("an unknown argument");
        assert!(text.contains(&format!("unknown field `{unknown}`")), "{tool}: {text}");
        assert!(text.contains("expected one of"), "{tool}: {text}");
    }
    assert!(mcp.recall(json!({"user_id": "u1"})).await.is_empty(), "nothing stored");
}

/// A model filling in a tool call may write a count as a float: `limit: 1.0` is 1.
#[tokio::test]
async fn a_whole_float_limit_is_a_limit() {
    let mut mcp = McpSession::open(MemoryStore::in_memory().without_embedder()).await;
    for text in ["likes tea", "likes green tea"] {
        mcp.call("remember", json!({"user_id": "u1", "text": text})).await.expect("remember");
    }
    assert_eq!(mcp.recall(json!({"user_id": "u1", "query": "tea", "limit": 1.0})).await.len(), 1);
    let error = mcp.call("recall_memories", json!({"user_id": "u1", "limit": 1.5})).await.expect_err("a fraction");
    assert!(error.contains("expected a whole number"), "{error}");
}

#[tokio::test]
async fn remember_documents_its_index_argument() {
    let mut mcp = McpSession::open(MemoryStore::in_memory().without_embedder()).await;
    let tools = mcp.request("tools/list", json!({})).await;
    let remember = tools["tools"].as_array().expect("tools").iter().find(|tool| tool["name"] == "remember");
    let schema = &remember.expect("remember")["inputSchema"];
    assert_eq!(
        schema["properties"]["index"]["anyOf"],
        json!([
            {"type": "boolean", "const": false},
            {"type": "array", "items": {"type": "string"}},
            {"type": "null"}
        ])
    );
    let description = schema["properties"]["index"]["description"].as_str().expect("described");
    assert!(description.starts_with("What a query searches in this memory (LangGraph's per-item `index`)"));
    assert!(!schema["required"].as_array().is_some_and(|required| required.contains(&json!("index"))));
}

#[tokio::test]
async fn an_unindexed_memory_is_listed_but_never_recalled_by_a_query() {
    // Keyword search only, then hybrid with an embedder: neither finds it by query.
    let stores = [
        MemoryStore::in_memory().without_embedder(),
        MemoryStore::in_memory().with_embedder(Arc::new(HashEmbedder::new(64))),
    ];
    for store in stores {
        let mut mcp = McpSession::open(store).await;
        let stored = mcp
            .call(
                "remember",
                json!({"user_id": "u1", "key": "wifi", "text": "the wifi password is hunter2", "index": false}),
            )
            .await
            .expect("remember");
        assert_eq!(stored["value"], json!({"text": "the wifi password is hunter2"}));
        mcp.call("remember", json!({"user_id": "u1", "key": "router", "text": "the wifi router is in the hall"}))
            .await
            .expect("remember");
        mcp.call(
            "remember",
            json!({"user_id": "u1", "key": "nulled", "text": "the wifi works upstairs", "index": null}),
        )
        .await
        .expect("null is the store's default");

        let mut by_query = mcp.recall(json!({"user_id": "u1", "query": "wifi password", "limit": 10})).await;
        by_query.sort();
        assert_eq!(by_query, ["nulled", "router"]);
        let mut listed = mcp.recall(json!({"user_id": "u1", "limit": 10})).await;
        listed.sort();
        assert_eq!(listed, ["nulled", "router", "wifi"]);
        assert_eq!(mcp.recall(json!({"filter": {"text": "the wifi password is hunter2"}})).await, ["wifi"]);

        // Remembering it again without `index` makes it searchable (the best match: hybrid
        // search also ranks the other memories by their vectors).
        mcp.call("remember", json!({"user_id": "u1", "key": "wifi", "text": "the wifi password is hunter2"}))
            .await
            .expect("remember");
        let found = mcp.recall(json!({"user_id": "u1", "query": "hunter2", "limit": 1})).await;
        assert_eq!(found, ["wifi"]);
    }
}

#[tokio::test]
async fn a_memory_indexed_by_paths_is_recalled_only_by_the_text_under_them() {
    let mut mcp = McpSession::open(MemoryStore::in_memory().without_embedder()).await;
    let value = json!({"title": "Alps ski trip", "notes": "bring sunscreen", "meta": {"topic": "holidays"}});
    mcp.call(
        "remember",
        json!({"namespace": ["trips"], "key": "alps", "value": value, "index": ["title", "meta.topic"]}),
    )
    .await
    .expect("remember");
    assert_eq!(mcp.recall(json!({"query": "ski"})).await, ["alps"]);
    assert_eq!(mcp.recall(json!({"query": "holidays"})).await, ["alps"]);
    assert_eq!(mcp.recall(json!({"query": "sunscreen"})).await, Vec::<String>::new());
    assert_eq!(mcp.recall(json!({"namespace_prefix": ["trips"]})).await, ["alps"]);
}

#[tokio::test]
async fn an_invalid_index_is_a_tool_error_naming_the_problem_and_stores_nothing() {
    let mut mcp = McpSession::open(MemoryStore::in_memory().without_embedder()).await;
    let cases = [
        (
            json!(["title", "meta..topic"]),
            r#"invalid_index: invalid index: index path "meta..topic" is not a valid path"#,
        ),
        (json!([""]), r#"invalid_index: invalid index: index path "" is not a valid path"#),
        (json!(true), "invalid_index: invalid index: index must be false, a list of field paths or null, got true"),
        (json!(["title", 3]), r#"invalid_index: invalid index: index paths must be strings, got ["title",3]"#),
        (
            json!("title"),
            r#"invalid_index: invalid index: index must be false, a list of field paths or null, got "title""#,
        ),
    ];
    for (index, expected) in cases {
        let error = mcp
            .call("remember", json!({"namespace": ["trips"], "key": "k", "text": "ski trip", "index": index}))
            .await
            .expect_err("invalid index");
        assert!(error.starts_with(expected), "{index}: {error}");
    }
    assert_eq!(mcp.recall(json!({"namespace_prefix": ["trips"]})).await, Vec::<String>::new());
}
