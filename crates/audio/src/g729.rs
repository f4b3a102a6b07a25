//! `encoding=g729`: G.729 at 8 kHz as a plain sequence of 10-byte frames (10 ms each), the
//! layout of RTP payload type 18 without the RTP headers. The bytes may be split anywhere.
//! Decoding is G.729 Annex A (`rvoip-codec-core`), which decodes every G.729 bitstream. Annex B
//! comfort-noise frames (2 bytes) cannot be told apart in an unframed byte stream and are not
//! supported.

use crate::error::AudioError;
use crate::frames::{extend_i16, guarded, FrameStream};
use codec_core::codecs::g729::G729Codec;
use codec_core::types::{AudioCodec, CodecConfig};

const FRAME_BYTES: usize = 10;
const FRAME_SAMPLES: usize = 80;

pub(crate) struct G729Stream {
    codec: G729Codec,
    pending: Vec<u8>,
    frames: u64,
    skipped: u64,
}

fn new_codec() -> Result<G729Codec, AudioError> {
    G729Codec::new(CodecConfig::g729a()).map_err(|e| AudioError::Decode {
        what: "G.729",
        detail: e.to_string(),
    })
}

impl G729Stream {
    pub(crate) fn new(sample_rate_hz: Option<u32>) -> Result<Self, AudioError> {
        if let Some(rate) = sample_rate_hz.filter(|&r| r != 8_000) {
            return Err(AudioError::Parameter(format!(
                "sample_rate={rate}: encoding=g729 is always 8000 Hz"
            )));
        }
        Ok(Self {
            codec: new_codec()?,
            pending: Vec::new(),
            frames: 0,
            skipped: 0,
        })
    }
}

impl FrameStream for G729Stream {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.pending.extend_from_slice(bytes);
        let whole = self.pending.len() / FRAME_BYTES * FRAME_BYTES;
        for frame in self.pending[..whole].chunks_exact(FRAME_BYTES) {
            match guarded(|| self.codec.decode(frame)) {
                Some(Ok(pcm)) if pcm.len() == FRAME_SAMPLES => extend_i16(out, &pcm),
                result => {
                    if result.is_none() {
                        self.codec = new_codec()?;
                    }
                    self.skipped += 1;
                    out.extend(std::iter::repeat_n(0.0, FRAME_SAMPLES));
                }
            }
            self.frames += FRAME_SAMPLES as u64;
        }
        self.pending.drain(..whole);
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<f32>) -> Result<(), AudioError> {
        if !self.pending.is_empty() {
            self.skipped += 1;
            self.pending.clear();
        }
        Ok(())
    }

    fn rate_hz(&self) -> u32 {
        8_000
    }

    fn channels(&self) -> u16 {
        1
    }

    fn frames(&self) -> u64 {
        self.frames
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}
