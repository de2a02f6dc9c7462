//! # agent-memory
//!
//! The memory layer for LLM agents:
//!
//! * **short-term memory**: exact and approximate token counting ([`tokens`]), per-model
//!   context limits ([`models`]), trimming ([`trim`]), summarization and context fitting
//!   ([`context`], [`summarize`]);
//! * **long-term memory**: a namespaced key-value store with TTL and semantic + keyword
//!   search on in-memory, SQLite and PostgreSQL backends ([`store`]), fed by embedders
//!   ([`embed`]);
//! * **conversation recall**: past conversations chunked, indexed and searched per user,
//!   and the `recall_past_conversations` tool ([`recall`]);
//! * **agents**: chat models over OpenAI-compatible and Anthropic APIs ([`llm`]), an agent
//!   loop with tools and middleware ([`agent`]) and conversation sessions ([`session`]);
//! * **the conversation model** shared by all of them ([`message`]);
//! * **export and import**: a versioned JSONL dump of items, conversations and sessions
//!   ([`transfer`]).
//!
//! See `ARCHITECTURE.md` in the repository for the map of the code.
//!
//! # Examples
//!
//! ```
//! use agent_memory::message::Message;
//! use agent_memory::trim::{trim_messages, TrimOptions, TrimStrategy};
//!
//! let messages = vec![
//!     Message::system("You are helpful."),
//!     Message::user("Hello"),
//!     Message::assistant("Hi there!"),
//!     Message::user("Tell me about Rust"),
//! ];
//! let trimmed = trim_messages(&messages, &TrimOptions::last(1))?;
//! assert_eq!(trimmed, vec![messages[0].clone(), messages[3].clone()]);
//! # Ok::<(), agent_memory::trim::TrimError>(())
//! ```

pub mod agent;
pub mod context;
pub mod embed;
pub mod llm;
pub mod message;
pub mod models;
pub mod recall;
pub mod session;
pub mod store;
pub mod summarize;
pub mod tokens;
pub mod transfer;
pub mod trim;
