//! Deepgram's Flux turn-taking API (`/v2/listen`): query parameters, client control messages and
//! server messages (docs/FLUX.md).
//!
//! The query maps onto a [`ListenParams`] for the shared audio path and engine
//! ([`FluxParams::listen_params`]); what differs from `/v1/listen` lives here: the thresholds,
//! the message shapes (every server message carries a `sequence_id`) and the controls
//! (`ForceEndTurn`, a `Configure` with `thresholds`).

use crate::error::{ApiError, ControlError};
use crate::params::{parse_bool, parse_u32, valid_language};
use crate::values::{Encoding, Endpointing, Redact};
use crate::ListenParams;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Flux model names; both run on the server's default model unless one is loaded under the
/// name itself.
pub const FLUX_MODELS: [&str; 2] = ["flux-general-en", "flux-general-multi"];
const MAX_KEYTERM_TOKENS: usize = 500;
const EOT_RANGE: (f32, f32) = (0.5, 1.0);
const EAGER_RANGE: (f32, f32) = (0.3, 0.9);
const TIMEOUT_RANGE_MS: (u32, u32) = (500, 10_000);

/// When a turn ends (`eot_threshold`, `eager_eot_threshold`, `eot_timeout_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FluxThresholds {
    pub eot_threshold: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eager_eot_threshold: Option<f32>,
    pub eot_timeout_ms: u32,
}

impl Default for FluxThresholds {
    fn default() -> Self {
        Self {
            eot_threshold: 0.7,
            eager_eot_threshold: None,
            eot_timeout_ms: 5000,
        }
    }
}

/// Some thresholds to change (`Configure`); the others stay.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThresholdsUpdate {
    pub eot_threshold: Option<f32>,
    pub eager_eot_threshold: Option<f32>,
    pub eot_timeout_ms: Option<u32>,
}

impl FluxThresholds {
    /// These thresholds with `update` applied, if the result is valid.
    pub fn updated(self, update: ThresholdsUpdate) -> Result<Self, String> {
        let next = Self {
            eot_threshold: update.eot_threshold.unwrap_or(self.eot_threshold),
            eager_eot_threshold: update.eager_eot_threshold.or(self.eager_eot_threshold),
            eot_timeout_ms: update.eot_timeout_ms.unwrap_or(self.eot_timeout_ms),
        };
        next.check().map(|()| next)
    }

    fn check(&self) -> Result<(), String> {
        let within = |v: f32, (lo, hi): (f32, f32)| (lo..=hi).contains(&v);
        if !within(self.eot_threshold, EOT_RANGE) {
            return Err(format!(
                "eot_threshold must be within {}..={}, got {}",
                EOT_RANGE.0, EOT_RANGE.1, self.eot_threshold
            ));
        }
        if let Some(e) = self.eager_eot_threshold {
            if !within(e, EAGER_RANGE) {
                return Err(format!(
                    "eager_eot_threshold must be within {}..={}, got {e}",
                    EAGER_RANGE.0, EAGER_RANGE.1
                ));
            }
            if e > self.eot_threshold {
                return Err(format!(
                    "eager_eot_threshold ({e}) must not exceed eot_threshold ({})",
                    self.eot_threshold
                ));
            }
        }
        let (lo, hi) = TIMEOUT_RANGE_MS;
        if !(lo..=hi).contains(&self.eot_timeout_ms) {
            return Err(format!(
                "eot_timeout_ms must be within {lo}..={hi}, got {}",
                self.eot_timeout_ms
            ));
        }
        Ok(())
    }
}

/// Every `/v2/listen` query parameter, typed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct FluxParams {
    pub model: String,
    /// `None`: containerised audio (WAV, Ogg) whose header is sniffed.
    pub encoding: Option<Encoding>,
    pub sample_rate_hz: Option<u32>,
    pub thresholds: FluxThresholds,
    pub keyterms: Vec<String>,
    pub language_hints: Vec<String>,
    pub mip_opt_out: bool,
    pub tags: Vec<String>,
    pub numerals: bool,
    pub profanity_filter: bool,
    pub redact: Vec<Redact>,
    /// Keys hark does not know, tolerated as on `/v1/listen`.
    pub unknown: Vec<String>,
}

fn float(key: &str, value: &str) -> Result<f32, ApiError> {
    value
        .trim()
        .parse::<f32>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| ApiError::invalid_param(key, format!("expected a number, got `{value}`")))
}

impl FluxParams {
    /// Parse and validate a raw query string (without the leading `?`).
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        let mut model = None;
        let mut p = Self {
            model: String::new(),
            encoding: None,
            sample_rate_hz: None,
            thresholds: FluxThresholds::default(),
            keyterms: Vec::new(),
            language_hints: Vec::new(),
            mip_opt_out: false,
            tags: Vec::new(),
            numerals: false,
            profanity_filter: false,
            redact: Vec::new(),
            unknown: Vec::new(),
        };
        let t = &mut p.thresholds;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let (key, value) = (key.as_ref(), value.as_ref());
            match key {
                "model" => model = Some(value.trim().to_owned()),
                "encoding" => {
                    let e = Encoding::parse(value.trim())
                        .filter(|e| FLUX_ENCODINGS.contains(e))
                        .ok_or_else(|| {
                            ApiError::invalid_param(key, format!("unknown encoding `{value}`; expected linear16, linear32, mulaw, alaw, opus or ogg-opus"))
                        })?;
                    // Ogg Opus carries its own header: the container sniffer reads it.
                    p.encoding = (e != Encoding::OggOpus).then_some(e);
                }
                "sample_rate" => {
                    let hz = parse_u32(key, value)?;
                    if !(8_000..=48_000).contains(&hz) {
                        return Err(ApiError::invalid_param(
                            key,
                            format!("{hz} Hz is outside 8000..=48000"),
                        ));
                    }
                    p.sample_rate_hz = Some(hz);
                }
                "eot_threshold" => t.eot_threshold = float(key, value)?,
                "eager_eot_threshold" => t.eager_eot_threshold = Some(float(key, value)?),
                "eot_timeout_ms" => t.eot_timeout_ms = parse_u32(key, value)?,
                "keyterm" => {
                    if value.trim().is_empty() {
                        return Err(ApiError::invalid_param(key, "must not be empty"));
                    }
                    p.keyterms.push(value.to_owned());
                }
                "language_hint" => {
                    let code = value.trim();
                    if !valid_language(code) || code == "multi" {
                        return Err(ApiError::invalid_param(
                            key,
                            format!("`{value}` is not a language code such as `en` or `es`"),
                        ));
                    }
                    p.language_hints.push(code.to_ascii_lowercase());
                }
                "mip_opt_out" => p.mip_opt_out = parse_bool(key, value)?,
                "tag" => p.tags.push(value.to_owned()),
                "numerals" => p.numerals = parse_bool(key, value)?,
                "profanity_filter" => p.profanity_filter = parse_bool(key, value)?,
                "redact" => {
                    let r =
                        Redact::parse(value.trim()).map_err(|e| ApiError::invalid_param(key, e))?;
                    match r {
                        Some(r @ (Redact::Numbers | Redact::AggressiveNumbers))
                            if !p.redact.contains(&r) =>
                        {
                            p.redact.push(r);
                        }
                        Some(Redact::Numbers | Redact::AggressiveNumbers) | None => {}
                        Some(_) => {
                            return Err(ApiError::invalid_param(
                                key,
                                "Flux redacts `numbers` and `aggressive_numbers` only",
                            ))
                        }
                    }
                }
                _ => p.unknown.push(key.to_owned()),
            }
        }
        p.model = match model {
            Some(m) if FLUX_MODELS.contains(&m.as_str()) => m,
            Some(m) if m.is_empty() => return Err(missing_model()),
            Some(m) => {
                return Err(ApiError::bad_request(format!(
                    "No such model/language/tier combination found. `/v2/listen` serves {}; `{m}` belongs on /v1/listen.",
                    FLUX_MODELS.join(" and ")
                )))
            }
            None => return Err(missing_model()),
        };
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), ApiError> {
        if let Some(e) = self.encoding {
            if self.sample_rate_hz.is_none() {
                return Err(ApiError::invalid_param(
                    "sample_rate",
                    format!("required with encoding={e} (headerless audio carries no rate)"),
                ));
            }
        }
        self.thresholds.check().map_err(|e| {
            let key = e.split(' ').next().unwrap_or("eot_threshold").to_owned();
            ApiError::invalid_param(&key, e)
        })?;
        if !self.language_hints.is_empty() && self.model != FLUX_MODELS[1] {
            return Err(ApiError::invalid_param(
                "language_hint",
                "only valid with model=flux-general-multi",
            ));
        }
        let tokens: usize = self
            .keyterms
            .iter()
            .map(|k| k.split_whitespace().count())
            .sum();
        if tokens > MAX_KEYTERM_TOKENS {
            return Err(ApiError::bad_request(
                "Keyterm limit exceeded. The maximum number of tokens across all keyterms is 500.",
            ));
        }
        Ok(())
    }

    /// Whether the model detects the language (`flux-general-multi`).
    pub fn multilingual(&self) -> bool {
        self.model == FLUX_MODELS[1]
    }

    /// The `/v1/listen` parameters of the same stream: the audio path, the engine and the text
    /// features run on these (interims on, endpointing off: turns replace both).
    pub fn listen_params(&self) -> ListenParams {
        ListenParams {
            model: None,
            language: if self.multilingual() { "multi" } else { "en" }.to_owned(),
            encoding: self.encoding,
            sample_rate_hz: self.sample_rate_hz,
            channels: 1,
            interim_results: true,
            endpointing: Endpointing::Disabled,
            punctuate: true,
            numerals: self.numerals,
            profanity_filter: self.profanity_filter,
            redact: self.redact.clone(),
            keyterm: self.keyterms.clone(),
            tag: self.tags.clone(),
            mip_opt_out: self.mip_opt_out,
            ..ListenParams::default()
        }
    }
}

const FLUX_ENCODINGS: [Encoding; 6] = [
    Encoding::Linear16,
    Encoding::Linear32,
    Encoding::Mulaw,
    Encoding::Alaw,
    Encoding::Opus,
    Encoding::OggOpus,
];

fn missing_model() -> ApiError {
    ApiError::invalid_param(
        "model",
        "required on /v2/listen: flux-general-en or flux-general-multi",
    )
}

/// One word of a turn: as written (punctuated, cased), with its times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FluxWord {
    pub word: String,
    pub confidence: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
}

/// A `TurnInfo` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnInfo {
    pub request_id: String,
    pub sequence_id: u64,
    /// `Update`, `StartOfTurn`, `EagerEndOfTurn`, `TurnResumed` or `EndOfTurn`.
    pub event: String,
    pub turn_index: u32,
    pub audio_window_start: f64,
    pub audio_window_end: f64,
    pub transcript: String,
    pub words: Vec<FluxWord>,
    pub end_of_turn_confidence: f32,
    /// `model`, `manual` or `timeout`: on `EndOfTurn` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// `flux-general-multi`: the languages heard in the turn, most frequent first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages_hinted: Option<Vec<String>>,
}

/// Every message the server sends on `/v2/listen`, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FluxMessage {
    Connected {
        request_id: String,
        sequence_id: u64,
    },
    TurnInfo(TurnInfo),
    ConfigureSuccess {
        request_id: String,
        thresholds: FluxThresholds,
        keyterms: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language_hints: Option<Vec<String>>,
        sequence_id: u64,
    },
    ConfigureFailure {
        request_id: String,
        sequence_id: u64,
    },
    /// A fatal error: the connection closes after it.
    Error {
        sequence_id: u64,
        code: String,
        description: String,
    },
}

impl FluxMessage {
    /// Number the message (every server message counts, from 0 at `Connected`).
    pub fn set_sequence_id(&mut self, n: u64) {
        match self {
            Self::Connected { sequence_id, .. }
            | Self::ConfigureSuccess { sequence_id, .. }
            | Self::ConfigureFailure { sequence_id, .. }
            | Self::Error { sequence_id, .. } => *sequence_id = n,
            Self::TurnInfo(t) => t.sequence_id = n,
        }
    }

    pub fn error(code: &str, description: impl Into<String>) -> Self {
        Self::Error {
            sequence_id: 0,
            code: code.to_owned(),
            description: description.into(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"Error","sequence_id":0,"code":"INTERNAL_SERVER_ERROR","description":"{e}"}}"#)
        })
    }
}

/// `Configure`: what to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FluxConfigure {
    pub thresholds: ThresholdsUpdate,
    pub keyterms: Option<Vec<String>>,
    pub language_hints: Option<Vec<String>>,
    pub numerals: Option<bool>,
}

/// A client text frame on `/v2/listen`.
#[derive(Debug, Clone, PartialEq)]
pub enum FluxControl {
    KeepAlive,
    CloseStream,
    /// End the current turn now (`EndOfTurn` with `trigger: "manual"`). `Finalize` is taken as
    /// the same request.
    ForceEndTurn,
    Configure(FluxConfigure),
}

fn bad(detail: impl Into<String>) -> ControlError {
    ControlError::InvalidField {
        kind: "Configure",
        detail: detail.into(),
    }
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, ControlError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("`{field}` must hold strings")))
            })
            .collect(),
        _ => Err(bad(format!(
            "`{field}` must be a string or a list of strings"
        ))),
    }
}

fn number(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<f64>, ControlError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(format!("`thresholds.{key}` must be a number"))),
    }
}

fn parse_configure(obj: &serde_json::Map<String, Value>) -> Result<FluxConfigure, ControlError> {
    let mut c = FluxConfigure::default();
    if let Some(t) = obj.get("thresholds").filter(|v| !v.is_null()) {
        let t = t
            .as_object()
            .ok_or_else(|| bad("`thresholds` must be an object"))?;
        c.thresholds = ThresholdsUpdate {
            eot_threshold: number(t, "eot_threshold")?.map(|v| v as f32),
            eager_eot_threshold: number(t, "eager_eot_threshold")?.map(|v| v as f32),
            eot_timeout_ms: number(t, "eot_timeout_ms")?
                .map(|v| {
                    (v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX))
                        .then_some(v as u32)
                        .ok_or_else(|| bad("`thresholds.eot_timeout_ms` must be an integer"))
                })
                .transpose()?,
        };
    }
    if let Some(k) = obj.get("keyterms").filter(|v| !v.is_null()) {
        c.keyterms = Some(strings(k, "keyterms")?);
    }
    if let Some(h) = obj.get("language_hints").filter(|v| !v.is_null()) {
        c.language_hints = Some(strings(h, "language_hints")?);
    }
    if let Some(n) = obj.get("numerals").filter(|v| !v.is_null()) {
        c.numerals = Some(
            n.as_bool()
                .ok_or_else(|| bad("`numerals` must be true or false"))?,
        );
    }
    Ok(c)
}

/// Parse a text frame sent on `/v2/listen`.
pub fn parse_flux_control(text: &str) -> Result<FluxControl, ControlError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ControlError::NotJson(e.to_string()))?;
    let obj = v.as_object().ok_or(ControlError::MissingType)?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or(ControlError::MissingType)?;
    match kind {
        "KeepAlive" => Ok(FluxControl::KeepAlive),
        "CloseStream" => Ok(FluxControl::CloseStream),
        "ForceEndTurn" | "Finalize" => Ok(FluxControl::ForceEndTurn),
        "Configure" => parse_configure(obj).map(FluxControl::Configure),
        other => Err(ControlError::UnknownType(other.to_owned())),
    }
}

#[cfg(test)]
#[path = "flux_tests.rs"]
mod tests;
