//! # hark-audio — bytes in, engine-rate PCM out, as the bytes arrive
//!
//! What this crate does:
//! - decodes headerless `linear16`, `linear32`, `mulaw` and `alaw` audio ([`RawDecoder`]), carrying
//!   partial samples across chunk boundaries;
//! - recognises a WAV header at the start of a stream (PCM 8/16/24/32-bit, float, μ-law, A-law,
//!   WAVE_FORMAT_EXTENSIBLE), whether or not `encoding` was given, and names any other container it
//!   sees when it cannot decode it yet ([`sniff`]);
//! - splits interleaved channels (for `multichannel`) or mixes them down;
//! - resamples to the engine rate with a band-limited resampler (rubato);
//! - counts input frames exactly, so durations and timestamps are on the audio clock.
//!
//! What it does not do: async, networking, or any model work. Compressed codecs and containers
//! (Opus, FLAC, MP3, WebM, Ogg …) are refused with [`AudioError::Unsupported`] until their decoders land.

mod compressed;
mod error;
mod format;
mod opus;
mod pipeline;
mod raw;
mod resample;
pub mod sniff;
mod wav;

pub use error::AudioError;
pub use format::{SampleFormat, StreamSpec};
pub use pipeline::{AudioPipeline, ChannelMode};
pub use raw::RawDecoder;
pub use resample::StreamResampler;
pub use wav::{parse_wav_header, WavHeader};
