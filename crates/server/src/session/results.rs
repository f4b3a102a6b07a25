//! Building Results and Metadata for one session.

use hark_asr::{ModelDescriptor, Transcript};
use hark_proto::{
    iso8601_millis, Alternative, Channel, Metadata, ModelInfo, Results, ResultsMetadata, Word,
};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// What every message of a session shares.
#[derive(Debug, Clone)]
pub struct ResultContext {
    pub request_id: String,
    pub model: ModelDescriptor,
    pub punctuate: bool,
    /// `language=multi`: report the language of each window and word.
    pub multi_language: bool,
    pub extra: BTreeMap<String, String>,
    pub engine_rate_hz: u32,
}

/// Where a window sits and why it was cut.
#[derive(Debug, Clone, Copy)]
pub struct WindowInfo {
    pub channel: u16,
    pub channels: u16,
    pub start_sample: u64,
    pub samples: usize,
    pub from_finalize: bool,
    pub is_final: bool,
    pub speech_final: bool,
}

impl ResultContext {
    fn model_info(&self) -> ModelInfo {
        ModelInfo {
            name: self.model.name.clone(),
            version: self.model.version.clone(),
            arch: self.model.arch.clone(),
        }
    }

    /// A Results for one window (final or interim). Word times move from window-relative to the audio clock.
    pub fn results(&self, w: WindowInfo, transcript: &Transcript) -> Results {
        let rate = f64::from(self.engine_rate_hz);
        let start_s = w.start_sample as f64 / rate;
        let duration_s = w.samples as f64 / rate;
        let words = transcript
            .words
            .iter()
            .filter_map(|t| {
                let raw: String = t
                    .text
                    .trim()
                    .trim_matches(|c: char| {
                        !c.is_alphanumeric() && c != '\'' && c != '$' && c != '%'
                    })
                    .to_lowercase();
                if raw.is_empty() {
                    return None;
                }
                let clamp = |s: f32| (f64::from(s).clamp(0.0, duration_s) + start_s) as f32;
                Some(Word {
                    word: raw,
                    start: clamp(t.start_s),
                    end: clamp(t.end_s.max(t.start_s)),
                    confidence: t.confidence.clamp(0.0, 1.0),
                    language: self
                        .multi_language
                        .then(|| transcript.language.clone())
                        .flatten(),
                    speaker: None,
                    punctuated_word: self.punctuate.then(|| t.text.trim().to_owned()),
                })
            })
            .collect();
        Results {
            channel_index: [w.channel, w.channels],
            duration: duration_s as f32,
            start: start_s as f32,
            is_final: w.is_final,
            speech_final: w.speech_final,
            channel: Channel {
                alternatives: vec![Alternative {
                    languages: self
                        .multi_language
                        .then(|| transcript.language.clone().into_iter().collect()),
                    ..Alternative::from_words(words)
                }],
            },
            metadata: ResultsMetadata {
                request_id: self.request_id.clone(),
                model_info: self.model_info(),
                model_uuid: self.model.uuid.clone(),
                extra: self.extra.clone(),
            },
            from_finalize: w.from_finalize,
        }
    }

    /// The closing Metadata. `sha256` is `None` when the session ended without a clean close.
    pub fn metadata(
        &self,
        created: SystemTime,
        sha256: Option<String>,
        duration_s: f64,
        channels: u16,
    ) -> Metadata {
        let processed = duration_s > 0.0;
        Metadata {
            transaction_key: "deprecated".to_owned(),
            request_id: self.request_id.clone(),
            sha256: sha256.unwrap_or_else(|| "incomplete".to_owned()),
            created: iso8601_millis(created),
            duration: duration_s as f32,
            channels: u32::from(channels),
            models: processed.then(|| vec![self.model.uuid.clone()]),
            model_info: processed
                .then(|| BTreeMap::from([(self.model.uuid.clone(), self.model_info())])),
            extra: self.extra.clone(),
        }
    }
}
