//! Cutting a whole recording into windows for transcription at full speed (pre-recorded
//! requests): no interims, no endpoints, no waiting for the engine between windows.
//!
//! Audio accumulates up to the engine's window; the window is then cut in the middle of the
//! last pause of at least [`MIN_PAUSE_MS`] in its second half (else the longest pause there; a
//! pause is the quietest stretch, as an endpoint is cut), and what follows starts the next
//! window. So no word is split between two windows unless the speaker never paused for 15 s,
//! and windows hold as much speech as they can: every window costs a whole encoder pass. With
//! the VAD on, a window in which it heard no speech is marked so (the caller answers it without
//! the model). Every window can go to the engine at once: they do not depend on each other.

use crate::segmenter::{Segment, Segmenter};
use hark_vad::{Vad, VadEvent};

/// The stretch of audio whose energy places a cut in a pause.
const PAUSE_FRAME_MS: usize = 20;
/// A quiet stretch this long is a pause to cut at, however short the longest one before it.
pub const MIN_PAUSE_MS: usize = 300;

/// One window of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchWindow {
    pub segment: Segment,
    /// The VAD heard speech in it (always `true` without a VAD).
    pub speech: bool,
    /// Where the VAD heard speech in it, as sample spans on the recording's clock clipped to the
    /// window (the whole window without a VAD).
    pub speech_spans: Vec<(u64, u64)>,
}

impl BatchWindow {
    /// Samples of speech the VAD heard between `from` and `to` (recording clock).
    pub fn speech_between(&self, from: u64, to: u64) -> u64 {
        self.speech_spans
            .iter()
            .map(|&(s, e)| e.min(to).saturating_sub(s.max(from)))
            .sum()
    }
}

/// Cuts one channel of a recording into windows.
pub struct BatchCutter {
    seg: Segmenter,
    max_window_samples: usize,
    rate_hz: u32,
    vad: Option<Vad>,
    events: Vec<VadEvent>,
    /// Speech heard so far as (start, end) sample spans; the last may be open (`u64::MAX`).
    speech: Vec<(u64, u64)>,
}

impl BatchCutter {
    /// Windows of at most `max_window_samples` at `rate_hz`; with `vad`, the bundled VAD marks
    /// windows without speech (only at the 16 kHz it hears: off at other rates).
    pub fn new(max_window_samples: usize, rate_hz: u32, vad: bool) -> Self {
        let vad = (vad && crate::decision::LiveConfig::vad_supported(rate_hz)).then(Vad::earshot);
        Self::with_vad(max_window_samples, rate_hz, vad)
    }

    /// As [`BatchCutter::new`], with this VAD (it must hear `rate_hz`).
    pub fn with_vad(max_window_samples: usize, rate_hz: u32, vad: Option<Vad>) -> Self {
        Self {
            seg: Segmenter::new(usize::MAX),
            max_window_samples: max_window_samples.max(2),
            rate_hz,
            vad,
            events: Vec::new(),
            speech: Vec::new(),
        }
    }

    /// Add samples; returns the windows that are complete.
    pub fn push(&mut self, samples: &[f32]) -> Vec<BatchWindow> {
        let mut out = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let room = self.max_window_samples - self.seg.buffered_samples();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.hear(now);
            self.seg.push(now);
            rest = later;
            if self.seg.buffered_samples() == self.max_window_samples {
                let frame = self.rate_hz as usize * PAUSE_FRAME_MS / 1000;
                let half = self.max_window_samples / 2;
                let cut = self.seg.late_pause_middle(
                    half,
                    self.max_window_samples,
                    frame,
                    MIN_PAUSE_MS / PAUSE_FRAME_MS,
                );
                let segment = self.seg.split(cut.max(1));
                out.push(self.window(segment));
            }
        }
        out
    }

    /// The end of the recording: what is buffered, if anything.
    pub fn finish(&mut self) -> Option<BatchWindow> {
        let segment = self.seg.flush();
        (!segment.samples.is_empty()).then(|| self.window(segment))
    }

    fn hear(&mut self, samples: &[f32]) {
        let Some(vad) = &mut self.vad else {
            return;
        };
        self.events.clear();
        vad.push(samples, &mut self.events);
        for ev in &self.events {
            match *ev {
                VadEvent::SpeechStart { sample } => self.speech.push((sample, u64::MAX)),
                VadEvent::SpeechEnd { sample } => {
                    if let Some(last) = self.speech.last_mut() {
                        last.1 = sample;
                    }
                }
            }
        }
    }

    fn window(&mut self, segment: Segment) -> BatchWindow {
        let (start, end) = (
            segment.start_sample,
            segment.start_sample + segment.samples.len() as u64,
        );
        let speech_spans: Vec<(u64, u64)> = if self.vad.is_none() {
            vec![(start, end)]
        } else {
            self.speech
                .iter()
                .filter(|&&(s, e)| s < end && e > start)
                .map(|&(s, e)| (s.max(start), e.min(end)))
                .collect()
        };
        // Spans that ended before this window cannot touch a later one.
        self.speech.retain(|&(_, e)| e > end);
        BatchWindow {
            segment,
            speech: !speech_spans.is_empty(),
            speech_spans,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_vad::{EnergyGate, VadConfig};

    fn vad() -> Vad {
        let cfg = VadConfig {
            smoothing_frames: 1,
            min_speech_ms: 0,
            ..VadConfig::default()
        };
        Vad::new(
            Box::new(EnergyGate {
                frame_samples: 160,
                threshold_rms: 0.5,
            }),
            cfg,
        )
    }

    #[test]
    fn windows_tile_the_recording_and_are_cut_in_pauses() {
        // 10 samples a "second" would be too coarse for 20 ms frames: use 1 kHz, 10 s windows.
        let mut c = BatchCutter::new(10_000, 1_000, false);
        let mut audio = vec![0.5f32; 25_000];
        audio[7_000..7_600].fill(0.0); // a pause in the first window's second half…
        audio[9_000..9_400].fill(0.0); // …a shorter one later, still a pause…
        audio[9_600..9_700].fill(0.0); // …and a breath
        let mut windows = Vec::new();
        for chunk in audio.chunks(3_333) {
            windows.extend(c.push(chunk));
        }
        windows.extend(c.finish());
        let spans: Vec<(u64, usize)> = windows
            .iter()
            .map(|w| (w.segment.start_sample, w.segment.samples.len()))
            .collect();
        assert_eq!(spans[0], (0, 9_200), "cut in the middle of the last pause");
        let mut next = 0;
        for (start, len) in &spans {
            assert_eq!(*start, next, "{spans:?}");
            assert!(*len <= 10_000);
            next += *len as u64;
        }
        assert_eq!(next, 25_000);
        assert!(windows.iter().all(|w| w.speech), "no VAD: all decoded");
    }

    #[test]
    fn windows_without_speech_are_marked() {
        let mut c = BatchCutter::with_vad(16_000 * 4, 16_000, Some(vad()));
        let mut audio = vec![0.0f32; 16_000 * 5];
        audio.extend(vec![1.0f32; 16_000 * 2]);
        audio.extend(vec![0.0f32; 16_000]);
        let mut windows = c.push(&audio);
        windows.extend(c.finish());
        let marks: Vec<bool> = windows.iter().map(|w| w.speech).collect();
        assert_eq!(marks.first(), Some(&false), "{marks:?}");
        assert!(marks.iter().any(|m| *m), "{marks:?}");
        // Speech spans sit inside their windows and cover the speech: 2 s of it.
        let heard: u64 = windows.iter().map(|w| w.speech_between(0, u64::MAX)).sum();
        assert!((31_000..=33_000).contains(&heard), "{heard}");
        for w in &windows {
            let (s, e) = (
                w.segment.start_sample,
                w.segment.start_sample + w.segment.samples.len() as u64,
            );
            assert!(w
                .speech_spans
                .iter()
                .all(|&(a, b)| s <= a && a < b && b <= e));
        }
        let total: usize = windows.iter().map(|w| w.segment.samples.len()).sum();
        assert_eq!(total, audio.len());
        assert!(c.finish().is_none());
    }
}
