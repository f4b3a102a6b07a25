//! A loaded Moonshine checkpoint: configuration, encoder (either architecture), decoder, and
//! greedy decoding over a segment's encoder frames.

use crate::config::{Arch, MoonshineConfig};
use crate::decoder::{argmax, CrossCache, Decoder, SelfCache};
use crate::error::MoonshineError;
use crate::original::OriginalEncoder;
use crate::streaming::{EncoderState, StreamingEncoder};
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use std::path::Path;

/// Tokens per second of audio a hypothesis may have at most (Moonshine's documented limit,
/// about 6.5; speech rarely exceeds 4).
pub const MAX_TOKENS_PER_SECOND: f64 = 6.5;

/// The encoder of either architecture.
pub enum Encoder {
    Streaming(StreamingEncoder),
    Original(OriginalEncoder),
}

/// A decoded hypothesis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hypothesis {
    /// Text tokens (no `bos`/`eos`): the forced ones first, then those decoded.
    pub tokens: Vec<u32>,
    /// How many of `tokens` were forced.
    pub forced: usize,
    /// Each token's probability when it was chosen.
    pub probs: Vec<f32>,
    /// Each token's encoder frame: where its cross-attention, averaged over every head and
    /// layer, peaks.
    pub frames: Vec<usize>,
    /// Each token's cross-attention over the encoder frames (averaged over heads and layers):
    /// what [`crate::align::token_spans`] times the tokens by.
    pub attention: Vec<Vec<f32>>,
    /// Decoding stopped at `eos` (not at the token limit).
    pub ended: bool,
}

/// A Moonshine model on one device.
pub struct Moonshine {
    pub config: MoonshineConfig,
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl Moonshine {
    /// Loads `config.json` and `model.safetensors` from a Hugging Face checkpoint directory.
    pub fn load_dir(dir: &Path, device: &Device) -> std::result::Result<Self, MoonshineError> {
        let config = MoonshineConfig::from_dir(dir)?;
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(MoonshineError::MissingFile {
                path: weights.display().to_string(),
                detail: "no such file".into(),
            });
        }
        let data = std::fs::read(&weights).map_err(|e| MoonshineError::MissingFile {
            path: weights.display().to_string(),
            detail: e.to_string(),
        })?;
        let vb = VarBuilder::from_buffered_safetensors(data, DType::F32, device)
            .map_err(|e| MoonshineError::WeightMismatch(e.to_string()))?;
        Self::load(config, vb).map_err(|e| MoonshineError::WeightMismatch(e.to_string()))
    }

    /// Builds the network from weights named as transformers names them.
    pub fn load(config: MoonshineConfig, vb: VarBuilder) -> Result<Self> {
        let model = vb.pp("model");
        let encoder = match config.arch {
            Arch::Streaming => {
                Encoder::Streaming(StreamingEncoder::load(&config, model.pp("encoder"))?)
            }
            Arch::Original => {
                Encoder::Original(OriginalEncoder::load(&config, model.pp("encoder"))?)
            }
        };
        let decoder = Decoder::load(&config, model.pp("decoder"), &vb)?;
        Ok(Self {
            config,
            encoder,
            decoder,
        })
    }

    /// Encodes a whole segment: `[frames, encoder hidden]`.
    pub fn encode(&self, samples: &[f32]) -> Result<Tensor> {
        match &self.encoder {
            Encoder::Streaming(e) => e.encode(samples),
            Encoder::Original(e) => e.encode(samples),
        }
    }

    /// A fresh streaming encoder state, for the streaming architecture.
    pub fn start_stream(&self) -> Result<Option<EncoderState>> {
        match &self.encoder {
            Encoder::Streaming(e) => e.start().map(Some),
            Encoder::Original(_) => Ok(None),
        }
    }

    /// The cross-attention cache of a whole segment's encoder frames.
    pub fn cross(&self, frames: &Tensor) -> Result<CrossCache> {
        let mut cache = CrossCache::default();
        self.decoder.extend(&mut cache, frames)?;
        Ok(cache)
    }

    /// The most tokens a segment of `samples` may decode to.
    pub fn token_limit(&self, samples: usize) -> usize {
        let seconds = samples as f64 / f64::from(self.config.sample_rate_hz);
        ((seconds * MAX_TOKENS_PER_SECOND).ceil() as usize)
            .max(4)
            .min(self.decoder.max_positions().saturating_sub(2))
    }

    /// Greedy decoding over `cross`: from `bos`, the likeliest token each step, until `eos` or
    /// `max_tokens` text tokens; `stop` is asked between steps (a withdrawn window).
    pub fn greedy(
        &self,
        cross: &CrossCache,
        max_tokens: usize,
        stop_at_eos: bool,
        stop: &dyn Fn() -> bool,
    ) -> Result<Hypothesis> {
        self.greedy_after(cross, &[], max_tokens, stop_at_eos, stop)
    }

    /// As [`Self::greedy`], with `forced` text tokens taken as given after `bos` (run in one
    /// step) before decoding goes on; `max_tokens` counts the decoded ones.
    pub fn greedy_after(
        &self,
        cross: &CrossCache,
        forced: &[u32],
        max_tokens: usize,
        stop_at_eos: bool,
        stop: &dyn Fn() -> bool,
    ) -> Result<Hypothesis> {
        let mut hyp = Hypothesis::default();
        if cross.frames() == 0 {
            hyp.ended = true;
            return Ok(hyp);
        }
        let peak = |w: &[f32]| {
            w.iter()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |best, (i, &x)| if x > best.1 { (i, x) } else { best },
                )
                .0
        };
        let mut cache = SelfCache::default();
        let mut next = vec![self.config.bos_token_id];
        next.extend_from_slice(forced);
        let limit = max_tokens + forced.len();
        let mut first = true;
        while hyp.tokens.len() < limit && !stop() {
            let step = self.decoder.step(&next, &mut cache, cross, true)?;
            if first && !forced.is_empty() {
                // The forced tokens' times: where each position before them looked.
                let weights = step.cross_weights.as_deref().unwrap_or_default();
                for (i, &t) in forced.iter().enumerate() {
                    hyp.tokens.push(t);
                    hyp.probs.push(1.0);
                    hyp.frames.push(weights.get(i).map_or(0, |w| peak(w)));
                    hyp.attention
                        .push(weights.get(i).cloned().unwrap_or_default());
                }
                hyp.forced = forced.len();
            }
            first = false;
            let token = argmax(&step.logits)?;
            if stop_at_eos && token == self.config.eos_token_id {
                hyp.ended = true;
                break;
            }
            let probs = candle_nn::ops::softmax_last_dim(&step.logits)?;
            hyp.probs
                .push(probs.get(token as usize)?.to_scalar::<f32>()?);
            let weights = step.cross_weights.unwrap_or_default();
            hyp.frames.push(weights.last().map_or(0, |w| peak(w)));
            hyp.attention
                .push(weights.last().cloned().unwrap_or_default());
            hyp.tokens.push(token);
            next = vec![token];
        }
        Ok(hyp)
    }
}
