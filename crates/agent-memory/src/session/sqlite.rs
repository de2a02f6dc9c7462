//! [`SqliteSessions`]: sessions in a SQLite file, beside the memory store's tables.
//!
//! # Schema
//!
//! * `session_threads(session_id, message_count, created_at, updated_at)`: one row per
//!   session (times are Unix seconds as REAL).
//! * `session_messages(session_id, seq, message)`: one row per message, `message` being its
//!   JSON form ([`Message`]'s `Serialize`), `seq` its position from 0.
//!
//! The file may be the one a [`SqliteBackend`](crate::store::SqliteBackend) uses: the
//! tables do not overlap, and connections are opened the same way (WAL,
//! `synchronous = NORMAL`, a 10 s busy timeout). Writes run in `BEGIN IMMEDIATE`
//! transactions on one writer connection; reads use a small pool of reader connections.
//! All database work runs on Tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior, params};

use super::listing::IdRange;
use super::{
    RestoredSession, SessionError, SessionInfo, SessionListQuery, SessionPage, SessionStore, system_time, unix_seconds,
    validate_session_id,
};
use crate::message::Message;
use crate::store::checkpoint::{BACKSTOP_CHECKPOINT_PAGES, Checkpointer};
use crate::store::sqlite::open_connection;

const MAX_IDLE_READERS: usize = 4;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS session_threads (
    session_id TEXT PRIMARY KEY,
    message_count INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS session_messages (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
"#;

/// A [`SessionStore`] in one SQLite file (see the module documentation). Cheap to clone;
/// clones share the connections.
///
/// ```
/// use agent_memory::message::Message;
/// use agent_memory::session::{SessionStore, SqliteSessions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agent_memory::session::SessionError> {
/// let dir = tempfile::tempdir().expect("temporary directory");
/// let path = dir.path().join("memory.db");
/// let sessions = SqliteSessions::open(&path).await?;
/// sessions.append("thread_123", &[Message::user("Hi, I'm Bob")]).await?;
/// drop(sessions);
/// let reopened = SqliteSessions::open(&path).await?;
/// assert_eq!(reopened.load("thread_123").await?, vec![Message::user("Hi, I'm Bob")]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteSessions {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Arc<tokio::sync::Mutex<Connection>>,
    /// Checkpoints the WAL after writes, beside them (`None`: the writer does).
    checkpointer: Option<Checkpointer>,
    readers: Mutex<Vec<Connection>>,
}

fn backend(error: impl std::fmt::Display) -> SessionError {
    SessionError::Backend(format!("sqlite: {error}"))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a transaction rolls it back when the transaction guard drops.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SqliteSessions {
    /// Opens (creating if needed) the database at `path` and its session tables.
    ///
    /// # Errors
    ///
    /// [`SessionError::Backend`] when the file cannot be opened or is not a database.
    pub async fn open(path: &Path) -> Result<SqliteSessions, SessionError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let writer = open_connection(&path).map_err(|e| backend(format!("cannot open {}: {e}", path.display())))?;
            writer.execute_batch(SCHEMA).map_err(backend)?;
            let checkpointer = Checkpointer::start(&path, open_connection);
            if checkpointer.is_some() {
                writer.pragma_update(None, "wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES).map_err(backend)?;
            }
            Ok(SqliteSessions {
                inner: Arc::new(Inner {
                    path,
                    writer: Arc::new(tokio::sync::Mutex::new(writer)),
                    checkpointer,
                    readers: Mutex::new(Vec::new()),
                }),
            })
        })
        .await
        .map_err(|e| backend(format!("open task failed: {e}")))?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn write<T, F>(&self, work: F) -> Result<T, SessionError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        // Writers queue as tasks, in arrival order (see the store's `SqliteBackend::write`).
        let mut connection = self.inner.writer.clone().lock_owned().await;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let result = work(&tx).map_err(backend)?;
            tx.commit().map_err(backend)?;
            if let Some(checkpointer) = &inner.checkpointer {
                checkpointer.wrote();
            }
            Ok(result)
        })
        .await
        .map_err(|e| backend(format!("database task failed: {e}")))?
    }

    async fn read<T, F>(&self, work: F) -> Result<T, SessionError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, SessionError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let idle = lock(&inner.readers).pop();
            let connection = match idle {
                Some(connection) => connection,
                None => open_connection(&inner.path).map_err(backend)?,
            };
            let result = work(&connection);
            let mut readers = lock(&inner.readers);
            if readers.len() < MAX_IDLE_READERS {
                readers.push(connection);
            }
            result
        })
        .await
        .map_err(|e| backend(format!("database task failed: {e}")))?
    }
}

fn encode(messages: &[Message]) -> Result<Vec<String>, SessionError> {
    messages.iter().map(|m| serde_json::to_string(m).map_err(backend)).collect()
}

/// Creates the session row if needed and marks it updated; returns the next `seq`.
fn touch(tx: &rusqlite::Transaction<'_>, session_id: &str, now: f64) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO session_threads (session_id, message_count, created_at, updated_at) VALUES (?1, 0, ?2, ?2)
         ON CONFLICT (session_id) DO UPDATE SET updated_at = max(updated_at, excluded.updated_at)",
        params![session_id, now],
    )?;
    tx.query_row("SELECT message_count FROM session_threads WHERE session_id = ?1", [session_id], |row| row.get(0))
}

fn insert_from(
    tx: &rusqlite::Transaction<'_>,
    session_id: &str,
    first_seq: i64,
    rows: &[String],
) -> rusqlite::Result<()> {
    let mut insert =
        tx.prepare_cached("INSERT INTO session_messages (session_id, seq, message) VALUES (?1, ?2, ?3)")?;
    for (seq, row) in (first_seq..).zip(rows) {
        insert.execute(params![session_id, seq, row])?;
    }
    tx.execute(
        "UPDATE session_threads SET message_count = ?2 WHERE session_id = ?1",
        params![session_id, first_seq + rows.len() as i64],
    )?;
    Ok(())
}

/// `limit` as SQLite's LIMIT takes it.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The condition on `session_id` that selects `range`, its lower bound being parameter
/// `?2` (`""` for none: every id is above it) and its upper bound `?3` (NULL for none).
/// Picked from fixed texts, never built from the bounds, so each shape is one cached
/// statement that seeks the primary-key index (bytewise: SQLite's BINARY collation).
fn range_condition(range: &IdRange) -> &'static str {
    match (range.sql_lower().1, range.upper.is_some()) {
        (false, false) => "session_id >= ?2 AND ?3 IS NULL",
        (true, false) => "session_id > ?2 AND ?3 IS NULL",
        (false, true) => "session_id >= ?2 AND session_id < ?3",
        (true, true) => "session_id > ?2 AND session_id < ?3",
    }
}

/// The sessions of `range`, sorted by id, at most `limit` (negative: all) of them, in one
/// statement.
fn read_infos(connection: &Connection, range: &IdRange, limit: i64) -> Result<Vec<SessionInfo>, SessionError> {
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT session_id, message_count, created_at, updated_at FROM session_threads
             WHERE {} ORDER BY session_id LIMIT ?1",
            range_condition(range)
        ))
        .map_err(backend)?;
    let (lower, _) = range.sql_lower();
    let rows = select
        .query_map(params![limit, lower, range.upper], |row| {
            Ok(SessionInfo {
                session_id: row.get(0)?,
                message_count: usize::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                created_at: system_time(row.get(2)?),
                updated_at: system_time(row.get(3)?),
            })
        })
        .map_err(backend)?;
    rows.map(|row| row.map_err(backend)).collect()
}

#[async_trait]
impl SessionStore for SqliteSessions {
    async fn append(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError> {
        validate_session_id(session_id)?;
        let (id, rows, now) = (session_id.to_owned(), encode(messages)?, unix_seconds(SystemTime::now()));
        self.write(move |tx| {
            let next = touch(tx, &id, now)?;
            insert_from(tx, &id, next, &rows)
        })
        .await
    }

    async fn load(&self, session_id: &str) -> Result<Vec<Message>, SessionError> {
        validate_session_id(session_id)?;
        let id = session_id.to_owned();
        self.read(move |connection| {
            let mut select = connection
                .prepare_cached("SELECT message FROM session_messages WHERE session_id = ?1 ORDER BY seq")
                .map_err(backend)?;
            let rows = select.query_map([&id], |row| row.get::<_, String>(0)).map_err(backend)?;
            rows.map(|row| {
                let text = row.map_err(backend)?;
                serde_json::from_str(&text).map_err(|e| backend(format!("unreadable message in session {id:?}: {e}")))
            })
            .collect()
        })
        .await
    }

    async fn replace(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError> {
        validate_session_id(session_id)?;
        let (id, rows, now) = (session_id.to_owned(), encode(messages)?, unix_seconds(SystemTime::now()));
        self.write(move |tx| {
            touch(tx, &id, now)?;
            tx.execute("DELETE FROM session_messages WHERE session_id = ?1", [&id])?;
            insert_from(tx, &id, 0, &rows)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
        // SQLite reads a negative LIMIT as none.
        self.read(|connection| read_infos(connection, &IdRange::after(None), -1)).await
    }

    async fn list_page(&self, query: &SessionListQuery) -> Result<SessionPage, SessionError> {
        let (range, limit) = (query.range(), query.limit());
        let rows = self.read(move |connection| read_infos(connection, &range, sql_limit(limit + 1))).await?;
        Ok(SessionPage::from_rows(rows, limit))
    }

    async fn delete(&self, session_id: &str) -> Result<bool, SessionError> {
        validate_session_id(session_id)?;
        let id = session_id.to_owned();
        self.write(move |tx| {
            tx.execute("DELETE FROM session_messages WHERE session_id = ?1", [&id])?;
            let existed = tx.execute("DELETE FROM session_threads WHERE session_id = ?1", [&id])?;
            Ok(existed > 0)
        })
        .await
    }

    async fn export_sessions(&self, after: Option<&str>, limit: usize) -> Result<Vec<RestoredSession>, SessionError> {
        if let Some(after) = after {
            validate_session_id(after)?;
        }
        let range = IdRange::after(after);
        let limit = sql_limit(limit);
        self.read(move |connection| {
            // One statement (one snapshot): the page of sessions by primary key, then each
            // one's messages by theirs.
            let mut select = connection
                .prepare_cached(&format!(
                    "SELECT t.session_id, t.created_at, t.updated_at, m.message
                     FROM (SELECT session_id, created_at, updated_at FROM session_threads
                           WHERE {} ORDER BY session_id LIMIT ?1) AS t
                     LEFT JOIN session_messages AS m ON m.session_id = t.session_id
                     ORDER BY t.session_id, m.seq",
                    range_condition(&range)
                ))
                .map_err(backend)?;
            let (lower, _) = range.sql_lower();
            let mut rows = select.query(params![limit, lower, range.upper]).map_err(backend)?;
            let mut page: Vec<RestoredSession> = Vec::new();
            while let Some(row) = rows.next().map_err(backend)? {
                let id: String = row.get(0).map_err(backend)?;
                if page.last().is_none_or(|session| session.session_id != id) {
                    page.push(RestoredSession {
                        session_id: id.clone(),
                        messages: Vec::new(),
                        created_at: system_time(row.get(1).map_err(backend)?),
                        updated_at: system_time(row.get(2).map_err(backend)?),
                    });
                }
                if let (Some(text), Some(session)) =
                    (row.get::<_, Option<String>>(3).map_err(backend)?, page.last_mut())
                {
                    let message = serde_json::from_str(&text)
                        .map_err(|e| backend(format!("unreadable message in session {id:?}: {e}")))?;
                    session.messages.push(message);
                }
            }
            Ok(page)
        })
        .await
    }

    async fn restore(&self, sessions: &[RestoredSession]) -> Result<(), SessionError> {
        let mut rows = Vec::with_capacity(sessions.len());
        for session in sessions {
            validate_session_id(&session.session_id)?;
            rows.push((
                session.session_id.clone(),
                encode(&session.messages)?,
                unix_seconds(session.created_at),
                unix_seconds(session.updated_at),
            ));
        }
        self.write(move |tx| {
            for (id, messages, created_at, updated_at) in &rows {
                tx.execute("DELETE FROM session_messages WHERE session_id = ?1", [id])?;
                tx.execute(
                    "INSERT INTO session_threads (session_id, message_count, created_at, updated_at)
                     VALUES (?1, 0, ?2, ?3)
                     ON CONFLICT (session_id) DO UPDATE SET created_at = excluded.created_at,
                         updated_at = excluded.updated_at",
                    params![id, created_at, updated_at],
                )?;
                insert_from(tx, id, 0, messages)?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape of the range condition seeks the session-id index (a `SEARCH`, never a
    /// `SCAN` of the table), and SQLite needs no sort for the order.
    #[test]
    fn every_range_shape_is_an_index_seek() {
        let connection = Connection::open_in_memory().expect("in-memory database");
        connection.execute_batch(SCHEMA).expect("schema");
        for (prefix, after) in [("", None), ("", Some("a")), ("acme/", None), ("acme/", Some("acme/x"))] {
            let range = IdRange::new(prefix, after);
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT session_id, message_count, created_at, updated_at FROM session_threads
                 WHERE {} ORDER BY session_id LIMIT ?1",
                range_condition(&range)
            );
            let (lower, _) = range.sql_lower();
            let mut statement = connection.prepare(&sql).expect("plan");
            let plan: Vec<String> = statement
                .query_map(params![10, lower, range.upper], |row| row.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("plan rows");
            assert_eq!(plan.len(), 1, "{prefix:?} {after:?}: {plan:?}");
            assert!(
                plan[0]
                    .starts_with("SEARCH session_threads USING INDEX sqlite_autoindex_session_threads_1 (session_id>"),
                "{prefix:?} {after:?}: {plan:?}"
            );
        }
    }
}
