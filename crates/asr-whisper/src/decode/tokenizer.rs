//! Whisper's tokenizer (`tokenizer.json`) and its special tokens.

use crate::error::WhisperError;
use std::path::Path;

/// Ids of the special tokens decoding needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specials {
    pub sot: u32,
    pub eot: u32,
    /// `<|startofprev|>`: starts a text prompt (previous text, key terms).
    pub sot_prev: Option<u32>,
    pub no_timestamps: u32,
    pub transcribe: Option<u32>,
    pub no_speech: Option<u32>,
    /// `<|0.00|>`, the first timestamp token, if the vocabulary has them.
    pub timestamp_begin: Option<u32>,
    /// Language tokens in vocabulary order with their codes (`en`, `de`, …); empty for English-only.
    pub languages: Vec<(u32, String)>,
}

pub struct WhisperTokenizer {
    inner: tokenizers::Tokenizer,
    pub specials: Specials,
}

impl WhisperTokenizer {
    pub fn load(path: &Path) -> Result<Self, WhisperError> {
        if !path.exists() {
            return Err(WhisperError::MissingFile {
                path: path.display().to_string(),
                detail: "not found".into(),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| WhisperError::Tokenizer(format!("{}: {e}", path.display())))?;
        let id = |t: &str| inner.token_to_id(t);
        let need = |t: &str| {
            id(t).ok_or_else(|| {
                WhisperError::Tokenizer(format!("{} has no `{t}` token", path.display()))
            })
        };
        let specials = Specials {
            sot: need("<|startoftranscript|>")?,
            eot: need("<|endoftext|>")?,
            sot_prev: id("<|startofprev|>"),
            no_timestamps: need("<|notimestamps|>")?,
            transcribe: id("<|transcribe|>"),
            no_speech: id("<|nospeech|>").or_else(|| id("<|nocaptions|>")),
            timestamp_begin: id("<|0.00|>"),
            languages: Vec::new(),
        };
        let mut specials = specials;
        // Language tokens sit between <|startoftranscript|> and <|translate|> in every Whisper
        // vocabulary (99 of them, 100 from large-v3 on).
        if let Some(translate) = id("<|translate|>") {
            for t in specials.sot + 1..translate {
                let text = inner.id_to_token(t).unwrap_or_default();
                if let Some(code) = text.strip_prefix("<|").and_then(|c| c.strip_suffix("|>")) {
                    specials.languages.push((t, code.to_owned()));
                }
            }
        }
        Ok(Self { inner, specials })
    }

    /// The language token, e.g. `<|en|>`, if this (multilingual) vocabulary has it.
    pub fn language(&self, code: &str) -> Option<u32> {
        let primary = code.split('-').next().unwrap_or(code).to_ascii_lowercase();
        self.inner.token_to_id(&format!("<|{primary}|>"))
    }

    /// Text of one token (byte-level BPE pieces keep their leading space).
    pub fn token_text(&self, id: u32) -> String {
        self.inner.decode(&[id], false).unwrap_or_default()
    }

    /// Text of a token sequence, special tokens dropped.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }

    /// Ids used to check a tokenizer against a reference.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }
}
