//! [`PostgresSessions`]: sessions in PostgreSQL, in the memory store's schema and pool.
//!
//! Tables `session_threads(session_id, message_count, created_at, updated_at)` and
//! `session_messages(session_id, seq, message)` live in the schema of the
//! [`PostgresBackend`] they are built from, and every call goes through that backend's pool
//! and its retry-once-on-a-lost-connection rule. `message` is the message's JSON text
//! (kept byte for byte); times are Unix seconds. Each write is one transaction; the upsert
//! of the session row locks it, so concurrent appends to one session queue up in order.
//!
//! A write retried after its connection broke may, in the rare case where the server had
//! committed it before the connection broke, be applied twice.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use super::listing::IdRange;
use super::{
    RestoredSession, SessionError, SessionInfo, SessionListQuery, SessionPage, SessionStore, system_time, unix_seconds,
    validate_session_id,
};
use crate::message::Message;
use crate::store::{PostgresBackend, PostgresConfig, StoreError};

/// A [`SessionStore`] in PostgreSQL sharing a [`PostgresBackend`]'s pool and schema. Cheap
/// to clone.
///
/// ```no_run
/// use agent_memory::message::Message;
/// use agent_memory::session::{PostgresSessions, SessionStore};
/// use agent_memory::store::PostgresConfig;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agent_memory::session::SessionError> {
/// let sessions = PostgresSessions::connect(PostgresConfig::new("postgres://postgres@127.0.0.1:55432/app")).await?;
/// sessions.append("thread_123", &[Message::user("Hi, I'm Bob")]).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresSessions {
    backend: Arc<PostgresBackend>,
    threads: Arc<str>,
    messages: Arc<str>,
}

fn backend_error(error: StoreError) -> SessionError {
    SessionError::Backend(error.to_string())
}

impl PostgresSessions {
    /// Sessions in `backend`'s schema, creating their tables if needed.
    ///
    /// # Errors
    ///
    /// [`SessionError::Backend`] when the tables cannot be created.
    pub async fn new(backend: Arc<PostgresBackend>) -> Result<PostgresSessions, SessionError> {
        let schema = backend.quoted_schema().to_owned();
        let threads: Arc<str> = format!("{schema}.session_threads").into();
        let messages: Arc<str> = format!("{schema}.session_messages").into();
        let literal = format!("'{}'", schema.replace('\'', "''"));
        let ddl = format!(
            "BEGIN;
             SELECT pg_advisory_xact_lock(hashtext('agent_memory.sessions:' || {literal}));
             CREATE TABLE IF NOT EXISTS {threads} (
                 session_id TEXT PRIMARY KEY,
                 message_count BIGINT NOT NULL,
                 created_at DOUBLE PRECISION NOT NULL,
                 updated_at DOUBLE PRECISION NOT NULL
             );
             CREATE TABLE IF NOT EXISTS {messages} (
                 session_id TEXT NOT NULL,
                 seq BIGINT NOT NULL,
                 message TEXT NOT NULL,
                 PRIMARY KEY (session_id, seq)
             );
             CREATE INDEX IF NOT EXISTS session_threads_id_bytewise ON {threads} (session_id COLLATE \"C\");
             COMMIT;",
        );
        backend
            .run("create session tables", |client| {
                let ddl = ddl.clone();
                async move { client.batch_execute(&ddl).await }
            })
            .await
            .map_err(backend_error)?;
        Ok(PostgresSessions { backend, threads, messages })
    }

    /// Connects a [`PostgresBackend`] with `config` and keeps sessions in its schema.
    ///
    /// # Errors
    ///
    /// The backend's connection error, or [`PostgresSessions::new`]'s.
    pub async fn connect(config: PostgresConfig) -> Result<PostgresSessions, SessionError> {
        let backend = PostgresBackend::connect(config).await.map_err(backend_error)?;
        PostgresSessions::new(Arc::new(backend)).await
    }

    /// Writes in one transaction: upserts the session row (locking it), optionally clears
    /// its messages, then appends `rows`.
    async fn write(
        &self,
        op: &'static str,
        session_id: &str,
        rows: Vec<String>,
        clear: bool,
    ) -> Result<(), SessionError> {
        validate_session_id(session_id)?;
        let now = unix_seconds(SystemTime::now());
        let (threads, messages) = (self.threads.clone(), self.messages.clone());
        self.backend
            .run(op, |mut client| {
                let (threads, messages, rows, id) = (threads.clone(), messages.clone(), rows.clone(), session_id.to_owned());
                async move {
                    let tx = client.transaction().await?;
                    let row = tx
                        .query_one(
                            &format!(
                                "INSERT INTO {threads} AS t (session_id, message_count, created_at, updated_at)
                                 VALUES ($1, 0, $2, $2)
                                 ON CONFLICT (session_id) DO UPDATE SET updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)
                                 RETURNING message_count"
                            ),
                            &[&id, &now],
                        )
                        .await?;
                    let mut next: i64 = row.get(0);
                    if clear {
                        tx.execute(&format!("DELETE FROM {messages} WHERE session_id = $1"), &[&id]).await?;
                        next = 0;
                    }
                    tx.execute(
                        &format!(
                            "INSERT INTO {messages} (session_id, seq, message)
                             SELECT $1, $2 + t.ord - 1, t.message FROM unnest($3::text[]) WITH ORDINALITY AS t(message, ord)"
                        ),
                        &[&id, &next, &rows],
                    )
                    .await?;
                    let count = next + i64::try_from(rows.len()).unwrap_or(i64::MAX);
                    tx.execute(&format!("UPDATE {threads} SET message_count = $2 WHERE session_id = $1"), &[&id, &count])
                        .await?;
                    tx.commit().await
                }
            })
            .await
            .map_err(backend_error)
    }
}

/// The condition on `session_id` that selects `range`, its lower bound being parameter
/// `$2` (`''` for none: every id is above it) and its upper bound `$3` (NULL for none).
/// Picked from fixed texts, never built from the bounds, so each shape is one prepared
/// statement that seeks the `session_threads_id_bytewise` index (`COLLATE "C"`: bytewise).
fn range_condition(range: &IdRange) -> &'static str {
    match (range.sql_lower().1, range.upper.is_some()) {
        (false, false) => "session_id COLLATE \"C\" >= $2 AND $3::text IS NULL",
        (true, false) => "session_id COLLATE \"C\" > $2 AND $3::text IS NULL",
        (false, true) => "session_id COLLATE \"C\" >= $2 AND session_id COLLATE \"C\" < $3",
        (true, true) => "session_id COLLATE \"C\" > $2 AND session_id COLLATE \"C\" < $3",
    }
}

impl PostgresSessions {
    /// The sessions of `range`, sorted by id, at most `limit` (`None`: all) of them, in one
    /// statement.
    async fn read_infos(
        &self,
        op: &'static str,
        range: &IdRange,
        limit: Option<i64>,
    ) -> Result<Vec<SessionInfo>, SessionError> {
        let rows = self.query_range(op, self.infos_sql(range), range, limit).await?;
        Ok(rows
            .iter()
            .map(|row| SessionInfo {
                session_id: row.get(0),
                message_count: usize::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                created_at: system_time(row.get(2)),
                updated_at: system_time(row.get(3)),
            })
            .collect())
    }

    /// The statement that reads the sessions of `range` (`$1`: the limit).
    fn infos_sql(&self, range: &IdRange) -> String {
        format!(
            "SELECT session_id, message_count, created_at, updated_at FROM {}
             WHERE {} ORDER BY session_id COLLATE \"C\" LIMIT $1",
            self.threads,
            range_condition(range)
        )
    }

    /// Runs `sql` with the limit and `range`'s bounds as its parameters.
    async fn query_range(
        &self,
        op: &'static str,
        sql: String,
        range: &IdRange,
        limit: Option<i64>,
    ) -> Result<Vec<tokio_postgres::Row>, SessionError> {
        let (lower, _) = range.sql_lower();
        self.backend
            .run(op, |client| {
                let (sql, lower, upper) = (sql.clone(), lower.to_owned(), range.upper.clone());
                async move {
                    let statement = client.prepare_cached(&sql).await?;
                    client.query(&statement, &[&limit, &lower, &upper]).await
                }
            })
            .await
            .map_err(backend_error)
    }

    /// PostgreSQL's plan (`EXPLAIN`) for the statement [`SessionStore::list_page`] runs for
    /// `query`, to check that it seeks the session-id index.
    ///
    /// # Errors
    ///
    /// [`SessionError::Backend`] when the database fails.
    pub async fn explain_list_page(&self, query: &SessionListQuery) -> Result<String, SessionError> {
        let range = query.range();
        let sql = format!("EXPLAIN {}", self.infos_sql(&range));
        let limit = i64::try_from(query.limit() + 1).unwrap_or(i64::MAX);
        let rows = self.query_range("explain list sessions", sql, &range, Some(limit)).await?;
        Ok(rows.iter().map(|row| row.get::<_, String>(0)).collect::<Vec<_>>().join("\n"))
    }
}

fn encode(messages: &[Message]) -> Result<Vec<String>, SessionError> {
    messages.iter().map(|m| serde_json::to_string(m).map_err(|e| SessionError::Backend(e.to_string()))).collect()
}

#[async_trait]
impl SessionStore for PostgresSessions {
    async fn append(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError> {
        self.write("append to session", session_id, encode(messages)?, false).await
    }

    async fn load(&self, session_id: &str) -> Result<Vec<Message>, SessionError> {
        validate_session_id(session_id)?;
        let sql = format!("SELECT message FROM {} WHERE session_id = $1 ORDER BY seq", self.messages);
        let rows = self
            .backend
            .run("load session", |client| {
                let (sql, id) = (sql.clone(), session_id.to_owned());
                async move { client.query(&sql, &[&id]).await }
            })
            .await
            .map_err(backend_error)?;
        rows.iter()
            .map(|row| {
                serde_json::from_str(row.get::<_, &str>(0)).map_err(|e| {
                    SessionError::Backend(format!("postgres: unreadable message in session {session_id:?}: {e}"))
                })
            })
            .collect()
    }

    async fn replace(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError> {
        self.write("replace session", session_id, encode(messages)?, true).await
    }

    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
        // PostgreSQL reads LIMIT NULL as none.
        self.read_infos("list sessions", &IdRange::after(None), None).await
    }

    async fn list_page(&self, query: &SessionListQuery) -> Result<SessionPage, SessionError> {
        let limit = i64::try_from(query.limit() + 1).unwrap_or(i64::MAX);
        let rows = self.read_infos("list sessions", &query.range(), Some(limit)).await?;
        Ok(SessionPage::from_rows(rows, query.limit()))
    }

    async fn delete(&self, session_id: &str) -> Result<bool, SessionError> {
        validate_session_id(session_id)?;
        let (threads, messages) = (self.threads.clone(), self.messages.clone());
        self.backend
            .run("delete session", |mut client| {
                let (threads, messages, id) = (threads.clone(), messages.clone(), session_id.to_owned());
                async move {
                    let tx = client.transaction().await?;
                    tx.execute(&format!("DELETE FROM {messages} WHERE session_id = $1"), &[&id]).await?;
                    let existed = tx.execute(&format!("DELETE FROM {threads} WHERE session_id = $1"), &[&id]).await?;
                    tx.commit().await?;
                    Ok(existed > 0)
                }
            })
            .await
            .map_err(backend_error)
    }

    async fn export_sessions(&self, after: Option<&str>, limit: usize) -> Result<Vec<RestoredSession>, SessionError> {
        if let Some(after) = after {
            validate_session_id(after)?;
        }
        // One statement (one snapshot): the page of sessions in bytewise id order (the
        // `session_threads_id_bytewise` index), then each one's messages by primary key
        // (LATERAL, so that the planner never hashes the whole messages table for a page).
        let range = IdRange::after(after);
        let sql = format!(
            "SELECT t.session_id, t.created_at, t.updated_at, m.message
             FROM (SELECT session_id, created_at, updated_at FROM {threads}
                   WHERE {condition} ORDER BY session_id COLLATE \"C\" LIMIT $1) AS t
             LEFT JOIN LATERAL (SELECT seq, message FROM {messages} AS m
                                WHERE m.session_id = t.session_id ORDER BY seq) AS m ON true
             ORDER BY t.session_id COLLATE \"C\", m.seq",
            threads = self.threads,
            messages = self.messages,
            condition = range_condition(&range),
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (lower, _) = range.sql_lower();
        let rows = self
            .backend
            .run("export sessions", |client| {
                let (sql, lower, upper) = (sql.clone(), lower.to_owned(), range.upper.clone());
                async move {
                    let statement = client.prepare_cached(&sql).await?;
                    client.query(&statement, &[&limit, &lower, &upper]).await
                }
            })
            .await
            .map_err(backend_error)?;
        let mut page: Vec<RestoredSession> = Vec::new();
        for row in &rows {
            let id: &str = row.get(0);
            if page.last().is_none_or(|session| session.session_id != id) {
                page.push(RestoredSession {
                    session_id: id.to_owned(),
                    messages: Vec::new(),
                    created_at: system_time(row.get(1)),
                    updated_at: system_time(row.get(2)),
                });
            }
            if let (Some(text), Some(session)) = (row.get::<_, Option<&str>>(3), page.last_mut()) {
                let message = serde_json::from_str(text).map_err(|e| {
                    SessionError::Backend(format!("postgres: unreadable message in session {id:?}: {e}"))
                })?;
                session.messages.push(message);
            }
        }
        Ok(page)
    }

    async fn restore(&self, sessions: &[RestoredSession]) -> Result<(), SessionError> {
        // A later session of the same id wins.
        let mut last = std::collections::HashMap::new();
        for (position, session) in sessions.iter().enumerate() {
            validate_session_id(&session.session_id)?;
            last.insert(session.session_id.as_str(), position);
        }
        // Parallel arrays: one element per session, then one per message.
        let (mut ids, mut created, mut updated, mut counts) = (vec![], vec![], vec![], vec![]);
        let (mut message_ids, mut seqs, mut texts) = (vec![], vec![], vec![]);
        for (position, session) in sessions.iter().enumerate() {
            if last.get(session.session_id.as_str()) != Some(&position) {
                continue;
            }
            let encoded = encode(&session.messages)?;
            ids.push(session.session_id.clone());
            created.push(unix_seconds(session.created_at));
            updated.push(unix_seconds(session.updated_at));
            counts.push(i64::try_from(encoded.len()).unwrap_or(i64::MAX));
            for (seq, text) in (0_i64..).zip(encoded) {
                message_ids.push(session.session_id.clone());
                seqs.push(seq);
                texts.push(text);
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        let (threads, messages) = (self.threads.clone(), self.messages.clone());
        self.backend
            .run("restore sessions", |mut client| {
                let (threads, messages) = (threads.clone(), messages.clone());
                let (ids, created, updated, counts) = (ids.clone(), created.clone(), updated.clone(), counts.clone());
                let (message_ids, seqs, texts) = (message_ids.clone(), seqs.clone(), texts.clone());
                async move {
                    let tx = client.transaction().await?;
                    tx.execute(&format!("DELETE FROM {messages} WHERE session_id = ANY($1)"), &[&ids]).await?;
                    tx.execute(
                        &format!(
                            "INSERT INTO {threads} (session_id, message_count, created_at, updated_at)
                             SELECT * FROM unnest($1::text[], $2::int8[], $3::float8[], $4::float8[])
                             ON CONFLICT (session_id) DO UPDATE SET message_count = EXCLUDED.message_count,
                                 created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at"
                        ),
                        &[&ids, &counts, &created, &updated],
                    )
                    .await?;
                    tx.execute(
                        &format!(
                            "INSERT INTO {messages} (session_id, seq, message)
                             SELECT * FROM unnest($1::text[], $2::int8[], $3::text[])"
                        ),
                        &[&message_ids, &seqs, &texts],
                    )
                    .await?;
                    tx.commit().await
                }
            })
            .await
            .map_err(backend_error)
    }
}
