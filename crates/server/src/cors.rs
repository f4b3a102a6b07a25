//! CORS for browsers on other origins (a web app calling `POST /v1/listen` or `GET /v1/models`
//! with its key, the playground pointed at another hark): a preflight `OPTIONS` is answered
//! here, and every answer to a request with an `Origin` names that origin. Credentials are keys
//! in headers, never cookies, so allowing any origin exposes nothing a key does not already.
//! The WebSocket upgrade's 101 gets Deepgram's own set ([`upgrade_headers`]).

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const METHODS: &str = "GET, POST, PUT, OPTIONS";
const DEFAULT_HEADERS: &str = "authorization, content-type";
const EXPOSED: &str = "dg-model-name,dg-model-uuid,dg-char-count,dg-request-id,dg-error";

/// CORS headers Deepgram sends on the 101 (PROTOCOL.md §1).
pub(crate) fn upgrade_headers(response: &mut Response, headers: &HeaderMap) {
    let Some(origin) = headers.get(header::ORIGIN).cloned() else {
        return;
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static(
            "origin, access-control-request-method, access-control-request-headers",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
}

pub async fn cors(request: Request, next: Next) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let asked = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or(HeaderValue::from_static(DEFAULT_HEADERS));
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        h.insert(header::VARY, HeaderValue::from_static("origin"));
        return response;
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if !h.contains_key(header::ACCESS_CONTROL_EXPOSE_HEADERS) {
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
    }
    if !h.contains_key(header::VARY) {
        h.insert(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}
