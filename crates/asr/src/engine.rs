//! The engine trait and the data that crosses it.

use crate::error::AsrError;

/// Identity of a loaded model, reported in every Results `metadata` and in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDescriptor {
    /// Name clients select with `?model=`, e.g. `whisper-base.en`.
    pub name: String,
    pub version: String,
    /// Architecture, e.g. `whisper`.
    pub arch: String,
    /// Stable id for this model build (a UUID string).
    pub uuid: String,
}

impl ModelDescriptor {
    /// A stable UUID-shaped id derived from a model's config text (FNV-1a), so restarts keep the
    /// same id.
    pub fn uuid_from(config_text: &str) -> String {
        let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        for b in config_text.bytes() {
            h ^= u128::from(b);
            h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
        }
        let s = format!("{h:032x}");
        format!(
            "{}-{}-4{}-8{}-{}",
            &s[0..8],
            &s[8..12],
            &s[13..16],
            &s[17..20],
            &s[20..32]
        )
    }
}

/// Per-window decoding options taken from the session's query parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeOptions {
    /// BCP-47 language, or `None` to detect it.
    pub language: Option<String>,
    /// When detecting: the languages to choose from (empty: any the model knows).
    pub language_candidates: Vec<String>,
    /// Terms to bias recognition towards (`keyterm`).
    pub keyterms: Vec<String>,
    /// Words whose likelihood is scaled (`keywords=WORD:INTENSIFIER`): above 0 boosts them,
    /// below 0 suppresses them, 0 changes nothing.
    pub keywords: Vec<(String, f32)>,
    /// Text the window is known to begin with (in live streaming, the words that the latest
    /// hypotheses of a growing segment agreed on). An engine may take it as given and decode only
    /// what follows; the transcript still holds those words, timed. Empty: none.
    pub known_start: String,
    /// What came just before the window (empty: nothing known).
    pub context: WindowContext,
    /// The window is a slice of a long recording (pre-recorded transcription) and may hold
    /// several utterances with pauses between them: an engine should decode for completeness
    /// rather than latency (Whisper decodes with timestamp tokens, as it does long-form audio,
    /// which keeps it from skipping an utterance after a pause). `known_start` and `context` are
    /// not used then.
    pub long_form: bool,
    /// For a `long_form` window: where a VAD heard speech in it (sample ranges from its start).
    /// An engine with a fast and a thorough way to decode may take the fast one and check its
    /// words against these ([`crate::missed_speech`]): a window whose words leave out speech is
    /// decoded again the thorough way. `None`: not known (decode thoroughly).
    pub speech_spans: Option<Vec<(usize, usize)>>,
    /// Which live stream and segment the window belongs to (`None`: none, e.g. pre-recorded).
    pub stream: Option<StreamKey>,
}

/// Where a live window sits, for engines that keep per-stream state: a segment's windows (its
/// interims, then its final) share `stream` and `segment_start` and grow at the end, so an engine
/// whose encoder runs frame by frame (Moonshine Streaming) resumes from what it computed for the
/// earlier windows instead of encoding their audio again. Engines without such state ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamKey {
    /// Unique per session and channel for the life of the process ([`next_stream_id`]).
    pub stream: u64,
    /// The window's first sample on the channel's clock.
    pub segment_start: u64,
    /// The window ends its segment (a final): the engine may free the stream's state after it.
    pub last: bool,
    /// The window is sent ahead of its segment's next decode so that the engine takes its audio
    /// in now: no transcript is wanted (the engine answers an empty one). An engine whose encoder
    /// runs frame by frame encodes it, so that the segment's next window (a final above all)
    /// finds its audio encoded and waits only for what came after. Sent only to engines that
    /// [take audio ahead](Engine::takes_audio_ahead).
    pub ahead: bool,
}

/// A process-wide unique stream id.
pub fn next_stream_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Audio and its words that came just before a window: in live streaming, the end of the
/// channel's previous finals. An engine that hears the window in this context (as Whisper hears
/// speech that runs on across a pause inside one 30 s window) recognises a short segment, such as
/// one word after a long pause, far better than it does alone. The transcript still holds only
/// the window's own words, timed from the window's start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowContext {
    /// The audio immediately before the window, at the engine's sample rate.
    pub samples: Vec<f32>,
    /// What was said in that audio (its words, space-separated); empty: no context is used.
    pub text: String,
    /// The languages those words were decoded in (multilingual models; empty: not known). A
    /// window heard in another language is decoded without this context: forcing words of one
    /// language before a window decoded in another made Whisper end its text at once.
    pub languages: Vec<String>,
}

impl WindowContext {
    /// Whether there is a context to use.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty() || self.samples.is_empty()
    }
}

/// One window of mono audio at the engine's sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioWindow {
    pub samples: Vec<f32>,
    pub options: DecodeOptions,
    /// Set by the scheduler on a deferrable window (an interim; `submit` clears it, since a due
    /// window is never withdrawn). Once it is cancelled the window's result will be discarded, so
    /// an engine may stop working on it mid-call (the Whisper engine stops decoding it at the next
    /// step). `None`: always wanted.
    pub withdrawn: Option<crate::cancel::Cancel>,
}

impl AudioWindow {
    /// Whether the window was withdrawn (its result is no longer wanted).
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn
            .as_ref()
            .is_some_and(crate::cancel::Cancel::is_cancelled)
    }
}

/// One recognised word, timed relative to the start of its window.
#[derive(Debug, Clone, PartialEq)]
pub struct WordTiming {
    /// Written form as the model produced it, e.g. `Hello,`.
    pub text: String,
    pub start_s: f32,
    pub end_s: f32,
    pub confidence: f32,
}

/// What an engine heard in one window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    pub words: Vec<WordTiming>,
    /// The language the window was decoded in (given or detected), for multilingual models.
    pub language: Option<String>,
}

/// A speech-to-text model. Owned by exactly one inference thread, so methods take `&mut self`.
pub trait Engine: Send {
    fn descriptor(&self) -> &ModelDescriptor;
    /// The sample rate windows must be in, e.g. 16 000.
    fn sample_rate_hz(&self) -> u32;
    /// The longest window the model accepts, in samples.
    fn max_window_samples(&self) -> usize;
    /// Transcribe every window of the batch in one model call; one [`Transcript`] per window, in order.
    fn transcribe_batch(&mut self, windows: &[AudioWindow]) -> Result<Vec<Transcript>, AsrError>;
    /// Whether live windows sent [ahead](StreamKey::ahead) of their segment's decodes help: the
    /// engine keeps per-stream state that can take audio in as it arrives. Default: no.
    fn takes_audio_ahead(&self) -> bool {
        false
    }
}
