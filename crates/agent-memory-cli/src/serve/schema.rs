//! Schemas the OpenAPI document gives the identifiers every endpoint checks the same way,
//! so that clients generated from it (and fuzzers) send what the server accepts: a label or
//! an id is 1 to 255 bytes, a key 1 to 1024, neither with a control character (Unicode Cc,
//! as `char::is_control`). A schema counts characters, not bytes: its `maxLength` is the
//! byte limit, which only text of ASCII characters reaches. Namespaces and prefixes have at
//! most [`MAX_CLIENT_DEPTH`] labels. (The schemas are built here rather than in attributes,
//! which take only literals, so that each limit is its constant.)

use agent_memory::store::{MAX_KEY_BYTES, MAX_LABEL_BYTES};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::tenancy::MAX_CLIENT_DEPTH;

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

/// A client's namespace: 1 to [`MAX_CLIENT_DEPTH`] labels (the tenant's label takes one of
/// the store's).
pub(crate) struct ClientNamespace;

/// A client's namespace prefix: up to [`MAX_CLIENT_DEPTH`] labels (none: all of the tenant).
pub(crate) struct ClientPrefix;

fn labels(min_items: usize) -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("Label"))
        .min_items(Some(min_items))
        .max_items(Some(MAX_CLIENT_DEPTH))
        .into()
}

impl PartialSchema for ClientNamespace {
    fn schema() -> RefOr<Schema> {
        labels(1)
    }
}

impl ToSchema for ClientNamespace {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Label::name().into(), Label::schema()));
    }
}

impl PartialSchema for ClientPrefix {
    fn schema() -> RefOr<Schema> {
        labels(0)
    }
}

impl ToSchema for ClientPrefix {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Label::name().into(), Label::schema()));
    }
}
