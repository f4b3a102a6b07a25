//! # hark-live — the live streaming policy, as synchronous decisions
//!
//! One [`LiveStream`] per connection (all its channels) decides what happens to its audio: when
//! a window is decoded and why, which result each decode answers, when speech starts and an
//! utterance ends. It is plain data driven by calls: [`LiveStream::push`] (engine-rate audio),
//! [`LiveStream::finalize`], [`LiveStream::close`], [`LiveStream::on_transcript`] (an engine answered), and
//! [`LiveStream::on_sent`] / [`LiveStream::utterance_end`]. It returns [`Decision`]s; the caller
//! runs the decodes, sends the results in the order decided, and reports back.
//!
//! The policy, per channel:
//! - Audio accumulates in a segment that starts where the previous final ended, so finals tile
//!   the timeline and never rewrite each other.
//! - An endpoint (VAD: `endpointing` ms of silence after speech) closes the segment with
//!   `speech_final:true`; a full model window closes it with `speech_final:false`; `Finalize` and
//!   the end of the stream close it with `from_finalize` / at close.
//! - With `interim_results`, a segment holding speech is decoded about every `interim_ms` of new
//!   audio as `is_final:false` (same `start`, growing `duration`), at most one in flight, and none
//!   while finals are waiting for the engine: under load interims thin out so that finals stay
//!   on time. Interims are [`Priority::Deferrable`]: they may wait behind the model call that is
//!   running (so the interims of many streams run together as one batch), finals run first, and
//!   one that has not run when a final decodes its segment anew is withdrawn and not sent.
//! - A segment in which the VAD heard no speech is answered without running the model.
//! - When speech pauses (the VAD leaves speech), the speech so far is decoded at once, as an
//!   interim (a silent one without `interim_results`), unless a hypothesis already covers it: the
//!   pause may become an endpoint, and this way its final is ready, or on its way, when it does.
//!   During a pause, no interim is decoded that would only repeat the one that covered the speech.
//!   (A stream with neither endpointing nor interims skips this: only a `Finalize` would use it.)
//! - At an endpoint or `Finalize` after the speech has stopped, if the latest interim of the
//!   segment already covered all of its speech (what followed is silence), that interim's
//!   transcript becomes the final at once: no second decode. If such an interim is still in
//!   flight, the final awaits it instead of queueing a decode behind it.
//! - Long speech without a pause is finalized at a word boundary before the window fills
//!   (`speech_final:false`), LocalAgreement-style: once the segment holds two thirds of a window,
//!   the words on which the segment's last two hypotheses agree, up to a second before the audio
//!   they covered ends, become a final, cut between the last of them and the next word. The rest
//!   of the audio starts the next segment. Hypotheses are the interims, or, without
//!   `interim_results`, silent probes decoded once a second from two seconds before that point.
//!   Only when no two hypotheses agree in time is a segment cut at the full window.
//! - Every later decode of the segment (interim, probe or final) passes those agreed words to the
//!   engine as the window's known beginning, and a final cannot contradict what the interims
//!   agreed on.
//! - An endpoint cuts its segment in the middle of the pause after the speech, not where the VAD
//!   decided (by then the next word may have begun); the rest starts the next segment.
//! - Every decode also gets what came before its segment ([`History`]): up to 8 s of the previous
//!   finals' audio and words, which the engine hears first and leaves out of the transcript.
//! - `UtteranceEnd`: once every result in flight has been sent, the first channel whose results
//!   (or the VAD's silence) cover `utterance_end_ms` after its last word.
//!
//! For a whole recording (pre-recorded requests), [`BatchCutter`] cuts each channel into windows
//! at pauses, all of which may be decoded at once.
//!
//! What it does not do: sockets, futures or threads (no tokio, no axum, no wire format), audio
//! decoding or resampling (it takes engine-rate samples), model maths, or text formatting.

mod agree;
mod batch;
mod channel;
mod history;
mod segmenter;
mod stream;

pub use agree::keep_within;
pub use batch::{BatchCutter, BatchWindow};
pub use history::History;
pub use segmenter::{Segment, Segmenter};
pub use stream::LiveStream;

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
}

impl LiveConfig {
    /// From this many buffered samples on, words the hypotheses agree on are committed.
    fn commit_after(&self) -> usize {
        self.max_window_samples / 3 * 2
    }

    /// Silent probes (without interims) start two seconds before commits may, one a second: two
    /// hypotheses are ready when the first commit is due, and short segments cost nothing extra.
    fn probe(&self) -> (usize, usize) {
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
    /// Run the model on a window, then call [`LiveStream::on_transcript`]. `result`: the result
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
    /// A result answered by the decode `from`, already in flight: [`LiveStream::on_transcript`]
    /// for `from` returns its transcript under `ticket`.
    Await {
        ticket: Ticket,
        from: Ticket,
        result: ResultSpan,
    },
}

#[cfg(test)]
mod tests;
