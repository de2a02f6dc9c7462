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
//! `updated_at`, `expires_at`, `ttl_seconds` (Unix seconds, exact), `vector` (`model`,
//! `dimensions`, `f32le_base64`: the little-endian `f32`s, bit-exact) or `null`, and, only
//! for an item put with its own index spec ([`crate::store::ItemIndex`]), `index`: `false`
//! or an array of field paths, and, only on `conversation_chunk` lines, `keyword_text`: what
//! the chunk is keyword-indexed by ([`crate::store::ExportedItem::text`]: the stemmed terms
//! of its header, of its own lines twice and of its neighbours' lines, in byte order, each
//! as often as it occurs; every backend writes the same); then, by
//! session id, one line per chat session (`"type":"session"`: `session_id`,
//! `message_count`, `created_at`, `updated_at`, `messages` in the OpenAI JSON shape).
//! Expired items are not exported.
//!
//! **Compatibility.** A reader accepts every version from 1 to [`FORMAT_VERSION`]; the
//! version goes up when a dump could no longer be read by the rules above. A new optional
//! field does not raise it: dumps without it read as before. `index` is such a field
//! (absent: the store's fields, which is what every item of an older dump was written
//! with); a build older than it ignores the field, and indexes such items under its own
//! store's fields. `keyword_text` is another: without it (a dump written before it), a
//! chunk is indexed by the stemmed terms of its own lines and header alone, so a word that
//! only its neighbouring lines hold no longer finds it; a build older than it ignores the
//! field and indexes a chunk by its search text. An item line's `keyword_text` is ignored:
//! an item's text is always derived from its value and spec, so editing a value in a dump
//! changes what it is found by.
//!
//! # Export
//!
//! [`export_dump`] (or [`export_dump_with`] and its [`ExportOptions`]) reads the store in
//! pages by keyset, 1,000 items after the last address written
//! ([`crate::store::StoreBackend::export_items`]), then the sessions 256 at a time after the
//! last id written ([`SessionStore::export_sessions`]), so it holds one page in memory
//! whatever the size of the store. Each page is one snapshot; the dump as a whole is not:
//! with writers at work, an item or session that exists throughout the export is written
//! exactly once, and one written or deleted meanwhile may or may not be.
//!
//! # Import
//!
//! [`import_dump`] streams the dump twice, holding at most one line (first pass) or one
//! batch (second pass) in memory, so a dump larger than memory imports:
//!
//! 1. **Check.** Every line is read and checked; a malformed line is a
//!    [`TransferError::Malformed`] naming its line number, sessions without a session
//!    store are [`TransferError::SessionsNotAccepted`], and in both cases nothing is
//!    written.
//! 2. **Write.** The dump is read again from where it started (the input must be
//!    seekable and must not change in between) and written in batches of at most 1,000
//!    items or 256 sessions (or 16 MiB of dump lines), each batch one transaction
//!    ([`crate::store::StoreBackend::restore_items`], [`SessionStore::restore`]).
//!
//! An item is keyword-indexed by its value's text under its own `index` spec (or the
//! importing store's `index_fields` without one), a chunk by its `keyword_text`, checked
//! like a value (a string of at most [`MAX_KEYWORD_TEXT_BYTES`], no U+0000), so conversation
//! search ranks the same after a round trip. A vector made by the importing store's
//! embedder (same model id and dimensions) is reused; any other item is embedded again with the importing store's embedder (the text
//! it is embedded from: the value's text under the item's own `index` spec, or the importing store's
//! `index_fields` without one, or the chunk's search text), batch by batch, reporting
//! progress. An item without search text (put with `index: false`, or whose fields hold no
//! text) is never embedded and keeps no vector, as a put stores it. Without an embedder,
//! vectors are kept as they are. Items keep their times, expiry and TTL; sessions keep their messages and their
//! `created_at`/`updated_at` (the SQL session stores keep Unix seconds as a double, which
//! is what the dump holds, so a round trip gives the same dump back).
//!
//! A dump that fits in one batch is written in one transaction per store. A larger one is
//! not atomic: when the database or the embedder fails during the second pass, the batches
//! already written stay. Every write replaces what is at its address (item) or id
//! (session), so running the same import again completes it and never duplicates.
//!
//! # Examples
//!
//! ```
//! use std::io::Cursor;
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
//! let imported = import_dump(&copy, Some(&copy_sessions), Cursor::new(dump), &|_, _| {}).await?;
//! assert_eq!((imported.items, imported.vectors_reused, imported.vectors_embedded), (1, 1, 0));
//! assert_eq!(copy.get(("user_1", "prefs"), "lang").await?, store.get(("user_1", "prefs"), "lang").await?);
//! assert_eq!(copy_sessions.load("thread_1").await?, vec![Message::user("hi")]);
//! # Ok(())
//! # }
//! ```

mod format;

use std::io::{BufRead, Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::embed::{EmbedError, Embedder};
use crate::message::{json_kind, messages_from_value, messages_to_value};
use crate::recall::{CONVERSATIONS_LABEL, ConversationChunk, keyword_text_alone};
use crate::session::{RestoredSession, SessionError, SessionStore, system_time, unix_seconds, validate_session_id};
use crate::store::{
    ExportQuery, ExportedItem, Item, ItemIndex, ItemKey, MAX_VALUE_BYTES, MemoryStore, Namespace, NamespacePrefix,
    RestoredItem, Scope, StoreError, StoredVector, validate_key, validate_ttl, validate_value,
};
use format::{Header, ItemLine, Record, SessionLine, VectorLine};

/// The `format` field of every dump's header.
pub const FORMAT_NAME: &str = "agent-memory-dump";
/// The dump format this build writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 1;
/// How many texts are embedded per call when an import re-embeds.
const EMBED_BATCH: usize = 64;
/// The longest `keyword_text` an import accepts, in bytes: four times a value's limit
/// ([`MAX_VALUE_BYTES`]), as a chunk's text holds its own lines twice beside its
/// neighbours' and its header.
pub const MAX_KEYWORD_TEXT_BYTES: usize = 4 * MAX_VALUE_BYTES;

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

/// How [`export_dump_with`] reads the store: what to export and how much to hold at once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    /// Only items whose namespace starts with this prefix (the root prefix: every item).
    /// Sessions are not namespaced: pass no session store for a dump of items only.
    pub namespace_prefix: NamespacePrefix,
    /// Items read per backend call ([`crate::store::StoreBackend::export_items`]), at
    /// least 1. The export holds one page of items (and one of sessions) at a time.
    pub items_per_page: usize,
    /// Sessions read per call ([`SessionStore::export_sessions`]), at least 1.
    pub sessions_per_page: usize,
}

impl Default for ExportOptions {
    /// Every item and session, 1,000 items or 256 sessions per page.
    fn default() -> ExportOptions {
        ExportOptions { namespace_prefix: NamespacePrefix::root(), items_per_page: 1_000, sessions_per_page: 256 }
    }
}

impl ExportOptions {
    /// The default options for the items under `prefix` only.
    pub fn namespace_prefix(mut self, prefix: NamespacePrefix) -> ExportOptions {
        self.namespace_prefix = prefix;
        self
    }

    /// Reads `items` items and `sessions` sessions per call (each at least 1).
    pub fn page_sizes(mut self, items: usize, sessions: usize) -> ExportOptions {
        self.items_per_page = items.max(1);
        self.sessions_per_page = sessions.max(1);
        self
    }
}

/// Writes `store`'s live items and `sessions` (when given) to `out` as a dump (see the
/// module documentation for the format), one page at a time: [`export_dump_with`] with
/// the default [`ExportOptions`] and no progress report.
///
/// # Errors
///
/// As [`export_dump_with`].
pub async fn export_dump(
    store: &MemoryStore,
    sessions: Option<&dyn SessionStore>,
    out: &mut dyn Write,
) -> Result<ExportSummary, TransferError> {
    export_dump_with(store, sessions, out, &ExportOptions::default(), &|_, _| {}).await
}

/// Writes `store`'s live items under `options.namespace_prefix` and `sessions` (when
/// given) to `out` as a dump (see the module documentation for the format).
///
/// Items are read in pages of `options.items_per_page` by keyset (after the last address
/// written), sessions in pages of `options.sessions_per_page` (after the last id
/// written), so memory use is bounded by one page, not by the store. Every item is judged
/// live at one time, read once from the store's clock. While other writers are at work,
/// the dump is not one snapshot: an item or session that exists throughout the export is
/// written exactly once (as it was when its page was read); one written or deleted during
/// the export may or may not be. `progress(items_written, items_total)` is called after
/// each page of items (`items_total` is the live count when the export started, so
/// writers may make `items_written` end above or below it).
///
/// ```
/// use std::sync::Mutex;
///
/// use agent_memory::store::{MemoryStore, NamespacePrefix};
/// use agent_memory::transfer::{ExportOptions, export_dump_with};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::in_memory().without_embedder();
/// for key in ["a", "b", "c"] {
///     store.put(("user_1", "notes"), key, json!({"text": key}), None).await?;
/// }
/// store.put(("user_2", "notes"), "d", json!({"text": "not exported"}), None).await?;
///
/// // The items of user_1 only, two per page, no sessions.
/// let options = ExportOptions::default().namespace_prefix(NamespacePrefix::new(["user_1"])?).page_sizes(2, 256);
/// let reports = Mutex::new(Vec::new());
/// let mut dump = Vec::new();
/// let summary = export_dump_with(&store, None, &mut dump, &options, &|done, total| {
///     reports.lock().expect("not poisoned").push((done, total));
/// })
/// .await?;
/// assert_eq!(summary.items, 3);
/// assert_eq!(*reports.lock().expect("not poisoned"), [(2, 3), (3, 3)]);
/// assert_eq!(String::from_utf8(dump)?.lines().count(), 1 + 3);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`TransferError::Store`] / [`TransferError::Session`] when reading fails (a backend
/// without [`crate::store::StoreBackend::export_items`] included, or one that returns a
/// page out of address order), [`TransferError::Io`] when writing fails.
pub async fn export_dump_with(
    store: &MemoryStore,
    sessions: Option<&dyn SessionStore>,
    out: &mut dyn Write,
    options: &ExportOptions,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
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
    let scope = Scope::Prefix(options.namespace_prefix.clone());
    let total = store.backend().count(&scope, now).await?;
    let limit = options.items_per_page.max(1);
    let mut after: Option<ItemKey> = None;
    let mut written = 0_u64;
    loop {
        let query = ExportQuery { scope: scope.clone(), after: after.clone(), limit, now };
        let page = store.backend().export_items(&query).await?;
        let last_page = page.len() < limit;
        for ExportedItem { item, vector, index, text } in page {
            let address = ItemKey { namespace: item.namespace.clone(), key: item.key.clone() };
            if after.as_ref().is_some_and(|previous| *previous >= address) || !scope.contains(&item.namespace) {
                return Err(TransferError::Store(StoreError::backend(
                    store.backend().kind(),
                    format!(
                        "export_items returned {} {:?} out of address order or out of scope: the export stops",
                        address.namespace, address.key
                    ),
                )));
            }
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
                index: index.to_json(),
                // An item's text is derived from its value and spec on import; a chunk's
                // depends on its neighbours in the session, so it travels with it.
                keyword_text: if is_chunk { Value::String(text) } else { Value::Null },
            };
            if is_chunk {
                summary.conversation_chunks += 1;
                write_line(out, &Record::ConversationChunk(line))?;
            } else {
                summary.items += 1;
                write_line(out, &Record::Item(line))?;
            }
            written += 1;
            after = Some(address);
        }
        progress(written, total);
        if last_page {
            break;
        }
    }
    if let Some(sessions) = sessions {
        let limit = options.sessions_per_page.max(1);
        let mut after: Option<String> = None;
        loop {
            let page = sessions.export_sessions(after.as_deref(), limit).await?;
            let last_page = page.len() < limit;
            for session in page {
                if after.as_ref().is_some_and(|previous| previous.as_str() >= session.session_id.as_str()) {
                    return Err(TransferError::Session(SessionError::Backend(format!(
                        "export_sessions returned {:?} out of id order",
                        session.session_id
                    ))));
                }
                let line = SessionLine {
                    session_id: session.session_id.clone(),
                    message_count: session.messages.len(),
                    created_at: unix_seconds(session.created_at),
                    updated_at: unix_seconds(session.updated_at),
                    messages: messages_to_value(&session.messages),
                };
                write_line(out, &Record::Session(line))?;
                summary.sessions += 1;
                after = Some(session.session_id);
            }
            if last_page {
                break;
            }
        }
    }
    out.flush()?;
    Ok(summary)
}

/// Reads a dump from `input` into `store` and `sessions` (see the module documentation) in
/// two streaming passes: the first checks every line (nothing is written if one is
/// malformed), the second reads the dump again from where it started and writes it in
/// bounded batches, re-embedding what the store's embedder did not make (calling
/// `progress(done, total)` after each embedding call). Memory use is bounded by one batch,
/// not by the dump's size.
///
/// # Errors
///
/// [`TransferError::Malformed`] for a line that is not valid (nothing is written),
/// [`TransferError::SessionsNotAccepted`] for sessions without a session store (nothing is
/// written), [`TransferError::Embed`] when re-embedding fails, [`TransferError::Store`] /
/// [`TransferError::Session`] when writing fails (the batches written before stay; running
/// the import again completes it).
pub async fn import_dump<R: BufRead + Seek>(
    store: &MemoryStore,
    sessions: Option<&dyn SessionStore>,
    mut input: R,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<ImportSummary, TransferError> {
    let own = store.options().embedder.as_ref().map(|embedder| identity(embedder.as_ref()));
    let start = input.stream_position()?;
    let mut summary = ImportSummary::default();
    let mut stale_total = 0;
    let mut reused = 0;
    let mut reader = DumpReader::new(&mut input)?;
    summary.source_embedder = reader.header.embedder.clone();
    while let Some(entry) = reader.next_entry(store)? {
        match entry {
            Entry::Item(item) => {
                if item.is_chunk {
                    summary.conversation_chunks += 1;
                } else {
                    summary.items += 1;
                }
                match &own {
                    Some(own) if needs_embedding(&item, own) => stale_total += 1,
                    Some(_) if has_text(&item.embed_text) => reused += 1,
                    _ => {}
                }
            }
            Entry::Session(_) => summary.sessions += 1,
        }
    }
    if sessions.is_none() && summary.sessions > 0 {
        return Err(TransferError::SessionsNotAccepted(summary.sessions));
    }
    summary.vectors_embedded = stale_total;
    summary.vectors_reused = reused;

    input.seek(SeekFrom::Start(start))?;
    let mut reader = DumpReader::new(&mut input)?;
    let mut writer = BatchWriter {
        store,
        sessions,
        items: Vec::new(),
        item_bytes: 0,
        restored_sessions: Vec::new(),
        session_bytes: 0,
        stale_total,
        embedded: 0,
        progress,
    };
    while let Some(entry) = reader.next_entry(store)? {
        writer.push(entry).await?;
    }
    writer.flush_items().await?;
    writer.flush_sessions().await?;
    Ok(summary)
}

/// Items per write batch of an import (one transaction each).
const BATCH_ITEMS: usize = 1_000;
/// Sessions per write batch of an import.
const BATCH_SESSIONS: usize = 256;
/// A batch is also written once the dump lines it holds reach this many bytes.
const BATCH_BYTES: usize = 16 << 20;

/// The second pass of an import: batches of items and sessions, written when full.
struct BatchWriter<'a> {
    store: &'a MemoryStore,
    sessions: Option<&'a dyn SessionStore>,
    /// Each item with the text its vector is made from (when it must be made).
    items: Vec<(RestoredItem, String)>,
    item_bytes: usize,
    restored_sessions: Vec<RestoredSession>,
    session_bytes: usize,
    stale_total: usize,
    embedded: usize,
    progress: &'a (dyn Fn(usize, usize) + Send + Sync),
}

impl BatchWriter<'_> {
    async fn push(&mut self, entry: Entry) -> Result<(), TransferError> {
        match entry {
            Entry::Item(parsed) => {
                let parsed = *parsed;
                self.item_bytes += parsed.line_bytes;
                let restored =
                    RestoredItem { item: parsed.item, text: parsed.text, vector: parsed.vector, index: parsed.index };
                self.items.push((restored, parsed.embed_text));
                if self.items.len() >= BATCH_ITEMS || self.item_bytes >= BATCH_BYTES {
                    self.flush_items().await?;
                }
            }
            Entry::Session(parsed) => {
                self.session_bytes += parsed.line_bytes;
                self.restored_sessions.push(parsed.session);
                if self.restored_sessions.len() >= BATCH_SESSIONS || self.session_bytes >= BATCH_BYTES {
                    self.flush_sessions().await?;
                }
            }
        }
        Ok(())
    }

    /// Re-embeds the batch's items that need it, then writes the batch in one call.
    async fn flush_items(&mut self) -> Result<(), TransferError> {
        let store = self.store;
        if self.items.is_empty() {
            return Ok(());
        }
        let (mut batch, embed_texts): (Vec<RestoredItem>, Vec<String>) =
            std::mem::take(&mut self.items).into_iter().unzip();
        self.item_bytes = 0;
        if let Some(embedder) = store.options().embedder.clone() {
            let own = identity(embedder.as_ref());
            // As a put stores it: no search text, no vector.
            for (restored, _) in batch.iter_mut().zip(&embed_texts).filter(|(_, text)| !has_text(text)) {
                restored.vector = None;
            }
            let stale: Vec<usize> = (0..batch.len())
                .filter(|&i| has_text(&embed_texts[i]) && vector_is_stale(batch[i].vector.as_ref(), &own))
                .collect();
            for group in stale.chunks(EMBED_BATCH) {
                let texts: Vec<String> = group.iter().map(|&i| embed_texts[i].clone()).collect();
                let vectors = embedder.embed(&texts).await?;
                if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != own.dimensions) {
                    return Err(TransferError::Embed(EmbedError::Model(format!(
                        "{} returned {} vectors of the wrong shape for {} texts",
                        own.model,
                        vectors.len(),
                        texts.len()
                    ))));
                }
                for (&i, vector) in group.iter().zip(vectors) {
                    batch[i].vector = Some(StoredVector { model: own.model.clone(), vector });
                }
                self.embedded += group.len();
                (self.progress)(self.embedded, self.stale_total);
            }
        }
        store.backend().restore_items(batch).await?;
        Ok(())
    }

    async fn flush_sessions(&mut self) -> Result<(), TransferError> {
        if self.restored_sessions.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.restored_sessions);
        self.session_bytes = 0;
        match self.sessions {
            Some(sessions) => Ok(sessions.restore(&batch).await?),
            None => Err(TransferError::SessionsNotAccepted(batch.len())),
        }
    }
}

/// Whether an item's vector (from the dump) is not one `own` made.
fn vector_is_stale(vector: Option<&StoredVector>, own: &EmbedderIdentity) -> bool {
    vector.is_none_or(|v| v.model != own.model || v.vector.len() != own.dimensions)
}

/// Whether an item with search text `text` is embedded (a put embeds no blank text).
fn has_text(text: &str) -> bool {
    !text.trim().is_empty()
}

fn needs_embedding(item: &ParsedItem, own: &EmbedderIdentity) -> bool {
    has_text(&item.embed_text) && vector_is_stale(item.vector.as_ref(), own)
}

/// A dump read line by line: the header checked on construction, then one checked entry
/// at a time.
struct DumpReader<'r, R: BufRead> {
    input: &'r mut R,
    header: Header,
    line: String,
    number: usize,
}

enum Entry {
    Item(Box<ParsedItem>),
    Session(ParsedSession),
}

struct ParsedItem {
    item: Item,
    is_chunk: bool,
    /// What it is keyword-indexed by.
    text: String,
    /// What its vector is made from: the same text for an item, the search text for a chunk.
    embed_text: String,
    vector: Option<StoredVector>,
    index: ItemIndex,
    line_bytes: usize,
}

struct ParsedSession {
    session: RestoredSession,
    line_bytes: usize,
}

fn malformed(line: usize, reason: String) -> TransferError {
    TransferError::Malformed { line, reason }
}

impl<'r, R: BufRead> DumpReader<'r, R> {
    fn new(input: &'r mut R) -> Result<DumpReader<'r, R>, TransferError> {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Err(malformed(1, "the dump is empty".into()));
        }
        let header: Header = serde_json::from_str(line.trim_end_matches(['\n', '\r']))
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
        Ok(DumpReader { input, header, line, number: 1 })
    }

    /// The next line's entry, checked; `None` at the end of the dump. Blank lines are skipped.
    fn next_entry(&mut self, store: &MemoryStore) -> Result<Option<Entry>, TransferError> {
        loop {
            self.line.clear();
            let bytes = self.input.read_line(&mut self.line)?;
            if bytes == 0 {
                return Ok(None);
            }
            self.number += 1;
            let number = self.number;
            let text = self.line.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            let record: Record = serde_json::from_str(text).map_err(|e| malformed(number, e.to_string()))?;
            let entry = match record {
                Record::Item(line) => parse_item(line, false, bytes, store).map(|item| Entry::Item(Box::new(item))),
                Record::ConversationChunk(line) => {
                    parse_item(line, true, bytes, store).map(|item| Entry::Item(Box::new(item)))
                }
                Record::Session(line) => parse_session(line, bytes).map(Entry::Session),
            };
            return entry.map(Some).map_err(|reason| malformed(number, reason));
        }
    }
}

fn parse_item(line: ItemLine, is_chunk: bool, line_bytes: usize, store: &MemoryStore) -> Result<ParsedItem, String> {
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
    let index = ItemIndex::from_json(&line.index).map_err(|e| e.to_string())?;
    let (text, embed_text) = if is_chunk {
        let chunk = chunk_of(&item)
            .ok_or("a conversation_chunk line must hold a chunk in a (user, \"conversations\", session) namespace")?;
        let keyword_text = match line.keyword_text {
            Value::String(text) => checked_keyword_text(text)?,
            // An older dump: the chunk's own lines, without its neighbours'.
            Value::Null => keyword_text_alone(&chunk),
            other => return Err(format!("keyword_text must be a string, got {}", json_kind(&other))),
        };
        (keyword_text, chunk.search_text())
    } else {
        // An item's text follows its value and spec (`keyword_text`, for chunks only, is ignored).
        let text = index.text(&item.value, &store.options().index_fields);
        (text.clone(), text)
    };
    Ok(ParsedItem { item, is_chunk, text, embed_text, vector, index, line_bytes })
}

/// A chunk's `keyword_text` from a dump, within [`MAX_KEYWORD_TEXT_BYTES`] and without
/// U+0000 (as values: every backend must accept it).
fn checked_keyword_text(text: String) -> Result<String, String> {
    if text.len() > MAX_KEYWORD_TEXT_BYTES {
        return Err(format!("keyword_text is {} bytes, the limit is {MAX_KEYWORD_TEXT_BYTES} (4 MiB)", text.len()));
    }
    if text.contains('\0') {
        return Err("keyword_text holds a U+0000 character".into());
    }
    Ok(text)
}

fn parse_session(line: SessionLine, line_bytes: usize) -> Result<ParsedSession, String> {
    validate_session_id(&line.session_id).map_err(|e| e.to_string())?;
    for (name, time) in [("created_at", line.created_at), ("updated_at", line.updated_at)] {
        if !time.is_finite() || time < 0.0 {
            return Err(format!("{name} is not a finite number of seconds since 1970"));
        }
    }
    let messages = messages_from_value(line.messages).map_err(|e| format!("messages: {e}"))?;
    if messages.len() != line.message_count {
        return Err(format!("message_count is {} but {} messages follow", line.message_count, messages.len()));
    }
    let session = RestoredSession {
        session_id: line.session_id,
        messages,
        created_at: system_time(line.created_at),
        updated_at: system_time(line.updated_at),
    };
    Ok(ParsedSession { session, line_bytes })
}

/// The chunk an item holds, when it is one that conversation memory wrote.
fn chunk_of(item: &Item) -> Option<ConversationChunk> {
    match item.namespace.labels() {
        [user, label, _session] if label == CONVERSATIONS_LABEL => {
            ConversationChunk::from_value(user, &item.key, item.created_at, item.value.clone()).ok()
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use serde_json::Map;

    use super::*;
    use crate::store::{
        ItemWrite, KeywordQuery, NamespaceQuery, ScanQuery, ScoredItem, StoreBackend, StoreOptions, VectorQuery,
    };

    /// A backend whose every export page is the same item, whatever the cursor: the
    /// export must stop with an error instead of writing it forever.
    #[derive(Debug)]
    struct StuckBackend;

    fn unused<T>() -> Result<T, StoreError> {
        Err(StoreError::Config("not used by an export".into()))
    }

    #[async_trait]
    impl StoreBackend for StuckBackend {
        fn kind(&self) -> &'static str {
            "stuck"
        }
        async fn put_many(&self, _: Vec<ItemWrite>, _: f64) -> Result<Vec<Item>, StoreError> {
            unused()
        }
        async fn get_many(&self, _: &[ItemKey], _: f64, _: bool) -> Result<Vec<Option<Item>>, StoreError> {
            unused()
        }
        async fn delete_many(&self, _: &[ItemKey], _: f64) -> Result<Vec<bool>, StoreError> {
            unused()
        }
        async fn scan(&self, _: &ScanQuery) -> Result<Vec<Item>, StoreError> {
            unused()
        }
        async fn vector_search(&self, _: &VectorQuery) -> Result<Vec<ScoredItem>, StoreError> {
            unused()
        }
        async fn keyword_search(&self, _: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError> {
            unused()
        }
        async fn list_namespaces(&self, _: &NamespaceQuery) -> Result<Vec<Namespace>, StoreError> {
            unused()
        }
        async fn count(&self, _: &Scope, _: f64) -> Result<u64, StoreError> {
            Ok(1)
        }
        async fn delete_scope(&self, _: &Scope, _: f64) -> Result<u64, StoreError> {
            unused()
        }
        async fn purge_expired(&self, _: f64) -> Result<u64, StoreError> {
            unused()
        }
        async fn export_items(&self, query: &ExportQuery) -> Result<Vec<ExportedItem>, StoreError> {
            let item = Item {
                namespace: Namespace::new(["a"])?,
                key: "k".into(),
                value: Map::new(),
                created_at: 1.0,
                updated_at: 1.0,
                expires_at: None,
                ttl_seconds: None,
            };
            Ok(vec![
                ExportedItem { item, vector: None, index: ItemIndex::StoreDefault, text: String::new() };
                query.limit
            ])
        }
    }

    #[tokio::test]
    async fn a_backend_that_repeats_an_address_stops_the_export() {
        let store = MemoryStore::new(Arc::new(StuckBackend), StoreOptions::default()).without_embedder();
        let mut out = Vec::new();
        let options = ExportOptions::default().page_sizes(1, 1);
        let error = export_dump_with(&store, None, &mut out, &options, &|_, _| {}).await.expect_err("stopped");
        assert_eq!(
            error.to_string(),
            "stuck backend: export_items returned [\"a\"] \"k\" out of address order or out of scope: \
             the export stops"
        );
        assert_eq!(String::from_utf8(out).expect("utf-8").lines().count(), 2, "the header and the item once");
    }
}
