//! The audio half of a session: decoding the client's audio, resampling it, and running it
//! through the live policy (VAD included). Anything that may take long — a codec (whose decoder
//! thread it may wait for), a large frame, the end of the stream — runs on tokio's blocking
//! pool, one call at a time per session ([`AudioStage::run`]), so a slow decoder never stalls
//! other sessions; a small frame of PCM (microseconds of work) runs on the session's task.

use hark_audio::{AudioError, AudioPipeline};
use hark_live::{Decision, LiveStream};

pub struct AudioStage {
    pub pipeline: AudioPipeline,
    pub live: LiveStream,
    /// Result channels when the audio does not say (before a container's header).
    default_channels: usize,
    /// Reused per frame: the pipeline's new samples per channel.
    chunk: Vec<Vec<f32>>,
}

impl AudioStage {
    pub fn new(pipeline: AudioPipeline, live: LiveStream, default_channels: usize) -> Self {
        Self {
            pipeline,
            live,
            default_channels,
            chunk: Vec::new(),
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

    /// Run the new engine-rate audio in `self.chunk` through the live policy.
    fn feed(&mut self, busy: bool) -> Vec<Decision> {
        if self.chunk.iter().all(Vec::is_empty) {
            return Vec::new();
        }
        self.channels();
        let decisions = self.live.push(&self.chunk, busy);
        for c in &mut self.chunk {
            c.clear();
        }
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
