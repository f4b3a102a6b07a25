//! A loaded Moonshine checkpoint: configuration, encoder (either architecture), decoder, and
//! greedy decoding over a segment's encoder frames.

use crate::config::{Arch, MoonshineConfig};
use crate::decoder::{argmax, CrossCache, Decoder, SelfCache};
use crate::error::MoonshineError;
use crate::original::OriginalEncoder;
use crate::streaming::StreamingEncoder;
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
    /// Each token's cross-attention over the encoder frames (averaged over heads and layers):
    /// what [`crate::align::token_spans`] times the tokens by.
    pub attention: Vec<Vec<f32>>,
    /// Decoding stopped at `eos` (not at the token limit).
    pub ended: bool,
    /// Of the decoded tokens, how many came from the job's draft (checked in the prefill, not
    /// decoded step by step).
    pub drafted: usize,
}

/// One segment to decode greedily.
#[derive(Debug, Clone, Copy)]
pub struct DecodeJob<'a> {
    /// The cross-attention cache of the segment's encoder frames.
    pub cross: &'a CrossCache,
    /// Text tokens taken as given after `bos`.
    pub forced: &'a [u32],
    /// Tokens expected to follow `forced` (the same segment's previous hypothesis): run in the
    /// prefill with the forced ones, and kept as far as greedy decoding would have chosen them
    /// (speculative decoding with the last hypothesis as the guess: the text is greedy's either
    /// way; a good draft saves the steps it covers).
    pub draft: &'a [u32],
    /// Text tokens decoded at most after `forced`.
    pub max_tokens: usize,
}

impl Hypothesis {
    /// Each token's encoder frame where its cross-attention (averaged over every head and
    /// layer) peaks.
    pub fn peaks(&self) -> Vec<usize> {
        self.attention.iter().map(|w| argmax(w)).collect()
    }
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
        Self::load_dir_with(dir, device, false)
    }

    /// [`Self::load_dir`], with the decoder's products in 8 bits when `eight_bit`.
    pub fn load_dir_with(
        dir: &Path,
        device: &Device,
        eight_bit: bool,
    ) -> std::result::Result<Self, MoonshineError> {
        let config = MoonshineConfig::from_dir(dir)?;
        let vb = match crate::gguf::find(dir)? {
            Some(path) => {
                VarBuilder::from_tensors(crate::gguf::read(&path, device)?, DType::F32, device)
            }
            None => {
                let weights = dir.join("model.safetensors");
                let data = std::fs::read(&weights).map_err(|e| MoonshineError::MissingFile {
                    path: weights.display().to_string(),
                    detail: format!("{e} (nor a .gguf file)"),
                })?;
                VarBuilder::from_buffered_safetensors(data, DType::F32, device)
                    .map_err(|e| MoonshineError::WeightMismatch(e.to_string()))?
            }
        };
        Self::load_with(config, vb, eight_bit)
            .map_err(|e| MoonshineError::WeightMismatch(e.to_string()))
    }

    /// Builds the network from weights named as transformers names them.
    pub fn load(config: MoonshineConfig, vb: VarBuilder) -> Result<Self> {
        Self::load_with(config, vb, false)
    }

    /// [`Self::load`], with the decoder's products in 8 bits when `eight_bit`.
    pub fn load_with(config: MoonshineConfig, vb: VarBuilder, eight_bit: bool) -> Result<Self> {
        let model = vb.pp("model");
        let encoder = match config.arch {
            Arch::Streaming => {
                Encoder::Streaming(StreamingEncoder::load(&config, model.pp("encoder"))?)
            }
            Arch::Original => {
                Encoder::Original(OriginalEncoder::load(&config, model.pp("encoder"))?)
            }
        };
        let decoder = Decoder::load(&config, model.pp("decoder"), &vb, eight_bit)?;
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

    /// Greedy decoding of several segments at once ([`Decoder::step_batch`]); `stops[i]` is
    /// asked between steps. Each row's tokens are those [`Self::greedy_after`] gives it alone,
    /// whatever its draft.
    pub fn greedy_batch(
        &self,
        jobs: &[DecodeJob<'_>],
        stops: &[&dyn Fn() -> bool],
    ) -> Result<Vec<Hypothesis>> {
        self.decode_batch(jobs, stops, true)
    }

    fn decode_batch(
        &self,
        jobs: &[DecodeJob<'_>],
        stops: &[&dyn Fn() -> bool],
        stop_at_eos: bool,
    ) -> Result<Vec<Hypothesis>> {
        let eos = stop_at_eos.then_some(self.config.eos_token_id);
        let mut hyps: Vec<Hypothesis> = Vec::with_capacity(jobs.len());
        let mut caches: Vec<SelfCache> = Vec::with_capacity(jobs.len());
        // The next token of each row, chosen but not yet run.
        let mut next: Vec<Option<u32>> = Vec::with_capacity(jobs.len());
        // Prefill: bos, the forced tokens and the draft of every row that decodes, in one call.
        let mut prompts: Vec<Vec<u32>> = Vec::new();
        // Logits wanted per prompt: its last forced position's and every draft token's.
        let mut wanted: Vec<usize> = Vec::new();
        let mut starting: Vec<usize> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let mut hyp = Hypothesis::default();
            if job.cross.frames() == 0 || job.max_tokens == 0 || stops[i]() {
                hyp.ended = job.cross.frames() == 0;
            } else {
                // The draft's tokens up to the limit, none after an end of text.
                let draft: Vec<u32> = job
                    .draft
                    .iter()
                    .copied()
                    .take_while(|&t| Some(t) != eos)
                    .take(job.max_tokens)
                    .collect();
                let mut first = vec![self.config.bos_token_id];
                first.extend_from_slice(job.forced);
                first.extend_from_slice(&draft);
                prompts.push(first);
                wanted.push(draft.len() + 1);
                starting.push(i);
            }
            hyps.push(hyp);
            caches.push(SelfCache::default());
            next.push(None);
        }
        if !starting.is_empty() {
            let mut row_caches: Vec<SelfCache> = starting
                .iter()
                .map(|&i| std::mem::take(&mut caches[i]))
                .collect();
            let crosses: Vec<&CrossCache> = starting.iter().map(|&i| jobs[i].cross).collect();
            let prompt_refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
            let (picks, weights) = self.decoder.prefill_batch(
                &prompt_refs,
                &wanted,
                &mut row_caches,
                &crosses,
                true,
            )?;
            let mut at = 0;
            for (((&i, mut cache), weights), prompt) in
                starting.iter().zip(row_caches).zip(weights).zip(&prompts)
            {
                let job = &jobs[i];
                let n_forced = job.forced.len();
                let hyp = &mut hyps[i];
                for (k, &t) in job.forced.iter().enumerate() {
                    hyp.tokens.push(t);
                    hyp.probs.push(1.0);
                    hyp.attention
                        .push(weights.get(k).cloned().unwrap_or_default());
                }
                hyp.forced = n_forced;
                // The draft is kept while greedy decoding would have chosen its tokens; the
                // first it would not have is replaced by greedy's choice there.
                let draft = &prompt[1 + n_forced..];
                let mut kept = 0;
                for j in 0..=draft.len() {
                    let choice = picks.get(at + j).copied().unwrap_or_default();
                    let attention = weights.get(n_forced + j);
                    if j < draft.len() && choice.0 == draft[j] {
                        take(hyp, choice, attention, eos);
                        kept += 1;
                        continue;
                    }
                    // Greedy's own token, unless the limit is reached.
                    if kept < job.max_tokens {
                        next[i] = take(hyp, choice, attention, eos);
                    }
                    break;
                }
                at += draft.len() + 1;
                hyp.drafted = kept;
                // The draft's positions past what was kept are not part of the text.
                cache.truncate(1 + n_forced + kept);
                caches[i] = cache;
            }
        }
        loop {
            let rows: Vec<usize> = (0..jobs.len())
                .filter(|&i| {
                    next[i].is_some()
                        && hyps[i].tokens.len() < jobs[i].max_tokens + jobs[i].forced.len()
                        && !stops[i]()
                })
                .collect();
            if rows.is_empty() {
                break;
            }
            let tokens: Vec<u32> = rows.iter().filter_map(|&i| next[i]).collect();
            let mut row_caches: Vec<SelfCache> = rows
                .iter()
                .map(|&i| std::mem::take(&mut caches[i]))
                .collect();
            let crosses: Vec<&CrossCache> = rows.iter().map(|&i| jobs[i].cross).collect();
            let (picks, weights) =
                self.decoder
                    .step_batch(&tokens, &mut row_caches, &crosses, true)?;
            for (r, (&i, cache)) in rows.iter().zip(row_caches).enumerate() {
                caches[i] = cache;
                let choice = picks.get(r).copied().unwrap_or_default();
                next[i] = take(&mut hyps[i], choice, weights.get(r), eos);
            }
        }
        Ok(hyps)
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
        let job = DecodeJob {
            cross,
            forced,
            draft: &[],
            max_tokens,
        };
        let mut hyps = self.decode_batch(&[job], &[stop], stop_at_eos)?;
        Ok(hyps.pop().unwrap_or_default())
    }
}

/// Records a chosen token and its probability (or the end of the text); the token to run next,
/// if any.
fn take(
    hyp: &mut Hypothesis,
    (token, prob): crate::decoder::Pick,
    weights: Option<&Vec<f32>>,
    eos: Option<u32>,
) -> Option<u32> {
    if Some(token) == eos {
        hyp.ended = true;
        return None;
    }
    hyp.probs.push(prob);
    hyp.attention.push(weights.cloned().unwrap_or_default());
    hyp.tokens.push(token);
    Some(token)
}
