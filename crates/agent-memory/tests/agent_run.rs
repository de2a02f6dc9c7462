//! The agent loop with a scripted model: sessions (the seed's Bob flow), tool calls,
//! tool failures, step limits and summarizing middleware. Each test asserts what the
//! model saw.

#![allow(clippy::unwrap_used)] // helpers of a test may panic: that is the test failing

use std::sync::Arc;

use agent_memory::agent::{Agent, AgentError, FunctionTool, Tool, ToolError};
use agent_memory::llm::{ChatResponse, FinishReason, ScriptedChat, ToolDefinition, Usage};
use agent_memory::message::{Message, ToolCall};
use agent_memory::session::{InMemorySessions, SessionStore};
use agent_memory::summarize::SummarizationMiddleware;
use serde_json::json;

fn scripted(replies: Vec<Message>) -> Arc<ScriptedChat> {
    Arc::new(ScriptedChat::new(replies))
}

fn failed_tool_result(id: &str, text: &str) -> Message {
    let mut message = Message::tool(id, text);
    message.extra.insert("is_error".into(), json!(true));
    message
}

/// The city whose weather to look up.
#[derive(schemars::JsonSchema, serde::Deserialize)]
struct WeatherInput {
    /// A city name, such as "Paris".
    city: String,
}

fn weather_tool() -> impl Tool {
    FunctionTool::new("get_weather", "Current weather in a city", |input: WeatherInput| async move {
        match input.city.as_str() {
            "Paris" => Ok("18°C, sunny".to_owned()),
            "Rome" => Ok("22°C, rain".to_owned()),
            other => Err(ToolError::failed(format!("no weather station in {other}"))),
        }
    })
}

#[tokio::test]
async fn the_seed_session_flow_remembers_within_a_session_only() {
    let model = scripted(vec![
        Message::assistant("Nice to meet you, Bob!"),
        Message::assistant("Your name is Bob."),
        Message::assistant("I don't know your name yet."),
    ]);
    let sessions = Arc::new(InMemorySessions::new());
    let agent = Agent::builder(model.clone()).system("You are helpful.").sessions(sessions.clone()).build().unwrap();

    let first = agent.run("Hi, I'm Bob", Some("thread_123")).await.unwrap();
    assert_eq!(first.reply, "Nice to meet you, Bob!");
    let same = agent.run("What's my name?", Some("thread_123")).await.unwrap();
    assert_eq!(same.reply, "Your name is Bob.");
    let other = agent.run("What's my name?", Some("thread_456")).await.unwrap();
    assert_eq!(other.reply, "I don't know your name yet.");

    let seen: Vec<Vec<Message>> = model.requests().into_iter().map(|request| request.messages).collect();
    assert_eq!(seen[0], vec![Message::system("You are helpful."), Message::user("Hi, I'm Bob")]);
    assert_eq!(
        seen[1],
        vec![
            Message::system("You are helpful."),
            Message::user("Hi, I'm Bob"),
            Message::assistant("Nice to meet you, Bob!"),
            Message::user("What's my name?"),
        ]
    );
    assert_eq!(seen[2], vec![Message::system("You are helpful."), Message::user("What's my name?")]);
    assert_eq!(same.messages, [seen[1].clone(), vec![Message::assistant("Your name is Bob.")]].concat());

    // The system prompt is not stored; each session holds its own turns.
    assert_eq!(
        sessions.load("thread_123").await.unwrap(),
        vec![
            Message::user("Hi, I'm Bob"),
            Message::assistant("Nice to meet you, Bob!"),
            Message::user("What's my name?"),
            Message::assistant("Your name is Bob."),
        ]
    );
    let listed: Vec<(String, usize)> =
        sessions.list().await.unwrap().into_iter().map(|info| (info.session_id, info.message_count)).collect();
    assert_eq!(listed, vec![("thread_123".to_owned(), 4), ("thread_456".to_owned(), 2)]);
}

#[tokio::test]
async fn without_a_session_id_nothing_is_remembered() {
    let model = scripted(vec![Message::assistant("Hi Bob!"), Message::assistant("I don't know.")]);
    let agent = Agent::builder(model.clone()).sessions(Arc::new(InMemorySessions::new())).build().unwrap();
    agent.run("Hi, I'm Bob", None).await.unwrap();
    agent.run("What's my name?", None).await.unwrap();
    assert_eq!(model.requests()[1].messages, vec![Message::user("What's my name?")]);
}

#[tokio::test]
async fn a_session_id_without_a_store_is_an_error() {
    let model = scripted(vec![]);
    let agent = Agent::builder(model.clone()).build().unwrap();
    let err = agent.run("hi", Some("thread_1")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "session_id \"thread_1\" was given but the agent has no session store; build it with \
         Agent::builder(model).sessions(Arc::new(InMemorySessions::new()))"
    );
    assert!(model.requests().is_empty());
}

#[tokio::test]
async fn several_tool_calls_in_one_turn_and_a_failing_tool() {
    let calls = vec![
        ToolCall::new("call_1", "get_weather", &json!({"city": "Paris"})),
        ToolCall::new("call_2", "get_weather", &json!({"city": "Rome"})),
        ToolCall::new("call_3", "get_weather", &json!({"city": "Atlantis"})),
    ];
    let usage = |input, output| Usage { input_tokens: input, output_tokens: output };
    let model = Arc::new(ScriptedChat::new([
        ChatResponse {
            message: Message::assistant_tool_calls(calls.clone()),
            usage: usage(50, 30),
            finish_reason: Some(FinishReason::ToolCalls),
        },
        ChatResponse {
            message: Message::assistant("Paris: sunny. Rome: rain. Atlantis: unknown."),
            usage: usage(120, 12),
            finish_reason: Some(FinishReason::Stop),
        },
    ]));
    let agent = Agent::builder(model.clone()).system("Use tools.").tool(weather_tool()).build().unwrap();
    let run = agent.run("Weather in Paris, Rome and Atlantis?", None).await.unwrap();

    assert_eq!(run.reply, "Paris: sunny. Rome: rain. Atlantis: unknown.");
    assert_eq!(run.steps, 2);
    assert_eq!(run.usage, usage(170, 42));
    let requests = model.requests();
    assert_eq!(
        requests[0].tools,
        vec![ToolDefinition {
            name: "get_weather".into(),
            description: "Current weather in a city".into(),
            parameters: json!({
                "title": "WeatherInput",
                "description": "The city whose weather to look up.",
                "type": "object",
                "properties": {"city": {"type": "string", "description": "A city name, such as \"Paris\"."}},
                "required": ["city"]
            }),
        }]
    );
    assert_eq!(
        requests[1].messages,
        vec![
            Message::system("Use tools."),
            Message::user("Weather in Paris, Rome and Atlantis?"),
            Message::assistant_tool_calls(calls),
            Message::tool("call_1", "18°C, sunny"),
            Message::tool("call_2", "22°C, rain"),
            failed_tool_result("call_3", "Error: no weather station in Atlantis"),
        ]
    );
    assert_eq!(run.messages.len(), 7);
}

#[tokio::test]
async fn unknown_tools_bad_arguments_and_panics_go_back_to_the_model() {
    struct Panics;
    #[async_trait::async_trait]
    impl Tool for Panics {
        fn name(&self) -> &str {
            "panics"
        }
        fn description(&self) -> &str {
            "Always panics"
        }
        fn input_schema(&self) -> serde_json::Value {
            json!({"type": "object", "properties": {}})
        }
        async fn call(&self, _input: serde_json::Value) -> Result<String, ToolError> {
            panic!("boom")
        }
    }
    let calls = vec![
        ToolCall::new("a", "get_time", &json!({})),
        ToolCall { id: "b".into(), name: "get_weather".into(), arguments: "{\"city\": ".into() },
        ToolCall::new("c", "get_weather", &json!({"town": "Paris"})),
        ToolCall::new("d", "panics", &json!({})),
    ];
    let model = scripted(vec![Message::assistant_tool_calls(calls), Message::assistant("Sorry.")]);
    let agent = Agent::builder(model.clone()).tool(weather_tool()).tool(Panics).build().unwrap();
    let run = agent.run("What time is it?", None).await.unwrap();
    assert_eq!(run.reply, "Sorry.");
    assert_eq!(
        model.requests()[1].messages[2..],
        [
            failed_tool_result("a", "Error: unknown tool \"get_time\"; the tools are: get_weather, panics"),
            failed_tool_result("b", "Error: invalid arguments: \"{\\\"city\\\": \" is not valid JSON"),
            failed_tool_result("c", "Error: invalid arguments: missing field `city`"),
            failed_tool_result("d", "Error: the tool panicked"),
        ]
    );
}

#[tokio::test]
async fn the_step_limit_stops_a_model_that_keeps_calling_tools() {
    let call =
        |id: &str| Message::assistant_tool_calls(vec![ToolCall::new(id, "get_weather", &json!({"city": "Paris"}))]);
    let model = scripted(vec![call("1"), call("2"), call("3")]);
    let sessions = Arc::new(InMemorySessions::new());
    let agent =
        Agent::builder(model.clone()).tool(weather_tool()).sessions(sessions.clone()).max_steps(2).build().unwrap();
    let err = agent.run("Weather?", Some("s")).await.unwrap_err();
    match &err {
        AgentError::MaxSteps { steps, messages } => {
            assert_eq!(*steps, 2);
            assert_eq!(messages.len(), 5); // user, call, result, call, result
        }
        other => panic!("expected MaxSteps, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "the agent made 2 model calls without a final answer; raise max_steps or check the tools"
    );
    assert_eq!(model.requests().len(), 2);
    assert_eq!(sessions.load("s").await.unwrap(), vec![], "a failed run stores nothing");
}

#[tokio::test]
async fn model_errors_end_the_run_and_store_nothing() {
    let model = scripted(vec![]);
    let sessions = Arc::new(InMemorySessions::new());
    let agent = Agent::builder(model).sessions(sessions.clone()).build().unwrap();
    let err = agent.run("hi", Some("s")).await.unwrap_err();
    assert_eq!(err.to_string(), "the scripted model has no response left for request 1 (it was given 0)");
    assert!(sessions.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn summarizing_middleware_runs_before_each_model_call_and_compacts_the_session() {
    let model = scripted(vec![
        Message::assistant("Hi Bob!"),
        Message::assistant("Rust is great."),
        Message::assistant("You are Bob and like Rust."),
    ]);
    let summarizer = scripted(vec![Message::assistant("Bob introduced himself.")]);
    let middleware = SummarizationMiddleware::new().trigger_messages(4).keep_last(2).with_model(summarizer.clone());
    let sessions = Arc::new(InMemorySessions::new());
    let agent = Agent::builder(model.clone())
        .system("You are helpful.")
        .sessions(sessions.clone())
        .middleware(Arc::new(middleware))
        .build()
        .unwrap();

    agent.run("Hi, I'm Bob", Some("s")).await.unwrap(); // 2 messages sent: no summary
    agent.run("I like Rust", Some("s")).await.unwrap(); // 4 sent: not more than 4
    let run = agent.run("Who am I?", Some("s")).await.unwrap(); // 6 sent: summarized first

    let summary = Message::system("[Previous conversation summary]\nBob introduced himself.");
    let expected_view = vec![
        Message::system("You are helpful."),
        summary.clone(),
        Message::assistant("Rust is great."),
        Message::user("Who am I?"),
    ];
    assert_eq!(model.requests()[2].messages, expected_view);
    assert_eq!(summarizer.requests().len(), 1);
    let prompt = summarizer.requests()[0].messages[0].text().into_owned();
    assert!(prompt.contains("User: Hi, I'm Bob\nAssistant: Hi Bob!\nUser: I like Rust\n\nSummary:"), "{prompt}");
    assert_eq!(run.messages, [expected_view.clone(), vec![Message::assistant("You are Bob and like Rust.")]].concat());
    assert_eq!(
        sessions.load("s").await.unwrap(),
        vec![
            summary,
            Message::assistant("Rust is great."),
            Message::user("Who am I?"),
            Message::assistant("You are Bob and like Rust.")
        ]
    );
}

#[tokio::test]
async fn invalid_configurations_are_rejected() {
    let err = |builder: agent_memory::agent::AgentBuilder| builder.build().unwrap_err().to_string();
    let model = scripted(vec![]);
    assert_eq!(
        err(Agent::builder(model.clone()).tool(weather_tool()).tool(weather_tool())),
        "invalid agent configuration: two tools are named \"get_weather\""
    );
    assert_eq!(
        err(Agent::builder(model.clone()).max_steps(0)),
        "invalid agent configuration: max_steps must be at least 1"
    );
    let spaced = FunctionTool::new("get weather", "x", |_: WeatherInput| async { Ok(String::new()) });
    assert_eq!(
        err(Agent::builder(model).tool(spaced)),
        "invalid agent configuration: tool name \"get weather\" must be 1 to 64 letters, digits, '_' or '-'"
    );
}

#[tokio::test]
async fn trim_middleware_bounds_the_session_history() {
    use agent_memory::agent::TrimMiddleware;
    use agent_memory::trim::TrimOptions;

    let model = scripted(vec![Message::assistant("A1"), Message::assistant("A2"), Message::assistant("A3")]);
    let sessions = Arc::new(InMemorySessions::new());
    let agent = Agent::builder(model.clone())
        .system("You are helpful.")
        .sessions(sessions.clone())
        .middleware(Arc::new(TrimMiddleware::new(TrimOptions::last(3))))
        .build()
        .unwrap();
    for input in ["U1", "U2", "U3"] {
        agent.run(input, Some("s")).await.unwrap();
    }
    // Third run: history U1 A1 U2 A2 + U3 is trimmed to the last 3; the system prompt stays.
    assert_eq!(
        model.requests()[2].messages,
        vec![Message::system("You are helpful."), Message::user("U2"), Message::assistant("A2"), Message::user("U3")]
    );
    assert_eq!(
        sessions.load("s").await.unwrap(),
        vec![Message::user("U2"), Message::assistant("A2"), Message::user("U3"), Message::assistant("A3")]
    );

    let tight = Agent::builder(model.clone())
        .system("x".repeat(400))
        .middleware(Arc::new(TrimMiddleware::new(TrimOptions::token(50))))
        .build()
        .unwrap();
    let err = tight.run("hi", None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the system messages alone need 104 tokens, over the budget of 50: raise max_tokens or shorten the system prompt"
    );
    assert_eq!(model.requests().len(), 3);
}
