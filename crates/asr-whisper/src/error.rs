use thiserror::Error;

/// Why a Whisper model could not be loaded or run.
#[derive(Debug, Error)]
pub enum WhisperError {
    #[error("model file `{path}` is missing: {detail}")]
    MissingFile { path: String, detail: String },
    #[error("`{path}` is not a valid Whisper config: {detail}")]
    BadConfig { path: String, detail: String },
    #[error("the weights do not match the config: {0}")]
    WeightMismatch(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("tensor maths failed: {0}")]
    Tensor(#[from] candle_core::Error),
}
