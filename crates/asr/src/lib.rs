//! # hark-asr — the seam between sessions and speech engines
//!
//! What this crate does:
//! - defines the [`Engine`] trait every model implements (`hark-asr-whisper`, later others): it
//!   transcribes a **batch** of audio windows in one call;
//! - runs each engine on one inference thread ([`Scheduler`]): it sleeps until work arrives,
//!   gathers every queued window (up to a batch limit) and runs them as one batch; admission is by
//!   stream slots, and a stream that cannot get one is refused, never slowed down;
//! - maps `?model=` names (including Deepgram's `nova-3`, `general`, `None`) to loaded engines
//!   ([`ModelRegistry`]);
//! - finds model files on disk and pulls them into the Hugging Face cache ([`models`]).
//!
//! What it does not do: HTTP/WebSocket, audio decoding, text formatting, or model maths.

mod engine;
mod error;
pub mod models;
mod registry;
mod scheduler;

pub use engine::{
    AudioWindow, DecodeOptions, Engine, ModelDescriptor, Transcript, WindowContext, WordTiming,
};
pub use error::AsrError;
pub use registry::{ModelRegistry, DEEPGRAM_MODEL_NAMES};
pub use scheduler::{Cancel, Reply, Scheduler, SchedulerConfig, StreamSlot};
