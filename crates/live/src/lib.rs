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
//! - For an engine that takes audio ahead (one whose encoder runs frame by frame and keeps per-stream
//!   state, [`hark_asr::Engine::takes_audio_ahead`]), a segment holding speech is also sent about
//!   every `ahead_samples` of new audio between its decodes, as a deferrable window that asks for no
//!   transcript ([`DecodeRequest::ahead`]): the engine encodes it then, so a final has only the
//!   last fraction of a second left to encode. At most one is in flight per channel, none while
//!   finals wait for the model or the channel's last final is unanswered (its context would lack
//!   that final's words), and the segment's final withdraws one not yet run.
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
//! For Flux (`/v2/listen`), [`TurnTracker`] turns the results and the VAD's state into turns:
//! `StartOfTurn`, `Update`, `EagerEndOfTurn`, `TurnResumed` and `EndOfTurn` (see its module).
//!
//! For a whole recording (pre-recorded requests), [`BatchCutter`] cuts each channel into windows
//! at pauses, all of which may be decoded at once.
//!
//! What it does not do: sockets, futures or threads (no tokio, no axum, no wire format), audio
//! decoding or resampling (it takes engine-rate samples), model maths, or text formatting.

mod agree;
mod batch;
mod channel;
mod decision;
mod history;
mod segmenter;
mod stream;
mod turn;

pub use agree::keep_within;
pub use batch::{BatchCutter, BatchWindow};
pub use decision::{Decision, DecodeRequest, LiveConfig, Priority, ResultSpan, Ticket};
pub use history::History;
pub use segmenter::{Segment, Segmenter};
pub use stream::LiveStream;
pub use turn::{
    silence_score, word_evidence, SpeechState, Step, Thresholds, Trigger, TurnEvent, TurnEventKind,
    TurnTracker,
};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod turn_tests;
