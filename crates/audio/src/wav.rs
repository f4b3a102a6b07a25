//! Incremental WAV (RIFF/WAVE, RF64) header parsing for streams: the `data` chunk is read until
//! the stream ends, whatever size the header claims (live WAV streams often write 0 or 0xFFFFFFFF).

use crate::error::AudioError;
use crate::format::{SampleFormat, StreamSpec};

/// Give up looking for the `data` chunk after this many header bytes.
const MAX_HEADER_BYTES: usize = 1 << 20;

/// A parsed WAV header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavHeader {
    pub spec: StreamSpec,
    /// Offset of the first sample byte.
    pub data_offset: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn bad(detail: impl Into<String>) -> AudioError {
    AudioError::BadHeader {
        what: "WAV",
        detail: detail.into(),
    }
}

fn sample_format(tag: u16, bits: u16) -> Result<SampleFormat, AudioError> {
    Ok(match (tag, bits) {
        (1, 8) => SampleFormat::U8,
        (1, 16) => SampleFormat::S16Le,
        (1, 24) => SampleFormat::S24Le,
        (1, 32) => SampleFormat::S32Le,
        (3, 32) => SampleFormat::F32Le,
        (3, 64) => SampleFormat::F64Le,
        (6, 8) => SampleFormat::Alaw,
        (7, 8) => SampleFormat::Mulaw,
        (1 | 3 | 6 | 7, _) => {
            return Err(bad(format!(
                "{bits}-bit samples are not valid for format tag {tag}"
            )))
        }
        (0x55, _) => {
            return Err(AudioError::Unsupported {
                what: "MP3-in-WAV".into(),
            })
        }
        (0x11, _) | (0x02, _) => {
            return Err(AudioError::Unsupported {
                what: "ADPCM WAV".into(),
            })
        }
        _ => {
            return Err(AudioError::Unsupported {
                what: format!("WAV format tag {tag:#06x}"),
            })
        }
    })
}

fn parse_fmt(chunk: &[u8]) -> Result<StreamSpec, AudioError> {
    if chunk.len() < 16 {
        return Err(bad("`fmt ` chunk shorter than 16 bytes"));
    }
    let mut tag = u16_at(chunk, 0);
    let channels = u16_at(chunk, 2);
    let sample_rate_hz = u32_at(chunk, 4);
    let bits = u16_at(chunk, 14);
    if tag == 0xFFFE {
        // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
        if chunk.len() < 40 {
            return Err(bad(
                "WAVE_FORMAT_EXTENSIBLE `fmt ` chunk shorter than 40 bytes",
            ));
        }
        tag = u16_at(chunk, 24);
    }
    if channels == 0 || channels > 64 {
        return Err(bad(format!("{channels} channels")));
    }
    if !(1_000..=384_000).contains(&sample_rate_hz) {
        return Err(bad(format!("sample rate {sample_rate_hz} Hz")));
    }
    Ok(StreamSpec {
        format: sample_format(tag, bits)?,
        sample_rate_hz,
        channels,
    })
}

/// Does this prefix start a WAV file? Needs 12 bytes to say yes.
pub fn looks_like_wav(prefix: &[u8]) -> bool {
    prefix.len() >= 12 && matches!(&prefix[..4], b"RIFF" | b"RF64") && &prefix[8..12] == b"WAVE"
}

/// Parse a WAV header from the start of a stream.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some(h))`: samples start at `h.data_offset`.
pub fn parse_wav_header(buf: &[u8]) -> Result<Option<WavHeader>, AudioError> {
    if buf.len() < 12 {
        return Ok(None);
    }
    if !looks_like_wav(buf) {
        return Err(bad("missing RIFF/WAVE signature"));
    }
    let mut at = 12;
    let mut spec = None;
    loop {
        if at + 8 > buf.len() {
            break;
        }
        let id = &buf[at..at + 4];
        let size = u32_at(buf, at + 4) as usize;
        let body = at + 8;
        if id == b"data" {
            return match spec {
                Some(spec) => Ok(Some(WavHeader {
                    spec,
                    data_offset: body,
                })),
                None => Err(bad("`data` chunk before `fmt ` chunk")),
            };
        }
        if body + size > buf.len() {
            if body + size > MAX_HEADER_BYTES {
                return Err(bad(format!(
                    "chunk `{}` of {size} bytes before the audio",
                    String::from_utf8_lossy(id)
                )));
            }
            break;
        }
        if id == b"fmt " {
            spec = Some(parse_fmt(&buf[body..body + size])?);
        }
        at = body + size + (size & 1);
    }
    if buf.len() > MAX_HEADER_BYTES {
        return Err(bad("no `data` chunk in the first 1 MiB"));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn header(
        tag: u16,
        channels: u16,
        rate: u32,
        bits: u16,
        extra_chunk: bool,
    ) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF\xff\xff\xff\xffWAVE");
        if extra_chunk {
            h.extend_from_slice(b"LIST\x03\x00\x00\x00abc\x00");
        }
        h.extend_from_slice(b"fmt \x10\x00\x00\x00");
        h.extend_from_slice(&tag.to_le_bytes());
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * u32::from(channels) * u32::from(bits) / 8).to_le_bytes());
        h.extend_from_slice(&(channels * bits / 8).to_le_bytes());
        h.extend_from_slice(&bits.to_le_bytes());
        h.extend_from_slice(b"data\x00\x00\x00\x00");
        h
    }

    #[test]
    fn parses_pcm_header_with_odd_sized_chunk() {
        let h = header(1, 2, 22_050, 16, true);
        for cut in 0..h.len() {
            assert_eq!(parse_wav_header(&h[..cut]).ok(), Some(None), "cut {cut}");
        }
        let parsed = parse_wav_header(&h)
            .ok()
            .flatten()
            .map(|w| (w.spec, w.data_offset));
        let spec = StreamSpec {
            format: SampleFormat::S16Le,
            sample_rate_hz: 22_050,
            channels: 2,
        };
        assert_eq!(parsed, Some((spec, h.len())));
    }

    #[test]
    fn formats_and_refusals() {
        let fmt = |tag, bits| {
            parse_wav_header(&header(tag, 1, 8000, bits, false)).map(|h| h.map(|h| h.spec.format))
        };
        assert_eq!(fmt(7, 8), Ok(Some(SampleFormat::Mulaw)));
        assert_eq!(fmt(6, 8), Ok(Some(SampleFormat::Alaw)));
        assert_eq!(fmt(3, 32), Ok(Some(SampleFormat::F32Le)));
        assert!(matches!(fmt(0x55, 0), Err(AudioError::Unsupported { .. })));
        assert!(matches!(fmt(1, 12), Err(AudioError::BadHeader { .. })));
        assert!(parse_wav_header(b"RIFF\0\0\0\0AVI LIST").is_err());
    }

    #[test]
    fn the_starter_kit_wav_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/starter-kit/preamble.wav"
        );
        let Ok(bytes) = std::fs::read(path) else {
            return;
        };
        let h = parse_wav_header(&bytes).ok().flatten().map(|h| h.spec);
        assert_eq!(
            h,
            Some(StreamSpec {
                format: SampleFormat::S16Le,
                sample_rate_hz: 22_050,
                channels: 1
            })
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_after_signature_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b = b"RIFF\0\0\0\0WAVE".to_vec();
            b.extend(tail);
            let _ = parse_wav_header(&b);
        }
    }
}
