//! `agent-memory tokens count`.

use std::io::Write;

use assert_cmd::cargo::cargo_bin_cmd;

/// Runs the program with `args` and `stdin`; returns (exit code, stdout, stderr).
fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let output = cargo_bin_cmd!("agent-memory").args(args).write_stdin(stdin).output().expect("the program runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8 output");
    (output.status.code().expect("an exit code"), text(output.stdout), text(output.stderr))
}

const CHAT: &str = r#"[{"role":"user","content":"Hello, world!"}]"#;

#[test]
fn a_message_array_is_counted_as_a_chat() {
    // 3 + 1 ("user") + 4 ("Hello, world!") + 3 (reply priming).
    assert_eq!(run(&["tokens", "count", "--model", "gpt-4o"], CHAT), (0, "11\n".into(), String::new()));
    assert_eq!(run(&["tokens", "count", "--model", "gpt-4", "-"], CHAT), (0, "11\n".into(), String::new()));
    assert_eq!(run(&["tokens", "count", "--model", "gpt-4o"], "[]"), (0, "0\n".into(), String::new()));
}

#[test]
fn anything_else_is_plain_text() {
    assert_eq!(run(&["tokens", "count", "--model", "gpt-4o"], "tiktoken is great!"), (0, "6\n".into(), String::new()));
    // A JSON array that is not messages is text: "[1, 2]" is 6 characters, 2 approximate tokens.
    let (code, stdout, _) = run(&["tokens", "count"], "[1, 2]");
    assert_eq!((code, stdout.as_str()), (0, "2\n"));
}

#[test]
fn a_file_is_read() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(CHAT.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap();
    assert_eq!(run(&["tokens", "count", "--model", "gpt-4o-mini", path], ""), (0, "11\n".into(), String::new()));
}

#[test]
fn approximate_counts_say_so_on_stderr() {
    assert_eq!(
        run(&["tokens", "count"], CHAT),
        (0, "8\n".into(), "note: approximate count (no --model given)\n".into())
    );
    assert_eq!(
        run(&["tokens", "count", "--model", "claude-sonnet-4-5"], CHAT),
        (0, "8\n".into(), "note: approximate count (no tokenizer for model \"claude-sonnet-4-5\" here)\n".into())
    );
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let (code, stdout, stderr) = run(&["tokens", "count"], r#"[{"role":"robot","content":"x"}]"#);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert_eq!(
        stderr,
        "error: invalid messages: message 0: unknown role \"robot\" (expected system, developer, user, assistant or tool, or a LangChain name such as human, ai, HumanMessage)\n"
    );
    let (code, _, stderr) = run(&["tokens", "count", "/nonexistent/messages.json"], "");
    assert_eq!(
        (code, stderr.as_str()),
        (2, "error: cannot read /nonexistent/messages.json: no such file or directory (os error 2)\n")
    );
    let (code, _, stderr) = run(&["tokens", "count", "--bogus"], "");
    assert_eq!((code, stderr.as_str()), (2, "error: unexpected argument '--bogus' found\n"));
}
