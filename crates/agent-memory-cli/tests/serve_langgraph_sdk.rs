//! The official LangGraph Python SDK (`langgraph-sdk` on PyPI), unchanged, against
//! `agent-memory serve`: `client.store.put_item / get_item / delete_item / search_items /
//! list_namespaces`, sync and async clients, two tenants.
//!
//! The SDK lives in a virtual environment set up by `scripts/deps/langgraph-sdk.sh`
//! (`AGENT_MEMORY_TEST_LANGGRAPH_PYTHON` names its python; when unset, this test runs the
//! script itself, which does nothing when the environment is already there).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

mod common;

const ACME_KEY: &str = "acme-secret-0123456789";
const GLOBEX_KEY: &str = "globex-secret-0123456789";

/// The client script: every observation goes into one JSON object on stdout.
const SCRIPT: &str = r#"
import asyncio, json, sys
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import AuthenticationError, BadRequestError

url, acme_key, globex_key = sys.argv[1:4]
acme = get_sync_client(url=url, api_key=acme_key)
globex = get_sync_client(url=url, api_key=globex_key)
out = {}

acme.store.put_item(["users", "u1", "prefs"], key="language", value={"preference": "Python", "level": 3})
acme.store.put_item(["users", "u1", "facts"], key="editor", value={"text": "uses VS Code with Vim keys", "level": 1})
acme.store.put_item(["users", "u2", "prefs"], key="language", value={"preference": "Rust", "level": 5}, ttl=60)

item = acme.store.get_item(["users", "u1", "prefs"], key="language")
out["get"] = {k: item[k] for k in ("namespace", "key", "value")}
out["get_has_times"] = all(isinstance(item[k], str) and item[k].endswith("+00:00") for k in ("created_at", "updated_at"))
out["get_refresh"] = acme.store.get_item(["users", "u2", "prefs"], key="language", refresh_ttl=True)["value"]

found = acme.store.search_items(["users"], filter={"level": {"$gte": 3}}, limit=10)
out["search_filter"] = sorted(i["key"] + "@" + ".".join(i["namespace"]) for i in found["items"])
found = acme.store.search_items(["users"], query="vim keys", limit=1)
out["search_query"] = [(i["key"], i["score"] > 0) for i in found["items"]]
out["search_paged"] = len(acme.store.search_items([], limit=2, offset=1)["items"])

# index=False: stored, found by get and by filters, never by a query (hybrid here).
acme.store.put_item(["notes"], key="hidden", value={"text": "alpine ski trip", "kind": "note"}, index=False)
acme.store.put_item(["notes"], key="shown", value={"text": "alpine lake", "kind": "note"}, index=["text"])
found = acme.store.search_items(["notes"], query="alpine ski trip", limit=10)
out["index_false_query"] = [i["key"] for i in found["items"]]
out["index_false_filter"] = sorted(i["key"] for i in acme.store.search_items(["notes"], filter={"kind": "note"})["items"])
out["index_false_get"] = acme.store.get_item(["notes"], key="hidden")["value"]
acme.store.delete_item(["notes"], key="hidden")
acme.store.delete_item(["notes"], key="shown")

out["namespaces"] = acme.store.list_namespaces()["namespaces"]
out["namespaces_depth"] = acme.store.list_namespaces(prefix=["users"], max_depth=2)["namespaces"]
out["namespaces_suffix"] = acme.store.list_namespaces(suffix=["prefs"])["namespaces"]

# The other tenant sees nothing of acme's and cannot delete it.
out["globex_search"] = globex.store.search_items([])["items"]
out["globex_namespaces"] = globex.store.list_namespaces()["namespaces"]
out["globex_get"] = globex.store.get_item(["users", "u1", "prefs"], key="language")
globex.store.delete_item(["users", "u1", "prefs"], key="language")
out["after_globex_delete"] = acme.store.get_item(["users", "u1", "prefs"], key="language")["value"]

acme.store.delete_item(["users", "u1", "prefs"], key="language")
# As from the LangGraph server: a missing item is None, not an exception.
out["after_delete"] = acme.store.get_item(["users", "u1", "prefs"], key="language")
out["never_stored"] = acme.store.get_item(["nowhere"], key="nothing")

try:
    acme.store.put_item(["users"], key="bad", value={"x": 1}, ttl=-5)
    out["bad_ttl"] = "accepted"
except BadRequestError as e:
    out["bad_ttl"] = [e.status_code, e.code]

try:
    get_sync_client(url=url, api_key="wrong-key-0123456789").store.list_namespaces()
    out["wrong_key"] = "accepted"
except AuthenticationError as e:
    out["wrong_key"] = [e.status_code, e.code]

async def async_round_trip():
    client = get_client(url=url, api_key=acme_key)
    await client.store.put_item(["async"], key="k", value={"v": "async"})
    item = await client.store.get_item(["async"], key="k")
    await client.store.delete_item(["async"], key="k")
    return item["value"]

out["async"] = asyncio.run(async_round_trip())
print(json.dumps(out))
"#;

/// The python of the SDK's virtual environment.
fn sdk_python() -> PathBuf {
    common::test_dependency("langgraph-sdk.sh", "AGENT_MEMORY_TEST_LANGGRAPH_PYTHON")
}

#[test]
fn the_official_langgraph_sdk_works_unchanged() {
    let python = sdk_python();
    let workdir = tempfile::tempdir().expect("temp dir");
    let (mut server, url) = common::start_server(workdir.path(), &format!("acme:{ACME_KEY},globex:{GLOBEX_KEY}"));
    let output = Command::new(&python)
        .args(["-c", SCRIPT, &url, ACME_KEY, GLOBEX_KEY])
        .env_remove("LANGGRAPH_API_KEY")
        .env_remove("LANGSMITH_API_KEY")
        .env_remove("LANGCHAIN_API_KEY")
        .output()
        .expect("run the SDK script");
    let exit = server.terminate();
    assert!(output.status.success(), "the SDK script failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let observed: Value = serde_json::from_slice(&output.stdout).expect("JSON observations");
    let expected = json!({
        "get": {"namespace": ["users", "u1", "prefs"], "key": "language", "value": {"preference": "Python", "level": 3}},
        "get_has_times": true,
        "get_refresh": {"preference": "Rust", "level": 5},
        "search_filter": ["language@users.u1.prefs", "language@users.u2.prefs"],
        "search_query": [["editor", true]],
        "search_paged": 2,
        "index_false_query": ["shown"],
        "index_false_filter": ["hidden", "shown"],
        "index_false_get": {"text": "alpine ski trip", "kind": "note"},
        "namespaces": [["users", "u1", "facts"], ["users", "u1", "prefs"], ["users", "u2", "prefs"]],
        "namespaces_depth": [["users", "u1"], ["users", "u2"]],
        "namespaces_suffix": [["users", "u1", "prefs"], ["users", "u2", "prefs"]],
        "globex_search": [],
        "globex_namespaces": [],
        "globex_get": null,
        "after_globex_delete": {"preference": "Python", "level": 3},
        "after_delete": null,
        "never_stored": null,
        "bad_ttl": [400, "invalid_ttl"],
        "wrong_key": [401, "unauthorized"],
        "async": {"v": "async"},
    });
    assert_eq!(observed, expected);
    assert_eq!(exit.code(), Some(0), "the server shuts down cleanly");
    assert!(workdir.path().join("agent-memory.db").is_file(), "the default database is ./agent-memory.db");
}

/// `put_item(..., index=...)` decides what `search_items(query=...)` matches, shown on a
/// keyword-only server (`--embedder none`: a query ranks by words alone).
const INDEX_SCRIPT: &str = r#"
import json, sys
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import BadRequestError

url, key = sys.argv[1:3]
store = get_sync_client(url=url, api_key=key).store
value = {"title": "alpine hut", "body": "lake swim"}
store.put_item(["docs"], key="hidden", value=value, index=False)
store.put_item(["docs"], key="titled", value=value, index=["title"])
store.put_item(["docs"], key="whole", value=value)
out = {}
for query in ["alpine", "swim", "title", "body"]:
    out[query] = sorted(i["key"] for i in store.search_items(["docs"], query=query)["items"])
out["no_query"] = sorted(i["key"] for i in store.search_items(["docs"])["items"])
store.put_item(["docs"], key="hidden", value=value, index=["body"])
out["swim_after_reput"] = sorted(i["key"] for i in store.search_items(["docs"], query="swim")["items"])
try:
    store.put_item(["docs"], key="bad", value=value, index=["meta..title"])
    out["bad_index"] = "accepted"
except BadRequestError as e:
    out["bad_index"] = [e.status_code, e.code]
print(json.dumps(out))
"#;

#[test]
fn put_item_index_decides_what_search_items_finds() {
    let python = sdk_python();
    let workdir = tempfile::tempdir().expect("temp dir");
    let (mut server, url) =
        common::start_server_with(workdir.path(), &format!("acme:{ACME_KEY}"), &["--embedder", "none"]);
    let output = Command::new(&python)
        .args(["-c", INDEX_SCRIPT, &url, ACME_KEY])
        .env_remove("LANGGRAPH_API_KEY")
        .env_remove("LANGSMITH_API_KEY")
        .env_remove("LANGCHAIN_API_KEY")
        .output()
        .expect("run the SDK script");
    server.terminate();
    assert!(output.status.success(), "the SDK script failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let observed: Value = serde_json::from_slice(&output.stdout).expect("JSON observations");
    let expected = json!({
        "alpine": ["titled", "whole"],
        "swim": ["whole"],
        "title": ["titled", "whole"],
        "body": ["whole"],
        "no_query": ["hidden", "titled", "whole"],
        "swim_after_reput": ["hidden", "whole"],
        "bad_index": [400, "invalid_index"],
    });
    assert_eq!(observed, expected);
}
