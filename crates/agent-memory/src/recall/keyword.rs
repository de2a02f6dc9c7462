//! The keyword side of conversation search: what a chunk's BM25 index holds and how a
//! query is matched against it.
//!
//! Both go through the same [`keyword_terms`]: the store's tokens (alphanumeric runs, lowercased),
//! English stopwords dropped, each word reduced to its Snowball (Porter 2) stem, so
//! "painting", "paints" and "painted" all match "paint", and "did she go to the…" matches
//! on "go" alone.
//!
//! A chunk is indexed with its neighbourhood ([`keyword_text`]): the header and summary,
//! the [`CONTEXT_LINES`] transcript lines before and after it, and its own lines
//! [`OWN_WEIGHT`] times, a field weighting in the manner of BM25F. A message alone rarely
//! holds every word of a question about it ("When did Caroline go to the support group?"
//! is answered by "I went yesterday" right after "the group was…"); its neighbours do, and
//! weighting the chunk's own lines keeps it ranked above those neighbours.

use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use serde_json::{Map, Value};

use super::ConversationChunk;
use super::transcript::metadata_header;
use crate::store::keyword::{is_stopword, tokenize};

/// Transcript lines on each side of a chunk that are indexed with it.
pub const CONTEXT_LINES: usize = 2;

/// How many times a chunk's own lines count against its context lines.
pub const OWN_WEIGHT: usize = 2;

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// The index terms of `text`: tokens as the store splits them, stopwords dropped, stemmed.
///
/// ```
/// use agent_memory::recall::keyword_terms;
///
/// assert_eq!(keyword_terms("When did Caroline go painting?"), ["carolin", "go", "paint"]);
/// ```
pub fn keyword_terms(text: &str) -> Vec<String> {
    tokenize(text).filter(|token| !is_stopword(token)).map(|token| stemmer().stem(&token).into_owned()).collect()
}

/// The text a chunk is keyword-indexed by: the terms of `header` (metadata header and
/// summary), of the lines `before` and `after` it, and of its own `transcript`
/// [`OWN_WEIGHT`] times, space-separated.
pub(crate) fn keyword_text(header: &str, before: &[String], transcript: &str, after: &[String]) -> String {
    let own = keyword_terms(transcript).join(" ");
    let mut parts: Vec<String> = Vec::with_capacity(OWN_WEIGHT + 3);
    parts.push(keyword_terms(header).join(" "));
    parts.push(keyword_terms(&before.join("\n")).join(" "));
    parts.extend(std::iter::repeat_n(own, OWN_WEIGHT));
    parts.push(keyword_terms(&after.join("\n")).join(" "));
    parts.retain(|part| !part.is_empty());
    parts.join(" ")
}

/// The header a chunk is keyword-indexed with: its metadata header ([`metadata_header`])
/// and its summary, one per line.
pub(crate) fn chunk_header(metadata: &Map<String, Value>, summary: Option<&str>) -> String {
    [metadata_header(metadata), summary.map(str::to_owned)].into_iter().flatten().collect::<Vec<_>>().join("\n")
}

/// The closest text to a chunk's [`keyword_text`] that the chunk alone gives: its header
/// and its own lines, without the neighbours' lines (which only its session holds). An
/// import of a dump that does not carry the indexed text indexes a chunk with it.
pub(crate) fn keyword_text_alone(chunk: &ConversationChunk) -> String {
    keyword_text(&chunk_header(&chunk.metadata, chunk.summary.as_deref()), &[], &chunk.text, &[])
}

/// A query as the keyword index reads it: its terms ([`keyword_terms`]), or the query
/// unchanged when it has none (only stopwords, which are not indexed: it matches nothing).
pub(crate) fn keyword_query(query: &str) -> String {
    let terms = keyword_terms(query);
    if terms.is_empty() { query.to_owned() } else { terms.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_lines_count_twice_and_context_once() {
        let text = keyword_text("[Date: 8 May 2023]", &["Ann: the group".into()], "Bo: I went", &["Ann: nice".into()]);
        assert_eq!(text, "date 8 may 2023 ann group bo went bo went ann nice");
    }

    #[test]
    fn queries_are_read_as_their_terms() {
        assert_eq!(keyword_query("Who painted it?"), "paint");
        assert_eq!(keyword_query("What was that?"), "What was that?");
    }
}
