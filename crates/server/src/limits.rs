//! Limits on a request before any handler sees it. hyper already refuses a URI over 64 KiB (414)
//! and more than 100 headers (431); the total size of the headers is bounded here, since hyper's
//! read buffer (about 400 KiB) does not reliably refuse one huge header.

use crate::http_error::refusal;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use hark_proto::ApiError;

/// Largest total of header names and values a request may carry.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Refuse a request whose headers exceed [`MAX_HEADER_BYTES`] with a Deepgram-shaped 431.
pub async fn limit_headers(request: Request, next: Next) -> Response {
    let bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        let e = ApiError {
            status: 431,
            err_code: "REQUEST_HEADER_FIELDS_TOO_LARGE",
            err_msg: format!("The request's headers take {bytes} bytes; at most {MAX_HEADER_BYTES} are accepted."),
        };
        metrics::counter!(crate::metrics::HANDSHAKES_REFUSED_TOTAL, "reason" => "headers")
            .increment(1);
        return refusal(&e, &uuid::Uuid::new_v4().to_string());
    }
    next.run(request).await
}
