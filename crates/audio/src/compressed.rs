//! Containers and compressed codecs (Ogg, WebM/Matroska, MP4/M4A, MP3, ADTS AAC, FLAC; Vorbis,
//! Opus, AAC, MP3, FLAC, PCM inside them), decoded as the bytes arrive.
//!
//! symphonia reads from a blocking `Read`, so each compressed stream gets one decoder thread that
//! reads from a small shared buffer. [`CompressedDecoder::push`] appends bytes, wakes the thread
//! and waits until it has consumed them all and is blocked waiting for more: every push returns
//! all the audio its bytes completed, deterministically, and memory never holds more than one
//! push plus symphonia's read-ahead. A corrupt packet is skipped and counted; a broken container
//! ends the stream with an error. Opus packets (demuxed by symphonia) are decoded by libopus.

use crate::error::AudioError;
use crate::mp4_edits::{EditScan, Scanning};
use std::collections::VecDeque;
use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;

/// Container errors in a row (no packet read between them) after which the stream is broken: the
/// reader may report the same error again without moving on, and retrying for ever span a
/// thread (found by `fuzz/`'s `audio_sniffed` target on 1 KiB of crafted WebM).
const MAX_CONTAINER_ERRORS_IN_A_ROW: u32 = 64;
/// How long a push may wait for the decoder before the stream is declared stuck.
const STALL: Duration = Duration::from_secs(10);
/// An MP4 whose index (`moov`) comes after its audio cannot be read as it streams; up to this
/// much of it is kept so it can be decoded, seekably, when the input ends.
const MAX_BUFFERED_MP4_BYTES: usize = 256 << 20;

#[derive(Default)]
struct Feed {
    buf: VecDeque<u8>,
    eof: bool,
    /// The decoder thread is blocked in `read` with nothing to read.
    starved: bool,
    done: bool,
}

type Shared = Arc<(Mutex<Feed>, Condvar)>;

enum Event {
    Format { rate_hz: u32, channels: u16 },
    Pcm(Vec<f32>),
    Skipped,
    Failed(String),
}

/// A streaming decoder for one compressed stream.
pub struct CompressedDecoder {
    shared: Shared,
    events: mpsc::Receiver<Event>,
    worker: Option<JoinHandle<()>>,
    format: Option<(u32, u16)>,
    frames: u64,
    skipped: u64,
    failed: Option<String>,
    what: &'static str,
    extension: Option<&'static str>,
    /// MP4 only: every byte so far, for the index-last fallback (dropped past the cap).
    copy: Option<Vec<u8>>,
    /// The streaming reader gave up for want of the index: decode `copy` at the end.
    buffered: bool,
}

impl CompressedDecoder {
    /// `what` names the container for errors (`"MP3"`, `"Ogg"` …); `extension` hints the prober.
    pub fn new(what: &'static str, extension: Option<&'static str>) -> Result<Self, AudioError> {
        let shared: Shared = Arc::default();
        let (tx, events) = mpsc::channel();
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("hark-audio-decode".into())
            .spawn(move || {
                run(&worker_shared, &tx, extension);
                let (lock, cv) = &*worker_shared;
                if let Ok(mut f) = lock.lock() {
                    f.done = true;
                }
                cv.notify_all();
            })
            .map_err(|e| AudioError::Decode {
                what,
                detail: format!("cannot start a decoder thread: {e}"),
            })?;
        Ok(Self {
            shared,
            events,
            worker: Some(worker),
            format: None,
            frames: 0,
            skipped: 0,
            failed: None,
            what,
            extension,
            copy: (extension == Some("m4a")).then(Vec::new),
            buffered: false,
        })
    }

    /// Frames decoded so far (per channel).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Corrupt packets skipped so far.
    pub fn skipped_packets(&self) -> u64 {
        self.skipped
    }

    /// Sample rate and channel count, once known.
    pub fn format(&self) -> Option<(u32, u16)> {
        self.format
    }

    /// Feeds `bytes`; returns everything they let the decoder produce.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        if let Some(copy) = self.copy.as_mut() {
            if copy.len() + bytes.len() <= MAX_BUFFERED_MP4_BYTES {
                copy.extend_from_slice(bytes);
            } else if self.buffered {
                return Err(self.error(format!(
                    "an MP4 with its index at the end must be under {} MiB; re-mux it with `-movflags +faststart` to stream it",
                    MAX_BUFFERED_MP4_BYTES >> 20
                )));
            } else {
                self.copy = None;
            }
        }
        if self.buffered {
            return Ok(());
        }
        {
            let (lock, cv) = &*self.shared;
            let mut f = lock
                .lock()
                .map_err(|_| self.error("decoder state poisoned"))?;
            f.buf.extend(bytes);
            f.starved = false;
            cv.notify_all();
        }
        self.settle(false)?;
        self.collect(out)
    }

    /// The input has ended: lets the decoder finish and returns the last audio.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        {
            let (lock, cv) = &*self.shared;
            let mut f = lock
                .lock()
                .map_err(|_| self.error("decoder state poisoned"))?;
            f.eof = true;
            cv.notify_all();
        }
        self.settle(true)?;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        self.collect(out)?;
        if let (true, Some(copy)) = (self.buffered, self.copy.take()) {
            let (tx, events) = mpsc::channel();
            // All of it is here: read its edit list first (the reader must stay seekable).
            let mut edits = EditScan::default();
            edits.feed(&copy);
            let scan = Arc::new(Mutex::new(edits));
            let mss =
                MediaSourceStream::new(Box::new(std::io::Cursor::new(copy)), Default::default());
            if let Err(e) = decode_stream(mss, self.extension, Some(scan), &tx) {
                let _ = tx.send(Event::Failed(e));
            }
            drop(tx);
            self.events = events;
            self.collect(out)?;
        }
        Ok(())
    }

    /// Waits until the decoder has used every byte and waits for more (or has ended).
    fn settle(&mut self, to_end: bool) -> Result<(), AudioError> {
        let (lock, cv) = &*self.shared;
        let started = Instant::now();
        let mut f = lock
            .lock()
            .map_err(|_| self.error("decoder state poisoned"))?;
        while !(f.done || (!to_end && f.starved && f.buf.is_empty())) {
            let left = STALL.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(self.error("the decoder stopped making progress"));
            }
            f = cv
                .wait_timeout(f, left.min(Duration::from_millis(200)))
                .map_err(|_| self.error("decoder state poisoned"))?
                .0;
        }
        Ok(())
    }

    fn collect(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        while let Ok(ev) = self.events.try_recv() {
            match ev {
                Event::Format { rate_hz, channels } => {
                    if self.format.is_some_and(|f| f != (rate_hz, channels)) {
                        return Err(self.error("the stream changed its sample rate or channels"));
                    }
                    self.format = Some((rate_hz, channels));
                }
                Event::Pcm(pcm) => {
                    let ch = self.format.map_or(1, |f| usize::from(f.1.max(1)));
                    self.frames += (pcm.len() / ch) as u64;
                    out.extend_from_slice(&pcm);
                }
                Event::Skipped => self.skipped += 1,
                // An MP4 with its index last: keep the bytes, decode them when the input ends.
                Event::Failed(e)
                    if self.copy.is_some() && self.frames == 0 && e.contains("moov") =>
                {
                    self.buffered = true;
                }
                Event::Failed(e) => self.failed = Some(e),
            }
        }
        match &self.failed {
            Some(e) => Err(self.error(e)),
            None => Ok(()),
        }
    }

    fn error(&self, detail: impl Into<String>) -> AudioError {
        AudioError::Decode {
            what: self.what,
            detail: detail.into(),
        }
    }
}

impl Drop for CompressedDecoder {
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        if let Ok(mut f) = lock.lock() {
            f.eof = true;
            f.buf.clear();
        }
        cv.notify_all();
        // The thread ends at its next read; it is not joined here so a drop never blocks.
    }
}

/// The decoder thread's end of the shared buffer.
struct FeedReader(Shared);

impl Read for FeedReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let (lock, cv) = &*self.0;
        let mut f = lock
            .lock()
            .map_err(|_| std::io::Error::other("decoder state poisoned"))?;
        loop {
            if !f.buf.is_empty() {
                return f.buf.read(out);
            }
            if f.eof {
                return Ok(0);
            }
            f.starved = true;
            cv.notify_all();
            f = cv
                .wait(f)
                .map_err(|_| std::io::Error::other("decoder state poisoned"))?;
        }
    }
}

fn run(shared: &Shared, tx: &mpsc::Sender<Event>, extension: Option<&'static str>) {
    if let Err(e) = decode_all(shared, tx, extension) {
        let _ = tx.send(Event::Failed(e));
    }
}

fn decode_all(
    shared: &Shared,
    tx: &mpsc::Sender<Event>,
    extension: Option<&'static str>,
) -> Result<(), String> {
    let scan = Arc::new(Mutex::new(EditScan::default()));
    let reader = Scanning {
        inner: FeedReader(Arc::clone(shared)),
        scan: Arc::clone(&scan),
    };
    let mss = MediaSourceStream::new(Box::new(ReadOnlySource::new(reader)), Default::default());
    decode_stream(
        mss,
        extension,
        (extension == Some("m4a")).then_some(scan),
        tx,
    )
}

/// Decode a container. `edits`: an MP4's edit list as read so far (complete before the first
/// packet), which trims the encoder's priming and padding.
fn decode_stream(
    mss: MediaSourceStream,
    extension: Option<&'static str>,
    edits: Option<Arc<Mutex<EditScan>>>,
    tx: &mpsc::Sender<Event>,
) -> Result<(), String> {
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| format!("not a stream hark can read: {e}"))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or("the stream has no audio track")?;
    let track_id = track.id;
    let delay_frames = usize::try_from(track.delay.unwrap_or(0)).unwrap_or(0);
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or("the audio track has no codec parameters")?
        .clone();
    let mut decoder: Box<dyn PacketDecoder> = if params.codec == CODEC_ID_OPUS {
        opus_decoder(params.channels.as_ref().map_or(1, |c| c.count()))?
    } else {
        let d = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| format!("unsupported codec: {e}"))?;
        Box::new(Symphonia(d))
    };
    // Opus's pre-skip (the track's delay): frames the encoder primed with, not audio.
    let mut skip_frames = if decoder.trims() { delay_frames } else { 0 };
    let mut announced = None;
    let mut pcm = Vec::new();
    // Frames left to send under an MP4 edit list (`None`: no limit).
    let mut left: Option<u64> = None;
    let mut errors_in_a_row = 0;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(()),
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(())
            }
            Err(SymError::DecodeError(e)) => {
                errors_in_a_row += 1;
                if errors_in_a_row >= MAX_CONTAINER_ERRORS_IN_A_ROW {
                    return Err(format!(
                        "the container is corrupt ({errors_in_a_row} errors in a row, the last: {e})"
                    ));
                }
                let _ = tx.send(Event::Skipped);
                continue;
            }
            Err(e) => return Err(format!("reading the container: {e}")),
        };
        errors_in_a_row = 0;
        if packet.track_id != track_id {
            continue;
        }
        pcm.clear();
        match decoder.decode(&packet, &mut pcm) {
            Ok((rate_hz, channels)) => {
                if announced != Some((rate_hz, channels)) {
                    if announced.is_none() {
                        let trim = edits
                            .as_ref()
                            .and_then(|e| e.lock().ok().and_then(|e| e.trim(rate_hz)));
                        if let Some(t) = trim {
                            skip_frames += usize::try_from(t.skip).unwrap_or(0);
                            left = t.keep;
                        }
                    }
                    announced = Some((rate_hz, channels));
                    let _ = tx.send(Event::Format { rate_hz, channels });
                }
                let ch = usize::from(channels.max(1));
                let frames = pcm.len() / ch;
                let start = skip_frames.min(frames);
                skip_frames -= start;
                let end = if decoder.trims() {
                    frames
                        .saturating_sub(usize::try_from(packet.trim_end.get()).unwrap_or(0))
                        .max(start)
                } else {
                    frames
                };
                // The edit list's end: padding after the audio is dropped.
                let end = match left.as_mut() {
                    Some(l) => {
                        let n = ((end - start) as u64).min(*l);
                        *l -= n;
                        start + n as usize
                    }
                    None => end,
                };
                if (start, end) != (0, frames) {
                    pcm = pcm[start * ch..end * ch].to_vec();
                }
                if !pcm.is_empty() && tx.send(Event::Pcm(std::mem::take(&mut pcm))).is_err() {
                    return Ok(());
                }
            }
            Err(Skip) => {
                let _ = tx.send(Event::Skipped);
            }
        }
    }
}

#[cfg(feature = "opus")]
fn opus_decoder(channels: usize) -> Result<Box<dyn PacketDecoder>, String> {
    Ok(Box::new(crate::opus::OpusPackets::new(channels)?))
}

#[cfg(not(feature = "opus"))]
fn opus_decoder(_channels: usize) -> Result<Box<dyn PacketDecoder>, String> {
    Err("this build of hark has no Opus decoder (cargo feature `opus`, which needs cmake)".into())
}

/// A corrupt packet: skipped, counted, not fatal.
pub(crate) struct Skip;

/// One packet in, interleaved f32 out.
pub(crate) trait PacketDecoder {
    /// Decodes into `out`; returns the (rate, channels) of what it wrote.
    fn decode(&mut self, packet: &Packet, out: &mut Vec<f32>) -> Result<(u32, u16), Skip>;
    /// Whether the container's trim (encoder delay, padding) must be applied to the output.
    fn trims(&self) -> bool;
}

struct Symphonia(Box<dyn AudioDecoder>);

impl PacketDecoder for Symphonia {
    fn decode(&mut self, packet: &Packet, out: &mut Vec<f32>) -> Result<(u32, u16), Skip> {
        let buf = self.0.decode(packet).map_err(|_| Skip)?;
        let rate = buf.spec().rate();
        let channels = u16::try_from(buf.spec().channels().count()).unwrap_or(u16::MAX);
        let start = out.len();
        out.resize(start + buf.samples_interleaved(), 0.0);
        buf.copy_to_slice_interleaved(&mut out[start..]);
        Ok((rate, channels))
    }
    fn trims(&self) -> bool {
        false
    }
}
