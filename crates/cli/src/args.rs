//! Command-line interface. These flag and variable names are relied on by scripts and docs.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "hark",
    version,
    about = "A self-hosted, Deepgram-compatible real-time speech-to-text server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the speech-to-text server (Deepgram's /v1/listen over WebSocket).
    Serve(ServeArgs),
    /// Run the Live Streaming Starter Kit's mock server: count and save the audio it receives.
    Mock(MockArgs),
    /// Download models into the Hugging Face cache, or list the ones already there.
    #[command(subcommand)]
    Models(ModelsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download a model (e.g. `whisper-base.en` → openai/whisper-base.en) with a progress bar;
    /// resumes an interrupted download and verifies every large file's SHA-256.
    Pull {
        /// Short name (`whisper-base.en`) or Hugging Face repository (`owner/name`).
        name: String,
    },
    /// List complete models in the Hugging Face cache ($HF_HOME/hub).
    List,
    /// Write a copy of a model with its decoder weights quantized (GGUF), for faster decoding on CPU.
    /// The encoder stays f32. Serve the result with `hark serve --model OUT`.
    Quantize {
        /// Model directory or the name of a pulled model.
        model: PathBuf,
        /// Output directory (gets config, tokenizer and model.gguf).
        out: PathBuf,
        /// q8_0 (near-lossless), q5_0, q5_1, q4_0 or q4_1.
        #[arg(long = "type", default_value = "q8_0")]
        kind: String,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HARK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Model: a directory in the Hugging Face layout (config.json, model.safetensors, tokenizer.json,
    /// generation_config.json), or the name of a model already pulled (`whisper-base.en`).
    #[arg(long, env = "HARK_MODEL")]
    pub model: Option<PathBuf>,
    /// API key clients must send as `Authorization: Token KEY` (repeatable). With none, auth is off.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Comma-separated API keys (added to --api-key).
    #[arg(
        long,
        env = "HARK_API_KEYS",
        hide_env_values = true,
        value_name = "KEYS"
    )]
    pub api_keys_env: Option<String>,
    /// TOML config file with any of: api_keys, idle_timeout_ms, drain_timeout_ms, max_in_flight_windows,
    /// max_message_bytes. Flags and environment variables override it.
    #[arg(long, env = "HARK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Name clients use in `?model=` for this model (default: the directory's name). Deepgram names
    /// such as `nova-3` and `general` always reach the default model.
    #[arg(long, env = "HARK_MODEL_NAME")]
    pub model_name: Option<String>,
    /// Beam search width at temperature 0 (1 = greedy). Costs about this many times the decoder time.
    #[arg(long, env = "HARK_BEAM_SIZE", default_value_t = 1)]
    pub beam_size: usize,
    /// OpenAI's temperature fallback: decode a window again at higher temperatures when the
    /// result looks like a repetition loop or has a low log-probability. `false` bounds the
    /// cost of a window to one pass (lower latency, somewhat less robust on hard audio).
    #[arg(long, env = "HARK_TEMPERATURE_FALLBACK", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub temperature_fallback: bool,
    /// Concurrent streams (channels) per model; one more is refused with 429.
    #[arg(long, env = "HARK_MAX_STREAMS", default_value_t = 16)]
    pub max_streams: usize,
    /// Close a stream with NET-0001 after this many milliseconds without any audio or text frame.
    #[arg(long, value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// On SIGTERM/Ctrl-C, let open streams finish for this many milliseconds before closing them.
    #[arg(long, value_name = "MS")]
    pub drain_timeout_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct MockArgs {
    /// Address to listen on (any URL path is accepted, as the Starter Kit's client connects to `/`).
    #[arg(long, env = "HARK_MOCK_LISTEN", default_value = "127.0.0.1:5000")]
    pub listen: SocketAddr,
    /// Directory where received audio is saved.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}
