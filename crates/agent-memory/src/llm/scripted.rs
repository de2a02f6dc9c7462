//! [`ScriptedChat`]: a chat model for tests.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{ChatModel, ChatRequest, ChatResponse, LlmError};

/// A chat model that replays the responses it was given, in order, and records every
/// request it saw. Once the responses run out, each call fails with
/// [`LlmError::ScriptExhausted`].
///
/// ```
/// use agent_memory::llm::{ChatModel, ChatRequest, ScriptedChat};
/// use agent_memory::message::Message;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let model = ScriptedChat::new([Message::assistant("one")]);
/// assert_eq!(model.chat(&ChatRequest::new(vec![Message::user("a")])).await.unwrap().message.text(), "one");
/// let err = model.chat(&ChatRequest::new(vec![Message::user("b")])).await.unwrap_err();
/// assert_eq!(err.to_string(), "the scripted model has no response left for request 2 (it was given 1)");
/// assert_eq!(model.requests().len(), 2);
/// # }
/// ```
#[derive(Debug)]
pub struct ScriptedChat {
    model: String,
    given: usize,
    responses: Mutex<VecDeque<ChatResponse>>,
    requests: Mutex<Vec<ChatRequest>>,
}

impl ScriptedChat {
    /// A model that answers with `responses` in order (messages convert to responses with
    /// zero usage).
    pub fn new<R: Into<ChatResponse>>(responses: impl IntoIterator<Item = R>) -> ScriptedChat {
        let responses: VecDeque<ChatResponse> = responses.into_iter().map(Into::into).collect();
        ScriptedChat {
            model: "scripted".into(),
            given: responses.len(),
            responses: Mutex::new(responses),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        lock(&self.requests).clone()
    }

    /// How many responses are left.
    pub fn remaining(&self) -> usize {
        lock(&self.responses).len()
    }
}

#[async_trait]
impl ChatModel for ScriptedChat {
    fn provider(&self) -> &str {
        "scripted"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let number = {
            let mut requests = lock(&self.requests);
            requests.push(request.clone());
            requests.len()
        };
        lock(&self.responses).pop_front().ok_or(LlmError::ScriptExhausted { request: number, given: self.given })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
