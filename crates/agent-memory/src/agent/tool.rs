//! Tools an agent can call: the [`Tool`] trait and [`FunctionTool`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::llm::ToolDefinition;

/// Why a tool call failed. The agent sends the message back to the model as the tool's
/// result (marked as an error), so the model can correct itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments do not match the tool's input schema.
    #[error("invalid arguments: {0}")]
    InvalidInput(String),
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// A [`ToolError::Failed`] with this message.
    pub fn failed(message: impl fmt::Display) -> ToolError {
        ToolError::Failed(message.to_string())
    }
}

/// Something the model can call: a name, a description, a JSON Schema of its input and an
/// async call that returns text for the model.
///
/// Memory tools and user tools implement the same trait, so they look the same to the
/// model. [`FunctionTool`] builds one from an async function whose input type derives
/// [`JsonSchema`] and [`serde::Deserialize`].
#[async_trait]
pub trait Tool: Send + Sync {
    /// The name the model calls it by (letters, digits, `_` and `-`; at most 64).
    fn name(&self) -> &str;

    /// What it does, for the model.
    fn description(&self) -> &str;

    /// A JSON Schema (an object schema) of its input.
    fn input_schema(&self) -> Value;

    /// Runs the tool with the model's arguments.
    async fn call(&self, input: Value) -> Result<String, ToolError>;

    /// The definition sent to the model.
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: self.name().to_owned(),
            description: self.description().to_owned(),
            parameters: self.input_schema(),
        }
    }
}

/// The JSON Schema of `T` as tool input: schemars' schema without the `$schema` key.
///
/// ```
/// use agent_memory::agent::input_schema;
/// use serde_json::json;
///
/// /// The city to look up.
/// #[derive(schemars::JsonSchema, serde::Deserialize)]
/// struct Weather { city: String }
///
/// assert_eq!(input_schema::<Weather>(), json!({
///     "title": "Weather",
///     "description": "The city to look up.",
///     "type": "object",
///     "properties": {"city": {"type": "string"}},
///     "required": ["city"],
/// }));
/// ```
pub fn input_schema<T: JsonSchema>() -> Value {
    let mut schema = schemars::schema_for!(T).to_value();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
    }
    schema
}

/// A [`Tool`] made from an async function of a typed input.
///
/// The input schema comes from `I`'s [`JsonSchema`]; the model's arguments are
/// deserialized into `I` before the call, and a mismatch is a [`ToolError::InvalidInput`]
/// the model gets to read.
///
/// ```
/// use agent_memory::agent::{FunctionTool, Tool, ToolError};
/// use serde_json::json;
///
/// #[derive(schemars::JsonSchema, serde::Deserialize)]
/// struct Add { a: i64, b: i64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let add = FunctionTool::new("add", "Adds two integers", |input: Add| async move {
///     input.a.checked_add(input.b).map(|sum| sum.to_string()).ok_or_else(|| ToolError::failed("overflow"))
/// });
/// assert_eq!(add.call(json!({"a": 2, "b": 3})).await, Ok("5".to_owned()));
/// assert_eq!(
///     add.call(json!({"a": 2})).await.unwrap_err().to_string(),
///     "invalid arguments: missing field `b`"
/// );
/// # }
/// ```
pub struct FunctionTool<I, F> {
    name: String,
    description: String,
    schema: Value,
    function: F,
    input: PhantomData<fn(I)>,
}

impl<I, F> fmt::Debug for FunctionTool<I, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionTool").field("name", &self.name).field("description", &self.description).finish()
    }
}

impl<I, F, Fut> FunctionTool<I, F>
where
    I: JsonSchema + DeserializeOwned + Send + 'static,
    F: Fn(I) -> Fut + Send + Sync,
    Fut: Future<Output = Result<String, ToolError>> + Send,
{
    /// A tool named `name` that runs `function`.
    pub fn new(name: impl Into<String>, description: impl Into<String>, function: F) -> FunctionTool<I, F> {
        FunctionTool {
            name: name.into(),
            description: description.into(),
            schema: input_schema::<I>(),
            function,
            input: PhantomData,
        }
    }
}

#[async_trait]
impl<I, F, Fut> Tool for FunctionTool<I, F>
where
    I: JsonSchema + DeserializeOwned + Send + 'static,
    F: Fn(I) -> Fut + Send + Sync,
    Fut: Future<Output = Result<String, ToolError>> + Send,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn input_schema(&self) -> Value {
        self.schema.clone()
    }

    async fn call(&self, input: Value) -> Result<String, ToolError> {
        let input: I = serde_json::from_value(input).map_err(|err| ToolError::InvalidInput(err.to_string()))?;
        (self.function)(input).await
    }
}
