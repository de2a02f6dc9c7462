//! `agent-memory context trim` and `agent-memory context fit`.

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::{Value, json};

/// Runs the program with `args` and `stdin`; returns (exit code, stdout, stderr).
fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let output = cargo_bin_cmd!("agent-memory").args(args).write_stdin(stdin).output().expect("the program runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8 output");
    (output.status.code().expect("an exit code"), text(output.stdout), text(output.stderr))
}

/// Runs a command that must succeed and returns its JSON output.
fn run_json(args: &[&str], stdin: &Value) -> Value {
    let (code, stdout, stderr) = run(args, &stdin.to_string());
    assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
    serde_json::from_str(&stdout).expect("JSON output")
}

fn conversation() -> Value {
    json!([
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "What is the weather in Paris?", "id": "u1", "metadata": {"turn": 1}},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
        ]},
        {"role": "tool", "content": "Sunny, 24 degrees.", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "It is sunny and 24 degrees in Paris."}
    ])
}

#[test]
fn trim_last_keeps_tool_calls_with_their_results() {
    let input = conversation();
    let output = run_json(&["context", "trim", "--strategy", "last", "--max-messages", "2"], &input);
    assert_eq!(output, json!([input[0], input[4]]));
    let output = run_json(&["context", "trim", "--strategy", "last", "--max-messages", "3", "-"], &input);
    assert_eq!(output, json!([input[0], input[2], input[3], input[4]]));
}

#[test]
fn trim_start_on_user_drops_a_leading_answer() {
    let input = conversation();
    let args = ["context", "trim", "--strategy", "last", "--max-messages", "3", "--start-on", "user"];
    // The last 3 messages open with the tool call: no user turn among them, only the system message stays.
    assert_eq!(run_json(&args, &input), json!([input[0]]));
    let args = ["context", "trim", "--strategy", "last", "--max-messages", "4", "--start-on", "human"];
    assert_eq!(run_json(&args, &input), input);
}

#[test]
fn trim_first_keeps_ids_and_metadata() {
    let input = conversation();
    let output = run_json(&["context", "trim", "--strategy", "first", "--max-messages", "1"], &input);
    assert_eq!(output, json!([input[0], input[1]]));
}

#[test]
fn trim_token_with_a_model() {
    let input = json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello, world!"},
        {"role": "user", "content": "Hello, world!"}
    ]);
    // o200k: system 3+1+3 = 7, each user 3+1+4 = 8, reply priming 3.
    let args = ["context", "trim", "--strategy", "token", "--max-tokens", "25", "--model", "gpt-4o"];
    assert_eq!(run_json(&args, &input), json!([input[0], input[2]]));
    let args = ["context", "trim", "--strategy", "token", "--max-tokens", "26", "--model", "gpt-4o"];
    assert_eq!(run_json(&args, &input), input);
    let args =
        ["context", "trim", "--strategy", "token", "--max-tokens", "16", "--model", "gpt-4o", "--no-preserve-system"];
    assert_eq!(run_json(&args, &input), json!([input[2]]));
}

#[test]
fn fit_prints_the_result_object() {
    let input = conversation();
    let output = run_json(&["context", "fit", "--max-tokens", "4000", "--model", "gpt-4o"], &input);
    assert_eq!(output["messages"], input);
    assert_eq!(output["action"], "none");
    assert_eq!(output["exact"], false, "tool calls make the count an estimate");
    assert_eq!((output["original_count"].clone(), output["final_count"].clone()), (json!(5), json!(5)));

    // Approximate counts: system 10, user 12, call 11, result 10, answer 13.
    let output = run_json(&["context", "fit", "--max-tokens", "43"], &input);
    assert_eq!(
        output,
        json!({
            "messages": [input[0], input[4]],
            "action": "trimmed",
            "tokens": 23,
            "exact": false,
            "summary": null,
            "original_count": 5,
            "final_count": 2,
            "summarized_count": 0
        })
    );
}

#[test]
fn fit_counts_exactly_with_an_openai_model() {
    let input = json!([{"role": "user", "content": "Hello, world!"}]);
    let output = run_json(&["context", "fit", "--max-tokens", "100", "--model", "gpt-4o"], &input);
    assert_eq!((output["tokens"].clone(), output["exact"].clone()), (json!(11), json!(true)));
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let input = conversation().to_string();
    let cases: &[(&[&str], &str, &str)] = &[
        (&["context", "trim", "--strategy", "last"], &input, "error: max_messages is required for strategy last\n"),
        (&["context", "trim", "--strategy", "token"], &input, "error: max_tokens is required for strategy token\n"),
        (
            &["context", "trim", "--strategy", "middle"],
            &input,
            "error: invalid value 'middle' for '--strategy <STRATEGY>': unknown strategy \"middle\": use last, first or token\n",
        ),
        (
            &["context", "trim", "--strategy", "token", "--max-tokens", "5"],
            &input,
            "error: the system messages alone need 10 tokens, over the budget of 5: raise max_tokens or shorten the system prompt\n",
        ),
        (
            &["context", "fit", "--max-tokens", "5"],
            &input,
            "error: the system messages and the summary alone need 10 tokens, over the budget of 5: raise max_tokens or shorten them\n",
        ),
        (
            &["context", "fit", "--max-tokens", "100"],
            r#"{"role":"user"}"#,
            "error: invalid messages: expected a JSON array of messages, got an object\n",
        ),
        (
            &["context", "fit"],
            &input,
            "error: the following required arguments were not provided: --max-tokens <MAX_TOKENS>\n",
        ),
    ];
    for (args, stdin, expected) in cases {
        let (code, stdout, stderr) = run(args, stdin);
        assert_eq!((code, stdout.as_str(), stderr.as_str()), (2, "", *expected), "{args:?}");
    }
    let (code, _, stderr) = run(&["context", "fit", "--max-tokens", "100"], "[{");
    assert_eq!(code, 2);
    assert!(stderr.starts_with("error: invalid messages: malformed JSON: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
}
