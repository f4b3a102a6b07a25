//! `config.json` of a Hugging Face Moonshine checkpoint, both architectures, read into one shape:
//! `model_type: "moonshine_streaming"` (raw-audio frontend, sliding-window encoder, learned
//! positions added to the encoder output) and `model_type: "moonshine"` (the first Moonshine:
//! convolution stem, full-attention encoder with rotary positions).

use crate::error::MoonshineError;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// Which network the checkpoint holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Moonshine Streaming: each 20 ms encoder frame sees a bounded window of frames around it,
    /// so audio can be encoded as it arrives, each frame once.
    Streaming,
    /// The first Moonshine: every encoder frame attends to the whole segment.
    Original,
}

/// Rotary position embedding of the decoder (and of the original encoder).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope {
    pub theta: f64,
    /// Share of each head's dimensions that rotate (the rest pass through).
    pub partial_factor: f64,
}

/// One transformer stack.
#[derive(Debug, Clone, PartialEq)]
pub struct StackConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// `gelu` or `silu`.
    pub act: String,
}

/// The network's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct MoonshineConfig {
    pub arch: Arch,
    pub encoder: StackConfig,
    pub decoder: StackConfig,
    pub vocab_size: usize,
    pub bos_token_id: u32,
    pub eos_token_id: u32,
    /// Decoder positions (and, for the streaming model, encoder frames a segment may have).
    pub max_position_embeddings: usize,
    pub rope: Rope,
    /// The output projection is the token embedding (no `proj_out.weight`).
    pub tie_word_embeddings: bool,
    /// Streaming model: samples per frontend frame (80 = 5 ms at 16 kHz).
    pub frame_len: usize,
    /// Streaming model: `(left, right)` attention window of each encoder layer, in frames: frame
    /// `t` attends to frames `t - left + 1 ..= t + right - 1`.
    pub sliding_windows: Vec<(usize, usize)>,
    pub sample_rate_hz: u32,
}

#[derive(Deserialize)]
struct Raw {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    #[serde(default)]
    num_hidden_layers: Option<usize>,
    #[serde(default)]
    num_attention_heads: Option<usize>,
    #[serde(default)]
    num_key_value_heads: Option<usize>,
    #[serde(default)]
    encoder_num_hidden_layers: Option<usize>,
    #[serde(default)]
    decoder_num_hidden_layers: Option<usize>,
    #[serde(default)]
    encoder_num_attention_heads: Option<usize>,
    #[serde(default)]
    decoder_num_attention_heads: Option<usize>,
    #[serde(default)]
    encoder_num_key_value_heads: Option<usize>,
    #[serde(default)]
    decoder_num_key_value_heads: Option<usize>,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    encoder_hidden_act: Option<String>,
    #[serde(default)]
    decoder_hidden_act: Option<String>,
    #[serde(default)]
    head_dim: Option<usize>,
    max_position_embeddings: usize,
    #[serde(default)]
    bos_token_id: Option<u32>,
    #[serde(default)]
    eos_token_id: Option<Value>,
    #[serde(default)]
    decoder_start_token_id: Option<u32>,
    #[serde(default)]
    rope_parameters: Option<Value>,
    #[serde(default)]
    rope_theta: Option<f64>,
    #[serde(default)]
    partial_rotary_factor: Option<f64>,
    #[serde(default)]
    tie_word_embeddings: Option<bool>,
    #[serde(default)]
    encoder_config: Option<RawEncoder>,
}

#[derive(Deserialize)]
struct RawEncoder {
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default)]
    num_key_value_heads: Option<usize>,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    head_dim: Option<usize>,
    #[serde(default)]
    sample_rate: Option<u32>,
    #[serde(default)]
    frame_ms: Option<f64>,
    #[serde(default)]
    sliding_windows: Option<Vec<(usize, usize)>>,
}

impl MoonshineConfig {
    /// Reads `config.json` from a checkpoint directory.
    pub fn from_dir(dir: &Path) -> Result<Self, MoonshineError> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| MoonshineError::MissingFile {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::from_json(&text).map_err(|detail| MoonshineError::BadConfig {
            path: path.display().to_string(),
            detail,
        })
    }

    /// Parses the text of a `config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let rope = rope_of(&raw);
        let eos = match &raw.eos_token_id {
            Some(Value::Number(n)) => n.as_u64().map(|n| n as u32),
            Some(Value::Array(a)) => a.first().and_then(Value::as_u64).map(|n| n as u32),
            _ => None,
        }
        .unwrap_or(2);
        let bos = raw.decoder_start_token_id.or(raw.bos_token_id).unwrap_or(1);
        let config = match raw.model_type.as_str() {
            "moonshine_streaming" => {
                let enc = raw
                    .encoder_config
                    .as_ref()
                    .ok_or("`encoder_config` is missing")?;
                let heads = raw.num_attention_heads.ok_or("`num_attention_heads`")?;
                let sample_rate_hz = enc.sample_rate.unwrap_or(16_000);
                let frame_ms = enc.frame_ms.unwrap_or(5.0);
                let layers = enc.num_hidden_layers;
                let sliding_windows = enc
                    .sliding_windows
                    .clone()
                    .unwrap_or_else(|| default_windows(layers));
                if sliding_windows.len() != layers {
                    return Err(format!(
                        "{} sliding windows for {layers} encoder layers",
                        sliding_windows.len()
                    ));
                }
                MoonshineConfig {
                    arch: Arch::Streaming,
                    encoder: StackConfig {
                        hidden_size: enc.hidden_size,
                        intermediate_size: enc.intermediate_size,
                        layers,
                        heads: enc.num_attention_heads,
                        kv_heads: enc.num_key_value_heads.unwrap_or(enc.num_attention_heads),
                        head_dim: enc
                            .head_dim
                            .unwrap_or(enc.hidden_size / enc.num_attention_heads.max(1)),
                        act: enc.hidden_act.clone().unwrap_or_else(|| "gelu".into()),
                    },
                    decoder: StackConfig {
                        hidden_size: raw.hidden_size,
                        intermediate_size: raw.intermediate_size,
                        layers: raw.num_hidden_layers.ok_or("`num_hidden_layers`")?,
                        heads,
                        kv_heads: raw.num_key_value_heads.unwrap_or(heads),
                        head_dim: raw.head_dim.unwrap_or(raw.hidden_size / heads.max(1)),
                        act: raw.hidden_act.clone().unwrap_or_else(|| "silu".into()),
                    },
                    vocab_size: raw.vocab_size,
                    bos_token_id: bos,
                    eos_token_id: eos,
                    max_position_embeddings: raw.max_position_embeddings,
                    rope,
                    tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
                    frame_len: (f64::from(sample_rate_hz) * frame_ms / 1000.0).round() as usize,
                    sliding_windows,
                    sample_rate_hz,
                }
            }
            "moonshine" => {
                let eh = raw
                    .encoder_num_attention_heads
                    .ok_or("`encoder_num_attention_heads`")?;
                let dh = raw
                    .decoder_num_attention_heads
                    .ok_or("`decoder_num_attention_heads`")?;
                let head_dim = |h: usize| raw.head_dim.unwrap_or(raw.hidden_size / h.max(1));
                MoonshineConfig {
                    arch: Arch::Original,
                    encoder: StackConfig {
                        hidden_size: raw.hidden_size,
                        intermediate_size: raw.intermediate_size,
                        layers: raw
                            .encoder_num_hidden_layers
                            .ok_or("`encoder_num_hidden_layers`")?,
                        heads: eh,
                        kv_heads: raw.encoder_num_key_value_heads.unwrap_or(eh),
                        head_dim: head_dim(eh),
                        act: raw
                            .encoder_hidden_act
                            .clone()
                            .unwrap_or_else(|| "gelu".into()),
                    },
                    decoder: StackConfig {
                        hidden_size: raw.hidden_size,
                        intermediate_size: raw.intermediate_size,
                        layers: raw
                            .decoder_num_hidden_layers
                            .ok_or("`decoder_num_hidden_layers`")?,
                        heads: dh,
                        kv_heads: raw.decoder_num_key_value_heads.unwrap_or(dh),
                        head_dim: head_dim(dh),
                        act: raw
                            .decoder_hidden_act
                            .clone()
                            .unwrap_or_else(|| "silu".into()),
                    },
                    vocab_size: raw.vocab_size,
                    bos_token_id: bos,
                    eos_token_id: eos,
                    max_position_embeddings: raw.max_position_embeddings,
                    rope,
                    tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(true),
                    frame_len: 0,
                    sliding_windows: Vec::new(),
                    sample_rate_hz: 16_000,
                }
            }
            other => return Err(format!("model_type `{other}` is not a Moonshine model")),
        };
        for stack in [&config.encoder, &config.decoder] {
            if stack.heads == 0 || stack.kv_heads == 0 || stack.heads % stack.kv_heads != 0 {
                return Err(format!(
                    "{} heads cannot share {} key/value heads",
                    stack.heads, stack.kv_heads
                ));
            }
            if !matches!(stack.act.as_str(), "gelu" | "silu") {
                return Err(format!("activation `{}` is not supported", stack.act));
            }
        }
        Ok(config)
    }

    /// Encoder frames per second of audio (50 for both architectures at 16 kHz).
    pub fn frames_per_second(&self) -> f64 {
        match self.arch {
            Arch::Streaming => f64::from(self.sample_rate_hz) / (self.frame_len * 4) as f64,
            Arch::Original => f64::from(self.sample_rate_hz) / 384.0,
        }
    }

    /// How many encoder frames past a frame the streaming encoder must see before that frame's
    /// output is final: the sum of every layer's look-ahead.
    pub fn lookahead_frames(&self) -> usize {
        self.sliding_windows
            .iter()
            .map(|&(_, right)| right.saturating_sub(1))
            .sum()
    }
}

fn default_windows(layers: usize) -> Vec<(usize, usize)> {
    // transformers' default for six layers: look-ahead in the first two and last two.
    (0..layers)
        .map(|i| {
            if i < 2 || i + 2 >= layers {
                (16, 4)
            } else {
                (16, 0)
            }
        })
        .collect()
}

fn rope_of(raw: &Raw) -> Rope {
    let params = raw.rope_parameters.as_ref();
    let get = |key: &str| params.and_then(|p| p.get(key)).and_then(Value::as_f64);
    let streaming = raw.model_type == "moonshine_streaming";
    Rope {
        theta: get("rope_theta").or(raw.rope_theta).unwrap_or(10_000.0),
        partial_factor: get("partial_rotary_factor")
            .or(raw.partial_rotary_factor)
            .unwrap_or(if streaming { 0.8 } else { 0.9 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_defaults_and_lookahead() {
        let c = MoonshineConfig::from_json(
            r#"{"model_type":"moonshine_streaming","vocab_size":32768,"hidden_size":320,
            "intermediate_size":1280,"num_hidden_layers":6,"num_attention_heads":8,
            "max_position_embeddings":4096,
            "encoder_config":{"hidden_size":320,"intermediate_size":1280,"num_hidden_layers":6,
            "num_attention_heads":8,"sliding_windows":[[16,4],[16,4],[16,0],[16,0],[16,4],[16,4]]}}"#,
        )
        .expect("parses");
        assert_eq!(c.arch, Arch::Streaming);
        assert_eq!(c.frame_len, 80);
        assert_eq!(c.lookahead_frames(), 12);
        assert_eq!(c.frames_per_second(), 50.0);
        assert_eq!(c.rope.partial_factor, 0.8);
        assert_eq!((c.bos_token_id, c.eos_token_id), (1, 2));
        assert!(!c.tie_word_embeddings);
    }

    #[test]
    fn rejects_what_it_cannot_run() {
        let bad_windows = r#"{"model_type":"moonshine_streaming","vocab_size":8,"hidden_size":8,
            "intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,
            "max_position_embeddings":8,"encoder_config":{"hidden_size":8,"intermediate_size":8,
            "num_hidden_layers":2,"num_attention_heads":2,"sliding_windows":[[4,0]]}}"#;
        assert!(MoonshineConfig::from_json(bad_windows).is_err());
        assert!(MoonshineConfig::from_json(r#"{"model_type":"whisper"}"#).is_err());
        let bad_heads = r#"{"model_type":"moonshine","vocab_size":8,"hidden_size":8,
            "intermediate_size":8,"encoder_num_hidden_layers":1,"decoder_num_hidden_layers":1,
            "encoder_num_attention_heads":3,"encoder_num_key_value_heads":2,
            "decoder_num_attention_heads":2,"max_position_embeddings":8}"#;
        assert!(MoonshineConfig::from_json(bad_heads).is_err());
    }
}
