//! # hark-vad — voice activity detection for live transcription
//!
//! What this crate does:
//! - scores fixed-size frames of 16 kHz mono audio with a pluggable [`FrameScorer`]; the default is
//!   [`Earshot`] (a small neural network compiled into the `earshot` crate: nothing to download,
//!   ~2,400× faster than real time on one core);
//! - turns those scores into speech/silence decisions with a moving-average smoother and
//!   hysteresis ([`Vad`]): speech starts after `min_speech_ms` above the onset threshold and ends
//!   when the smoothed score falls below the (lower) offset threshold, so a single noisy frame
//!   neither opens nor closes an utterance;
//! - reports [`VadEvent`]s on the sample clock of the audio it was given, accepting any chunking.
//!
//! - declares speech starts and endpoints (`endpointing` ms of silence after speech) with
//!   [`Endpointer`].
//!
//! What it does not do: resampling (feed it 16 kHz), word-timeline events (`UtteranceEnd` needs
//! recognised words: `hark-live` owns it), or any I/O.

use std::collections::VecDeque;

mod endpoint;
pub use endpoint::{EndpointEvent, Endpointer};

/// The only rate the scorers take.
pub const SAMPLE_RATE_HZ: u32 = 16_000;

/// Scores frames of 16 kHz mono audio in [-1, 1]: the probability (0–1) that each holds speech.
pub trait FrameScorer: Send {
    /// Samples per frame.
    fn frame_samples(&self) -> usize;
    /// Score one frame of exactly `frame_samples()` samples.
    fn score(&mut self, frame: &[f32]) -> f32;
    /// Forget all context (a new, unrelated stream).
    fn reset(&mut self);
}

/// A run of frames quieter than this (RMS, dB below full scale) lasting [`QUIET_RUN_MS`] is silence
/// whatever the network says. earshot scores near-digital silence that has no energy above 4 kHz
/// (8 kHz telephone audio resampled to 16 kHz) as speech: 0.45–0.65 on the starter-kit preamble's
/// −58 dBFS room tone and the −65 dBFS noise after it, which held the VAD in speech for seconds.
/// Shorter quiet runs (the gaps between words) keep the network's own, slowly decaying score.
pub const SILENCE_FLOOR_DBFS: f32 = -60.0;
/// How long a quiet run must last before it counts as silence.
pub const QUIET_RUN_MS: u32 = 240;

/// The earshot network: 256-sample (16 ms) frames; quiet runs (see [`SILENCE_FLOOR_DBFS`]) are
/// silent.
pub struct Earshot {
    detector: Box<earshot::Detector>,
    clamped: Vec<f32>,
    /// Consecutive frames below [`SILENCE_FLOOR_DBFS`].
    quiet_frames: u32,
}

impl Earshot {
    pub const FRAME_SAMPLES: usize = 256;

    pub fn new() -> Self {
        Self {
            detector: earshot::Detector::default_boxed(),
            clamped: vec![0.0; Self::FRAME_SAMPLES],
            quiet_frames: 0,
        }
    }
}

impl Default for Earshot {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameScorer for Earshot {
    fn frame_samples(&self) -> usize {
        Self::FRAME_SAMPLES
    }

    fn score(&mut self, frame: &[f32]) -> f32 {
        for (c, s) in self.clamped.iter_mut().zip(frame) {
            *c = s.clamp(-1.0, 1.0);
        }
        // The network sees every frame (it keeps state across them).
        let score = self.detector.predict_f32(&self.clamped).clamp(0.0, 1.0);
        let power = self.clamped.iter().map(|s| s * s).sum::<f32>() / self.clamped.len() as f32;
        if 10.0 * power.max(1e-20).log10() < SILENCE_FLOOR_DBFS {
            self.quiet_frames = self.quiet_frames.saturating_add(1);
        } else {
            self.quiet_frames = 0;
        }
        let run_ms =
            self.quiet_frames as usize * Self::FRAME_SAMPLES * 1000 / SAMPLE_RATE_HZ as usize;
        if run_ms >= QUIET_RUN_MS as usize {
            0.0
        } else {
            score
        }
    }

    fn reset(&mut self) {
        self.detector.reset();
        self.quiet_frames = 0;
    }
}

/// A plain energy gate: a frame is speech (score 1) when its RMS reaches `threshold_rms`, else
/// silence (0). Only for clean, close-talk audio (it cannot tell speech from noise) and for tests
/// that script the VAD's input; earshot is the default.
pub struct EnergyGate {
    pub frame_samples: usize,
    pub threshold_rms: f32,
}

impl FrameScorer for EnergyGate {
    fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    fn score(&mut self, frame: &[f32]) -> f32 {
        let power = frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32;
        if power.sqrt() >= self.threshold_rms {
            1.0
        } else {
            0.0
        }
    }

    fn reset(&mut self) {}
}

/// Thresholds and timing of [`Vad`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Smoothed score at or above which speech may start.
    pub onset: f32,
    /// Smoothed score below which speech ends (lower than `onset`: hysteresis).
    pub offset: f32,
    /// Frames in the moving average.
    pub smoothing_frames: usize,
    /// Speech must stay above `onset` this long before it counts.
    pub min_speech_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            onset: 0.5,
            offset: 0.4,
            smoothing_frames: 5,
            min_speech_ms: 64,
        }
    }
}

/// A change of state, at a sample position of the stream (16 kHz, from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    SpeechStart { sample: u64 },
    SpeechEnd { sample: u64 },
}

/// Speech/silence tracking for one stream.
pub struct Vad {
    scorer: Box<dyn FrameScorer>,
    config: VadConfig,
    frame: usize,
    pending: Vec<f32>,
    scores: VecDeque<f32>,
    sum: f32,
    /// Samples scored so far (whole frames).
    scored: u64,
    in_speech: bool,
    /// Start of the current run of frames above onset while not in speech.
    run_start: Option<u64>,
    /// End of the last frame whose own score reached `onset` during speech: where speech ended.
    /// (earshot's score decays slowly into silence, so the smoothed decision comes later.)
    last_voiced_end: Option<u64>,
}

impl Vad {
    pub fn new(scorer: Box<dyn FrameScorer>, config: VadConfig) -> Self {
        let frame = scorer.frame_samples().max(1);
        Self {
            scorer,
            config,
            frame,
            pending: Vec::with_capacity(frame),
            scores: VecDeque::with_capacity(config.smoothing_frames.max(1)),
            sum: 0.0,
            scored: 0,
            in_speech: false,
            run_start: None,
            last_voiced_end: None,
        }
    }

    /// Earshot with the default thresholds.
    pub fn earshot() -> Self {
        Self::new(Box::new(Earshot::new()), VadConfig::default())
    }

    /// How far the moving average lags behind the audio, in samples.
    fn lag(&self) -> u64 {
        (self.config.smoothing_frames.max(1) as u64 - 1) * self.frame as u64 / 2
    }

    /// Feed 16 kHz samples (any chunk size); state changes are appended to `events`.
    pub fn push(&mut self, samples: &[f32], events: &mut Vec<VadEvent>) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.frame - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == self.frame {
                let score = self.scorer.score(&self.pending);
                self.pending.clear();
                self.step(score, events);
            }
        }
    }

    fn step(&mut self, score: f32, events: &mut Vec<VadEvent>) {
        let width = self.config.smoothing_frames.max(1);
        self.scores.push_back(score);
        self.sum += score;
        if self.scores.len() > width {
            self.sum -= self.scores.pop_front().unwrap_or(0.0);
        }
        let smoothed = self.sum / self.scores.len() as f32;
        let frame_start = self.scored;
        self.scored += self.frame as u64;
        // The average is centred `lag` samples before the newest frame.
        let centre_start = frame_start.saturating_sub(self.lag());
        let centre_end = self.scored.saturating_sub(self.lag());
        if self.in_speech {
            if score >= self.config.onset {
                self.last_voiced_end = Some(self.scored);
            }
            if smoothed < self.config.offset {
                self.in_speech = false;
                let end = self.last_voiced_end.unwrap_or(centre_start);
                events.push(VadEvent::SpeechEnd { sample: end });
            }
            return;
        }
        if smoothed >= self.config.onset {
            let start = *self.run_start.get_or_insert(centre_start);
            let needed = u64::from(self.config.min_speech_ms) * u64::from(SAMPLE_RATE_HZ) / 1000;
            if centre_end - start >= needed {
                self.in_speech = true;
                self.run_start = None;
                self.last_voiced_end = Some(centre_end);
                events.push(VadEvent::SpeechStart { sample: start });
            }
        } else {
            self.run_start = None;
        }
    }

    /// Whether the stream is in speech now.
    pub fn in_speech(&self) -> bool {
        self.in_speech
    }

    /// Samples given so far (scored or waiting for a whole frame).
    pub fn samples_seen(&self) -> u64 {
        self.scored + self.pending.len() as u64
    }

    /// End of the last speech, if any was heard.
    pub fn last_voiced_end(&self) -> Option<u64> {
        self.last_voiced_end
    }

    /// Samples since the last frame that sounded like speech (0 before any): unlike
    /// [`Self::silence_samples`], this counts while the smoothed decision is still "speech".
    pub fn quiet_samples(&self) -> u64 {
        self.last_voiced_end
            .map_or(0, |end| self.scored.saturating_sub(end))
    }

    /// Length of the current silence after speech (0 while in speech or before any speech).
    pub fn silence_samples(&self) -> u64 {
        match (self.in_speech, self.last_voiced_end) {
            (false, Some(end)) => self.scored.saturating_sub(end),
            _ => 0,
        }
    }

    /// Forget everything (a new stream).
    pub fn reset(&mut self) {
        self.scorer.reset();
        self.pending.clear();
        self.scores.clear();
        self.sum = 0.0;
        self.scored = 0;
        self.in_speech = false;
        self.run_start = None;
        self.last_voiced_end = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of 100 samples: 1.0-valued audio is speech, 0.0 is silence.
    fn gate() -> Box<EnergyGate> {
        Box::new(EnergyGate {
            frame_samples: 100,
            threshold_rms: 0.5,
        })
    }

    fn run(signal: &[f32], chunk: usize, config: VadConfig) -> Vec<VadEvent> {
        let mut vad = Vad::new(gate(), config);
        let mut events = Vec::new();
        for c in signal.chunks(chunk) {
            vad.push(c, &mut events);
        }
        events
    }

    fn signal(parts: &[(f32, usize)]) -> Vec<f32> {
        parts
            .iter()
            .flat_map(|&(v, n)| std::iter::repeat_n(v, n))
            .collect()
    }

    #[test]
    fn hysteresis_and_minimum_length_shape_the_events() {
        let config = VadConfig {
            onset: 0.5,
            offset: 0.3,
            smoothing_frames: 1,
            min_speech_ms: 20, // 320 samples = 4 frames of 100
        };
        // A 2-frame blip is ignored; 10 frames of speech start at 1000 and end at 2000.
        let s = signal(&[(0.0, 500), (1.0, 200), (0.0, 300), (1.0, 1000), (0.0, 1000)]);
        let want = vec![
            VadEvent::SpeechStart { sample: 1000 },
            VadEvent::SpeechEnd { sample: 2000 },
        ];
        for chunk in [1, 37, 100, 4096] {
            assert_eq!(run(&s, chunk, config), want, "chunk {chunk}");
        }
    }

    #[test]
    fn silence_is_measured_from_the_last_voiced_frame() {
        let config = VadConfig {
            smoothing_frames: 1,
            min_speech_ms: 0,
            ..VadConfig::default()
        };
        let mut vad = Vad::new(gate(), config);
        let mut ev = Vec::new();
        vad.push(&signal(&[(1.0, 300), (0.0, 750)]), &mut ev);
        assert!(!vad.in_speech());
        assert_eq!(vad.last_voiced_end(), Some(300));
        assert_eq!(vad.silence_samples(), 700, "whole frames only");
        assert_eq!(vad.samples_seen(), 1050);
        vad.reset();
        assert_eq!((vad.samples_seen(), vad.last_voiced_end()), (0, None));
    }
}
