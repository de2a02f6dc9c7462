//! Time, as the store sees it: Unix seconds from a [`Clock`], so tests can move time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in Unix seconds. [`super::MemoryStore`] reads it once per
/// operation and passes the value to the backend.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, in (fractional) seconds since the Unix epoch.
    fn now(&self) -> f64;
}

/// The system's wall clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
    }
}

/// A clock that moves only when told to, for tests of expiry and ordering. Clones share
/// the same time.
///
/// ```
/// use agent_memory::store::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1000.0);
/// clock.advance(2.5);
/// assert_eq!(clock.now(), 1002.5);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    bits: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: f64) -> ManualClock {
        ManualClock { bits: Arc::new(AtomicU64::new(now.to_bits())) }
    }

    /// Sets the time.
    pub fn set(&self, now: f64) {
        self.bits.store(now.to_bits(), Ordering::SeqCst);
    }

    /// Moves the time forward by `seconds`.
    pub fn advance(&self, seconds: f64) {
        let _ = self
            .bits
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |bits| Some((f64::from_bits(bits) + seconds).to_bits()));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::SeqCst))
    }
}
