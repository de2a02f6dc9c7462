//! BERT's uncased WordPiece tokenizer (the `BertNormalizer` + `BertPreTokenizer` +
//! `WordPiece` of HuggingFace tokenizers, as all-MiniLM-L6-v2 configures them), without
//! special tokens: what the built-in static model was distilled over.

use std::collections::HashMap;

use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// A WordPiece vocabulary: token → id, in `vocab.txt` line order.
pub(crate) struct WordPiece {
    ids: HashMap<&'static str, u32>,
    unk: u32,
}

impl WordPiece {
    /// Reads `vocab.txt` (one token per line).
    pub(crate) fn new(vocab: &'static str) -> WordPiece {
        let ids: HashMap<&'static str, u32> = vocab.lines().enumerate().map(|(i, token)| (token, i as u32)).collect();
        let unk = ids.get("[UNK]").copied().unwrap_or(u32::MAX);
        WordPiece { ids, unk }
    }

    /// The ids of `text`'s word pieces, `[UNK]` included, no `[CLS]`/`[SEP]`.
    pub(crate) fn tokenize(&self, text: &str, out: &mut Vec<u32>) {
        let normalized = normalize(text);
        let mut word = String::new();
        for c in normalized.chars() {
            if c == ' ' {
                self.push_word(&word, out);
                word.clear();
            } else if is_punctuation(c) {
                self.push_word(&word, out);
                word.clear();
                let mut buf = [0u8; 4];
                self.push_word(c.encode_utf8(&mut buf), out);
            } else {
                word.push(c);
            }
        }
        self.push_word(&word, out);
    }

    /// The id of `[UNK]`.
    pub(crate) fn unk(&self) -> u32 {
        self.unk
    }

    /// Greedy longest-match-first pieces of one word; the whole word is `[UNK]` when any
    /// part of it is not in the vocabulary.
    fn push_word(&self, word: &str, out: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        if word.chars().count() > 100 {
            out.push(self.unk);
            return;
        }
        let start_len = out.len();
        let mut start = 0;
        let mut piece = String::with_capacity(word.len() + 2);
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                piece.clear();
                if start > 0 {
                    piece.push_str("##");
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.ids.get(piece.as_str()) {
                    found = Some(id);
                    break;
                }
                // Step back one character, not one byte.
                end = word[..end].char_indices().next_back().map_or(start, |(i, _)| i);
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(start_len);
                    out.push(self.unk);
                    return;
                }
            }
        }
    }
}

/// Cleans control characters, maps whitespace to spaces, isolates CJK ideographs, strips
/// accents (NFD, no combining marks) and lower-cases.
fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_chinese(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    if cleaned.is_ascii() {
        cleaned.make_ascii_lowercase();
        return cleaned;
    }
    cleaned.nfd().filter(|c| !c.is_mark_nonspacing()).flat_map(char::to_lowercase).collect()
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => false,
        _ => c.is_other(),
    }
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

fn is_chinese(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}
