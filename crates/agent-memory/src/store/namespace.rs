//! Namespaces: validated, non-empty tuples of labels, and the prefixes that select them.
//!
//! A namespace such as `("user_123", "preferences")` groups items the way a directory
//! groups files. Labels are validated so that every backend can store a namespace as one
//! text column without ambiguity: labels never contain control characters, so they are
//! joined with the unit separator `U+001F` ([`Namespace::encoded`]). That encoding is
//! injective (`("a/b",)` and `("a", "b")` stay distinct) and order-preserving: comparing
//! two encoded namespaces bytewise gives the same order as comparing their label tuples,
//! which lets backends answer prefix queries with one index range scan
//! ([`NamespacePrefix::encoded_range`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::StoreError;

/// The longest label, in bytes.
pub const MAX_LABEL_BYTES: usize = 255;
/// The most labels a namespace may have.
pub const MAX_DEPTH: usize = 32;
/// The separator between labels in [`Namespace::encoded`]: the ASCII unit separator.
pub const LABEL_SEPARATOR: char = '\u{1f}';

/// A non-empty tuple of labels identifying a group of items, e.g. `["user_123", "prefs"]`.
///
/// Every label is non-empty, at most [`MAX_LABEL_BYTES`] bytes, and free of control
/// characters (U+0000–U+001F, U+007F–U+009F); a namespace has at most [`MAX_DEPTH`]
/// labels. Namespaces order as tuples of labels compared bytewise.
///
/// # Examples
///
/// ```
/// use agent_memory::store::Namespace;
///
/// let ns = Namespace::new(["user_123", "preferences"])?;
/// assert_eq!(ns.labels(), ["user_123", "preferences"]);
/// assert_eq!(ns.to_string(), r#"["user_123","preferences"]"#);
/// assert!(Namespace::new(["a/b"])? != Namespace::new(["a", "b"])?);
/// assert!(Namespace::new(Vec::<String>::new()).is_err());
/// # Ok::<(), agent_memory::store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Namespace {
    labels: Vec<String>,
}

impl Namespace {
    /// Validates `labels` into a namespace.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] when there are no labels, too many, or a label is
    /// empty, too long or contains a control character.
    pub fn new<I, S>(labels: I) -> Result<Namespace, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        if labels.is_empty() {
            return Err(StoreError::InvalidNamespace("a namespace needs at least one label".into()));
        }
        validate_labels(&labels)?;
        Ok(Namespace { labels })
    }

    /// Parses the command-line and wire form: a JSON array of labels
    /// (`["user_123","prefs"]`), or a bare word, which is a one-label namespace.
    ///
    /// ```
    /// use agent_memory::store::Namespace;
    ///
    /// assert_eq!(Namespace::parse(r#"["user_123","prefs"]"#)?.labels(), ["user_123", "prefs"]);
    /// assert_eq!(Namespace::parse("simple")?.labels(), ["simple"]);
    /// # Ok::<(), agent_memory::store::StoreError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] for malformed JSON or invalid labels.
    pub fn parse(text: &str) -> Result<Namespace, StoreError> {
        Namespace::new(parse_labels(text)?)
    }

    /// The labels, outermost first.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// How many labels the namespace has (at least 1).
    pub fn depth(&self) -> usize {
        self.labels.len()
    }

    /// The storage form: labels joined with [`LABEL_SEPARATOR`]. Injective and
    /// order-preserving (see the module documentation).
    pub fn encoded(&self) -> String {
        encode(&self.labels)
    }

    /// Decodes [`Namespace::encoded`] output.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when `encoded` is not a valid encoded namespace (a corrupt row).
    pub fn decode(encoded: &str) -> Result<Namespace, StoreError> {
        Namespace::new(encoded.split(LABEL_SEPARATOR))
            .map_err(|e| StoreError::backend("namespace", format!("corrupt stored namespace {encoded:?}: {e}")))
    }

    /// Whether `prefix` selects this namespace (label by label, so `["user_1"]` selects
    /// `["user_1", "x"]` but not `["user_10"]`).
    pub fn starts_with(&self, prefix: &NamespacePrefix) -> bool {
        self.labels.starts_with(prefix.labels())
    }

    /// Whether the last labels of this namespace equal `suffix`.
    pub fn ends_with(&self, suffix: &[String]) -> bool {
        self.labels.ends_with(suffix)
    }

    /// The namespace cut to at most `depth` labels (`depth` ≥ 1).
    pub fn truncated(&self, depth: usize) -> Namespace {
        Namespace { labels: self.labels[..depth.clamp(1, self.labels.len())].to_vec() }
    }
}

impl fmt::Display for Namespace {
    /// The JSON-array form accepted by [`Namespace::parse`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(&self.labels).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl<'de> Deserialize<'de> for Namespace {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let labels = Vec::<String>::deserialize(deserializer)?;
        Namespace::new(labels).map_err(serde::de::Error::custom)
    }
}

/// A possibly empty tuple of labels selecting every namespace that starts with it.
/// The empty prefix ([`NamespacePrefix::root`]) selects everything.
///
/// # Examples
///
/// ```
/// use agent_memory::store::{Namespace, NamespacePrefix};
///
/// let prefix = NamespacePrefix::new(["user_1"])?;
/// assert!(Namespace::new(["user_1", "prefs"])?.starts_with(&prefix));
/// assert!(!Namespace::new(["user_10"])?.starts_with(&prefix));
/// assert!(Namespace::new(["anything"])?.starts_with(&NamespacePrefix::root()));
/// # Ok::<(), agent_memory::store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(transparent)]
pub struct NamespacePrefix {
    labels: Vec<String>,
}

impl NamespacePrefix {
    /// The empty prefix: every namespace.
    pub fn root() -> NamespacePrefix {
        NamespacePrefix { labels: Vec::new() }
    }

    /// Validates `labels` (possibly none) into a prefix.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] when a label is invalid or there are too many.
    pub fn new<I, S>(labels: I) -> Result<NamespacePrefix, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        validate_labels(&labels)?;
        Ok(NamespacePrefix { labels })
    }

    /// Parses the same forms as [`Namespace::parse`]; `[]` is the root prefix.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] for malformed JSON or invalid labels.
    pub fn parse(text: &str) -> Result<NamespacePrefix, StoreError> {
        NamespacePrefix::new(parse_labels(text)?)
    }

    /// The labels (possibly none).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Whether this is the root prefix.
    pub fn is_root(&self) -> bool {
        self.labels.is_empty()
    }

    /// The half-open range `[low, high)` of [`Namespace::encoded`] strings selected by
    /// this prefix, or `None` for the root prefix (everything).
    ///
    /// `low` is the prefix's own encoding and `high` is it followed by a space: every
    /// selected namespace is the prefix itself or continues with the separator U+001F,
    /// which sorts below every character a label may contain.
    pub fn encoded_range(&self) -> Option<(String, String)> {
        if self.labels.is_empty() {
            return None;
        }
        let low = encode(&self.labels);
        let high = format!("{low} ");
        Some((low, high))
    }
}

impl From<Namespace> for NamespacePrefix {
    fn from(namespace: Namespace) -> NamespacePrefix {
        NamespacePrefix { labels: namespace.labels }
    }
}

impl From<&Namespace> for NamespacePrefix {
    fn from(namespace: &Namespace) -> NamespacePrefix {
        NamespacePrefix { labels: namespace.labels.clone() }
    }
}

impl fmt::Display for NamespacePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(&self.labels).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// Conversion into a validated [`Namespace`], so store methods accept
/// `("user_1", "prefs")`, `["user_1", "prefs"]`, `"simple"` or a [`Namespace`].
///
/// ```
/// use agent_memory::store::{IntoNamespace, Namespace};
///
/// assert_eq!(("user_1", "prefs").into_namespace()?, Namespace::new(["user_1", "prefs"])?);
/// assert_eq!("simple".into_namespace()?.labels(), ["simple"]);
/// # Ok::<(), agent_memory::store::StoreError>(())
/// ```
pub trait IntoNamespace {
    /// Validates and converts.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] when the labels are invalid.
    fn into_namespace(self) -> Result<Namespace, StoreError>;
}

impl IntoNamespace for Namespace {
    fn into_namespace(self) -> Result<Namespace, StoreError> {
        Ok(self)
    }
}

impl IntoNamespace for &Namespace {
    fn into_namespace(self) -> Result<Namespace, StoreError> {
        Ok(self.clone())
    }
}

/// A string is a one-label namespace (as in the reference library), not parsed as JSON.
impl IntoNamespace for &str {
    fn into_namespace(self) -> Result<Namespace, StoreError> {
        Namespace::new([self])
    }
}

impl IntoNamespace for String {
    fn into_namespace(self) -> Result<Namespace, StoreError> {
        Namespace::new([self])
    }
}

impl IntoNamespace for &String {
    fn into_namespace(self) -> Result<Namespace, StoreError> {
        Namespace::new([self.as_str()])
    }
}

impl<S: AsRef<str>, const N: usize> IntoNamespace for [S; N] {
    fn into_namespace(self) -> Result<Namespace, StoreError> {
        Namespace::new(self.iter().map(|s| s.as_ref().to_owned()))
    }
}

impl<S: AsRef<str>> IntoNamespace for &[S] {
    fn into_namespace(self) -> Result<Namespace, StoreError> {
        Namespace::new(self.iter().map(|s| s.as_ref().to_owned()))
    }
}

impl<S: AsRef<str>> IntoNamespace for Vec<S> {
    fn into_namespace(self) -> Result<Namespace, StoreError> {
        Namespace::new(self.iter().map(|s| s.as_ref().to_owned()))
    }
}

macro_rules! tuple_into_namespace {
    ($($name:ident),+) => {
        impl<$($name: AsRef<str>),+> IntoNamespace for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_namespace(self) -> Result<Namespace, StoreError> {
                let ($($name,)+) = self;
                Namespace::new([$($name.as_ref().to_owned()),+])
            }
        }
    };
}

tuple_into_namespace!(A);
tuple_into_namespace!(A, B);
tuple_into_namespace!(A, B, C);
tuple_into_namespace!(A, B, C, D);

/// Conversion into a [`NamespacePrefix`]; everything that is an [`IntoNamespace`] is one,
/// and so is a [`NamespacePrefix`].
pub trait IntoNamespacePrefix {
    /// Validates and converts.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] when the labels are invalid.
    fn into_namespace_prefix(self) -> Result<NamespacePrefix, StoreError>;
}

impl IntoNamespacePrefix for NamespacePrefix {
    fn into_namespace_prefix(self) -> Result<NamespacePrefix, StoreError> {
        Ok(self)
    }
}

impl IntoNamespacePrefix for &NamespacePrefix {
    fn into_namespace_prefix(self) -> Result<NamespacePrefix, StoreError> {
        Ok(self.clone())
    }
}

impl<T: IntoNamespace> IntoNamespacePrefix for T {
    fn into_namespace_prefix(self) -> Result<NamespacePrefix, StoreError> {
        self.into_namespace().map(NamespacePrefix::from)
    }
}

fn encode(labels: &[String]) -> String {
    let mut out = String::with_capacity(labels.iter().map(|l| l.len() + 1).sum());
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(LABEL_SEPARATOR);
        }
        out.push_str(label);
    }
    out
}

fn validate_labels(labels: &[String]) -> Result<(), StoreError> {
    if labels.len() > MAX_DEPTH {
        return Err(StoreError::InvalidNamespace(format!(
            "a namespace has at most {MAX_DEPTH} labels, got {}",
            labels.len()
        )));
    }
    for label in labels {
        if label.is_empty() {
            return Err(StoreError::InvalidNamespace("namespace labels must not be empty".into()));
        }
        if label.len() > MAX_LABEL_BYTES {
            return Err(StoreError::InvalidNamespace(format!(
                "namespace label is {} bytes, the limit is {MAX_LABEL_BYTES}",
                label.len()
            )));
        }
        if label.chars().any(char::is_control) {
            return Err(StoreError::InvalidNamespace(format!(
                "namespace label {label:?} contains a control character"
            )));
        }
    }
    Ok(())
}

fn parse_labels(text: &str) -> Result<Vec<String>, StoreError> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<String>>(trimmed).map_err(|e| {
            StoreError::InvalidNamespace(format!("a namespace is a JSON array of strings or a bare word: {e}"))
        })
    } else {
        Ok(vec![text.to_owned()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(labels: &[&str]) -> Namespace {
        Namespace::new(labels.iter().copied()).expect("valid namespace")
    }

    #[test]
    fn separators_in_labels_do_not_collide() {
        assert_ne!(ns(&["a/b"]).encoded(), ns(&["a", "b"]).encoded());
        assert_ne!(ns(&["a.b"]).encoded(), ns(&["a", "b"]).encoded());
        assert_eq!(Namespace::decode(&ns(&["a", "b/c"]).encoded()).expect("decodes"), ns(&["a", "b/c"]));
    }

    #[test]
    fn encoding_preserves_tuple_order() {
        let mut namespaces =
            vec![ns(&["a b"]), ns(&["a", "b"]), ns(&["a"]), ns(&["a!"]), ns(&["a", "a", "z"]), ns(&["é"]), ns(&["b"])];
        let mut by_encoding = namespaces.clone();
        namespaces.sort();
        by_encoding.sort_by_key(Namespace::encoded);
        assert_eq!(namespaces, by_encoding);
    }

    #[test]
    fn prefix_range_selects_exactly_the_descendants() {
        let prefix = NamespacePrefix::new(["user_1"]).expect("valid");
        let (low, high) = prefix.encoded_range().expect("not root");
        let inside = |n: &Namespace| {
            let e = n.encoded();
            e >= low && e < high
        };
        assert!(inside(&ns(&["user_1"])));
        assert!(inside(&ns(&["user_1", "prefs"])));
        assert!(inside(&ns(&["user_1", "prefs", "deep"])));
        assert!(!inside(&ns(&["user_10"])));
        assert!(!inside(&ns(&["user_1 "])));
        assert!(!inside(&ns(&["user_"])));
        assert!(!inside(&ns(&["user_2"])));
    }

    #[test]
    fn invalid_labels_are_rejected() {
        assert!(matches!(Namespace::new([""]), Err(StoreError::InvalidNamespace(_))));
        assert!(matches!(Namespace::new(["a\u{1f}b"]), Err(StoreError::InvalidNamespace(_))));
        assert!(matches!(Namespace::new(["a\nb"]), Err(StoreError::InvalidNamespace(_))));
        assert!(matches!(Namespace::new(["x".repeat(256)]), Err(StoreError::InvalidNamespace(_))));
        assert!(Namespace::new(["x".repeat(255)]).is_ok());
        assert!(matches!(Namespace::new(vec!["a"; 33]), Err(StoreError::InvalidNamespace(_))));
        assert!(matches!(Namespace::parse("[1,2]"), Err(StoreError::InvalidNamespace(_))));
        assert!(matches!(Namespace::parse("[]"), Err(StoreError::InvalidNamespace(_))));
        assert!(NamespacePrefix::parse("[]").expect("root").is_root());
    }

    #[test]
    fn truncation_and_suffix() {
        let n = ns(&["a", "b", "c"]);
        assert_eq!(n.truncated(2), ns(&["a", "b"]));
        assert_eq!(n.truncated(9), n);
        assert!(n.ends_with(&["b".to_owned(), "c".to_owned()]));
        assert!(!n.ends_with(&["b".to_owned()]));
    }
}
