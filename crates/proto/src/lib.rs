//! # hark-proto — Deepgram's live `/v1/listen` wire format, defined once
//!
//! What this crate does:
//! - parses and validates the `/v1/listen` query string into one typed [`ListenParams`]
//!   (form-urlencoded, repeated keys, legacy values), refusing bad values with a Deepgram-style
//!   [`ApiError`] (HTTP status, `err_code`, `err_msg`);
//! - parses client text frames into [`ControlMessage`]s (`KeepAlive`, `Finalize`, `CloseStream`,
//!   `Configure`, `Sync`);
//! - defines every server message ([`Results`], [`Metadata`], [`UtteranceEnd`], [`SpeechStarted`],
//!   [`ErrorMessage`]) with Deepgram's key order and float32-style numbers;
//! - the same for Flux's `/v2/listen` ([`FluxParams`], [`FluxControl`], [`FluxMessage`]);
//! - names the close codes and their exact reasons ([`close`]).
//!
//! What it does not do: any I/O, async, audio decoding or model work. Both the server and the
//! client CLI use it, so the wire format lives in exactly one place.

pub mod close;
mod control;
mod error;
mod flux;
mod messages;
mod params;
mod rest;
mod values;

pub use control::{parse_control, ConfigureFeatures, ControlMessage};
pub use error::{ApiError, ApiErrorBody, ControlError};
pub use flux::{
    parse_flux_control, FluxConfigure, FluxControl, FluxMessage, FluxParams, FluxThresholds,
    FluxWord, ThresholdsUpdate, TurnInfo, FLUX_MODELS,
};
pub use messages::{
    iso8601_millis, Alternative, Channel, ConfigureSuccess, DiarizeInfo, Entity, ErrorMessage, Hit,
    Metadata, ModelInfo, Paragraph, Paragraphs, Results, ResultsMetadata, Search, Sentence,
    ServerMessage, SpeechStarted, SyncReply, UtteranceEnd, Warning, Word,
};
pub use params::{ListenParams, RAW_ENCODINGS_NEED_SAMPLE_RATE};
pub use rest::{PrerecordedResponse, PrerecordedResults, UrlSource, Utterance};
pub use values::{
    CallbackMethod, Encoding, Endpointing, Keyword, Redact, Replace, DEEPGRAM_MODEL_NAMES,
};
