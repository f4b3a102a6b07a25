//! Opus packets (as symphonia demuxes them from Ogg and WebM), decoded by libopus at 48 kHz.

use crate::compressed::{PacketDecoder, Skip};
use symphonia::core::packet::Packet;

/// The longest Opus packet: 120 ms at 48 kHz.
const MAX_FRAMES: usize = 5760;

pub(crate) struct OpusPackets {
    decoder: opus::Decoder,
    channels: u16,
    buf: Vec<f32>,
}

impl OpusPackets {
    pub(crate) fn new(channels: usize) -> Result<Self, String> {
        let (layout, channels) = match channels {
            1 => (opus::Channels::Mono, 1),
            2 => (opus::Channels::Stereo, 2),
            n => {
                return Err(format!(
                    "Opus with {n} channels (multistream) is not supported; send mono or stereo"
                ))
            }
        };
        let decoder = opus::Decoder::new(48_000, layout).map_err(|e| format!("libopus: {e}"))?;
        Ok(Self {
            decoder,
            channels,
            buf: vec![0.0; MAX_FRAMES * usize::from(channels)],
        })
    }
}

impl PacketDecoder for OpusPackets {
    fn decode(&mut self, packet: &Packet, out: &mut Vec<f32>) -> Result<(u32, u16), Skip> {
        let frames = self
            .decoder
            .decode_float(&packet.data, &mut self.buf, false)
            .map_err(|_| Skip)?;
        out.extend_from_slice(&self.buf[..frames * usize::from(self.channels)]);
        Ok((48_000, self.channels))
    }

    /// Ogg and WebM carry Opus's pre-skip and end padding as packet trims.
    fn trims(&self) -> bool {
        true
    }
}
