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
}

/// The text of `value` under `fields` (see the module documentation).
pub fn value_text(value: &Map<String, Value>, fields: &IndexFields) -> String {
    let mut lines = Vec::new();
    match fields {
        IndexFields::All => {
            for (key, child) in value {
                write_leaves(key, child, &mut lines);
            }
        }
        IndexFields::Paths(paths) => {
            let object = Value::Object(value.clone());
            for path in paths {
                let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
                if let Some(child) = lookup(&object, &segments) {
                    write_leaves(path, child, &mut lines);
                }
            }
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
