//! What the live policy is told (its configuration) and what it decides.

use hark_asr::{Transcript, WindowContext};

/// Identifies one decode the stream asked for, or one result awaiting another's decode.
pub type Ticket = u64;

/// A stream's settings, from the server's configuration, the engine and the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveConfig {
    /// The engine's sample rate: every sample pushed is at this rate.
    pub rate_hz: u32,
    /// The longest window the engine takes, in samples.
    pub max_window_samples: usize,
    /// Run the VAD. Off: every segment is decoded, and there are no endpoints or speech events.
    /// The VAD hears 16 kHz: with another engine rate it stays off (the server says so at start).
    pub vad: bool,
    /// `endpointing`: silence (ms) after speech that ends a segment; `None`: disabled.
    pub endpointing_ms: Option<u32>,
    /// Interim cadence in samples (`interim_results`); `None`: no interims.
    pub interim_samples: Option<usize>,
    /// `vad_events`: report speech starts.
    pub vad_events: bool,
    /// `utterance_end_ms`: report `UtteranceEnd` after this much time without words.
    pub utterance_end_ms: Option<u32>,
    /// Treat speech as paused once no frame has sounded like speech for this long, before the
    /// VAD's smoothed decision leaves speech (about 100 ms later): the decode of the pause starts
    /// that much sooner. Flux sets it (a turn's end waits for that decode); `None`: the VAD decides.
    pub early_pause_ms: Option<u32>,
    /// Send a segment holding speech to the engine about every this many new samples between
    /// its decodes, for the engine to take in [ahead](hark_asr::StreamKey::ahead) of them (an
    /// engine whose encoder runs frame by frame then has little audio left to encode when a
    /// final is due). `None`: never (engines that keep no per-stream state).
    pub ahead_samples: Option<usize>,
}

impl LiveConfig {
    /// From this many buffered samples on, words the hypotheses agree on are committed.
    pub(crate) fn commit_after(&self) -> usize {
        self.max_window_samples / 3 * 2
    }

    /// Silent probes (without interims) start two seconds before commits may, one a second: two
    /// hypotheses are ready when the first commit is due, and short segments cost nothing extra.
    pub(crate) fn probe(&self) -> (usize, usize) {
        let second = self.rate_hz as usize;
        (self.commit_after().saturating_sub(2 * second), second)
    }

    /// Whether the VAD can run at `rate_hz` (it hears 16 kHz only).
    pub fn vad_supported(rate_hz: u32) -> bool {
        rate_hz == hark_vad::SAMPLE_RATE_HZ
    }
}

/// When a decode must run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Its result is due now (a final, or the decode of a pause that a final may await).
    Due,
    /// An interim: it may wait behind due windows, and may be withdrawn.
    Deferrable,
}

/// Where a result sits on a channel's clock and why it was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultSpan {
    pub channel: u16,
    pub start_sample: u64,
    pub samples: usize,
    pub is_final: bool,
    pub speech_final: bool,
    pub from_finalize: bool,
}

/// A window to decode.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeRequest {
    pub ticket: Ticket,
    pub channel: u16,
    pub start_sample: u64,
    pub samples: Vec<f32>,
    /// The words the window is known to begin with (the segment's agreed words; empty: none).
    pub known_start: String,
    /// What came before the window.
    pub context: WindowContext,
    pub priority: Priority,
    /// Sent [ahead](LiveConfig::ahead_samples) of the segment's decodes: no transcript is
    /// wanted, and none is sent ([`Priority::Deferrable`], withdrawn by the segment's final).
    pub ahead: bool,
}

/// What the caller must do, in order. Results are sent in the order of the decisions that
/// create them (`Known`, `Decode` with a result, `Await`, `SpeechStarted`).
#[derive(Debug)]
pub enum Decision {
    /// Speech started on a channel (decided only with `vad_events`).
    SpeechStarted { channel: u16, sample: u64 },
    /// Withdraw this deferrable decode: its result is no longer wanted (report it answered with
    /// no transcript if the engine drops it).
    Withdraw(Ticket),
    /// Run the model on a window, then call [`crate::LiveStream::on_transcript`]. `result`: the result
    /// its transcript answers (`None`: a silent probe, nothing is sent).
    Decode {
        request: DecodeRequest,
        result: Option<ResultSpan>,
    },
    /// A result whose transcript is known now (empty, or an interim's reused).
    Known {
        result: ResultSpan,
        transcript: Transcript,
    },
    /// A result answered by the decode `from`, already in flight: [`crate::LiveStream::on_transcript`]
    /// for `from` returns its transcript under `ticket`.
    Await {
        ticket: Ticket,
        from: Ticket,
        result: ResultSpan,
    },
}
