//! The network and what it is made from: its configuration ([`config`]), its weights read from
//! Hugging Face / GGUF files ([`weights`]) or a faster-whisper directory ([`ct2`]), and our own
//! implementation of the encoder and decoder ([`network`], whose items are re-exported here).

pub mod config;
pub mod ct2;
mod network;
pub mod weights;

pub use network::*;

use candle_core::quantized::QTensor;
use candle_core::Tensor;
use std::collections::HashMap;

/// The weights of one model: dense tensors for the network, and quantized decoder matrices.
/// (Quantized encoder matrices are read back dense; see [`Weights::quantized_encoder`].)
pub struct Weights {
    pub dense: HashMap<String, Tensor>,
    pub quantized: HashMap<String, QTensor>,
    /// Whether the file holds the encoder's layer matrices quantized: the encoder then runs them
    /// in 8 bits ([`Encoder::use_int8`]).
    pub quantized_encoder: bool,
    /// The file(s) read, for messages.
    pub source: String,
}
