//! `GET /v1/listen`: every check that can refuse a client happens here, before the upgrade.

use crate::auth::{chosen_protocol, credential, offered_protocols};
use crate::http_error::refusal;
use crate::session::{self, SessionSetup};
use crate::{metrics as m, AppState};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hark_asr::{AsrError, Scheduler};
use hark_audio::{AudioPipeline, ChannelMode};
use hark_proto::{ApiError, FluxParams, ListenParams};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

fn refuse(error: &ApiError, request_id: &str, why: &'static str) -> Response {
    metrics::counter!(m::HANDSHAKES_REFUSED_TOTAL, "reason" => why).increment(1);
    tracing::info!(request_id, status = error.status, err_code = error.err_code, err_msg = %error.err_msg, "handshake refused");
    refusal(error, request_id)
}

/// The model `?model=` selects and the audio front end for the query's encoding, rate and
/// channels (which it validates): the refusal and its metric reason otherwise.
pub(crate) fn model_and_pipeline(
    state: &AppState,
    params: &ListenParams,
) -> Result<(Scheduler, AudioPipeline), (ApiError, &'static str)> {
    let scheduler = match state.registry.resolve(params.model.as_deref()) {
        Ok(s) => s.clone(),
        Err(AsrError::UnknownModel(name)) => {
            let e = ApiError::bad_request(format!("No such model/language/tier combination found. (model `{name}` is not loaded on this server)"));
            return Err((e, "model"));
        }
        Err(e) => return Err((ApiError::unavailable(e.to_string()), "model")),
    };
    let mode = if params.multichannel {
        ChannelMode::Split
    } else {
        ChannelMode::MixDown
    };
    let pipeline = AudioPipeline::new(
        params.encoding,
        params.sample_rate_hz,
        params.channels,
        scheduler.sample_rate_hz(),
        mode,
    )
    .map_err(|e| (ApiError::bad_request(e), "encoding"))?;
    Ok((scheduler, pipeline))
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let (request_id, refused) = begin(&state, &headers, query.as_deref(), "listen request");
    if let Some(refused) = refused {
        return refused;
    }
    let parsed = ListenParams::from_query(query.as_deref().unwrap_or(""));
    let params = match parsed.and_then(|p| p.check_streaming().map(|()| p)) {
        Ok(p) => p,
        Err(e) => return refuse(&e, &request_id, "params"),
    };
    accept(state, headers, upgrade, request_id, params, None)
}

/// `GET /v2/listen`: Flux, the turn-taking API (docs/FLUX.md). The same checks as `/v1/listen`;
/// `flux-general-en` and `flux-general-multi` run on a model loaded under that name, or else on
/// the default model.
pub async fn flux_handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let (request_id, refused) = begin(&state, &headers, query.as_deref(), "flux request");
    if let Some(refused) = refused {
        return refused;
    }
    let flux = match FluxParams::from_query(query.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return refuse(&e, &request_id, "params"),
    };
    let mut params = flux.listen_params();
    if state.registry.resolve(Some(&flux.model)).is_ok() {
        params.model = Some(flux.model.clone());
    }
    accept(state, headers, upgrade, request_id, params, Some(flux))
}

/// A new request's id, the request logged (`what`), and its refusal if it has no valid key.
fn begin(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    what: &'static str,
) -> (String, Option<Response>) {
    let request_id = uuid::Uuid::new_v4().to_string();
    // The full query can name key terms or tags a deployment may not want in its logs: debug only.
    tracing::debug!(request_id = %request_id, query = query.unwrap_or(""), "{what}");
    let protocols = offered_protocols(headers);
    let refused = (!state.keys.allows(credential(headers, &protocols).as_ref()))
        .then(|| refuse(&ApiError::invalid_auth(), &request_id, "auth"));
    (request_id, refused)
}

/// Every check after the parameters parse, then the upgrade.
fn accept(
    state: Arc<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    request_id: String,
    params: ListenParams,
    flux: Option<FluxParams>,
) -> Response {
    let protocols = offered_protocols(&headers);
    if state.draining.load(Ordering::SeqCst) {
        let e = ApiError::unavailable(
            "This server is shutting down; connect again to reach another instance.",
        );
        return refuse(&e, &request_id, "draining");
    }
    let (scheduler, pipeline) = match model_and_pipeline(&state, &params) {
        Ok(found) => found,
        Err((e, why)) => return refuse(&e, &request_id, why),
    };
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rejection) => {
            let e = ApiError {
                status: StatusCode::UPGRADE_REQUIRED.as_u16(),
                err_code: "UPGRADE_REQUIRED",
                err_msg: format!("/v1/listen and /v2/listen stream over WebSocket: {rejection}"),
            };
            return refuse(&e, &request_id, "not_websocket");
        }
    };
    let slots = match scheduler.acquire(usize::from(params.result_channels())) {
        Ok(s) => s,
        Err(e) => return refuse(&ApiError::too_many_requests(e), &request_id, "capacity"),
    };
    let upgrade = match chosen_protocol(&protocols) {
        Some(p) => upgrade.protocols([p]),
        None => upgrade,
    };
    tracing::info!(request_id = %request_id, model = %scheduler.descriptor().name, encoding = ?params.encoding,
        sample_rate = ?params.sample_rate_hz, channels = params.channels, unknown_params = params.unknown.len(), "stream accepted");
    let setup = SessionSetup {
        request_id: request_id.clone(),
        params,
        scheduler,
        slots,
        created: SystemTime::now(),
        flux,
    };
    let session_state = Arc::clone(&state);
    let mut response = upgrade
        .max_message_size(state.config.max_message_bytes)
        // Audio frames are a few KiB; tungstenite's 128 KiB default read buffer dominated idle memory.
        .read_buffer_size(16 * 1024)
        .on_failed_upgrade(|e| tracing::warn!(error = %e, "upgrade failed"))
        .on_upgrade(move |socket| session::run(socket, setup, pipeline, session_state))
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("dg-request-id", v);
    }
    crate::cors::upgrade_headers(&mut response, &headers);
    response
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    for s in state.registry.schedulers() {
        let model = s.descriptor().name.clone();
        let (in_use, capacity) = (s.streams_in_use(), s.config().max_streams.max(1));
        metrics::gauge!(m::MODEL_STREAMS_IN_USE, "model" => model.clone()).set(in_use as f64);
        metrics::gauge!(m::MODEL_CAPACITY_STREAMS, "model" => model.clone()).set(capacity as f64);
        metrics::gauge!(m::MODEL_UTILIZATION_RATIO, "model" => model.clone())
            .set(in_use as f64 / capacity as f64);
        let c = s.counters();
        metrics::counter!(m::MODEL_BATCHES_TOTAL, "model" => model.clone()).absolute(c.calls);
        metrics::counter!(m::MODEL_WINDOWS_TOTAL, "model" => model.clone()).absolute(c.windows);
        metrics::counter!(m::MODEL_WINDOWS_AHEAD_TOTAL, "model" => model).absolute(c.windows_ahead);
    }
    match m::handle() {
        Some(h) => ([("content-type", "text/plain; version=0.0.4")], h.render()).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable",
        )
            .into_response(),
    }
}

pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.draining.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    } else if state.registry.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "no model loaded").into_response()
    } else {
        "ready".into_response()
    }
}
