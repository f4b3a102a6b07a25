//! Batched greedy decoding with token probabilities and the no-speech probability.

use crate::model::Whisper;
use candle_core::{Tensor, D};

/// What greedy decoding produced for one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Text tokens (prompt and end-of-text excluded).
    pub tokens: Vec<u32>,
    /// Probability of each chosen token.
    pub probs: Vec<f32>,
    /// Mean log-probability of the chosen tokens.
    pub avg_logprob: f32,
    /// Probability of `<|nospeech|>` at the start-of-transcript position.
    pub no_speech_prob: f32,
}

/// Decoding knobs (inert data).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeConfig {
    pub prompt: Vec<u32>,
    pub eot: u32,
    pub no_speech: Option<u32>,
    /// Tokens that may never be produced.
    pub suppress: Vec<u32>,
    /// Tokens that may not be produced first.
    pub begin_suppress: Vec<u32>,
    pub max_tokens: usize,
}

/// Greedy-decode every item of the encoder output `audio` `[B, S, d]`.
pub fn greedy(
    model: &Whisper,
    audio: &Tensor,
    cfg: &DecodeConfig,
) -> candle_core::Result<Vec<Decoded>> {
    let b = audio.dim(0)?;
    let vocab = model.config.vocab_size;
    let mut state = model.decoder.start(audio)?;
    let prompt: Vec<u32> = (0..b).flat_map(|_| cfg.prompt.iter().copied()).collect();
    let prompt = Tensor::from_vec(prompt, (b, cfg.prompt.len()), &model.device)?;
    let (logits, _) = model.decoder.step(&prompt, &mut state, false)?;
    let logits = logits.to_dtype(candle_core::DType::F32)?;
    let no_speech: Vec<f32> = match cfg.no_speech {
        Some(id) => {
            candle_nn::ops::softmax_last_dim(&logits.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?)?
                .narrow(1, id as usize, 1)?
                .squeeze(1)?
                .to_vec1()?
        }
        None => vec![0.0; b],
    };
    let mut last = logits
        .narrow(1, cfg.prompt.len() - 1, 1)?
        .squeeze(1)?
        .contiguous()?;
    let mut mask = vec![0f32; vocab];
    for &t in &cfg.suppress {
        if let Some(m) = mask.get_mut(t as usize) {
            *m = f32::NEG_INFINITY;
        }
    }
    let suppress = Tensor::from_vec(mask.clone(), (1, vocab), &model.device)?;
    for &t in &cfg.begin_suppress {
        if let Some(m) = mask.get_mut(t as usize) {
            *m = f32::NEG_INFINITY;
        }
    }
    let begin_suppress = Tensor::from_vec(mask, (1, vocab), &model.device)?;
    let mut out: Vec<Decoded> = no_speech
        .into_iter()
        .map(|p| Decoded {
            tokens: vec![],
            probs: vec![],
            avg_logprob: 0.0,
            no_speech_prob: p,
        })
        .collect();
    let mut done = vec![false; b];
    let budget = cfg.max_tokens.min(
        model
            .config
            .max_target_positions
            .saturating_sub(cfg.prompt.len() + 1),
    );
    for step in 0..budget {
        let masked = last.broadcast_add(if step == 0 {
            &begin_suppress
        } else {
            &suppress
        })?;
        let probs = candle_nn::ops::softmax_last_dim(&masked)?;
        let next: Vec<u32> = masked.argmax(D::Minus1)?.to_vec1()?;
        let p_next: Vec<f32> = probs
            .gather(&Tensor::from_vec(next.clone(), (b, 1), &model.device)?, 1)?
            .squeeze(1)?
            .to_vec1()?;
        let mut feed = Vec::with_capacity(b);
        for i in 0..b {
            if done[i] || next[i] == cfg.eot {
                done[i] = true;
                feed.push(cfg.eot);
            } else {
                out[i].tokens.push(next[i]);
                out[i].probs.push(p_next[i]);
                feed.push(next[i]);
            }
        }
        if done.iter().all(|d| *d) {
            break;
        }
        let feed = Tensor::from_vec(feed, (b, 1), &model.device)?;
        let (logits, _) = model.decoder.step(&feed, &mut state, false)?;
        last = logits.squeeze(1)?.to_dtype(candle_core::DType::F32)?;
    }
    for d in &mut out {
        let n = d.probs.len().max(1) as f32;
        d.avg_logprob = d.probs.iter().map(|p| p.max(1e-12).ln()).sum::<f32>() / n;
    }
    Ok(out)
}
