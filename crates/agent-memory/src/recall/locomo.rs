//! Reading the LoCoMo long-conversation benchmark (Maharana et al., ACL 2024) in the
//! two-file layout of its development split: `conversations.jsonl` and `questions.jsonl`.
//!
//! The data is CC BY-NC 4.0 and is read at run time from a folder the caller names; none
//! of it is part of this crate.
//!
//! Each LoCoMo conversation becomes one user (its `conv_id`) whose sessions are indexed
//! like any other conversation: the first speaker is the user, the second the assistant,
//! each message keeps the speaker's name in [`Message::name`] and the turn id (`D1:3`) in
//! [`Message::id`], and the session's date goes into the metadata. A turn that shares a
//! photo has the photo's caption appended (`[shares a photo: …]`) and kept in the message
//! metadata as `image_caption`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ConversationRecord, RecallError};
use crate::message::{Message, Role};

/// The whole data set: conversations and the questions about them.
#[derive(Debug, Clone, PartialEq)]
pub struct LocomoDataset {
    /// The conversations, in file order.
    pub conversations: Vec<LocomoConversation>,
    /// The questions, in file order.
    pub questions: Vec<LocomoQuestion>,
}

/// One long conversation between two speakers, over many sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct LocomoConversation {
    /// Its id, e.g. `conv-26`; used as the user id when indexing.
    pub conv_id: String,
    /// Its sessions, in order.
    pub sessions: Vec<LocomoSession>,
}

/// One session of a LoCoMo conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct LocomoSession {
    /// Its id, e.g. `session_1`.
    pub session_id: String,
    /// When it took place, as written in the data (`1:56 pm on 8 May, 2023`).
    pub date: String,
    /// Its turns as messages (see the [module documentation](self)).
    pub messages: Vec<Message>,
}

/// One question with the turns and sessions that hold its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LocomoQuestion {
    /// Its id, e.g. `conv-26:q0`.
    pub qid: String,
    /// The conversation it is about.
    pub conv_id: String,
    /// The question.
    pub question: String,
    /// The reference answer (empty for adversarial questions, which have none).
    pub answer: String,
    /// The turn ids that hold the answer (may be empty).
    pub evidence_turn_ids: Vec<String>,
    /// The session ids that hold the answer.
    pub evidence_session_ids: Vec<String>,
    /// `single-hop`, `multi-hop`, `temporal`, `open-domain` or `adversarial`.
    pub category: String,
}

#[derive(Deserialize)]
struct RawConversation {
    conv_id: String,
    sessions: Vec<RawSession>,
}

#[derive(Deserialize)]
struct RawSession {
    session_id: String,
    date: String,
    messages: Vec<RawTurn>,
}

#[derive(Deserialize)]
struct RawTurn {
    role: String,
    content: String,
    turn_id: String,
    #[serde(default)]
    image_caption: Option<String>,
}

#[derive(Deserialize)]
struct RawQuestion {
    qid: String,
    conv_id: String,
    question: String,
    #[serde(default)]
    answer: Option<Value>,
    evidence_turn_ids: Vec<String>,
    evidence_session_ids: Vec<String>,
    category: String,
}

impl LocomoDataset {
    /// Reads `conversations.jsonl` and `questions.jsonl` from `dir`.
    ///
    /// # Errors
    ///
    /// [`RecallError::Io`] when a file cannot be read, [`RecallError::Input`] (with the file
    /// and line) when a line is not in the expected shape, or when a question names a
    /// conversation that is not there.
    pub fn load(dir: &Path) -> Result<LocomoDataset, RecallError> {
        let conversations: Vec<LocomoConversation> =
            read_jsonl::<RawConversation>(&dir.join("conversations.jsonl"))?.into_iter().map(convert).collect();
        let questions: Vec<LocomoQuestion> = read_jsonl::<RawQuestion>(&dir.join("questions.jsonl"))?
            .into_iter()
            .map(|raw| LocomoQuestion {
                qid: raw.qid,
                conv_id: raw.conv_id,
                question: raw.question,
                answer: match raw.answer {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(text)) => text,
                    Some(other) => other.to_string(),
                },
                evidence_turn_ids: raw.evidence_turn_ids,
                evidence_session_ids: raw.evidence_session_ids,
                category: raw.category,
            })
            .collect();
        if let Some(question) = questions.iter().find(|q| !conversations.iter().any(|c| c.conv_id == q.conv_id)) {
            return Err(RecallError::Input {
                line: None,
                reason: format!("question {} names the unknown conversation {:?}", question.qid, question.conv_id),
            });
        }
        Ok(LocomoDataset { conversations, questions })
    }
}

impl LocomoConversation {
    /// The conversation's sessions as records to index, with user id = `conv_id` and
    /// metadata `{"date": …}`.
    pub fn records(&self) -> Vec<ConversationRecord> {
        self.sessions
            .iter()
            .map(|session| {
                let mut metadata = Map::new();
                metadata.insert("date".into(), Value::String(session.date.clone()));
                ConversationRecord {
                    user_id: self.conv_id.clone(),
                    session_id: session.session_id.clone(),
                    messages: session.messages.clone(),
                    metadata,
                }
            })
            .collect()
    }
}

fn convert(raw: RawConversation) -> LocomoConversation {
    let first_speaker = raw.sessions.iter().flat_map(|s| &s.messages).map(|t| t.role.clone()).next();
    let sessions = raw
        .sessions
        .into_iter()
        .map(|session| LocomoSession {
            session_id: session.session_id,
            date: session.date,
            messages: session
                .messages
                .into_iter()
                .map(|turn| {
                    let role = if Some(&turn.role) == first_speaker.as_ref() { Role::User } else { Role::Assistant };
                    let mut text = turn.content;
                    let mut message = Message::new(role, "").with_id(turn.turn_id);
                    if let Some(caption) = turn.image_caption.filter(|c| !c.trim().is_empty()) {
                        text.push_str(&format!(" [shares a photo: {caption}]"));
                        message.metadata.insert("image_caption".into(), Value::String(caption));
                    }
                    message.content = Some(text.into());
                    message.name = Some(turn.role);
                    message
                })
                .collect(),
        })
        .collect();
    LocomoConversation { conv_id: raw.conv_id, sessions }
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, RecallError> {
    let file = File::open(path).map_err(|err| {
        RecallError::Io(std::io::Error::new(err.kind(), format!("cannot open {}: {err}", path.display())))
    })?;
    let mut items = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(&line).map_err(|err| RecallError::Input {
            line: Some(index + 1),
            reason: format!("{}: {err}", path.display()),
        })?;
        items.push(item);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_two_file_layout() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("conversations.jsonl"),
            r#"{"conv_id":"c1","sessions":[{"session_id":"session_1","date":"1:56 pm on 8 May, 2023","messages":[
                {"role":"Ann","content":"I adopted a dog.","turn_id":"D1:1","image_caption":"a puppy"},
                {"role":"Bo","content":"Congrats!","turn_id":"D1:2"}]}]}"#
                .replace('\n', ""),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("questions.jsonl"),
            r#"{"qid":"c1:q0","conv_id":"c1","question":"What did Ann adopt?","answer":"a dog","evidence_turn_ids":["D1:1"],"evidence_session_ids":["session_1"],"category":"single-hop","category_id":4}"#,
        )
        .unwrap();
        let data = LocomoDataset::load(dir.path()).unwrap();
        let records = data.conversations[0].records();
        assert_eq!(records[0].user_id, "c1");
        assert_eq!(records[0].metadata["date"], "1:56 pm on 8 May, 2023");
        let first = &records[0].messages[0];
        assert_eq!((first.role, first.name.as_deref(), first.id.as_deref()), (Role::User, Some("Ann"), Some("D1:1")));
        assert_eq!(first.text(), "I adopted a dog. [shares a photo: a puppy]");
        assert_eq!(records[0].messages[1].role, Role::Assistant);
        assert_eq!(data.questions[0].evidence_turn_ids, ["D1:1"]);

        std::fs::write(dir.path().join("questions.jsonl"), "{\"qid\":1}\n").unwrap();
        let err = LocomoDataset::load(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("line 1: "), "{err}");
    }
}
