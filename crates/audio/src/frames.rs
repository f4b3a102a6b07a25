//! Codecs that hark frames and decodes itself, without symphonia: bare Opus packets, AMR, G.729
//! and Speex. Each is a [`FrameStream`]; the pipeline resamples and routes what it returns.

use crate::error::AudioError;

/// A decoder fed raw bytes, producing interleaved `f32` samples at a fixed rate.
pub(crate) trait FrameStream {
    /// Decodes every frame `bytes` completes, appending interleaved samples to `out`.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError>;
    /// The input has ended; a frame left incomplete is dropped and counted as skipped.
    fn finish(&mut self, _out: &mut Vec<f32>) -> Result<(), AudioError> {
        Ok(())
    }
    /// Output rate (the input's own; the pipeline resamples).
    fn rate_hz(&self) -> u32;
    fn channels(&self) -> u16;
    /// Samples per channel decoded so far: the audio clock.
    fn frames(&self) -> u64;
    /// Damaged or undecodable frames skipped so far.
    fn skipped(&self) -> u64;
}

/// Third-party codec code must not take a session down: a panic while decoding one frame is
/// caught and reported as `None` (the caller skips the frame and resets its decoder).
#[cfg(any(feature = "amr", feature = "g729"))]
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// 16-bit PCM to `f32` in [-1, 1).
#[cfg(any(feature = "amr", feature = "g729", feature = "speex"))]
pub(crate) fn extend_i16(out: &mut Vec<f32>, pcm: &[i16]) {
    out.extend(pcm.iter().map(|&s| f32::from(s) / 32_768.0));
}
