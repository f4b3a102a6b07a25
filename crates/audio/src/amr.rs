//! `encoding=amr-nb` (8 kHz) and `encoding=amr-wb` (16 kHz) in the RFC 4867 §5 storage format:
//! an optional `#!AMR\n` / `#!AMR-WB\n` magic, then one record per 20 ms frame, a table-of-contents
//! octet (frame type, quality bit) followed by the frame's octet-aligned bits. Records need no
//! other framing, so the bytes may be split anywhere. The decoder is `rvoip-codec-core`'s (its
//! authors test it bit-exact against 3GPP's reference; our tests compare it with ffmpeg's). A
//! file (`.amr`, `.awb`) is the same bytes, and is sniffed when no `encoding` is given.

use crate::error::AudioError;
use crate::frames::{extend_i16, guarded, FrameStream};
use codec_core::codecs::amr::{AmrCodec, AmrFrameType, AmrVariant};
use codec_core::types::{CodecConfig, CodecType, CodedFrame, FrameKind, VariableRateCodec};

const MAGIC_NB: &[u8] = b"#!AMR\n";
const MAGIC_WB: &[u8] = b"#!AMR-WB\n";
/// Multichannel storage magics (RFC 4867 §5.3), recognised to refuse them clearly.
const MAGIC_MC: [&[u8]; 2] = [b"#!AMR_MC1.0\n", b"#!AMR-WB_MC1.0\n"];

/// Which AMR storage magic `prefix` starts with: `Some(Some(variant))`, `Some(None)` when more
/// bytes are needed to tell, `None` when it is not AMR.
fn sniff_magic(prefix: &[u8]) -> Option<Option<Wideband>> {
    for (magic, wb) in [(MAGIC_WB, true), (MAGIC_NB, false)] {
        if prefix.starts_with(magic) {
            return Some(Some(wb));
        }
    }
    let maybe = |m: &[u8]| m.starts_with(&prefix[..prefix.len().min(m.len())]);
    (maybe(MAGIC_NB) || maybe(MAGIC_WB) || MAGIC_MC.iter().any(|m| maybe(m))).then_some(None)
}

/// `true` for AMR-WB.
type Wideband = bool;

enum Header {
    /// The magic may still arrive (the bytes so far are in `pending`).
    Pending,
    Done,
}

pub(crate) struct AmrStream {
    variant: AmrVariant,
    codec: AmrCodec,
    header: Header,
    /// Bytes of an incomplete record.
    pending: Vec<u8>,
    /// Mode of the last speech frame, for concealment of lost frames.
    last_mode: u8,
    frames: u64,
    skipped: u64,
    /// Records decoded; the first must be valid, or the stream is not AMR.
    records: u64,
}

fn name(variant: AmrVariant) -> &'static str {
    match variant {
        AmrVariant::NarrowBand => "AMR-NB",
        AmrVariant::WideBand => "AMR-WB",
    }
}

fn new_codec(variant: AmrVariant) -> Result<AmrCodec, AudioError> {
    let kind = match variant {
        AmrVariant::NarrowBand => CodecType::AmrNb,
        AmrVariant::WideBand => CodecType::AmrWb,
    };
    AmrCodec::new(&CodecConfig::new(kind)).map_err(|e| AudioError::Decode {
        what: name(variant),
        detail: e.to_string(),
    })
}

impl AmrStream {
    /// `sample_rate_hz` must be the variant's own (8000 or 16000), as Deepgram requires.
    pub(crate) fn new(wideband: Wideband, sample_rate_hz: Option<u32>) -> Result<Self, AudioError> {
        let variant = if wideband {
            AmrVariant::WideBand
        } else {
            AmrVariant::NarrowBand
        };
        if let Some(rate) = sample_rate_hz.filter(|&r| r != variant.sample_rate()) {
            return Err(AudioError::Parameter(format!(
                "sample_rate={rate}: encoding={} is always {} Hz",
                name(variant).to_ascii_lowercase(),
                variant.sample_rate()
            )));
        }
        Ok(Self {
            variant,
            codec: new_codec(variant)?,
            header: Header::Pending,
            pending: Vec::new(),
            last_mode: 0,
            frames: 0,
            skipped: 0,
            records: 0,
        })
    }

    /// Strips the storage magic if present. Returns `false` while more bytes are needed.
    fn strip_magic(&mut self) -> Result<bool, AudioError> {
        let own = match self.variant {
            AmrVariant::NarrowBand => MAGIC_NB,
            AmrVariant::WideBand => MAGIC_WB,
        };
        let buf = &self.pending;
        if let Some(m) = MAGIC_MC.iter().find(|m| buf.starts_with(m)) {
            return Err(self.bad(format!(
                "multichannel AMR storage (`{}`) is not supported; send one channel",
                String::from_utf8_lossy(&m[..m.len() - 1])
            )));
        }
        if buf.starts_with(own) {
            self.pending.drain(..own.len());
        } else if sniff_magic(buf) == Some(Some(!matches!(self.variant, AmrVariant::WideBand))) {
            return Err(self.bad(format!(
                "the stream is {}, but {} was declared",
                if matches!(self.variant, AmrVariant::WideBand) {
                    "AMR-NB"
                } else {
                    "AMR-WB"
                },
                name(self.variant)
            )));
        } else if sniff_magic(buf) == Some(None) {
            return Ok(false);
        }
        self.header = Header::Done;
        Ok(true)
    }

    fn bad(&self, detail: String) -> AudioError {
        AudioError::BadHeader {
            what: name(self.variant),
            detail,
        }
    }

    /// Decodes one record's payload; a frame that cannot be decoded becomes 20 ms of silence, so
    /// the clock still counts it.
    fn decode(&mut self, ft: AmrFrameType, quality_ok: bool, data: Vec<u8>, out: &mut Vec<f32>) {
        let (kind, mode) = match ft {
            AmrFrameType::Speech(mode) => {
                self.last_mode = mode.index();
                (FrameKind::Speech, mode.index())
            }
            AmrFrameType::Sid(_) => (FrameKind::ComfortNoise, self.last_mode),
            AmrFrameType::NoData => (FrameKind::NoData, self.last_mode),
            AmrFrameType::SpeechLost => (FrameKind::Lost, self.last_mode),
        };
        let frame = CodedFrame {
            kind,
            mode,
            quality_ok,
            data,
        };
        let n = self.variant.frame_samples();
        match guarded(|| self.codec.decode_frame(&frame)) {
            Some(Ok(pcm)) if pcm.len() == n => extend_i16(out, &pcm),
            result => {
                if result.is_none() {
                    if let Ok(codec) = new_codec(self.variant) {
                        self.codec = codec;
                    }
                }
                self.skipped += 1;
                out.extend(std::iter::repeat_n(0.0, n));
            }
        }
        self.frames += n as u64;
    }
}

impl FrameStream for AmrStream {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.pending.extend_from_slice(bytes);
        if matches!(self.header, Header::Pending) && !self.strip_magic()? {
            return Ok(());
        }
        let mut at = 0;
        while at < self.pending.len() {
            let toc = self.pending[at];
            // P FT(4) Q P P: the padding bits must be zero.
            let ft = match AmrFrameType::from_index(self.variant, (toc >> 3) & 0x0F) {
                Ok(ft) if toc & 0x83 == 0 => ft,
                _ if self.records == 0 => {
                    return Err(self.bad(format!(
                    "expected a frame header (RFC 4867 storage format), found byte {toc:#04x}{}",
                    if self.pending.starts_with(b"RIFF") || self.pending.starts_with(b"OggS") {
                        " (a container: omit `encoding` for containerised audio)"
                    } else {
                        ""
                    }
                )))
                }
                _ => {
                    // A damaged record: drop one byte and look for the next frame header.
                    self.skipped += 1;
                    at += 1;
                    continue;
                }
            };
            let len = ft.octet_aligned_bytes();
            if self.pending.len() < at + 1 + len {
                break;
            }
            let quality_ok = toc & 0x04 != 0;
            let data = self.pending[at + 1..at + 1 + len].to_vec();
            self.decode(ft, quality_ok, data, out);
            self.records += 1;
            at += 1 + len;
        }
        self.pending.drain(..at);
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<f32>) -> Result<(), AudioError> {
        if !self.pending.is_empty() && matches!(self.header, Header::Done) {
            self.skipped += 1;
            self.pending.clear();
        }
        Ok(())
    }

    fn rate_hz(&self) -> u32 {
        self.variant.sample_rate()
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
