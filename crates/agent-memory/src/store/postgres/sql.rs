//! SQL text with numbered parameters, and the translation of scopes and [`Filter`]s into
//! `WHERE` conditions with exactly the semantics of [`Filter::matches`].
//!
//! Every user-supplied value (namespaces, keys, field names, operands) travels as a bound
//! parameter; only identifiers we generate ourselves (the schema, which is validated, and
//! integer model ids and dimensions) are written into the text.

use serde_json::Value;
use tokio_postgres::types::ToSql;

use crate::store::backend::Scope;
use crate::store::{Condition, Filter, Operator};

/// A bound parameter.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// SQL text under construction and its parameters, in `$n` order.
#[derive(Debug, Default)]
pub(super) struct Sql {
    pub(super) text: String,
    params: Vec<Param>,
}

impl Sql {
    pub(super) fn new() -> Sql {
        Sql::default()
    }

    /// Binds `value` and returns its placeholder (`$n`).
    pub(super) fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    pub(super) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// The parameters as the driver wants them.
    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }

    /// Appends ` AND <live>`: the item is not expired at `now` (a bound `float8`).
    pub(super) fn and_live(&mut self, now: &str) {
        self.text.push_str(&format!(" AND (i.expires_at IS NULL OR i.expires_at > {now})"));
    }

    /// Appends ` AND <scope>` on the items' namespace (`i.ns`).
    pub(super) fn and_scope(&mut self, scope: &Scope) {
        self.and_scope_on("i.ns", scope);
    }

    /// Appends ` AND <scope>` on `column`, an encoded namespace (`COLLATE "C"`): an equality
    /// or a range, so that an index on it serves the scope.
    pub(super) fn and_scope_on(&mut self, column: &str, scope: &Scope) {
        match scope {
            Scope::Namespace(namespace) => {
                let p = self.bind(namespace.encoded());
                self.text.push_str(&format!(" AND {column} = {p}::text"));
            }
            Scope::Prefix(prefix) => {
                if let Some((low, high)) = prefix.encoded_range() {
                    let (low, high) = (self.bind(low), self.bind(high));
                    self.text.push_str(&format!(" AND {column} >= {low}::text AND {column} < {high}::text"));
                }
            }
        }
    }

    /// Appends ` AND <condition>` for every condition of `filter`.
    pub(super) fn and_filter(&mut self, filter: &Filter) {
        for condition in filter.conditions() {
            let sql = self.condition(condition);
            self.text.push_str(" AND ");
            self.text.push_str(&sql);
        }
    }

    /// One condition. The field is `i.value -> $a -> $b …` with text keys: on `json`, `->`
    /// with a text operand only descends into objects (never array elements) and is SQL
    /// `NULL` when the field is missing, exactly like [`crate::store::filter::lookup`]; a
    /// present JSON `null` is the JSON value `null`, not SQL `NULL`.
    fn condition(&mut self, condition: &Condition) -> String {
        let mut field = String::from("i.value");
        for segment in &condition.path {
            let p = self.bind(segment.clone());
            field = format!("({field} -> {p}::text)");
        }
        match &condition.op {
            Operator::Exists(true) => format!("({field} IS NOT NULL)"),
            Operator::Exists(false) => format!("({field} IS NULL)"),
            Operator::Eq(operand) => {
                let p = self.bind(operand.clone());
                format!("coalesce({field}::jsonb = {p}::jsonb, false)")
            }
            Operator::Ne(operand) => {
                let p = self.bind(operand.clone());
                format!("coalesce({field}::jsonb <> {p}::jsonb, true)")
            }
            Operator::In(options) => {
                let p = self.bind(Value::Array(options.clone()));
                format!(
                    "coalesce(EXISTS (SELECT 1 FROM jsonb_array_elements({p}::jsonb) AS o(v) WHERE o.v = {field}::jsonb), false)"
                )
            }
            Operator::Nin(options) => {
                let p = self.bind(Value::Array(options.clone()));
                format!(
                    "({field} IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements({p}::jsonb) AS o(v) WHERE o.v = {field}::jsonb))"
                )
            }
            Operator::Gt(operand) => self.ordered(&field, ">", operand),
            Operator::Gte(operand) => self.ordered(&field, ">=", operand),
            Operator::Lt(operand) => self.ordered(&field, "<", operand),
            Operator::Lte(operand) => self.ordered(&field, "<=", operand),
        }
    }

    /// A typed comparison: it holds only when the field has the operand's JSON type, and
    /// then compares numbers as `numeric` (exact, so `10 > 9` and big integers stay exact),
    /// strings bytewise (`COLLATE "C"`) and booleans as booleans. `CASE` guards the casts,
    /// which would fail on other types.
    fn ordered(&mut self, field: &str, op: &str, operand: &Value) -> String {
        let (json_type, cast, bound) = match operand {
            Value::Number(n) => ("number", "::numeric", self.bind(n.to_string())),
            Value::String(s) => ("string", " COLLATE \"C\"", self.bind(s.clone())),
            Value::Bool(b) => ("boolean", "::boolean", self.bind(*b)),
            // Filter::from_json admits only the three types above for ordering operators.
            Value::Null | Value::Array(_) | Value::Object(_) => return "false".to_owned(),
        };
        let rhs = match operand {
            Value::Number(_) => format!("{bound}::text::numeric"),
            Value::String(_) => format!("{bound}::text"),
            _ => format!("{bound}::boolean"),
        };
        format!(
            "(CASE WHEN json_typeof({field}) = '{json_type}' THEN ({field} #>> '{{}}'){cast} {op} {rhs} ELSE false END)"
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::NamespacePrefix;

    #[test]
    fn values_are_bound_never_inlined() {
        let mut sql = Sql::new();
        sql.and_scope(&Scope::Prefix(NamespacePrefix::new(["it's"]).expect("valid")));
        sql.and_filter(&Filter::from_json(&json!({"a.b'": {"$gt": 9}, "c": "x'); DROP"})).expect("valid"));
        assert!(!sql.text.contains("it's") && !sql.text.contains("DROP") && !sql.text.contains("b'"), "{}", sql.text);
        assert_eq!(sql.params().len(), 7);
    }
}
