//! `encoding=opus` without a container: each pushed chunk (one WebSocket frame) is one Opus
//! packet, decoded by libopus at the declared `sample_rate` (8, 12, 16, 24 or 48 kHz).

use crate::error::AudioError;
use crate::frames::FrameStream;

/// The longest Opus packet: 120 ms at 48 kHz.
const MAX_FRAMES_48K: usize = 5760;

pub(crate) struct RawOpus {
    decoder: opus::Decoder,
    rate_hz: u32,
    channels: u16,
    buf: Vec<f32>,
    frames: u64,
    skipped: u64,
}

impl RawOpus {
    pub(crate) fn new(rate_hz: u32, channels: u16) -> Result<Self, AudioError> {
        let bad = AudioError::Parameter;
        if ![8_000, 12_000, 16_000, 24_000, 48_000].contains(&rate_hz) {
            return Err(bad(format!(
                "sample_rate={rate_hz}: Opus packets decode at 8000, 12000, 16000, 24000 or 48000 Hz"
            )));
        }
        let layout = match channels {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => {
                return Err(bad(format!(
                    "channels={n}: Opus packets carry 1 or 2 channels"
                )))
            }
        };
        let decoder =
            opus::Decoder::new(rate_hz, layout).map_err(|e| bad(format!("libopus: {e}")))?;
        let max = MAX_FRAMES_48K * rate_hz as usize / 48_000;
        Ok(Self {
            decoder,
            rate_hz,
            channels,
            buf: vec![0.0; max * usize::from(channels)],
            frames: 0,
            skipped: 0,
        })
    }
}

impl FrameStream for RawOpus {
    /// Decodes one packet, appending interleaved samples. A corrupt packet is skipped and counted.
    fn push(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        match self.decoder.decode_float(packet, &mut self.buf, false) {
            Ok(frames) => {
                self.frames += frames as u64;
                out.extend_from_slice(&self.buf[..frames * usize::from(self.channels)]);
            }
            Err(_) => self.skipped += 1,
        }
        Ok(())
    }

    fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    fn channels(&self) -> u16 {
        self.channels
    }

    fn frames(&self) -> u64 {
        self.frames
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}
