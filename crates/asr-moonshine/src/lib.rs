//! # hark-asr-moonshine — the Moonshine engines on candle
//!
//! What this crate does:
//! - loads Moonshine checkpoints in the Hugging Face layout (`config.json`, `model.safetensors`
//!   or a quantized `model.gguf` ([`gguf`]), `tokenizer.json`), both architectures ([`config`]): **Moonshine Streaming**
//!   (`moonshine_streaming`: a raw-audio frontend and an encoder whose attention is limited to a
//!   window around each frame, so audio is encoded as it arrives, each frame once — [`streaming`])
//!   and the first **Moonshine** (`moonshine`: a convolution stem and a full-attention encoder over
//!   the whole segment, at its own length — [`original`]);
//! - runs our own implementation of the shared decoder ([`decoder`]), whose cross-attention keys
//!   and values are computed once per encoder frame, its products packed (q8_0 on the CPU by
//!   default), with greedy decoding of one segment or of many at once, one batched step per
//!   token ([`model`]);
//! - times words by dynamic time warping over the decoder's cross-attention ([`align`]);
//! - serves windows behind `hark_asr::Engine` ([`MoonshineEngine`]): a live stream's windows
//!   carry a `StreamKey`, and for Moonshine Streaming the engine keeps one encoder per stream
//!   across its segments ([`stream`]), so each audio frame is encoded once: interims encode only
//!   the audio that is new, and a new segment's context is taken from frames already encoded
//!   (bounded: 32 streams, 15 s of frames each). A batch's windows decode together; each layer's
//!   attention runs over every row's own caches in one call (`hark_kernels::rows`).
//!
//! What it does not do: serving or the live policy (`hark-server`, `hark-live`), beam search,
//! languages other than the checkpoint's, a decoder that carries its hypothesis across interims
//! (each window is decoded again, with the words the live policy agreed on forced).

pub mod align;
pub mod config;
pub mod decoder;
mod engine;
mod error;
pub mod gguf;
pub mod layers;
pub mod model;
pub mod original;
pub mod stream;
pub mod streaming;

pub use config::{Arch, MoonshineConfig};
pub use engine::MoonshineEngine;
pub use error::MoonshineError;
pub use model::{DecodeJob, Hypothesis, Moonshine};
