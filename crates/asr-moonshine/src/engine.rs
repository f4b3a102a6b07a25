//! [`MoonshineEngine`]: a Moonshine checkpoint behind `hark_asr::Engine`.
//!
//! Each window is one segment: encoded at its own length (no padding: both architectures were
//! trained on variable-length audio), then decoded greedily from `bos` to `eos` with at most
//! [`crate::model::MAX_TOKENS_PER_SECOND`] tokens per second of audio, stopping early when the
//! text starts to loop. Words are the tokenizer's pieces joined at word boundaries (`▁`), timed
//! by the encoder frames dynamic time warping gives their tokens ([`crate::align`]): a word
//! starts at its first token's first frame and ends after its last token's last frame.
//! Confidence is the mean probability of a word's tokens.

use crate::config::Arch;
use crate::decoder::CrossCache;
use crate::error::MoonshineError;
use crate::model::{DecodeJob, Encoder, Hypothesis, Moonshine};
use crate::stream::{StreamState, Window};
use candle_core::Device;
use hark_asr::{
    AsrError, AudioWindow, DecodeOptions, Engine, ModelDescriptor, StreamKey, Transcript,
    WordTiming,
};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;
use tokenizers::Tokenizer;

/// The longest window, in seconds. Moonshine tiny wrote the 19 s preamble read as one window
/// badly (WER 0.46, as transformers does) and cut at pauses well (0.02); a window's cost grows
/// with its length (every interim decodes the whole window again), so the live policy cuts
/// continuous speech here and carries the words across as context.
pub const MAX_WINDOW_S: usize = 15;

/// Streams whose encoder state is kept at most (the least recently used goes first).
const MAX_STREAM_STATES: usize = 32;

/// A Moonshine model serving windows.
pub struct MoonshineEngine {
    model: Moonshine,
    tokenizer: Tokenizer,
    descriptor: ModelDescriptor,
    /// Moonshine Streaming: each live stream's encoder ([`crate::stream`]).
    streams: Vec<StreamState>,
    /// Each live stream's last hypothesis of its open segment: the draft its next window's
    /// decoding checks first ([`DecodeJob::draft`]).
    drafts: Vec<Draft>,
    /// Tokens taken from drafts, in all.
    drafted: u64,
    calls: u64,
    max_tokens_per_second: Option<f64>,
    max_tokens: Option<usize>,
}

/// A live stream's last hypothesis (all its tokens: context, known start, decoded).
struct Draft {
    stream: u64,
    segment_start: u64,
    tokens: Vec<u32>,
    used: u64,
}

/// A window encoded and ready to decode.
struct Prepared {
    cross: Arc<CrossCache>,
    /// The context's tokens, then the known start's.
    forced: Vec<u32>,
    /// What the stream's last hypothesis of this segment wrote after `forced`.
    draft: Vec<u32>,
    /// The live stream and segment it belongs to.
    key: Option<StreamKey>,
    n_context: usize,
    limit: usize,
    offset_s: f32,
    window_s: f32,
}

impl MoonshineEngine {
    /// Loads a checkpoint directory (`config.json`, `model.safetensors`, `tokenizer.json`), the
    /// decoder's products in 8 bits on the CPU (decoding steps are bound by reading the weights:
    /// q8_0 reads a quarter of f32's bytes); [`Self::load_f32`] keeps them in f32.
    pub fn load(dir: &Path, name: &str, device: &Device) -> Result<Self, MoonshineError> {
        Self::load_with(dir, name, device, device.is_cpu())
    }

    /// [`Self::load`] with every product in f32.
    pub fn load_f32(dir: &Path, name: &str, device: &Device) -> Result<Self, MoonshineError> {
        Self::load_with(dir, name, device, false)
    }

    fn load_with(
        dir: &Path,
        name: &str,
        device: &Device,
        eight_bit: bool,
    ) -> Result<Self, MoonshineError> {
        let model = Moonshine::load_dir_with(dir, device, eight_bit)?;
        let tok_path = dir.join("tokenizer.json");
        let tokenizer =
            Tokenizer::from_file(&tok_path).map_err(|e| MoonshineError::MissingFile {
                path: tok_path.display().to_string(),
                detail: e.to_string(),
            })?;
        let config_text = std::fs::read_to_string(dir.join("config.json")).unwrap_or_default();
        let descriptor = ModelDescriptor {
            name: name.to_owned(),
            version: "hf".into(),
            arch: match model.config.arch {
                Arch::Streaming => "moonshine-streaming".into(),
                Arch::Original => "moonshine".into(),
            },
            uuid: ModelDescriptor::uuid_from(&config_text),
        };
        Ok(Self {
            model,
            tokenizer,
            descriptor,
            streams: Vec::new(),
            drafts: Vec::new(),
            drafted: 0,
            calls: 0,
            max_tokens_per_second: None,
            max_tokens: None,
        })
    }

    /// Caps a window's text at `per_second` tokens per second of its audio plus 4, and `max` in
    /// all, the words forced as its known start included (benchmarks on random weights, which
    /// never end a text, stop where speech would: a real model given the start of a window's
    /// text writes the rest of its words and ends).
    pub fn set_token_limit(&mut self, per_second: f64, max: usize) {
        self.max_tokens_per_second = Some(per_second);
        self.max_tokens = Some(max);
    }

    /// Decoded tokens that came from drafts (each live window's check of its segment's last
    /// hypothesis) rather than from decoding steps, in all.
    pub fn drafted_tokens(&self) -> u64 {
        self.drafted
    }

    /// Live streams whose encoder state is held.
    pub fn streams_held(&self) -> usize {
        self.streams.len()
    }

    /// Audio samples a held live stream's encoder has taken in all (each once, unless the stream
    /// skipped audio or went back).
    pub fn encoded_samples(&self, stream: u64) -> Option<u64> {
        self.streams
            .iter()
            .find(|s| s.stream == stream)
            .map(|s| s.encoded_samples)
    }

    fn token_limit(&self, samples: usize) -> usize {
        let limit = self.model.token_limit(samples);
        match (self.max_tokens_per_second, self.max_tokens) {
            (Some(rate), Some(max)) => {
                let seconds = samples as f64 / f64::from(self.model.config.sample_rate_hz);
                limit.min((seconds * rate) as usize + 4).min(max)
            }
            _ => limit,
        }
    }

    /// Whether `dir` holds a Moonshine checkpoint (by its `config.json`'s `model_type`).
    pub fn is_moonshine_dir(dir: &Path) -> bool {
        std::fs::read_to_string(dir.join("config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("model_type")?.as_str().map(str::to_owned))
            .is_some_and(|t| t.starts_with("moonshine"))
    }

    pub fn model(&self) -> &Moonshine {
        &self.model
    }

    /// Decodes one window's audio. With a context (the audio and words just before the window),
    /// the context's audio is encoded before the window's and its words forced as the start of
    /// the text, so a short window (one word after a pause) is heard as the sentence goes on; the
    /// words of `known_start` are forced after them. The transcript holds the window's words only,
    /// timed from the window's start.
    pub fn transcribe(
        &mut self,
        samples: &[f32],
        options: &DecodeOptions,
        stop: &dyn Fn() -> bool,
    ) -> Result<Transcript, MoonshineError> {
        let prepared = self.prepare(samples, options)?;
        let mut hyps = self.model.greedy_batch(&[prepared.job()], &[stop])?;
        let hyp = hyps.pop().unwrap_or_default();
        self.drafted += hyp.drafted as u64;
        if !stop() {
            self.remember(prepared.key, &hyp);
        }
        Ok(self.finish(&prepared, hyp))
    }

    /// Encodes a window (resuming a live stream's encoder where it can) and sets up its decoding.
    fn prepare(
        &mut self,
        samples: &[f32],
        options: &DecodeOptions,
    ) -> Result<Prepared, MoonshineError> {
        let claim = self.claim(options)?;
        let (prepared, state) = self.encode_claimed(samples, options, claim)?;
        self.keep(state);
        Ok(prepared)
    }

    /// What a window resumes from: its live stream's encoder (Moonshine Streaming; a new one for
    /// a stream not seen yet), none for other windows.
    fn claim(
        &mut self,
        options: &DecodeOptions,
    ) -> Result<Option<(StreamKey, StreamState)>, MoonshineError> {
        self.calls += 1;
        let live = options.stream.filter(|_| !options.long_form);
        let (Some(key), Encoder::Streaming(encoder)) = (live, &self.model.encoder) else {
            return Ok(None);
        };
        let state = match self.streams.iter().position(|s| s.stream == key.stream) {
            Some(i) => self.streams.swap_remove(i),
            None => StreamState::new(encoder, key.stream)?,
        };
        Ok(Some((key, state)))
    }

    /// Keeps a live stream's encoder for its next window, dropping the least recently used
    /// beyond [`MAX_STREAM_STATES`].
    fn keep(&mut self, state: Option<(StreamKey, StreamState)>) {
        let Some((_, mut state)) = state else {
            return;
        };
        state.used = self.calls;
        // Two windows of one stream in a call (an interim and a final) each claimed a state:
        // the later one's stands.
        self.streams.retain(|s| s.stream != state.stream);
        self.streams.push(state);
        if self.streams.len() > MAX_STREAM_STATES {
            let oldest = self
                .streams
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.used)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                self.streams.swap_remove(i);
            }
        }
    }

    /// Encodes a window from what [`Self::claim`] gave it (no engine state is touched: windows
    /// of different streams encode in parallel) and sets up its decoding.
    fn encode_claimed(
        &self,
        samples: &[f32],
        options: &DecodeOptions,
        claim: Option<(StreamKey, StreamState)>,
    ) -> Result<(Prepared, Option<(StreamKey, StreamState)>), MoonshineError> {
        let rate = self.model.config.sample_rate_hz as f32;
        let use_context = !options.long_form && !options.context.is_empty();
        let (cross, offset, mut forced, claim) = match claim {
            Some((key, mut state)) => {
                let (cross, offset, forced) = self.resume(key, &mut state, samples, options)?;
                (cross, offset, forced, Some((key, state)))
            }
            None => {
                let mut forced = Vec::new();
                let (audio, offset) = if use_context {
                    forced = self.encode_text(&options.context.text)?;
                    let mut audio = options.context.samples.clone();
                    audio.extend_from_slice(samples);
                    (
                        std::borrow::Cow::Owned(audio),
                        options.context.samples.len(),
                    )
                } else {
                    (std::borrow::Cow::Borrowed(samples), 0)
                };
                let frames = self.model.encode(&audio)?;
                (Arc::new(self.model.cross(&frames)?), offset, forced, None)
            }
        };
        let n_context = forced.len();
        if !options.long_form && !options.known_start.trim().is_empty() {
            forced.extend(self.encode_text(&options.known_start)?);
        }
        // A capped text ends where its known start leaves off plus the rest of the cap, as a
        // real model's text ends after the words its audio holds (at least one step: the end).
        let limit = match self.max_tokens_per_second {
            Some(_) => self
                .token_limit(samples.len())
                .saturating_sub(forced.len() - n_context)
                .max(1),
            None => self.token_limit(samples.len()),
        };
        // The stream's last hypothesis of this segment, where it starts as this one must.
        let key = options.stream.filter(|_| !options.long_form);
        let draft = key
            .and_then(|k| {
                self.drafts
                    .iter()
                    .find(|d| d.stream == k.stream && d.segment_start == k.segment_start)
            })
            .filter(|d| d.tokens.starts_with(&forced))
            .map(|d| d.tokens[forced.len()..].to_vec())
            .unwrap_or_default();
        let prepared = Prepared {
            cross,
            forced,
            draft,
            key,
            n_context,
            limit,
            offset_s: offset as f32 / rate,
            window_s: samples.len() as f32 / rate,
        };
        Ok((prepared, claim))
    }

    /// Keeps a live window's hypothesis as the draft of its segment's next window (a final ends
    /// the segment: its stream's draft goes), at most one per stream and
    /// [`MAX_STREAM_STATES`] in all (the least recently used goes first).
    fn remember(&mut self, key: Option<StreamKey>, hyp: &Hypothesis) {
        let Some(key) = key else {
            return;
        };
        self.drafts.retain(|d| d.stream != key.stream);
        if key.last {
            return;
        }
        self.drafts.push(Draft {
            stream: key.stream,
            segment_start: key.segment_start,
            tokens: hyp.tokens.clone(),
            used: self.calls,
        });
        if self.drafts.len() > MAX_STREAM_STATES {
            if let Some(i) = (0..self.drafts.len()).min_by_key(|&i| self.drafts[i].used) {
                self.drafts.swap_remove(i);
            }
        }
    }

    /// Takes in a live window sent ahead of its segment's decodes ([`StreamKey::ahead`]) from
    /// what [`Self::claim`] gave it: its stream's encoder goes on with the new audio.
    fn take_ahead(
        &self,
        samples: &[f32],
        options: &DecodeOptions,
        claim: Option<(StreamKey, StreamState)>,
    ) -> Result<Option<(StreamKey, StreamState)>, MoonshineError> {
        let Some((key, mut state)) = claim else {
            return Ok(None);
        };
        let window = self.live_window(key, samples, options)?;
        state.ahead(&window, |text| self.encode_text(text))?;
        Ok(Some((key, state)))
    }

    /// A live window as its stream's state takes it (Moonshine Streaming only).
    fn live_window<'a>(
        &'a self,
        key: StreamKey,
        samples: &'a [f32],
        options: &'a DecodeOptions,
    ) -> Result<Window<'a, 'a>, MoonshineError> {
        let Encoder::Streaming(encoder) = &self.model.encoder else {
            return Err(MoonshineError::WeightMismatch(
                "not a streaming encoder".into(),
            ));
        };
        Ok(Window {
            model: &self.model,
            encoder,
            key,
            samples,
            options,
        })
    }

    /// A decoded window's transcript: its own words (not the context's), timed from its start.
    fn finish(&self, p: &Prepared, mut hyp: Hypothesis) -> Transcript {
        cut_loop(&mut hyp);
        // Times from the whole text (context words align to the context's audio), then the
        // window's own tokens.
        let n_context = p.n_context.min(hyp.tokens.len());
        let mut spans = crate::align::token_spans(&hyp.attention);
        spans.drain(..n_context.min(spans.len()));
        hyp.tokens.drain(..n_context);
        hyp.probs.drain(..n_context);
        hyp.attention.drain(..n_context);
        Transcript {
            words: self.words(&hyp, &spans, p.offset_s, p.window_s),
            language: None,
        }
    }

    /// Moonshine Streaming on a live window: the stream's encoder goes on with the audio new
    /// since its last window ([`StreamState::window`]). Returns the cross-attention cache of every
    /// frame, the context's length and its tokens.
    fn resume(
        &self,
        key: StreamKey,
        state: &mut StreamState,
        samples: &[f32],
        options: &DecodeOptions,
    ) -> Result<crate::stream::Resumed, MoonshineError> {
        let window = self.live_window(key, samples, options)?;
        state.window(&window, |text| self.encode_text(text))
    }

    /// Text tokens of `text` (no special tokens), with the word-start marker a sentence's
    /// continuation has.
    fn encode_text(&self, text: &str) -> Result<Vec<u32>, MoonshineError> {
        let enc = self
            .tokenizer
            .encode(text.trim(), false)
            .map_err(|e| MoonshineError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    fn words(
        &self,
        hyp: &Hypothesis,
        spans: &[(usize, usize)],
        offset_s: f32,
        window_s: f32,
    ) -> Vec<WordTiming> {
        let fps = self.model.config.frames_per_second() as f32;
        // Group tokens into words at the tokenizer's word-boundary marker.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, &t) in hyp.tokens.iter().enumerate() {
            let piece = self.tokenizer.id_to_token(t).unwrap_or_default();
            if piece.starts_with('▁') || groups.is_empty() {
                groups.push(vec![i]);
            } else if let Some(g) = groups.last_mut() {
                g.push(i);
            }
        }
        let mut words = Vec::new();
        let time = |frame: usize| (frame as f32 / fps - offset_s).clamp(0.0, window_s);
        for g in &groups {
            let ids: Vec<u32> = g.iter().map(|&i| hyp.tokens[i]).collect();
            let text = self
                .tokenizer
                .decode(&ids, true)
                .unwrap_or_default()
                .trim()
                .to_owned();
            if text.is_empty() {
                continue;
            }
            let (first, last) = (g[0], g[g.len() - 1]);
            let start_s = spans.get(first).map_or(0.0, |s| time(s.0));
            let end_s = spans
                .get(last)
                .map_or(start_s, |s| time(s.1 + 1))
                .max(start_s);
            let confidence = g.iter().map(|&i| hyp.probs[i]).sum::<f32>() / g.len() as f32;
            words.push(WordTiming {
                text,
                start_s,
                end_s,
                confidence,
            });
        }
        // Neighbouring tokens share the frame where the path turns: a word ends where the next
        // one starts.
        for i in 1..words.len() {
            let next_start = words[i].start_s;
            let prev = &mut words[i - 1];
            prev.end_s = prev.end_s.min(next_start).max(prev.start_s);
        }
        words
    }
}

impl Prepared {
    fn job(&self) -> DecodeJob<'_> {
        DecodeJob {
            cross: &self.cross,
            forced: &self.forced,
            draft: &self.draft,
            max_tokens: self.limit,
        }
    }
}

/// Whether a window was sent ahead of its segment's decodes (no transcript wanted).
fn is_ahead(w: &AudioWindow) -> bool {
    w.options.stream.is_some_and(|k| k.ahead)
}

/// When a hypothesis ran to its token limit, a phrase repeating to the end is a loop (a small
/// model's failure on noise or a cut word): keep its first occurrence only. Forced tokens (the
/// context's and the known start's) are never cut.
fn cut_loop(hyp: &mut Hypothesis) {
    if hyp.ended {
        return;
    }
    let n = hyp.tokens.len();
    for period in 1..=n / 3 {
        // Trailing tokens equal to the token `period` before them.
        let repeated = (period..n)
            .rev()
            .take_while(|&i| hyp.tokens[i] == hyp.tokens[i - period])
            .count();
        if repeated >= 2 * period && repeated >= 4 {
            let keep = (n - repeated).max(hyp.forced);
            hyp.tokens.truncate(keep);
            hyp.probs.truncate(keep);
            hyp.attention.truncate(keep);
            return;
        }
    }
}

impl Engine for MoonshineEngine {
    fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }

    fn sample_rate_hz(&self) -> u32 {
        self.model.config.sample_rate_hz
    }

    fn max_window_samples(&self) -> usize {
        let max_frames = match self.model.config.arch {
            // Learned positions bound a segment's encoder frames, and a live segment keeps the
            // context its first window heard (up to a window's length) while it grows to the
            // longest window: a window is at most half the positions (less the two frames its
            // edges may split), so context and segment fit together.
            Arch::Streaming => self.model.config.max_position_embeddings.saturating_sub(2) / 2,
            Arch::Original => usize::MAX,
        };
        let by_positions = (max_frames as f64 / self.model.config.frames_per_second()
            * f64::from(self.model.config.sample_rate_hz)) as usize;
        by_positions.min(MAX_WINDOW_S * self.model.config.sample_rate_hz as usize)
    }

    fn takes_audio_ahead(&self) -> bool {
        matches!(self.model.encoder, Encoder::Streaming(_))
    }

    fn transcribe_batch(&mut self, windows: &[AudioWindow]) -> Result<Vec<Transcript>, AsrError> {
        // Every window encoded first, then all decoded together, one batched step per token.
        let model = self.descriptor.name.clone();
        let failed = |e: MoonshineError| AsrError::Engine {
            model: model.clone(),
            detail: e.to_string(),
        };
        let started = std::time::Instant::now();
        // Each window's stream state claimed in turn, the windows encoded in parallel (each
        // stream's encoder runs small products, which one thread does best), then the states
        // kept for the streams' next windows.
        // A window sent ahead is left out when the call holds a decode of its stream, or a later
        // window sent ahead (either covers its audio; each window claims its stream's state).
        let stream_of = |w: &AudioWindow| w.options.stream.map(|k| k.stream);
        let left_out = |i: usize, w: &AudioWindow| {
            w.is_withdrawn()
                || (is_ahead(w)
                    && windows.iter().enumerate().any(|(j, o)| {
                        j != i && stream_of(o) == stream_of(w) && (!is_ahead(o) || j > i)
                    }))
        };
        let mut claims = Vec::with_capacity(windows.len());
        for (i, w) in windows.iter().enumerate() {
            claims.push(if left_out(i, w) {
                None
            } else {
                Some(self.claim(&w.options).map_err(failed)?)
            });
        }
        let this = &*self;
        let encoded: Vec<Option<Result<_, MoonshineError>>> = windows
            .par_iter()
            .zip(claims)
            .map(|(w, claim)| {
                claim.map(|c| {
                    if w.is_withdrawn() {
                        // Withdrawn since the call began (a final cut it short): not encoded,
                        // its stream's state kept as it was.
                        return Ok((None, c));
                    }
                    if is_ahead(w) {
                        return this
                            .take_ahead(&w.samples, &w.options, c)
                            .map(|state| (None, state));
                    }
                    this.encode_claimed(&w.samples, &w.options, c)
                        .map(|(p, state)| (Some(p), state))
                })
            })
            .collect();
        let mut prepared: Vec<Option<Prepared>> = Vec::with_capacity(windows.len());
        let mut first_error = None;
        for e in encoded {
            prepared.push(match e {
                Some(Ok((p, state))) => {
                    self.keep(state);
                    p
                }
                Some(Err(e)) => {
                    first_error.get_or_insert(e);
                    None
                }
                None => None,
            });
        }
        if let Some(e) = first_error {
            return Err(failed(e));
        }
        let live: Vec<usize> = (0..windows.len())
            .filter(|&i| prepared[i].is_some())
            .collect();
        let jobs: Vec<DecodeJob> = live
            .iter()
            .filter_map(|&i| prepared[i].as_ref())
            .map(Prepared::job)
            .collect();
        let stops: Vec<Box<dyn Fn() -> bool + '_>> = live
            .iter()
            .map(|&i| Box::new(move || windows[i].is_withdrawn()) as Box<dyn Fn() -> bool>)
            .collect();
        let stop_refs: Vec<&dyn Fn() -> bool> = stops.iter().map(|b| b.as_ref()).collect();
        let encoded = std::time::Instant::now();
        let hyps = if jobs.is_empty() {
            Vec::new()
        } else {
            self.model
                .greedy_batch(&jobs, &stop_refs)
                .map_err(|e| failed(e.into()))?
        };
        tracing::debug!(
            windows = jobs.len(),
            ahead = windows.iter().filter(|w| is_ahead(w)).count(),
            forced = hyps.iter().map(|h| h.forced).sum::<usize>(),
            decoded = hyps
                .iter()
                .map(|h| h.tokens.len().saturating_sub(h.forced))
                .sum::<usize>(),
            drafted = hyps.iter().map(|h| h.drafted).sum::<usize>(),
            steps = hyps
                .iter()
                .map(|h| h.tokens.len().saturating_sub(h.forced + h.drafted))
                .max()
                .unwrap_or(0),
            encode_ms = (encoded - started).as_secs_f64() * 1e3,
            decode_ms = encoded.elapsed().as_secs_f64() * 1e3,
            "moonshine model call"
        );
        let mut decoded = Vec::with_capacity(live.len());
        for (&i, hyp) in live.iter().zip(hyps) {
            if let Some(p) = &prepared[i] {
                self.drafted += hyp.drafted as u64;
                if !windows[i].is_withdrawn() {
                    self.remember(p.key, &hyp);
                }
                decoded.push((i, p, hyp));
            }
        }
        // The windows' words timed (each its own alignment) in parallel.
        let this = &*self;
        let timed: Vec<(usize, Transcript)> = decoded
            .into_par_iter()
            .map(|(i, p, hyp)| (i, this.finish(p, hyp)))
            .collect();
        let mut out = vec![Transcript::default(); windows.len()];
        for (i, t) in timed {
            out[i] = t;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hyp(tokens: &[u32], ended: bool) -> Hypothesis {
        Hypothesis {
            tokens: tokens.to_vec(),
            probs: vec![0.5; tokens.len()],
            attention: vec![vec![0.1; 3]; tokens.len()],
            ended,
            ..Hypothesis::default()
        }
    }

    #[test]
    fn a_loop_to_the_token_limit_keeps_its_first_turn() {
        let mut h = hyp(&[5, 6, 7, 8, 7, 8, 7, 8, 7, 8], false);
        cut_loop(&mut h);
        assert_eq!(h.tokens, vec![5, 6, 7, 8]);
        assert_eq!(h.attention.len(), 4);
        let mut h = hyp(&[5, 9, 9, 9, 9, 9], false);
        cut_loop(&mut h);
        assert_eq!(h.tokens, vec![5, 9]);
        // Forced tokens stay even when the loop began inside them.
        let mut h = hyp(&[9, 9, 9, 9, 9, 9], false);
        h.forced = 3;
        cut_loop(&mut h);
        assert_eq!(h.tokens, vec![9, 9, 9]);
    }

    #[test]
    fn repetition_that_ended_or_is_short_stays() {
        let mut h = hyp(&[5, 7, 8, 7, 8, 7, 8], true);
        cut_loop(&mut h);
        assert_eq!(
            h.tokens.len(),
            7,
            "the model ended it: the audio may repeat"
        );
        let mut h = hyp(&[5, 6, 9, 9, 9], false);
        cut_loop(&mut h);
        assert_eq!(h.tokens.len(), 5, "\"no no no\" is speech");
    }
}
