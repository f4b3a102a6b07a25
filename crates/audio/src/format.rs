//! What the bytes are: sample format, rate and channel count.

use hark_proto::Encoding;

/// How one sample is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Unsigned 8-bit PCM (WAV only).
    U8,
    /// Signed little-endian 16-bit (`linear16`).
    S16Le,
    /// Signed little-endian 24-bit packed (WAV only).
    S24Le,
    /// Signed little-endian 32-bit (`linear32`).
    S32Le,
    /// IEEE float little-endian 32-bit (WAV only).
    F32Le,
    /// IEEE float little-endian 64-bit (WAV only).
    F64Le,
    /// G.711 μ-law (`mulaw`).
    Mulaw,
    /// G.711 A-law (`alaw`).
    Alaw,
}

impl SampleFormat {
    pub fn bytes_per_sample(self) -> usize {
        match self {
            SampleFormat::U8 | SampleFormat::Mulaw | SampleFormat::Alaw => 1,
            SampleFormat::S16Le => 2,
            SampleFormat::S24Le => 3,
            SampleFormat::S32Le | SampleFormat::F32Le => 4,
            SampleFormat::F64Le => 8,
        }
    }

    /// The raw format for a headerless `encoding`, if it is a plain sample format.
    pub fn from_encoding(encoding: Encoding) -> Option<Self> {
        match encoding {
            Encoding::Linear16 => Some(SampleFormat::S16Le),
            Encoding::Linear32 => Some(SampleFormat::S32Le),
            Encoding::Mulaw => Some(SampleFormat::Mulaw),
            Encoding::Alaw => Some(SampleFormat::Alaw),
            _ => None,
        }
    }
}

/// A fully known PCM stream layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    pub format: SampleFormat,
    pub sample_rate_hz: u32,
    pub channels: u16,
}

impl StreamSpec {
    /// Bytes in one frame (one sample of every channel).
    pub fn frame_bytes(&self) -> usize {
        self.format.bytes_per_sample() * usize::from(self.channels)
    }
}
