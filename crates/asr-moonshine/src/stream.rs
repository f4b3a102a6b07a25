//! A live stream's Moonshine Streaming encoder, run once over the stream's audio.
//!
//! The encoder goes on across the stream's segments: a segment's interims push only the audio new
//! since the last window, its final does the same, and the next segment, which starts where the
//! last one was cut, goes on from there. The encoder frames of the last [`KEEP_S`] seconds are
//! kept, so the audio a new segment hears as context (the end of the previous finals) is not
//! encoded again: its frames are taken as they are and only the decoder's cross-attention keys and
//! values are computed for them (the decoder's learned positions count from the context's first
//! frame). Each audio frame therefore goes through the encoder once for the life of the stream,
//! what a streaming encoder is for; before, every segment encoded its context (up to 8 s) again.
//!
//! Between a segment's decodes, the live policy sends its audio ahead ([`StreamKey::ahead`]) about
//! every 250 ms: the encoder takes it in then (and the decoder's cross-attention of the frames that
//! became final), so a final has only the audio since the last of those to encode. One that does
//! not continue what the state heard (it came after its segment's final) is left alone.
//!
//! Frames near a window's end wait for look-ahead. An interim decodes the frames that are final
//! (its last 80 ms or so are heard by the next window); a final's last frames are computed on a
//! copy of the state as at the end of its audio (the segment ends there), and computed again for
//! real once the audio after them arrives, as the next segment's context. Computing that tail
//! costs a push of its own (every layer's small products and attention for a few frames: 5–12 ms
//! a window on 2 cores of the tiny shape, half of what an interim's second of new audio costs),
//! so interims leave it out. When a window does not continue what was pushed (a gap of audio the engine never saw,
//! or a window ending before it), the state starts over at the window's context.

use crate::decoder::CrossCache;
use crate::error::MoonshineError;
use crate::model::Moonshine;
use crate::streaming::{EncoderState, StreamingEncoder};
use candle_core::Tensor;
use hark_asr::{DecodeOptions, StreamKey};
use std::sync::Arc;

/// Seconds of encoder frames kept for later segments' context (at least the longest context a
/// window may be given, which is at most the longest window).
pub const KEEP_S: usize = crate::engine::MAX_WINDOW_S;

/// One live stream's encoder.
pub struct StreamState {
    pub stream: u64,
    pub used: u64,
    /// Samples pushed through the encoder for this stream, in all (restarts included).
    pub encoded_samples: u64,
    encoder: EncoderState,
    /// The channel sample the encoder started at, and the one it has been fed up to.
    origin: u64,
    fed_to: u64,
    /// Final encoder frames `[n][hidden]`, the first being frame `first_frame` from `origin`.
    frames: Vec<f32>,
    first_frame: usize,
    /// The open segment: its start, the frame its decoding starts at and what was computed for
    /// it (cross-attention of its final frames, the context's length in samples and tokens).
    segment: Option<Segment>,
}

struct Segment {
    start: u64,
    /// Shared with the segment's interims while they decode (no copy); extended in place after.
    cross: Arc<CrossCache>,
    /// Frames of `frames` (counted from `origin`) that `cross` holds: `from..to`.
    from: usize,
    to: usize,
    offset: usize,
    context_tokens: Vec<u32>,
}

/// What a window decodes over: its encoder frames' cross-attention cache (context first), the
/// context's length in samples, and the context's tokens.
pub type Resumed = (Arc<CrossCache>, usize, Vec<u32>);

impl StreamState {
    pub fn new(encoder: &StreamingEncoder, stream: u64) -> Result<Self, MoonshineError> {
        Ok(Self {
            stream,
            used: 0,
            encoded_samples: 0,
            encoder: encoder.start()?,
            origin: 0,
            fed_to: 0,
            frames: Vec::new(),
            first_frame: 0,
            segment: None,
        })
    }

    fn frames_held(&self, hidden: usize) -> usize {
        self.frames.len() / hidden.max(1)
    }

    /// A window of its stream (`window.options.context` before it, the segment's first window
    /// only): returns what it decodes over. `context_tokens` turns the context's words into
    /// tokens.
    pub fn window(
        &mut self,
        window: &Window<'_, '_>,
        context_tokens: impl FnOnce(&str) -> Result<Vec<u32>, MoonshineError>,
    ) -> Result<Resumed, MoonshineError> {
        let (model, encoder, key) = (window.model, window.encoder, window.key);
        window.take_in(self, true, context_tokens)?;
        let hidden = model.config.encoder.hidden_size;
        let held_to = self.first_frame + self.frames_held(hidden);
        let Some(seg) = self.segment.as_mut() else {
            return Err(MoonshineError::WeightMismatch("no open segment".into()));
        };
        // A final's frames held back for look-ahead, as at the end of its audio (those before
        // the segment's first frame left out: a new segment's first window may end before its
        // first frame is final). The final ends the segment: its cache is taken, not copied.
        let mut cross = if key.last {
            std::mem::take(&mut seg.cross)
        } else {
            Arc::clone(&seg.cross)
        };
        if let Some(tail) = key
            .last
            .then(|| encoder.finish(&mut self.encoder.clone()))
            .transpose()?
            .flatten()
        {
            let skip = seg.to.saturating_sub(held_to);
            let n = tail.dim(0)?;
            if n > skip {
                model
                    .decoder
                    .extend(Arc::make_mut(&mut cross), &tail.narrow(0, skip, n - skip)?)?;
            }
        }
        let out = (cross, seg.offset, seg.context_tokens.clone());
        if key.last {
            self.segment = None;
        }
        self.trim(model);
        Ok(out)
    }

    /// Takes in a window sent ahead of its segment's decodes ([`StreamKey::ahead`]): its new
    /// audio is encoded and the cross-attention of its final frames computed, so that the
    /// segment's next window has only what came after to encode. A window that does not continue
    /// what this state heard (one that arrived after its segment's final, say) is left alone.
    pub fn ahead(
        &mut self,
        window: &Window<'_, '_>,
        context_tokens: impl FnOnce(&str) -> Result<Vec<u32>, MoonshineError>,
    ) -> Result<(), MoonshineError> {
        let model = window.model;
        if window.take_in(self, false, context_tokens)? {
            self.trim(model);
        }
        Ok(())
    }

    /// Drops the frames older than [`KEEP_S`] before what was fed, except the open segment's.
    fn trim(&mut self, model: &Moonshine) {
        let hidden = model.config.encoder.hidden_size;
        let per_frame = (model.config.frame_len * 4) as u64;
        let keep =
            (KEEP_S as u64 * u64::from(model.config.sample_rate_hz)).div_ceil(per_frame) as usize;
        let fed_frames = ((self.fed_to - self.origin) / per_frame) as usize;
        let mut first = fed_frames.saturating_sub(keep);
        if let Some(seg) = &self.segment {
            first = first.min(seg.from);
        }
        if first > self.first_frame {
            let drop = (first - self.first_frame).min(self.frames_held(hidden));
            self.frames.drain(..drop * hidden);
            self.first_frame += drop;
        }
    }
}

/// A window of a live stream, as [`StreamState`] takes it in.
pub struct Window<'a, 'b> {
    pub model: &'a Moonshine,
    pub encoder: &'a StreamingEncoder,
    pub key: StreamKey,
    pub samples: &'b [f32],
    pub options: &'b DecodeOptions,
}

impl Window<'_, '_> {
    /// Encodes the window's audio that `state` has not heard and computes the cross-attention
    /// of the frames that became final, opening the window's segment if it is new. A window that
    /// does not continue what `state` heard starts it over at the window's context when
    /// `restart`, and is left alone otherwise (returns whether it was taken in).
    fn take_in(
        &self,
        state: &mut StreamState,
        restart: bool,
        context_tokens: impl FnOnce(&str) -> Result<Vec<u32>, MoonshineError>,
    ) -> Result<bool, MoonshineError> {
        let Self {
            model,
            encoder,
            key,
            samples,
            options,
        } = *self;
        let hidden = model.config.encoder.hidden_size;
        let per_frame = (model.config.frame_len * 4) as u64;
        let end = key.segment_start + samples.len() as u64;
        let kept_from = state.origin + state.first_frame as u64 * per_frame;
        let same_segment = state
            .segment
            .as_ref()
            .is_some_and(|s| s.start == key.segment_start)
            && (key.segment_start..=end).contains(&state.fed_to);
        // A new segment hears its context (the same segment keeps what its first window heard).
        let context = if same_segment {
            &[][..]
        } else {
            options.context.samples.as_slice()
        };
        let start = key.segment_start.saturating_sub(context.len() as u64);
        let heard = (start.max(kept_from)..=end).contains(&state.fed_to);
        if !same_segment && !heard && !restart {
            return Ok(false);
        }
        if !same_segment && !heard {
            // A gap the encoder never heard, or a window ending before what it heard.
            *state = StreamState {
                origin: start,
                fed_to: start,
                used: state.used,
                encoded_samples: state.encoded_samples,
                ..StreamState::new(encoder, state.stream)?
            };
        }
        // Audio from `from` (at least `start`) to `end`: the context's, then the window's.
        let audio_at = |from: u64| -> Vec<f32> {
            let mut out = Vec::new();
            if from < key.segment_start {
                out.extend_from_slice(&context[(from - start) as usize..]);
            }
            let skip = from.saturating_sub(key.segment_start) as usize;
            out.extend_from_slice(&samples[skip.min(samples.len())..]);
            out
        };
        let new_audio = audio_at(state.fed_to);
        state.encoded_samples += new_audio.len() as u64;
        if let Some(frames) = encoder.push(&mut state.encoder, &new_audio)? {
            state.frames.extend(frames.flatten_all()?.to_vec1::<f32>()?);
        }
        state.fed_to = end;
        if !same_segment {
            // The segment's frames start at the first whole frame of its context (of what this
            // encoder heard of it, when the context reaches back before its start).
            let from = (start.saturating_sub(state.origin).div_ceil(per_frame) as usize)
                .max(state.first_frame);
            let offset = (state.origin + from as u64 * per_frame).min(key.segment_start);
            let tokens = if context.is_empty() {
                Vec::new()
            } else {
                context_tokens(&options.context.text)?
            };
            state.segment = Some(Segment {
                start: key.segment_start,
                cross: Arc::default(),
                from,
                to: from,
                offset: (key.segment_start - offset) as usize,
                context_tokens: tokens,
            });
        }
        let held_to = state.first_frame + state.frames_held(hidden);
        if let Some(seg) = state.segment.as_mut().filter(|seg| held_to > seg.to) {
            let rows = &state.frames[(seg.to - state.first_frame) * hidden..];
            let new = Tensor::from_slice(rows, (held_to - seg.to, hidden), encoder.device())?;
            model.decoder.extend(Arc::make_mut(&mut seg.cross), &new)?;
            seg.to = held_to;
        }
        Ok(true)
    }
}
