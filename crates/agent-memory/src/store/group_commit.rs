//! The queue of a group commit: writes wait here for the writer, and whichever caller gets
//! the writer first takes and commits everything waiting ([`WaitingWrites::take`]). A caller
//! that stops waiting before its write was taken takes it back out ([`Ticket`]'s drop), so a
//! cancelled write is never committed later, after writes that came after it.
//!
//! Used by the SQLite backend's `put_many` (one writer: a group is one transaction) and the
//! PostgreSQL backend's (a few insert slots: a group is one statement).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Writes waiting for a writer, in arrival order.
#[derive(Debug)]
pub(super) struct WaitingWrites<T> {
    queue: Mutex<Vec<(u64, T)>>,
    next: AtomicU64,
}

impl<T> Default for WaitingWrites<T> {
    fn default() -> Self {
        Self { queue: Mutex::new(Vec::new()), next: AtomicU64::new(0) }
    }
}

impl<T> WaitingWrites<T> {
    /// Queues `write`; it leaves the queue when taken or when the ticket drops.
    pub(super) fn push(&self, write: T) -> Ticket<'_, T> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().push((id, write));
        Ticket { waiting: self, id }
    }

    /// Everything waiting, in arrival order (and an empty queue).
    pub(super) fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.lock()).into_iter().map(|(_, write)| write).collect()
    }

    /// How many writes wait.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(u64, T)>> {
        // The queue is only pushed to, filtered and taken whole: a panic leaves it consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A queued write's claim: dropped before the write was taken, it takes the write back out.
#[derive(Debug)]
pub(super) struct Ticket<'a, T> {
    waiting: &'a WaitingWrites<T>,
    id: u64,
}

impl<T> Drop for Ticket<'_, T> {
    fn drop(&mut self) {
        self.waiting.lock().retain(|(id, _)| *id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_ticket_takes_its_write_back_and_a_taken_write_stays_taken() {
        let waiting = WaitingWrites::default();
        let first = waiting.push("first");
        let second = waiting.push("second");
        drop(first);
        assert_eq!(waiting.len(), 1);
        let third = waiting.push("third");
        assert_eq!(waiting.take(), ["second", "third"]);
        drop((second, third));
        assert_eq!(waiting.take(), Vec::<&str>::new());
    }
}
