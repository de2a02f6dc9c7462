//! Items: what the store holds and returns, and the records backends write.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ItemIndex, Namespace, StoreError};

/// The largest value, serialized as compact JSON: 1 MiB.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A stored memory.
///
/// Times are Unix seconds (fractional). `created_at` is set by the first write of the key
/// (or the first after it expired) and kept by later updates; `updated_at` is the time of
/// the latest write (or TTL refresh).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The namespace the item lives in.
    pub namespace: Namespace,
    /// The key, unique within the namespace.
    pub key: String,
    /// The value: always a JSON object.
    pub value: Map<String, Value>,
    /// When the key was first written (Unix seconds).
    pub created_at: f64,
    /// When the item was last written (Unix seconds).
    pub updated_at: f64,
    /// When the item expires (Unix seconds); `None` for never. An item is expired once
    /// `now >= expires_at`, and from then on no operation returns it.
    pub expires_at: Option<f64>,
    /// The time-to-live it was written with, in seconds, used when a read refreshes it.
    pub ttl_seconds: Option<f64>,
}

impl Item {
    /// Whether the item is expired at `now`.
    pub fn is_expired(&self, now: f64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

/// A search result: the item and its score (see [`super::SearchMode`] for what the score
/// means); `None` when the search had no query (items are then ordered like `list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The matching item.
    #[serde(flatten)]
    pub item: Item,
    /// The relevance score, higher is better.
    pub score: Option<f64>,
}

/// The address of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemKey {
    /// Its namespace.
    pub namespace: Namespace,
    /// Its key.
    pub key: String,
}

impl ItemKey {
    /// A validated item address.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`] when the key is invalid (see [`validate_key`]).
    pub fn new(namespace: Namespace, key: impl Into<String>) -> Result<ItemKey, StoreError> {
        let key = key.into();
        validate_key(&key)?;
        Ok(ItemKey { namespace, key })
    }
}

/// A vector with the id of the model that produced it. Vectors of different models are
/// never compared.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVector {
    /// [`crate::embed::Embedder::model_id`] of the embedder.
    pub model: String,
    /// The vector; its length is the model's dimension.
    pub vector: Vec<f32>,
}

/// One upsert, as the [`super::MemoryStore`] hands it to a backend: validated, with the
/// text to index for keyword search and the vector (if an embedder is configured).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemWrite {
    /// Where to write.
    pub namespace: Namespace,
    /// The key (validated).
    pub key: String,
    /// The value (validated: an object within [`MAX_VALUE_BYTES`], no NUL characters).
    pub value: Map<String, Value>,
    /// Time to live in seconds (finite, > 0), or `None` for never.
    pub ttl_seconds: Option<f64>,
    /// The text indexed for keyword search (possibly empty: then it matches no query).
    pub text: String,
    /// The embedding of `text`, or `None` (then the item is absent from semantic search).
    pub vector: Option<StoredVector>,
    /// The item's own index spec, stored with it (`text` was derived under it), so that
    /// whatever derives the text again uses it.
    pub index: ItemIndex,
}

impl ItemWrite {
    /// The item this write stores at `now` (`created_at`: the stored one, or `now` for a new
    /// key), and what its indexes get: the text, the vector and the index spec.
    pub(crate) fn into_item(self, created_at: f64, now: f64) -> (Item, String, Option<StoredVector>, ItemIndex) {
        let ItemWrite { namespace, key, value, ttl_seconds, text, vector, index } = self;
        let expires_at = ttl_seconds.map(|ttl| now + ttl);
        let item = Item { namespace, key, value, created_at, updated_at: now, expires_at, ttl_seconds };
        (item, text, vector, index)
    }
}

/// Checks a key: non-empty, at most [`MAX_KEY_BYTES`] bytes, no control characters.
///
/// # Errors
///
/// [`StoreError::InvalidKey`] naming the rule that failed.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey("keys must not be empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::InvalidKey(format!("key is {} bytes, the limit is {MAX_KEY_BYTES}", key.len())));
    }
    if key.chars().any(char::is_control) {
        return Err(StoreError::InvalidKey(format!("key {key:?} contains a control character")));
    }
    Ok(())
}

/// Checks a value and returns it as an object: a JSON object, at most
/// [`MAX_VALUE_BYTES`] serialized, with no U+0000 in any string or object key (PostgreSQL
/// cannot store it, and every backend must accept the same values).
///
/// # Errors
///
/// [`StoreError::InvalidValue`] naming the rule that failed.
pub fn validate_value(value: Value) -> Result<Map<String, Value>, StoreError> {
    let Value::Object(map) = value else {
        return Err(StoreError::InvalidValue(format!(
            "values must be JSON objects, got {}",
            crate::message::json_kind(&value)
        )));
    };
    let size = serde_json::to_vec(&map).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > MAX_VALUE_BYTES {
        return Err(StoreError::InvalidValue(format!(
            "value is {size} bytes as JSON, the limit is {MAX_VALUE_BYTES} (1 MiB)"
        )));
    }
    if map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)) {
        return Err(StoreError::InvalidValue("value contains a NUL character (U+0000), which cannot be stored".into()));
    }
    Ok(map)
}

/// Checks a time-to-live in seconds: finite and greater than zero.
///
/// # Errors
///
/// [`StoreError::InvalidTtl`] otherwise.
pub fn validate_ttl(ttl_seconds: f64) -> Result<f64, StoreError> {
    if !ttl_seconds.is_finite() || ttl_seconds <= 0.0 {
        return Err(StoreError::InvalidTtl(format!(
            "ttl must be a finite number of seconds greater than zero, got {ttl_seconds}"
        )));
    }
    Ok(ttl_seconds)
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_must_be_small_objects_without_nul() {
        assert!(validate_value(json!({"a": 1})).is_ok());
        assert!(matches!(validate_value(json!([1])), Err(StoreError::InvalidValue(m)) if m.contains("an array")));
        assert!(matches!(validate_value(json!({"a": "x\u{0}"})), Err(StoreError::InvalidValue(_))));
        assert!(matches!(validate_value(json!({"a": [{"b\u{0}": 1}]})), Err(StoreError::InvalidValue(_))));
        let big = "x".repeat(MAX_VALUE_BYTES);
        assert!(matches!(validate_value(json!({ "a": big })), Err(StoreError::InvalidValue(m)) if m.contains("1 MiB")));
    }

    #[test]
    fn ttl_must_be_positive_and_finite() {
        assert_eq!(validate_ttl(1.5).expect("valid"), 1.5);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(validate_ttl(bad), Err(StoreError::InvalidTtl(_))), "{bad}");
        }
    }

    #[test]
    fn keys_are_validated() {
        assert!(validate_key("k").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("a\tb").is_err());
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
    }
}
