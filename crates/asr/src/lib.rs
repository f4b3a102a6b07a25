//! # hark-asr — the seam between sessions and speech engines
//!
//! What this crate does:
//! - defines the [`Engine`] trait every model implements (`hark-asr-whisper`, later others): it
//!   transcribes a **batch** of audio windows in one call;
//! - runs each engine on one inference thread ([`Scheduler`]): it sleeps until work arrives,
//!   gathers every queued window (up to a batch limit) and runs them as one batch; admission is by
//!   stream slots, and a stream that cannot get one is refused, never slowed down;
//! - maps `?model=` names to loaded engines ([`ModelRegistry`]);
//! - measures how many real-time streams an engine holds on this machine ([`capacity`]).
//!
//! What it does not do: HTTP/WebSocket, audio decoding, the live policy (`hark-live`), text
//! formatting (`hark-text`), model maths or model files (each engine's crate).

mod cancel;
pub mod capacity;
mod coverage;
mod engine;
mod error;
mod registry;
mod scheduler;

pub use cancel::Cancel;
pub use coverage::{missed_speech, MIN_MISSED_SPEECH_S, MISSED_GAP_S};
pub use engine::{
    next_stream_id, AudioWindow, DecodeOptions, Engine, ModelDescriptor, StreamKey, Transcript,
    WindowContext, WordTiming,
};
pub use error::AsrError;
pub use registry::ModelRegistry;
pub use scheduler::{
    Counters, DueAnnounced, Reply, Scheduler, SchedulerConfig, StreamSlot, GATHER_MAX,
};
