//! Exact text counting for open models from a local HuggingFace `tokenizer.json`.

use std::path::Path;

use super::{ChatFraming, TokenCount, TokenCounter};
use crate::message::Message;

/// Why a `tokenizer.json` could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot load tokenizer {path}: {reason}")]
pub struct TokenizerError {
    /// The file that was read.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Counts tokens with a HuggingFace tokenizer (`tokenizer.json`), read from a local file;
/// nothing is downloaded.
///
/// Text counts are exact (the model's tokens, without the special tokens the tokenizer
/// would add around a sequence). Chat framing depends on each model's chat template, so
/// message counts are estimates with OpenAI's framing unless you give the framing of your
/// model's template with [`HuggingFaceCounter::with_framing`].
pub struct HuggingFaceCounter {
    tokenizer: tokenizers::Tokenizer,
    name: String,
    framing: ChatFraming,
    framing_is_exact: bool,
}

impl std::fmt::Debug for HuggingFaceCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HuggingFaceCounter")
            .field("name", &self.name)
            .field("framing", &self.framing)
            .field("framing_is_exact", &self.framing_is_exact)
            .finish_non_exhaustive()
    }
}

impl HuggingFaceCounter {
    /// Loads `tokenizer.json` from `path`.
    ///
    /// # Errors
    ///
    /// [`TokenizerError`] when the file cannot be read or is not a tokenizer.
    pub fn from_file(path: impl AsRef<Path>) -> Result<HuggingFaceCounter, TokenizerError> {
        let path = path.as_ref();
        let tokenizer = tokenizers::Tokenizer::from_file(path)
            .map_err(|err| TokenizerError { path: path.display().to_string(), reason: err.to_string() })?;
        Ok(HuggingFaceCounter::new(tokenizer, format!("hf:{}", path.display())))
    }

    /// Reads a tokenizer from the bytes of a `tokenizer.json`; `name` names the counter.
    ///
    /// # Errors
    ///
    /// [`TokenizerError`] when the bytes are not a tokenizer.
    pub fn from_bytes(bytes: &[u8], name: impl Into<String>) -> Result<HuggingFaceCounter, TokenizerError> {
        let name = name.into();
        let tokenizer = tokenizers::Tokenizer::from_bytes(bytes)
            .map_err(|err| TokenizerError { path: name.clone(), reason: err.to_string() })?;
        Ok(HuggingFaceCounter::new(tokenizer, name))
    }

    fn new(tokenizer: tokenizers::Tokenizer, name: String) -> HuggingFaceCounter {
        HuggingFaceCounter { tokenizer, name, framing: ChatFraming::OPENAI, framing_is_exact: false }
    }

    /// Declares the chat framing of the model's template; message counts become exact
    /// (for plain-text messages, as with OpenAI).
    pub fn with_framing(mut self, framing: ChatFraming) -> HuggingFaceCounter {
        self.framing = framing;
        self.framing_is_exact = true;
        self
    }

    fn count_raw(&self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        // Encoding a `&str` cannot fail for a tokenizer that loaded; count 0 rather than panic.
        self.tokenizer.encode(text, false).map_or(0, |encoding| encoding.len())
    }
}

impl TokenCounter for HuggingFaceCounter {
    fn name(&self) -> &str {
        &self.name
    }

    fn count_text(&self, text: &str) -> TokenCount {
        TokenCount::exact(self.count_raw(text))
    }

    fn count_message(&self, message: &Message) -> TokenCount {
        self.framing.count_message(message, self.framing_is_exact, |text| self.count_raw(text))
    }

    fn reply_priming(&self) -> usize {
        self.framing.reply_priming
    }
}
