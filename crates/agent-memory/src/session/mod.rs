//! Sessions: conversation threads keyed by `session_id` (the seed's "Session" side of
//! "Session vs Memory").
//!
//! [`SessionStore`] is the seam an [`Agent`](crate::agent::Agent) keeps its history in;
//! [`InMemorySessions`] is the in-process implementation. A session holds the messages of
//! one thread in order (the agent's system prompt is not stored; it is added at each run).
//!
//! ```
//! use agent_memory::message::Message;
//! use agent_memory::session::{InMemorySessions, SessionStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), agent_memory::session::SessionError> {
//! let sessions = InMemorySessions::new();
//! sessions.append("thread_123", &[Message::user("Hi, I'm Bob"), Message::assistant("Hi Bob!")]).await?;
//! assert_eq!(sessions.load("thread_123").await?.len(), 2);
//! assert_eq!(sessions.load("thread_456").await?, vec![]);
//! assert_eq!(sessions.list().await?[0].message_count, 2);
//! assert!(sessions.delete("thread_123").await?);
//! # Ok(())
//! # }
//! ```

mod listing;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::message::Message;

pub use listing::{MAX_SESSION_PAGE, SessionListQuery, SessionPage};
pub use memory::InMemorySessions;
#[cfg(feature = "postgres")]
pub use postgres::PostgresSessions;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSessions;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session id is empty, too long or holds control characters.
    #[error("invalid session id {id:?}: {reason}")]
    InvalidId {
        /// The rejected id.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The session store URL or configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// The storage backend failed.
    #[error("session storage failed: {0}")]
    Backend(String),
    /// A listing query out of bounds: a limit of 0 or over [`MAX_SESSION_PAGE`], a prefix
    /// no id can start with.
    #[error("invalid session listing: {0}")]
    InvalidQuery(String),
    /// This session store does not implement the operation (a provided method's default).
    #[error("this session store cannot {0}")]
    Unsupported(&'static str),
}

/// The longest session id accepted, in bytes.
pub const MAX_SESSION_ID_BYTES: usize = 256;

/// Checks a session id: 1 to [`MAX_SESSION_ID_BYTES`] bytes, no control characters.
///
/// ```
/// use agent_memory::session::validate_session_id;
/// assert!(validate_session_id("thread_123").is_ok());
/// assert_eq!(validate_session_id("").unwrap_err().to_string(), "invalid session id \"\": it is empty");
/// ```
pub fn validate_session_id(id: &str) -> Result<(), SessionError> {
    let reason = if id.is_empty() {
        "it is empty"
    } else if id.len() > MAX_SESSION_ID_BYTES {
        "it is longer than 256 bytes"
    } else if id.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(SessionError::InvalidId { id: id.to_owned(), reason })
}

/// Opens a session store by URL, with the rules of
/// [`MemoryStore::open`](crate::store::MemoryStore::open): `memory:`, `sqlite:PATH` (or a
/// bare path), `postgres://…` (with an optional `?schema=NAME`). The same URL as a memory store gives the same database file, with separate
/// tables.
///
/// ```
/// use agent_memory::message::Message;
/// use agent_memory::session::open_sessions;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agent_memory::session::SessionError> {
/// let sessions = open_sessions("memory:").await?;
/// sessions.append("s", &[Message::user("hi")]).await?;
/// assert_eq!(sessions.load("s").await?.len(), 1);
/// assert!(open_sessions("ftp://nowhere").await.is_err());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`SessionError::Config`] for an unsupported URL, or the backend's open error.
pub async fn open_sessions(url: &str) -> Result<std::sync::Arc<dyn SessionStore>, SessionError> {
    if url == "memory" || url == "memory:" {
        return Ok(std::sync::Arc::new(InMemorySessions::new()));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (url, schema) = crate::store::postgres::split_schema_parameter(url);
        let mut config = crate::store::PostgresConfig::new(url);
        if let Some(schema) = schema {
            config = config.schema(schema);
        }
        return Ok(std::sync::Arc::new(PostgresSessions::connect(config).await?));
    }
    #[cfg(feature = "sqlite")]
    if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        if path.is_empty() {
            return Err(SessionError::Config("sqlite: needs a file path, e.g. sqlite:./agent-memory.db".into()));
        }
        return Ok(std::sync::Arc::new(SqliteSessions::open(std::path::Path::new(path)).await?));
    }
    #[cfg(feature = "sqlite")]
    if !url.contains("://") {
        return Ok(std::sync::Arc::new(SqliteSessions::open(std::path::Path::new(url)).await?));
    }
    let supported = [
        Some("memory:"),
        cfg!(feature = "sqlite").then_some("sqlite:PATH"),
        cfg!(feature = "postgres").then_some("postgres://…"),
    ];
    let supported: Vec<&str> = supported.into_iter().flatten().collect();
    Err(SessionError::Config(format!(
        "unsupported session store url {url:?} (this build supports {})",
        supported.join(", ")
    )))
}

/// `time` as Unix seconds (0 before the epoch), as the SQL backends and dumps keep times.
pub(crate) fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The inverse of [`unix_seconds`] (the epoch for anything negative or not finite).
pub(crate) fn system_time(seconds: f64) -> SystemTime {
    UNIX_EPOCH + Duration::try_from_secs_f64(seconds).unwrap_or_default()
}

/// What [`SessionStore::list`] says about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's id.
    pub session_id: String,
    /// How many messages it holds.
    pub message_count: usize,
    /// When its first messages were stored.
    pub created_at: SystemTime,
    /// When it last changed.
    pub updated_at: SystemTime,
}

/// A session to write exactly as given, as [`SessionStore::restore`] takes it (an import
/// restores what an export read).
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredSession {
    /// The session's id.
    pub session_id: String,
    /// Its messages, in order.
    pub messages: Vec<Message>,
    /// When it was created, kept as given.
    pub created_at: SystemTime,
    /// When it last changed, kept as given.
    pub updated_at: SystemTime,
}

/// Storage for conversation threads keyed by session id.
///
/// Contract (checked by the conformance tests for every backend): an unknown session
/// loads as empty; `append` keeps order across calls; `replace` with an empty list leaves
/// an empty session; `list` and `list_page` are sorted by session id (bytewise) and show
/// only sessions that exist; `delete` returns whether the session existed; ids are checked
/// with [`validate_session_id`].
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Adds `messages` to the end of the session, creating it if needed.
    async fn append(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError>;

    /// The session's messages in order; empty for an unknown session.
    async fn load(&self, session_id: &str) -> Result<Vec<Message>, SessionError>;

    /// Replaces the session's messages (for example with a summarized history), creating
    /// the session if needed.
    async fn replace(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError>;

    /// Every session, sorted by id.
    ///
    /// Its cost grows with the whole store: it reads every session of every user or tenant
    /// sharing it, and holds them all in one answer. Page with [`SessionStore::list_page`]
    /// instead wherever the store may be large or shared.
    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError>;

    /// One page of the sessions whose id starts with [`SessionListQuery::prefix`] and
    /// comes after [`SessionListQuery::after`] (both bytewise), sorted by id: the first
    /// [`SessionListQuery::limit`] of them, and [`SessionPage::next_after`] (the page's
    /// last id) when more matched as the page was read. Starting from no cursor and
    /// continuing after each page's `next_after` until it is `None` lists every matching
    /// session.
    ///
    /// The stores of this crate read a page in one snapshot (one statement or one lock
    /// hold) as one range of an index of session ids (from the prefix, or the cursor when
    /// it lies further on, to the prefix's successor), so a page costs what it returns
    /// however many other sessions the store holds. Across pages, with writers at work
    /// (as [`SessionStore::export_sessions`]): a session that exists from the first page to
    /// the last is listed exactly once; one created or deleted meanwhile may or may not be.
    ///
    /// The default is built on [`SessionStore::list`]: it reads every session for each
    /// page. Stores that can seek an id range should override it.
    ///
    /// ```
    /// use agent_memory::message::Message;
    /// use agent_memory::session::{InMemorySessions, SessionListQuery, SessionStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agent_memory::session::SessionError> {
    /// let sessions = InMemorySessions::new();
    /// for id in ["bob/1", "bob/2", "bobby/1"] {
    ///     sessions.append(id, &[Message::user("hi")]).await?;
    /// }
    /// let page = sessions.list_page(&SessionListQuery::new(1)?.with_prefix("bob/")?).await?;
    /// assert_eq!(page.sessions[0].session_id, "bob/1");
    /// assert_eq!(page.next_after.as_deref(), Some("bob/1"));
    /// let query = SessionListQuery::new(1)?.with_prefix("bob/")?.with_after("bob/1")?;
    /// let page = sessions.list_page(&query).await?;
    /// assert_eq!((page.sessions[0].session_id.as_str(), page.next_after), ("bob/2", None));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The store's errors (the query was checked when it was built).
    async fn list_page(&self, query: &SessionListQuery) -> Result<SessionPage, SessionError> {
        let range = query.range();
        let rows = self
            .list()
            .await?
            .into_iter()
            .filter(|info| range.contains(&info.session_id))
            .take(query.limit() + 1)
            .collect();
        Ok(SessionPage::from_rows(rows, query.limit()))
    }

    /// Deletes a session; returns whether it existed.
    async fn delete(&self, session_id: &str) -> Result<bool, SessionError>;

    /// Writes `sessions` exactly as given, messages and times included, in one
    /// transaction, each replacing any session of the same id (a later one of the same id
    /// wins). For a restore ([`crate::transfer`]): afterwards [`SessionStore::list`] reports
    /// the given `created_at` and `updated_at` (to the microsecond on the SQL backends,
    /// which keep Unix seconds as a double) and [`SessionStore::load`] the given messages.
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidId`] for an invalid id (nothing is written); the default
    /// answers [`SessionError::Unsupported`].
    async fn restore(&self, sessions: &[RestoredSession]) -> Result<(), SessionError> {
        let _ = sessions;
        Err(SessionError::Unsupported("restore sessions with their times"))
    }

    /// One page of a dump ([`crate::transfer`]): the first `limit` sessions (≥ 1) whose id
    /// comes after `after` (bytewise; `None`: from the first), sorted by id, each with its
    /// messages and times, in the shape [`SessionStore::restore`] takes back. A page
    /// shorter than `limit` is the last one.
    ///
    /// The stores of this crate read a page in one snapshot (one statement or one lock
    /// hold) by keyset on an index of session ids, so an export holds one page of sessions
    /// at a time. Across pages, with writers at work: a session that exists from the first
    /// page to the last is returned exactly once, as it was when its page was read; one
    /// created or deleted during the export may or may not be returned.
    ///
    /// The default is built on [`SessionStore::list`] and [`SessionStore::load`]: it holds
    /// the list of every session while it reads a page, and a session that changes between
    /// the two calls is read as it is at `load` (its `message_count` is not used).
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidId`] when `after` is not a valid id; the store's errors.
    async fn export_sessions(&self, after: Option<&str>, limit: usize) -> Result<Vec<RestoredSession>, SessionError> {
        if let Some(after) = after {
            validate_session_id(after)?;
        }
        let range = listing::IdRange::after(after);
        let infos = self.list().await?;
        let mut page = Vec::new();
        for info in infos.into_iter().filter(|info| range.contains(&info.session_id)) {
            if page.len() == limit {
                break;
            }
            let messages = self.load(&info.session_id).await?;
            page.push(RestoredSession {
                session_id: info.session_id,
                messages,
                created_at: info.created_at,
                updated_at: info.updated_at,
            });
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_unix_seconds() {
        let time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let back = system_time(unix_seconds(time));
        let drift = back.duration_since(time).unwrap_or_else(|e| e.duration());
        assert!(drift < Duration::from_micros(1), "{drift:?}");
        assert_eq!(system_time(-1.0), UNIX_EPOCH);
        assert_eq!(system_time(f64::NAN), UNIX_EPOCH);
    }

    /// A store with only the required methods: its `export_sessions` is the default one.
    struct Minimal(InMemorySessions);

    #[async_trait]
    impl SessionStore for Minimal {
        async fn append(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError> {
            self.0.append(session_id, messages).await
        }
        async fn load(&self, session_id: &str) -> Result<Vec<Message>, SessionError> {
            self.0.load(session_id).await
        }
        async fn replace(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError> {
            self.0.replace(session_id, messages).await
        }
        async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
            self.0.list().await
        }
        async fn delete(&self, session_id: &str) -> Result<bool, SessionError> {
            self.0.delete(session_id).await
        }
    }

    #[tokio::test]
    async fn the_default_export_pages_through_list_and_load() {
        let store = Minimal(InMemorySessions::new());
        for id in ["c", "a", "b"] {
            store.append(id, &[Message::user(id)]).await.expect("valid");
        }
        let page = |after: Option<&'static str>, limit| {
            let store = &store;
            async move {
                let page = store.export_sessions(after, limit).await.expect("readable");
                page.into_iter().map(|s| (s.session_id, s.messages)).collect::<Vec<_>>()
            }
        };
        let session = |id: &str| (id.to_owned(), vec![Message::user(id)]);
        assert_eq!(page(None, 2).await, [session("a"), session("b")]);
        assert_eq!(page(Some("b"), 2).await, [session("c")]);
        assert_eq!(page(Some("a0"), 1).await, [session("b")]);
        let listed = store.list().await.expect("readable");
        let exported = store.export_sessions(None, 10).await.expect("readable");
        let times: Vec<_> = exported.iter().map(|s| (s.created_at, s.updated_at)).collect();
        assert_eq!(times, listed.iter().map(|i| (i.created_at, i.updated_at)).collect::<Vec<_>>());
        assert!(matches!(store.export_sessions(Some(""), 1).await, Err(SessionError::InvalidId { .. })));
    }

    #[tokio::test]
    async fn the_default_listing_pages_through_list_by_prefix() {
        let store = Minimal(InMemorySessions::new());
        for id in ["acme/b", "acme", "acme-eu/a", "acme/a", "acme/c", "acme0"] {
            store.append(id, &[Message::user(id)]).await.expect("valid");
        }
        let ids = |page: &SessionPage| page.sessions.iter().map(|s| s.session_id.clone()).collect::<Vec<_>>();
        let query = SessionListQuery::new(2).expect("valid").with_prefix("acme/").expect("valid");
        let first = store.list_page(&query).await.expect("readable");
        assert_eq!(
            (ids(&first), first.next_after.as_deref()),
            (vec!["acme/a".to_owned(), "acme/b".to_owned()], Some("acme/b"))
        );
        let second = store.list_page(&query.clone().with_after("acme/b").expect("valid")).await.expect("readable");
        assert_eq!((ids(&second), second.next_after), (vec!["acme/c".to_owned()], None));
        let before = store.list_page(&query.clone().with_after("a").expect("valid")).await.expect("readable");
        assert_eq!(ids(&before), ["acme/a", "acme/b"], "a cursor before the prefix starts at the prefix");
        let past = store.list_page(&query.with_after("acme0").expect("valid")).await.expect("readable");
        assert_eq!(past, SessionPage { sessions: vec![], next_after: None });
        assert_eq!(
            store.list_page(&SessionListQuery::new(10).expect("valid")).await.expect("readable").sessions.len(),
            6
        );
    }

    #[test]
    fn unix_seconds_survive_a_trip_through_system_time_bit_for_bit() {
        // What a dump holds comes back unchanged after a store keeps it as a SystemTime.
        let mut seconds = 1_700_000_000.0_f64;
        for step in 0..10_000 {
            seconds += 0.000_123_457 * f64::from(step % 97) + 0.1;
            assert_eq!(unix_seconds(system_time(seconds)).to_bits(), seconds.to_bits(), "{seconds}");
        }
    }
}
