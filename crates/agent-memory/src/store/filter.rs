//! Filters on item values: `$eq $ne $gt $gte $lt $lte $in $nin $exists`, on top-level and
//! nested fields, with typed comparisons.
//!
//! A filter is a JSON object. Each entry is one condition on a field, and all must hold:
//!
//! * `{"field": 3}` is `{"field": {"$eq": 3}}`;
//! * `{"field": {"$gt": 9, "$lte": 20}}` is two conditions on the same field;
//! * `{"a.b": "x"}` addresses the nested field `b` of the object `a` (dotted paths);
//! * an object whose keys do not all start with `$` is a literal: `{"a": {"b": 1}}` means
//!   `a` equals `{"b": 1}`.
//!
//! # Semantics (every backend implements exactly these)
//!
//! * **Equality** (`$eq`, `$ne`, `$in`, `$nin`) is JSON equality where numbers compare by
//!   value (`10` equals `10.0`); arrays and objects compare element by element.
//! * **Ordering** (`$gt $gte $lt $lte`) holds only when both sides are numbers (compared
//!   numerically, so `10 > 9`), both strings (compared bytewise, by UTF-8) or both booleans
//!   (`false < true`). Any other pair, a missing field included, does not match.
//! * `$ne` and `$nin` match when the field is missing; `$eq` and `$in` do not.
//! * `{"$exists": true}` matches when the field is present (even if `null`), `false`
//!   when it is absent.
//!
//! # Examples
//!
//! ```
//! use agent_memory::store::Filter;
//! use serde_json::json;
//!
//! let filter = Filter::from_json(&json!({"age": {"$gt": 9}, "meta.lang": {"$in": ["en", "fr"]}}))?;
//! assert!(filter.matches(&json!({"age": 10, "meta": {"lang": "en"}})));
//! assert!(!filter.matches(&json!({"age": "10", "meta": {"lang": "en"}})));
//! # Ok::<(), agent_memory::store::StoreError>(())
//! ```

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::StoreError;

/// A parsed filter: the conjunction of its conditions. The empty filter matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    conditions: Vec<Condition>,
}

/// One condition: an operator applied to the field at `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The field's path: object keys from the top of the value down (`"a.b"` → `["a", "b"]`).
    pub path: Vec<String>,
    /// What must hold for the field.
    pub op: Operator,
}

/// A filter operator. See the module documentation for exact semantics.
#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    /// `$eq`: equal.
    Eq(Value),
    /// `$ne`: not equal, or missing.
    Ne(Value),
    /// `$gt`: greater than (same type only).
    Gt(Value),
    /// `$gte`: greater than or equal (same type only).
    Gte(Value),
    /// `$lt`: less than (same type only).
    Lt(Value),
    /// `$lte`: less than or equal (same type only).
    Lte(Value),
    /// `$in`: equal to one of.
    In(Vec<Value>),
    /// `$nin`: equal to none of, or missing.
    Nin(Vec<Value>),
    /// `$exists`: present (`true`) or absent (`false`).
    Exists(bool),
}

impl Filter {
    /// The filter that matches every value.
    pub fn all() -> Filter {
        Filter::default()
    }

    /// Parses the JSON form described in the module documentation.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidFilter`] when `filter` is not an object, a field path is empty
    /// or has an empty segment, an operator is unknown, `$in`/`$nin` is not given an array,
    /// `$exists` is not given a boolean, or an ordering operator is given something other
    /// than a number, string or boolean.
    pub fn from_json(filter: &Value) -> Result<Filter, StoreError> {
        let Value::Object(entries) = filter else {
            return Err(StoreError::InvalidFilter("a filter is a JSON object of field conditions".into()));
        };
        let mut conditions = Vec::new();
        for (field, spec) in entries {
            let path = parse_path(field)?;
            match spec {
                Value::Object(ops) if !ops.is_empty() && ops.keys().all(|k| k.starts_with('$')) => {
                    for (name, operand) in ops {
                        conditions.push(Condition { path: path.clone(), op: parse_operator(name, operand)? });
                    }
                }
                literal => conditions.push(Condition { path, op: Operator::Eq(literal.clone()) }),
            }
        }
        Ok(Filter { conditions })
    }

    /// The conditions, in the order they were written.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Whether there are no conditions.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// Whether `value` satisfies every condition.
    pub fn matches(&self, value: &Value) -> bool {
        self.conditions.iter().all(|c| c.matches(value))
    }

    /// [`Filter::matches`] on an object.
    pub fn matches_object(&self, value: &Map<String, Value>) -> bool {
        self.conditions.iter().all(|c| c.op.holds(lookup_in_object(value, &c.path)))
    }
}

impl Condition {
    /// Whether `value` satisfies this condition.
    pub fn matches(&self, value: &Value) -> bool {
        self.op.holds(lookup(value, &self.path))
    }
}

impl Operator {
    /// Whether the operator holds for `field` (`None` when the field is missing).
    pub fn holds(&self, field: Option<&Value>) -> bool {
        match (self, field) {
            (Operator::Exists(expected), field) => field.is_some() == *expected,
            (Operator::Ne(_) | Operator::Nin(_), None) => true,
            (_, None) => false,
            (Operator::Eq(operand), Some(field)) => json_equal(field, operand),
            (Operator::Ne(operand), Some(field)) => !json_equal(field, operand),
            (Operator::In(options), Some(field)) => options.iter().any(|o| json_equal(field, o)),
            (Operator::Nin(options), Some(field)) => !options.iter().any(|o| json_equal(field, o)),
            (Operator::Gt(operand), Some(field)) => typed_cmp(field, operand) == Some(Ordering::Greater),
            (Operator::Gte(operand), Some(field)) => {
                matches!(typed_cmp(field, operand), Some(Ordering::Greater | Ordering::Equal))
            }
            (Operator::Lt(operand), Some(field)) => typed_cmp(field, operand) == Some(Ordering::Less),
            (Operator::Lte(operand), Some(field)) => {
                matches!(typed_cmp(field, operand), Some(Ordering::Less | Ordering::Equal))
            }
        }
    }
}

/// JSON equality with numbers compared by value (`10 == 10.0`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Ordering::Equal,
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len() && xs.iter().all(|(k, x)| ys.get(k).is_some_and(|y| json_equal(x, y)))
        }
        _ => a == b,
    }
}

/// The typed order of two JSON values: numbers numerically, strings bytewise, booleans
/// `false < true`; `None` for any other pair.
pub fn typed_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(compare_numbers(x, y)),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn compare_numbers(x: &serde_json::Number, y: &serde_json::Number) -> Ordering {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a.cmp(&b);
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a.cmp(&b);
    }
    let (a, b) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// The field at `path` in `value`, if present.
pub fn lookup<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |node, segment| node.as_object()?.get(segment))
}

fn lookup_in_object<'v>(value: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    lookup(value.get(first)?, rest)
}

fn parse_path(field: &str) -> Result<Vec<String>, StoreError> {
    if field.is_empty() || field.split('.').any(str::is_empty) {
        return Err(StoreError::InvalidFilter(format!(
            "filter field {field:?} is not a valid path (dot-separated, non-empty names)"
        )));
    }
    Ok(field.split('.').map(str::to_owned).collect())
}

fn parse_operator(name: &str, operand: &Value) -> Result<Operator, StoreError> {
    let ordered = |make: fn(Value) -> Operator| match operand {
        Value::Number(_) | Value::String(_) | Value::Bool(_) => Ok(make(operand.clone())),
        _ => Err(StoreError::InvalidFilter(format!("{name} needs a number, string or boolean, got {operand}"))),
    };
    let list = |make: fn(Vec<Value>) -> Operator| match operand {
        Value::Array(items) => Ok(make(items.clone())),
        _ => Err(StoreError::InvalidFilter(format!("{name} needs an array, got {operand}"))),
    };
    match name {
        "$eq" => Ok(Operator::Eq(operand.clone())),
        "$ne" => Ok(Operator::Ne(operand.clone())),
        "$gt" => ordered(Operator::Gt),
        "$gte" => ordered(Operator::Gte),
        "$lt" => ordered(Operator::Lt),
        "$lte" => ordered(Operator::Lte),
        "$in" => list(Operator::In),
        "$nin" => list(Operator::Nin),
        "$exists" => match operand {
            Value::Bool(b) => Ok(Operator::Exists(*b)),
            _ => Err(StoreError::InvalidFilter(format!("$exists needs true or false, got {operand}"))),
        },
        other => Err(StoreError::InvalidFilter(format!(
            "unknown filter operator {other:?} (expected $eq $ne $gt $gte $lt $lte $in $nin $exists)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(filter: Value, value: Value) -> bool {
        Filter::from_json(&filter).expect("valid filter").matches(&value)
    }

    #[test]
    fn numbers_compare_as_numbers() {
        assert!(check(json!({"n": {"$gt": 9}}), json!({"n": 10})));
        assert!(!check(json!({"n": {"$lt": 9}}), json!({"n": 10})));
        assert!(check(json!({"n": {"$gte": 10}}), json!({"n": 10.0})));
        assert!(check(json!({"n": 10}), json!({"n": 10.0})));
        assert!(check(json!({"n": {"$lte": -1.5}}), json!({"n": -2})));
        assert!(check(json!({"n": {"$gt": 18446744073709551614u64}}), json!({"n": 18446744073709551615u64})));
    }

    #[test]
    fn mixed_types_never_order() {
        assert!(!check(json!({"n": {"$gt": 9}}), json!({"n": "10"})));
        assert!(!check(json!({"n": {"$lt": "9"}}), json!({"n": 1})));
        assert!(!check(json!({"n": {"$gt": 0}}), json!({"n": null})));
        assert!(!check(json!({"n": {"$gt": 0}}), json!({})));
        assert!(check(json!({"s": {"$gt": "apple"}}), json!({"s": "banana"})));
        assert!(check(json!({"b": {"$gt": false}}), json!({"b": true})));
    }

    #[test]
    fn missing_fields_and_negations() {
        assert!(check(json!({"x": {"$ne": 1}}), json!({})));
        assert!(check(json!({"x": {"$nin": [1, 2]}}), json!({})));
        assert!(!check(json!({"x": {"$in": [1, 2]}}), json!({})));
        assert!(check(json!({"x": {"$in": [1, 2]}}), json!({"x": 2.0})));
        assert!(!check(json!({"x": {"$nin": [1, 2]}}), json!({"x": 1})));
        assert!(check(json!({"x": {"$exists": true}}), json!({"x": null})));
        assert!(check(json!({"x": {"$exists": false}}), json!({"y": 1})));
        assert!(!check(json!({"x": null}), json!({})));
        assert!(check(json!({"x": null}), json!({"x": null})));
    }

    #[test]
    fn nested_paths_and_literal_objects() {
        assert!(check(json!({"a.b": 1}), json!({"a": {"b": 1}})));
        assert!(!check(json!({"a.b": 1}), json!({"a": {"b": 2}})));
        assert!(!check(json!({"a.b": 1}), json!({"a": 5})));
        assert!(check(json!({"a": {"b": 1}}), json!({"a": {"b": 1.0}})));
        assert!(!check(json!({"a": {"b": 1}}), json!({"a": {"b": 1, "c": 2}})));
        assert!(check(json!({"t": [1, "x"]}), json!({"t": [1.0, "x"]})));
        assert!(check(json!({"a.b": {"$gt": 1, "$lt": 3}}), json!({"a": {"b": 2}})));
        assert!(!check(json!({"a.b": {"$gt": 1, "$lt": 3}}), json!({"a": {"b": 3}})));
    }

    #[test]
    fn bad_filters_are_errors() {
        for bad in [
            json!([1]),
            json!({"": 1}),
            json!({"a..b": 1}),
            json!({"a": {"$regex": "x"}}),
            json!({"a": {"$in": 1}}),
            json!({"a": {"$exists": 1}}),
            json!({"a": {"$gt": [1]}}),
        ] {
            assert!(matches!(Filter::from_json(&bad), Err(StoreError::InvalidFilter(_))), "{bad}");
        }
    }

    #[test]
    fn empty_filter_matches_everything() {
        let filter = Filter::from_json(&json!({})).expect("valid");
        assert!(filter.is_empty());
        assert!(filter.matches(&json!({"a": 1})));
    }
}
