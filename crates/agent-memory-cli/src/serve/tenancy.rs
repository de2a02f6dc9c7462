//! Tenant scoping: the namespace a client names is stored under its tenant's label.
//!
//! A client of tenant `acme` that writes to `["user_1", "prefs"]` writes to the store's
//! `["acme", "user_1", "prefs"]`; every read, search and listing is confined to the
//! `["acme"]` prefix, and the tenant label is stripped from everything returned.
//!
//! **Invariants:** every namespace or prefix handed to the store goes through
//! [`scope_namespace`] or [`scope_prefix`], so it starts with the caller's tenant; every
//! namespace handed back goes through [`unscope`], which refuses one of another tenant.
//! Tenant names are namespace labels themselves (see `config::Tenant`), so the mapping is
//! injective: two tenants never share a stored namespace.
//!
//! User ids (conversations) and session ids are scoped the same way, as `TENANT/ID`
//! ([`scope_id`], [`unscope_id`]): a tenant name never contains `/`, so the stored id
//! names its tenant unambiguously, and a conversation namespace (`["acme/u1",
//! "conversations", …]`) never starts with a bare tenant label, so the store endpoints
//! never reach conversations either.

use agent_memory::store::{MAX_DEPTH, Namespace, NamespacePrefix};

use super::config::Tenant;
use super::error::ApiError;

/// The most labels a client namespace may have: the store's limit less the tenant label.
pub(crate) const MAX_CLIENT_DEPTH: usize = MAX_DEPTH - 1;

/// The stored namespace for the client's `labels` (at least one).
pub(crate) fn scope_namespace(tenant: &Tenant, labels: &[String]) -> Result<Namespace, ApiError> {
    if labels.is_empty() {
        return Err(ApiError::invalid_namespace("a namespace needs at least one label"));
    }
    let prefix = scope_prefix(tenant, labels)?;
    Namespace::new(prefix.labels().iter().cloned()).map_err(|error| ApiError::invalid_namespace(error.to_string()))
}

/// The stored prefix for the client's prefix `labels` (possibly none: all of the tenant).
pub(crate) fn scope_prefix(tenant: &Tenant, labels: &[String]) -> Result<NamespacePrefix, ApiError> {
    if labels.len() > MAX_CLIENT_DEPTH {
        return Err(ApiError::invalid_namespace(format!(
            "a namespace has at most {MAX_CLIENT_DEPTH} labels, got {}",
            labels.len()
        )));
    }
    // Validate the client's labels on their own, so that messages never mention the tenant.
    NamespacePrefix::new(labels.iter().cloned()).map_err(|error| ApiError::invalid_namespace(strip_kind(&error)))?;
    NamespacePrefix::new(std::iter::once(tenant.as_str().to_owned()).chain(labels.iter().cloned()))
        .map_err(|error| ApiError::invalid_namespace(strip_kind(&error)))
}

/// The client's view of a stored namespace: without the tenant label.
///
/// # Errors
///
/// An internal error if `namespace` is not the tenant's (a scoping bug): it is never shown.
pub(crate) fn unscope(tenant: &Tenant, namespace: &Namespace) -> Result<Vec<String>, ApiError> {
    match namespace.labels().split_first() {
        Some((first, rest)) if first == tenant.as_str() => Ok(rest.to_vec()),
        _ => Err(ApiError::internal(format!("the store returned a namespace outside tenant {tenant}"))),
    }
}

/// What separates the tenant from a client's id in a stored user or session id.
pub(crate) const ID_SEPARATOR: char = '/';

/// The stored id for the client's user or session `id` (`field` names it in errors).
///
/// The id must be non-empty, without control characters, and short enough that the
/// stored form fits in `max_stored_bytes`.
pub(crate) fn scope_id(tenant: &Tenant, field: &str, id: &str, max_stored_bytes: usize) -> Result<String, ApiError> {
    let max_bytes = max_stored_bytes.saturating_sub(tenant.as_str().len() + ID_SEPARATOR.len_utf8());
    if id.is_empty() {
        return Err(ApiError::invalid(format!("{field} must not be empty")));
    }
    if id.len() > max_bytes {
        return Err(ApiError::invalid(format!("{field} has at most {max_bytes} bytes, got {}", id.len())));
    }
    if id.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!("{field} must not contain control characters")));
    }
    Ok(format!("{tenant}{ID_SEPARATOR}{id}"))
}

/// The stored prefix for a client's id `prefix` (possibly empty: every id of the tenant),
/// for a listing by prefix (`field` names it in errors): `TENANT/` and the prefix.
///
/// A tenant name never contains the separator, so `TENANT/` is a prefix of the tenant's
/// own stored ids only: not of `TENANTX/…` (tenant `acme` never lists tenant `acmex`'s
/// ids), nor of any id of another tenant.
pub(crate) fn scope_id_prefix(
    tenant: &Tenant,
    field: &str,
    prefix: &str,
    max_stored_bytes: usize,
) -> Result<String, ApiError> {
    let max_bytes = max_stored_bytes.saturating_sub(tenant.as_str().len() + ID_SEPARATOR.len_utf8());
    if prefix.len() > max_bytes {
        return Err(ApiError::invalid(format!("{field} has at most {max_bytes} bytes, got {}", prefix.len())));
    }
    if prefix.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!("{field} must not contain control characters")));
    }
    Ok(format!("{tenant}{ID_SEPARATOR}{prefix}"))
}

/// The client's view of a stored user or session id: without the tenant; `None` when it
/// belongs to another tenant (or to no tenant at all).
pub(crate) fn unscope_id<'a>(tenant: &Tenant, stored: &'a str) -> Option<&'a str> {
    stored.strip_prefix(tenant.as_str())?.strip_prefix(ID_SEPARATOR)
}

/// `invalid namespace: label 1 is empty` → `label 1 is empty` (the code says the kind).
fn strip_kind(error: &agent_memory::store::StoreError) -> String {
    let text = error.to_string();
    text.strip_prefix("invalid namespace: ").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> Tenant {
        Tenant::new("acme").expect("tenant")
    }

    fn labels(items: &[&str]) -> Vec<String> {
        items.iter().map(|label| (*label).to_owned()).collect()
    }

    #[test]
    fn namespaces_are_stored_under_the_tenant_and_returned_without_it() {
        let stored = scope_namespace(&acme(), &labels(&["user_1", "prefs"])).expect("valid");
        assert_eq!(stored.labels(), ["acme", "user_1", "prefs"]);
        assert_eq!(unscope(&acme(), &stored).expect("own"), ["user_1", "prefs"]);
        assert_eq!(scope_prefix(&acme(), &[]).expect("root").labels(), ["acme"]);
    }

    #[test]
    fn ids_are_stored_under_the_tenant_and_never_unscoped_for_another() {
        assert_eq!(scope_id(&acme(), "user_id", "u1", 255).expect("valid"), "acme/u1");
        assert_eq!(scope_id(&acme(), "user_id", "a/b", 255).expect("valid"), "acme/a/b");
        assert_eq!(unscope_id(&acme(), "acme/a/b"), Some("a/b"));
        assert_eq!(unscope_id(&acme(), "acmex/u1"), None);
        assert_eq!(unscope_id(&acme(), "globex/acme/u1"), None);
        assert_eq!(unscope_id(&acme(), "acme"), None);
        let (code, message) = scope_id(&acme(), "user_id", "", 255).expect_err("empty").into_parts();
        assert_eq!((code, message.as_str()), ("invalid_request", "user_id must not be empty"));
        let long = "x".repeat(251);
        let (_, message) = scope_id(&acme(), "session_id", &long, 255).expect_err("long").into_parts();
        assert_eq!(message, "session_id has at most 250 bytes, got 251");
        assert!(scope_id(&acme(), "session_id", &"x".repeat(250), 255).is_ok());
        assert!(scope_id(&acme(), "user_id", "a\nb", 255).is_err());
    }

    #[test]
    fn an_id_prefix_is_stored_under_the_tenant_and_no_other_tenants_ids_start_with_it() {
        let acme_all = scope_id_prefix(&acme(), "prefix", "", 256).expect("valid");
        assert_eq!(acme_all, "acme/");
        assert_eq!(scope_id_prefix(&acme(), "prefix", "t", 256).expect("valid"), "acme/t");
        let acmex = Tenant::new("acmex").expect("tenant");
        let theirs = scope_id(&acmex, "session_id", "t1", 256).expect("valid");
        assert!(!theirs.starts_with(&acme_all), "{theirs}");
        assert_eq!(scope_id_prefix(&acme(), "prefix", &"x".repeat(251), 256).expect("valid").len(), 256);
        let (code, message) = scope_id_prefix(&acme(), "prefix", &"x".repeat(252), 256).expect_err("long").into_parts();
        assert_eq!((code, message.as_str()), ("invalid_request", "prefix has at most 251 bytes, got 252"));
        let (_, message) = scope_id_prefix(&acme(), "prefix", "a\tb", 256).expect_err("control").into_parts();
        assert_eq!(message, "prefix must not contain control characters");
    }

    #[test]
    fn another_tenants_namespace_is_never_unscoped() {
        let theirs = Namespace::new(["globex", "user_1"]).expect("namespace");
        assert_eq!(unscope(&acme(), &theirs).expect_err("foreign").into_parts().0, "internal");
    }

    #[test]
    fn bad_client_namespaces_are_rejected_without_naming_the_tenant() {
        let empty = scope_namespace(&acme(), &[]).expect_err("empty").into_parts();
        assert_eq!(empty, ("invalid_namespace", "a namespace needs at least one label".to_owned()));
        let too_deep = vec!["x".to_owned(); MAX_CLIENT_DEPTH + 1];
        let deep = scope_namespace(&acme(), &too_deep).expect_err("deep").into_parts();
        assert_eq!(
            deep,
            ("invalid_namespace", format!("a namespace has at most 31 labels, got {}", MAX_CLIENT_DEPTH + 1))
        );
        let (code, message) = scope_namespace(&acme(), &labels(&["ok", ""])).expect_err("empty label").into_parts();
        assert_eq!(code, "invalid_namespace");
        assert!(!message.contains("acme"), "{message}");
        assert!(scope_namespace(&acme(), &vec!["x".to_owned(); MAX_CLIENT_DEPTH]).is_ok());
    }
}
