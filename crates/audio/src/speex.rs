//! `encoding=speex` and Ogg Speex, decoded by libspeex (bundled, through `speex-safe`).
//!
//! - Ogg Speex (what `speexenc` and `ffmpeg -c:a libspeex` write) is recognised by its first page,
//!   with or without `encoding=speex`; the header gives the mode (narrowband 8 kHz, wideband
//!   16 kHz, ultra-wideband 32 kHz) and frames per packet. Stereo streams decode to their mono mix.
//! - Without Ogg, each pushed chunk (one WebSocket message) is one Speex packet of one or more
//!   frames, the mode chosen by `sample_rate` (8000, 16000 or 32000).
//!
//! libspeex's state is not `Send`, so the decoder lives on its own thread and each push waits
//! for its answer: decoding stays deterministic and the pipeline stays `Send`.

use crate::error::AudioError;
use crate::frames::{extend_i16, FrameStream};
use crate::ogg::{OggReader, SPEEX_MAGIC};
use speex_safe::{DynamicDecoder, ModeId, SpeexBits};
use std::sync::mpsc;

/// More frames than this in one raw packet means the packet is not Speex.
const MAX_FRAMES_PER_PACKET: usize = 64;

/// What a stream's first Ogg packet says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OggSpeexHeader {
    pub(crate) mode: u8,
    pub(crate) frames_per_packet: usize,
    pub(crate) extra_headers: usize,
}

impl OggSpeexHeader {
    pub(crate) fn parse(packet: &[u8]) -> Result<Self, AudioError> {
        let bad = |detail: &str| AudioError::BadHeader {
            what: "Ogg Speex",
            detail: detail.to_owned(),
        };
        if !packet.starts_with(SPEEX_MAGIC) || packet.len() < 80 {
            return Err(bad("the first packet is not an 80-byte Speex header"));
        }
        let int = |at: usize| {
            i32::from_le_bytes([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
        };
        let mode = u8::try_from(int(40)).ok().filter(|&m| m <= 2);
        let frames = usize::try_from(int(64))
            .ok()
            .filter(|f| (1..=10).contains(f));
        let extra = usize::try_from(int(68)).ok().filter(|&e| e <= 16);
        match (mode, frames, extra) {
            (Some(mode), Some(frames_per_packet), Some(extra_headers)) => Ok(Self {
                mode,
                frames_per_packet,
                extra_headers,
            }),
            _ => Err(bad("mode, frames per packet or header count out of range")),
        }
    }
}

/// The mode for a raw stream's `sample_rate`.
pub(crate) fn mode_for_rate(rate_hz: u32) -> Result<u8, AudioError> {
    match rate_hz {
        8_000 => Ok(0),
        16_000 => Ok(1),
        32_000 => Ok(2),
        _ => Err(AudioError::Parameter(format!(
            "sample_rate={rate_hz}: encoding=speex decodes at 8000 (narrowband), 16000 (wideband) or 32000 (ultra-wideband) Hz"
        ))),
    }
}

fn rate_for_mode(mode: u8) -> u32 {
    8_000 << mode
}

/// Framing of the bytes the decoder thread receives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Framing {
    /// One packet per push, in this mode.
    Raw { mode: u8 },
    /// An Ogg Speex stream whose header has been read (the bytes still include it).
    Ogg(OggSpeexHeader),
}

enum Request {
    Push(Vec<u8>),
}

struct Reply {
    samples: Vec<f32>,
    frames: u64,
    skipped: u64,
}

pub(crate) struct SpeexStream {
    tx: mpsc::SyncSender<Request>,
    rx: mpsc::Receiver<Reply>,
    rate_hz: u32,
    frames: u64,
    skipped: u64,
}

impl SpeexStream {
    pub(crate) fn new(framing: Framing) -> Result<Self, AudioError> {
        let mode = match framing {
            Framing::Raw { mode } => mode,
            Framing::Ogg(h) => h.mode,
        };
        let (tx, requests) = mpsc::sync_channel::<Request>(1);
        let (replies, rx) = mpsc::sync_channel::<Reply>(1);
        std::thread::Builder::new()
            .name("hark-speex".into())
            .spawn(move || {
                let mut core = Core::new(framing);
                while let Ok(Request::Push(bytes)) = requests.recv() {
                    let mut samples = Vec::new();
                    core.push(&bytes, &mut samples);
                    let reply = Reply {
                        samples,
                        frames: core.frames,
                        skipped: core.skipped + core.ogg.as_ref().map_or(0, |o| o.skipped),
                    };
                    if replies.send(reply).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| AudioError::Decode {
                what: "Speex",
                detail: format!("cannot start the decoder thread: {e}"),
            })?;
        Ok(Self {
            tx,
            rx,
            rate_hz: rate_for_mode(mode),
            frames: 0,
            skipped: 0,
        })
    }
}

impl FrameStream for SpeexStream {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let gone = || AudioError::Decode {
            what: "Speex",
            detail: "the decoder stopped".into(),
        };
        self.tx
            .send(Request::Push(bytes.to_vec()))
            .map_err(|_| gone())?;
        let reply = self.rx.recv().map_err(|_| gone())?;
        out.extend_from_slice(&reply.samples);
        self.frames = reply.frames;
        self.skipped = reply.skipped;
        Ok(())
    }

    fn rate_hz(&self) -> u32 {
        self.rate_hz
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

/// The decoder itself, on its thread.
struct Core {
    decoder: DynamicDecoder,
    frame: Vec<i16>,
    /// Set for Ogg input: packets come from here, and the first `headers` are not audio.
    ogg: Option<OggReader>,
    headers: usize,
    frames_per_packet: usize,
    frames: u64,
    skipped: u64,
}

impl Core {
    fn new(framing: Framing) -> Self {
        let (mode, ogg, headers, frames_per_packet) = match framing {
            Framing::Raw { mode } => (mode, None, 0, MAX_FRAMES_PER_PACKET),
            Framing::Ogg(h) => (
                h.mode,
                Some(OggReader::default()),
                2 + h.extra_headers,
                h.frames_per_packet,
            ),
        };
        let id = match mode {
            0 => ModeId::NarrowBand,
            1 => ModeId::WideBand,
            _ => ModeId::UltraWideBand,
        };
        let mut decoder = DynamicDecoder::new(id);
        decoder.set_enhancement(true);
        Self {
            decoder,
            frame: vec![0; 160 << mode],
            ogg,
            headers,
            frames_per_packet,
            frames: 0,
            skipped: 0,
        }
    }

    fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) {
        match &mut self.ogg {
            None => self.packet(bytes, out),
            Some(ogg) => {
                for packet in ogg.push(bytes) {
                    if self.headers > 0 {
                        self.headers -= 1;
                    } else {
                        self.packet(&packet, out);
                    }
                }
            }
        }
    }

    fn packet(&mut self, packet: &[u8], out: &mut Vec<f32>) {
        if packet.is_empty() {
            return;
        }
        let mut bits = SpeexBits::new();
        bits.read_from(&mut packet.to_vec());
        for _ in 0..self.frames_per_packet {
            match self.decoder.decode_int(&mut bits, &mut self.frame) {
                Ok(()) if (bits.remaining() as i32) >= 0 => {
                    extend_i16(out, &self.frame);
                    self.frames += self.frame.len() as u64;
                }
                Ok(()) => {
                    // Read past the packet's end: a damaged frame.
                    self.skipped += 1;
                    break;
                }
                Err(e) => {
                    // `EndOfStream` is the packet's terminator; anything else is damage.
                    // (speex-safe does not export its error type, so compare its name.)
                    if format!("{e:?}") != "EndOfStream" {
                        self.skipped += 1;
                    }
                    break;
                }
            }
        }
    }
}
