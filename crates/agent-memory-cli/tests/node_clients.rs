//! The official JavaScript clients, unchanged, against `agent-memory`:
//! * LangGraph's JavaScript SDK (`@langchain/langgraph-sdk`): `client.store.putItem / getItem /
//!   deleteItem / searchItems / listNamespaces` against `serve`, two tenants, keys sent as
//!   `x-api-key`;
//! * the official TypeScript MCP SDK (`@modelcontextprotocol/sdk`): `agent-memory mcp` over
//!   stdio and the `/mcp` endpoint of `serve` over streamable HTTP.
//!
//! The clients are installed by `scripts/deps/node-clients.sh` at the versions its lock file
//! pins (`AGENT_MEMORY_TEST_NODE_CLIENTS` names their folder; when unset, this test runs the
//! script itself, which does nothing when they are already there). Without Node.js 20 and
//! the clients the tests fail.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

mod common;

const ACME_KEY: &str = "acme-secret-0123456789";
const GLOBEX_KEY: &str = "globex-secret-0123456789";

/// The LangGraph SDK script: every observation goes into one JSON object on stdout.
const LANGGRAPH_SCRIPT: &str = r#"
import { Client } from "@langchain/langgraph-sdk";
const [url, acmeKey, globexKey] = process.argv.slice(1);
const acme = new Client({ apiUrl: url, apiKey: acmeKey }).store;
const globex = new Client({ apiUrl: url, apiKey: globexKey }).store;
const trim = (item) => item && { namespace: item.namespace, key: item.key, value: item.value };
const failure = async (call) => {
    try { await call(); return "accepted"; } catch (e) { return [e.status ?? String(e), JSON.parse(e.text).code]; }
};
const out = {};

await acme.putItem(["users", "u1", "prefs"], "food", { text: "likes spicy ramen in winter", level: 3 });
await acme.putItem(["users", "u1", "facts"], "editor", { text: "uses Neovim with a dark theme", level: 1 });
await acme.putItem(["users", "u2", "prefs"], "food", { text: "vegan, cooks tofu", level: 5 }, { ttl: 60 });
await acme.putItem(["vault"], "pin", { text: "the spicy ramen place code is 4711" }, { index: false });

const item = await acme.getItem(["users", "u1", "prefs"], "food");
out.get = trim(item);
out.get_times = [item.createdAt === item.created_at, typeof item.updatedAt === "string"];
const refreshed = await acme.getItem(["users", "u2", "prefs"], "food", { refreshTtl: true });
out.get_refresh_expires = typeof refreshed.expires_at === "string";
out.get_missing = await acme.getItem(["users", "u1", "prefs"], "nothing");

let found = await acme.searchItems(["users"], { query: "spicy ramen", limit: 1 });
out.search_query = found.items.map((i) => [i.key, i.namespace.join("."), i.score > 0]);
found = await acme.searchItems(["users"], { filter: { level: { $gte: 3 } }, limit: 10 });
out.search_filter = found.items.map((i) => i.key + "@" + i.namespace.join(".")).sort();
out.search_paged = (await acme.searchItems([], { limit: 2, offset: 1 })).items.length;
out.search_unindexed = (await acme.searchItems(["vault"], { query: "spicy ramen code" })).items.map((i) => i.key);
out.list_unindexed = (await acme.searchItems(["vault"])).items.map((i) => i.key);

out.namespaces = (await acme.listNamespaces()).namespaces;
out.namespaces_depth = (await acme.listNamespaces({ prefix: ["users"], maxDepth: 2 })).namespaces;
out.namespaces_suffix = (await acme.listNamespaces({ suffix: ["prefs"], limit: 10, offset: 0 })).namespaces;

out.globex_get = await globex.getItem(["users", "u1", "prefs"], "food");
out.globex_search = (await globex.searchItems([], { query: "ramen" })).items;
out.globex_namespaces = (await globex.listNamespaces()).namespaces;
await globex.deleteItem(["users", "u1", "prefs"], "food");
out.after_globex_delete = trim(await acme.getItem(["users", "u1", "prefs"], "food"));

await acme.deleteItem(["users", "u1", "prefs"], "food");
out.after_delete = await acme.getItem(["users", "u1", "prefs"], "food");
out.bad_ttl = await failure(() => acme.putItem(["users"], "bad", { x: 1 }, { ttl: -5 }));
out.bad_value = await failure(() => acme.putItem(["users"], "bad", [1, 2]));
out.wrong_key = await failure(() => new Client({ apiUrl: url, apiKey: "wrong-key-0123456789" }).store.listNamespaces());
console.log(JSON.stringify(out));
"#;

/// The MCP script: `call` answers the structured result, or `["error", text]` for a tool
/// error; observations as above. Over stdio (one tenant, its own SQLite file), then over
/// HTTP, where acme remembers and globex tries to see and delete it.
const MCP_SCRIPT: &str = r#"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
const [binary, workdir, endpoint, acmeKey, globexKey] = process.argv.slice(1);
const out = {};
const trim = (item) => ({ namespace: item.namespace, key: item.key, value: item.value });

async function session(transport, body) {
    const client = new Client({ name: "agent-memory-test", version: "0.0.0" });
    await client.connect(transport);
    const call = async (name, args) => {
        const result = await client.callTool({ name, arguments: args });
        return result.isError ? ["error", result.content[0].text] : result.structuredContent;
    };
    try { await body(client, call); } finally { await client.close(); }
}
const http = (key) => new StreamableHTTPClientTransport(new URL(endpoint), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
});

await session(new StdioClientTransport({ command: binary, args: ["mcp", "--database-url", "sqlite:mcp.db"], cwd: workdir }),
    async (client, call) => {
        out.stdio_server = client.getServerVersion().name;
        out.stdio_tools = (await client.listTools()).tools.map((t) => t.name).sort();
        out.stdio_remember = trim(await call("remember", { user_id: "u1", key: "drink", text: "prefers green tea in the morning" }));
        await call("remember", { user_id: "u1", key: "editor", value: { text: "uses Helix", kind: "tool" } });
        const found = await call("recall_memories", { query: "green tea", user_id: "u1", limit: 1 });
        out.stdio_recall = found.memories.map(trim);
        out.stdio_forget = await call("forget", { user_id: "u1", key: "drink" });
        out.stdio_after_forget = (await call("recall_memories", { user_id: "u1", limit: 10 })).memories.map((m) => m.key);
        out.stdio_bad_input = await call("remember", { namespace: ["x"], key: "k" });
        const messages = [{ role: "user", content: "My printer shows error E42" },
                          { role: "assistant", content: "Roll back the firmware." }];
        const indexed = await call("index_conversation", { user_id: "u1", session_id: "s1", messages });
        out.stdio_indexed = [indexed.user_id, indexed.session_id, indexed.chunk_ids.length];
        const past = await call("search_past_conversations", { user_id: "u1", query: "printer error firmware" });
        out.stdio_conversations = past.results.map((r) => [r.session_id, r.text]);
    });

await session(http(acmeKey), async (client, call) => {
    out.http_tools = (await client.listTools()).tools.map((t) => t.name).sort();
    out.acme_remember = trim(await call("remember", { namespace: ["users", "u1"], key: "pet", text: "has a cat named Miso" }));
    out.acme_recall = (await call("recall_memories", { query: "cat", namespace_prefix: ["users"] })).memories.map(trim);
});
await session(http(globexKey), async (client, call) => {
    out.globex_recall = (await call("recall_memories", { query: "cat" })).memories;
    out.globex_forget = await call("forget", { namespace: ["users", "u1"], key: "pet" });
});
await session(http(acmeKey), async (client, call) => {
    out.acme_after = (await call("recall_memories", { namespace_prefix: ["users", "u1"] })).memories.map(trim);
});
try {
    await session(http("wrong-key-0123456789"), async () => {});
    out.wrong_key = "accepted";
} catch (e) {
    out.wrong_key = e.code ?? String(e);
}
console.log(JSON.stringify(out));
"#;

/// The folder whose `node_modules` holds the locked clients.
fn clients_folder() -> PathBuf {
    common::test_dependency("node-clients.sh", "AGENT_MEMORY_TEST_NODE_CLIENTS")
}

/// Runs `script` as an ES module from the clients' folder (so its imports resolve there)
/// with `args`; returns its JSON observations.
fn run_node(script: &str, args: &[&str]) -> Value {
    let output = Command::new("node")
        .current_dir(clients_folder())
        .args(["--input-type=module", "-e", script])
        .args(args)
        .env_remove("LANGGRAPH_API_KEY")
        .env_remove("LANGSMITH_API_KEY")
        .env_remove("LANGCHAIN_API_KEY")
        .output()
        .expect("run node");
    assert!(output.status.success(), "the client script failed:\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: not JSON:\n{}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn the_langgraph_javascript_sdk_works_unchanged() {
    let workdir = tempfile::tempdir().expect("temp dir");
    let (mut server, url) = common::start_server(workdir.path(), &format!("acme:{ACME_KEY},globex:{GLOBEX_KEY}"));
    let observed = run_node(LANGGRAPH_SCRIPT, &[&url, ACME_KEY, GLOBEX_KEY]);
    assert_eq!(server.terminate().code(), Some(0), "the server shuts down cleanly");
    let food = json!({"namespace": ["users", "u1", "prefs"], "key": "food",
                      "value": {"text": "likes spicy ramen in winter", "level": 3}});
    let expected = json!({
        "get": food,
        "get_times": [true, true],
        "get_refresh_expires": true,
        "get_missing": null,
        "search_query": [["food", "users.u1.prefs", true]],
        "search_filter": ["food@users.u1.prefs", "food@users.u2.prefs"],
        "search_paged": 2,
        "search_unindexed": [],
        "list_unindexed": ["pin"],
        "namespaces": [["users", "u1", "facts"], ["users", "u1", "prefs"], ["users", "u2", "prefs"], ["vault"]],
        "namespaces_depth": [["users", "u1"], ["users", "u2"]],
        "namespaces_suffix": [["users", "u1", "prefs"], ["users", "u2", "prefs"]],
        "globex_get": null,
        "globex_search": [],
        "globex_namespaces": [],
        "after_globex_delete": food,
        "after_delete": null,
        "bad_ttl": [400, "invalid_ttl"],
        "bad_value": [400, "invalid_value"],
        "wrong_key": [401, "unauthorized"],
    });
    assert_eq!(observed, expected);
}

#[test]
fn the_typescript_mcp_sdk_works_over_stdio_and_http() {
    let workdir = tempfile::tempdir().expect("temp dir");
    let (mut server, url) = common::start_server(workdir.path(), &format!("acme:{ACME_KEY},globex:{GLOBEX_KEY}"));
    let binary = PathBuf::from(assert_cmd::cargo::cargo_bin!("agent-memory"));
    let endpoint = format!("{url}/mcp");
    let args = [binary.to_str().expect("utf-8 path"), workdir.path().to_str().expect("utf-8"), &endpoint];
    let observed = run_node(MCP_SCRIPT, &[args[0], args[1], args[2], ACME_KEY, GLOBEX_KEY]);
    server.terminate();
    let tools = json!(["forget", "index_conversation", "recall_memories", "remember", "search_past_conversations"]);
    let drink =
        json!({"namespace": ["u1", "memories"], "key": "drink", "value": {"text": "prefers green tea in the morning"}});
    let pet = json!({"namespace": ["users", "u1"], "key": "pet", "value": {"text": "has a cat named Miso"}});
    let expected = json!({
        "stdio_server": "rmcp",
        "stdio_tools": tools,
        "stdio_remember": drink,
        "stdio_recall": [drink],
        "stdio_forget": {"deleted": 1},
        "stdio_after_forget": ["editor"],
        "stdio_bad_input": ["error", "invalid_request: give exactly one of `text` and `value`"],
        "stdio_indexed": ["u1", "s1", 1],
        "stdio_conversations": [["s1", "Human: My printer shows error E42\nAssistant: Roll back the firmware."]],
        "http_tools": tools,
        "acme_remember": pet,
        "acme_recall": [pet],
        "globex_recall": [],
        "globex_forget": {"deleted": 0},
        "acme_after": [pet],
        "wrong_key": 401,
    });
    assert_eq!(observed, expected);
    assert!(workdir.path().join("mcp.db").is_file(), "the stdio server's memories are in the named SQLite file");
}
