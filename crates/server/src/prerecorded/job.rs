//! One pre-recorded transcription: bytes in as they arrive, windows out to the engine at once,
//! transcripts gathered per channel. The audio work (decoding, resampling, VAD, cutting) runs on
//! the blocking pool; at most [`MAX_WINDOWS_IN_FLIGHT`] windows wait for the engine, so a long
//! recording is never held whole in memory (beyond what its container forces).

use crate::hex;
use crate::reply::{Answer, ReplyTo};
use hark_asr::{AudioWindow, Cancel, DecodeOptions, Scheduler, Transcript, WordTiming};
use hark_audio::{AudioError, AudioPipeline};
use hark_diarize::Mfcc;
use hark_live::{BatchCutter, BatchWindow};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Windows submitted and not answered, at most (about 15 minutes of audio for a 30 s model).
pub const MAX_WINDOWS_IN_FLIGHT: usize = 32;
/// Why a transcription failed.
#[derive(Debug)]
pub enum JobError {
    Audio(AudioError),
    Engine(String),
}

/// The blocking half: the audio pipeline and one cutter per output channel.
struct Stage {
    pipeline: AudioPipeline,
    cutters: Vec<BatchCutter>,
    cutting: Cutting,
    /// With diarization: each output channel's voice features (`hark-diarize`).
    voices: Option<Vec<Mfcc>>,
}

/// How each channel's cutter is made.
struct Cutting {
    max_window_samples: usize,
    rate_hz: u32,
    vad: bool,
    default_channels: usize,
}

impl Cutting {
    /// Cut the pipeline's new samples (`chunk`, one slice per output channel) into windows.
    fn cut(
        &self,
        cutters: &mut Vec<BatchCutter>,
        chunk: &[Vec<f32>],
        out: &mut Vec<(u16, BatchWindow)>,
    ) {
        let n = self.default_channels.max(chunk.len());
        while cutters.len() < n {
            cutters.push(BatchCutter::new(
                self.max_window_samples,
                self.rate_hz,
                self.vad,
            ));
        }
        for (ch, (samples, cutter)) in chunk.iter().zip(cutters.iter_mut()).enumerate() {
            out.extend(cutter.push(samples).into_iter().map(|w| (ch as u16, w)));
        }
    }
}

/// Feed each channel's new samples to its voice features.
fn listen(voices: &mut Option<Vec<Mfcc>>, chunk: &[Vec<f32>]) {
    if let Some(v) = voices {
        Mfcc::push_channels(v, chunk);
    }
}

impl Stage {
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<(u16, BatchWindow)>, AudioError> {
        let mut out = Vec::new();
        let chunk = self.pipeline.push(bytes)?;
        listen(&mut self.voices, chunk);
        self.cutting.cut(&mut self.cutters, chunk, &mut out);
        Ok(out)
    }

    fn end(&mut self) -> Result<Vec<(u16, BatchWindow)>, AudioError> {
        let mut out = Vec::new();
        let tail = self.pipeline.end_input()?;
        listen(&mut self.voices, tail);
        self.cutting.cut(&mut self.cutters, tail, &mut out);
        let flushed = self.pipeline.flush(None);
        listen(&mut self.voices, flushed);
        self.cutting.cut(&mut self.cutters, flushed, &mut out);
        for (ch, c) in self.cutters.iter_mut().enumerate() {
            out.extend(c.finish().map(|w| (ch as u16, w)));
        }
        Ok(out)
    }
}

/// A window's place and, once answered, its transcript.
struct Slot {
    channel: u16,
    start_sample: u64,
    transcript: Option<Transcript>,
    /// A first-pass window, kept until answered to decode the speech its words missed.
    window: Option<BatchWindow>,
}

/// What a finished transcription gives: per channel, its words on the recording's clock.
pub struct Transcribed {
    pub channels: Vec<Transcript>,
    pub duration_s: f64,
    /// Channels of the input (not of the results).
    pub input_channels: u16,
    pub sha256: String,
    pub bytes: u64,
    /// With diarization: each channel's voice features (`hark_diarize::Mfcc`).
    pub voices: Option<Vec<Mfcc>>,
}

pub struct Job {
    scheduler: Scheduler,
    options: DecodeOptions,
    stage: Option<Box<Stage>>,
    hasher: Sha256,
    slots: Vec<Slot>,
    in_flight: usize,
    cancels: Vec<Cancel>,
    /// Replies by slot index (at most one per window in flight).
    tx: mpsc::UnboundedSender<(usize, Answer)>,
    rx: mpsc::UnboundedReceiver<(usize, Answer)>,
    input_channels: u16,
}

impl Job {
    pub fn new(
        scheduler: Scheduler,
        pipeline: AudioPipeline,
        options: DecodeOptions,
        vad: bool,
        result_channels: usize,
        input_channels: u16,
    ) -> Self {
        let rate_hz = scheduler.sample_rate_hz();
        let stage = Stage {
            pipeline,
            cutters: Vec::new(),
            cutting: Cutting {
                max_window_samples: scheduler.max_window_samples(),
                rate_hz,
                vad,
                default_channels: result_channels,
            },
            voices: None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            scheduler,
            options,
            stage: Some(Box::new(stage)),
            hasher: Sha256::new(),
            slots: Vec::new(),
            in_flight: 0,
            cancels: Vec::new(),
            tx,
            rx,
            input_channels,
        }
    }

    /// Also collect each channel's voice features, for diarization (16 kHz engines only: the
    /// features are defined at that rate; elsewhere nothing is collected).
    pub fn diarize(mut self) -> Self {
        let at_16k = self.scheduler.sample_rate_hz() == hark_diarize::SAMPLE_RATE_HZ;
        if let Some(stage) = self.stage.as_mut().filter(|_| at_16k) {
            stage.voices = Some(Vec::new());
        }
        self
    }

    async fn blocking<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Stage) -> R + Send + 'static,
    ) -> Result<R, JobError> {
        let mut stage = self
            .stage
            .take()
            .ok_or_else(|| JobError::Engine("the audio stage failed".into()))?;
        let (stage, r) = tokio::task::spawn_blocking(move || {
            let r = f(&mut stage);
            (stage, r)
        })
        .await
        .map_err(|e| JobError::Engine(format!("the audio stage failed: {e}")))?;
        self.stage = Some(stage);
        Ok(r)
    }

    /// Bytes of the recording, in order.
    pub async fn push(&mut self, bytes: axum::body::Bytes) -> Result<(), JobError> {
        self.hasher.update(&bytes);
        let windows = self
            .blocking(move |s| s.push(&bytes))
            .await?
            .map_err(JobError::Audio)?;
        self.submit_all(windows).await
    }

    /// The end of the recording: wait for every transcript.
    pub async fn finish(mut self) -> Result<Transcribed, JobError> {
        let windows = self.blocking(Stage::end).await?.map_err(JobError::Audio)?;
        self.submit_all(windows).await?;
        while self.in_flight > 0 {
            self.answer_one().await?;
        }
        let mut stage = self
            .stage
            .take()
            .ok_or_else(|| JobError::Engine("lost".into()))?;
        let rate = f64::from(self.scheduler.sample_rate_hz());
        let mut channels = vec![Transcript::default(); stage.cutters.len().max(1)];
        // Second-pass windows fill gaps of first-pass ones: words go by time.
        self.slots.sort_by_key(|s| (s.channel, s.start_sample));
        for slot in &self.slots {
            let (Some(t), Some(out)) = (
                &slot.transcript,
                channels.get_mut(usize::from(slot.channel)),
            ) else {
                continue;
            };
            let offset_s = (slot.start_sample as f64 / rate) as f32;
            out.words.extend(t.words.iter().map(|w| WordTiming {
                start_s: w.start_s + offset_s,
                end_s: w.end_s + offset_s,
                ..w.clone()
            }));
            if out.language.is_none() {
                out.language.clone_from(&t.language);
            }
        }
        for c in &mut channels {
            c.words.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        }
        Ok(Transcribed {
            channels,
            duration_s: stage.pipeline.duration_s(),
            input_channels: stage
                .pipeline
                .spec()
                .map_or(self.input_channels, |s| s.channels),
            sha256: hex(&std::mem::take(&mut self.hasher).finalize()),
            bytes: stage.pipeline.bytes_received(),
            voices: stage.voices.take(),
        })
    }

    async fn submit_all(&mut self, windows: Vec<(u16, BatchWindow)>) -> Result<(), JobError> {
        for (channel, w) in windows {
            while self.in_flight >= MAX_WINDOWS_IN_FLIGHT {
                self.answer_one().await?;
            }
            self.submit(channel, w)?;
        }
        Ok(())
    }

    fn submit(&mut self, channel: u16, w: BatchWindow) -> Result<(), JobError> {
        let speech = w.speech;
        if !speech {
            self.slots.push(Slot {
                channel,
                start_sample: w.segment.start_sample,
                transcript: Some(Transcript::default()),
                window: None,
            });
            return Ok(());
        }
        let start = w.segment.start_sample;
        let samples = w.segment.samples.clone();
        let spans = spans_within(&w, start, samples.len());
        self.send(channel, start, samples, spans, Some(w))
    }

    /// Queue `samples` (from `start_sample` on the channel's clock, the VAD's `speech_spans` in
    /// them) for the engine; `first`: the first-pass window they are, kept for a second pass over
    /// what it missed.
    fn send(
        &mut self,
        channel: u16,
        start_sample: u64,
        samples: Vec<f32>,
        speech_spans: Vec<(usize, usize)>,
        first: Option<BatchWindow>,
    ) -> Result<(), JobError> {
        let index = self.slots.len();
        tracing::debug!(
            channel,
            start_sample,
            samples = samples.len(),
            second_pass = first.is_none(),
            "pre-recorded window"
        );
        self.slots.push(Slot {
            channel,
            start_sample,
            transcript: None,
            window: first,
        });
        let mut options = self.options.clone();
        options.speech_spans = Some(speech_spans);
        let window = AudioWindow {
            samples,
            options,
            withdrawn: None,
        };
        // Bulk: live streams' finals and interims run first, and bulk calls stay short while
        // live streams are open.
        let cancel = self
            .scheduler
            .submit_bulk(window, ReplyTo::reply(&self.tx, index))
            .map_err(|e| JobError::Engine(e.to_string()))?;
        self.cancels.push(cancel);
        self.in_flight += 1;
        Ok(())
    }

    async fn answer_one(&mut self) -> Result<(), JobError> {
        let (index, r) = self
            .rx
            .recv()
            .await
            .ok_or_else(|| JobError::Engine("the engine stopped".into()))?;
        self.in_flight -= 1;
        let t = r.map_err(JobError::Engine)?;
        let Some(slot) = self.slots.get_mut(index) else {
            return Ok(());
        };
        let first = slot.window.take();
        let channel = slot.channel;
        let rate = f64::from(self.scheduler.sample_rate_hz());
        if let Some(w) = first {
            for (from, to) in missed(&w, &t, rate) {
                let start = w.segment.start_sample;
                let samples =
                    w.segment.samples[(from - start) as usize..(to - start) as usize].to_vec();
                let spans = spans_within(&w, from, samples.len());
                self.send(channel, from, samples, spans, None)?;
            }
        }
        if let Some(slot) = self.slots.get_mut(index) {
            slot.transcript = Some(t);
        }
        Ok(())
    }
}

/// A request that goes away (the client hung up, or an error) withdraws its windows.
impl Drop for Job {
    fn drop(&mut self) {
        for c in &self.cancels {
            c.cancel();
        }
    }
}

/// The VAD's speech spans of `w` within `len` samples from `from` (recording clock), as ranges
/// from `from`.
fn spans_within(w: &BatchWindow, from: u64, len: usize) -> Vec<(usize, usize)> {
    let to = from + len as u64;
    w.speech_spans
        .iter()
        .filter(|&&(s, e)| s < to && e > from)
        .map(|&(s, e)| ((s.max(from) - from) as usize, (e.min(to) - from) as usize))
        .collect()
}

/// Stretches of `w` (recording clock, samples) that its transcript `t` left without words while
/// the VAD heard speech there ([`hark_asr::missed_speech`]); each is decoded again on its own.
/// Sequential decoders recover by seeking to the last timestamp; every window here is decoded at
/// once, so the gaps get a second pass. Packing the stretches together into fewer windows was
/// tried: Whisper skipped them there too.
fn missed(w: &BatchWindow, t: &Transcript, rate_hz: f64) -> Vec<(u64, u64)> {
    let start = w.segment.start_sample;
    let len = w.segment.samples.len();
    let spans = spans_within(w, start, len);
    hark_asr::missed_speech(&t.words, &spans, len, rate_hz)
        .into_iter()
        .map(|(a, b)| (start + a as u64, start + b as u64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_live::Segment;

    fn word(start_s: f32, end_s: f32) -> WordTiming {
        WordTiming {
            text: "w".into(),
            start_s,
            end_s,
            confidence: 1.0,
        }
    }

    #[test]
    fn only_long_wordless_stretches_with_speech_get_a_second_pass() {
        // A 10 s window at 100 Hz starting at 1000; speech everywhere but 4–7 s.
        let w = BatchWindow {
            segment: Segment {
                start_sample: 1_000,
                samples: vec![0.0; 1_000],
            },
            speech: true,
            speech_spans: vec![(1_000, 1_400), (1_700, 2_000)],
        };
        let t = Transcript {
            words: vec![
                word(0.1, 0.5),
                word(0.6, 1.0),
                word(3.5, 3.9),
                word(8.5, 9.3),
            ],
            ..Transcript::default()
        };
        // 1.0–3.5 s: 2.5 s without words, all speech → decoded again. 3.9–8.5 s: 4.6 s without
        // words but only 1.5 s of it speech → again. 9.3–10.0: too short.
        assert_eq!(missed(&w, &t, 100.0), vec![(1_100, 1_350), (1_390, 1_850)]);
        // The end of a sentence left out, 1.2 s of speech (2.0–3.2 s): again.
        let mut t = t;
        t.words[1] = word(0.6, 2.0);
        t.words[2] = word(3.2, 3.9);
        assert_eq!(missed(&w, &t, 100.0), vec![(1_200, 1_320), (1_390, 1_850)]);
        // Nothing recognised in a window of speech: all of it.
        assert_eq!(
            missed(&w, &Transcript::default(), 100.0),
            vec![(1_000, 2_000)]
        );
        // Wordless silence is left alone.
        let quiet = BatchWindow {
            speech_spans: vec![(1_000, 1_040)],
            ..w.clone()
        };
        assert!(missed(&quiet, &Transcript::default(), 100.0).is_empty());
        // What the engine is told of a stretch's speech: spans from the stretch's start.
        assert_eq!(spans_within(&w, 1_300, 500), vec![(0, 100), (400, 500)]);
        assert_eq!(spans_within(&w, 1_450, 200), vec![]);
    }
}
