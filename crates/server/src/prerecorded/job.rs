//! One pre-recorded transcription: bytes in as they arrive, windows out to the engine at once,
//! transcripts gathered per channel. The audio work (decoding, resampling, VAD, cutting) runs on
//! the blocking pool; at most [`MAX_WINDOWS_IN_FLIGHT`] windows wait for the engine, so a long
//! recording is never held whole in memory (beyond what its container forces).

use hark_asr::{AudioWindow, Cancel, DecodeOptions, Scheduler, Transcript, WordTiming};
use hark_audio::{AudioError, AudioPipeline};
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
    max_window_samples: usize,
    rate_hz: u32,
    vad: bool,
    default_channels: usize,
}

impl Stage {
    fn cut(&mut self, chunk: &[Vec<f32>], out: &mut Vec<(u16, BatchWindow)>) {
        let n = self
            .pipeline
            .output_channels()
            .unwrap_or(self.default_channels)
            .max(chunk.len());
        while self.cutters.len() < n {
            let c = BatchCutter::new(self.max_window_samples, self.rate_hz, self.vad);
            self.cutters.push(c);
        }
        for (ch, samples) in chunk.iter().enumerate() {
            for w in self.cutters[ch].push(samples) {
                out.push((ch as u16, w));
            }
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<Vec<(u16, BatchWindow)>, AudioError> {
        let chunk = self.pipeline.push(bytes)?.to_vec();
        let mut out = Vec::new();
        self.cut(&chunk, &mut out);
        Ok(out)
    }

    fn end(&mut self) -> Result<Vec<(u16, BatchWindow)>, AudioError> {
        let tail = self.pipeline.end_input()?.to_vec();
        let mut out = Vec::new();
        self.cut(&tail, &mut out);
        let flushed = self.pipeline.flush(None).to_vec();
        self.cut(&flushed, &mut out);
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
}

/// What a finished transcription gives: per channel, its words on the recording's clock.
pub struct Transcribed {
    pub channels: Vec<Transcript>,
    pub duration_s: f64,
    /// Channels of the input (not of the results).
    pub input_channels: u16,
    pub sha256: String,
    pub bytes: u64,
}

pub struct Job {
    scheduler: Scheduler,
    options: DecodeOptions,
    stage: Option<Box<Stage>>,
    hasher: Sha256,
    slots: Vec<Slot>,
    in_flight: usize,
    cancels: Vec<Cancel>,
    tx: mpsc::UnboundedSender<(usize, Result<Transcript, String>)>,
    rx: mpsc::UnboundedReceiver<(usize, Result<Transcript, String>)>,
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
            max_window_samples: scheduler.max_window_samples(),
            rate_hz,
            vad,
            default_channels: result_channels,
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
        let stage = self
            .stage
            .take()
            .ok_or_else(|| JobError::Engine("lost".into()))?;
        let rate = f64::from(self.scheduler.sample_rate_hz());
        let mut channels = vec![Transcript::default(); stage.cutters.len().max(1)];
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
        Ok(Transcribed {
            channels,
            duration_s: stage.pipeline.duration_s(),
            input_channels: stage
                .pipeline
                .spec()
                .map_or(self.input_channels, |s| s.channels),
            sha256: hex(&std::mem::take(&mut self.hasher).finalize()),
            bytes: stage.pipeline.bytes_received(),
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
        let index = self.slots.len();
        let speech = w.speech;
        self.slots.push(Slot {
            channel,
            start_sample: w.segment.start_sample,
            transcript: (!speech).then(Transcript::default),
        });
        if !speech {
            return Ok(());
        }
        let tx = self.tx.clone();
        let window = AudioWindow {
            samples: w.segment.samples,
            options: self.options.clone(),
            withdrawn: None,
        };
        // Deferrable: a live stream's final runs first; this never holds one back for long.
        let cancel = self
            .scheduler
            .submit_deferrable(
                window,
                Box::new(move |r| {
                    let _ = tx.send((index, r.map_err(|e| e.to_string())));
                }),
            )
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
