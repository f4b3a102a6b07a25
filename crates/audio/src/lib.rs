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
//! - decodes containers and compressed codecs as they stream: MP3, FLAC, Ogg (Vorbis, Opus),
//!   WebM/Matroska (Opus, Vorbis), MP4/M4A and ADTS (AAC), sniffed or declared
//!   (`encoding=flac|opus|ogg-opus`), through symphonia on one decoder thread per stream, with
//!   libopus for Opus; corrupt packets are skipped and counted ([`AudioPipeline::skipped_packets`]).
//!
//! - bare Opus packets (`encoding=opus`, one per push); MP4 files whose index (`moov`) comes
//!   last are kept (up to 256 MiB) and decoded when the input ends.
//!
//! - the telephony codecs, framed and decoded here: AMR-NB/WB (RFC 4867 storage frames, with or
//!   without the `#!AMR` magic; feature `amr`), G.729 (10-byte frames; feature `g729`), Speex
//!   (Ogg Speex, or one packet per push; feature `speex`, which needs libclang-dev to build);
//!   AIFF/AIFC through symphonia. A codec left out of the build is refused with an error naming
//!   the cargo feature.
//!
//! What it does not do: async, networking, or any model work.

#[cfg(feature = "amr")]
mod amr;
mod compressed;
mod error;
mod format;
mod frames;
#[cfg(feature = "g729")]
mod g729;
mod mp4_edits;
#[cfg_attr(not(feature = "speex"), allow(dead_code))]
mod ogg;
#[cfg(feature = "opus")]
mod opus;
mod pipeline;
mod raw;
#[cfg(feature = "opus")]
mod raw_opus;
mod resample;
pub mod sniff;
#[cfg(feature = "speex")]
mod speex;
mod wav;

pub use error::AudioError;
pub use format::{SampleFormat, StreamSpec};
pub use pipeline::{AudioPipeline, ChannelMode};
pub use raw::RawDecoder;
pub use resample::StreamResampler;
pub use wav::{parse_wav_header, WavHeader};
