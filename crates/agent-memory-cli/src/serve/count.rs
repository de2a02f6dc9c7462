//! Counts in JSON bodies (limits, offsets, depths, token and message budgets), read as JSON
//! Schema reads an `integer`: `10` and `10.0` are the same number, so a client that writes
//! whole numbers as floats (Python's `json.dumps(10.0)`, or a model filling in a tool call)
//! is understood, while `2.5`, `-1` and strings are refused with a message that names the
//! value. serde's own `usize` refuses every float.
//!
//! Use as `#[serde(default, deserialize_with = "count::optional")]` on an `Option<usize>`,
//! or `#[serde(deserialize_with = "count::required")]` (with a `default` when the field
//! may be left out) on a `usize`.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Unexpected, Visitor};

/// A `usize` written as a JSON integer or a whole float.
pub(crate) fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    deserializer.deserialize_any(CountVisitor)
}

/// [`required`], or `None` for `null` (a missing field needs `#[serde(default)]`).
pub(crate) fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    deserializer.deserialize_option(OptionalCountVisitor)
}

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = usize;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a whole number, 0 or more")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<usize, E> {
        usize::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<usize, E> {
        usize::try_from(value).map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<usize, E> {
        // Below 2^64 (exactly representable): every whole float under it fits a u64.
        let whole = value.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&value);
        match whole.then(|| usize::try_from(value as u64).ok()).flatten() {
            Some(count) => Ok(count),
            None => Err(E::invalid_value(Unexpected::Float(value), &self)),
        }
    }
}

struct OptionalCountVisitor;

impl<'de> Visitor<'de> for OptionalCountVisitor {
    type Value = Option<usize>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a whole number, 0 or more, or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<usize>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<usize>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        required(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Page {
        #[serde(default, deserialize_with = "super::required")]
        limit: usize,
        #[serde(default, deserialize_with = "super::optional")]
        depth: Option<usize>,
    }

    fn page(value: serde_json::Value) -> Result<Page, String> {
        serde_json::from_value(value).map_err(|error| error.to_string())
    }

    #[test]
    fn whole_numbers_are_counts_whether_written_as_integers_or_floats() {
        assert_eq!(page(json!({"limit": 10, "depth": 2})), Ok(Page { limit: 10, depth: Some(2) }));
        assert_eq!(page(json!({"limit": 10.0, "depth": 2.0})), Ok(Page { limit: 10, depth: Some(2) }));
        assert_eq!(page(json!({"limit": 0.0, "depth": null})), Ok(Page { limit: 0, depth: None }));
        assert_eq!(page(json!({})), Ok(Page { limit: 0, depth: None }));
        // From text too, as a body is parsed.
        let parsed: Page = serde_json::from_str(r#"{"limit": 1e2, "depth": -0.0}"#).expect("whole");
        assert_eq!(parsed, Page { limit: 100, depth: Some(0) });
    }

    #[test]
    fn fractions_negatives_and_other_types_are_refused_by_value() {
        let cases = [
            (json!({"limit": 2.5}), "invalid value: floating point `2.5`, expected a whole number, 0 or more"),
            (json!({"limit": -1}), "invalid value: integer `-1`, expected a whole number, 0 or more"),
            (json!({"limit": -3.0}), "invalid value: floating point `-3.0`, expected a whole number, 0 or more"),
            (json!({"limit": 1e30}), "invalid value: floating point `1e+30`, expected a whole number, 0 or more"),
            (json!({"limit": "10"}), "invalid type: string \"10\", expected a whole number, 0 or more"),
            (json!({"depth": true}), "invalid type: boolean `true`, expected a whole number, 0 or more"),
        ];
        for (body, expected) in cases {
            assert_eq!(page(body.clone()), Err(expected.to_owned()), "{body}");
        }
    }
}
