//! `config.json` and `generation_config.json` of a Hugging Face Whisper checkpoint, read tolerantly
//! (transformers 5 writes `"suppress_tokens": null`; older exports omit generation fields).

use crate::error::WhisperError;
use serde::{Deserialize, Serialize};
use std::path::Path;

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    Ok(Option::<Vec<u32>>::deserialize(d)?.unwrap_or_default())
}

/// The network's shape (`config.json`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WhisperConfig {
    pub vocab_size: usize,
    pub num_mel_bins: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_layers: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    /// Encoder positions; the longest window is `2 × max_source_positions` mel frames.
    pub max_source_positions: usize,
    pub max_target_positions: usize,
    #[serde(default)]
    pub scale_embedding: bool,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub suppress_tokens: Vec<u32>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub begin_suppress_tokens: Vec<u32>,
    #[serde(default)]
    pub decoder_start_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// hark's own key: the model was trained on windows of any length (the bundled demo model),
    /// so each window is encoded at its own length. OpenAI's Whisper models were trained on 30 s
    /// inputs only and need every window zero-padded to the full window (the default).
    #[serde(
        default,
        rename = "hark_variable_length",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub variable_length: bool,
}

/// Decoding facts (`generation_config.json`); every field optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct GenerationConfig {
    /// `[layer, head]` pairs whose cross-attention follows the audio (word timestamps).
    #[serde(default)]
    pub alignment_heads: Vec<[usize; 2]>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub suppress_tokens: Vec<u32>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub begin_suppress_tokens: Vec<u32>,
    #[serde(default)]
    pub no_timestamps_token_id: Option<u32>,
    #[serde(default)]
    pub is_multilingual: Option<bool>,
    #[serde(default)]
    pub max_initial_timestamp_index: Option<u32>,
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, WhisperError> {
    let text = std::fs::read_to_string(path).map_err(|e| WhisperError::MissingFile {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| WhisperError::BadConfig {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

impl WhisperConfig {
    pub fn load(path: &Path) -> Result<Self, WhisperError> {
        let c: Self = read_json(path)?;
        c.check(path)?;
        Ok(c)
    }

    /// Refuse shapes the network cannot have; `path` names the source in the error.
    pub fn check(&self, path: &Path) -> Result<(), WhisperError> {
        let c = self;
        let bad = |detail: String| WhisperError::BadConfig {
            path: path.display().to_string(),
            detail,
        };
        if c.encoder_attention_heads == 0 || c.decoder_attention_heads == 0 {
            return Err(bad("no attention heads".into()));
        }
        if !c.d_model.is_multiple_of(c.encoder_attention_heads)
            || !c.d_model.is_multiple_of(c.decoder_attention_heads)
        {
            return Err(bad(format!(
                "d_model {} is not divisible by the attention heads",
                c.d_model
            )));
        }
        if ![80, 128].contains(&c.num_mel_bins) {
            return Err(bad(format!(
                "num_mel_bins {} (Whisper uses 80 or 128)",
                c.num_mel_bins
            )));
        }
        Ok(())
    }

    /// Longest input window in samples (16 kHz): two mel frames per encoder position.
    pub fn max_window_samples(&self) -> usize {
        self.max_source_positions * 2 * crate::mel::HOP_SAMPLES
    }
}

impl GenerationConfig {
    /// Missing file → defaults (alignment heads then fall back to the last half of the layers).
    pub fn load_or_default(path: &Path) -> Result<Self, WhisperError> {
        if path.exists() {
            read_json(path)
        } else {
            Ok(Self::default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_suppress_tokens_and_missing_fields_are_tolerated() {
        let json = r#"{"vocab_size":51865,"num_mel_bins":80,"d_model":384,"encoder_layers":4,"encoder_attention_heads":6,
            "decoder_layers":4,"decoder_attention_heads":6,"encoder_ffn_dim":1536,"decoder_ffn_dim":1536,
            "max_source_positions":1500,"max_target_positions":448,"suppress_tokens":null,"extra_field":1}"#;
        let c: WhisperConfig = serde_json::from_str(json).expect("parse");
        assert!(c.suppress_tokens.is_empty());
        assert_eq!(c.max_window_samples(), 480_000);
        let g: GenerationConfig = serde_json::from_str(
            r#"{"alignment_heads":[[2,3],[3,0]],"no_timestamps_token_id":50363}"#,
        )
        .expect("gen");
        assert_eq!(g.alignment_heads, vec![[2, 3], [3, 0]]);
    }
}
