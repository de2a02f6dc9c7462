//! Conversation recall: index finished conversations per user, search across all of them,
//! and give agents a `recall_past_conversations` tool.
//!
//! * [`chunk_messages`] cuts a conversation into overlapping chunks of transcript lines
//!   ([`ChunkingOptions`]: 10 lines, 2 shared, long messages split rather than truncated);
//!   chunk ids are deterministic ([`chunk_id`]), so indexing a session again replaces it.
//! * Each chunk is stored as its messages, whole ([`ConversationChunk`]); what is embedded
//!   and keyword-indexed is a clean transcript with the date and topic
//!   ([`ConversationChunk::search_text`]).
//! * [`ConversationMemory`] indexes and searches them on a [`crate::store::MemoryStore`]
//!   (keyword BM25, semantic or hybrid), per user, with session, date and score filters
//!   applied before the limit.
//! * [`create_memory_tool`] makes the `recall_past_conversations` tool;
//!   [`format_tool_output`] renders results as it answers.
//! * [`read_conversations`] reads the JSONL import format; [`locomo`] reads the LoCoMo
//!   benchmark for the retrieval evaluation.

mod chunk;
mod date;
pub mod eval;
mod import;
mod keyword;
pub mod locomo;
mod memory;
mod result;
mod tool;
mod transcript;

pub use chunk::{ChunkingOptions, PlannedChunk, chunk_id, chunk_messages};
pub use date::{date_of_unix_seconds, parse_date};
pub use import::{ConversationRecord, read_conversations};
pub(crate) use keyword::keyword_text_alone;
pub use keyword::{CONTEXT_LINES, OWN_WEIGHT, keyword_terms};
pub use memory::{CONVERSATIONS_LABEL, ConversationMemory, FusionWeights, RecallQuery};
pub use result::{ConversationChunk, SearchResult};
pub use tool::{
    DEFAULT_TOOL_DESCRIPTION, DEFAULT_TOOL_NAME, MISSING_USER_TEXT, NO_RESULTS_TEXT, RecallTool, ToolOutputOptions,
    create_memory_tool, format_tool_output, tool_input_schema,
};
pub use transcript::{message_label, metadata_header, role_label};

use crate::embed::EmbedError;
use crate::store::StoreError;
use crate::summarize::SummarizeError;

/// Why a conversation-recall operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecallError {
    /// An option is out of range; the message names it and the accepted values.
    #[error("invalid conversation memory options: {0}")]
    InvalidOptions(String),
    /// Input (a JSONL line, a conversation record, a data set file) is malformed.
    #[error("{}{reason}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Input {
        /// The 1-based line, when the input is line-oriented.
        line: Option<usize>,
        /// What is wrong, in words a user can act on.
        reason: String,
    },
    /// Reading input failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// A stored chunk is not in the shape this crate writes.
    #[error("stored chunk is corrupt: {0}")]
    Corrupt(String),
    /// The embedder failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The store rejected the request or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The summarizer failed.
    #[error(transparent)]
    Summarize(#[from] SummarizeError),
}

impl RecallError {
    /// Whether the error is the caller's fault (bad options or input, or a store request
    /// [`StoreError::is_invalid_input`] refuses) rather than a failure of the embedder, the
    /// summarizer or the storage engine; the CLI maps these to exit code 2.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            RecallError::InvalidOptions(_) | RecallError::Input { .. } => true,
            RecallError::Store(store) => store.is_invalid_input(),
            _ => false,
        }
    }

    fn at_line(self, line: usize) -> RecallError {
        match self {
            RecallError::Input { line: None, reason } => RecallError::Input { line: Some(line), reason },
            other => other,
        }
    }
}
