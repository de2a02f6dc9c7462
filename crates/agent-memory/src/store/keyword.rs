//! Keyword search: tokenization and Okapi BM25 scoring, shared by every backend so that
//! keyword scores mean the same thing everywhere.
//!
//! * **Tokens** are maximal runs of alphanumeric characters, lower-cased: the same split as
//!   SQLite FTS5's `unicode61` tokenizer with `remove_diacritics 0` (they can differ only
//!   on rare characters the two classify differently).
//! * A query's terms are its distinct tokens without English stopwords (all of them when
//!   the query is only stopwords); it matches an item whose text has at least one of them.
//! * **BM25** is FTS5's `bm25()`: `k1 = 1.2`, `b = 0.75`, and per query term
//!   `idf = ln((N − n + 0.5) / (n + 0.5))`, floored at `1e-6`, where `N` counts every stored
//!   item (expired ones not yet purged included) and `n` those whose text has the term;
//!   document length and the average are in tokens.
//! * The **keyword score** reported by search is `s / (1 + s)` for the BM25 sum `s`: in
//!   `(0, 1)`, monotone in `s`.
//!
//! ```
//! use agent_memory::store::keyword::{query_terms, tokenize};
//!
//! assert_eq!(tokenize("Hello, World! 42x").collect::<Vec<_>>(), ["hello", "world", "42x"]);
//! assert_eq!(query_terms("cat CAT dog"), ["cat", "dog"]);
//! assert_eq!(query_terms("What does the cat eat?"), ["cat", "eat"]);
//! assert_eq!(query_terms("the who"), ["the", "who"]);
//! ```

/// Which items the BM25 statistics of a keyword score count: the item count `N`, the
/// average length and each term's document frequency `n`.
///
/// A backend takes it as an option (`MemoryBackend::with_indexes`, `SqliteOptions`,
/// `PostgresConfig::keyword_statistics`); every process on one database should use the same
/// one, since it decides the scores.
///
/// ```
/// use agent_memory::store::keyword::{KeywordStatistics, tenant_of};
///
/// assert_eq!(KeywordStatistics::default(), KeywordStatistics::Store);
/// assert_eq!(tenant_of("acme"), "acme");
/// assert_eq!(tenant_of("acme/user_1"), "acme");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum KeywordStatistics {
    /// Every item in the store, as FTS5's `bm25()` counts them. The default.
    #[default]
    Store,
    /// Only the items of the searched namespaces' tenant: the first label up to its first
    /// [`TENANT_SEPARATOR`] ([`tenant_of`]), so `["acme", "prefs"]` and
    /// `["acme/user_1", "conversations", "s1"]` are both tenant `acme`'s. A tenant's scores
    /// then never depend on another tenant's items, so they cannot reveal which words those
    /// hold. A search over several tenants (the root prefix) scores each item with its own
    /// tenant's statistics. `agent-memory serve` uses this: its namespaces start with the
    /// tenant, and its conversations are stored under `TENANT/USER`.
    Tenant,
}

/// What ends the tenant part of a first label under [`KeywordStatistics::Tenant`].
pub const TENANT_SEPARATOR: char = '/';

/// The tenant named by a namespace's first label: the label up to its first
/// [`TENANT_SEPARATOR`] (all of it when it has none).
pub fn tenant_of(first_label: &str) -> &str {
    first_label.split(TENANT_SEPARATOR).next().unwrap_or(first_label)
}

/// BM25 term-frequency saturation.
pub const K1: f64 = 1.2;
/// BM25 length normalization.
pub const B: f64 = 0.75;

/// The tokens of `text`, in order, lower-cased.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase)
}

/// The distinct tokens of a query, in first-seen order, without [`STOPWORDS`] unless the
/// query has nothing else ("the who" still searches for both words).
///
/// Function words carry next to no evidence (their idf is floored, not zero) but match most
/// items, so leaving them in makes every search score most of the store.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for token in tokenize(query) {
        if !terms.contains(&token) {
            terms.push(token);
        }
    }
    if terms.iter().any(|t| !is_stopword(t)) {
        terms.retain(|t| !is_stopword(t));
    }
    terms
}

/// Whether `token` (lower-cased) is one of the [`STOPWORDS`].
pub fn is_stopword(token: &str) -> bool {
    STOPWORDS.binary_search(&token).is_ok()
}

/// English function words (the classic SMART/NLTK list, sorted for binary search): left out
/// of keyword queries by [`query_terms`], and out of conversation chunks' keyword index by
/// [`crate::recall`].
pub const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "s",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// FTS5's inverse document frequency of a term found in `docs_with_term` of `total_docs`.
pub fn idf(total_docs: u64, docs_with_term: u64) -> f64 {
    let (n, hits) = (total_docs as f64, docs_with_term as f64);
    let idf = ((n - hits + 0.5) / (hits + 0.5)).ln();
    if idf <= 0.0 { 1e-6 } else { idf }
}

/// One term's BM25 contribution: `idf · tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len))`.
pub fn term_score(idf: f64, term_frequency: u32, doc_len: u32, avg_doc_len: f64) -> f64 {
    let tf = f64::from(term_frequency);
    let avg = if avg_doc_len > 0.0 { avg_doc_len } else { 1.0 };
    idf * (tf * (K1 + 1.0)) / (tf + K1 * (1.0 - B + B * f64::from(doc_len) / avg))
}

/// Maps a BM25 sum to the reported keyword score, `s / (1 + s)`.
pub fn normalize(bm25: f64) -> f64 {
    let s = bm25.max(0.0);
    s / (1.0 + s)
}

/// The BM25 sum a reported keyword score stands for: the inverse of [`normalize`] (a score
/// of 1 or more, which `normalize` never gives, maps to `f64::MAX`).
pub fn bm25_sum(score: f64) -> f64 {
    if score < 1.0 { score / (1.0 - score) } else { f64::MAX }
}

/// An FTS5 `MATCH` expression for `terms`: each term quoted as a string (so no query text
/// is interpreted as FTS5 syntax), joined with `OR`. Empty when there are no terms.
pub fn fts5_match_expression(terms: &[String]) -> String {
    terms.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>().join(" OR ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn queries_drop_stopwords_unless_nothing_else_is_left() {
        assert_eq!(query_terms("What did Anna say to the doctor?"), ["anna", "say", "doctor"]);
        assert_eq!(query_terms("to be or not to be"), ["to", "be", "or", "not"]);
        assert!(query_terms("?!").is_empty());
    }

    #[test]
    fn idf_matches_fts5() {
        assert!((idf(10, 1) - (9.5f64 / 1.5).ln()).abs() < 1e-12);
        assert_eq!(idf(2, 2), 1e-6);
    }

    #[test]
    fn scores_saturate_and_normalize() {
        let one = term_score(1.0, 1, 10, 10.0);
        assert!((one - 1.0).abs() < 1e-12, "tf=1 at average length scores idf: {one}");
        assert!(term_score(1.0, 5, 10, 10.0) < 2.2);
        assert!(term_score(1.0, 1, 5, 10.0) > term_score(1.0, 1, 20, 10.0));
        assert_eq!(normalize(1.0), 0.5);
        assert_eq!(normalize(-3.0), 0.0);
    }

    #[test]
    fn match_expression_quotes_terms() {
        assert_eq!(fts5_match_expression(&["a\"b".into(), "or".into()]), "\"a\"\"b\" OR \"or\"");
        assert_eq!(fts5_match_expression(&[]), "");
    }
}
