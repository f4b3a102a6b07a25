//! # hark-asr-whisper — the Whisper engine on candle
//!
//! What this crate does:
//! - loads a Whisper checkpoint in the Hugging Face layout (`config.json`, `tokenizer.json`,
//!   `generation_config.json`; weights as `model.safetensors` in f32/f16/bf16, a sharded checkpoint,
//!   or GGUF with quantized decoder and encoder matrices — [`weights`], which also writes such files),
//!   or a faster-whisper (CTranslate2) directory as it is ([`ct2`]), any size, 80 or 128 mel bins,
//!   with the window length taken from `max_source_positions`;
//! - gives OpenAI's models every window zero-padded to the 30 s input they were trained on, and
//!   hears a window after its context (the audio and words before it) when one is given;
//! - computes OpenAI's log-mel spectrogram, in one go or incrementally ([`mel`]);
//! - runs our own implementation of the network ([`model`]), batched (for a model trained on any
//!   length, windows of different lengths each attend only to their own audio), with
//!   cross-attention weights available for alignment, and CPU fast paths where candle's kernels are slow (`hark-kernels`: the decoder's matrices packed for few-row
//!   products, f32 or 8-bit; the encoder's products of a quantized model in 8 bits on CPUs with
//!   AVX-512 VNNI, `int8.rs`);
//! - greedy decoding or beam search ([`beam_search`]) with OpenAI's temperature fallback, suppress
//!   tokens, timestamp rules, no-speech probability, key terms as a `<|startofprev|>` prompt, a
//!   known beginning of the text (`DecodeOptions::known_start`) forced in one step,
//!   language detection, and word timestamps by DTW over the alignment heads' cross-attention,
//!   behind `hark_asr::Engine` ([`WhisperEngine`]).
//!
//! - finds model files on disk and pulls them into the Hugging Face cache ([`models`]: the
//!   catalogue of Whisper checkpoints, `hark models pull`).
//!
//! Layout, without import cycles: [`model`] (configuration, weights, the network), [`decode`] (decoding, alignment, tokenizer), [`mel`], and the engine.
//!
//! What it does not do: printing, serving, or the live streaming policy.

pub mod decode;
mod engine;
mod error;
pub mod mel;
pub mod model;
pub mod models;

pub use decode::align::{dtw, token_times};
pub use decode::beam::beam_search;
pub use decode::greedy::{
    compression_ratio, greedy, segments, DecodeConfig, Decoded, KeywordBias, TimestampRules,
};
pub use decode::tokenizer::{Specials, WhisperTokenizer};
pub use engine::WhisperEngine;
pub use error::WhisperError;
pub use model::{config, ct2, weights};
