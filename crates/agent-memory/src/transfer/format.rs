//! The lines of a dump, as serde types, and the exact encoding of vectors.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::EmbedderIdentity;

/// The first line.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Header {
    /// Always [`super::FORMAT_NAME`].
    pub(super) format: String,
    /// [`super::FORMAT_VERSION`] when written.
    pub(super) version: u32,
    /// The agent-memory version that wrote it.
    pub(super) tool_version: String,
    /// When it was written (Unix seconds, the store's clock).
    pub(super) exported_at: f64,
    /// The exporting store's embedder, if it had one.
    pub(super) embedder: Option<EmbedderIdentity>,
}

/// Every line after the header.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Record {
    /// A store item.
    Item(ItemLine),
    /// A chunk of a past conversation (a store item that `recall::ConversationMemory`
    /// wrote: keyword-indexed by its `keyword_text`, embedded from its search text).
    ConversationChunk(ItemLine),
    /// A chat session.
    Session(SessionLine),
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ItemLine {
    pub(super) namespace: Vec<String>,
    pub(super) key: String,
    pub(super) value: Map<String, Value>,
    pub(super) created_at: f64,
    pub(super) updated_at: f64,
    pub(super) expires_at: Option<f64>,
    pub(super) ttl_seconds: Option<f64>,
    pub(super) vector: Option<VectorLine>,
    /// The item's own index spec ([`crate::store::ItemIndex::to_json`]): `false` or an array
    /// of paths; absent (or null) for the store's fields, as in dumps written before it.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub(super) index: Value,
    /// Conversation chunks only: the text the chunk is keyword-indexed by
    /// ([`crate::store::ExportedItem::text`]: stemmed terms of its lines and its
    /// neighbours'); absent (or null) in dumps written before it. A `Value`, so that a
    /// wrong type is reported in the dump's own words.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub(super) keyword_text: Value,
}

/// A vector, bit-exact: little-endian `f32`s in standard base64.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct VectorLine {
    pub(super) model: String,
    pub(super) dimensions: usize,
    pub(super) f32le_base64: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SessionLine {
    pub(super) session_id: String,
    pub(super) message_count: usize,
    pub(super) created_at: f64,
    pub(super) updated_at: f64,
    pub(super) messages: Value,
}

impl VectorLine {
    pub(super) fn encode(model: &str, vector: &[f32]) -> VectorLine {
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        VectorLine { model: model.to_owned(), dimensions: vector.len(), f32le_base64: base64_encode(&bytes) }
    }

    /// The vector, checked: `dimensions` finite values.
    pub(super) fn decode(&self) -> Result<Vec<f32>, String> {
        let bytes = base64_decode(&self.f32le_base64).ok_or("vector.f32le_base64 is not valid base64")?;
        if bytes.len() != self.dimensions * 4 || self.dimensions == 0 {
            return Err(format!(
                "vector has {} bytes, expected {} for {} dimensions",
                bytes.len(),
                self.dimensions * 4,
                self.dimensions
            ));
        }
        let vector: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if vector.iter().any(|x| !x.is_finite()) {
            return Err("vector has a value that is not a finite number".into());
        }
        Ok(vector)
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The inverse of [`base64_encode`]; `None` for anything it would not write.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (index, quad) in bytes.chunks_exact(4).enumerate() {
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - padding] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * padding as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_and_round_trips() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        for text in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            assert_eq!(base64_decode(&base64_encode(text.as_bytes())).as_deref(), Some(text.as_bytes()));
        }
        assert_eq!(base64_decode("Zg="), None);
        assert_eq!(base64_decode("Z===",), None);
        assert_eq!(base64_decode("Zg==Zg=="), None);
        assert_eq!(base64_decode("Zm9*"), None);
    }

    #[test]
    fn times_round_trip_through_json_bit_exactly() {
        // serde_json's default float parser may be one ulp off; the crate enables its
        // `float_roundtrip` feature so that the times of a dump come back exactly.
        let time = f64::from_bits(4_745_318_565_829_878_940);
        let line = serde_json::to_string(&time).expect("serializable");
        assert_eq!(serde_json::from_str::<f64>(&line).expect("a number").to_bits(), time.to_bits());
    }

    #[test]
    fn vectors_round_trip_bit_exactly() {
        let vector = [0.1f32, -3.4028235e38, 1.0e-45, 0.0, -0.0, 0.33333334];
        let line = VectorLine::encode("m", &vector);
        let back = line.decode().expect("valid");
        assert_eq!(back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), vector.map(f32::to_bits));
        let short = VectorLine { dimensions: 7, ..line };
        assert_eq!(short.decode().expect_err("short"), "vector has 24 bytes, expected 28 for 7 dimensions");
    }
}
