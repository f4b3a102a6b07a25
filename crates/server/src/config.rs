//! Server settings (inert serde data; `hark serve` fills it from flags, env and an optional TOML file).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Settings for one hark server.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// API keys accepted as `Token KEY`. Empty: authentication is off.
    pub api_keys: Vec<String>,
    /// Close a session with NET-0001 after this long without any audio or text frame.
    pub idle_timeout_ms: u64,
    /// On shutdown, let open streams finish for this long before flushing and closing them.
    pub drain_timeout_ms: u64,
    /// Windows a session may have queued for the model before it stops reading its socket.
    pub max_in_flight_windows: usize,
    /// Largest WebSocket message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Run voice activity detection on every stream: endpointing, `SpeechStarted`, and no model
    /// time spent on windows without speech. Off: every window is decoded, no endpoints.
    pub vad: bool,
    /// Cadence of interim results (`interim_results=true`), in milliseconds of audio.
    pub interim_ms: u32,
    /// Largest pre-recorded upload (`POST /v1/listen` body or fetched URL), in bytes.
    pub max_upload_bytes: u64,
    /// Let `{"url": …}` requests fetch private, loopback and link-local addresses (off: public
    /// URLs only, so a client cannot make the server reach into its own network).
    pub allow_private_urls: bool,
    /// Signs pre-recorded callbacks: `x-hark-signature: sha256=HMAC-SHA256(body, secret)`.
    pub callback_secret: Option<String>,
    /// A live client that takes no message for this long (it stopped reading, and its socket
    /// is full) is disconnected.
    pub send_timeout_ms: u64,
    /// Serve the browser playground at `/` (`hark-playground`).
    pub playground: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            idle_timeout_ms: 10_000,
            drain_timeout_ms: 30_000,
            max_in_flight_windows: 4,
            max_message_bytes: 8 << 20,
            vad: true,
            interim_ms: 1000,
            max_upload_bytes: 2 << 30,
            allow_private_urls: false,
            callback_secret: None,
            send_timeout_ms: 30_000,
            playground: true,
        }
    }
}

impl ServerConfig {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}
