//! Server → client messages (PROTOCOL.md §4), serialised with Deepgram's key order.
//!
//! [`ServerMessage`] is internally tagged, so `type` is always the first key; struct field order
//! gives the rest. Times and confidences are `f32` so they print like Deepgram's float32 values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// `model_info` of a Results message and of each Metadata model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub arch: String,
}

/// One recognised word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    /// Lower-case, unpunctuated.
    pub word: String,
    pub start: f32,
    pub end: f32,
    pub confidence: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<u32>,
    /// Pre-recorded diarization only: how sure the `speaker` is (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker_confidence: Option<f32>,
    /// Present exactly when punctuation is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub punctuated_word: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub transcript: String,
    pub confidence: f32,
    pub words: Vec<Word>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
    /// Pre-recorded `detect_entities` (live finals carry them at the top of Results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Entity>>,
    /// Pre-recorded `paragraphs` (or `smart_format`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paragraphs: Option<Paragraphs>,
}

/// An entity found in a transcript (FEATURES.md §11). `start_word` is inclusive, `end_word`
/// exclusive, both indexes into the same `words`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub label: String,
    pub value: String,
    pub raw_value: String,
    pub confidence: f32,
    pub start_word: usize,
    pub end_word: usize,
}

/// One `search` query's hits, best first (FEATURES.md §13).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub query: String,
    pub hits: Vec<Hit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub confidence: f32,
    pub start: f32,
    pub end: f32,
    pub snippet: String,
}

/// `paragraphs` of an alternative (FEATURES.md §18).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paragraphs {
    pub transcript: String,
    pub paragraphs: Vec<Paragraph>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paragraph {
    pub sentences: Vec<Sentence>,
    /// With diarization: who says this paragraph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<u32>,
    pub num_words: usize,
    pub start: f32,
    pub end: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentence {
    pub text: String,
    pub start: f32,
    pub end: f32,
}

impl Alternative {
    /// An alternative built from words: `transcript` joins `punctuated_word` (else `word`) with
    /// single spaces; `confidence` is the mean word confidence, 0 when empty (FEATURES.md §1.2, §1.4).
    pub fn from_words(words: Vec<Word>) -> Self {
        let transcript = words
            .iter()
            .map(|w| w.punctuated_word.as_deref().unwrap_or(&w.word))
            .collect::<Vec<_>>()
            .join(" ");
        let confidence = if words.is_empty() {
            0.0
        } else {
            words.iter().map(|w| w.confidence).sum::<f32>() / words.len() as f32
        };
        Self {
            transcript,
            confidence,
            words,
            languages: None,
            entities: None,
            paragraphs: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// `search` results, one per query, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<Vec<Search>>,
    pub alternatives: Vec<Alternative>,
    /// Pre-recorded `detect_language`: the channel's language. (`language_confidence` is left
    /// out, as Deepgram leaves it out for Whisper models.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_language: Option<String>,
}

/// `metadata` inside Results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsMetadata {
    pub request_id: String,
    pub model_info: ModelInfo,
    pub model_uuid: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
    /// Present exactly when a diarizer labelled this result's words (boxed: every live
    /// message carries this struct, few of them the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diarize_info: Option<Box<DiarizeInfo>>,
}

/// A transcript for one segment of one channel. Every field is always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// `[channel, total_channels]`.
    pub channel_index: [u16; 2],
    /// Seconds of audio covered by this segment.
    pub duration: f32,
    /// Audio-clock second where the segment starts.
    pub start: f32,
    pub is_final: bool,
    pub speech_final: bool,
    pub channel: Channel,
    pub metadata: ResultsMetadata,
    pub from_finalize: bool,
    /// `detect_entities`: on finals only (`[]` when none were found), never on interims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Entity>>,
}

/// The last message of every session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Always `"deprecated"`.
    pub transaction_key: String,
    pub request_id: String,
    /// Hex SHA-256 of the audio bytes received, or `"incomplete"` after a timeout.
    pub sha256: String,
    /// ISO-8601 UTC with milliseconds, e.g. `2026-08-25T21:11:31.685Z`.
    pub created: String,
    /// Seconds of audio received.
    pub duration: f32,
    pub channels: u32,
    /// Left out when no audio was processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_info: Option<BTreeMap<String, ModelInfo>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
    /// Pre-recorded only: features asked for that did not apply (FEATURES.md §1.5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// Present exactly when a diarizer ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diarize_info: Option<DiarizeInfo>,
}

/// `metadata.diarize_info`: which diarizer labelled the speakers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiarizeInfo {
    pub model_uuid: String,
    pub arch: String,
}

/// `{"parameter":"detect_entities","type":"unsupported_language","message":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub parameter: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtteranceEnd {
    pub channel: [u16; 2],
    pub last_word_end: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechStarted {
    pub channel: [u16; 2],
    pub timestamp: f32,
}

/// In-band error (`SchemaError` for bad client JSON; `Closing` before an error close).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub variant: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReply {
    pub id: u64,
}

/// Reply to `Configure`: what the session now uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigureSuccess {
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyterms: Option<Vec<String>>,
}

/// Every message the server sends, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    Results(Results),
    Metadata(Metadata),
    UtteranceEnd(UtteranceEnd),
    SpeechStarted(SpeechStarted),
    Error(ErrorMessage),
    Sync(SyncReply),
    ConfigureSuccess(ConfigureSuccess),
}

impl ServerMessage {
    /// Compact JSON text for a WebSocket text frame.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail (no maps with non-string keys, no I/O).
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"Error","variant":"Internal","description":"{e}"}}"#)
        })
    }
}

/// Format a time as ISO-8601 UTC with milliseconds and `Z` (Metadata `created`).
pub fn iso8601_millis(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let millis = since.subsec_millis();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm), proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests;
