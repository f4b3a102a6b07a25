//! Typed errors: handshake refusals shaped like Deepgram's legacy error body, and control-message errors.

use serde::Serialize;

/// A refusal that happens before the WebSocket upgrade (or on the REST endpoint).
///
/// Serialised by the server as `{"err_code","err_msg","request_id"}` with the same message in the
/// `dg-error` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {err_code}: {err_msg}")]
pub struct ApiError {
    /// HTTP status code, e.g. 400 or 401.
    pub status: u16,
    /// Deepgram's machine-readable code, e.g. `INVALID_QUERY_PARAMETER`.
    pub err_code: &'static str,
    /// Human-readable message; also sent in the `dg-error` header.
    pub err_msg: String,
}

/// The JSON body of a refusal.
#[derive(Debug, Serialize)]
pub struct ApiErrorBody<'a> {
    pub err_code: &'a str,
    pub err_msg: &'a str,
    pub request_id: &'a str,
}

impl ApiError {
    /// 400 `INVALID_QUERY_PARAMETER` for a parameter that cannot be parsed or is out of range.
    pub fn invalid_param(param: &str, detail: impl std::fmt::Display) -> Self {
        Self {
            status: 400,
            err_code: "INVALID_QUERY_PARAMETER",
            err_msg: format!("Failed to deserialize query parameters: `{param}`: {detail}"),
        }
    }

    /// 400 `Bad Request` for a request that parses but asks for something that does not exist.
    pub fn bad_request(detail: impl std::fmt::Display) -> Self {
        Self {
            status: 400,
            err_code: "Bad Request",
            err_msg: format!("Bad Request: {detail}"),
        }
    }

    /// 401 `INVALID_AUTH`.
    pub fn invalid_auth() -> Self {
        Self {
            status: 401,
            err_code: "INVALID_AUTH",
            err_msg: "Invalid credentials.".to_owned(),
        }
    }

    /// 429 `TOO_MANY_REQUESTS`: the server has no free stream slot.
    pub fn too_many_requests(detail: impl std::fmt::Display) -> Self {
        Self {
            status: 429,
            err_code: "TOO_MANY_REQUESTS",
            err_msg: format!("Too many requests. Please try again later: {detail}"),
        }
    }

    /// 503 `SERVICE_UNAVAILABLE`: the server is draining and takes no new streams.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        Self {
            status: 503,
            err_code: "SERVICE_UNAVAILABLE",
            err_msg: detail.to_string(),
        }
    }

    /// The JSON body for this error.
    pub fn body_json(&self, request_id: &str) -> String {
        let body = ApiErrorBody {
            err_code: self.err_code,
            err_msg: &self.err_msg,
            request_id,
        };
        serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
    }
}

/// A text frame that is not a valid control message. The session stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("text frame is not valid JSON: {0}")]
    NotJson(String),
    #[error("text frame is JSON but not an object with a string `type` field")]
    MissingType,
    #[error(
        "unknown message type `{0}`; expected KeepAlive, Finalize, CloseStream, Configure or Sync"
    )]
    UnknownType(String),
    #[error("invalid `{kind}` message: {detail}")]
    InvalidField { kind: &'static str, detail: String },
}
