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
//! Stores of one process on one file (the memory store and the session store of `serve`)
//! share one checkpoint thread: [`Checkpointer::start`] hands out the running one.
//!
//! Durability is unchanged: in WAL mode with `synchronous = NORMAL` a commit is in the WAL
//! file (safe from a process kill) and is synced at the next checkpoint, whichever
//! connection runs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How long after a write the checkpoint runs; the writes of that time share it.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(250);

/// WAL pages (of 4 KiB) after which the writer checkpoints in its own commit after all, as
/// SQLite does by default at 1,000 pages: reached only if the checkpoints of this module fall
/// behind (a reader holding a snapshot through many writes) or its thread could not start.
pub(crate) const BACKSTOP_CHECKPOINT_PAGES: u32 = 16_000;

/// Runs the checkpoints of one database file; the thread stops when the last handle on it
/// is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    wrote: Arc<mpsc::Sender<()>>,
}

/// The running checkpoint threads of this process, by database file (canonical path).
static RUNNING: Mutex<BTreeMap<PathBuf, Weak<mpsc::Sender<()>>>> = Mutex::new(BTreeMap::new());

impl Checkpointer {
    /// A handle on the file's checkpoint thread, started unless one runs for it already.
    /// `open` opens the thread's connection (on first use, on that thread); `None` when the
    /// thread cannot start (the writer then checkpoints by itself, as configured).
    pub(crate) fn start(
        path: &Path,
        open: impl Fn(&Path) -> rusqlite::Result<Connection> + Send + 'static,
    ) -> Option<Checkpointer> {
        let file = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        running.retain(|_, thread| thread.strong_count() > 0);
        if let Some(wrote) = running.get(&file).and_then(Weak::upgrade) {
            return Some(Checkpointer { wrote });
        }
        let (wrote, writes) = mpsc::channel();
        let thread_path = file.clone();
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || checkpoint_after_writes(&thread_path, open, &writes));
        match spawned {
            Ok(_) => {
                let wrote = Arc::new(wrote);
                running.insert(file, Arc::downgrade(&wrote));
                Some(Checkpointer { wrote })
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn start(path: &Path) -> Checkpointer {
        Checkpointer::start(path, |path| Connection::open(path)).expect("thread")
    }

    /// Handles on one file (by any spelling of its path) share a thread; another file gets
    /// its own; once every handle is gone, the next start runs a new thread.
    #[test]
    fn one_thread_per_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
        for path in [&a, &b] {
            Connection::open(path).expect("create");
        }
        let first = start(&a);
        let again = start(&dir.path().join(".").join("a.db"));
        assert!(Arc::ptr_eq(&first.wrote, &again.wrote), "the same thread for the same file");
        let other = start(&b);
        assert!(!Arc::ptr_eq(&first.wrote, &other.wrote), "a thread per file");
        let weak = Arc::downgrade(&first.wrote);
        drop((first, again));
        assert_eq!(weak.strong_count(), 0, "no handle left: the thread's channel is closed");
        let fresh = start(&a);
        assert!(!Arc::ptr_eq(&fresh.wrote, &other.wrote));
        fresh.wrote();
        other.wrote();
    }
}
