//! Exact counting for OpenAI models with the `bpe-openai` encodings (compiled in, offline).

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

use rustc_hash::FxHashMap;

use super::pretokenize::{self, SplitPattern};
use super::{ChatFraming, TokenCount, TokenCounter};
use crate::message::{Message, Role};

/// An OpenAI byte-pair encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `o200k_base`: gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3, o4 and later.
    O200kBase,
    /// `cl100k_base`: gpt-4, gpt-4-turbo, gpt-3.5-turbo and the `text-embedding-3` models.
    Cl100kBase,
}

impl Encoding {
    /// The encoding's tiktoken name (`o200k_base`, `cl100k_base`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    fn slot(self) -> usize {
        match self {
            Encoding::O200kBase => 0,
            Encoding::Cl100kBase => 1,
        }
    }

    fn split_pattern(self) -> SplitPattern {
        match self {
            Encoding::O200kBase => SplitPattern::O200k,
            Encoding::Cl100kBase => SplitPattern::Cl100k,
        }
    }

    fn tokenizer(self) -> &'static bpe_openai::Tokenizer {
        match self {
            Encoding::O200kBase => bpe_openai::o200k_base(),
            Encoding::Cl100kBase => bpe_openai::cl100k_base(),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Encoding {
    type Err = String;

    fn from_str(name: &str) -> Result<Encoding, String> {
        match name {
            "o200k_base" => Ok(Encoding::O200kBase),
            "cl100k_base" => Ok(Encoding::Cl100kBase),
            other => Err(format!("unknown encoding {other:?} (expected o200k_base or cl100k_base)")),
        }
    }
}

/// Counts tokens exactly as tiktoken does, with OpenAI's chat framing
/// ([`ChatFraming::OPENAI`]).
///
/// Text is encoded as ordinary text: a special-token string such as `<|endoftext|>` inside
/// a message counts as the tokens of its characters, which is how OpenAI treats user text
/// (tiktoken's `encode_ordinary`).
///
/// ```
/// use agent_memory::tokens::{OpenAiCounter, TokenCount, TokenCounter};
///
/// let counter = OpenAiCounter::cl100k_base();
/// assert_eq!(counter.count_text("tiktoken is great!"), TokenCount::exact(6));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAiCounter {
    encoding: Encoding,
    framing: ChatFraming,
    /// The tokens of each role's name, by [`role_slot`].
    role_tokens: [usize; 5],
}

fn role_slot(role: Role) -> usize {
    match role {
        Role::System => 0,
        Role::Developer => 1,
        Role::User => 2,
        Role::Assistant => 3,
        Role::Tool => 4,
    }
}

impl OpenAiCounter {
    /// A counter for `encoding` with OpenAI's chat framing.
    pub fn new(encoding: Encoding) -> OpenAiCounter {
        let roles = [Role::System, Role::Developer, Role::User, Role::Assistant, Role::Tool];
        let role_tokens = roles.map(|role| encoding.tokenizer().count(role.as_str()));
        OpenAiCounter { encoding, framing: ChatFraming::OPENAI, role_tokens }
    }

    /// The `o200k_base` counter (gpt-4o and later).
    pub fn o200k_base() -> OpenAiCounter {
        OpenAiCounter::new(Encoding::O200kBase)
    }

    /// The `cl100k_base` counter (gpt-4, gpt-3.5-turbo).
    pub fn cl100k_base() -> OpenAiCounter {
        OpenAiCounter::new(Encoding::Cl100kBase)
    }

    /// The encoding this counter uses.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Encodes `text` to token ids (as tiktoken's `encode_ordinary`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encoding.tokenizer().encode(text)
    }

    fn count_raw(&self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        let tokenizer = self.encoding.tokenizer();
        PIECE_COUNTS
            .try_with(|caches| match caches[self.encoding.slot()].try_borrow_mut() {
                Ok(mut cache) => count_pieces_cached(tokenizer, self.encoding.split_pattern(), text, &mut cache),
                Err(_) => tokenizer.count(text),
            })
            .unwrap_or_else(|_| tokenizer.count(text))
    }
}

/// Pieces longer than this many bytes are encoded every time: long pieces are rare and
/// seldom repeat, and keeping them would let a few inputs fill the cache.
const MAX_CACHED_PIECE_BYTES: usize = 32;

/// Pieces up to this many bytes (most words) are keyed by their bytes packed into a `u128`:
/// hashing and comparing such a key touches no other memory.
const MAX_PACKED_PIECE_BYTES: usize = 15;

/// The most pieces a thread keeps per encoding and key kind (a few MiB at most); a full
/// cache is emptied and refilled, which keeps memory bounded whatever the input.
const PIECE_CACHE_CAPACITY: usize = 1 << 17;

/// Token counts of pre-tokenized pieces for one encoding.
#[derive(Default)]
struct PieceCache {
    /// Pieces of 2 to [`MAX_PACKED_PIECE_BYTES`] bytes, by [`packed_piece`].
    short: FxHashMap<u128, u32>,
    /// Longer pieces, up to [`MAX_CACHED_PIECE_BYTES`].
    long: FxHashMap<Box<[u8]>, u32>,
}

thread_local! {
    /// Token counts of pre-tokenized pieces, per encoding ([`Encoding::slot`]). The count of
    /// a piece depends only on its bytes and the encoding, and natural text repeats the same
    /// pieces (words with their leading space, punctuation runs) over and over, so most
    /// pieces skip the byte-pair encoder.
    static PIECE_COUNTS: [RefCell<PieceCache>; 2] = [RefCell::default(), RefCell::default()];
}

/// `bytes` (at most 15) and their length in one integer: distinct pieces give distinct keys.
fn packed_piece(bytes: &[u8]) -> u128 {
    let mut packed = [0u8; 16];
    packed[..bytes.len()].copy_from_slice(bytes);
    packed[15] = bytes.len() as u8;
    u128::from_le_bytes(packed)
}

/// What `tokenizer.count(text)` returns, pre-tokenized by [`pretokenize::split`], with each
/// piece's count looked up in `cache` first.
fn count_pieces_cached(
    tokenizer: &bpe_openai::Tokenizer,
    pattern: SplitPattern,
    text: &str,
    cache: &mut PieceCache,
) -> usize {
    let mut total = 0;
    for piece in pretokenize::split(tokenizer, pattern, text) {
        let bytes = piece.as_bytes();
        total += if bytes.len() == 1 {
            // Every single byte is a token of its own in these encodings.
            1
        } else if bytes.len() <= MAX_PACKED_PIECE_BYTES {
            let key = packed_piece(bytes);
            match cache.short.get(&key) {
                Some(&count) => count as usize,
                None => {
                    let count = tokenizer.bpe.count(bytes);
                    if cache.short.len() >= PIECE_CACHE_CAPACITY {
                        cache.short.clear();
                    }
                    cache.short.insert(key, count as u32);
                    count
                }
            }
        } else if bytes.len() <= MAX_CACHED_PIECE_BYTES {
            match cache.long.get(bytes) {
                Some(&count) => count as usize,
                None => {
                    let count = tokenizer.bpe.count(bytes);
                    if cache.long.len() >= PIECE_CACHE_CAPACITY {
                        cache.long.clear();
                    }
                    cache.long.insert(bytes.into(), count as u32);
                    count
                }
            }
        } else {
            tokenizer.bpe.count(bytes)
        };
    }
    total
}

impl TokenCounter for OpenAiCounter {
    fn name(&self) -> &str {
        self.encoding.as_str()
    }

    fn count_text(&self, text: &str) -> TokenCount {
        TokenCount::exact(self.count_raw(text))
    }

    fn count_message(&self, message: &Message) -> TokenCount {
        let role_tokens = self.role_tokens[role_slot(message.role)];
        self.framing.count_message_with_role(message, true, role_tokens, |text| self.count_raw(text))
    }

    fn reply_priming(&self) -> usize {
        self.framing.reply_priming
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_token_ids() {
        assert_eq!(OpenAiCounter::cl100k_base().encode("Hello, world!"), [9906, 11, 1917, 0]);
        assert_eq!(OpenAiCounter::o200k_base().encode("Hello, world!"), [13225, 11, 2375, 0]);
    }

    #[test]
    fn packed_pieces_differ_when_their_bytes_or_lengths_do() {
        assert_ne!(packed_piece(b"ab"), packed_piece(b"ab\0"));
        assert_ne!(packed_piece(b"ab"), packed_piece(b"ba"));
        assert_eq!(packed_piece(b"ab"), packed_piece(b"ab"));
        assert_eq!(packed_piece(b"0123456789abcde").to_le_bytes()[15], 15);
    }

    #[test]
    fn encoding_names_round_trip() {
        for encoding in [Encoding::O200kBase, Encoding::Cl100kBase] {
            assert_eq!(encoding.as_str().parse::<Encoding>(), Ok(encoding));
        }
        assert_eq!(
            "p50k_base".parse::<Encoding>(),
            Err("unknown encoding \"p50k_base\" (expected o200k_base or cl100k_base)".to_owned())
        );
    }
}
