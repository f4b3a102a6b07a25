//! [`WhisperEngine`]: a loaded Whisper model behind `hark_asr::Engine`.

use crate::decode::align::token_times;
use crate::decode::beam::beam_search;
use crate::decode::greedy::{
    compression_ratio, greedy, DecodeConfig, Decoded, KeywordBias, TimestampRules,
};
use crate::decode::tokenizer::WhisperTokenizer;
use crate::error::WhisperError;
use crate::mel::{MelFrontend, HOP_SAMPLES};
use crate::model::config::{GenerationConfig, WhisperConfig};
use crate::model::Whisper;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use hark_asr::{
    AsrError, AudioWindow, DecodeOptions, Engine, ModelDescriptor, Transcript, WordTiming,
};
use std::borrow::Cow;
use std::path::Path;

/// Above this no-speech probability (with a low average log-probability) a window is silence.
const NO_SPEECH_THRESHOLD: f32 = 0.6;
const LOGPROB_THRESHOLD: f32 = -1.0;
const COMPRESSION_RATIO_THRESHOLD: f32 = 2.4;
/// OpenAI's `max_initial_timestamp` (1 s) in 20 ms steps: a long-form window's first timestamp.
const MAX_INITIAL_TIMESTAMP_INDEX: u32 = 50;
const TEMPERATURES: [f32; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// By default a window may yield at most this many tokens per second of audio (plus a few): fast
/// speech is about 5, so this only stops runaway repetition from costing a full token budget.
const MAX_TOKENS_PER_SECOND: f32 = 8.0;

/// A decoder prompt, the forced text that follows it, and how many of those tokens are context.
type Prompt = (Vec<u32>, Vec<u32>, usize);

/// Logit added to a keyword's tokens per unit of `keywords` intensifier (Deepgram's default is 1).
pub const KEYWORD_LOGIT_BIAS: f32 = 2.5;
/// The most a keyword's bias can be, either way (`kansas:-10` all but forbids the word).
pub const MAX_KEYWORD_BIAS: f32 = 25.0;

/// With the encoder shortcut ([`Whisper::remember_silence`]), encoder positions computed past a
/// window's audio: 3 s. On the shortcut bench (`bench/encoder_shortcut.sh`, tiny.en, 126 clips)
/// 1 s changed 7 transcripts, 3 s 5, 8 s 4 (moving each clip's end by 0.1 s changes 3).
const SILENCE_MARGIN_POSITIONS: usize = 150;

/// Computed lengths are whole multiples of this many encoder positions (1 s), so that batches
/// see few distinct shapes.
const SILENCE_BUCKET: usize = 50;

/// Windows per encoder pass on a CPU (a GPU takes them all at once). Batching more does not pay:
/// on a 2-core Zen 1 a 30 s Whisper base window took 1.25–1.3 s per window at 2 or 4 a pass,
/// 1.41 s at 8 and 1.53 s at 16 (the activations of 16 windows, 200 MB per layer, no longer stay
/// in cache), `bench/whisper.sh`'s Rust side with `HARK_BENCH_BATCH`.
const ENCODER_BATCH: usize = 2;

/// At most this much context audio is put before a window (and only what fits in the window).
const MAX_CONTEXT_SAMPLES: usize = 10 * crate::mel::SAMPLE_RATE_HZ as usize;

/// One model call's encoded windows, as the decoder reads them.
struct Call<'a> {
    audio: &'a Tensor,
    positions: &'a [usize],
    windows: &'a [AudioWindow],
    languages: &'a [Option<String>],
    with_context: &'a [bool],
}

pub struct WhisperEngine {
    model: Whisper,
    mel: MelFrontend,
    tokenizer: WhisperTokenizer,
    generation: GenerationConfig,
    descriptor: ModelDescriptor,
    suppress: Vec<u32>,
    /// `suppress` for timestamp mode: the timestamp tokens allowed.
    suppress_with_timestamps: Vec<u32>,
    begin_suppress: Vec<u32>,
    alignment_heads: Vec<[usize; 2]>,
    multilingual: bool,
    beam_size: usize,
    max_tokens: usize,
    max_tokens_per_second: f32,
    fallback: bool,
    /// Long-form windows decoded without timestamp tokens first ([`Self::set_skim`]).
    skim: bool,
}

impl WhisperEngine {
    /// Load a model directory in the Hugging Face layout. `name` is what clients select with `?model=`.
    pub fn load(dir: &Path, name: &str, device: Device) -> Result<Self, WhisperError> {
        let (config, generation, weights) = if crate::model::ct2::is_ct2_dir(dir) {
            let m = crate::model::ct2::load(dir, &device)?;
            (m.config, m.generation, m.weights)
        } else {
            (
                WhisperConfig::load(&dir.join("config.json"))?,
                GenerationConfig::load_or_default(&dir.join("generation_config.json"))?,
                crate::model::weights::load(dir, &device)?,
            )
        };
        let mut tokenizer = WhisperTokenizer::load(&dir.join("tokenizer.json"))?;
        // Many tokenizer.json files (faster-whisper's among them) leave the timestamp tokens
        // out; as in OpenAI's tokenizer they follow <|notimestamps|>, up to the vocabulary's end.
        let specials = &mut tokenizer.specials;
        if specials.timestamp_begin.is_none()
            && specials.no_timestamps + 1 < config.vocab_size as u32
        {
            specials.timestamp_begin = Some(specials.no_timestamps + 1);
        }
        let source = weights.source.clone();
        let mut quantized = weights.quantized;
        let quantized_encoder = weights.quantized_encoder;
        let vb = VarBuilder::from_tensors(weights.dense, DType::F32, &device);
        let mut model = Whisper::load(config.clone(), vb, device)
            .map_err(|e| WhisperError::WeightMismatch(format!("{source}: {e}")))?;
        let n_quantized = model.decoder.quantize(&mut quantized)?;
        let n_int8 = if quantized_encoder {
            model.encoder.use_int8()?
        } else {
            0
        };
        tracing::debug!(%source, n_quantized, n_int8, "whisper weights loaded");
        let s = &tokenizer.specials;
        let mut suppress: Vec<u32> = config
            .suppress_tokens
            .iter()
            .chain(&generation.suppress_tokens)
            .copied()
            .collect();
        // Timestamp mode (long-form windows): every special token but end-of-text and the
        // timestamps is suppressed; without timestamps, the timestamps too.
        let mut suppress_with_timestamps = suppress.clone();
        suppress_with_timestamps
            .extend(s.eot + 1..s.timestamp_begin.unwrap_or(config.vocab_size as u32));
        suppress_with_timestamps.sort_unstable();
        suppress_with_timestamps.dedup();
        suppress.extend(s.eot + 1..config.vocab_size as u32);
        suppress.sort_unstable();
        suppress.dedup();
        let mut begin_suppress: Vec<u32> = config
            .begin_suppress_tokens
            .iter()
            .chain(&generation.begin_suppress_tokens)
            .copied()
            .collect();
        begin_suppress.push(s.eot);
        let alignment_heads = if generation.alignment_heads.is_empty() {
            let half = config.decoder_layers / 2;
            (half..config.decoder_layers)
                .flat_map(|l| (0..config.decoder_attention_heads).map(move |h| [l, h]))
                .collect()
        } else {
            generation.alignment_heads.clone()
        };
        let multilingual = generation
            .is_multilingual
            .unwrap_or(tokenizer.language("fr").is_some());
        let config_text = std::fs::read_to_string(dir.join("config.json")).unwrap_or_default();
        let descriptor = ModelDescriptor {
            name: name.to_owned(),
            version: "hf".into(),
            arch: "whisper".into(),
            uuid: ModelDescriptor::uuid_from(&config_text),
        };
        Ok(Self {
            mel: MelFrontend::new(config.num_mel_bins),
            model,
            tokenizer,
            generation,
            descriptor,
            suppress,
            suppress_with_timestamps,
            begin_suppress,
            alignment_heads,
            multilingual,
            beam_size: 1,
            max_tokens: 224,
            max_tokens_per_second: MAX_TOKENS_PER_SECOND,
            fallback: true,
            skim: multilingual,
        })
    }

    /// Load on the best device this build supports: the first CUDA GPU when built with the `cuda`
    /// feature and one is present, else the CPU.
    pub fn load_on_best_device(dir: &Path, name: &str) -> Result<Self, WhisperError> {
        let device = Device::cuda_if_available(0)?;
        Self::load(dir, name, device)
    }

    /// Decode with `n` beams at temperature 0 (1, the default, is greedy decoding). Beam search
    /// costs about `n` times the decoder time.
    pub fn set_beam_size(&mut self, n: usize) {
        self.beam_size = n.max(1);
    }

    /// At most `n` text tokens per window (default 224, OpenAI's limit).
    pub fn set_max_tokens(&mut self, n: usize) {
        self.max_tokens = n.max(1);
    }

    /// At most `rate` tokens per second of window audio, plus 4 (default 8).
    pub fn set_max_tokens_per_second(&mut self, rate: f32) {
        self.max_tokens_per_second = rate.max(0.0);
    }

    /// Turn OpenAI's temperature fallback on (default) or off (one greedy/beam pass per window).
    pub fn set_temperature_fallback(&mut self, on: bool) {
        self.fallback = on;
    }

    /// Decode long-form windows whose speech is known without timestamp tokens first, and again
    /// with them only where their words leave out speech the VAD heard (greedy decoding only).
    /// On by default for multilingual models, off for English-only ones, as measured on the
    /// pre-recorded bench (README, "Pre-recorded throughput"): base writes the same words either
    /// way, 25 % faster; tiny.en is no faster (it skips sentences after a pause without
    /// timestamp tokens, so many windows are decoded twice) and mishears synthetic speech it
    /// hears right with them ("this lecture" as "this leg chur me").
    pub fn set_skim(&mut self, on: bool) {
        self.skim = on;
    }

    /// The encoder shortcut (off by default): run the encoder only over the positions that hold
    /// a window's audio plus a margin, the rest of the 30 s input taken from one pass over
    /// silence ([`Whisper::remember_silence`]). Faster for short windows, but it changes words
    /// (README, "Encoder shortcut"). Models trained on windows of any length ignore it.
    pub fn set_encoder_shortcut(&mut self, on: bool) -> candle_core::Result<()> {
        if !on {
            self.model.forget_silence();
        } else if !self.model.config.variable_length && !self.model.remembers_silence() {
            self.model.remember_silence()?;
        }
        Ok(())
    }

    /// Whether the model knows more than English (and so takes a language token).
    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// Spoken-language probabilities for each window of the encoder output `audio` `[B, S, d]`,
    /// most likely first, as OpenAI's `detect_language`: the decoder's distribution after
    /// `<|startoftranscript|>`, restricted to the language tokens. Empty for English-only models.
    /// `positions`: each window's count of encoder positions holding audio (empty: all).
    pub fn detect_language(
        &self,
        audio: &Tensor,
        positions: &[usize],
    ) -> candle_core::Result<Vec<Vec<(String, f32)>>> {
        let langs = &self.tokenizer.specials.languages;
        let b = audio.dim(0)?;
        if !self.multilingual || langs.is_empty() {
            return Ok(vec![Vec::new(); b]);
        }
        let mut state = self.model.decoder.start(audio)?;
        state.limit_audio(positions)?;
        let sot = Tensor::from_vec(vec![self.tokenizer.specials.sot; b], (b, 1), audio.device())?;
        let (logits, _) = self.model.decoder.step(&sot, &mut state, false)?;
        let ids: Vec<u32> = langs.iter().map(|(t, _)| *t).collect();
        let ids = Tensor::new(ids.as_slice(), audio.device())?;
        let picked = logits
            .squeeze(1)?
            .to_dtype(DType::F32)?
            .index_select(&ids, 1)?;
        let probs: Vec<Vec<f32>> = candle_nn::ops::softmax_last_dim(&picked)?.to_vec2()?;
        Ok(probs
            .into_iter()
            .map(|row| {
                let mut v: Vec<(String, f32)> = langs
                    .iter()
                    .zip(row)
                    .map(|((_, code), p)| (code.clone(), p))
                    .collect();
                v.sort_by(|a, b| b.1.total_cmp(&a.1));
                v
            })
            .collect())
    }

    /// The device the model runs on, e.g. `Cpu`.
    pub fn device_name(&self) -> String {
        format!("{:?}", self.model.device.location())
    }

    /// The network (for parity tests and tools).
    pub fn model(&self) -> &Whisper {
        &self.model
    }

    pub fn config(&self) -> &WhisperConfig {
        &self.model.config
    }

    pub fn tokenizer(&self) -> &WhisperTokenizer {
        &self.tokenizer
    }

    pub fn generation(&self) -> &GenerationConfig {
        &self.generation
    }

    /// `[<|startofprev|> key terms…] <|startoftranscript|> [<|lang|> <|transcribe|>] <|notimestamps|>`
    /// and the tokens forced after it: the context's words (when `context`), then the window's
    /// known beginning. Also how many of the forced tokens are the context's. With `timestamps`
    /// (greedy decoding, a vocabulary with timestamps) it leaves out `<|notimestamps|>` and forces
    /// nothing: the window is decoded with timestamp tokens. A long-form window forces nothing.
    fn prompt(
        &self,
        options: &DecodeOptions,
        language: Option<&str>,
        context: bool,
        timestamps: bool,
    ) -> Prompt {
        let keyterms = &options.keyterms;
        let s = &self.tokenizer.specials;
        let mut p = Vec::new();
        if let (Some(prev), false) = (s.sot_prev, keyterms.is_empty()) {
            let ids = self.tokenizer.encode(&format!(" {}", keyterms.join(", ")));
            let keep = (self.model.config.max_target_positions / 2).saturating_sub(1);
            p.push(prev);
            p.extend_from_slice(&ids[ids.len().saturating_sub(keep)..]);
        }
        p.push(s.sot);
        if self.multilingual {
            if let Some(lang) = self.tokenizer.language(language.unwrap_or("en")) {
                p.push(lang);
            }
            p.extend(s.transcribe);
        }
        if timestamps && self.beam_size == 1 && s.timestamp_begin.is_some() {
            return (p, Vec::new(), 0);
        }
        p.push(s.no_timestamps);
        if options.long_form {
            return (p, Vec::new(), 0);
        }
        // Known text is forced only under greedy decoding; beam search decodes it again.
        if self.beam_size > 1 {
            return (p, Vec::new(), 0);
        }
        let encode = |text: &str| {
            let text = text.trim();
            if text.is_empty() {
                Vec::new()
            } else {
                self.tokenizer.encode(&format!(" {text}"))
            }
        };
        let mut forced = if context {
            encode(&options.context.text)
        } else {
            Vec::new()
        };
        let n_context = forced.len();
        forced.extend(encode(&options.known_start));
        // Leave room for the rest of the window's text.
        let room = (self.model.config.max_target_positions / 2).saturating_sub(p.len());
        forced.truncate(room);
        (p, forced, n_context.min(room))
    }

    /// `keywords` as logit biases: each word as it would start a word in the text (` word`,
    /// ` Word`), [`KEYWORD_LOGIT_BIAS`] per unit of intensifier (capped at ±[`MAX_KEYWORD_BIAS`]).
    fn keyword_biases(&self, options: &DecodeOptions) -> Vec<KeywordBias> {
        let mut out = Vec::new();
        for (word, intensifier) in &options.keywords {
            let bias =
                (intensifier * KEYWORD_LOGIT_BIAS).clamp(-MAX_KEYWORD_BIAS, MAX_KEYWORD_BIAS);
            let word = word.trim();
            if word.is_empty() || bias == 0.0 {
                continue;
            }
            let mut capital = word.chars();
            let capitalised: String = capital
                .next()
                .map(|c| c.to_uppercase().chain(capital).collect())
                .unwrap_or_default();
            for form in [word.to_owned(), capitalised] {
                let tokens = self.tokenizer.encode(&format!(" {form}"));
                if !tokens.is_empty() && !out.iter().any(|k: &KeywordBias| k.tokens == tokens) {
                    out.push(KeywordBias { tokens, bias });
                }
            }
        }
        out
    }

    /// Decode the windows `rows` of `audio` with OpenAI's temperature fallback: a window whose text
    /// is too repetitive (compression ratio > 2.4) or too unlikely (mean log-probability < -1) is
    /// decoded again at the next temperature, unless it looks like silence.
    fn decode_with_fallback(
        &self,
        audio: &Tensor,
        rows: &[usize],
        prompt: &[u32],
        forced: &[Vec<u32>],
        windows: &[AudioWindow],
        positions: &[usize],
    ) -> candle_core::Result<Vec<Decoded>> {
        let hop_s = 2.0 * HOP_SAMPLES as f32 / crate::mel::SAMPLE_RATE_HZ as f32;
        let seconds: Vec<f32> = positions.iter().map(|&p| p as f32 * hop_s).collect();
        // Per row: the result kept so far, and whether its compression ratio was acceptable.
        let mut results: Vec<Option<(Decoded, bool)>> = vec![None; rows.len()];
        let withdrawn = |j: usize| windows[rows[j]].is_withdrawn();
        let mut todo: Vec<usize> = (0..rows.len()).filter(|&j| !withdrawn(j)).collect();
        let specials = &self.tokenizer.specials;
        // A prompt without <|notimestamps|> decodes with timestamp tokens (long-form windows),
        // up to two more tokens per utterance: half a token more per second of audio.
        let timestamps = specials
            .timestamp_begin
            .filter(|_| !prompt.contains(&specials.no_timestamps))
            .map(|begin| TimestampRules {
                begin,
                no_timestamps: specials.no_timestamps,
                max_initial_index: Some(MAX_INITIAL_TIMESTAMP_INDEX),
            });
        let tokens_per_second =
            self.max_tokens_per_second + if timestamps.is_some() { 0.5 } else { 0.0 };
        let suppress = if timestamps.is_some() {
            &self.suppress_with_timestamps
        } else {
            &self.suppress
        };
        let temperatures = if self.fallback {
            &TEMPERATURES[..]
        } else {
            &TEMPERATURES[..1]
        };
        for (k, &temperature) in temperatures.iter().enumerate() {
            if todo.is_empty() {
                break;
            }
            let ids: Vec<u32> = todo.iter().map(|&j| rows[j] as u32).collect();
            let sub = audio.index_select(&Tensor::new(ids.as_slice(), audio.device())?, 0)?;
            let cfg = DecodeConfig {
                prompt: prompt.to_vec(),
                forced: todo.iter().map(|&j| forced[rows[j]].clone()).collect(),
                sot_index: prompt
                    .iter()
                    .position(|t| *t == self.tokenizer.specials.sot)
                    .unwrap_or(0),
                eot: self.tokenizer.specials.eot,
                no_speech: self.tokenizer.specials.no_speech,
                suppress: suppress.clone(),
                begin_suppress: self.begin_suppress.clone(),
                max_tokens: self.max_tokens,
                row_max_tokens: todo
                    .iter()
                    .map(|&j| (seconds[rows[j]] * tokens_per_second).ceil() as usize + 4)
                    .collect(),
                audio_positions: todo.iter().map(|&j| positions[rows[j]]).collect(),
                padded: self.padded(),
                temperature,
                seed: k as u64,
                timestamps: timestamps.clone(),
                alignment_heads: self.alignment_heads.clone(),
                withdrawn: todo
                    .iter()
                    .map(|&j| windows[rows[j]].withdrawn.clone())
                    .collect(),
                keywords: todo
                    .iter()
                    .map(|&j| self.keyword_biases(&windows[rows[j]].options))
                    .collect(),
            };
            let mut again = Vec::new();
            let decoded = if temperature == 0.0 && self.beam_size > 1 {
                beam_search(&self.model, &sub, &cfg, self.beam_size, 1.0)?
            } else {
                greedy(&self.model, &sub, &cfg)?
            };
            for (&j, d) in todo.iter().zip(decoded) {
                let silent =
                    d.no_speech_prob > NO_SPEECH_THRESHOLD && d.avg_logprob < LOGPROB_THRESHOLD;
                // Only the text the model added: forced text (context, agreed words) is given.
                let added: Vec<u32> = d.tokens[forced[rows[j]].len().min(d.tokens.len())..]
                    .iter()
                    .copied()
                    .filter(|&t| t < specials.eot)
                    .collect();
                let compact = compression_ratio(&self.tokenizer.decode(&added))
                    <= COMPRESSION_RATIO_THRESHOLD;
                let poor = !compact || d.avg_logprob < LOGPROB_THRESHOLD;
                if poor && !silent && !withdrawn(j) {
                    again.push(j);
                }
                // An accepted result is final; of poor ones, keep the likeliest that is not
                // repetitive (as faster-whisper does): the last try, at temperature 1, is
                // often noise where greedy decoding was merely unsure (short windows).
                let keep = match &results[j] {
                    _ if !poor || silent => true,
                    None => true,
                    Some((best, best_compact)) => {
                        (compact, d.avg_logprob) > (*best_compact, best.avg_logprob)
                    }
                };
                if keep {
                    results[j] = Some((d, compact));
                }
            }
            todo = again;
        }
        Ok(results
            .into_iter()
            .map(|r| r.map(|(d, _)| d).unwrap_or_default())
            .collect())
    }

    /// Group tokens into words with times and confidence ([`group_words`]); times are moved
    /// `shift_s` earlier (the context's length: times from the window's start).
    fn words(&self, d: &Decoded, times: &[f32], n_context: usize, shift_s: f32) -> Vec<WordTiming> {
        let texts: Vec<Option<String>> = d
            .tokens
            .iter()
            .map(|&t| (t < self.tokenizer.specials.eot).then(|| self.tokenizer.token_text(t)))
            .collect();
        let mut words: Vec<WordTiming> = group_words(&texts, n_context)
            .into_iter()
            .map(|(text, a, b)| {
                let conf = d.probs[a..b].iter().sum::<f32>() / (b - a) as f32;
                let start_s = (times[a] - shift_s).max(0.0);
                WordTiming {
                    text,
                    start_s,
                    end_s: (times[b] - shift_s).max(start_s),
                    confidence: conf,
                }
            })
            .collect();
        crate::decode::words::truncate_long_words(&mut words);
        words
    }

    /// Encode the windows. Returns `[B, S, d]` and each window's count of encoder positions that
    /// hold its audio (two mel frames each, at least one).
    ///
    /// OpenAI's models were trained on 30 s inputs only: each window's log-mel is padded to the
    /// full window, all windows are encoded together, and the decoder attends to every position.
    /// A shorter encoder input (whisper.cpp's `audio_ctx`) is faster but loses and repeats words
    /// on human speech. The padding is zeros in the normalised log-mel, as faster-whisper pads
    /// ([`MelFrontend::log_mel_padded`]): openai-whisper instead takes the log-mel of zero-padded
    /// audio (the clip's floor, 8 decades below its loudest), and on short windows tiny.en then
    /// mishears first words that faster-whisper gets right ("And so my fellow Americans" → "and
    /// so am i"). Only a model trained on windows of any length (`hark_variable_length` in its
    /// config: the bundled demo model) has each window encoded at its own length, windows of
    /// equal length together, the outputs padded with zeros to the longest.
    ///
    /// With the encoder shortcut ([`Self::set_encoder_shortcut`]) the batch is encoded only over
    /// its longest audio plus [`SILENCE_MARGIN_POSITIONS`], and the decoder completes the rest from
    /// the remembered silence.
    ///
    /// `windows[i]` is the window of `inputs[i]`: an encoder pass whose windows are all withdrawn
    /// (their results no longer wanted) stops at the next layer; its rows are zeros, not decoded.
    fn encode(
        &mut self,
        inputs: &[Cow<'_, [f32]>],
        windows: &[AudioWindow],
    ) -> candle_core::Result<(Tensor, Vec<usize>)> {
        let max = self.model.config.max_window_samples();
        let positions: Vec<usize> = inputs
            .iter()
            .map(|w| w.len().min(max).div_ceil(2 * HOP_SAMPLES).max(1))
            .collect();
        let full = self.model.config.max_source_positions;
        let padded = self.padded();
        let lengths: Vec<usize> = if self.model.config.variable_length {
            positions.clone()
        } else if self.model.remembers_silence() {
            // One length for the batch: its longest audio and a margin, in whole buckets.
            let longest = positions.iter().copied().max().unwrap_or(1);
            let p = (longest + SILENCE_MARGIN_POSITIONS).div_ceil(SILENCE_BUCKET) * SILENCE_BUCKET;
            vec![p.min(full); inputs.len()]
        } else {
            vec![full; inputs.len()]
        };
        let longest = lengths.iter().copied().max().unwrap_or(1);
        let mut encoded: Vec<Option<Tensor>> = vec![None; inputs.len()];
        let mut distinct = lengths.clone();
        distinct.sort_unstable();
        distinct.dedup();
        for p in distinct {
            let rows: Vec<usize> = (0..inputs.len()).filter(|&i| lengths[i] == p).collect();
            let len = p * 2 * HOP_SAMPLES;
            // A few windows per encoder pass: larger batches only add cache misses.
            let per_pass = if self.model.device.is_cpu() {
                ENCODER_BATCH
            } else {
                rows.len().max(1)
            };
            for rows in rows.chunks(per_pass) {
                let mels: Vec<Vec<f32>> = rows
                    .iter()
                    .map(|&i| {
                        let w = &inputs[i][..inputs[i].len().min(max)];
                        if padded {
                            return self.mel.log_mel_padded(w, len / HOP_SAMPLES);
                        }
                        let mut s = w.to_vec();
                        s.resize(len, 0.0);
                        self.mel.log_mel(&s)
                    })
                    .collect();
                let stop = || rows.iter().all(|&i| windows[i].is_withdrawn());
                let audio = match self.model.encode_unless(&mels, len / HOP_SAMPLES, &stop)? {
                    Some(audio) => audio,
                    None => {
                        let d = self.model.config.d_model;
                        Tensor::zeros((rows.len(), p, d), self.model.dtype(), &self.model.device)?
                    }
                };
                let audio = audio.pad_with_zeros(1, 0, longest - p)?;
                for (k, &i) in rows.iter().enumerate() {
                    encoded[i] = Some(audio.narrow(0, k, 1)?);
                }
            }
        }
        let parts: Vec<Tensor> = encoded.into_iter().flatten().collect();
        Ok((Tensor::cat(&parts, 0)?, positions))
    }

    /// Whether windows are padded to the full encoder input (see [`Self::encode`]).
    fn padded(&self) -> bool {
        !self.model.config.variable_length
    }

    /// Whether a window may be decoded without timestamp tokens first ([`Self::set_skim`]): a
    /// long-form window whose speech is known (greedy decoding, a vocabulary with timestamps).
    fn may_skim(&self, options: &DecodeOptions) -> bool {
        self.skim
            && options.long_form
            && options.speech_spans.is_some()
            && self.beam_size == 1
            && self.tokenizer.specials.timestamp_begin.is_some()
    }

    /// How much of a window (samples) its words leave out where its VAD heard speech
    /// ([`hark_asr::missed_speech`]).
    fn missed_speech(&self, w: &AudioWindow, t: &Transcript) -> usize {
        let spans = w.options.speech_spans.as_deref().unwrap_or_default();
        let rate = f64::from(crate::mel::SAMPLE_RATE_HZ);
        hark_asr::missed_speech(&t.words, spans, w.samples.len(), rate)
            .iter()
            .map(|(a, b)| b - a)
            .sum()
    }

    /// Decode the windows `rows` of an encoded call, each without timestamp tokens where
    /// `skim[row]`, into transcripts (in the order of `rows`).
    fn decode_rows(
        &self,
        call: &Call<'_>,
        rows: &[usize],
        skim: &[bool],
    ) -> candle_core::Result<Vec<Transcript>> {
        let windows = call.windows;
        // Windows with the same prompt (language, key terms) decode together as one batch, each
        // with its own known text (forced prefix).
        let mut groups: Vec<(Vec<u32>, Vec<usize>)> = Vec::new();
        let mut forced = vec![Vec::new(); windows.len()];
        let mut n_context = vec![0; windows.len()];
        for &i in rows {
            let w = &windows[i];
            let timestamps = w.options.long_form && !skim[i];
            let language = call.languages[i].as_deref();
            let (p, f, n) = self.prompt(&w.options, language, call.with_context[i], timestamps);
            forced[i] = f;
            n_context[i] = n;
            match groups.iter_mut().find(|(gp, _)| *gp == p) {
                Some(g) => g.1.push(i),
                None => groups.push((p, vec![i])),
            }
        }
        let mut decoded: Vec<(Decoded, Vec<u32>)> =
            vec![(Decoded::default(), Vec::new()); windows.len()];
        for (prompt, group) in &groups {
            let results = self.decode_with_fallback(
                call.audio,
                group,
                prompt,
                &forced,
                windows,
                call.positions,
            )?;
            for (&i, d) in group.iter().zip(results) {
                decoded[i] = (d, prompt.clone());
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        let eot = self.tokenizer.specials.eot;
        for &i in rows {
            let ((d, prompt), w) = (&decoded[i], &windows[i]);
            let language = call.languages[i].clone().filter(|_| self.multilingual);
            let shift_s = if call.with_context[i] {
                w.options.context.samples.len() as f32 / crate::mel::SAMPLE_RATE_HZ as f32
            } else {
                0.0
            };
            let silent =
                d.no_speech_prob > NO_SPEECH_THRESHOLD && d.avg_logprob < LOGPROB_THRESHOLD;
            if d.tokens.is_empty() || silent || w.samples.is_empty() {
                out.push(Transcript {
                    words: vec![],
                    language,
                });
                continue;
            }
            // Greedy decoding timed its tokens as it went; beam search did not.
            let times = if !d.times.is_empty() {
                d.times.clone()
            } else {
                let one = call.audio.narrow(0, i, 1)?;
                let one = if self.padded() {
                    one
                } else {
                    one.narrow(1, 0, call.positions[i])?
                };
                let sot_index = prompt
                    .iter()
                    .position(|t| *t == self.tokenizer.specials.sot)
                    .unwrap_or(0);
                token_times(
                    &self.model,
                    &one,
                    prompt,
                    sot_index,
                    &d.tokens,
                    eot,
                    &self.alignment_heads,
                    call.positions[i],
                )?
            };
            out.push(Transcript {
                words: self.words(d, &times, n_context[i], shift_s),
                language,
            });
        }
        Ok(out)
    }

    fn run(&mut self, windows: &[AudioWindow]) -> candle_core::Result<Vec<Transcript>> {
        let t0 = std::time::Instant::now();
        // Each window with its context before it, where it has one that fits. (Not for a model
        // trained on short windows of one or two sentences, the demo model: it ends its text
        // after the forced context, having never been trained to go on past it.)
        let max = self.model.config.max_window_samples();
        let with_context: Vec<bool> = windows
            .iter()
            .map(|w| {
                let c = &w.options.context;
                !c.is_empty()
                    && self.padded()
                    && self.beam_size == 1
                    && c.samples.len() <= MAX_CONTEXT_SAMPLES
                    && c.samples.len() + w.samples.len() <= max
            })
            .collect();
        let inputs: Vec<Cow<'_, [f32]>> = windows
            .iter()
            .zip(&with_context)
            .map(|(w, &c)| {
                if c {
                    Cow::Owned([w.options.context.samples.as_slice(), &w.samples].concat())
                } else {
                    Cow::Borrowed(w.samples.as_slice())
                }
            })
            .collect();
        let (audio, positions) = self.encode(&inputs, windows)?;
        let t1 = std::time::Instant::now();
        // Multilingual models: windows without a language get the detected one.
        let mut languages: Vec<Option<String>> =
            windows.iter().map(|w| w.options.language.clone()).collect();
        if self.multilingual && languages.iter().any(Option::is_none) {
            let attended = if self.padded() { &[][..] } else { &positions };
            let detected = self.detect_language(&audio, attended)?;
            for ((l, d), w) in languages.iter_mut().zip(detected).zip(windows) {
                if l.is_none() {
                    // The most likely language among the candidates, if any were given.
                    let allowed = |code: &str| {
                        let c = &w.options.language_candidates;
                        c.is_empty() || c.iter().any(|x| x.split('-').next() == Some(code))
                    };
                    *l = d
                        .into_iter()
                        .find(|(code, _)| allowed(code))
                        .map(|(code, _)| code);
                }
            }
        }
        // Long-form windows whose speech is known are decoded without timestamp tokens first
        // (faster); those whose words then leave out speech are decoded again with them.
        let skim: Vec<bool> = windows.iter().map(|w| self.may_skim(&w.options)).collect();
        let all: Vec<usize> = (0..windows.len()).collect();
        let call = Call {
            audio: &audio,
            positions: &positions,
            windows,
            languages: &languages,
            with_context: &with_context,
        };
        let mut out = self.decode_rows(&call, &all, &skim)?;
        let redo: Vec<(usize, usize)> = all
            .iter()
            .map(|&i| (i, self.missed_speech(&windows[i], &out[i])))
            .filter(|&(i, missed)| skim[i] && missed > 0)
            .collect();
        if !redo.is_empty() {
            let rows: Vec<usize> = redo.iter().map(|r| r.0).collect();
            let again = self.decode_rows(&call, &rows, &vec![false; windows.len()])?;
            // The one that leaves out less speech (timestamps, if alike): timestamps can drop
            // a window's last sentence that the first decoding had.
            for (&(i, missed), t) in redo.iter().zip(again) {
                if self.missed_speech(&windows[i], &t) <= missed {
                    out[i] = t;
                }
            }
        }
        let t2 = std::time::Instant::now();
        tracing::debug!(
            windows = windows.len(),
            positions = ?positions,
            encode_ms = (t1 - t0).as_secs_f64() * 1e3,
            decode_ms = (t2 - t1).as_secs_f64() * 1e3,
            skimmed = skim.iter().filter(|&&s| s).count(),
            decoded_again = redo.len(),
            "model call"
        );
        Ok(out)
    }
}

impl Engine for WhisperEngine {
    fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }

    fn sample_rate_hz(&self) -> u32 {
        crate::mel::SAMPLE_RATE_HZ
    }

    fn max_window_samples(&self) -> usize {
        self.model.config.max_window_samples()
    }

    fn transcribe_batch(&mut self, windows: &[AudioWindow]) -> Result<Vec<Transcript>, AsrError> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.descriptor.name.clone();
        let fail = |e: candle_core::Error| AsrError::Engine {
            model: model.clone(),
            detail: e.to_string(),
        };
        let mut out = self.run(windows).map_err(fail)?;
        // A window heard in a language other than its context's words is decoded again without
        // the context, in the language it was heard in: forced words of one language before a
        // window in another made Whisper end the window's text at once (a French sentence after
        // an English one came back empty).
        let retry: Vec<usize> = (0..windows.len())
            .filter(|&i| {
                let (w, c) = (&windows[i], &windows[i].options.context);
                self.multilingual
                    && w.options.language.is_none()
                    && !c.is_empty()
                    && out[i]
                        .language
                        .as_ref()
                        .is_some_and(|l| c.languages.iter().any(|x| x != l))
            })
            .collect();
        if !retry.is_empty() {
            let again: Vec<AudioWindow> = retry
                .iter()
                .map(|&i| {
                    let mut w = windows[i].clone();
                    w.options.context = hark_asr::WindowContext::default();
                    w.options.language.clone_from(&out[i].language);
                    w
                })
                .collect();
            let redone = self.run(&again).map_err(fail)?;
            for (i, t) in retry.into_iter().zip(redone) {
                out[i] = t;
            }
        }
        Ok(out)
    }
}

/// Tokens (their text; `None` for a timestamp token, which only separates words) grouped into
/// words: a word starts at a token with a leading space, and punctuation joins the word before
/// it. Returns each word's text (trimmed) and token range. The words of the first `n_context`
/// tokens (forced context) are left out; when the model went on inside the context's last word
/// ("1,2,3" + ",4,5": digits with no space before them), its own tokens are a word of their own.
fn group_words(texts: &[Option<String>], n_context: usize) -> Vec<(String, usize, usize)> {
    let mut words: Vec<(String, usize, usize)> = Vec::new();
    let mut after_timestamp = false;
    for (i, text) in texts.iter().enumerate() {
        let Some(text) = text else {
            after_timestamp = true;
            continue;
        };
        let starts_word = text.starts_with(' ') || words.is_empty() || after_timestamp;
        after_timestamp = false;
        let is_punct =
            !text.trim().is_empty() && text.trim().chars().all(|c| c.is_ascii_punctuation());
        match words.last_mut() {
            Some(last) if !starts_word || (is_punct && !text.starts_with(' ')) => {
                last.0.push_str(text);
                last.2 = i + 1;
            }
            _ => words.push((text.clone(), i, i + 1)),
        }
    }
    words
        .into_iter()
        .filter_map(|(text, a, b)| {
            if b <= n_context {
                return None;
            }
            if a >= n_context {
                return Some((text, a, b));
            }
            let own: String = texts[n_context..b]
                .iter()
                .flatten()
                .map(String::as_str)
                .collect();
            Some((
                own.trim_start_matches([',', '.', '-', ';', ':']).to_owned(),
                n_context,
                b,
            ))
        })
        .map(|(text, a, b)| (text.trim().to_owned(), a, b))
        .filter(|(text, _, _)| !text.is_empty())
        .collect()
}

#[cfg(test)]
mod word_tests {
    use super::group_words;

    fn t(s: &[&str]) -> Vec<Option<String>> {
        s.iter()
            .map(|x| (*x != "<ts>").then(|| (*x).to_owned()))
            .collect()
    }

    #[test]
    fn tokens_group_into_words_and_context_words_are_left_out() {
        let texts = t(&[
            " My", " number", " is", " 1", ",", "2", ",", "3", ",", "4", ",", "5", ".", " Thanks",
        ]);
        // Context: "My number is 1,2,3"; the model went on with ",4,5." inside its last word.
        let words = group_words(&texts, 8);
        assert_eq!(
            words,
            [("4,5.".to_owned(), 8, 13), ("Thanks".to_owned(), 13, 14)]
        );
        let all = group_words(&texts, 0);
        assert_eq!(all[0], ("My".to_owned(), 0, 1));
        assert_eq!(all[3], ("1,2,3,4,5.".to_owned(), 3, 13));
        // A timestamp token separates words; a context word that ends at the boundary is gone.
        let words = group_words(&t(&[" Hi", "<ts>", "there", " you"]), 1);
        assert_eq!(
            words,
            [("there".to_owned(), 2, 3), ("you".to_owned(), 3, 4)]
        );
    }
}
