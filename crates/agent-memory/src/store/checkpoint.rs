//! WAL checkpoints on a thread of their own, so that no write waits for one.
//!
//! SQLite checkpoints inside the commit that fills the WAL past `wal_autocheckpoint`: that
//! commit copies every page written since the last checkpoint into the database file and
//! syncs it while it holds the write lock, and every write queued behind it waits (puts into
//! a 100k-item store: p99 120–230 ms at a p50 of 5 ms). With a [`Checkpointer`], each write
//! is followed, [`CHECKPOINT_DELAY`] later, by a passive checkpoint on a connection of the
//! checkpointer's own, beside whatever writes come next: a passive checkpoint takes no lock
//! that a writer or a reader waits for. The writer's own threshold stays, raised to
//! [`BACKSTOP_CHECKPOINT_PAGES`], for the case that the thread cannot keep up or start.
//!
//! Durability is unchanged: in WAL mode with `synchronous = NORMAL` a commit is in the WAL
//! file (safe from a process kill) and is synced at the next checkpoint, whichever
//! connection runs it.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How long after a write the checkpoint runs; the writes of that time share it.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(250);

/// WAL pages (of 4 KiB) after which the writer checkpoints in its own commit after all, as
/// SQLite does by default at 1,000 pages: reached only if the checkpoints of this module fall
/// behind (a reader holding a snapshot through many writes) or its thread could not start.
pub(crate) const BACKSTOP_CHECKPOINT_PAGES: u32 = 16_000;

/// Runs the checkpoints of one database file; stops when dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    wrote: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts the thread. `open` opens its connection (on first use, on that thread); `None`
    /// when the thread cannot start (the writer then checkpoints by itself, as configured).
    pub(crate) fn start(
        path: &Path,
        open: impl Fn(&Path) -> rusqlite::Result<Connection> + Send + 'static,
    ) -> Option<Checkpointer> {
        let (wrote, writes) = mpsc::channel();
        let path = path.to_owned();
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || checkpoint_after_writes(&path, open, &writes));
        match spawned {
            Ok(_) => Some(Checkpointer { wrote }),
            Err(error) => {
                tracing::warn!(%error, "sqlite: cannot start the checkpoint thread; commits checkpoint the WAL");
                None
            }
        }
    }

    /// Tells the thread that a write committed (or may have).
    pub(crate) fn wrote(&self) {
        // Fails only once the thread has stopped after an unrecoverable error.
        let _ = self.wrote.send(());
    }
}

/// The thread: after each write, waits [`CHECKPOINT_DELAY`] (gathering later writes), then
/// runs a passive checkpoint. Returns as soon as the [`Checkpointer`] is dropped.
fn checkpoint_after_writes(
    path: &Path,
    open: impl Fn(&Path) -> rusqlite::Result<Connection>,
    writes: &mpsc::Receiver<()>,
) {
    let mut connection: Option<Connection> = None;
    let mut warned = false;
    while writes.recv().is_ok() {
        let due = Instant::now() + CHECKPOINT_DELAY;
        loop {
            match writes.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(()) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                // Closed: closing the store's own connections checkpoints what is left.
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if connection.is_none() {
            match open(path) {
                Ok(opened) => connection = Some(opened),
                Err(error) => {
                    // Once: it is tried again after every write, and the writer's backstop
                    // checkpoints meanwhile.
                    if !std::mem::replace(&mut warned, true) {
                        tracing::warn!(%error, path = %path.display(), "sqlite: the checkpoint thread cannot open the database");
                    }
                    continue;
                }
            }
        }
        if let Some(connection) = &connection
            && let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::debug!(%error, path = %path.display(), "sqlite: background checkpoint failed");
        }
    }
}
