//! The audio clock on the sending side: real-time pacing, and local decoding to linear16.
//!
//! Both run the bytes through `hark-audio`, the same decoder the server uses, so "real time" is
//! measured in decoded audio, not guessed from byte counts. A format this build cannot decode is
//! sent unpaced (with one warning) rather than refused: the server may well decode it.

use crate::ClientError;
use hark_audio::{AudioPipeline, ChannelMode};
use hark_proto::Encoding;
use std::time::{Duration, Instant};

/// Rate that `--decode` sends, and that the pacing clock decodes to.
pub const DECODE_RATE_HZ: u32 = 16_000;

/// Headerless input as described by `-e/-s/-c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFormat {
    pub encoding: Encoding,
    pub sample_rate_hz: u32,
    pub channels: u16,
}

fn pipeline(raw: Option<RawFormat>, mode: ChannelMode) -> Result<AudioPipeline, ClientError> {
    AudioPipeline::new(
        raw.map(|r| r.encoding),
        raw.map(|r| r.sample_rate_hz),
        raw.map_or(1, |r| r.channels),
        DECODE_RATE_HZ,
        mode,
    )
    .map_err(|e| ClientError::Input(e.to_string()))
}

/// Keeps sending at 1× the audio clock (or not at all, with `--fast`).
pub struct Pacer {
    clock: Option<AudioPipeline>,
    realtime: bool,
    started: Option<Instant>,
    /// Set once the clock failed: the reason, reported once.
    unknown: Option<String>,
}

impl Pacer {
    pub fn new(raw: Option<RawFormat>, realtime: bool) -> Result<Self, ClientError> {
        Ok(Self {
            clock: realtime
                .then(|| pipeline(raw, ChannelMode::MixDown))
                .transpose()?,
            realtime,
            started: None,
            unknown: None,
        })
    }

    /// Accounts for `bytes` about to be sent; returns how long to wait *after* sending them so
    /// the stream stays at real time. `Err(reason)` the first time the audio cannot be timed.
    pub fn after_send(&mut self, bytes: &[u8]) -> Result<Duration, String> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let Some(clock) = self.clock.as_mut() else {
            return Ok(Duration::ZERO);
        };
        if let Err(e) = clock.push(bytes) {
            self.clock = None;
            let reason = e.to_string();
            self.unknown = Some(reason.clone());
            return Err(reason);
        }
        let audio = Duration::from_secs_f64(clock.duration_s());
        Ok(audio.saturating_sub(started.elapsed()))
    }

    /// Seconds of audio sent so far, when known.
    pub fn audio_s(&self) -> Option<f64> {
        self.clock.as_ref().map(AudioPipeline::duration_s)
    }

    pub fn is_realtime(&self) -> bool {
        self.realtime && self.unknown.is_none()
    }
}

/// `--decode`: the input decoded locally and re-encoded as 16 kHz linear16, one channel (mixed
/// down) or each input channel interleaved (`multichannel`).
pub struct Transcoder {
    pipeline: AudioPipeline,
}

impl Transcoder {
    pub fn new(raw: Option<RawFormat>, keep_channels: bool) -> Result<Self, ClientError> {
        let mode = if keep_channels {
            ChannelMode::Split
        } else {
            ChannelMode::MixDown
        };
        Ok(Self {
            pipeline: pipeline(raw, mode)?,
        })
    }

    /// Channels in the output, once the input's header (or `-c`) has told.
    pub fn channels(&self) -> Option<usize> {
        self.pipeline.output_channels()
    }

    /// Decodes `bytes`; returns interleaved little-endian 16-bit PCM (possibly empty).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
        let streams = self
            .pipeline
            .push(bytes)
            .map_err(|e| ClientError::Input(format!("--decode: {e}")))?;
        Ok(interleave_i16(streams))
    }

    /// The end of the input: a compressed decoder's last frames, then the resamplers' tails.
    pub fn finish(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut out = interleave_i16(
            self.pipeline
                .end_input()
                .map_err(|e| ClientError::Input(format!("--decode: {e}")))?,
        );
        out.extend(interleave_i16(self.pipeline.flush(None)));
        Ok(out)
    }
}

fn interleave_i16(streams: &[Vec<f32>]) -> Vec<u8> {
    let frames = streams.iter().map(Vec::len).min().unwrap_or(0);
    let mut out = Vec::with_capacity(frames * streams.len() * 2);
    for i in 0..frames {
        for s in streams {
            let v = (s[i].clamp(-1.0, 1.0) * 32767.0).round() as i16;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm_8k(seconds: f64) -> Vec<u8> {
        let n = (seconds * 8000.0) as usize;
        (0..n)
            .flat_map(|i| (((i as f32 * 0.05).sin() * 8000.0) as i16).to_le_bytes())
            .collect()
    }

    #[test]
    fn pacer_waits_for_the_audio_clock_and_fast_does_not() {
        let raw = RawFormat {
            encoding: Encoding::Linear16,
            sample_rate_hz: 8000,
            channels: 1,
        };
        let mut p = Pacer::new(Some(raw), true).expect("pacer");
        let wait = p.after_send(&pcm_8k(0.5)).expect("timed");
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        assert_eq!(p.audio_s(), Some(0.5));
        let mut fast = Pacer::new(Some(raw), false).expect("pacer");
        assert_eq!(fast.after_send(&pcm_8k(0.5)), Ok(Duration::ZERO));
    }

    #[test]
    fn pacer_reports_undecodable_audio_once_and_goes_unpaced() {
        let mut p = Pacer::new(None, true).expect("pacer");
        let mut ogg = b"OggS".to_vec();
        ogg.resize(4096, 0);
        assert!(p.after_send(&ogg).is_err());
        assert!(!p.is_realtime());
        assert_eq!(p.after_send(&ogg), Ok(Duration::ZERO));
    }

    #[test]
    fn transcoder_resamples_to_16k_linear16() {
        let raw = RawFormat {
            encoding: Encoding::Linear16,
            sample_rate_hz: 8000,
            channels: 1,
        };
        let mut t = Transcoder::new(Some(raw), false).expect("transcoder");
        let mut out = t.push(&pcm_8k(1.0)).expect("decode");
        out.extend(t.finish().expect("finish"));
        assert_eq!(t.channels(), Some(1));
        // One second of 16 kHz 16-bit mono, give or take the resampler's block edges.
        assert!(
            (out.len() as i64 - 32_000).abs() <= 64,
            "{} bytes",
            out.len()
        );
    }
}
