//! # hark-asr-moonshine — the Moonshine engines on candle
//!
//! What this crate does:
//! - loads Moonshine checkpoints in the Hugging Face layout (`config.json`, `model.safetensors`,
//!   `tokenizer.json`), both architectures ([`config`]): **Moonshine Streaming**
//!   (`moonshine_streaming`: a raw-audio frontend and an encoder whose attention is limited to a
//!   window around each frame, so audio is encoded as it arrives, each frame once — [`streaming`])
//!   and the first **Moonshine** (`moonshine`: a convolution stem and a full-attention encoder over
//!   the whole segment, at its own length — [`original`]);
//! - runs our own implementation of the shared decoder ([`decoder`]), whose cross-attention keys
//!   and values are computed once per encoder frame, with greedy decoding ([`model`]).
//!
//! What it does not do (yet): serving, the live policy, beam search, timestamps beyond the
//! cross-attention peak of each token.

pub mod align;
pub mod config;
pub mod decoder;
mod engine;
mod error;
pub mod layers;
pub mod model;
pub mod original;
pub mod streaming;

pub use config::{Arch, MoonshineConfig};
pub use engine::MoonshineEngine;
pub use error::MoonshineError;
pub use model::{Hypothesis, Moonshine};
