//! Every `hark serve` setting in one place: the defaults, then the TOML config file, then the
//! `HARK_*` environment variables and the flags (clap reads both), each overriding the last.
//! Every flag has a config key of the same name (`--max-streams` → `max_streams`); the server's
//! own keys ([`ServerConfig`]) sit beside them at the top level of the file. Unknown keys are
//! errors, so a typo never silently does nothing.
//!
//! `hark config check FILE` runs [`check`]: the same loading and validation as `hark serve`, then
//! the effective settings printed as TOML, secrets masked.

use crate::args::ServeArgs;
use anyhow::{bail, Context};
use hark_server::ServerConfig;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// How many streams the model admits: a fixed number, or measured on this machine at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// `max_streams` is the limit; nothing is measured.
    Fixed,
    /// Measure at start-up how many real-time streams this machine holds (at most `max_streams`).
    Auto,
    /// This many streams (at most `max_streams`), e.g. measured once by `capacity = "auto"`.
    Streams(usize),
}

impl std::str::FromStr for Capacity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" | "off" | "fixed" => Ok(Self::Fixed),
            "auto" => Ok(Self::Auto),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Self::Streams(n)),
                _ => Err(format!(
                    "capacity must be `auto`, `off` or a number of streams above 0, not `{n}`"
                )),
            },
        }
    }
}

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed => f.write_str("off"),
            Self::Auto => f.write_str("auto"),
            Self::Streams(n) => write!(f, "{n}"),
        }
    }
}

/// The file spells a capacity as `"auto"`, `"off"` or a number.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
enum CapacityValue {
    Number(i64),
    Text(String),
}

/// The `hark serve` settings that are not the server's ([`ServerConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    pub model: Option<PathBuf>,
    pub model_name: Option<String>,
    pub beam_size: usize,
    pub temperature_fallback: bool,
    pub encoder_shortcut: bool,
    pub max_streams: usize,
    pub capacity: Capacity,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub server: ServerConfig,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            model: None,
            model_name: None,
            beam_size: 1,
            temperature_fallback: true,
            encoder_shortcut: false,
            max_streams: 16,
            capacity: Capacity::Fixed,
            tls_cert_file: None,
            tls_key_file: None,
            server: ServerConfig::default(),
        }
    }
}

/// The serve-level keys of the file (the rest must be [`ServerConfig`]'s).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    listen: Option<String>,
    model: Option<PathBuf>,
    model_name: Option<String>,
    beam_size: Option<usize>,
    temperature_fallback: Option<bool>,
    encoder_shortcut: Option<bool>,
    max_streams: Option<usize>,
    capacity: Option<CapacityValue>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
}

const SERVE_KEYS: [&str; 10] = [
    "listen",
    "model",
    "model_name",
    "beam_size",
    "temperature_fallback",
    "encoder_shortcut",
    "max_streams",
    "capacity",
    "tls_cert_file",
    "tls_key_file",
];

/// Parse a config file's text (relative paths in it are taken from `base`, its directory).
pub fn parse_file(text: &str, base: &Path) -> anyhow::Result<ServeSettings> {
    let mut table: toml::Table = toml::from_str(text)?;
    let mut serve = toml::Table::new();
    for key in SERVE_KEYS {
        if let Some(v) = table.remove(key) {
            serve.insert(key.to_owned(), v);
        }
    }
    let file: ServeFile = serve.try_into()?;
    let server: ServerConfig = table.try_into().context(
        "(the keys a config file may hold are listed by `hark serve --help` under --config)",
    )?;
    let mut s = ServeSettings {
        server,
        ..ServeSettings::default()
    };
    if let Some(listen) = file.listen {
        s.listen = listen.parse().map_err(|_| {
            anyhow::anyhow!("listen: `{listen}` is not an address like 0.0.0.0:8080")
        })?;
    }
    let rel = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
    s.model = file.model;
    s.model_name = file.model_name;
    s.beam_size = file.beam_size.unwrap_or(s.beam_size);
    s.temperature_fallback = file.temperature_fallback.unwrap_or(s.temperature_fallback);
    s.encoder_shortcut = file.encoder_shortcut.unwrap_or(s.encoder_shortcut);
    s.max_streams = file.max_streams.unwrap_or(s.max_streams);
    s.capacity = match file.capacity {
        None => Capacity::Fixed,
        Some(CapacityValue::Number(n)) => n.to_string().parse().map_err(anyhow::Error::msg)?,
        Some(CapacityValue::Text(t)) => t.parse().map_err(anyhow::Error::msg)?,
    };
    s.tls_cert_file = file.tls_cert_file.map(rel);
    s.tls_key_file = file.tls_key_file.map(rel);
    Ok(s)
}

/// The effective settings of `hark serve`: the file named by `--config` (if any), overridden by
/// the flags and environment variables in `args`, validated.
pub fn resolve(args: &ServeArgs) -> anyhow::Result<ServeSettings> {
    let mut s = match &args.config {
        Some(path) => load(path)?,
        None => ServeSettings::default(),
    };
    if let Some(v) = args.listen {
        s.listen = v;
    }
    if let Some(v) = &args.model {
        s.model = Some(v.clone());
    }
    if let Some(v) = &args.model_name {
        s.model_name = Some(v.clone());
    }
    if let Some(v) = args.beam_size {
        s.beam_size = v;
    }
    if let Some(v) = args.temperature_fallback {
        s.temperature_fallback = v;
    }
    if args.encoder_shortcut {
        s.encoder_shortcut = true;
    }
    if let Some(v) = args.max_streams {
        s.max_streams = v;
    }
    if let Some(v) = args.capacity {
        s.capacity = v;
    }
    if let Some(v) = &args.tls_cert {
        s.tls_cert_file = Some(v.clone());
    }
    if let Some(v) = &args.tls_key {
        s.tls_key_file = Some(v.clone());
    }
    let c = &mut s.server;
    c.api_keys.extend(args.api_keys.iter().cloned());
    if let Some(list) = &args.api_keys_env {
        c.api_keys.extend(
            list.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned),
        );
    }
    if let Some(ms) = args.idle_timeout_ms {
        c.idle_timeout_ms = ms;
    }
    if let Some(ms) = args.drain_timeout_ms {
        c.drain_timeout_ms = ms;
    }
    if args.no_playground {
        c.playground = false;
    }
    validate(&s)?;
    Ok(s)
}

fn load(path: &Path) -> anyhow::Result<ServeSettings> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_file(&text, base).with_context(|| format!("in {}", path.display()))
}

/// Values that parse but cannot run.
pub fn validate(s: &ServeSettings) -> anyhow::Result<()> {
    let c = &s.server;
    let checks: [(bool, &str); 9] = [
        (
            s.beam_size == 0 || s.beam_size > 16,
            "beam_size must be 1 to 16",
        ),
        (s.max_streams == 0, "max_streams must be at least 1"),
        (c.interim_ms < 100, "interim_ms must be at least 100"),
        (
            c.max_in_flight_windows == 0,
            "max_in_flight_windows must be at least 1",
        ),
        (
            c.max_message_bytes < 1024,
            "max_message_bytes must be at least 1024",
        ),
        (c.idle_timeout_ms == 0, "idle_timeout_ms must be above 0"),
        (c.send_timeout_ms == 0, "send_timeout_ms must be above 0"),
        (c.max_upload_bytes == 0, "max_upload_bytes must be above 0"),
        (
            s.tls_cert_file.is_some() != s.tls_key_file.is_some(),
            "tls_cert_file and tls_key_file go together: set both or neither",
        ),
    ];
    if let Some((_, msg)) = checks.iter().find(|(bad, _)| *bad) {
        bail!("{msg}");
    }
    if c.api_keys.iter().any(|k| k.trim().is_empty()) {
        bail!("api_keys: an empty key would let anyone in");
    }
    if let (Some(cert), Some(key)) = (&s.tls_cert_file, &s.tls_key_file) {
        hark_server::tls::load_config(cert, key)?;
    }
    Ok(())
}

/// The settings as a config file would spell them, secrets masked (`hark config check`).
pub fn render(s: &ServeSettings) -> String {
    let mut t = toml::Table::new();
    let mut put = |k: &str, v: toml::Value| {
        t.insert(k.to_owned(), v);
    };
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    put("listen", s.listen.to_string().into());
    if let Some(m) = path(&s.model) {
        put("model", m.into());
    }
    if let Some(m) = &s.model_name {
        put("model_name", m.clone().into());
    }
    put("beam_size", (s.beam_size as i64).into());
    put("temperature_fallback", s.temperature_fallback.into());
    put("encoder_shortcut", s.encoder_shortcut.into());
    put("max_streams", (s.max_streams as i64).into());
    put(
        "capacity",
        match s.capacity {
            Capacity::Streams(n) => (n as i64).into(),
            other => other.to_string().into(),
        },
    );
    if let Some(p) = path(&s.tls_cert_file) {
        put("tls_cert_file", p.into());
    }
    if let Some(p) = path(&s.tls_key_file) {
        put("tls_key_file", p.into());
    }
    let mut server = toml::Table::try_from(&s.server).unwrap_or_default();
    let keys = s.server.api_keys.len();
    server.insert(
        "api_keys".into(),
        toml::Value::Array(vec!["<secret>".into(); keys]),
    );
    if s.server.callback_secret.is_some() {
        server.insert("callback_secret".into(), "<secret>".into());
    }
    t.extend(server);
    toml::to_string(&t).unwrap_or_default()
}

/// `hark config check FILE`: load and validate as `hark serve --config FILE` would (the `HARK_*`
/// environment variables apply), then print the effective settings.
pub fn check(args: &ServeArgs) -> anyhow::Result<()> {
    let s = resolve(args)?;
    if let Some(model) = &s.model {
        let name = model.to_string_lossy();
        let known = model.is_dir()
            || name == crate::demo::NAME
            || hark_asr_whisper::models::find_local(&name).is_some();
        if !known {
            eprintln!(
                "warning: model `{name}` is neither a directory nor a model in this machine's cache \
                 ({}); `hark serve` here would fail to load it",
                hark_asr_whisper::models::cache_dir().display()
            );
        }
    }
    if s.server.api_keys.is_empty() {
        eprintln!("warning: no api_keys: authentication is OFF");
    }
    print!("{}", render(&s));
    Ok(())
}

#[cfg(test)]
mod tests;
