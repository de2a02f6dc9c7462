//! Schemas the OpenAPI document gives the identifiers every endpoint checks the same way,
//! so that clients generated from it (and fuzzers) send what the server accepts: a label or
//! an id is 1 to 255 bytes, a key 1 to 1024, neither with a control character (Unicode Cc,
//! as `char::is_control`). A schema counts characters, not bytes: its `maxLength` is the
//! byte limit, which only text of ASCII characters reaches.

use agent_memory::store::{MAX_KEY_BYTES, MAX_LABEL_BYTES};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// The pattern of a label, an id and a key: at least one character, none a control one.
/// (utoipa's attributes take only string literals: the dotted namespace of `GET
/// /store/items` and the session prefix of `GET /sessions` spell it out again.)
pub(crate) const NO_CONTROL: &str = r"^[^\u0000-\u001F\u007F-\u009F]+$";

/// A namespace label, a user id or a session id: 1 to 255 bytes, no control character.
pub(crate) struct Label;

/// An item key: 1 to 1024 bytes, no control character.
pub(crate) struct Key;

fn identifier(max_bytes: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!("1 to {max_bytes} bytes, no control character")))
        .pattern(Some(NO_CONTROL))
        .min_length(Some(1))
        .max_length(Some(max_bytes))
        .into()
}

impl PartialSchema for Label {
    fn schema() -> RefOr<Schema> {
        identifier(MAX_LABEL_BYTES)
    }
}

impl ToSchema for Label {}

impl PartialSchema for Key {
    fn schema() -> RefOr<Schema> {
        identifier(MAX_KEY_BYTES)
    }
}

impl ToSchema for Key {}
