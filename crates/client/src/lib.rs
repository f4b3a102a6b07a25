//! # hark-client — stream audio to any Deepgram-compatible `/v1/listen` and render the results
//!
//! What this crate does (the engine of `hark stream`):
//! - reads a file, stdin, the microphone or an HTTP(S) URL (internet radio included: ICY metadata is stripped)
//!   ([`source`]);
//! - sends it as-is, or decoded locally to 16 kHz linear16 (`--decode`), paced at real time on the
//!   decoded audio clock or as fast as the server accepts ([`pacing`]);
//! - connects to hark, `hark mock` or Deepgram itself (`ws`/`wss`, path prefix kept, auth by
//!   header or subprotocol) ([`endpoint`]), sends `KeepAlive` in input gaps, `Finalize` after a
//!   quiet spell when asked, and `CloseStream` at the end, then waits for the server's `Metadata`
//!   and close so no final result is lost ([`session`]);
//! - renders text, JSON lines, SRT or WebVTT, per channel for multichannel ([`output`]);
//! - uploads a whole file (or a URL for the server to fetch) to `POST /v1/listen` and turns the
//!   pre-recorded response into final results for the same renderers ([`upload`], `hark transcribe`).
//!
//! - speaks Flux (`/v2/listen`, `--v2`) too: turns print as finals when they end ([`flux`]);
//! - with the `mic` feature, captures the default input device and shows a level meter ([`mic`]).
//!
//! What it does not do: decoding formats `hark-audio` cannot decode (they are sent as-is,
//! unpaced), or anything server-side. Like the server, it is async (tokio);
//! the formatting, ICY and pacing parts are synchronous and unit-tested.

pub mod endpoint;
pub mod flux;
pub mod icy;
#[cfg(feature = "mic")]
pub mod mic;
pub mod output;
pub mod pacing;
pub mod session;
pub mod source;
pub mod upload;

pub use endpoint::{listen_url, listen_url_at, AuthMode};
pub use output::{Format, RenderOptions};
pub use pacing::RawFormat;
pub use session::{run, Outcome, StreamOptions};
pub use source::Input;
pub use upload::{as_results, rest_url, upload, UploadOptions, Uploaded};

/// Why a stream could not run.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad flags (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The input could not be read (exit 2).
    #[error("{0}")]
    Input(String),
    /// The server answered the handshake with an HTTP error (exit 3).
    #[error("the server refused the connection: HTTP {status}{}{}",
        dg_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default(),
        request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Refused {
        status: u16,
        dg_error: Option<String>,
        request_id: Option<String>,
    },
    /// Could not connect, or the connection failed (exit 1).
    #[error("{0}")]
    Connection(String),
    /// Writing the output failed (exit 1).
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

impl ClientError {
    /// The process exit code `hark stream` uses for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Input(_) => 2,
            Self::Refused { .. } => 3,
            Self::Connection(_) | Self::Output(_) => 1,
        }
    }
}
