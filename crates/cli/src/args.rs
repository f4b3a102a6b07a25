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
    Serve(Box<ServeArgs>),
    /// Run the Live Streaming Starter Kit's mock server: count and save the audio it receives.
    Mock(MockArgs),
    /// Stream a file, a URL or stdin to hark, `hark mock` or Deepgram and print the transcript
    /// (text, JSON lines, SRT or WebVTT). Exit code 0 on a clean close, 1 on an abnormal close or
    /// connection failure, 2 on bad flags or input, 3 when the server refuses the connection.
    Stream(Box<StreamArgs>),
    /// Transcribe a whole file (or stdin, or a URL the server fetches) with one pre-recorded
    /// request (`POST /v1/listen`) and print it: text, the JSON response, SRT or WebVTT. Exit
    /// codes as for `stream`.
    Transcribe(Box<TranscribeArgs>),
    /// Download models into the Hugging Face cache, or list the ones already there.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Work with `hark serve` config files.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file as `hark serve --config FILE` would load it (the HARK_* environment
    /// variables and any serve flags given here apply too) and print the effective settings as
    /// TOML, secrets masked. Exit code 0 when valid, 2 when not.
    Check {
        /// The TOML config file.
        file: PathBuf,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
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
    /// Write a copy of a model with its decoder and encoder matrices quantized (GGUF), for speed on
    /// CPU: decoding reads a quarter of the bytes, and on CPUs with AVX-512 VNNI the encoder runs in
    /// 8 bits. Convolutions and embeddings stay f32. Serve it with `hark serve --model OUT`.
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

/// `hark serve`'s flags. Each has a config-file key of the same name in snake case (`--max-streams`
/// → `max_streams`; `--api-key` → `api_keys`, `--tls-cert` → `tls_cert_file`, `--no-playground` →
/// `playground = false`); a flag or variable given overrides the file. Defaults are in the help.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HARK_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Model: a directory in the Hugging Face layout (config.json, model.safetensors, tokenizer.json,
    /// generation_config.json) or faster-whisper's (model.bin, config.json, tokenizer.json), or the
    /// name of a model already pulled (`whisper-base.en`, `faster-whisper-base.en`), or
    /// `hark-demo-en` (the bundled demo model, trained on synthetic speech). Without one, hark
    /// serves the best Whisper model in the local cache, fetching whisper-base.en when there is
    /// none, and falls back to the demo model only when that fails.
    #[arg(long, env = "HARK_MODEL")]
    pub model: Option<PathBuf>,
    /// API key clients must send as `Authorization: Token KEY` (repeatable). With none, auth is off.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Comma-separated API keys (added to --api-key and the file's `api_keys`).
    #[arg(
        long,
        env = "HARK_API_KEYS",
        hide_env_values = true,
        value_name = "KEYS"
    )]
    pub api_keys_env: Option<String>,
    /// TOML config file. Besides a key for every flag here, it may set: idle_timeout_ms,
    /// drain_timeout_ms, max_in_flight_windows, max_message_bytes, send_timeout_ms, vad,
    /// interim_ms, max_upload_bytes, allow_private_urls, callback_secret, playground (docs/DEPLOY.md
    /// lists them all). Flags and environment variables override it; `hark config check FILE`
    /// validates one and prints the effective settings.
    #[arg(long, env = "HARK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Name clients use in `?model=` for this model (default: the directory's name). Deepgram names
    /// such as `nova-3` and `general` always reach the default model.
    #[arg(long, env = "HARK_MODEL_NAME")]
    pub model_name: Option<String>,
    /// Beam search width at temperature 0 (1 = greedy). Costs about this many times the decoder
    /// time [default: 1].
    #[arg(long, env = "HARK_BEAM_SIZE")]
    pub beam_size: Option<usize>,
    /// OpenAI's temperature fallback: decode a window again at higher temperatures when the
    /// result looks like a repetition loop or has a low log-probability. `false` bounds the
    /// cost of a window to one pass (lower latency, somewhat less robust on hard audio)
    /// [default: true].
    #[arg(long, env = "HARK_TEMPERATURE_FALLBACK", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub temperature_fallback: Option<bool>,
    /// Whisper: run the encoder only over the part of each window that holds audio (plus 3 s)
    /// and take the rest of its 30 s input from one pass over silence made at start-up. About
    /// twice as fast on short windows, but it changes words: rarely on conversational speech,
    /// badly on some (digits repeated, French with base): see the README, "Encoder shortcut".
    /// Off by default.
    #[arg(long, env = "HARK_ENCODER_SHORTCUT")]
    pub encoder_shortcut: bool,
    /// Most concurrent streams (channels) per model; one more is refused with 429 [default: 16].
    #[arg(long, env = "HARK_MAX_STREAMS")]
    pub max_streams: Option<usize>,
    /// How many real-time streams the model admits: `auto` measures it on this machine at
    /// start-up (a few seconds), a number sets it (e.g. from an earlier `auto` run), `off` admits
    /// `--max-streams`. Never above `--max-streams`. Exposed as `hark_capacity_streams` in
    /// /metrics [default: off].
    #[arg(long, env = "HARK_CAPACITY", value_name = "auto|off|N")]
    pub capacity: Option<crate::settings::Capacity>,
    /// Serve HTTPS and WSS with this certificate chain (PEM; with --tls-key).
    #[arg(long, env = "HARK_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "HARK_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Close a stream with NET-0001 after this many milliseconds without any audio or text frame
    /// [default: 10000].
    #[arg(long, env = "HARK_IDLE_TIMEOUT_MS", value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// On SIGTERM/Ctrl-C, let open streams finish for this many milliseconds before closing them
    /// [default: 30000].
    #[arg(long, env = "HARK_DRAIN_TIMEOUT_MS", value_name = "MS")]
    pub drain_timeout_ms: Option<u64>,
    /// Do not serve the browser playground at `/` (the API is unchanged).
    #[arg(long, env = "HARK_NO_PLAYGROUND")]
    pub no_playground: bool,
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

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Audio to send: a file (any format; sent as-is unless --decode), `-` for stdin, `mic` for
    /// the default input device (builds with the `mic` feature), or an http(s):// URL (internet
    /// radio works: ICY metadata is stripped).
    #[arg(short, long)]
    pub input: String,
    /// Server: ws://, wss://, http:// or https:// plus host[:port][/prefix]; `/v1/listen` is appended.
    #[arg(long, env = "DEEPGRAM_HOST", default_value = "ws://127.0.0.1:8080")]
    pub host: String,
    /// API key (sent as `Authorization: Token KEY`, or as a subprotocol with --auth subprotocol).
    #[arg(short, long, env = "DEEPGRAM_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// How the key travels: `header` or `subprotocol` (what browsers do).
    #[arg(long, default_value = "header")]
    pub auth: String,

    /// Headerless input: its encoding (linear16, linear32, mulaw, alaw, …); also sent as `encoding`.
    #[arg(short, long)]
    pub encoding: Option<String>,
    /// Headerless input: its sample rate in Hz.
    #[arg(short, long = "sample-rate")]
    pub sample_rate: Option<u32>,
    /// Headerless input: its channel count.
    #[arg(short, long)]
    pub channels: Option<u16>,
    /// Decode the input here and send 16 kHz linear16 (instead of the file's own bytes).
    #[arg(long)]
    pub decode: bool,
    /// Send as fast as the server accepts instead of at real time.
    #[arg(long)]
    pub fast: bool,
    /// Send `KeepAlive` after this many seconds without sending anything.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub keepalive: f64,
    /// Send `Finalize` once the input has been quiet for this many seconds.
    #[arg(long, value_name = "SECS")]
    pub finalize_after: Option<f64>,
    /// Give up this many seconds after `CloseStream` if the server has not closed.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub close_timeout: f64,

    /// Output format: text, json (one server message per line), srt or vtt.
    #[arg(short, long, default_value = "text")]
    pub format: String,
    /// Append `[start - end]` to each final (text format).
    #[arg(long, visible_alias = "ts")]
    pub timestamps: bool,
    /// Show interim results, updated in place (asks the server for interim_results=true).
    #[arg(long)]
    pub interim: bool,
    /// Write the output (e.g. the subtitle file) here instead of stdout; for multichannel
    /// subtitles, one file per channel: NAME.chN.EXT.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// No progress bar or status lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// Speak Flux, the turn-taking API (`/v2/listen`): each turn prints when it ends (its
    /// `EndOfTurn`); `--interim` shows the turn as it grows; `--format json` prints every
    /// `TurnInfo`. `model` defaults to flux-general-en.
    #[arg(long)]
    pub v2: bool,
    /// Flux `eot_threshold` (0.5–1.0): end-of-turn confidence that ends a turn.
    #[arg(long, value_name = "P", requires = "v2")]
    pub eot_threshold: Option<f32>,
    /// Flux `eager_eot_threshold` (0.3–0.9): confidence for an `EagerEndOfTurn`.
    #[arg(long, value_name = "P", requires = "v2")]
    pub eager_eot_threshold: Option<f32>,
    /// Flux `eot_timeout_ms`: silence that ends a turn regardless.
    #[arg(long, value_name = "MS", requires = "v2")]
    pub eot_timeout_ms: Option<u32>,

    /// `model` (e.g. nova-3, or the name hark serves).
    #[arg(short, long)]
    pub model: Option<String>,
    /// `language` (e.g. en, multi).
    #[arg(short, long)]
    pub language: Option<String>,
    /// `interim_results=true` (without showing them; see --interim).
    #[arg(long)]
    pub interim_results: bool,
    /// `endpointing`: milliseconds of silence, or `false`.
    #[arg(long, value_name = "MS|false")]
    pub endpointing: Option<String>,
    /// `utterance_end_ms`.
    #[arg(long, value_name = "MS")]
    pub utterance_end_ms: Option<u32>,
    /// `vad_events=true`.
    #[arg(long)]
    pub vad_events: bool,
    /// `smart_format=true`.
    #[arg(long)]
    pub smart_format: bool,
    /// `punctuate=true`.
    #[arg(long)]
    pub punctuate: bool,
    /// `diarize=true`.
    #[arg(long)]
    pub diarize: bool,
    /// `multichannel=true`: each channel transcribed on its own; output per channel.
    #[arg(long)]
    pub multichannel: bool,
    /// `redact` (repeatable): pci, pii, numbers, ssn, …
    #[arg(long)]
    pub redact: Vec<String>,
    /// `replace` (repeatable): `find:replacement`.
    #[arg(long)]
    pub replace: Vec<String>,
    /// `keyterm` (repeatable).
    #[arg(long)]
    pub keyterm: Vec<String>,
    /// `keywords` (repeatable): `word:boost`.
    #[arg(long)]
    pub keywords: Vec<String>,
    /// `search` (repeatable).
    #[arg(long)]
    pub search: Vec<String>,
    /// `tag` (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// `extra` (repeatable): `key:value`, echoed back in metadata.
    #[arg(long)]
    pub extra: Vec<String>,
    /// Any other query parameter (repeatable): `key=value`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// A file (any format the server reads), `-` for stdin, or an http(s):// URL that the server
    /// fetches itself.
    #[arg(short, long)]
    pub input: String,
    /// Server: ws://, wss://, http:// or https:// plus host[:port][/prefix]; `/v1/listen` is appended.
    #[arg(long, env = "DEEPGRAM_HOST", default_value = "ws://127.0.0.1:8080")]
    pub host: String,
    /// API key (sent as `Authorization: Token KEY`).
    #[arg(short, long, env = "DEEPGRAM_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Output format: text (one line per utterance), json (the response as received), srt or vtt.
    #[arg(short, long, default_value = "text")]
    pub format: String,
    /// Append `[start - end]` to each line (text format).
    #[arg(long, visible_alias = "ts")]
    pub timestamps: bool,
    /// Write the output here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// No progress bar on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Headerless input: its encoding (sent as `encoding`).
    #[arg(short, long)]
    pub encoding: Option<String>,
    /// Headerless input: its sample rate in Hz.
    #[arg(short, long = "sample-rate")]
    pub sample_rate: Option<u32>,
    /// Headerless input: its channel count.
    #[arg(short, long)]
    pub channels: Option<u16>,
    /// `model`.
    #[arg(short, long)]
    pub model: Option<String>,
    /// `language`.
    #[arg(short, long)]
    pub language: Option<String>,
    /// `punctuate=true`.
    #[arg(long)]
    pub punctuate: bool,
    /// `smart_format=true`.
    #[arg(long)]
    pub smart_format: bool,
    /// `multichannel=true`: each channel transcribed on its own, lines prefixed by channel.
    #[arg(long)]
    pub multichannel: bool,
    /// `utt_split`: the pause (seconds) that starts a new line.
    #[arg(long, value_name = "SECS")]
    pub utt_split: Option<f32>,
    /// Any other query parameter (repeatable): `key=value`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}
