//! Batched greedy decoding with token probabilities and the no-speech probability.

use crate::model::Whisper;
use candle_core::{Tensor, D};

/// What greedy decoding produced for one window.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// 0 = greedy; above 0, tokens are sampled from `softmax(logits / temperature)`.
    pub temperature: f32,
    /// Seed of the sampler (decoding is deterministic for a given seed).
    pub seed: u64,
}

/// OpenAI's repetition measure: UTF-8 bytes over zlib-compressed bytes (level 6).
pub fn compression_ratio(text: &str) -> f32 {
    use std::io::Write;
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    let compressed = z
        .write_all(bytes)
        .and_then(|()| z.finish())
        .map(|c| c.len())
        .unwrap_or(bytes.len());
    bytes.len() as f32 / compressed.max(1) as f32
}

/// xorshift64*: a tiny deterministic generator for temperature sampling.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Pick a token per row: argmax at temperature 0, else a sample from `softmax(row / t)`.
fn choose(masked: &Tensor, t: f32, rng: &mut Rng) -> candle_core::Result<Vec<u32>> {
    if t <= 0.0 {
        return masked.argmax(D::Minus1)?.to_vec1();
    }
    let probs: Vec<Vec<f32>> =
        candle_nn::ops::softmax_last_dim(&(masked / f64::from(t))?)?.to_vec2()?;
    Ok(probs
        .iter()
        .map(|row| {
            let mut u = rng.unit();
            for (i, p) in row.iter().enumerate() {
                u -= p;
                if u <= 0.0 {
                    return i as u32;
                }
            }
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i as u32)
        })
        .collect())
}

/// Decode every item of the encoder output `audio` `[B, S, d]` (greedy, or sampled when `temperature > 0`).
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
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
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
        let next = choose(&masked, cfg.temperature, &mut rng)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_ratio_flags_repetition() {
        let looped = "the same words again and again, ".repeat(12);
        assert!(
            compression_ratio(&looped) > 2.4,
            "{}",
            compression_ratio(&looped)
        );
        let prose = "We the People of the United States, in Order to form a more perfect Union, establish Justice.";
        assert!(
            compression_ratio(prose) < 2.4,
            "{}",
            compression_ratio(prose)
        );
        assert_eq!(compression_ratio(""), 0.0);
    }

    #[test]
    fn sampling_is_deterministic_per_seed_and_spread_by_temperature() {
        let logits = Tensor::new(&[[0.0f32, 0.1, 0.2, 0.3]], &candle_core::Device::Cpu).expect("t");
        let draw = |seed: u64, t: f32| {
            let mut rng = Rng(seed | 1);
            (0..200)
                .map(|_| choose(&logits, t, &mut rng).expect("choose")[0])
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7, 1.0), draw(7, 1.0));
        assert!(
            draw(7, 0.0).iter().all(|t| *t == 3),
            "temperature 0 is argmax"
        );
        let spread = draw(7, 1.0);
        assert!(
            (0..4).all(|t| spread.contains(&t)),
            "temperature 1 reaches every token"
        );
    }
}
