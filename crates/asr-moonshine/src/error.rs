//! Typed errors of the Moonshine engine.

use thiserror::Error;

/// Why a Moonshine model could not be loaded or run.
#[derive(Debug, Error)]
pub enum MoonshineError {
    #[error("model file `{path}` is missing: {detail}")]
    MissingFile { path: String, detail: String },
    #[error("`{path}` is not a Moonshine config: {detail}")]
    BadConfig { path: String, detail: String },
    #[error("the weights do not match the config: {0}")]
    WeightMismatch(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("the segment is longer than the model's {max_frames} encoder positions")]
    TooLong { max_frames: usize },
    #[error("tensor maths failed: {0}")]
    Tensor(#[from] candle_core::Error),
}
