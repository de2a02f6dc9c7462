//! Cutting a conversation into overlapping chunks of transcript lines.
//!
//! System and developer messages are left out (they are instructions, not conversation),
//! as are messages with neither text nor tool calls. Every other message becomes one
//! transcript line, or several when the line would be longer than
//! [`ChunkingOptions::max_chars`]: a long message is split at whitespace into pieces, never
//! truncated, so every word reaches the embedder.
//!
//! Chunks hold up to [`ChunkingOptions::chunk_size`] lines and at most `max_chars`
//! characters; consecutive chunks share [`ChunkingOptions::chunk_overlap`] lines. The last
//! chunk ends at the last line, and no chunk is contained in the one before it.

use std::fmt::Write as _;
use std::ops::Range;

use sha2::{Digest, Sha256};

use super::RecallError;
use super::transcript::{ToolNames, line_body, line_label};
use crate::message::Message;

/// How conversations are cut into chunks.
///
/// ```
/// use agent_memory::recall::ChunkingOptions;
///
/// let options = ChunkingOptions::new(4, 1)?.with_max_chars(2000)?;
/// assert_eq!((options.chunk_size(), options.chunk_overlap(), options.max_chars()), (4, 1, 2000));
/// assert!(ChunkingOptions::new(4, 4).is_err());
/// assert_eq!(ChunkingOptions::default().chunk_size(), 10);
/// # Ok::<(), agent_memory::recall::RecallError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkingOptions {
    chunk_size: usize,
    chunk_overlap: usize,
    max_chars: usize,
}

impl ChunkingOptions {
    /// Lines per chunk by default (the reference's `chunk_size`).
    pub const DEFAULT_CHUNK_SIZE: usize = 10;
    /// Lines shared by consecutive chunks by default (the reference's `chunk_overlap`).
    pub const DEFAULT_CHUNK_OVERLAP: usize = 2;
    /// Characters per chunk by default: about 2,000 tokens of English, inside every hosted
    /// embedding model's input. Lower it for small local models (about 1,000 for
    /// all-MiniLM-L6-v2's 256 tokens).
    pub const DEFAULT_MAX_CHARS: usize = 8000;
    /// The smallest accepted [`ChunkingOptions::max_chars`].
    pub const MIN_MAX_CHARS: usize = 64;

    /// Chunks of `chunk_size` lines, of which `chunk_overlap` are shared with the next chunk.
    ///
    /// # Errors
    ///
    /// [`RecallError::InvalidOptions`] when `chunk_size` is 0 or `chunk_overlap` is not
    /// smaller than `chunk_size`.
    pub fn new(chunk_size: usize, chunk_overlap: usize) -> Result<ChunkingOptions, RecallError> {
        if chunk_size == 0 {
            return Err(RecallError::InvalidOptions("chunk_size must be at least 1".into()));
        }
        if chunk_overlap >= chunk_size {
            return Err(RecallError::InvalidOptions(format!(
                "chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})"
            )));
        }
        Ok(ChunkingOptions { chunk_size, chunk_overlap, max_chars: Self::DEFAULT_MAX_CHARS })
    }

    /// Sets the most characters of transcript in one chunk; longer messages are split.
    ///
    /// # Errors
    ///
    /// [`RecallError::InvalidOptions`] when `max_chars` is below
    /// [`ChunkingOptions::MIN_MAX_CHARS`].
    pub fn with_max_chars(self, max_chars: usize) -> Result<ChunkingOptions, RecallError> {
        if max_chars < Self::MIN_MAX_CHARS {
            return Err(RecallError::InvalidOptions(format!(
                "max_chars ({max_chars}) must be at least {}",
                Self::MIN_MAX_CHARS
            )));
        }
        Ok(ChunkingOptions { max_chars, ..self })
    }

    /// Lines per chunk.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Lines shared by consecutive chunks.
    pub fn chunk_overlap(&self) -> usize {
        self.chunk_overlap
    }

    /// The most characters of transcript in one chunk.
    pub fn max_chars(&self) -> usize {
        self.max_chars
    }
}

impl Default for ChunkingOptions {
    /// 10 lines per chunk, 2 shared, 8,000 characters at most.
    fn default() -> ChunkingOptions {
        ChunkingOptions {
            chunk_size: Self::DEFAULT_CHUNK_SIZE,
            chunk_overlap: Self::DEFAULT_CHUNK_OVERLAP,
            max_chars: Self::DEFAULT_MAX_CHARS,
        }
    }
}

/// One chunk of a conversation, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChunk {
    /// The position of the chunk's first line in the conversation's transcript; with the
    /// user and session it determines the chunk id ([`chunk_id`]).
    pub offset: usize,
    /// The messages the chunk's lines come from, whole and in order (a split message
    /// appears whole in every chunk that holds one of its pieces).
    pub messages: Vec<Message>,
    /// The chunk's transcript: one `Label: text` line per message or piece.
    pub transcript: String,
}

/// One transcript line: the message it comes from and its text.
#[derive(Debug)]
struct Line {
    message: usize,
    text: String,
}

/// Cuts `messages` into chunks (see [`crate::recall`]).
///
/// ```
/// use agent_memory::message::Message;
/// use agent_memory::recall::{chunk_messages, ChunkingOptions};
///
/// let messages: Vec<Message> = (0..8).map(|i| Message::user(format!("Message {i}"))).collect();
/// let chunks = chunk_messages(&messages, &ChunkingOptions::new(4, 2)?);
/// let offsets: Vec<usize> = chunks.iter().map(|c| c.offset).collect();
/// assert_eq!(offsets, [0, 2, 4]); // no redundant tail chunk at 6
/// assert_eq!(chunks[2].transcript, "Human: Message 4\nHuman: Message 5\nHuman: Message 6\nHuman: Message 7");
/// # Ok::<(), agent_memory::recall::RecallError>(())
/// ```
pub fn chunk_messages(messages: &[Message], options: &ChunkingOptions) -> Vec<PlannedChunk> {
    chunks_in_context(messages, options, 0).into_iter().map(|chunk| chunk.chunk).collect()
}

/// A planned chunk with the transcript lines around it.
#[derive(Debug)]
pub(crate) struct ChunkInContext {
    pub(crate) chunk: PlannedChunk,
    /// Up to `window` lines just before the chunk, in order.
    pub(crate) before: Vec<String>,
    /// Up to `window` lines just after the chunk, in order.
    pub(crate) after: Vec<String>,
}

/// [`chunk_messages`], each chunk with up to `window` transcript lines on either side.
pub(crate) fn chunks_in_context(messages: &[Message], options: &ChunkingOptions, window: usize) -> Vec<ChunkInContext> {
    let lines = transcript_lines(messages, options.max_chars);
    let lengths: Vec<usize> = lines.iter().map(|line| line.text.chars().count()).collect();
    let texts = |range: Range<usize>| lines[range].iter().map(|line| line.text.clone()).collect::<Vec<_>>();
    chunk_ranges(&lengths, options)
        .into_iter()
        .map(|range| {
            let chunk_lines = &lines[range.clone()];
            let mut indices: Vec<usize> = chunk_lines.iter().map(|line| line.message).collect();
            indices.dedup();
            let transcript = chunk_lines.iter().map(|line| line.text.as_str()).collect::<Vec<_>>().join("\n");
            let before = texts(range.start.saturating_sub(window)..range.start);
            let after = texts(range.end..(range.end + window).min(lines.len()));
            let chunk = PlannedChunk {
                offset: range.start,
                messages: indices.into_iter().map(|i| messages[i].clone()).collect(),
                transcript,
            };
            ChunkInContext { chunk, before, after }
        })
        .collect()
}

/// The deterministic id of the chunk at `offset` of a user's session: the first 16 hex
/// digits of a SHA-256 over the three, so indexing a session again replaces its chunks.
///
/// ```
/// use agent_memory::recall::chunk_id;
///
/// assert_eq!(chunk_id("alice", "s1", 0), chunk_id("alice", "s1", 0));
/// assert_ne!(chunk_id("alice", "s1", 0), chunk_id("alice", "s1", 8));
/// assert_ne!(chunk_id("alice", "s1", 0), chunk_id("bob", "s1", 0));
/// assert_eq!(chunk_id("alice", "s1", 0).len(), 16);
/// ```
pub fn chunk_id(user_id: &str, session_id: &str, offset: usize) -> String {
    let mut hasher = Sha256::new();
    // Length prefixes keep ("a:b", "c") and ("a", "b:c") apart.
    for field in [user_id.as_bytes(), session_id.as_bytes()] {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field);
    }
    hasher.update((offset as u64).to_le_bytes());
    let digest = hasher.finalize();
    let mut id = String::with_capacity(16);
    for byte in &digest[..8] {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

fn transcript_lines(messages: &[Message], max_chars: usize) -> Vec<Line> {
    let tools = ToolNames::of(messages);
    let mut lines = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        if message.role.is_system() {
            continue;
        }
        let body = line_body(message);
        if body.is_empty() {
            continue;
        }
        let label = line_label(message, &tools);
        let prefix = label.chars().count() + 2;
        let budget = max_chars.saturating_sub(prefix).max(ChunkingOptions::MIN_MAX_CHARS / 4);
        for piece in split_text(&body, budget) {
            lines.push(Line { message: index, text: format!("{label}: {piece}") });
        }
    }
    lines
}

/// Splits `text` into pieces of at most `budget` characters, at the last whitespace in the
/// second half of each piece when there is one, else at a character boundary.
fn split_text(text: &str, budget: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > budget {
        let hard_end = rest.char_indices().nth(budget).map_or(rest.len(), |(at, _)| at);
        let half = rest.char_indices().nth(budget / 2).map_or(0, |(at, _)| at);
        let end = rest[half..hard_end].rfind(char::is_whitespace).map_or(hard_end, |at| half + at);
        let end = if end == 0 { hard_end } else { end };
        pieces.push(rest[..end].trim_end());
        rest = rest[end..].trim_start();
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// The line ranges of the chunks, given each line's length in characters.
fn chunk_ranges(lengths: &[usize], options: &ChunkingOptions) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < lengths.len() {
        let mut end = start;
        let mut chars = 0;
        while end < lengths.len() && end - start < options.chunk_size {
            let added = lengths[end] + usize::from(end > start);
            if end > start && chars + added > options.max_chars {
                break;
            }
            chars += added;
            end += 1;
        }
        ranges.push(start..end);
        if end == lengths.len() {
            break;
        }
        // Share up to `chunk_overlap` lines, but fewer when they and the next new line
        // would not fit in `max_chars`: every chunk must reach past the previous one.
        let mut next = end.saturating_sub(options.chunk_overlap).max(start + 1);
        while next < end && span_chars(&lengths[next..=end]) > options.max_chars {
            next += 1;
        }
        start = next;
    }
    ranges
}

/// The characters of `lengths` lines joined by newlines.
fn span_chars(lengths: &[usize]) -> usize {
    lengths.iter().sum::<usize>() + lengths.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ranges(n: usize, size: usize, overlap: usize) -> Vec<Range<usize>> {
        chunk_ranges(&vec![5; n], &ChunkingOptions::new(size, overlap).unwrap())
    }

    #[test]
    fn ranges_overlap_and_end_without_redundant_tail() {
        assert_eq!(ranges(8, 4, 2), [0..4, 2..6, 4..8]);
        assert_eq!(ranges(20, 3, 1).len(), 10);
        assert_eq!(ranges(20, 3, 1).last(), Some(&(18..20)));
        assert_eq!(ranges(1, 10, 2), vec![0..1]);
        assert_eq!(ranges(10, 10, 2), vec![0..10]);
        assert_eq!(ranges(11, 10, 2), [0..10, 8..11]);
        assert_eq!(ranges(0, 10, 2), Vec::<Range<usize>>::new());
        assert_eq!(ranges(5, 1, 0), [0..1, 1..2, 2..3, 3..4, 4..5]);
    }

    #[test]
    fn max_chars_closes_a_chunk_early() {
        let options = ChunkingOptions::new(10, 2).unwrap().with_max_chars(64).unwrap();
        // Lines of 30 chars: two fit (30 + 1 + 30 = 61), three do not.
        assert_eq!(chunk_ranges(&[30; 5], &options), [0..2, 1..3, 2..4, 3..5]);
    }

    #[test]
    fn long_messages_are_split_at_whitespace_and_nothing_is_lost() {
        let word = "lorem";
        let text = vec![word; 100].join(" "); // 599 characters
        let message = Message::user(text.clone()).with_id("m1");
        let options = ChunkingOptions::new(2, 0).unwrap().with_max_chars(100).unwrap();
        let chunks = chunk_messages(std::slice::from_ref(&message), &options);
        let lines: Vec<&str> = chunks.iter().flat_map(|c| c.transcript.lines()).collect();
        assert!(lines.iter().all(|line| line.chars().count() <= 100 && line.starts_with("Human: lorem")));
        let rejoined: Vec<&str> = lines.iter().map(|line| &line["Human: ".len()..]).collect();
        assert_eq!(rejoined.join(" "), text);
        // Each chunk holds the whole message once, with its id.
        assert!(chunks.iter().all(|c| c.messages == [message.clone()]));
    }

    #[test]
    fn text_without_whitespace_is_split_at_char_boundaries() {
        assert_eq!(split_text("ééééé", 2), ["éé", "éé", "é"]);
        assert_eq!(split_text("", 2), [""]);
        assert_eq!(split_text("ab cdefgh", 4), ["ab", "cdef", "gh"]);
    }

    proptest! {
        #[test]
        fn every_line_is_covered_and_chunks_advance(
            lengths in prop::collection::vec(1usize..200, 0..60),
            size in 1usize..12,
            overlap_seed in 0usize..12,
            max_chars in 64usize..600,
        ) {
            let overlap = overlap_seed % size;
            let options = ChunkingOptions::new(size, overlap).unwrap().with_max_chars(max_chars).unwrap();
            let ranges = chunk_ranges(&lengths, &options);
            let mut covered = 0;
            for (i, range) in ranges.iter().enumerate() {
                prop_assert!(range.start <= covered && range.end > covered, "gap or no progress at {i}");
                prop_assert!(range.len() <= size);
                if i > 0 {
                    prop_assert!(range.start > ranges[i - 1].start && range.end > ranges[i - 1].end);
                }
                covered = range.end;
            }
            prop_assert_eq!(covered, lengths.len());
        }

        #[test]
        fn split_pieces_fit_and_keep_every_character(text in "[a-z é]{0,300}", budget in 16usize..80) {
            let pieces = split_text(&text, budget);
            prop_assert!(pieces.iter().all(|p| p.chars().count() <= budget));
            let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().concat();
            prop_assert_eq!(squeeze(&pieces.concat()), squeeze(&text));
        }
    }

    #[test]
    fn chunks_know_the_lines_around_them() {
        let messages: Vec<Message> = (0..5).map(|i| Message::user(format!("m{i}"))).collect();
        let chunks = chunks_in_context(&messages, &ChunkingOptions::new(1, 0).unwrap(), 2);
        let around: Vec<(Vec<String>, Vec<String>)> = chunks.into_iter().map(|c| (c.before, c.after)).collect();
        let lines = |ids: &[usize]| ids.iter().map(|i| format!("Human: m{i}")).collect::<Vec<_>>();
        assert_eq!(around[0], (lines(&[]), lines(&[1, 2])));
        assert_eq!(around[2], (lines(&[0, 1]), lines(&[3, 4])));
        assert_eq!(around[4], (lines(&[2, 3]), lines(&[])));
    }
}
