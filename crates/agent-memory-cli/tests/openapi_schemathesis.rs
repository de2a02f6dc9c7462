//! schemathesis (PyPI), a property-based API tester, against a running `agent-memory serve`:
//! it reads the server's own `/openapi.json` and sends every operation generated requests,
//! valid and invalid ones, then checks that
//! * no request gets a 5xx (every bad input is a 4xx);
//! * every status sent is one the document lists for that operation, with its content type
//!   and a body that matches its schema;
//! * requests that break the schema are refused, and keyed operations refuse requests
//!   without the key.
//!
//! `/context/summarize` is left out: without a chat model it answers 503
//! `chat_model_required` by design (its own tests cover it). A fixed seed makes the run
//! repeatable. schemathesis is installed by `scripts/deps/schemathesis.sh`
//! (`AGENT_MEMORY_TEST_SCHEMATHESIS` names it; when unset, this test runs the script,
//! which does nothing when it is already there); without it the test fails.

use std::path::PathBuf;
use std::process::Command;

mod common;

const KEY: &str = "acme-secret-0123456789";

/// The checks run (schemathesis's names). Left out: `positive_data_acceptance`, since the
/// document cannot state every rule (a count needs `messages` or `text`, a message a
/// `role`), and `use_after_free`, since a deleted chat session reads back empty by design.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_schema_conformance,negative_data_rejection,ignored_auth,missing_required_header,unsupported_method";

fn schemathesis() -> PathBuf {
    common::test_dependency("schemathesis.sh", "AGENT_MEMORY_TEST_SCHEMATHESIS")
}

#[test]
fn generated_requests_get_documented_answers_and_never_a_5xx() {
    let workdir = tempfile::tempdir().expect("temp dir");
    let (mut server, url) = common::start_server(workdir.path(), &format!("acme:{KEY}"));
    let output = Command::new(schemathesis())
        .current_dir(workdir.path())
        .args(["run", &format!("{url}/openapi.json"), "-H", &format!("Authorization: Bearer {KEY}")])
        .args(["--checks", CHECKS])
        .args(["--exclude-path", "/context/summarize"])
        .args(["--max-examples", "25", "--seed", "1", "--workers", "1"])
        .args(["--generation-database", "none", "--no-color"])
        .output()
        .expect("run schemathesis");
    assert_eq!(server.terminate().code(), Some(0), "the server shuts down cleanly");
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
