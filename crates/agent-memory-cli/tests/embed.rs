//! `agent-memory embed` end to end: the real binary, real input and output.

#![allow(clippy::unwrap_used)]

use agent_memory::embed::HashEmbedder;
use assert_cmd::Command;

fn agent_memory() -> Command {
    let mut command = Command::cargo_bin("agent-memory").unwrap();
    command.env_remove("AGENT_MEMORY_EMBEDDER");
    command
}

fn vectors(stdout: &[u8]) -> Vec<Vec<f32>> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Vec<f32>>(line).unwrap())
        .collect()
}

#[test]
fn one_json_vector_per_input_line() {
    let output = agent_memory()
        .args(["embed", "--embedder", "hash:8"])
        .write_stdin("the cat sat\n\nthe cat sat\nquarterly revenue\n")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let hash = HashEmbedder::new(8);
    let expected: Vec<Vec<f32>> =
        ["the cat sat", "", "the cat sat", "quarterly revenue"].iter().map(|t| hash.embed_text(t)).collect();
    assert_eq!(vectors(&output), expected);
}

#[test]
fn reads_a_file_or_dash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("texts.txt");
    std::fs::write(&file, "alpha beta\ngamma").unwrap();
    let from_file = agent_memory().args(["embed", "--embedder", "hash:4"]).arg(&file).assert().success();
    let from_dash =
        agent_memory().args(["embed", "--embedder", "hash:4", "-"]).write_stdin("alpha beta\ngamma").assert().success();
    let hash = HashEmbedder::new(4);
    let expected = vec![hash.embed_text("alpha beta"), hash.embed_text("gamma")];
    assert_eq!(vectors(&from_file.get_output().stdout), expected);
    assert_eq!(vectors(&from_dash.get_output().stdout), expected);
}

#[test]
fn bad_embedders_and_missing_files_exit_with_2() {
    let assert = agent_memory().args(["embed", "--embedder", "word2vec"]).write_stdin("x\n").assert().code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.starts_with("agent-memory embed: embedder configuration: unknown embedding provider `word2vec`; known providers: openai,"),
        "{stderr}"
    );
    let assert = agent_memory()
        .args(["embed", "--embedder", "openai"])
        .env_remove("OPENAI_API_KEY")
        .write_stdin("x\n")
        .assert()
        .code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(
        stderr,
        "agent-memory embed: embedder configuration: openai: no API key; set OPENAI_API_KEY or pass one in the options\n"
    );
    agent_memory().args(["embed", "--embedder", "hash:4", "/nonexistent/texts.txt"]).assert().code(2);
}

#[test]
fn provider_failures_exit_with_1() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let assert = agent_memory()
        .args(["embed", "--embedder", "openai-compatible:bge", "--base-url", &url])
        .write_stdin("x\n")
        .assert()
        .code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains(&format!("openai-compatible: cannot connect to {url}/embeddings")), "{stderr}");
}

#[test]
fn list_shows_every_embedder_and_the_default() {
    let assert = agent_memory()
        .args(["embed", "--list"])
        .env("AGENT_MEMORY_EMBEDDER", "ollama:all-minilm")
        .env("OPENAI_API_KEY", "sk-test")
        .env_remove("VOYAGE_API_KEY")
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 11, "{stdout}");
    assert!(lines[0].starts_with("EMBEDDER"));
    assert!(lines[1].starts_with("openai ") && lines[1].ends_with("OPENAI_API_KEY (set)"), "{}", lines[1]);
    assert!(lines[2].starts_with("voyage ") && lines[2].ends_with("VOYAGE_API_KEY (not set)"), "{}", lines[2]);
    assert_eq!(lines[10], "default: ollama:all-minilm (AGENT_MEMORY_EMBEDDER is set)");

    let assert = agent_memory().args(["embed", "--list"]).env("OPENAI_API_KEY", "sk-test").assert().success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(
        stdout.lines().last().unwrap(),
        "default: builtin (nothing configured; set AGENT_MEMORY_EMBEDDER or pass --embedder)",
        "an API key alone never sends texts to a hosted provider"
    );
}

#[cfg(feature = "local-embeddings")]
#[test]
fn local_minilm_through_the_command_line() {
    use std::path::Path;

    use serde_json::Value;

    let model = match std::env::var_os("AGENT_MEMORY_TEST_MINILM") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => agent_memory::embed::local::resolve_model_dir("all-MiniLM-L6-v2").unwrap_or_else(|e| {
            panic!("the MiniLM test model is missing ({e}); run `eval \"$(scripts/deps/minilm.sh)\"` first")
        }),
    };
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent-memory/tests/fixtures/minilm_reference.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let case = &fixture["cases"][0];
    let spec = format!("huggingface:{}", model.to_str().unwrap());
    let assert = agent_memory()
        .args(["embed", "--embedder", &spec])
        .write_stdin(format!("{}\n", case["text"].as_str().unwrap()))
        .assert()
        .success();
    let got = vectors(&assert.get_output().stdout);
    let expected: Vec<f32> = case["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    assert_eq!(got.len(), 1);
    let diff = got[0].iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff <= 1e-4, "max abs difference {diff}");
}

#[test]
fn without_configuration_the_builtin_model_is_used() {
    let mut command = agent_memory();
    for var in [
        "OPENAI_API_KEY",
        "VOYAGE_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GENAI_API_KEY",
        "COHERE_API_KEY",
        "CO_API_KEY",
    ] {
        command.env_remove(var);
    }
    let assert = command.arg("embed").write_stdin("The cat sits on the mat.\n").assert().success();
    let expected = agent_memory::embed::BuiltinEmbedder::new().embed_text("The cat sits on the mat.");
    assert_eq!(vectors(&assert.get_output().stdout), vec![expected]);
}
