//! The per-session audio front end: bytes → (sniff / header) → PCM → channels → engine rate.

use crate::error::AudioError;
use crate::format::{SampleFormat, StreamSpec};
use crate::raw::RawDecoder;
use crate::resample::StreamResampler;
use crate::sniff::{describe, sniff, Sniffed, SNIFF_BYTES};
use crate::wav::parse_wav_header;
use hark_proto::Encoding;

/// What to do with several input channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMode {
    /// One output stream per input channel (`multichannel=true`).
    Split,
    /// Average all channels into one stream.
    MixDown,
}

enum State {
    /// Collecting the first bytes to find a header.
    Probing(Vec<u8>),
    Decoding {
        decoder: RawDecoder,
        spec: StreamSpec,
        resamplers: Vec<StreamResampler>,
    },
}

/// Turns arbitrary byte chunks into per-channel PCM at the engine rate.
pub struct AudioPipeline {
    declared: Option<StreamSpec>,
    target_rate_hz: u32,
    mode: ChannelMode,
    state: State,
    interleaved: Vec<f32>,
    channel_in: Vec<f32>,
    outputs: Vec<Vec<f32>>,
    bytes_received: u64,
}

impl AudioPipeline {
    /// `encoding` `None` means the stream carries its own header. `sample_rate_hz` and `channels`
    /// describe headerless audio (a WAV header, when present, overrides them).
    pub fn new(
        encoding: Option<Encoding>,
        sample_rate_hz: Option<u32>,
        channels: u16,
        target_rate_hz: u32,
        mode: ChannelMode,
    ) -> Result<Self, AudioError> {
        let declared = match encoding {
            None => None,
            Some(e) => {
                let format =
                    SampleFormat::from_encoding(e).ok_or_else(|| AudioError::Unsupported {
                        what: format!("encoding={e}"),
                    })?;
                let sample_rate_hz = sample_rate_hz.ok_or_else(|| AudioError::BadHeader {
                    what: "stream",
                    detail: format!("encoding={e} needs sample_rate"),
                })?;
                Some(StreamSpec {
                    format,
                    sample_rate_hz,
                    channels: channels.max(1),
                })
            }
        };
        Ok(Self {
            declared,
            target_rate_hz,
            mode,
            state: State::Probing(Vec::new()),
            interleaved: Vec::new(),
            channel_in: Vec::new(),
            outputs: Vec::new(),
            bytes_received: 0,
        })
    }

    /// The stream layout, once known (after the header for containerised audio).
    pub fn spec(&self) -> Option<StreamSpec> {
        match &self.state {
            State::Decoding { spec, .. } => Some(*spec),
            State::Probing(_) => None,
        }
    }

    /// Output streams: the channel count when splitting, else 1. `None` until the layout is known.
    pub fn output_channels(&self) -> Option<usize> {
        self.spec().map(|s| match self.mode {
            ChannelMode::Split => usize::from(s.channels),
            ChannelMode::MixDown => 1,
        })
    }

    /// Seconds of audio received: whole input frames / input rate (the audio clock).
    pub fn duration_s(&self) -> f64 {
        match &self.state {
            State::Decoding { decoder, spec, .. } => {
                decoder.frames_decoded() as f64 / f64::from(spec.sample_rate_hz)
            }
            State::Probing(_) => 0.0,
        }
    }

    /// Total bytes pushed, header included.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    fn start(&mut self, spec: StreamSpec) -> Result<(), AudioError> {
        let n = match self.mode {
            ChannelMode::Split => usize::from(spec.channels),
            ChannelMode::MixDown => 1,
        };
        let resamplers = (0..n)
            .map(|_| StreamResampler::new(spec.sample_rate_hz, self.target_rate_hz))
            .collect::<Result<Vec<_>, _>>()?;
        self.outputs = vec![Vec::new(); n];
        self.state = State::Decoding {
            decoder: RawDecoder::new(spec.format, spec.channels),
            spec,
            resamplers,
        };
        Ok(())
    }

    /// Decide the layout from the probe buffer. Returns the bytes to decode as samples, or `None`
    /// if more bytes are needed.
    fn probe(&mut self, buf: Vec<u8>) -> Result<Option<Vec<u8>>, AudioError> {
        let kind = sniff(&buf);
        if kind == Sniffed::Wav
            || (buf.len() < SNIFF_BYTES
                && (b"RIFF".starts_with(&buf[..buf.len().min(4)])
                    || b"RF64".starts_with(&buf[..buf.len().min(4)])))
        {
            return match parse_wav_header(&buf)? {
                Some(h) => {
                    self.start(h.spec)?;
                    Ok(Some(buf[h.data_offset..].to_vec()))
                }
                None => {
                    self.state = State::Probing(buf);
                    Ok(None)
                }
            };
        }
        if let Some(spec) = self.declared {
            self.start(spec)?;
            return Ok(Some(buf));
        }
        match kind {
            Sniffed::NeedMore => {
                self.state = State::Probing(buf);
                Ok(None)
            }
            Sniffed::Unknown => Err(AudioError::UnknownContainer {
                found: describe(&buf),
            }),
            other => Err(AudioError::Unsupported {
                what: other.name().to_owned(),
            }),
        }
    }

    /// Feed bytes. Returns the new samples per output channel (at the engine rate).
    pub fn push(&mut self, bytes: &[u8]) -> Result<&[Vec<f32>], AudioError> {
        self.bytes_received += bytes.len() as u64;
        for o in &mut self.outputs {
            o.clear();
        }
        if let State::Probing(buf) = &mut self.state {
            let mut buf = std::mem::take(buf);
            buf.extend_from_slice(bytes);
            if let Some(rest) = self.probe(buf)? {
                self.decode(&rest);
            }
        } else {
            self.decode(bytes);
        }
        Ok(&self.outputs)
    }

    fn decode(&mut self, bytes: &[u8]) {
        let State::Decoding {
            decoder,
            spec,
            resamplers,
        } = &mut self.state
        else {
            return;
        };
        self.interleaved.clear();
        let frames = decoder.push(bytes, &mut self.interleaved);
        if frames == 0 {
            return;
        }
        let ch = usize::from(spec.channels);
        for (i, (resampler, out)) in resamplers
            .iter_mut()
            .zip(self.outputs.iter_mut())
            .enumerate()
        {
            if self.mode == ChannelMode::MixDown && ch == 1 {
                // Mono: nothing to split or mix.
                resampler.push(&self.interleaved, out);
                continue;
            }
            self.channel_in.clear();
            match self.mode {
                ChannelMode::Split => self
                    .channel_in
                    .extend(self.interleaved.iter().skip(i).step_by(ch)),
                ChannelMode::MixDown => self.channel_in.extend(
                    self.interleaved
                        .chunks_exact(ch)
                        .map(|f| f.iter().sum::<f32>() / ch as f32),
                ),
            }
            resampler.push(&self.channel_in, out);
        }
    }

    /// Flush the resamplers' held-back tails (Finalize / end of stream).
    /// `channel` limits the flush to one output stream.
    pub fn flush(&mut self, channel: Option<usize>) -> &[Vec<f32>] {
        for o in &mut self.outputs {
            o.clear();
        }
        if let State::Decoding { resamplers, .. } = &mut self.state {
            for (i, (r, out)) in resamplers
                .iter_mut()
                .zip(self.outputs.iter_mut())
                .enumerate()
            {
                if channel.is_none_or(|c| c == i) {
                    r.flush(out);
                }
            }
        }
        &self.outputs
    }
}

#[cfg(test)]
mod tests;
