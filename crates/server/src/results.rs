//! What a request's messages share, and building its Results and Metadata: the live session's
//! and the pre-recorded reply's (whose `metadata` is the live closing Metadata).

use hark_asr::{ModelDescriptor, Transcript};
use hark_live::ResultSpan;
use hark_proto::ListenParams;
use hark_proto::{iso8601_millis, Channel, Metadata, ModelInfo, Results, ResultsMetadata};
use hark_text::{Counters, TextOptions, WindowTime};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// What every message of a session shares.
#[derive(Debug, Clone)]
pub struct ResultContext {
    pub request_id: String,
    pub model: ModelDescriptor,
    pub text: TextOptions,
    pub extra: BTreeMap<String, String>,
    pub engine_rate_hz: u32,
}

impl ResultContext {
    /// For a request with these parameters, answered by `model` at `engine_rate_hz`.
    pub fn new(
        request_id: &str,
        params: &ListenParams,
        model: &ModelDescriptor,
        engine_rate_hz: u32,
    ) -> Self {
        Self {
            request_id: request_id.to_owned(),
            model: model.clone(),
            text: TextOptions::from_params(params),
            extra: params.extra.iter().cloned().collect(),
            engine_rate_hz,
        }
    }

    fn model_info(&self) -> ModelInfo {
        ModelInfo {
            name: self.model.name.clone(),
            version: self.model.version.clone(),
            arch: self.model.arch.clone(),
        }
    }

    /// Where `span` lies on the stream's clock, in seconds.
    pub fn window(&self, span: ResultSpan) -> WindowTime {
        let rate = f64::from(self.engine_rate_hz);
        WindowTime {
            start_s: span.start_sample as f64 / rate,
            duration_s: span.samples as f64 / rate,
        }
    }

    /// A Results for one window (final or interim) of a stream with `channels` channels, with
    /// the text features of `text` (the request's, as `Configure` left them). `counters` are
    /// the channel's redaction counters; only a final advances them.
    pub fn results(
        &self,
        span: ResultSpan,
        channels: u16,
        transcript: &Transcript,
        text: &TextOptions,
        counters: &mut Counters,
    ) -> Results {
        let window = self.window(span);
        let rendered =
            hark_text::render(transcript, window, text, span.is_final.then_some(counters));
        Results {
            channel_index: [span.channel, channels],
            duration: window.duration_s as f32,
            start: window.start_s as f32,
            is_final: span.is_final,
            speech_final: span.speech_final,
            channel: Channel {
                search: rendered.search,
                alternatives: vec![rendered.alternative],
                detected_language: None,
            },
            metadata: ResultsMetadata {
                request_id: self.request_id.clone(),
                model_info: self.model_info(),
                model_uuid: self.model.uuid.clone(),
                extra: self.extra.clone(),
                diarize_info: None,
            },
            from_finalize: span.from_finalize,
            // Entities only on finals (FEATURES.md §11).
            entities: rendered.entities.filter(|_| span.is_final),
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
            warnings: Vec::new(),
            diarize_info: None,
        }
    }
}

/// `diarize_info` of the diarizer that labelled the words (`hark-diarize`, the same on both
/// paths): `arch` is the version asked for as Deepgram names them — `v2` for pre-recorded
/// `diarize_model=latest|v2`, `v1` otherwise (on the live socket `latest` is `v1`).
pub fn diarize_info(
    params: &hark_proto::ListenParams,
    pre_recorded: bool,
) -> hark_proto::DiarizeInfo {
    let arch = match params.diarize_model.as_deref() {
        Some("latest" | "v2") if pre_recorded => "v2",
        _ => "v1",
    };
    hark_proto::DiarizeInfo {
        model_uuid: hark_asr::ModelDescriptor::uuid_from("hark-diarize mfcc-bic 1"),
        arch: arch.to_owned(),
    }
}
