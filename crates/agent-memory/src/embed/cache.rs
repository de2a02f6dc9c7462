//! [`CachedEmbedder`]: never embed the same text with the same model twice.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::{EmbedError, Embedder};

/// Counters of a [`CachedEmbedder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Texts answered from the cache.
    pub hits: u64,
    /// Texts sent to the inner embedder.
    pub misses: u64,
    /// Vectors held now.
    pub entries: usize,
}

/// Wraps an embedder with an in-memory cache keyed by (model id, SHA-256 of the text), so
/// that unchanged text is never embedded again: a re-`put` of the same value, the same
/// query searched twice, the same chunk indexed again.
///
/// A batch is split into cached and new texts; only the new ones (each distinct text
/// once) reach the inner embedder, in one call. When the cache holds more than
/// `capacity` vectors, the least recently used tenth is dropped. Queries
/// ([`Embedder::embed_query`]) are cached apart from documents, since some providers
/// embed them differently.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use agent_memory::embed::{CachedEmbedder, Embedder, HashEmbedder};
///
/// let cached = CachedEmbedder::new(Arc::new(HashEmbedder::new(8)), 10_000);
/// let texts = vec!["a cat".to_string(), "a dog".to_string(), "a cat".to_string()];
/// let first = cached.embed(&texts).await?;
/// let again = cached.embed(&texts[..1]).await?;
/// assert_eq!(again[0], first[0]);
/// assert_eq!((cached.stats().misses, cached.stats().hits), (2, 2));
/// # Ok::<(), agent_memory::embed::EmbedError>(())
/// # }).unwrap();
/// ```
pub struct CachedEmbedder {
    inner: Arc<dyn Embedder>,
    capacity: usize,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<CacheKey, Entry>,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// (query or document, model id, text digest).
type CacheKey = (bool, Arc<str>, [u8; 32]);

struct Entry {
    vector: Arc<[f32]>,
    last_used: u64,
}

impl fmt::Debug for CachedEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedEmbedder")
            .field("inner", &self.inner)
            .field("capacity", &self.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

impl CachedEmbedder {
    /// Caches up to `capacity` vectors (at least 1) in front of `inner`.
    pub fn new(inner: Arc<dyn Embedder>, capacity: usize) -> CachedEmbedder {
        CachedEmbedder { inner, capacity: capacity.max(1), state: Mutex::new(CacheState::default()) }
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &Arc<dyn Embedder> {
        &self.inner
    }

    /// Hits, misses and size so far.
    pub fn stats(&self) -> CacheStats {
        let state = self.lock();
        CacheStats { hits: state.hits, misses: state.misses, entries: state.entries.len() }
    }

    /// Drops every cached vector (the counters stay).
    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        // A panic while holding the lock leaves a consistent map: keep using it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn key(&self, query: bool, model: &Arc<str>, text: &str) -> CacheKey {
        (query, Arc::clone(model), Sha256::digest(text.as_bytes()).into())
    }

    fn insert(&self, key: CacheKey, vector: Arc<[f32]>) {
        let mut state = self.lock();
        state.tick += 1;
        let tick = state.tick;
        state.entries.insert(key, Entry { vector, last_used: tick });
        if state.entries.len() > self.capacity {
            let keep = self.capacity - self.capacity / 10;
            let mut ticks: Vec<u64> = state.entries.values().map(|e| e.last_used).collect();
            ticks.sort_unstable();
            let cutoff = ticks[ticks.len() - keep];
            state.entries.retain(|_, e| e.last_used >= cutoff);
        }
    }
}

#[async_trait::async_trait]
impl Embedder for CachedEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model: Arc<str> = Arc::from(self.inner.model_id());
        let keys: Vec<CacheKey> = texts.iter().map(|t| self.key(false, &model, t)).collect();
        let mut found: Vec<Option<Arc<[f32]>>> = Vec::with_capacity(texts.len());
        // Distinct missing texts, in first-seen order, and where each one goes.
        let mut missing: Vec<String> = Vec::new();
        let mut missing_index: HashMap<[u8; 32], usize> = HashMap::new();
        {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            for (key, text) in keys.iter().zip(texts) {
                match state.entries.get_mut(key) {
                    Some(entry) => {
                        entry.last_used = tick;
                        found.push(Some(Arc::clone(&entry.vector)));
                    }
                    None => {
                        found.push(None);
                        missing_index.entry(key.2).or_insert_with(|| {
                            missing.push(text.clone());
                            missing.len() - 1
                        });
                    }
                }
            }
            state.misses += missing.len() as u64;
            state.hits += (texts.len() - missing.len()) as u64;
        }
        let mut fresh: Vec<Arc<[f32]>> = Vec::new();
        if !missing.is_empty() {
            let vectors = self.inner.embed(&missing).await?;
            if vectors.len() != missing.len() {
                return Err(EmbedError::Model(format!(
                    "{} returned {} vectors for {} texts",
                    self.inner.model_id(),
                    vectors.len(),
                    missing.len()
                )));
            }
            fresh = vectors.into_iter().map(Arc::from).collect();
            for (text, vector) in missing.iter().zip(&fresh) {
                self.insert(self.key(false, &model, text), Arc::clone(vector));
            }
        }
        Ok(found
            .into_iter()
            .zip(&keys)
            .map(|(hit, key)| match hit {
                Some(vector) => vector.to_vec(),
                None => fresh[missing_index[&key.2]].to_vec(),
            })
            .collect())
    }

    async fn embed_query(&self, query: &str) -> Result<Vec<f32>, EmbedError> {
        let model: Arc<str> = Arc::from(self.inner.model_id());
        let key = self.key(true, &model, query);
        {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            if let Some(entry) = state.entries.get_mut(&key) {
                entry.last_used = tick;
                let vector = entry.vector.to_vec();
                state.hits += 1;
                return Ok(vector);
            }
            state.misses += 1;
        }
        let vector = self.inner.embed_query(query).await?;
        self.insert(key, Arc::from(vector.as_slice()));
        Ok(vector)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::embed::HashEmbedder;

    /// Counts the texts that reach the model.
    #[derive(Debug)]
    struct Counting {
        inner: HashEmbedder,
        texts: AtomicUsize,
        calls: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Embedder for Counting {
        fn model_id(&self) -> &str {
            self.inner.model_id()
        }
        fn dimensions(&self) -> usize {
            self.inner.dimensions()
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.texts.fetch_add(texts.len(), Ordering::SeqCst);
            self.inner.embed(texts).await
        }
    }

    fn counting() -> Arc<Counting> {
        Arc::new(Counting { inner: HashEmbedder::new(16), texts: AtomicUsize::new(0), calls: AtomicUsize::new(0) })
    }

    fn strings(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[tokio::test]
    async fn only_new_distinct_texts_reach_the_model_and_order_is_kept() {
        let model = counting();
        let cached = CachedEmbedder::new(model.clone(), 100);
        let direct = HashEmbedder::new(16);

        let first = strings(&["red", "green", "red", "blue"]);
        let vectors = cached.embed(&first).await.unwrap();
        assert_eq!(vectors, direct.embed(&first).await.unwrap());
        assert_eq!((model.calls.load(Ordering::SeqCst), model.texts.load(Ordering::SeqCst)), (1, 3));

        let second = strings(&["blue", "yellow", "red"]);
        let vectors = cached.embed(&second).await.unwrap();
        assert_eq!(vectors, direct.embed(&second).await.unwrap());
        assert_eq!((model.calls.load(Ordering::SeqCst), model.texts.load(Ordering::SeqCst)), (2, 4));

        cached.embed(&second).await.unwrap();
        assert_eq!(model.calls.load(Ordering::SeqCst), 2, "an all-hit batch makes no call");
        assert_eq!(cached.stats(), CacheStats { hits: 1 + 2 + 3, misses: 4, entries: 4 });
        assert_eq!(cached.model_id(), "hash-v1/16");
        assert_eq!(cached.dimensions(), 16);
    }

    #[tokio::test]
    async fn queries_are_cached_apart_from_documents() {
        let model = counting();
        let cached = CachedEmbedder::new(model.clone(), 100);
        cached.embed(&strings(&["tea"])).await.unwrap();
        cached.embed_query("tea").await.unwrap();
        cached.embed_query("tea").await.unwrap();
        assert_eq!(model.texts.load(Ordering::SeqCst), 2);
        assert_eq!(cached.stats(), CacheStats { hits: 1, misses: 2, entries: 2 });
    }

    #[tokio::test]
    async fn least_recently_used_entries_are_evicted_beyond_capacity() {
        let model = counting();
        let cached = CachedEmbedder::new(model.clone(), 10);
        for i in 0..10 {
            cached.embed(&[format!("t{i}")]).await.unwrap();
        }
        cached.embed(&strings(&["t0"])).await.unwrap(); // t0 is now the most recent
        cached.embed(&strings(&["t10"])).await.unwrap(); // 11 entries: drop down to 9
        assert_eq!(cached.stats().entries, 9);
        let before = model.texts.load(Ordering::SeqCst);
        cached.embed(&strings(&["t0", "t10", "t3"])).await.unwrap();
        assert_eq!(model.texts.load(Ordering::SeqCst), before, "t0, t10 and t3 survived");
        cached.embed(&strings(&["t1"])).await.unwrap();
        assert_eq!(model.texts.load(Ordering::SeqCst), before + 1, "t1 was the least recently used");
    }

    #[tokio::test]
    async fn errors_pass_through_and_cache_nothing() {
        #[derive(Debug)]
        struct Failing;
        #[async_trait::async_trait]
        impl Embedder for Failing {
            fn model_id(&self) -> &str {
                "failing"
            }
            fn dimensions(&self) -> usize {
                3
            }
            async fn embed(&self, _: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
                Err(EmbedError::Provider { provider: "x".into(), message: "http 500".into() })
            }
        }
        let cached = CachedEmbedder::new(Arc::new(Failing), 10);
        let err = cached.embed(&strings(&["a"])).await.unwrap_err();
        assert_eq!(err.to_string(), "x: http 500");
        assert_eq!(cached.stats().entries, 0);
    }
}
