//! OpenAI's `POST /v1/audio/transcriptions`, for the clients that speak it (OpenAI's SDKs, and
//! the many tools built on them): a multipart form with `file`, `model`, `language`, `prompt`,
//! `response_format` (`json`, `text`, `srt`, `vtt`, `verbose_json`), `timestamp_granularities[]`
//! (`segment`, `word`) and `temperature`. The recording is transcribed as `POST /v1/listen`
//! transcribes it ([`super::job`]); segments split at pauses, after sentences and at 8 s.
//!
//! hark's choices: `model` may be OpenAI's names (`whisper-1`, `gpt-4o-transcribe`,
//! `gpt-4o-mini-transcribe`: the default model) or a model this server loaded; `prompt` biases
//! decoding as `keyterm` does; `temperature` is accepted and ignored (decoding is greedy with
//! OpenAI's temperature fallback); a `verbose_json` segment's `tokens` is empty and its
//! `no_speech_prob` 0 (only segments with words are reported). Errors are OpenAI's shape:
//! `{"error": {"message", "type", "param", "code"}}`. `Authorization: Bearer KEY` carries the
//! API key here. The form's `file` is read whole (up to `max_upload_bytes`) before decoding: its
//! other fields may follow it.

use super::job::{Job, JobError, Transcribed};
use crate::auth::{credential, Credential};
use crate::{metrics as m, AppState};
use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hark_asr::{DecodeOptions, Scheduler};
use hark_audio::{AudioPipeline, ChannelMode};
use hark_proto::Utterance;
use hark_text::{TextOptions, WindowTime};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// OpenAI's transcription model names: they select the default model.
pub const OPENAI_MODEL_NAMES: &[&str] =
    &["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"];

/// The pause (seconds) that ends a segment.
const SEGMENT_SPLIT_S: f32 = 0.8;
/// A segment also ends after a sentence once it is this long (seconds), and in any case at
/// [`SEGMENT_MAX_S`]: subtitles stay readable.
const SEGMENT_SENTENCE_S: f32 = 2.0;
const SEGMENT_MAX_S: f32 = 8.0;

/// Segments of a transcript's words: split at pauses of [`SEGMENT_SPLIT_S`], after a sentence
/// once [`SEGMENT_SENTENCE_S`] long, and before a word that would take one past [`SEGMENT_MAX_S`].
fn segments(words: &[hark_proto::Word]) -> Vec<Utterance> {
    let mut out = Vec::new();
    let mut start = 0;
    for k in 0..words.len() {
        let len_s = words[k].end - words[start].start;
        let sentence = words[k]
            .punctuated_word
            .as_deref()
            .is_some_and(|p| p.ends_with(['.', '?', '!']));
        let next = words.get(k + 1);
        let pause = next.is_none_or(|n| n.start - words[k].end >= SEGMENT_SPLIT_S);
        let too_long = next.is_some_and(|n| n.end - words[start].start > SEGMENT_MAX_S);
        if pause || too_long || (sentence && len_s >= SEGMENT_SENTENCE_S) {
            out.extend(Utterance::split(
                0,
                &words[start..=k],
                f32::INFINITY,
                String::new,
            ));
            start = k + 1;
        }
    }
    out
}

fn error(status: StatusCode, message: impl Into<String>, param: Option<&str>) -> Response {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        s if s.is_server_error() => "server_error",
        _ => "invalid_request_error",
    };
    let body =
        json!({"error": {"message": message.into(), "type": kind, "param": param, "code": null}});
    metrics::counter!(m::PRERECORDED_REFUSED_TOTAL, "reason" => "openai").increment(1);
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Read a refused request's form before answering (up to 64 MiB), so that a client still
/// uploading sees the answer rather than a reset connection.
async fn drain(mut form: Multipart) {
    let mut left: i64 = 64 << 20;
    while let Ok(Some(mut field)) = form.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            left -= chunk.len() as i64;
            if left < 0 {
                return;
            }
        }
    }
}

/// The form's fields.
#[derive(Default)]
struct Form {
    file: Option<Bytes>,
    model: Option<String>,
    language: Option<String>,
    prompt: Option<String>,
    format: Option<String>,
    words: bool,
}

async fn read_form(mut form: Multipart, limit: u64) -> Result<Form, Response> {
    let bad = |e: &dyn std::fmt::Display| {
        error(
            StatusCode::BAD_REQUEST,
            format!("Could not read the multipart form: {e}"),
            None,
        )
    };
    let mut out = Form::default();
    while let Some(mut field) = form.next_field().await.map_err(|e| bad(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let mut data = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| bad(&e))? {
                data.extend_from_slice(&chunk);
                if data.len() as u64 > limit {
                    let msg =
                        format!("The file is larger than this server's limit of {limit} bytes.");
                    return Err(error(StatusCode::PAYLOAD_TOO_LARGE, msg, Some("file")));
                }
            }
            out.file = Some(Bytes::from(data));
            continue;
        }
        let text = field.text().await.map_err(|e| bad(&e))?;
        match name.as_str() {
            "model" => out.model = Some(text),
            "language" => out.language = Some(text),
            "prompt" => out.prompt = Some(text),
            "response_format" => out.format = Some(text),
            "timestamp_granularities[]" | "timestamp_granularities" => {
                out.words |= text.split(',').any(|g| g.trim() == "word");
            }
            // `temperature`, `stream`, `include[]`, `chunking_strategy`: accepted, not used.
            _ => {}
        }
    }
    Ok(out)
}

fn language_name(code: &str) -> &str {
    match code {
        "en" => "english",
        "de" => "german",
        "fr" => "french",
        "es" => "spanish",
        "it" => "italian",
        "pt" => "portuguese",
        "nl" => "dutch",
        "ja" => "japanese",
        "zh" => "chinese",
        other => other,
    }
}

/// Subtitles: one cue per segment.
fn subtitles(segments: &[Utterance], vtt: bool) -> String {
    let mut out = String::from(if vtt { "WEBVTT\n\n" } else { "" });
    let sep = if vtt { '.' } else { ',' };
    for (i, s) in segments.iter().enumerate() {
        if !vtt {
            out += &format!("{}\n", i + 1);
        }
        out += &format!(
            "{} --> {}\n{}\n\n",
            hark_text::subtitle_time(f64::from(s.start), sep),
            hark_text::subtitle_time(f64::from(s.end), sep),
            s.transcript.trim()
        );
    }
    out
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Multipart,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let presented = match credential(&headers, &[]) {
        Some(Credential::Bearer(k)) => Some(Credential::ApiKey(k)),
        other => other,
    };
    if !state.keys.allows(presented.as_ref()) {
        drain(form).await;
        return error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            None,
        );
    }
    if state.draining.load(Ordering::SeqCst) {
        drain(form).await;
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "This server is shutting down.",
            None,
        );
    }
    let form = match read_form(form, state.config.max_upload_bytes).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(file) = form.file.filter(|f| !f.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "A non-empty `file` is required.",
            Some("file"),
        );
    };
    let Some(model) = form.model.filter(|m| !m.trim().is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "`model` is required.",
            Some("model"),
        );
    };
    let format = form.format.unwrap_or_else(|| "json".into());
    if !["json", "text", "srt", "vtt", "verbose_json"].contains(&format.as_str()) {
        let msg =
            format!("`response_format` {format} is not one of json, text, srt, vtt, verbose_json.");
        return error(StatusCode::BAD_REQUEST, msg, Some("response_format"));
    }
    let scheduler: Scheduler = match state.registry.resolve(Some(model.trim())) {
        Ok(s) => s.clone(),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string(), Some("model")),
    };
    let language = form.language.filter(|l| !l.trim().is_empty());
    let pipeline = match AudioPipeline::new(
        None,
        None,
        1,
        scheduler.sample_rate_hz(),
        ChannelMode::MixDown,
    ) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string(), Some("file")),
    };
    let options = DecodeOptions {
        // Absent: a multilingual model detects it, as OpenAI's does.
        language: language.clone(),
        keyterms: form
            .prompt
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .collect(),
        long_form: true,
        ..DecodeOptions::default()
    };
    let job = Job::new(scheduler.clone(), pipeline, options, state.config.vad, 1, 1);
    metrics::counter!(m::PRERECORDED_TOTAL).increment(1);
    let chunks = Box::pin(futures_util::stream::iter([Ok(file)]));
    let done = match super::transcribe(job, chunks).await {
        Ok(d) => d,
        Err(super::Failed::Api(e)) => {
            return error(StatusCode::BAD_REQUEST, e.err_msg, Some("file"))
        }
        Err(super::Failed::Job(JobError::Audio(e))) => {
            let msg = format!("The audio file could not be decoded: {e}");
            return error(StatusCode::BAD_REQUEST, msg, Some("file"));
        }
        Err(super::Failed::Job(JobError::Engine(detail))) => {
            tracing::error!(request_id = %request_id, %detail, "engine failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The model failed on this request.",
                None,
            );
        }
    };
    tracing::info!(request_id = %request_id, duration_s = done.duration_s, format = %format, "openai transcription done");
    // The language asked for, else the one detected, else English (an English-only model).
    let language = language
        .or_else(|| done.channels.first().and_then(|t| t.language.clone()))
        .unwrap_or_else(|| "en".into());
    respond(&format, form.words, &language, done)
}

fn respond(format: &str, words: bool, language: &str, done: Transcribed) -> Response {
    let window = WindowTime {
        start_s: 0.0,
        duration_s: done.duration_s,
    };
    let transcript = done.channels.first().cloned().unwrap_or_default();
    let alt = hark_text::alternative(&transcript, window, &TextOptions::written_form());
    let segments = segments(&alt.words);
    let (content_type, body) = match format {
        "text" => ("text/plain; charset=utf-8", format!("{}\n", alt.transcript)),
        "srt" => ("text/plain; charset=utf-8", subtitles(&segments, false)),
        "vtt" => ("text/vtt; charset=utf-8", subtitles(&segments, true)),
        "verbose_json" => {
            let segs: Vec<Value> = segments
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let n = s.words.len().max(1) as f32;
                    let avg_logprob = s.words.iter().map(|w| w.confidence.max(1e-6).ln()).sum::<f32>() / n;
                    json!({"id": i, "seek": 0, "start": s.start, "end": s.end,
                           "text": format!(" {}", s.transcript), "tokens": [], "temperature": 0.0,
                           "avg_logprob": avg_logprob, "compression_ratio": compression_ratio(&s.transcript),
                           "no_speech_prob": 0.0})
                })
                .collect();
            let mut v = json!({"task": "transcribe", "language": language_name(language),
                               "duration": done.duration_s, "text": alt.transcript, "segments": segs});
            if words {
                v["words"] = alt
                    .words
                    .iter()
                    .map(|w| {
                        let text = w.punctuated_word.as_deref().unwrap_or(&w.word);
                        let bare =
                            text.trim_matches(|c: char| c.is_ascii_punctuation() && c != '\'');
                        json!({"word": bare, "start": w.start, "end": w.end})
                    })
                    .collect::<Value>();
            }
            ("application/json", v.to_string())
        }
        _ => (
            "application/json",
            json!({"text": alt.transcript}).to_string(),
        ),
    };
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Bytes of text over bytes of its DEFLATE stream: how repetitive it is (OpenAI's measure).
fn compression_ratio(text: &str) -> f32 {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = z.write_all(text.as_bytes()).and_then(|()| z.finish());
    match compressed {
        Ok(c) if !c.is_empty() => text.len() as f32 / c.len() as f32,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtitles_number_srt_cues_and_head_vtt() {
        let seg = |start: f32, end: f32, t: &str| Utterance {
            start,
            end,
            confidence: 0.9,
            channel: 0,
            transcript: t.into(),
            words: vec![],
            speaker: None,
            id: String::new(),
        };
        let s = [seg(0.5, 1.25, "Hello."), seg(3661.0, 3662.5, "Bye.")];
        assert_eq!(
            subtitles(&s, false),
            "1\n00:00:00,500 --> 00:00:01,250\nHello.\n\n2\n01:01:01,000 --> 01:01:02,500\nBye.\n\n"
        );
        assert!(
            subtitles(&s, true).starts_with("WEBVTT\n\n00:00:00.500 --> 00:00:01.250\nHello.\n")
        );
        assert!(compression_ratio(&"ha ".repeat(200)) > 10.0);
        // Segments end at pauses, after sentences once 2 s long, and at 8 s at the latest.
        let w = |t: &str, start: f32, end: f32| hark_proto::Word {
            word: t.trim_end_matches('.').to_lowercase(),
            start,
            end,
            confidence: 0.9,
            language: None,
            speaker: None,
            speaker_confidence: None,
            punctuated_word: Some(t.into()),
        };
        let words: Vec<_> = [
            ("One.", 0.0, 0.5),
            ("Two", 0.6, 1.5),
            ("three.", 1.6, 2.5),
            ("Four", 2.6, 3.0),
        ]
        .into_iter()
        .map(|(t, a, b)| w(t, a, b))
        .chain((0..20).map(|i| w("on", 4.0 + i as f32 * 0.5, 4.4 + i as f32 * 0.5)))
        .collect();
        let got: Vec<(f32, f32)> = segments(&words).iter().map(|s| (s.start, s.end)).collect();
        // "One." alone is too short to end a segment; "three." ends one at 2.5 s; the pause after
        // "Four" ends the next; 20 words from 4 s on are cut before passing 8 s.
        assert_eq!(got[0], (0.0, 2.5));
        assert_eq!(got[1], (2.6, 3.0));
        assert!(got[2..].iter().all(|(a, b)| b - a <= 8.0), "{got:?}");
        assert_eq!(
            segments(&words)
                .iter()
                .map(|s| s.words.len())
                .sum::<usize>(),
            words.len()
        );
        assert!(compression_ratio("a short line") < 2.0);
    }
}
