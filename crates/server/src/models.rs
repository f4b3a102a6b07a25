//! `GET /v1/models`: the models this server has loaded, in the shape of Deepgram's model list
//! (`{"stt": [...], "tts": []}`), behind the same keys as `/v1/listen`.

use crate::auth::{credential, offered_protocols};
use crate::http_error::refusal;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use hark_proto::ApiError;
use serde::Serialize;
use std::sync::Arc;

/// One entry of `stt`, as Deepgram lists its models.
#[derive(Debug, Serialize)]
struct SttModel {
    name: String,
    canonical_name: String,
    architecture: String,
    version: String,
    uuid: String,
    /// `POST /v1/listen` takes it.
    batch: bool,
    /// `/v1/listen` and `/v2/listen` stream on it.
    streaming: bool,
    /// Punctuation, smart format and the other transcript features apply.
    formatted_output: bool,
    /// Selected when a request names no model (or a Deepgram model name such as `nova-3`).
    default: bool,
}

#[derive(Debug, Serialize)]
struct ModelList {
    stt: Vec<SttModel>,
    tts: Vec<SttModel>,
}

pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let protocols = offered_protocols(&headers);
    if !state.keys.allows(credential(&headers, &protocols).as_ref()) {
        let request_id = uuid::Uuid::new_v4().to_string();
        return refusal(&ApiError::invalid_auth(), &request_id);
    }
    let default = state
        .registry
        .resolve(None)
        .ok()
        .map(|s| s.descriptor().name.clone());
    let stt = state
        .registry
        .schedulers()
        .map(|s| {
            let d = s.descriptor();
            SttModel {
                name: d.name.clone(),
                canonical_name: d.name.clone(),
                architecture: d.arch.clone(),
                version: d.version.clone(),
                uuid: d.uuid.clone(),
                batch: true,
                streaming: true,
                formatted_output: true,
                default: default.as_deref() == Some(d.name.as_str()),
            }
        })
        .collect();
    let body = serde_json::to_string(&ModelList {
        stt,
        tts: Vec::new(),
    })
    .unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
