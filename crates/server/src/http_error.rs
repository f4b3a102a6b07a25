//! A Deepgram-style refusal as an HTTP response: status, JSON body, `dg-error`, `dg-request-id`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hark_proto::ApiError;

pub fn refusal(error: &ApiError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, error.body_json(request_id)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Header values must be visible ASCII; keep the message readable if it is not.
    let dg_error: String = error
        .err_msg
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&dg_error) {
        headers.insert("dg-error", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("dg-request-id", v);
    }
    response
}
