//! Batched greedy decoding with token probabilities and the no-speech probability, optionally
//! with timestamp tokens under OpenAI's timestamp rules.

use crate::decode::align::Collector;
use crate::model::{DecoderState, Whisper};
use candle_core::{DType, Tensor, D};
use rayon::prelude::*;

/// What greedy decoding produced for one window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Text tokens (prompt and end-of-text excluded).
    pub tokens: Vec<u32>,
    /// Probability of each chosen token.
    pub probs: Vec<f32>,
    /// Mean log-probability of the sampled tokens (forced ones excluded: they are what the
    /// caller knew, and say nothing of how sure the model was of what it added).
    pub avg_logprob: f32,
    /// Probability of `<|nospeech|>` at the start-of-transcript position.
    pub no_speech_prob: f32,
    /// Token times as [`crate::decode::align::token_times`] gives them, from the cross-attention collected
    /// while decoding (`DecodeConfig::alignment_heads`); empty when not collected.
    pub times: Vec<f32>,
}

/// Decoding knobs (inert data).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeConfig {
    /// `[<|startofprev|> …] <|startoftranscript|> …`: the tokens before sampling starts.
    pub prompt: Vec<u32>,
    /// Per row: text tokens the window is known to begin with, fed after `prompt`. They start the
    /// row's result (with the probabilities the model gives them), and its first sampled token is
    /// not a beginning (`begin_suppress` does not apply). Rows with different (or no) forced text
    /// decode in one batch; rows past the end of this list have none. Greedy decoding only.
    pub forced: Vec<Vec<u32>>,
    /// Position of `<|startoftranscript|>` in `prompt` (where the no-speech probability is read).
    pub sot_index: usize,
    pub eot: u32,
    pub no_speech: Option<u32>,
    /// Tokens that may never be produced.
    pub suppress: Vec<u32>,
    /// Tokens that may not be produced first.
    pub begin_suppress: Vec<u32>,
    /// Most text tokens per window, forced ones included.
    pub max_tokens: usize,
    /// Per-row limits for greedy decoding (each also capped by `max_tokens`); empty: none.
    pub row_max_tokens: Vec<usize>,
    /// Per-row count of encoder positions that hold the row's audio (the rest is padding to the
    /// batch's longest window, which the row does not attend to unless `padded`); empty: all of
    /// them. Word timings are aligned within these positions.
    pub audio_positions: Vec<usize>,
    /// The rows' audio was zero-padded to the encoder's full input before encoding (OpenAI's
    /// models need it): every row attends to every position, as the model was trained, and
    /// `audio_positions` only bounds the word timings.
    pub padded: bool,
    /// 0 = greedy; above 0, tokens are sampled from `softmax(logits / temperature)`.
    pub temperature: f32,
    /// Seed of the sampler (decoding is deterministic for a given seed).
    pub seed: u64,
    /// Produce timestamp tokens (`<|0.00|>` …) under OpenAI's rules; `None`: text only.
    pub timestamps: Option<TimestampRules>,
    /// `[layer, head]` pairs whose cross-attention times the words: greedy decoding keeps their
    /// weights as it goes and fills `Decoded::times`. Empty: no times.
    pub alignment_heads: Vec<[usize; 2]>,
    /// Per row: a handle that, once cancelled, means the row's result is no longer wanted
    /// (greedy decoding stops that row at the next step). Empty or `None`: always wanted.
    pub withdrawn: Vec<Option<hark_asr::Cancel>>,
    /// Per window (beam search: per audio, shared by its beams): logit biases for keywords.
    /// Empty: none.
    pub keywords: Vec<Vec<KeywordBias>>,
}

/// A keyword's tokens and what is added to their logits: to the first token at every step, and
/// to each next token once the row's last tokens are the keyword's beginning.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordBias {
    pub tokens: Vec<u32>,
    pub bias: f32,
}

impl KeywordBias {
    /// Add the bias to `row` (one row's logits) given its tokens so far.
    pub fn apply(biases: &[KeywordBias], row: &mut [f32], sampled: &[u32]) {
        for b in biases {
            // The longest beginning of the keyword the row has just produced (none: 0).
            let matched = (1..b.tokens.len())
                .rev()
                .find(|&k| sampled.ends_with(&b.tokens[..k]))
                .unwrap_or(0);
            for k in [0, matched] {
                if let Some(v) = b.tokens.get(k).and_then(|&t| row.get_mut(t as usize)) {
                    if v.is_finite() {
                        *v += b.bias;
                    }
                }
                if matched == 0 {
                    break;
                }
            }
        }
    }
}

impl DecodeConfig {
    /// Per row, how many encoder positions it attends to (empty: all).
    pub(crate) fn attended_positions(&self) -> &[usize] {
        if self.padded {
            &[]
        } else {
            &self.audio_positions
        }
    }

    /// Whether row `row` was withdrawn.
    pub(crate) fn is_withdrawn(&self, row: usize) -> bool {
        self.withdrawn
            .get(row)
            .and_then(Option::as_ref)
            .is_some_and(hark_asr::Cancel::is_cancelled)
    }

    /// Row `row`'s forced tokens.
    pub(crate) fn forced_tokens(&self, row: usize) -> &[u32] {
        self.forced.get(row).map_or(&[], Vec::as_slice)
    }

    /// Row `row`'s most text tokens, forced ones included.
    fn row_limit(&self, row: usize) -> usize {
        self.row_max_tokens
            .get(row)
            .map_or(self.max_tokens, |&m| m.min(self.max_tokens))
    }
}

/// OpenAI's `ApplyTimestampRules`: timestamps come in pairs (except before end-of-text), never
/// decrease, the first token is a timestamp no later than `max_initial_index`, and a timestamp is
/// forced when their total probability beats every text token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRules {
    /// Id of `<|0.00|>`; every id from here up is a timestamp (20 ms steps).
    pub begin: u32,
    /// `<|notimestamps|>`, never produced in this mode.
    pub no_timestamps: u32,
    /// Latest first timestamp, in 20 ms steps (OpenAI: 50 = 1 s); `None`: no limit.
    pub max_initial_index: Option<u32>,
}

impl TimestampRules {
    /// Mask `row` (one window's logits) given the tokens sampled so far.
    pub fn apply(&self, row: &mut [f32], sampled: &[u32], eot: u32) {
        let begin = self.begin as usize;
        let ninf = f32::NEG_INFINITY;
        if let Some(v) = row.get_mut(self.no_timestamps as usize) {
            *v = ninf;
        }
        let is_ts = |t: &u32| *t >= self.begin;
        let last_ts = sampled.last().is_some_and(is_ts);
        let penultimate_ts = sampled.len() < 2 || is_ts(&sampled[sampled.len() - 2]);
        let len = row.len();
        let text_end = begin.min(len);
        if last_ts {
            if penultimate_ts {
                row[text_end..].fill(ninf);
            } else {
                row[..(eot as usize).min(len)].fill(ninf);
            }
        }
        if let Some(&last) = sampled.iter().rev().find(|t| is_ts(t)) {
            let upto = if last_ts && !penultimate_ts {
                last
            } else {
                last + 1
            };
            row[text_end..(upto as usize).min(len).max(text_end)].fill(ninf);
        }
        if sampled.is_empty() {
            row[..text_end].fill(ninf);
            if let Some(m) = self.max_initial_index {
                let first_banned = (begin + m as usize + 1).min(len);
                row[first_banned..].fill(ninf);
            }
        }
        // (Vectorised, and the rows run in parallel: `f32::exp` element by element over a whole
        // vocabulary, per row and step, slowed tiny.en's pre-recorded decoding noticeably.)
        let log_z = hark_kernels::ops::log_sum_exp(row);
        if log_z == ninf {
            return;
        }
        let ts_lse = hark_kernels::ops::log_sum_exp(&row[text_end..]);
        let ts_logprob = if ts_lse == ninf { ninf } else { ts_lse - log_z };
        let text_max = row[..text_end].iter().copied().fold(ninf, f32::max) - log_z;
        if ts_logprob > text_max {
            row[..text_end].fill(ninf);
        }
    }
}

/// Split timestamp-mode tokens into `(start_s, end_s, text tokens)` segments.
pub fn segments(tokens: &[u32], begin: u32) -> Vec<(f32, f32, Vec<u32>)> {
    let secs = |t: u32| (t - begin) as f32 * 0.02;
    let mut out = Vec::new();
    let mut start = None;
    let mut text = Vec::new();
    for &t in tokens {
        if t < begin {
            text.push(t);
        } else if let Some(s) = start.take() {
            out.push((s, secs(t), std::mem::take(&mut text)));
        } else {
            start = Some(secs(t));
        }
    }
    if !text.is_empty() {
        let s = start.unwrap_or_else(|| out.last().map_or(0.0, |o: &(f32, f32, Vec<u32>)| o.1));
        out.push((s, s, text));
    }
    out
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

/// The suppression masks and token budget of one decoding run (shared by greedy and beam search).
pub(crate) struct Masks {
    suppress: Tensor,
    begin_suppress: Tensor,
}

impl Masks {
    pub(crate) fn new(model: &Whisper, cfg: &DecodeConfig) -> candle_core::Result<Self> {
        let vocab = model.config.vocab_size;
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
        Ok(Self {
            suppress,
            begin_suppress,
        })
    }

    /// How many tokens may be sampled after the prompt, for rows with `forced` known tokens
    /// (`max_tokens` counts the forced ones, so the least forced row sets the count).
    pub(crate) fn budget(model: &Whisper, cfg: &DecodeConfig, forced: &[&[u32]]) -> usize {
        let least = forced.iter().map(|f| f.len()).min().unwrap_or(0);
        let longest = forced.iter().map(|f| f.len()).max().unwrap_or(0);
        cfg.max_tokens.saturating_sub(least).min(
            model
                .config
                .max_target_positions
                .saturating_sub(cfg.prompt.len() + longest + 1),
        )
    }

    /// Run the prompt, then each row's forced tokens (right-padded to the longest, the padding
    /// masked from then on): the logits after each row's last token `[rows, vocab]` (f32), each
    /// row's `<|nospeech|>` probability at the start-of-transcript position, and each row's
    /// probabilities of its forced tokens.
    pub(crate) fn prompt(
        &self,
        model: &Whisper,
        state: &mut DecoderState,
        cfg: &DecodeConfig,
        forced: &[&[u32]],
        collector: Option<&mut Collector>,
    ) -> candle_core::Result<(Tensor, Vec<f32>, Vec<Vec<f32>>)> {
        let rows = forced.len();
        let p = cfg.prompt.len();
        if p == 0 {
            candle_core::bail!("decoding needs a prompt (at least <|startoftranscript|>)");
        }
        let longest = forced.iter().map(|f| f.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows * (p + longest));
        for f in forced {
            ids.extend_from_slice(&cfg.prompt);
            ids.extend_from_slice(f);
            ids.extend(std::iter::repeat_n(cfg.eot, longest - f.len()));
        }
        let ids = Tensor::from_vec(ids, (rows, p + longest), &model.device)?;
        let (logits, cross) = model.decoder.step(&ids, state, collector.is_some())?;
        let lens: Vec<usize> = forced.iter().map(|f| p + f.len()).collect();
        if let Some(c) = collector {
            c.take(&cross, &vec![cfg.sot_index.min(p - 1); rows], &lens)?;
        }
        state.pad_rows(&lens)?;
        let logits = logits.to_dtype(DType::F32)?;
        let no_speech: Vec<f32> = match cfg.no_speech {
            Some(id) => candle_nn::ops::softmax_last_dim(
                &logits
                    .narrow(1, cfg.sot_index, 1)?
                    .squeeze(1)?
                    .contiguous()?,
            )?
            .narrow(1, id as usize, 1)?
            .squeeze(1)?
            .to_vec1()?,
            None => vec![0.0; rows],
        };
        let mut forced_probs = Vec::with_capacity(rows);
        let mut last = Vec::with_capacity(rows);
        for (row, f) in forced.iter().enumerate() {
            let logits = logits.narrow(0, row, 1)?.squeeze(0)?;
            last.push(logits.narrow(0, p + f.len() - 1, 1)?);
            if f.is_empty() {
                forced_probs.push(Vec::new());
                continue;
            }
            // Position i predicts token i + 1.
            let ids = Tensor::from_vec(f.to_vec(), (f.len(), 1), &model.device)?;
            let probs = candle_nn::ops::softmax_last_dim(&logits.narrow(0, p - 1, f.len())?)?;
            forced_probs.push(probs.gather(&ids, 1)?.squeeze(1)?.to_vec1()?);
        }
        Ok((Tensor::cat(&last, 0)?, no_speech, forced_probs))
    }

    /// The logits of a sampling step with suppression and timestamp rules applied; `begins`: per
    /// row, whether this token begins the text (`begin_suppress` applies); `sampled` holds each
    /// row's tokens so far.
    pub(crate) fn apply(
        &self,
        last: &Tensor,
        begins: &[bool],
        cfg: &DecodeConfig,
        sampled: &[&[u32]],
    ) -> candle_core::Result<Tensor> {
        let pick = |begin: bool| {
            if begin {
                &self.begin_suppress
            } else {
                &self.suppress
            }
        };
        let masked = match begins {
            [first, rest @ ..] if rest.iter().any(|b| b != first) => {
                let rows: Vec<&Tensor> = begins.iter().map(|&b| pick(b)).collect();
                (last + Tensor::cat(&rows, 0)?)?
            }
            _ => last.broadcast_add(pick(begins.first().copied().unwrap_or(false)))?,
        };
        let biased = cfg.keywords.iter().any(|k| !k.is_empty());
        if cfg.timestamps.is_none() && !biased {
            return Ok(masked);
        }
        let (b, vocab) = masked.dims2()?;
        // Beam search has several rows per window.
        let per_window = (b / cfg.keywords.len().max(1)).max(1);
        let mut flat: Vec<f32> = masked.flatten_all()?.to_vec1()?;
        flat.par_chunks_exact_mut(vocab.max(1))
            .zip(sampled.par_iter())
            .enumerate()
            .for_each(|(r, (row, seq))| {
                if let Some(rules) = &cfg.timestamps {
                    rules.apply(row, seq, cfg.eot);
                }
                if let Some(k) = cfg.keywords.get(r / per_window) {
                    KeywordBias::apply(k, row, seq);
                }
            });
        Tensor::from_vec(flat, (b, vocab), masked.device())
    }
}

/// Feed one token per row; the next logits `[rows, vocab]` (f32).
pub(crate) fn step_logits(
    model: &Whisper,
    feed: &Tensor,
    state: &mut DecoderState,
) -> candle_core::Result<Tensor> {
    let (logits, _) = model.decoder.step(feed, state, false)?;
    logits.squeeze(1)?.to_dtype(DType::F32)
}

/// Feed `feed` (one token per row) for its cross-attention only, into `collector`.
fn collect_only(
    model: &Whisper,
    feed: &[u32],
    state: &mut DecoderState,
    collector: &mut Collector,
    eot: u32,
) -> candle_core::Result<()> {
    let ids = Tensor::from_vec(feed.to_vec(), (feed.len(), 1), &model.device)?;
    let cross = model.decoder.cross_attention(&ids, state)?;
    collector.step(&cross, feed, eot)
}

/// Decode every item of the encoder output `audio` `[B, S, d]` (greedy, or sampled when `temperature > 0`).
pub fn greedy(
    model: &Whisper,
    audio: &Tensor,
    cfg: &DecodeConfig,
) -> candle_core::Result<Vec<Decoded>> {
    let b = audio.dim(0)?;
    let mut state = model.decoder.start(audio)?;
    state.limit_audio(cfg.attended_positions())?;
    let masks = Masks::new(model, cfg)?;
    let forced: Vec<&[u32]> = (0..b).map(|i| cfg.forced_tokens(i)).collect();
    let mut collector = Collector::new(model, &cfg.alignment_heads, b, state.audio_positions()?);
    let (mut last, no_speech, forced_probs) =
        masks.prompt(model, &mut state, cfg, &forced, collector.as_mut())?;
    let mut out: Vec<Decoded> = no_speech
        .into_iter()
        .zip(forced_probs)
        .zip(&forced)
        .map(|((p, probs), f)| Decoded {
            no_speech_prob: p,
            tokens: f.to_vec(),
            probs,
            ..Decoded::default()
        })
        .collect();
    let mut done: Vec<bool> = (0..b)
        .map(|i| out[i].tokens.len() >= cfg.row_limit(i))
        .collect();
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for step in 0..Masks::budget(model, cfg, &forced) {
        // A withdrawn row (a stale interim) stops here; its result is discarded.
        for (i, d) in done.iter_mut().enumerate() {
            *d |= cfg.is_withdrawn(i);
        }
        if done.iter().all(|d| *d) {
            break;
        }
        let sampled: Vec<&[u32]> = out.iter().map(|d| d.tokens.as_slice()).collect();
        // After known text, the first sampled token does not begin the transcript.
        let begins: Vec<bool> = forced.iter().map(|f| step == 0 && f.is_empty()).collect();
        let masked = masks.apply(&last, &begins, cfg, &sampled)?;
        // The vectorised softmax (candle's calls `expf` per element: ~0.3 ms per row here).
        let probs = hark_kernels::softmax_last_dim(masked.copy()?)?;
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
                if out[i].tokens.len() >= cfg.row_limit(i) {
                    done[i] = true;
                }
            }
        }
        if done.iter().all(|d| *d) {
            // The last tokens still owe their cross-attention rows (no logits needed).
            if let Some(c) = collector.as_mut().filter(|c| c.pending()) {
                collect_only(model, &feed, &mut state, c, cfg.eot)?;
            }
            break;
        }
        let ids = Tensor::from_vec(feed.clone(), (b, 1), &model.device)?;
        let (logits, cross) = model.decoder.step(&ids, &mut state, collector.is_some())?;
        last = logits.squeeze(1)?.to_dtype(DType::F32)?;
        if let Some(c) = collector.as_mut() {
            c.step(&cross, &feed, cfg.eot)?;
        }
    }
    if let Some(c) = collector.as_mut().filter(|c| c.pending()) {
        collect_only(model, &vec![cfg.eot; b], &mut state, c, cfg.eot)?;
    }
    let sot = cfg.sot_index.min(cfg.prompt.len().saturating_sub(1));
    for (i, d) in out.iter_mut().enumerate() {
        let sampled = &d.probs[forced[i].len().min(d.probs.len())..];
        let n = sampled.len().max(1) as f32;
        d.avg_logprob = sampled.iter().map(|p| p.max(1e-12).ln()).sum::<f32>() / n;
        if let (Some(c), false) = (&collector, d.tokens.is_empty()) {
            let positions = cfg.audio_positions.get(i).copied().unwrap_or(usize::MAX);
            let first = cfg.prompt.len().saturating_sub(1) - sot;
            d.times = c.times(i, first, d.tokens.len(), positions);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keyword_biases_lift_the_first_token_and_the_next_one_of_a_started_keyword() {
        let k = [KeywordBias {
            tokens: vec![2, 3],
            bias: 2.0,
        }];
        let mut row = vec![0.0f32; 5];
        KeywordBias::apply(&k, &mut row, &[1]);
        assert_eq!(row, [0.0, 0.0, 2.0, 0.0, 0.0]);
        let mut row = vec![0.0, 0.0, 0.0, f32::NEG_INFINITY, 0.0];
        KeywordBias::apply(&k, &mut row, &[4, 2]);
        // The keyword's next token is lifted, unless it is masked.
        assert_eq!(row[2], 2.0);
        assert_eq!(row[3], f32::NEG_INFINITY);
        let mut row = vec![0.0f32; 5];
        KeywordBias::apply(&k, &mut row, &[4, 2]);
        assert_eq!(row, [0.0, 0.0, 2.0, 2.0, 0.0]);
    }

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
