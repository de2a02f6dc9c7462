//! Paged listings of sessions: [`SessionListQuery`] in, [`SessionPage`] out, and the id
//! range both the listing and the export read ([`IdRange`]).
//!
//! Every backend reads a page as one range of its session-id index: the ids from the
//! query's lower bound (the prefix, or the cursor when it lies further on) up to the
//! prefix's successor (the least string above every string that starts with the prefix),
//! in bytewise order, at most `limit + 1` of them (the extra one only says that more
//! follow). So a page costs what it returns, however many other sessions the store holds.

use std::ops::Bound;

use super::{MAX_SESSION_ID_BYTES, SessionError, SessionInfo, validate_session_id};

/// The most sessions one [`SessionStore::list_page`](super::SessionStore::list_page)
/// call returns.
pub const MAX_SESSION_PAGE: usize = 1_000;

/// Which sessions a [`SessionStore::list_page`](super::SessionStore::list_page) call
/// reads: those whose id starts with a prefix (bytewise; all of them by default), after a
/// cursor (exclusive; from the first by default), at most `limit` of them, sorted by id.
///
/// Built valid or not at all: the limit is 1 to [`MAX_SESSION_PAGE`], the prefix and the
/// cursor are checked when they are set.
///
/// ```
/// use agent_memory::session::{MAX_SESSION_PAGE, SessionListQuery};
///
/// let query = SessionListQuery::new(50)?.with_prefix("acme/")?.with_after("acme/thread_7")?;
/// assert_eq!((query.prefix(), query.after(), query.limit()), ("acme/", Some("acme/thread_7"), 50));
/// assert!(SessionListQuery::new(0).is_err());
/// assert!(SessionListQuery::new(MAX_SESSION_PAGE + 1).is_err());
/// # Ok::<(), agent_memory::session::SessionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionListQuery {
    prefix: String,
    after: Option<String>,
    limit: usize,
}

impl SessionListQuery {
    /// The first `limit` sessions of the store, sorted by id.
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidQuery`] when `limit` is 0 or over [`MAX_SESSION_PAGE`].
    pub fn new(limit: usize) -> Result<SessionListQuery, SessionError> {
        if limit == 0 || limit > MAX_SESSION_PAGE {
            return Err(SessionError::InvalidQuery(format!("limit must be 1 to {MAX_SESSION_PAGE}, got {limit}")));
        }
        Ok(SessionListQuery { prefix: String::new(), after: None, limit })
    }

    /// Only sessions whose id starts with `prefix`, byte for byte (`""`: all of them).
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidQuery`] when the prefix is longer than a session id may be
    /// ([`MAX_SESSION_ID_BYTES`]) or holds control characters (no id could start with it).
    pub fn with_prefix(self, prefix: impl Into<String>) -> Result<SessionListQuery, SessionError> {
        let prefix = prefix.into();
        if prefix.len() > MAX_SESSION_ID_BYTES {
            return Err(SessionError::InvalidQuery(format!(
                "prefix has at most {MAX_SESSION_ID_BYTES} bytes, got {}",
                prefix.len()
            )));
        }
        if prefix.chars().any(char::is_control) {
            return Err(SessionError::InvalidQuery("prefix must not contain control characters".to_owned()));
        }
        Ok(SessionListQuery { prefix, ..self })
    }

    /// Only sessions whose id comes after `session_id` (bytewise, exclusive): the
    /// [`SessionPage::next_after`] of the previous page. The id need not exist any more.
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidId`] when `session_id` is not a valid id.
    pub fn with_after(self, session_id: impl Into<String>) -> Result<SessionListQuery, SessionError> {
        let after = session_id.into();
        validate_session_id(&after)?;
        Ok(SessionListQuery { after: Some(after), ..self })
    }

    /// The prefix every listed id starts with (`""`: no condition).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The cursor: listed ids come after it.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The most sessions the page holds (1 to [`MAX_SESSION_PAGE`]).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The ids the query may list, before its limit.
    pub(crate) fn range(&self) -> IdRange {
        IdRange::new(&self.prefix, self.after.as_deref())
    }
}

/// One page of a listing: sessions sorted by id, and where the next page starts.
///
/// ```
/// use agent_memory::message::Message;
/// use agent_memory::session::{InMemorySessions, SessionListQuery, SessionStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agent_memory::session::SessionError> {
/// let sessions = InMemorySessions::new();
/// for id in ["acme/t1", "acme/t2", "acme/t3", "acmex/t1"] {
///     sessions.append(id, &[Message::user("hi")]).await?;
/// }
/// let mut query = SessionListQuery::new(2)?.with_prefix("acme/")?;
/// let mut ids = Vec::new();
/// loop {
///     let page = sessions.list_page(&query).await?;
///     ids.extend(page.sessions.into_iter().map(|info| info.session_id));
///     match page.next_after {
///         Some(after) => query = query.with_after(after)?,
///         None => break,
///     }
/// }
/// assert_eq!(ids, ["acme/t1", "acme/t2", "acme/t3"]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    /// The sessions, sorted by id; at most the query's limit.
    pub sessions: Vec<SessionInfo>,
    /// The id to continue after ([`SessionListQuery::with_after`]) when more sessions
    /// matched the query as this page was read; `None` on the last page.
    pub next_after: Option<String>,
}

impl SessionPage {
    /// The page of `limit` from `rows`: the first (up to) `limit + 1` sessions of the
    /// range, sorted by id. The extra row only says that more follow.
    pub(crate) fn from_rows(mut rows: Vec<SessionInfo>, limit: usize) -> SessionPage {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_after = if more { rows.last().map(|info| info.session_id.clone()) } else { None };
        SessionPage { sessions: rows, next_after }
    }
}

/// A range of session ids in bytewise order: `lower` to `upper` (exclusive; `None`: to
/// the end). Both the listing and the export page through one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdRange {
    /// Where the range starts: included (a prefix), excluded (a cursor) or the first id.
    pub(crate) lower: Bound<String>,
    /// The id the range stops before: the prefix's successor.
    pub(crate) upper: Option<String>,
}

impl IdRange {
    /// The ids that start with `prefix` and come after `after`.
    pub(crate) fn new(prefix: &str, after: Option<&str>) -> IdRange {
        // Whichever bound is tighter: past a cursor at or beyond the prefix every id still
        // starts at or after the prefix; before it, the prefix is the start.
        let lower = match after {
            Some(after) if after >= prefix => Bound::Excluded(after.to_owned()),
            _ if prefix.is_empty() => Bound::Unbounded,
            _ => Bound::Included(prefix.to_owned()),
        };
        IdRange { lower, upper: prefix_successor(prefix) }
    }

    /// Every id after `after` (all of them for `None`): an export's range.
    pub(crate) fn after(after: Option<&str>) -> IdRange {
        IdRange::new("", after)
    }

    /// Whether `id` lies in the range.
    pub(crate) fn contains(&self, id: &str) -> bool {
        let above_lower = match &self.lower {
            Bound::Included(lower) => id >= lower.as_str(),
            Bound::Excluded(lower) => id > lower.as_str(),
            Bound::Unbounded => true,
        };
        above_lower && self.upper.as_deref().is_none_or(|upper| id < upper)
    }

    /// Whether no id can lie in the range (its start is at or past its end).
    pub(crate) fn is_empty(&self) -> bool {
        let Some(upper) = self.upper.as_deref() else {
            return false;
        };
        match &self.lower {
            Bound::Included(lower) | Bound::Excluded(lower) => lower.as_str() >= upper,
            Bound::Unbounded => false,
        }
    }

    /// The bounds, as `BTreeMap::range` takes them. Call only on a range that is not
    /// [empty](IdRange::is_empty) (`range` panics on a start past the end).
    pub(crate) fn bounds(&self) -> (Bound<&str>, Bound<&str>) {
        let upper = self.upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        (self.lower.as_ref().map(String::as_str), upper)
    }

    /// The lower bound as SQL keeps it: the value (`""`, below every id, when there is
    /// none) and whether it is excluded.
    pub(crate) fn sql_lower(&self) -> (&str, bool) {
        match &self.lower {
            Bound::Included(lower) => (lower, false),
            Bound::Excluded(lower) => (lower, true),
            Bound::Unbounded => ("", false),
        }
    }
}

/// The least string above every string that starts with `prefix` (in bytewise order,
/// which for UTF-8 is code point order), or `None` when there is none (an empty prefix,
/// or one of only `char::MAX`).
///
/// The last character that can grow is replaced by the next one (skipping the surrogate
/// gap) and everything after it is dropped, so the result is always valid UTF-8, as a SQL
/// text parameter must be.
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{d7ff}' => Some('\u{e000}'),
            char::MAX => None,
            other => char::from_u32(u32::from(other) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_successor_bounds_exactly_the_strings_with_the_prefix() {
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("acme/").as_deref(), Some("acme0"));
        assert_eq!(prefix_successor("a\u{7f}").as_deref(), Some("a\u{80}"));
        assert_eq!(prefix_successor("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(prefix_successor("a\u{ffff}").as_deref(), Some("a\u{10000}"));
        assert_eq!(prefix_successor("a\u{10ffff}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10ffff}\u{10ffff}"), None);
        let ids = [
            "a",
            "a\u{10ffff}",
            "ab",
            "b",
            "b\u{0}",
            "b%",
            "b_",
            "b\\",
            "b\u{7f}",
            "b\u{80}",
            "b\u{ffff}",
            "b\u{10000}",
            "b\u{10ffff}",
            "b\u{10ffff}\u{10ffff}",
            "c",
            "\u{10ffff}",
            "\u{10ffff}x",
        ];
        for prefix in ["b", "b\u{ffff}", "b\u{10ffff}", "\u{10ffff}", "b%", "b\\", "b\u{7f}"] {
            let range = IdRange::new(prefix, None);
            for id in ids {
                assert_eq!(range.contains(id), id.starts_with(prefix), "{prefix:?} {id:?}");
            }
        }
    }

    #[test]
    fn the_lower_bound_is_the_tighter_of_the_prefix_and_the_cursor() {
        let range = |prefix, after| IdRange::new(prefix, after);
        assert_eq!(range("b", Some("a")).lower, Bound::Included("b".to_owned()));
        assert_eq!(range("b", Some("b")).lower, Bound::Excluded("b".to_owned()));
        assert_eq!(range("b", Some("bz")).lower, Bound::Excluded("bz".to_owned()));
        assert_eq!(range("", None).lower, Bound::Unbounded);
        assert_eq!(range("", Some("x")).lower, Bound::Excluded("x".to_owned()));
        assert!(!range("b", Some("bz")).is_empty());
        assert!(range("b", Some("c")).is_empty(), "the cursor is the prefix's successor");
        assert!(range("b", Some("d")).is_empty());
        assert!(!range("", Some("\u{10ffff}")).is_empty());
        assert_eq!(range("b", Some("b")).sql_lower(), ("b", true));
        assert_eq!(range("b", None).sql_lower(), ("b", false));
        assert_eq!(range("", None).sql_lower(), ("", false));
    }

    #[test]
    fn queries_are_valid_or_refused_with_the_reason() {
        let message = |result: Result<SessionListQuery, SessionError>| result.expect_err("invalid").to_string();
        assert_eq!(message(SessionListQuery::new(0)), "invalid session listing: limit must be 1 to 1000, got 0");
        assert_eq!(message(SessionListQuery::new(1001)), "invalid session listing: limit must be 1 to 1000, got 1001");
        let query = SessionListQuery::new(1000).expect("valid");
        assert_eq!((query.prefix(), query.after(), query.limit()), ("", None, 1000));
        assert_eq!(
            message(query.clone().with_prefix("x".repeat(257))),
            "invalid session listing: prefix has at most 256 bytes, got 257"
        );
        assert_eq!(
            message(query.clone().with_prefix("a\nb")),
            "invalid session listing: prefix must not contain control characters"
        );
        assert!(matches!(query.clone().with_after(""), Err(SessionError::InvalidId { .. })));
        assert_eq!(query.with_prefix("x".repeat(256)).expect("valid").prefix().len(), 256);
    }

    #[test]
    fn a_page_keeps_its_limit_and_says_where_the_next_one_starts() {
        let info = |id: &str| SessionInfo {
            session_id: id.to_owned(),
            message_count: 0,
            created_at: std::time::UNIX_EPOCH,
            updated_at: std::time::UNIX_EPOCH,
        };
        let page = SessionPage::from_rows(vec![info("a"), info("b"), info("c")], 2);
        assert_eq!((page.sessions, page.next_after), (vec![info("a"), info("b")], Some("b".to_owned())));
        let last = SessionPage::from_rows(vec![info("a"), info("b")], 2);
        assert_eq!((last.sessions.len(), last.next_after), (2, None));
        assert_eq!(SessionPage::from_rows(vec![], 2), SessionPage { sessions: vec![], next_after: None });
    }
}
