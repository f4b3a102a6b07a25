//! The audio half of a session: decoding the client's audio, resampling it, and running it
//! through the live policy (VAD included). Anything that may take long — a codec (whose decoder
//! thread it may wait for), a large frame, the end of the stream — runs on tokio's blocking
//! pool, one call at a time per session ([`AudioStage::run`]), so a slow decoder never stalls
//! other sessions; a small frame of PCM (microseconds of work) runs on the session's task.

use hark_audio::{AudioError, AudioPipeline};
use hark_diarize::Mfcc;
use hark_live::{Decision, LiveStream, TurnEvent, TurnTracker};
use std::sync::{Arc, Mutex};

/// With `diarize`: each channel's voice features, written by the audio stage and read when a
/// Results is made (the stage may be on the blocking pool then).
pub type Voices = Arc<Mutex<Vec<Mfcc>>>;

/// Flux: the audio goes through the live policy in slices this long, and the turn state is
/// looked at after each, so that a turn ends where its silence says even inside a large frame.
const TURN_SLICE_MS: usize = 20;

pub struct AudioStage {
    pub pipeline: AudioPipeline,
    pub live: LiveStream,
    /// Result channels when the audio does not say (before a container's header).
    default_channels: usize,
    /// Reused per frame: the pipeline's new samples per channel.
    chunk: Vec<Vec<f32>>,
    /// Flux (`/v2/listen`): the turns, decided as the audio arrives.
    pub turns: Option<TurnTracker>,
    /// Turn events decided by the audio since the session last took them.
    pub turn_events: Vec<TurnEvent>,
    /// Reused per slice (Flux): the mono audio one slice at a time.
    slice: Vec<Vec<f32>>,
    /// With `diarize` (16 kHz engines): the voice features of every channel.
    pub voices: Option<Voices>,
}

impl AudioStage {
    pub fn new(pipeline: AudioPipeline, live: LiveStream, default_channels: usize) -> Self {
        Self {
            pipeline,
            live,
            default_channels,
            chunk: Vec::new(),
            turns: None,
            turn_events: Vec::new(),
            slice: vec![Vec::new()],
            voices: None,
        }
    }

    /// Result channels of this stream (the live policy has as many).
    pub fn channels(&mut self) -> u16 {
        let n = self
            .pipeline
            .output_channels()
            .unwrap_or(self.default_channels);
        self.live.ensure_channels(n);
        self.live.channels()
    }

    /// Run `f` on the blocking pool and give the stage back; `None` if `f` panicked (the stage
    /// is then lost).
    pub async fn run<R: Send + 'static>(
        mut self: Box<Self>,
        f: impl FnOnce(&mut Self) -> R + Send + 'static,
    ) -> Option<(Box<Self>, R)> {
        tokio::task::spawn_blocking(move || {
            let r = f(&mut self);
            (self, r)
        })
        .await
        .ok()
    }

    /// A binary frame of audio. `busy`: finals are waiting for the model.
    pub fn push(&mut self, bytes: &[u8], busy: bool) -> Result<Vec<Decision>, AudioError> {
        let samples = self.pipeline.push(bytes)?;
        copy_into(&mut self.chunk, samples);
        Ok(self.feed(busy))
    }

    /// The end of the audio: a compressed stream's decoder gives up its last frames only once it
    /// sees the end, and a container too broken to read may only say so then. Everything
    /// buffered is then finalized.
    pub fn end(&mut self, busy: bool) -> (Result<(), AudioError>, Vec<Decision>) {
        let tail = match self.pipeline.end_input() {
            Ok(tail) => {
                copy_into(&mut self.chunk, tail);
                Ok(())
            }
            Err(e) => Err(e),
        };
        let mut decisions = self.feed(busy);
        copy_into(&mut self.chunk, self.pipeline.flush(None));
        decisions.extend(self.feed(busy));
        self.channels();
        decisions.extend(self.live.close());
        (tail, decisions)
    }

    /// Flush audio held anywhere in the pipeline and finalize it now (`from_finalize`: the last
    /// result of each channel answers a `Finalize`, sent even if empty).
    pub fn flush(
        &mut self,
        channel: Option<u16>,
        from_finalize: bool,
        busy: bool,
    ) -> Vec<Decision> {
        copy_into(
            &mut self.chunk,
            self.pipeline.flush(channel.map(usize::from)),
        );
        let mut decisions = self.feed(busy);
        self.channels();
        decisions.extend(self.live.finalize(channel, from_finalize));
        decisions
    }

    /// Flux `ForceEndTurn`: the audio held in the pipeline goes in, then the turn ends there.
    pub fn force_end_turn(&mut self, busy: bool) -> Vec<Decision> {
        copy_into(&mut self.chunk, self.pipeline.flush(None));
        let mut decisions = self.feed(busy);
        self.channels();
        if let Some(turns) = self.turns.as_mut() {
            if turns.force_end().finalize {
                decisions.extend(self.live.finalize(Some(0), true));
            }
        }
        decisions
    }

    /// Run the new engine-rate audio in `self.chunk` through the live policy.
    fn feed(&mut self, busy: bool) -> Vec<Decision> {
        if self.chunk.iter().all(Vec::is_empty) {
            return Vec::new();
        }
        self.channels();
        if let Some(voices) = &self.voices {
            // A poisoned lock only means a panic elsewhere; the features are still whole frames.
            let mut v = voices
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Mfcc::push_channels(&mut v, &self.chunk);
        }
        let decisions = match self.turns.is_some() {
            true => self.feed_turns(busy),
            false => self.live.push(&self.chunk, busy),
        };
        for c in &mut self.chunk {
            c.clear();
        }
        decisions
    }

    /// Flux: feed the (mono) audio a slice at a time; after each, the turn tracker may end the
    /// turn, which finalizes the open segment right there.
    fn feed_turns(&mut self, busy: bool) -> Vec<Decision> {
        let mut decisions = Vec::new();
        let slice = (self.live.config().rate_hz as usize * TURN_SLICE_MS / 1000).max(1);
        let audio = std::mem::take(&mut self.chunk);
        if let Some(mono) = audio.first() {
            for piece in mono.chunks(slice) {
                self.slice[0].clear();
                self.slice[0].extend_from_slice(piece);
                decisions.extend(self.live.push(&self.slice, busy));
                let Some(turns) = self.turns.as_mut() else {
                    break;
                };
                let step = turns.on_audio(self.live.speech_state(0));
                self.turn_events.extend(step.events);
                if step.finalize {
                    decisions.extend(self.live.finalize(Some(0), true));
                }
            }
        }
        self.chunk = audio;
        decisions
    }
}

/// Copy per-channel samples into `dst`, reusing its allocations.
fn copy_into(dst: &mut Vec<Vec<f32>>, src: &[Vec<f32>]) {
    dst.resize_with(src.len(), Vec::new);
    for (d, s) in dst.iter_mut().zip(src) {
        d.clear();
        d.extend_from_slice(s);
    }
}
