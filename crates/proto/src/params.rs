//! `/v1/listen` query parameters: one typed struct, parsed from a form-urlencoded query string.
//!
//! Rules (PROTOCOL.md §2, §10; FEATURES.md §1.1, §21):
//! - `+` and `%20` are spaces; repeated keys build lists; booleans are `true`/`false` (any case);
//! - `model=None` (Python SDK 3/4 default) means "not set"; `tier`, `version` and other legacy keys
//!   are accepted; unknown keys are tolerated and kept in [`ListenParams::unknown`];
//! - `extra=k:v` and `extra[k]=v` both fill [`ListenParams::extra`];
//! - for a scalar key given twice, the last value wins.

use crate::error::ApiError;
use crate::values::{CallbackMethod, Encoding, Endpointing, Keyword, Redact, Replace};

/// Encodings that carry no header, so `sample_rate` is required with them.
pub const RAW_ENCODINGS_NEED_SAMPLE_RATE: [Encoding; 8] = [
    Encoding::Linear16,
    Encoding::Linear32,
    Encoding::Alaw,
    Encoding::Mulaw,
    Encoding::AmrNb,
    Encoding::AmrWb,
    Encoding::Opus,
    Encoding::Speex,
];

const MIN_SAMPLE_RATE_HZ: u32 = 1_000;
const MAX_SAMPLE_RATE_HZ: u32 = 384_000;
const MAX_CHANNELS: u16 = 64;
const MAX_SEARCH_TERMS: usize = 50;
const MAX_REPLACE_RULES: usize = 200;
const MAX_KEYTERM_TOKENS: usize = 500;
const MAX_KEYWORDS: usize = 100;
const MAX_EXTRA_PAIR_CHARS: usize = 2048;

/// Every `/v1/listen` query parameter, typed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenParams {
    /// `model`; `None` when absent or the literal `None`.
    pub model: Option<String>,
    /// `language`, default `en`.
    pub language: String,
    pub version: Option<String>,
    /// Deprecated, still sent by legacy SDKs.
    pub tier: Option<String>,
    /// `None` means containerised audio whose header is sniffed.
    pub encoding: Option<Encoding>,
    pub sample_rate_hz: Option<u32>,
    /// Interleaved channels in the audio, default 1.
    pub channels: u16,
    pub multichannel: bool,
    pub interim_results: bool,
    pub endpointing: Endpointing,
    pub utterance_end_ms: Option<u32>,
    pub vad_events: bool,
    pub vad_turnoff_ms: Option<u32>,
    pub no_delay: bool,
    pub punctuate: bool,
    pub smart_format: bool,
    /// `numerals`, or its legacy name `numbers`.
    pub numerals: bool,
    pub profanity_filter: bool,
    pub dictation: bool,
    pub filler_words: bool,
    pub measurements: bool,
    pub redact: Vec<Redact>,
    pub diarize: bool,
    pub diarize_model: Option<String>,
    pub diarize_version: Option<String>,
    pub detect_entities: bool,
    pub keyterm: Vec<String>,
    pub keywords: Vec<Keyword>,
    pub replace: Vec<Replace>,
    pub search: Vec<String>,
    pub tag: Vec<String>,
    /// `extra` pairs in the order given (a later duplicate key replaces the value in place).
    pub extra: Vec<(String, String)>,
    /// Pre-recorded: `utterances` (the words grouped into utterances) and `utt_split`, the gap
    /// (seconds) that splits them.
    pub utterances: bool,
    pub utt_split_s: f32,
    /// Pre-recorded: `paragraphs` (also implied there by `smart_format`).
    pub paragraphs: bool,
    /// Pre-recorded `detect_language`: `Some(empty)` for `true` (any language), or the
    /// candidate codes given (`detect_language=en&detect_language=es`); `None` when off.
    /// Accepted and ignored on the live socket (FEATURES.md §19).
    pub detect_language: Option<Vec<String>>,
    pub callback: Option<String>,
    pub callback_method: Option<CallbackMethod>,
    /// `mip_opt_out`, or its legacy alias `log_data=false`.
    pub mip_opt_out: bool,
    pub alternatives: Option<u32>,
    /// Keys hark does not know; tolerated (SDKs let users add arbitrary parameters).
    pub unknown: Vec<(String, String)>,
}

impl Default for ListenParams {
    fn default() -> Self {
        Self {
            model: None,
            language: "en".to_owned(),
            version: None,
            tier: None,
            encoding: None,
            sample_rate_hz: None,
            channels: 1,
            multichannel: false,
            interim_results: false,
            endpointing: Endpointing::DEFAULT,
            utterance_end_ms: None,
            vad_events: false,
            vad_turnoff_ms: None,
            no_delay: false,
            punctuate: false,
            smart_format: false,
            numerals: false,
            profanity_filter: false,
            dictation: false,
            filler_words: false,
            measurements: false,
            redact: Vec::new(),
            diarize: false,
            diarize_model: None,
            diarize_version: None,
            detect_entities: false,
            keyterm: Vec::new(),
            keywords: Vec::new(),
            replace: Vec::new(),
            search: Vec::new(),
            tag: Vec::new(),
            extra: Vec::new(),
            utterances: false,
            utt_split_s: 0.8,
            paragraphs: false,
            detect_language: None,
            callback: None,
            callback_method: None,
            mip_opt_out: false,
            alternatives: None,
            unknown: Vec::new(),
        }
    }
}

/// An absolute http(s) URL with a host: `https://example.com/hook`.
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.and_then(|r| r.split(['/', '?', '#']).next())
        .is_some_and(|host| {
            !host.is_empty() && !host.starts_with(':') && !host.contains(char::is_whitespace)
        })
}

pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, ApiError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::invalid_param(
            key,
            format!("expected `true` or `false`, got `{value}`"),
        ))
    }
}

pub(crate) fn parse_u32(key: &str, value: &str) -> Result<u32, ApiError> {
    value.trim().parse::<u32>().map_err(|_| {
        ApiError::invalid_param(
            key,
            format!("expected a non-negative integer, got `{value}`"),
        )
    })
}

fn nonempty(key: &str, value: &str) -> Result<String, ApiError> {
    if value.trim().is_empty() {
        Err(ApiError::invalid_param(key, "must not be empty"))
    } else {
        Ok(value.to_owned())
    }
}

/// A BCP-47-shaped tag (`en`, `en-US`, `zh-Hant-TW`) or `multi`. `english` is refused, as Deepgram does.
pub(crate) fn valid_language(value: &str) -> bool {
    if value == "multi" {
        return true;
    }
    let mut parts = value.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn set_extra(
    extra: &mut Vec<(String, String)>,
    key: String,
    value: String,
) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::invalid_param(
            "extra",
            "the key must not be empty",
        ));
    }
    if key.len() + value.len() + 1 > MAX_EXTRA_PAIR_CHARS {
        return Err(ApiError::invalid_param(
            "extra",
            format!("a key:value pair may be at most {MAX_EXTRA_PAIR_CHARS} characters"),
        ));
    }
    match extra.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => extra.push((key, value)),
    }
    Ok(())
}

impl ListenParams {
    /// What only the live socket refuses: `diarize_model=v2` (pre-recorded only, as Deepgram's).
    pub fn check_streaming(&self) -> Result<(), ApiError> {
        if self.diarize_model.as_deref() == Some("v2") {
            return Err(ApiError::invalid_param(
                "diarize_model",
                "`v2` is not available on streaming; expected `latest` or `v1`",
            ));
        }
        Ok(())
    }

    /// Whether a diarizer should label speakers (`diarize=true` or any `diarize_model`).
    pub fn diarizing(&self) -> bool {
        self.diarize || self.diarize_model.is_some()
    }

    /// Parse and validate a raw query string (without the leading `?`).
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        let mut p = ListenParams::default();
        let mut endpointing_given = false;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let (key, value) = (key.as_ref(), value.as_ref());
            p.apply(key, value, &mut endpointing_given)?;
        }
        p.validate(endpointing_given)?;
        Ok(p)
    }

    fn apply(
        &mut self,
        key: &str,
        value: &str,
        endpointing_given: &mut bool,
    ) -> Result<(), ApiError> {
        match key {
            "model" => {
                self.model = match value.trim() {
                    "" | "None" | "null" => None,
                    m => Some(m.to_owned()),
                }
            }
            "language" => self.language = value.trim().to_owned(),
            "version" => self.version = Some(value.to_owned()),
            "tier" => self.tier = Some(value.to_owned()),
            "encoding" => {
                let e = Encoding::parse(value.trim()).ok_or_else(|| {
                    let names: Vec<_> = Encoding::ALL.iter().map(|e| e.as_str()).collect();
                    ApiError::invalid_param(
                        key,
                        format!(
                            "unknown encoding `{value}`; expected one of {}",
                            names.join(", ")
                        ),
                    )
                })?;
                self.encoding = Some(e);
            }
            "sample_rate" => {
                let hz = parse_u32(key, value)?;
                if !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&hz) {
                    return Err(ApiError::invalid_param(
                        key,
                        format!("{hz} Hz is outside {MIN_SAMPLE_RATE_HZ}..={MAX_SAMPLE_RATE_HZ}"),
                    ));
                }
                self.sample_rate_hz = Some(hz);
            }
            "channels" => {
                let n = parse_u32(key, value)?;
                if n == 0 || n > u32::from(MAX_CHANNELS) {
                    return Err(ApiError::invalid_param(
                        key,
                        format!("expected 1..={MAX_CHANNELS}, got {n}"),
                    ));
                }
                self.channels = n as u16;
            }
            "multichannel" => self.multichannel = parse_bool(key, value)?,
            "interim_results" => self.interim_results = parse_bool(key, value)?,
            "endpointing" => {
                self.endpointing = Endpointing::parse(value.trim()).ok_or_else(|| {
                    ApiError::invalid_param(
                        key,
                        format!("expected milliseconds or `false`, got `{value}`"),
                    )
                })?;
                *endpointing_given = matches!(self.endpointing, Endpointing::SilenceMs(_))
                    && !value.eq_ignore_ascii_case("true");
            }
            "utterance_end_ms" => self.utterance_end_ms = Some(parse_u32(key, value)?),
            "vad_events" => self.vad_events = parse_bool(key, value)?,
            "vad_turnoff" => self.vad_turnoff_ms = Some(parse_u32(key, value)?),
            "no_delay" => self.no_delay = parse_bool(key, value)?,
            "punctuate" => self.punctuate = parse_bool(key, value)?,
            "smart_format" => self.smart_format = parse_bool(key, value)?,
            "numerals" | "numbers" => self.numerals = parse_bool(key, value)?,
            "profanity_filter" => self.profanity_filter = parse_bool(key, value)?,
            "dictation" => self.dictation = parse_bool(key, value)?,
            "filler_words" => self.filler_words = parse_bool(key, value)?,
            "measurements" => self.measurements = parse_bool(key, value)?,
            "redact" => {
                if let Some(r) =
                    Redact::parse(value.trim()).map_err(|e| ApiError::invalid_param(key, e))?
                {
                    if !self.redact.contains(&r) {
                        self.redact.push(r);
                    }
                }
            }
            "diarize" => self.diarize = parse_bool(key, value)?,
            "utterances" => self.utterances = parse_bool(key, value)?,
            "paragraphs" => self.paragraphs = parse_bool(key, value)?,
            "detect_language" => match value.trim() {
                v if v.eq_ignore_ascii_case("true") => {
                    self.detect_language.get_or_insert_with(Vec::new);
                }
                v if v.eq_ignore_ascii_case("false") => self.detect_language = None,
                code if valid_language(code) && code != "multi" => {
                    self.detect_language
                        .get_or_insert_with(Vec::new)
                        .push(code.to_ascii_lowercase());
                }
                other => {
                    return Err(ApiError::invalid_param(
                        key,
                        format!("`{other}` is neither true, false nor a language code"),
                    ))
                }
            },
            "utt_split" => {
                self.utt_split_s = value
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        ApiError::invalid_param(key, format!("expected seconds > 0, got `{value}`"))
                    })?
            }
            "diarize_model" => {
                match value.trim() {
                    "latest" | "v1" | "v2" => {}
                    other => {
                        return Err(ApiError::invalid_param(
                            key,
                            format!("`{other}` is not a diarizer; expected `latest`, `v1` or `v2`"),
                        ))
                    }
                }
                self.diarize_model = Some(value.trim().to_owned());
            }
            "diarize_version" => self.diarize_version = Some(value.to_owned()),
            "detect_entities" => self.detect_entities = parse_bool(key, value)?,
            "keyterm" => self.keyterm.push(nonempty(key, value)?),
            "keywords" => self.keywords.push(Keyword::parse(&nonempty(key, value)?)),
            "replace" => self.replace.push(Replace::parse(&nonempty(key, value)?)),
            "search" => self.search.push(nonempty(key, value)?),
            "tag" => self.tag.push(value.to_owned()),
            "extra" => {
                let (k, v) = value.split_once(':').ok_or_else(|| {
                    ApiError::invalid_param(key, format!("expected `key:value`, got `{value}`"))
                })?;
                set_extra(&mut self.extra, k.to_owned(), v.to_owned())?;
            }
            "callback" => self.callback = Some(nonempty(key, value)?),
            "callback_method" => {
                self.callback_method =
                    Some(CallbackMethod::parse(value.trim()).ok_or_else(|| {
                        ApiError::invalid_param(
                            key,
                            format!("expected POST, PUT, GET or DELETE, got `{value}`"),
                        )
                    })?)
            }
            "mip_opt_out" => self.mip_opt_out = parse_bool(key, value)?,
            "log_data" => self.mip_opt_out = !parse_bool(key, value)?,
            "alternatives" => self.alternatives = Some(parse_u32(key, value)?),
            _ => {
                if let Some(inner) = key.strip_prefix("extra[").and_then(|k| k.strip_suffix(']')) {
                    set_extra(&mut self.extra, inner.to_owned(), value.to_owned())?;
                } else {
                    self.unknown.push((key.to_owned(), value.to_owned()));
                }
            }
        }
        Ok(())
    }

    fn validate(&self, endpointing_given: bool) -> Result<(), ApiError> {
        if let Some(e) = self.encoding {
            if self.sample_rate_hz.is_none() && RAW_ENCODINGS_NEED_SAMPLE_RATE.contains(&e) {
                return Err(ApiError::invalid_param(
                    "sample_rate",
                    format!("required with encoding={e} (headerless audio carries no rate)"),
                ));
            }
        }
        if self.utterance_end_ms.is_some() && !self.interim_results {
            return Err(ApiError::invalid_param(
                "utterance_end_ms",
                "requires interim_results=true",
            ));
        }
        if self.vad_turnoff_ms.is_some() && endpointing_given {
            return Err(ApiError::invalid_param(
                "vad_turnoff",
                "cannot be combined with an integer `endpointing`; use endpointing only",
            ));
        }
        if !valid_language(&self.language) {
            return Err(ApiError::bad_request(format!(
                "No such model/language/tier combination found. `language={}` is not a BCP-47 tag such as `en` or `en-US`.",
                self.language
            )));
        }
        if self.search.len() > MAX_SEARCH_TERMS {
            return Err(ApiError::invalid_param(
                "search",
                format!(
                    "at most {MAX_SEARCH_TERMS} terms, got {}",
                    self.search.len()
                ),
            ));
        }
        if self.replace.len() > MAX_REPLACE_RULES {
            return Err(ApiError::invalid_param(
                "replace",
                format!(
                    "at most {MAX_REPLACE_RULES} rules, got {}",
                    self.replace.len()
                ),
            ));
        }
        let keyterm_tokens: usize = self
            .keyterm
            .iter()
            .map(|t| t.split_whitespace().count())
            .sum();
        if keyterm_tokens > MAX_KEYTERM_TOKENS {
            return Err(ApiError::bad_request(
                "Keyterm limit exceeded. The maximum number of tokens across all keyterms is 500.",
            ));
        }
        if let Some(url) = &self.callback {
            if !is_http_url(url) {
                return Err(ApiError::invalid_param(
                    "callback",
                    format!("`{url}` is not an http:// or https:// URL"),
                ));
            }
        }
        if self.keywords.len() > MAX_KEYWORDS {
            return Err(ApiError {
                status: 400,
                err_code: "KEYWORD_LIMIT_EXCEEDED",
                err_msg: format!(
                    "At most {MAX_KEYWORDS} keywords are allowed per request, got {}.",
                    self.keywords.len()
                ),
            });
        }
        if !self.keywords.is_empty()
            && self
                .model
                .as_deref()
                .is_some_and(|m| m.starts_with("nova-3"))
        {
            return Err(ApiError::invalid_param(
                "keywords",
                "Keywords are not supported for Nova-3. Please use `keyterm` instead.",
            ));
        }
        Ok(())
    }

    /// Is punctuation active (directly or implied by smart_format, detect_entities or
    /// paragraphs)? `dictation` needs it but does not turn it on (FEATURES.md §6).
    pub fn punctuation_on(&self) -> bool {
        self.punctuate || self.smart_format || self.detect_entities || self.paragraphs
    }

    /// Number of result streams: `channels` when multichannel, else 1 (channels are mixed down).
    pub fn result_channels(&self) -> u16 {
        if self.multichannel {
            self.channels
        } else {
            1
        }
    }
}

#[cfg(test)]
mod tests;
