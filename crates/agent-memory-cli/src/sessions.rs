//! `agent-memory sessions list [--prefix P] [--after S] [--limit N]|show S|delete S`: the
//! conversation threads kept by `chat`,
//! as JSON on stdout. Errors go to stderr on one line, exit code 2 for bad input (an
//! invalid id, an unusable `--db`), 1 for a failing database.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use agent_memory::session::{
    MAX_SESSION_PAGE, SessionError, SessionInfo, SessionListQuery, SessionStore, open_sessions,
};
use serde_json::{Value, json};

use crate::outcome::{self, CommandError};

/// The session database used by default: the same file as `agent-memory store`.
pub(crate) const DEFAULT_SESSION_DB: &str = "sqlite:agent-memory.db";

#[derive(Debug, clap::Args)]
pub(crate) struct SessionsArgs {
    /// The session store: sqlite:PATH (or a bare path) or memory:; the store's database by default.
    #[arg(long, global = true, env = "AGENT_MEMORY_DATABASE_URL", default_value = DEFAULT_SESSION_DB)]
    db: String,
    #[command(subcommand)]
    command: SessionsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SessionsCommand {
    /// The sessions sorted by id (all by default): id, message count, created and updated
    /// times (Unix seconds). Read in pages of 1000, however many there are.
    List {
        /// Only sessions whose id starts with this (byte for byte).
        #[arg(long, default_value = "")]
        prefix: String,
        /// Only sessions whose id comes after this one: the last id of a previous listing.
        #[arg(long)]
        after: Option<String>,
        /// At most this many sessions.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
    },
    /// One session's messages, as a JSON array in OpenAI's shape.
    Show {
        /// The session id.
        session: String,
    },
    /// Deletes a session; prints {"deleted": true|false}.
    Delete {
        /// The session id.
        session: String,
    },
}

/// Unix seconds, fractional, as the store's items show their times.
pub(crate) fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn info_json(info: &SessionInfo) -> Value {
    json!({
        "session_id": info.session_id,
        "message_count": info.message_count,
        "created_at": unix_seconds(info.created_at),
        "updated_at": unix_seconds(info.updated_at),
    })
}

/// A bad session id or configuration is the user's to fix (exit code 2).
impl CommandError for SessionError {
    fn message(&self) -> String {
        self.to_string()
    }

    fn is_bad_input(&self) -> bool {
        matches!(self, SessionError::InvalidId { .. } | SessionError::InvalidQuery(_) | SessionError::Config(_))
    }
}

/// Runs a sessions command.
pub(crate) fn run(args: SessionsArgs) -> ExitCode {
    outcome::run_current_thread("agent-memory sessions", async {
        execute(args).await.map(|output| println!("{output}"))
    })
}

async fn execute(args: SessionsArgs) -> Result<Value, SessionError> {
    let sessions = open_sessions(&args.db).await?;
    Ok(match args.command {
        SessionsCommand::List { prefix, after, limit } => {
            let limit = limit.map_or(usize::MAX, |limit| usize::try_from(limit).unwrap_or(usize::MAX));
            Value::Array(list(&*sessions, prefix, after, limit).await?.iter().map(info_json).collect())
        }
        SessionsCommand::Show { session } => {
            let messages = sessions.load(&session).await?;
            serde_json::to_value(&messages).map_err(|e| SessionError::Backend(e.to_string()))?
        }
        SessionsCommand::Delete { session } => json!({"deleted": sessions.delete(&session).await?}),
    })
}

/// The first `limit` sessions that start with `prefix` and come after `after`, read page by
/// page ([`SessionStore::list_page`]).
async fn list(
    sessions: &dyn SessionStore,
    prefix: String,
    mut after: Option<String>,
    limit: usize,
) -> Result<Vec<SessionInfo>, SessionError> {
    let mut listed = Vec::new();
    while listed.len() < limit {
        let mut query =
            SessionListQuery::new((limit - listed.len()).min(MAX_SESSION_PAGE))?.with_prefix(prefix.clone())?;
        if let Some(after) = after {
            query = query.with_after(after)?;
        }
        let page = sessions.list_page(&query).await?;
        listed.extend(page.sessions);
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(listed)
}
