//! [`InMemorySessions`]: sessions in a map in process memory.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;

use super::listing::IdRange;
use super::{
    RestoredSession, SessionError, SessionInfo, SessionListQuery, SessionPage, SessionStore, validate_session_id,
};
use crate::message::Message;

/// Sessions kept in process memory; lost when the process ends. Safe to share between
/// tasks and threads.
#[derive(Debug, Default)]
pub struct InMemorySessions {
    sessions: Mutex<BTreeMap<String, Session>>,
}

#[derive(Debug)]
struct Session {
    messages: Vec<Message>,
    created_at: SystemTime,
    updated_at: SystemTime,
}

impl Session {
    fn info(&self, session_id: &str) -> SessionInfo {
        SessionInfo {
            session_id: session_id.to_owned(),
            message_count: self.messages.len(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl InMemorySessions {
    /// An empty store.
    pub fn new() -> InMemorySessions {
        InMemorySessions::default()
    }

    fn sessions(&self) -> MutexGuard<'_, BTreeMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, session_id: &str, update: impl FnOnce(&mut Vec<Message>)) -> Result<(), SessionError> {
        validate_session_id(session_id)?;
        let now = SystemTime::now();
        let mut sessions = self.sessions();
        let session = sessions.entry(session_id.to_owned()).or_insert_with(|| Session {
            messages: Vec::new(),
            created_at: now,
            updated_at: now,
        });
        update(&mut session.messages);
        session.updated_at = now;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for InMemorySessions {
    async fn append(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError> {
        self.write(session_id, |stored| stored.extend_from_slice(messages))
    }

    async fn load(&self, session_id: &str) -> Result<Vec<Message>, SessionError> {
        validate_session_id(session_id)?;
        Ok(self.sessions().get(session_id).map(|session| session.messages.clone()).unwrap_or_default())
    }

    async fn replace(&self, session_id: &str, messages: &[Message]) -> Result<(), SessionError> {
        self.write(session_id, |stored| *stored = messages.to_vec())
    }

    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
        Ok(self.sessions().iter().map(|(id, session)| session.info(id)).collect())
    }

    async fn list_page(&self, query: &SessionListQuery) -> Result<SessionPage, SessionError> {
        let range = query.range();
        if range.is_empty() {
            return Ok(SessionPage::from_rows(Vec::new(), query.limit()));
        }
        let rows = self
            .sessions()
            .range::<str, _>(range.bounds())
            .take(query.limit() + 1)
            .map(|(id, session)| session.info(id))
            .collect();
        Ok(SessionPage::from_rows(rows, query.limit()))
    }

    async fn delete(&self, session_id: &str) -> Result<bool, SessionError> {
        validate_session_id(session_id)?;
        Ok(self.sessions().remove(session_id).is_some())
    }

    async fn export_sessions(&self, after: Option<&str>, limit: usize) -> Result<Vec<RestoredSession>, SessionError> {
        if let Some(after) = after {
            validate_session_id(after)?;
        }
        Ok(self
            .sessions()
            .range::<str, _>(IdRange::after(after).bounds())
            .take(limit)
            .map(|(id, session)| RestoredSession {
                session_id: id.clone(),
                messages: session.messages.clone(),
                created_at: session.created_at,
                updated_at: session.updated_at,
            })
            .collect())
    }

    async fn restore(&self, sessions: &[RestoredSession]) -> Result<(), SessionError> {
        for restored in sessions {
            validate_session_id(&restored.session_id)?;
        }
        let mut stored = self.sessions();
        for restored in sessions {
            let session = Session {
                messages: restored.messages.clone(),
                created_at: restored.created_at,
                updated_at: restored.updated_at,
            };
            stored.insert(restored.session_id.clone(), session);
        }
        Ok(())
    }
}
