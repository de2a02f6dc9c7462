//! Export and import: a versioned JSONL dump of a store's items (memories and conversation
//! chunks, with their vectors) and of chat sessions.
//!
//! # Format (version 1)
//!
//! One JSON object per line. The first line is the header:
//!
//! ```text
//! {"format":"agent-memory-dump","version":1,"tool_version":"0.1.0","exported_at":1700000000.0,
//!  "embedder":{"model":"hash-v1/64","dimensions":64}}
//! ```
//!
//! then, in address order (namespace, then key), one line per live store item
//! (`"type":"item"`) or conversation chunk (`"type":"conversation_chunk"`, an item that
//! [`crate::recall::ConversationMemory`] wrote): `namespace`, `key`, `value`, `created_at`,
//! `updated_at`, `expires_at`, `ttl_seconds` (Unix seconds, exact) and `vector` (`model`,
//! `dimensions`, `f32le_base64`: the little-endian `f32`s, bit-exact) or `null`; then, by
//! session id, one line per chat session (`"type":"session"`: `session_id`,
//! `message_count`, `created_at`, `updated_at`, `messages` in the OpenAI JSON shape).
//! Expired items are not exported.
//!
//! # Import
//!
//! [`import_dump`] reads and checks the whole dump before writing anything: a malformed
//! line is a [`TransferError::Malformed`] naming its line number, and nothing is imported.
//! A vector made by the importing store's embedder (same model id and dimensions) is
//! reused; any other item is embedded again with the importing store's embedder (the text
//! it indexes: the value's text under the store's `index_fields`, or the chunk's search
//! text), reporting progress. Without an embedder, vectors are kept as they are. Items keep
//! their times, expiry and TTL.
//!
//! All items are written in one transaction (one statement on PostgreSQL). Sessions are
//! written after them, each replaced in its own transaction; their messages come back
//! exactly, their `created_at`/`updated_at` become the time of the import (the
//! [`SessionStore`] seam has no way to set them). Importing the same dump again replaces,
//! never duplicates, so a failed import can simply be run again.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//!
//! use agent_memory::embed::HashEmbedder;
//! use agent_memory::message::Message;
//! use agent_memory::session::{InMemorySessions, SessionStore};
//! use agent_memory::store::MemoryStore;
//! use agent_memory::transfer::{export_dump, import_dump};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::in_memory().with_embedder(Arc::new(HashEmbedder::new(64)));
//! store.put(("user_1", "prefs"), "lang", json!({"text": "prefers Rust"}), None).await?;
//! let sessions = InMemorySessions::new();
//! sessions.append("thread_1", &[Message::user("hi")]).await?;
//!
//! let mut dump = Vec::new();
//! let exported = export_dump(&store, Some(&sessions), &mut dump).await?;
//! assert_eq!((exported.items, exported.sessions), (1, 1));
//!
//! let copy = MemoryStore::in_memory().with_embedder(Arc::new(HashEmbedder::new(64)));
//! let copy_sessions = InMemorySessions::new();
//! let imported = import_dump(&copy, Some(&copy_sessions), dump.as_slice(), &|_, _| {}).await?;
//! assert_eq!((imported.items, imported.vectors_reused, imported.vectors_embedded), (1, 1, 0));
//! assert_eq!(copy.get(("user_1", "prefs"), "lang").await?, store.get(("user_1", "prefs"), "lang").await?);
//! assert_eq!(copy_sessions.load("thread_1").await?, vec![Message::user("hi")]);
//! # Ok(())
//! # }
//! ```

mod format;

use std::io::{BufRead, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::embed::{EmbedError, Embedder};
use crate::message::{Message, messages_from_value, messages_to_value};
use crate::recall::{CONVERSATIONS_LABEL, ConversationChunk};
use crate::session::{SessionError, SessionStore, validate_session_id};
use crate::store::{
    ExportedItem, Item, MemoryStore, Namespace, RestoredItem, StoreError, StoredVector, validate_key, validate_ttl,
    validate_value, value_text,
};
use format::{Header, ItemLine, Record, SessionLine, VectorLine};

/// The `format` field of every dump's header.
pub const FORMAT_NAME: &str = "agent-memory-dump";
/// The dump format this build writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 1;
/// How many texts are embedded per call when an import re-embeds.
const EMBED_BATCH: usize = 64;

/// Which embedder made a dump's vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedderIdentity {
    /// [`Embedder::model_id`].
    pub model: String,
    /// [`Embedder::dimensions`].
    pub dimensions: usize,
}

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// A line of the dump is not what this format allows; nothing was imported.
    #[error("line {line}: {reason}")]
    Malformed {
        /// The 1-based line number.
        line: usize,
        /// What is wrong, in words a user can act on.
        reason: String,
    },
    /// Reading the dump or writing it failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The dump holds sessions and no session store was given.
    #[error("the dump holds {0} sessions and no session store was given")]
    SessionsNotAccepted(usize),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session store failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Re-embedding failed; nothing was imported.
    #[error("re-embedding failed: {0}")]
    Embed(#[from] EmbedError),
}

/// What [`export_dump`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportSummary {
    /// Store items (conversation chunks not included).
    pub items: usize,
    /// Conversation chunks.
    pub conversation_chunks: usize,
    /// Chat sessions.
    pub sessions: usize,
}

/// What [`import_dump`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportSummary {
    /// Store items (conversation chunks not included).
    pub items: usize,
    /// Conversation chunks.
    pub conversation_chunks: usize,
    /// Chat sessions.
    pub sessions: usize,
    /// Items whose vector from the dump was kept, made by the importing store's embedder.
    pub vectors_reused: usize,
    /// Items embedded again by the importing store's embedder.
    pub vectors_embedded: usize,
    /// The dump's embedder.
    pub source_embedder: Option<EmbedderIdentity>,
}

/// Writes `store`'s live items and `sessions` (when given) to `out` as a dump (see the
/// module documentation for the format).
///
/// # Errors
///
/// [`TransferError::Store`] / [`TransferError::Session`] when reading fails (a backend
/// without [`crate::store::StoreBackend::export_items`] included), [`TransferError::Io`]
/// when writing fails.
pub async fn export_dump(
    store: &MemoryStore,
    sessions: Option<&dyn SessionStore>,
    out: &mut dyn Write,
) -> Result<ExportSummary, TransferError> {
    let now = store.options().clock.now();
    let header = Header {
        format: FORMAT_NAME.to_owned(),
        version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        exported_at: now,
        embedder: store.options().embedder.as_ref().map(|embedder| identity(embedder.as_ref())),
    };
    write_line(out, &header)?;
    let mut summary = ExportSummary::default();
    for ExportedItem { item, vector } in store.backend().export_items(now).await? {
        let is_chunk = chunk_of(&item).is_some();
        let line = ItemLine {
            namespace: item.namespace.labels().to_vec(),
            key: item.key,
            value: item.value,
            created_at: item.created_at,
            updated_at: item.updated_at,
            expires_at: item.expires_at,
            ttl_seconds: item.ttl_seconds,
            vector: vector.map(|v| VectorLine::encode(&v.model, &v.vector)),
        };
        if is_chunk {
            summary.conversation_chunks += 1;
            write_line(out, &Record::ConversationChunk(line))?;
        } else {
            summary.items += 1;
            write_line(out, &Record::Item(line))?;
        }
    }
    if let Some(sessions) = sessions {
        for info in sessions.list().await? {
            let messages = sessions.load(&info.session_id).await?;
            let line = SessionLine {
                session_id: info.session_id,
                message_count: messages.len(),
                created_at: unix_seconds(info.created_at),
                updated_at: unix_seconds(info.updated_at),
                messages: messages_to_value(&messages),
            };
            write_line(out, &Record::Session(line))?;
            summary.sessions += 1;
        }
    }
    out.flush()?;
    Ok(summary)
}

/// Reads a dump from `input` into `store` and `sessions` (see the module documentation):
/// checks every line first, re-embeds what the store's embedder did not make (calling
/// `progress(done, total)` after each batch), then writes.
///
/// # Errors
///
/// [`TransferError::Malformed`] for a line that is not valid (nothing is written),
/// [`TransferError::SessionsNotAccepted`] for sessions without a session store,
/// [`TransferError::Embed`] when re-embedding fails (nothing is written),
/// [`TransferError::Store`] / [`TransferError::Session`] when writing fails.
pub async fn import_dump(
    store: &MemoryStore,
    sessions: Option<&dyn SessionStore>,
    input: impl BufRead,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<ImportSummary, TransferError> {
    let parsed = parse_dump(input, store)?;
    if sessions.is_none() && !parsed.sessions.is_empty() {
        return Err(TransferError::SessionsNotAccepted(parsed.sessions.len()));
    }
    let mut summary = ImportSummary {
        items: parsed.items.iter().filter(|p| !p.is_chunk).count(),
        conversation_chunks: parsed.items.iter().filter(|p| p.is_chunk).count(),
        sessions: parsed.sessions.len(),
        source_embedder: parsed.header.embedder.clone(),
        ..ImportSummary::default()
    };
    let mut restored: Vec<RestoredItem> =
        parsed.items.into_iter().map(|p| RestoredItem { item: p.item, text: p.text, vector: p.vector }).collect();
    if let Some(embedder) = store.options().embedder.clone() {
        let own = identity(embedder.as_ref());
        let stale: Vec<usize> = (0..restored.len())
            .filter(|&i| {
                restored[i].vector.as_ref().is_none_or(|v| v.model != own.model || v.vector.len() != own.dimensions)
            })
            .collect();
        summary.vectors_reused = restored.len() - stale.len();
        summary.vectors_embedded = stale.len();
        let mut done = 0;
        for batch in stale.chunks(EMBED_BATCH) {
            let texts: Vec<String> = batch.iter().map(|&i| restored[i].text.clone()).collect();
            let vectors = embedder.embed(&texts).await?;
            if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != own.dimensions) {
                return Err(TransferError::Embed(EmbedError::Model(format!(
                    "{} returned {} vectors of the wrong shape for {} texts",
                    own.model,
                    vectors.len(),
                    texts.len()
                ))));
            }
            for (&i, vector) in batch.iter().zip(vectors) {
                restored[i].vector = Some(StoredVector { model: own.model.clone(), vector });
            }
            done += batch.len();
            progress(done, stale.len());
        }
    }
    if !restored.is_empty() {
        store.backend().restore_items(restored).await?;
    }
    if let Some(session_store) = sessions {
        for (session_id, messages) in &parsed.sessions {
            session_store.replace(session_id, messages).await?;
        }
    }
    Ok(summary)
}

/// A dump read and checked, ready to write.
struct ParsedDump {
    header: Header,
    items: Vec<ParsedItem>,
    sessions: Vec<(String, Vec<Message>)>,
}

struct ParsedItem {
    item: Item,
    is_chunk: bool,
    text: String,
    vector: Option<StoredVector>,
}

fn parse_dump(input: impl BufRead, store: &MemoryStore) -> Result<ParsedDump, TransferError> {
    let mut lines = input.lines();
    let malformed = |line: usize, reason: String| TransferError::Malformed { line, reason };
    let header_text = lines.next().transpose()?.ok_or_else(|| malformed(1, "the dump is empty".into()))?;
    let header: Header = serde_json::from_str(&header_text)
        .map_err(|e| malformed(1, format!("not an agent-memory dump header: {e}")))?;
    if header.format != FORMAT_NAME {
        return Err(malformed(1, format!("format {:?} is not {FORMAT_NAME:?}", header.format)));
    }
    if header.version == 0 || header.version > FORMAT_VERSION {
        return Err(malformed(
            1,
            format!(
                "dump format version {} is not one this build reads (1 to {FORMAT_VERSION}): use a newer agent-memory",
                header.version
            ),
        ));
    }
    let mut items = Vec::new();
    let mut sessions = Vec::new();
    for (index, text) in lines.enumerate() {
        let number = index + 2;
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&text).map_err(|e| malformed(number, e.to_string()))?;
        match record {
            Record::Item(line) => items.push(parse_item(line, false, store).map_err(|r| malformed(number, r))?),
            Record::ConversationChunk(line) => {
                items.push(parse_item(line, true, store).map_err(|r| malformed(number, r))?);
            }
            Record::Session(line) => sessions.push(parse_session(line).map_err(|r| malformed(number, r))?),
        }
    }
    Ok(ParsedDump { header, items, sessions })
}

fn parse_item(line: ItemLine, is_chunk: bool, store: &MemoryStore) -> Result<ParsedItem, String> {
    let namespace = Namespace::new(line.namespace).map_err(|e| e.to_string())?;
    validate_key(&line.key).map_err(|e| e.to_string())?;
    let value = validate_value(serde_json::Value::Object(line.value)).map_err(|e| e.to_string())?;
    for (name, time) in
        [("created_at", Some(line.created_at)), ("updated_at", Some(line.updated_at)), ("expires_at", line.expires_at)]
    {
        if time.is_some_and(|t| !t.is_finite()) {
            return Err(format!("{name} is not a finite number"));
        }
    }
    if let Some(ttl) = line.ttl_seconds {
        validate_ttl(ttl).map_err(|e| e.to_string())?;
    }
    let vector = match line.vector {
        Some(vector) => Some(StoredVector { vector: vector.decode()?, model: vector.model }),
        None => None,
    };
    let item = Item {
        namespace,
        key: line.key,
        value,
        created_at: line.created_at,
        updated_at: line.updated_at,
        expires_at: line.expires_at,
        ttl_seconds: line.ttl_seconds,
    };
    let text = if is_chunk {
        chunk_of(&item)
            .ok_or("a conversation_chunk line must hold a chunk in a (user, \"conversations\", session) namespace")?
            .search_text()
    } else {
        value_text(&item.value, &store.options().index_fields)
    };
    Ok(ParsedItem { item, is_chunk, text, vector })
}

fn parse_session(line: SessionLine) -> Result<(String, Vec<Message>), String> {
    validate_session_id(&line.session_id).map_err(|e| e.to_string())?;
    let messages = messages_from_value(line.messages).map_err(|e| format!("messages: {e}"))?;
    if messages.len() != line.message_count {
        return Err(format!("message_count is {} but {} messages follow", line.message_count, messages.len()));
    }
    Ok((line.session_id, messages))
}

/// The chunk an item holds, when it is one that conversation memory wrote.
fn chunk_of(item: &Item) -> Option<ConversationChunk> {
    match item.namespace.labels() {
        [user, label, _session] if label == CONVERSATIONS_LABEL => {
            ConversationChunk::from_value(user, &item.key, item.created_at, &item.value).ok()
        }
        _ => None,
    }
}

fn identity(embedder: &dyn Embedder) -> EmbedderIdentity {
    EmbedderIdentity { model: embedder.model_id().to_owned(), dimensions: embedder.dimensions() }
}

fn write_line(out: &mut dyn Write, line: &impl Serialize) -> Result<(), TransferError> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
