//! The official Python MCP client (`mcp` on PyPI) against `agent-memory mcp` (stdio) and
//! the `/mcp` endpoint of `agent-memory serve` (streamable HTTP, two tenants).
//!
//! The client lives in a virtual environment set up by `scripts/deps/mcp-client.sh`
//! (`AGENT_MEMORY_TEST_MCP_PYTHON` names its python; when unset, this test runs the script
//! itself, which does nothing when the environment is already there). Without it the
//! tests fail.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

mod common;

const ACME_KEY: &str = "acme-secret-0123456789";
const GLOBEX_KEY: &str = "globex-secret-0123456789";

/// Shared helpers: `call` returns the structured result, or `["error", text]` for a tool
/// error. Every observation goes into one JSON object printed on stdout.
const PRELUDE: &str = r#"
import asyncio, json, sys
from mcp import ClientSession

async def call(session, tool, **arguments):
    result = await session.call_tool(tool, arguments)
    if result.isError:
        return ["error", result.content[0].text]
    return result.structuredContent

def trim(item):
    return {k: item[k] for k in ("namespace", "key", "value")}
"#;

/// Over stdio: list the tools, remember, recall, forget, recall again; a memory remembered
/// with `index=False` is listed but not found by a query.
const STDIO_SCRIPT: &str = r#"
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client

async def main():
    binary, workdir = sys.argv[1:3]
    params = StdioServerParameters(command=binary, args=["mcp", "--database-url", "sqlite:mcp.db", "--tenant", "acme"], cwd=workdir)
    out = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            info = await session.initialize()
            out["server"] = info.serverInfo.name
            tools = (await session.list_tools()).tools
            out["tools"] = sorted(t.name for t in tools)
            out["remember_required"] = next(t for t in tools if t.name == "remember").inputSchema.get("required", [])
            stored = await call(session, "remember", user_id="u1", key="drink", text="prefers green tea in the morning")
            out["remember"] = trim(stored)
            await call(session, "remember", user_id="u1", key="editor", value={"text": "uses Helix", "kind": "tool"})
            auto = await call(session, "remember", namespace=["notes"], text="the deploy runs on Fridays")
            out["auto_key_len"] = len(auto["key"])
            found = await call(session, "recall_memories", query="green tea", user_id="u1", limit=1)
            out["recall"] = [trim(m) for m in found["memories"]]
            out["recall_scored"] = all(m["score"] > 0 for m in found["memories"])
            found = await call(session, "recall_memories", filter={"kind": "tool"})
            out["recall_filter"] = [m["key"] for m in found["memories"]]
            out["forget"] = await call(session, "forget", user_id="u1", key="drink")
            found = await call(session, "recall_memories", user_id="u1", limit=10)
            out["after_forget"] = [m["key"] for m in found["memories"]]
            out["forget_namespace"] = await call(session, "forget", namespace=["notes"])
            out["bad_input"] = await call(session, "remember", namespace=["x"], key="k")
            await call(session, "remember", namespace=["vault"], key="pin", text="the safe code is 4711", index=False)
            found = await call(session, "recall_memories", query="safe code", namespace_prefix=["vault"])
            out["unindexed_by_query"] = found["memories"]
            found = await call(session, "recall_memories", namespace_prefix=["vault"])
            out["unindexed_listed"] = [m["key"] for m in found["memories"]]
            out["bad_index"] = await call(session, "remember", namespace=["vault"], key="k", text="x", index=["a..b"])
            messages = [{"role": "user", "content": "My printer shows error E42"},
                        {"role": "assistant", "content": "Roll back the firmware."}]
            indexed = await call(session, "index_conversation", user_id="u1", session_id="s1", messages=messages,
                                 metadata={"topic": "printer", "date": "2025-01-15"})
            out["indexed"] = [indexed["user_id"], indexed["session_id"], len(indexed["chunk_ids"])]
            found = await call(session, "search_past_conversations", user_id="u1", query="printer error firmware")
            out["conversations"] = [[r["user_id"], r["session_id"], r["context"]] for r in found["results"]]
            found = await call(session, "search_past_conversations", user_id="u1", query="printer", date_from="2025-02-01")
            out["conversations_later"] = found["results"]
            out["conversation_bad_input"] = await call(session, "search_past_conversations", user_id="u1", query=" ")
    print(json.dumps(out))

asyncio.run(main())
"#;

/// Over streamable HTTP: tenant acme remembers, globex cannot see or delete it.
const HTTP_SCRIPT: &str = r#"
from mcp.client.streamable_http import streamablehttp_client

async def with_session(url, key, body):
    async with streamablehttp_client(url, headers={"Authorization": f"Bearer {key}"}) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await body(session)

async def main():
    url, acme_key, globex_key = sys.argv[1:4]
    out = {}

    async def acme_writes(session):
        out["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
        out["remember"] = trim(await call(session, "remember", namespace=["users", "u1"], key="pet", text="has a cat named Miso"))
        found = await call(session, "recall_memories", query="cat", namespace_prefix=["users"])
        out["acme_recall"] = [trim(m) for m in found["memories"]]
        messages = [{"role": "user", "content": "Our cat Miso needs a vet appointment"}]
        await call(session, "index_conversation", user_id="u1", session_id="s1", messages=messages)
        found = await call(session, "search_past_conversations", user_id="u1", query="vet appointment")
        out["acme_conversations"] = [[r["user_id"], r["session_id"], r["text"]] for r in found["results"]]
    await with_session(url, acme_key, acme_writes)

    async def globex_tries(session):
        out["globex_recall"] = (await call(session, "recall_memories", query="cat"))["memories"]
        out["globex_recall_prefix"] = (await call(session, "recall_memories", namespace_prefix=["users", "u1"]))["memories"]
        out["globex_forget"] = await call(session, "forget", namespace=["users", "u1"], key="pet")
        out["globex_forget_all"] = await call(session, "forget", namespace=["users"])
        out["globex_own"] = trim(await call(session, "remember", namespace=["users", "u1"], key="pet", text="has a dog"))
        found = await call(session, "search_past_conversations", user_id="u1", query="vet appointment cat")
        out["globex_conversations"] = found["results"]
        found = await call(session, "search_past_conversations", user_id="acme/u1", query="vet appointment cat")
        out["globex_conversations_prefixed"] = found["results"]
    await with_session(url, globex_key, globex_tries)

    async def acme_reads(session):
        found = await call(session, "recall_memories", namespace_prefix=["users", "u1"], limit=10)
        out["acme_after"] = [trim(m) for m in found["memories"]]
        found = await call(session, "search_past_conversations", user_id="u1", query="vet")
        out["acme_conversations_after"] = len(found["results"])
    await with_session(url, acme_key, acme_reads)

    import httpx
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=60) as http:
        wrong = await http.post(url, json=initialize, headers={**headers, "Authorization": "Bearer wrong-key-0123456789"})
        missing = await http.post(url, json=initialize, headers=headers)
    out["wrong_key"] = [wrong.status_code, wrong.json()["code"]]
    out["missing_key"] = missing.status_code
    print(json.dumps(out))

asyncio.run(main())
"#;

/// The python of the MCP client's virtual environment.
fn client_python() -> PathBuf {
    common::test_dependency("mcp-client.sh", "AGENT_MEMORY_TEST_MCP_PYTHON")
}

fn binary() -> PathBuf {
    PathBuf::from(assert_cmd::cargo::cargo_bin!("agent-memory"))
}

/// Runs `script` (after [`PRELUDE`]) with `args`; returns its JSON observations.
fn run_client(script: &str, args: &[&str]) -> Value {
    let output = Command::new(client_python())
        .arg("-c")
        .arg(format!("{PRELUDE}{script}"))
        .args(args)
        .output()
        .expect("run the MCP client script");
    assert!(output.status.success(), "the MCP client script failed:\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON observations")
}

#[test]
fn the_python_client_remembers_recalls_and_forgets_over_stdio() {
    let workdir = tempfile::tempdir().expect("temp dir");
    let binary = binary();
    let observed =
        run_client(STDIO_SCRIPT, &[binary.to_str().expect("utf-8 path"), workdir.path().to_str().expect("utf-8")]);
    let expected = json!({
        "server": "rmcp",
        "tools": ["forget", "index_conversation", "recall_memories", "remember", "search_past_conversations"],
        "remember_required": [],
        "remember": {"namespace": ["u1", "memories"], "key": "drink", "value": {"text": "prefers green tea in the morning"}},
        "auto_key_len": 16,
        "recall": [{"namespace": ["u1", "memories"], "key": "drink", "value": {"text": "prefers green tea in the morning"}}],
        "recall_scored": true,
        "recall_filter": ["editor"],
        "forget": {"deleted": 1},
        "after_forget": ["editor"],
        "forget_namespace": {"deleted": 1},
        "bad_input": ["error", "invalid_request: give exactly one of `text` and `value`"],
        "unindexed_by_query": [],
        "unindexed_listed": ["pin"],
        "bad_index": ["error", "invalid_index: invalid index: index path \"a..b\" is not a valid path (dot-separated, non-empty names)"],
        "indexed": ["u1", "s1", 1],
        "conversations": [["u1", "s1", "[Topic: printer, Date: 2025-01-15]\n\nHuman: My printer shows error E42\nAssistant: Roll back the firmware."]],
        "conversations_later": [],
        "conversation_bad_input": ["error", "invalid_request: the search query must not be blank"],
    });
    assert_eq!(observed, expected);
    assert!(workdir.path().join("mcp.db").is_file(), "the memories are in the named SQLite file");
}

#[test]
fn the_python_client_works_over_http_and_tenants_stay_apart() {
    let workdir = tempfile::tempdir().expect("temp dir");
    let (mut server, url) = common::start_server(workdir.path(), &format!("acme:{ACME_KEY},globex:{GLOBEX_KEY}"));
    let endpoint = format!("{url}/mcp");
    let observed = run_client(HTTP_SCRIPT, &[&endpoint, ACME_KEY, GLOBEX_KEY]);
    server.terminate();
    let pet = |text: &str| json!({"namespace": ["users", "u1"], "key": "pet", "value": {"text": text}});
    let expected = json!({
        "tools": ["forget", "index_conversation", "recall_memories", "remember", "search_past_conversations"],
        "remember": pet("has a cat named Miso"),
        "acme_conversations": [["u1", "s1", "Human: Our cat Miso needs a vet appointment"]],
        "globex_conversations": [],
        "globex_conversations_prefixed": [],
        "acme_conversations_after": 1,
        "acme_recall": [pet("has a cat named Miso")],
        "globex_recall": [],
        "globex_recall_prefix": [],
        "globex_forget": {"deleted": 0},
        "globex_forget_all": {"deleted": 0},
        "globex_own": pet("has a dog"),
        "acme_after": [pet("has a cat named Miso")],
        "wrong_key": [401, "unauthorized"],
        "missing_key": 401,
    });
    assert_eq!(observed, expected);
}
