//! The per-session audio front end: bytes → (sniff / header) → PCM → channels → engine rate.

use crate::compressed::CompressedDecoder;
use crate::error::AudioError;
use crate::format::{SampleFormat, StreamSpec};
use crate::frames::FrameStream;
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
    /// A container or codec, decoded on its own thread; resamplers start with its format.
    Compressed {
        decoder: Box<CompressedDecoder>,
        resamplers: Vec<StreamResampler>,
    },
    /// A codec framed and decoded here (bare Opus packets, AMR, G.729, Speex).
    Frames {
        decoder: Box<dyn FrameStream + Send>,
        resamplers: Vec<StreamResampler>,
    },
}

/// What `encoding=` promised.
#[derive(Clone, Copy)]
enum Declared {
    Raw(StreamSpec),
    /// A compressed encoding: its name and the file extension that tells symphonia what to expect.
    Compressed(&'static str, &'static str),
    /// `encoding=opus`: Ogg Opus, or bare packets at this rate and channel count.
    Opus {
        rate_hz: u32,
        channels: u16,
    },
    /// `encoding=amr-nb|amr-wb` (true for wideband); `sample_rate` as given.
    Amr(bool, Option<u32>),
    G729(Option<u32>),
    /// `encoding=speex`: Ogg Speex, or bare packets at this rate.
    Speex(Option<u32>),
}

/// Turns arbitrary byte chunks into per-channel PCM at the engine rate.
pub struct AudioPipeline {
    declared: Option<Declared>,
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
            Some(Encoding::Flac) => Some(Declared::Compressed("FLAC", "flac")),
            Some(Encoding::OggOpus) => Some(Declared::Compressed("Ogg Opus", "ogg")),
            // Ogg-encapsulated, or bare packets one per frame: the first bytes tell.
            Some(Encoding::Opus) => Some(Declared::Opus {
                rate_hz: sample_rate_hz.unwrap_or(48_000),
                channels: channels.max(1),
            }),
            Some(e @ (Encoding::AmrNb | Encoding::AmrWb)) => {
                let declared = Declared::Amr(e == Encoding::AmrWb, sample_rate_hz);
                codecs::check(declared)?;
                Some(declared)
            }
            Some(Encoding::G729) => {
                codecs::check(Declared::G729(sample_rate_hz))?;
                Some(Declared::G729(sample_rate_hz))
            }
            Some(Encoding::Speex) => {
                codecs::check(Declared::Speex(sample_rate_hz))?;
                Some(Declared::Speex(sample_rate_hz))
            }
            Some(e) => {
                let format =
                    SampleFormat::from_encoding(e).ok_or_else(|| AudioError::Unsupported {
                        what: format!("encoding={e}"),
                    })?;
                let sample_rate_hz = sample_rate_hz.ok_or_else(|| {
                    AudioError::Parameter(format!("encoding={e} needs sample_rate"))
                })?;
                Some(Declared::Raw(StreamSpec {
                    format,
                    sample_rate_hz,
                    channels: channels.max(1),
                }))
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

    /// The stream layout, once known (after the header for containerised audio). For a
    /// compressed stream: its decoded layout (32-bit float samples).
    pub fn spec(&self) -> Option<StreamSpec> {
        match &self.state {
            State::Decoding { spec, .. } => Some(*spec),
            State::Compressed { decoder, .. } => {
                decoder
                    .format()
                    .map(|(sample_rate_hz, channels)| StreamSpec {
                        format: SampleFormat::F32Le,
                        sample_rate_hz,
                        channels,
                    })
            }
            State::Frames { decoder, .. } => Some(StreamSpec {
                format: SampleFormat::F32Le,
                sample_rate_hz: decoder.rate_hz(),
                channels: decoder.channels(),
            }),
            State::Probing(_) => None,
        }
    }

    /// Whether pushing bytes is plain arithmetic here (headerless PCM, G.711, WAV, or the first
    /// bytes of a header): no codec, no decoder thread to wait for. A caller may then run small
    /// pushes on an async worker and hand only the rest to a blocking pool.
    pub fn decodes_inline(&self) -> bool {
        matches!(self.state, State::Probing(_) | State::Decoding { .. })
    }

    /// Corrupt packets skipped in a compressed stream so far.
    pub fn skipped_packets(&self) -> u64 {
        match &self.state {
            State::Compressed { decoder, .. } => decoder.skipped_packets(),
            State::Frames { decoder, .. } => decoder.skipped(),
            _ => 0,
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
            State::Compressed { decoder, .. } => decoder
                .format()
                .map_or(0.0, |(rate, _)| decoder.frames() as f64 / f64::from(rate)),
            State::Frames { decoder, .. } => decoder.frames() as f64 / f64::from(decoder.rate_hz()),
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
        match self.declared {
            Some(Declared::Raw(spec)) => {
                self.start(spec)?;
                return Ok(Some(buf));
            }
            Some(Declared::Compressed(name, ext)) => {
                self.start_compressed(name, ext)?;
                return Ok(Some(buf));
            }
            Some(Declared::Opus { .. }) if buf.starts_with(b"OggS") => {
                self.start_compressed("Ogg Opus", "ogg")?;
                return Ok(Some(buf));
            }
            Some(Declared::Opus { rate_hz, channels }) => {
                self.start_frames(codecs::raw_opus(rate_hz, channels)?)?;
                return Ok(Some(buf));
            }
            Some(Declared::Amr(wideband, rate)) => {
                self.start_frames(codecs::amr(wideband, rate)?)?;
                return Ok(Some(buf));
            }
            Some(Declared::G729(rate)) => {
                self.start_frames(codecs::g729(rate)?)?;
                return Ok(Some(buf));
            }
            Some(Declared::Speex(rate)) => {
                return match codecs::speex(&buf, rate)? {
                    Some(decoder) => {
                        self.start_frames(decoder)?;
                        Ok(Some(buf))
                    }
                    None => {
                        self.state = State::Probing(buf);
                        Ok(None)
                    }
                };
            }
            None => {}
        }
        let ext = match kind {
            Sniffed::NeedMore => {
                self.state = State::Probing(buf);
                return Ok(None);
            }
            Sniffed::Unknown => {
                return Err(AudioError::UnknownContainer {
                    found: describe(&buf),
                })
            }
            Sniffed::Ogg => match codecs::ogg_speex(&buf)? {
                None => {
                    self.state = State::Probing(buf);
                    return Ok(None);
                }
                Some(Some(decoder)) => {
                    self.start_frames(decoder)?;
                    return Ok(Some(buf));
                }
                Some(None) => "ogg",
            },
            Sniffed::AmrNb | Sniffed::AmrWb => {
                let wideband = kind == Sniffed::AmrWb;
                self.start_frames(codecs::amr(wideband, None)?)?;
                return Ok(Some(buf));
            }
            Sniffed::Aiff => "aiff",
            Sniffed::Matroska => "webm",
            Sniffed::Flac => "flac",
            Sniffed::Mp3 => "mp3",
            Sniffed::Aac => "aac",
            Sniffed::Mp4 => "m4a",
            Sniffed::Wav => {
                return Err(AudioError::Unsupported {
                    what: kind.name().to_owned(),
                })
            }
        };
        self.start_compressed(kind.name(), ext)?;
        Ok(Some(buf))
    }

    fn start_frames(&mut self, decoder: Box<dyn FrameStream + Send>) -> Result<(), AudioError> {
        let n = match self.mode {
            ChannelMode::Split => usize::from(decoder.channels()),
            ChannelMode::MixDown => 1,
        };
        let resamplers = (0..n)
            .map(|_| StreamResampler::new(decoder.rate_hz(), self.target_rate_hz))
            .collect::<Result<Vec<_>, _>>()?;
        self.outputs = vec![Vec::new(); n];
        self.state = State::Frames {
            decoder,
            resamplers,
        };
        Ok(())
    }

    fn start_compressed(
        &mut self,
        name: &'static str,
        ext: &'static str,
    ) -> Result<(), AudioError> {
        self.state = State::Compressed {
            decoder: Box::new(CompressedDecoder::new(name, Some(ext))?),
            resamplers: Vec::new(),
        };
        Ok(())
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
                self.decode(&rest)?;
            }
        } else {
            self.decode(bytes)?;
        }
        Ok(&self.outputs)
    }

    /// The input has ended: a compressed stream's decoder finishes its last frames, which are
    /// returned like [`push`](Self::push) returns audio. Call [`flush`](Self::flush) after it.
    pub fn end_input(&mut self) -> Result<&[Vec<f32>], AudioError> {
        for o in &mut self.outputs {
            o.clear();
        }
        self.interleaved.clear();
        if let State::Probing(buf) = &mut self.state {
            let buf = std::mem::take(buf);
            match self.declared {
                _ if buf.is_empty() => {}
                // A few raw bytes that looked like the start of a WAV header: they are audio.
                Some(Declared::Raw(spec)) => {
                    self.start(spec)?;
                    self.decode(&buf)?;
                }
                _ => {
                    let kind = sniff(&buf);
                    return Err(AudioError::Decode {
                        what: if kind == Sniffed::NeedMore || kind == Sniffed::Unknown {
                            "audio"
                        } else {
                            kind.name()
                        },
                        detail: format!(
                            "the stream ended after {} bytes, inside its header",
                            buf.len()
                        ),
                    });
                }
            }
        }
        match &mut self.state {
            State::Compressed { decoder, .. } => {
                decoder.finish(&mut self.interleaved)?;
                self.route_compressed()?;
            }
            State::Frames { .. } => self.feed_frames(None)?,
            _ => {}
        }
        Ok(&self.outputs)
    }

    /// Sends the decoded samples in `self.interleaved` on, starting the resamplers the first
    /// time the decoder has reported its format.
    fn route_compressed(&mut self) -> Result<(), AudioError> {
        let State::Compressed {
            decoder,
            resamplers,
        } = &mut self.state
        else {
            return Ok(());
        };
        let Some((rate, channels)) = decoder.format() else {
            return Ok(());
        };
        if resamplers.is_empty() {
            let n = match self.mode {
                ChannelMode::Split => usize::from(channels.max(1)),
                ChannelMode::MixDown => 1,
            };
            *resamplers = (0..n)
                .map(|_| StreamResampler::new(rate, self.target_rate_hz))
                .collect::<Result<Vec<_>, _>>()?;
            self.outputs = vec![Vec::new(); n];
        }
        route(
            self.mode,
            &self.interleaved,
            usize::from(channels.max(1)),
            resamplers,
            &mut self.outputs,
            &mut self.channel_in,
        );
        Ok(())
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<(), AudioError> {
        self.interleaved.clear();
        match &mut self.state {
            State::Decoding {
                decoder,
                spec,
                resamplers,
            } => {
                if decoder.push(bytes, &mut self.interleaved) > 0 {
                    route(
                        self.mode,
                        &self.interleaved,
                        usize::from(spec.channels),
                        resamplers,
                        &mut self.outputs,
                        &mut self.channel_in,
                    );
                }
                Ok(())
            }
            State::Compressed { decoder, .. } => {
                decoder.push(bytes, &mut self.interleaved)?;
                self.route_compressed()
            }
            State::Frames { .. } => self.feed_frames(Some(bytes)),
            State::Probing(_) => Ok(()),
        }
    }

    /// Feeds a framed codec `bytes` (with `None`: tells it the input ended) and routes what it
    /// decodes.
    fn feed_frames(&mut self, bytes: Option<&[u8]>) -> Result<(), AudioError> {
        let State::Frames {
            decoder,
            resamplers,
        } = &mut self.state
        else {
            return Ok(());
        };
        match bytes {
            Some(bytes) => decoder.push(bytes, &mut self.interleaved)?,
            None => decoder.finish(&mut self.interleaved)?,
        }
        route(
            self.mode,
            &self.interleaved,
            usize::from(decoder.channels()),
            resamplers,
            &mut self.outputs,
            &mut self.channel_in,
        );
        Ok(())
    }

    /// Flush the resamplers' held-back tails (Finalize / end of stream).
    /// `channel` limits the flush to one output stream.
    pub fn flush(&mut self, channel: Option<usize>) -> &[Vec<f32>] {
        for o in &mut self.outputs {
            o.clear();
        }
        let resamplers = match &mut self.state {
            State::Decoding { resamplers, .. } | State::Compressed { resamplers, .. } => {
                Some(resamplers)
            }
            State::Frames { resamplers, .. } => Some(resamplers),
            State::Probing(_) => None,
        };
        if let Some(resamplers) = resamplers {
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

/// Interleaved samples with `ch` channels → one stream per resampler (split or mixed down) at
/// the engine rate, appended to `outputs`.
fn route(
    mode: ChannelMode,
    interleaved: &[f32],
    ch: usize,
    resamplers: &mut [StreamResampler],
    outputs: &mut [Vec<f32>],
    scratch: &mut Vec<f32>,
) {
    for (i, (resampler, out)) in resamplers.iter_mut().zip(outputs.iter_mut()).enumerate() {
        if mode == ChannelMode::MixDown && ch == 1 {
            // Mono: nothing to split or mix.
            resampler.push(interleaved, out);
            continue;
        }
        scratch.clear();
        match mode {
            ChannelMode::Split => scratch.extend(interleaved.iter().skip(i).step_by(ch)),
            ChannelMode::MixDown => scratch.extend(
                interleaved
                    .chunks_exact(ch)
                    .map(|f| f.iter().sum::<f32>() / ch as f32),
            ),
        }
        resampler.push(scratch, out);
    }
}

mod codecs;
#[cfg(test)]
mod tests;
