//! `POST /v1/listen`: pre-recorded transcription at full speed (PROTOCOL.md §6).
//!
//! The body is raw audio (any format the live socket takes; `encoding`/`sample_rate` for
//! headerless audio, otherwise the container is sniffed) or, with `Content-Type:
//! application/json`, `{"url": …}` fetched by the server ([`fetch`]). The audio is decoded as
//! it arrives, cut at pauses into windows ([`hark_live::BatchCutter`]) and every window goes to
//! the engine at once as bulk work: the scheduler batches it, after everything live streams
//! ask for. With `callback`, the answer is `{"request_id"}` and the reply is delivered later. The
//! reply is `{metadata, results}`: one alternative per channel (`multichannel=true` splits
//! them), words by the text stage (`hark-text`), and `utterances` when asked.
//!
//! Refusals are Deepgram's: the live handshake's for auth, parameters, model and draining; 400
//! for an empty, unreadable or non-audio body or a URL that gives no audio; 413 above the upload
//! limit; 500 if the engine fails.

mod callback;
mod fetch;
mod job;
pub mod openai;

use crate::auth::credential;
use crate::http_error::refusal;
use crate::results::ResultContext;
use crate::{metrics as m, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use hark_asr::DecodeOptions;
use hark_proto::{
    ApiError, CallbackMethod, Channel, ListenParams, PrerecordedResponse, PrerecordedResults,
    UrlSource, Utterance,
};
use hark_text::WindowTime;
use job::{Job, JobError, Transcribed};
use serde_json::json;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;

/// Largest `{"url": …}` body read.
const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

pub(crate) type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, ApiError>> + Send>>;

fn refuse(error: &ApiError, request_id: &str, why: &'static str) -> Response {
    metrics::counter!(m::PRERECORDED_REFUSED_TOTAL, "reason" => why).increment(1);
    tracing::info!(request_id, status = error.status, err_code = error.err_code, err_msg = %error.err_msg, "pre-recorded request refused");
    refusal(error, request_id)
}

fn unprocessable(detail: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: 400,
        err_code: "Bad Request",
        err_msg: format!("failed to process audio: corrupt or unsupported data ({detail})"),
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError {
        status: 413,
        err_code: "PAYLOAD_TOO_LARGE",
        err_msg: format!("The request body is larger than this server's limit of {limit} bytes."),
    }
}

/// Refused requests' bodies are read up to this much before the answer.
const DRAIN_LIMIT_BYTES: usize = 64 << 20;

/// Where and how to deliver a `callback` reply.
struct Callback {
    url: String,
    put: bool,
}

/// What the checks accept.
struct Accepted {
    params: ListenParams,
    scheduler: hark_asr::Scheduler,
    pipeline: hark_audio::AudioPipeline,
    callback: Option<Callback>,
}

/// Every check made before the body is read: auth, the query (a callback's URL and method
/// included), draining, the model and the audio front end. The refusal and its metric reason
/// otherwise.
fn checks(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Accepted, (ApiError, &'static str)> {
    if !state.keys.allows(credential(headers, &[]).as_ref()) {
        return Err((ApiError::invalid_auth(), "auth"));
    }
    let params = ListenParams::from_query(query.unwrap_or("")).map_err(|e| (e, "params"))?;
    if state.draining.load(Ordering::SeqCst) {
        let e = ApiError::unavailable("This server is shutting down; try another instance.");
        return Err((e, "draining"));
    }
    let (scheduler, pipeline) = crate::listen::model_and_pipeline(state, &params)?;
    let callback = match &params.callback {
        None => None,
        Some(url) => {
            let put = match params.callback_method {
                None | Some(CallbackMethod::Post) => false,
                Some(CallbackMethod::Put) => true,
                Some(_) => {
                    let e = ApiError::invalid_param("callback_method", "use post or put");
                    return Err((e, "callback"));
                }
            };
            callback::check(url, state.config.allow_private_urls)
                .map_err(|e| (ApiError::bad_request(format!("callback: {e}")), "callback"))?;
            Some(Callback {
                url: url.clone(),
                put,
            })
        }
    };
    Ok(Accepted {
        params,
        scheduler,
        pipeline,
        callback,
    })
}

/// A JSON body with `status`, and `dg-request-id`.
fn json_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("dg-request-id", v);
    }
    r
}

/// Count and log a finished transcription.
fn record(request_id: &str, done: &Transcribed, started: std::time::Instant) {
    metrics::counter!(m::AUDIO_RECEIVED_SECONDS_TOTAL).increment(done.duration_s.round() as u64);
    metrics::counter!(m::AUDIO_RECEIVED_BYTES_TOTAL).increment(done.bytes);
    tracing::info!(
        request_id,
        duration_s = done.duration_s,
        wall_ms = started.elapsed().as_millis() as u64,
        "pre-recorded request done"
    );
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let created = SystemTime::now();
    let checked = checks(&state, &headers, query.as_deref());
    let Accepted {
        params,
        scheduler,
        pipeline,
        callback,
    } = match checked {
        Ok(accepted) => accepted,
        Err((e, why)) => {
            // Read what the client is still sending first: a client that is refused mid-upload
            // sees a reset connection instead of the answer (JS's fetch does).
            let _ = axum::body::to_bytes(body, DRAIN_LIMIT_BYTES).await;
            return refuse(&e, &request_id, why);
        }
    };
    let limit = state.config.max_upload_bytes;
    let allow_private = state.config.allow_private_urls;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let chunks = if json {
        match url_chunks(body, limit, allow_private).await {
            Ok(c) => c,
            Err(e) => return refuse(&e, &request_id, "url"),
        }
    } else {
        body_chunks(body, limit)
    };
    let options = DecodeOptions {
        // `detect_language` overrides `language` (FEATURES.md §19).
        language: (params.language != "multi" && params.detect_language.is_none())
            .then(|| params.language.clone()),
        language_candidates: params.detect_language.clone().unwrap_or_default(),
        keyterms: params.keyterm.clone(),
        keywords: params
            .keywords
            .iter()
            .map(|k| (k.word.clone(), k.intensifier))
            .collect(),
        long_form: true,
        ..DecodeOptions::default()
    };
    let mut job = Job::new(
        scheduler.clone(),
        pipeline,
        options,
        state.config.vad,
        usize::from(params.result_channels()),
        params.channels,
    );
    if params.diarizing() {
        job = job.diarize();
    }
    let ctx = ResultContext::new(
        &request_id,
        &params,
        scheduler.descriptor(),
        scheduler.sample_rate_hz(),
    );
    metrics::counter!(m::PRERECORDED_TOTAL).increment(1);
    let started = std::time::Instant::now();
    if let Some(Callback { url, put }) = callback {
        // An upload is read whole before the answer (a URL source is fetched later).
        let chunks = if json {
            chunks
        } else {
            match buffered(chunks).await {
                Ok(c) => c,
                Err(e) => return refuse(&e, &request_id, "audio"),
            }
        };
        let secret = state.config.callback_secret.clone();
        let id = request_id.clone();
        tokio::spawn(async move {
            let body = match transcribe(job, chunks).await {
                Ok(done) => {
                    record(&id, &done, started);
                    respond(&ctx, created, &params, done)
                }
                Err(e) => failure(e, &id).body_json(&id),
            };
            let _ = tokio::task::spawn_blocking(move || {
                callback::deliver(&url, put, &body, &id, secret.as_deref(), allow_private)
            })
            .await;
        });
        let body = json!({ "request_id": request_id }).to_string();
        return json_response(StatusCode::OK, body, &request_id);
    }
    let done = match transcribe(job, chunks).await {
        Ok(t) => t,
        Err(e) => {
            let why = match &e {
                Failed::Job(JobError::Engine(_)) => "engine",
                _ => "audio",
            };
            return refuse(&failure(e, &request_id), &request_id, why);
        }
    };
    record(&request_id, &done, started);
    let body = respond(&ctx, created, &params, done);
    json_response(StatusCode::OK, body, &request_id)
}

/// The refusal for a failed transcription.
fn failure(e: Failed, request_id: &str) -> ApiError {
    match e {
        Failed::Api(e) => e,
        Failed::Job(JobError::Audio(e)) => unprocessable(e),
        Failed::Job(JobError::Engine(detail)) => {
            tracing::error!(request_id, %detail, "engine failed");
            ApiError {
                status: 500,
                err_code: "INTERNAL_SERVER_ERROR",
                err_msg: "The model failed on this request; see the server's log.".into(),
            }
        }
    }
}

/// The whole upload, read now (up to the limit), as chunks.
async fn buffered(mut chunks: Chunks) -> Result<Chunks, ApiError> {
    let mut all = Vec::new();
    while let Some(c) = chunks.next().await {
        all.push(c?);
    }
    Ok(Box::pin(futures_util::stream::iter(
        all.into_iter().map(Ok),
    )))
}

pub(crate) enum Failed {
    Api(ApiError),
    Job(JobError),
}

pub(crate) async fn transcribe(mut job: Job, mut chunks: Chunks) -> Result<Transcribed, Failed> {
    let mut any = false;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(Failed::Api)?;
        if chunk.is_empty() {
            continue;
        }
        any = true;
        job.push(chunk).await.map_err(Failed::Job)?;
    }
    if !any {
        return Err(Failed::Api(unprocessable("the request body is empty")));
    }
    job.finish().await.map_err(Failed::Job)
}

/// The request body as it arrives, cut off past `limit` bytes.
fn body_chunks(body: Body, limit: u64) -> Chunks {
    let mut total = 0u64;
    Box::pin(body.into_data_stream().map(move |c| {
        let c = c.map_err(|e| ApiError {
            status: 422,
            err_code: "ASR_UNPROCESSABLE_ENTITY",
            err_msg: format!("Unable to read the entire client request. ({e})"),
        })?;
        total += c.len() as u64;
        if total > limit {
            return Err(too_large(limit));
        }
        Ok(c)
    }))
}

/// `{"url": …}`: the recording, fetched on the blocking pool.
async fn url_chunks(body: Body, limit: u64, allow_private: bool) -> Result<Chunks, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_JSON_BODY_BYTES)
        .await
        .map_err(|e| ApiError::bad_request(format!("unreadable JSON body: {e}")))?;
    let source: UrlSource = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "a JSON body must be {{\"url\": \"https://…\"}}: {e}"
        ))
    })?;
    let (tx, rx) = mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = fetch::fetch(&source.url, limit, allow_private, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        let item = item.map_err(|e| {
            if e.too_large {
                ApiError {
                    status: 413,
                    err_code: "PAYLOAD_TOO_LARGE",
                    err_msg: e.message,
                }
            } else {
                ApiError::bad_request(format!("could not fetch the audio: {}", e.message))
            }
        });
        Some((item, rx))
    });
    Ok(Box::pin(stream))
}

/// Each word's `speaker` and `speaker_confidence` from the channel's voice features.
fn label_speakers(words: &mut [hark_proto::Word], frames: &[[f32; hark_diarize::N_COEFFS]]) {
    let spans: Vec<(f32, f32)> = words.iter().map(|w| (w.start, w.end)).collect();
    for (w, label) in words.iter_mut().zip(hark_diarize::diarize(frames, &spans)) {
        w.speaker = Some(label.speaker);
        w.speaker_confidence = Some(label.confidence);
    }
}

/// The `{metadata, results}` body.
fn respond(
    ctx: &ResultContext,
    created: SystemTime,
    params: &ListenParams,
    done: Transcribed,
) -> String {
    let window = WindowTime {
        start_s: 0.0,
        duration_s: done.duration_s,
    };
    let with_paragraphs = params.paragraphs || params.smart_format;
    let channels: Vec<Channel> = done
        .channels
        .iter()
        .enumerate()
        .map(|(ch, t)| {
            // Redaction tags count per transcript.
            let mut counters = hark_text::Counters::default();
            // With detect_language the channel's language (an English-only model's is English)
            // decides which features apply.
            let detected = params
                .detect_language
                .as_ref()
                .map(|_| t.language.clone().unwrap_or_else(|| "en".to_owned()));
            let mut text = ctx.text.clone();
            if let Some(lang) = &detected {
                text.english = lang.starts_with("en");
            }
            let r = hark_text::render(t, window, &text, Some(&mut counters));
            let mut alternative = r.alternative;
            if let Some(voices) = &done.voices {
                let frames = voices.get(ch).map_or(&[][..], |m| m.frames());
                label_speakers(&mut alternative.words, frames);
            }
            alternative.entities = r.entities;
            alternative.paragraphs =
                with_paragraphs.then(|| hark_text::paragraphs(&alternative.words));
            Channel {
                search: r.search,
                alternatives: vec![alternative],
                detected_language: detected,
            }
        })
        .collect();
    let utterances = params.utterances.then(|| {
        let mut all: Vec<Utterance> = channels
            .iter()
            .enumerate()
            .flat_map(|(ch, c)| {
                let words = c.alternatives.first().map_or(&[][..], |a| &a.words[..]);
                Utterance::split(ch as u16, words, params.utt_split_s, || {
                    uuid::Uuid::new_v4().to_string()
                })
            })
            .collect();
        all.sort_by(|a, b| a.start.total_cmp(&b.start));
        all
    });
    let mut metadata = ctx.metadata(
        created,
        Some(done.sha256),
        done.duration_s,
        done.input_channels,
    );
    metadata.warnings = hark_text::unsupported_language_warnings(params);
    metadata.diarize_info = done
        .voices
        .as_ref()
        .map(|_| crate::results::diarize_info(params, true));
    let body = PrerecordedResponse {
        metadata,
        results: PrerecordedResults {
            channels,
            utterances,
        },
    };
    serde_json::to_string(&body).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
