//! The text of a value that is embedded and indexed for keyword search.
//!
//! By default the whole value is used, keys included, one line per leaf:
//! `path: value`, where `path` is the dotted field path, strings appear without quotes,
//! numbers and booleans as JSON, array elements joined by `, ` (objects inside arrays are
//! written `path.field: value` on their own lines) and `null`s are skipped. With
//! [`IndexFields::Paths`] only the listed fields (and everything below them) are used.
//!
//! ```
//! use agent_memory::store::{IndexFields, value_text};
//! use serde_json::json;
//!
//! let value = json!({"preference": "Python", "meta": {"score": 3, "tags": ["a", "b"]}, "gone": null});
//! let value = value.as_object().unwrap();
//! assert_eq!(value_text(value, &IndexFields::All), "preference: Python\nmeta.score: 3\nmeta.tags: a, b");
//! assert_eq!(value_text(value, &IndexFields::paths(["meta.tags"])), "meta.tags: a, b");
//! ```

use serde_json::{Map, Value};

use super::StoreError;
use super::filter::lookup;

/// Which fields of a value are embedded and keyword-indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexFields {
    /// The whole value (the default).
    All,
    /// Only these dotted paths (and what is below them); missing ones are skipped.
    Paths(Vec<String>),
}

impl IndexFields {
    /// Only the given dotted paths.
    pub fn paths<I: IntoIterator<Item = S>, S: Into<String>>(paths: I) -> IndexFields {
        IndexFields::Paths(paths.into_iter().map(Into::into).collect())
    }

    /// Checks the paths as filter fields are checked: each one non-empty names joined by
    /// `.`, without control characters, at most [`MAX_INDEX_PATH_BYTES`] bytes, and at
    /// most [`MAX_INDEX_PATHS`] of them. [`IndexFields::All`] is always valid.
    ///
    /// ```
    /// use agent_memory::store::IndexFields;
    ///
    /// assert!(IndexFields::paths(["text", "meta.title"]).validate().is_ok());
    /// assert!(IndexFields::paths(["meta..title"]).validate().is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidIndex`] naming the first path that breaks a rule.
    pub fn validate(&self) -> Result<(), StoreError> {
        match self {
            IndexFields::All => Ok(()),
            IndexFields::Paths(paths) => check_paths(paths),
        }
    }
}

/// The most paths one index spec may list ([`IndexFields::validate`]).
pub const MAX_INDEX_PATHS: usize = 64;
/// The longest index path, in bytes ([`IndexFields::validate`]).
pub const MAX_INDEX_PATH_BYTES: usize = 1024;

/// What one item indexes for search: LangGraph's `put(..., index=...)`, where `None` is
/// the store's fields, `False` nothing and `["a", "b.c"]` those paths.
///
/// An item with [`ItemIndex::Disabled`] (or whose chosen fields hold no text) has no search
/// text: no embedding and no keyword postings. A search with a query never returns it
/// (semantic, keyword and hybrid rankings only hold items with text); `get`, `list` and
/// searches without a query (filters only) still do. The spec is stored with the item, so
/// whatever derives its text again (an import that re-embeds) uses the item's own spec.
///
/// ```
/// use agent_memory::store::{IndexFields, ItemIndex};
/// use serde_json::json;
///
/// let value = json!({"text": "ski trip", "meta": {"title": "Alps"}});
/// let value = value.as_object().unwrap();
/// assert_eq!(ItemIndex::StoreDefault.text(value, &IndexFields::All), "text: ski trip\nmeta.title: Alps");
/// assert_eq!(ItemIndex::paths(["meta.title"]).text(value, &IndexFields::All), "meta.title: Alps");
/// assert_eq!(ItemIndex::Disabled.text(value, &IndexFields::All), "");
///
/// // LangGraph's JSON forms: null, false or a list of paths.
/// assert_eq!(ItemIndex::from_json(&json!(false))?, ItemIndex::Disabled);
/// assert_eq!(ItemIndex::from_json(&json!(["meta.title"]))?.to_json(), json!(["meta.title"]));
/// assert!(ItemIndex::from_json(&json!(true)).is_err());
/// # Ok::<(), agent_memory::store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ItemIndex {
    /// The store's [`crate::store::StoreOptions::index_fields`] (LangGraph's `None`).
    #[default]
    StoreDefault,
    /// Not indexed for search at all (LangGraph's `False`).
    Disabled,
    /// Only these dotted paths, instead of the store's fields (LangGraph's list of paths).
    Paths(Vec<String>),
}

impl ItemIndex {
    /// Only the given dotted paths.
    pub fn paths<I: IntoIterator<Item = S>, S: Into<String>>(paths: I) -> ItemIndex {
        ItemIndex::Paths(paths.into_iter().map(Into::into).collect())
    }

    /// Checks the paths (see [`IndexFields::validate`]); the other forms are always valid.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidIndex`] naming the first path that breaks a rule.
    pub fn validate(&self) -> Result<(), StoreError> {
        match self {
            ItemIndex::Paths(paths) => check_paths(paths),
            ItemIndex::StoreDefault | ItemIndex::Disabled => Ok(()),
        }
    }

    /// The search text of `value` under this spec, `store_fields` standing for
    /// [`ItemIndex::StoreDefault`]; empty for [`ItemIndex::Disabled`].
    pub fn text(&self, value: &Map<String, Value>, store_fields: &IndexFields) -> String {
        match self {
            ItemIndex::StoreDefault => value_text(value, store_fields),
            ItemIndex::Disabled => String::new(),
            ItemIndex::Paths(paths) => paths_text(value, paths),
        }
    }

    /// The spec from LangGraph's JSON: `null` is [`ItemIndex::StoreDefault`], `false`
    /// [`ItemIndex::Disabled`], an array of strings [`ItemIndex::Paths`] (validated).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidIndex`] for anything else (`true`, a number, an array holding
    /// a non-string) or an invalid path.
    pub fn from_json(json: &Value) -> Result<ItemIndex, StoreError> {
        let index = match json {
            Value::Null => ItemIndex::StoreDefault,
            Value::Bool(false) => ItemIndex::Disabled,
            Value::Array(items) => {
                let paths = items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
                    .ok_or_else(|| {
                        StoreError::InvalidIndex(format!(
                            "index paths must be strings, got {}",
                            Value::Array(items.clone())
                        ))
                    })?;
                ItemIndex::Paths(paths)
            }
            other => {
                return Err(StoreError::InvalidIndex(format!(
                    "index must be false, a list of field paths or null, got {other}"
                )));
            }
        };
        index.validate()?;
        Ok(index)
    }

    /// The inverse of [`ItemIndex::from_json`]: `null`, `false` or an array of strings.
    pub fn to_json(&self) -> Value {
        match self {
            ItemIndex::StoreDefault => Value::Null,
            ItemIndex::Disabled => Value::Bool(false),
            ItemIndex::Paths(paths) => Value::Array(paths.iter().cloned().map(Value::String).collect()),
        }
    }

    /// How a backend stores the spec in a nullable text column: `None` (NULL) for the
    /// store's default, else the JSON of [`ItemIndex::to_json`].
    pub(crate) fn to_column(&self) -> Option<String> {
        match self {
            ItemIndex::StoreDefault => None,
            other => Some(other.to_json().to_string()),
        }
    }

    /// The inverse of [`ItemIndex::to_column`].
    pub(crate) fn from_column(column: Option<&str>) -> Result<ItemIndex, String> {
        let Some(text) = column else {
            return Ok(ItemIndex::StoreDefault);
        };
        let json: Value = serde_json::from_str(text).map_err(|e| format!("unreadable index spec {text:?}: {e}"))?;
        ItemIndex::from_json(&json).map_err(|e| format!("stored index spec {text:?}: {e}"))
    }
}

fn check_paths(paths: &[String]) -> Result<(), StoreError> {
    if paths.len() > MAX_INDEX_PATHS {
        return Err(StoreError::InvalidIndex(format!(
            "{} index paths given, the limit is {MAX_INDEX_PATHS}",
            paths.len()
        )));
    }
    for path in paths {
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(StoreError::InvalidIndex(format!(
                "index path {path:?} is not a valid path (dot-separated, non-empty names)"
            )));
        }
        if path.len() > MAX_INDEX_PATH_BYTES {
            return Err(StoreError::InvalidIndex(format!(
                "index path is {} bytes, the limit is {MAX_INDEX_PATH_BYTES}",
                path.len()
            )));
        }
        if path.chars().any(char::is_control) {
            return Err(StoreError::InvalidIndex(format!("index path {path:?} contains a control character")));
        }
    }
    Ok(())
}

/// The text of `value` under `fields` (see the module documentation).
pub fn value_text(value: &Map<String, Value>, fields: &IndexFields) -> String {
    match fields {
        IndexFields::All => {
            let mut lines = Vec::new();
            for (key, child) in value {
                write_leaves(key, child, &mut lines);
            }
            lines.join("\n")
        }
        IndexFields::Paths(paths) => paths_text(value, paths),
    }
}

fn paths_text(value: &Map<String, Value>, paths: &[String]) -> String {
    let mut lines = Vec::new();
    for path in paths {
        let mut segments = path.split('.');
        let child = segments.next().and_then(|first| value.get(first)).and_then(|child| {
            let rest: Vec<String> = segments.map(str::to_owned).collect();
            lookup(child, &rest)
        });
        if let Some(child) = child {
            write_leaves(path, child, &mut lines);
        }
    }
    lines.join("\n")
}

fn write_leaves(path: &str, value: &Value, lines: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (key, child) in map {
                write_leaves(&format!("{path}.{key}"), child, lines);
            }
        }
        Value::Array(items) => {
            let scalars: Vec<String> = items.iter().filter_map(scalar_text).collect();
            if !scalars.is_empty() {
                lines.push(format!("{path}: {}", scalars.join(", ")));
            }
            for item in items.iter().filter(|i| i.is_object() || i.is_array()) {
                write_leaves(path, item, lines);
            }
        }
        scalar => {
            if let Some(text) = scalar_text(scalar) {
                lines.push(format!("{path}: {text}"));
            }
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn arrays_of_objects_and_falsy_values_are_kept() {
        let value = json!({"z": [1, 0, "", false, {"q": 1}], "n": 0});
        let text = value_text(value.as_object().expect("object"), &IndexFields::All);
        assert_eq!(text, "z: 1, 0, , false\nz.q: 1\nn: 0");
    }
}
