//! [`InMemorySessions`]: sessions in a map in process memory.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;

use super::{RestoredSession, SessionError, SessionInfo, SessionStore, validate_session_id};
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
        Ok(self
            .sessions()
            .iter()
            .map(|(id, session)| SessionInfo {
                session_id: id.clone(),
                message_count: session.messages.len(),
                created_at: session.created_at,
                updated_at: session.updated_at,
            })
            .collect())
    }

    async fn delete(&self, session_id: &str) -> Result<bool, SessionError> {
        validate_session_id(session_id)?;
        Ok(self.sessions().remove(session_id).is_some())
    }

    async fn export_sessions(&self, after: Option<&str>, limit: usize) -> Result<Vec<RestoredSession>, SessionError> {
        let start = match after {
            Some(after) => {
                validate_session_id(after)?;
                Bound::Excluded(after)
            }
            None => Bound::Unbounded,
        };
        Ok(self
            .sessions()
            .range::<str, _>((start, Bound::Unbounded))
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
