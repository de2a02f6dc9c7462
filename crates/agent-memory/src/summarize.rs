//! Summarization of old messages.
//!
//! [`Summarizer`] is the seam between context management ([`crate::context`]) and
//! whatever writes summaries: an LLM (see the LLM layer) or, in tests, a scripted
//! implementation.

use async_trait::async_trait;

use crate::message::Message;

/// Why a summary could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SummarizeError {
    /// No summarizer is configured; the message says how to configure one.
    #[error("no summarizer configured: {0}")]
    NotConfigured(String),
    /// The summarizer (for example an LLM call) failed.
    #[error("summarization failed: {0}")]
    Failed(String),
}

/// Writes a summary of messages, optionally extending an existing running summary.
#[async_trait]
pub trait Summarizer: Send + Sync {
    /// Summarizes `messages`. When `existing` is given, the result must incorporate it
    /// (a running summary), so the caller can drop both the old summary and `messages`.
    async fn summarize(&self, messages: &[Message], existing: Option<&str>) -> Result<String, SummarizeError>;
}
