//! # hark-playground — the browser playground `hark serve` shows at `/`
//!
//! What this crate does: embeds the playground's static files (HTML, CSS, JavaScript modules and
//! the audio worklet, in `assets/`) in the binary and serves them: `/` is the page, every other
//! file lives under `/playground/`. There is no build step: the files are plain ES modules that
//! run as written in Chromium, Firefox and Safari.
//!
//! The page is a client of the public protocol only — `/v1/listen` and Flux `/v2/listen` over
//! WebSocket with the key as a subprotocol (`token, KEY`, as Deepgram's browser SDK does),
//! `POST /v1/listen` for whole files and `GET /v1/models` for the model list — so it doubles as
//! the reference browser client. What it does is written down in `docs/PLAYGROUND.md`.
//!
//! What this crate does not do: anything on the server's side of the protocol. It holds no state
//! and needs none; `hark serve --no-playground` leaves it out.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file: its name under `/playground/` and its contents.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the page. `index.html` is also served at `/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../assets/index.html"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/style.css"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_str!("../assets/app.js"),
    },
    Asset {
        name: "query.js",
        content_type: JS,
        body: include_str!("../assets/query.js"),
    },
    Asset {
        name: "audio.js",
        content_type: JS,
        body: include_str!("../assets/audio.js"),
    },
    Asset {
        name: "live.js",
        content_type: JS,
        body: include_str!("../assets/live.js"),
    },
    Asset {
        name: "transcript.js",
        content_type: JS,
        body: include_str!("../assets/transcript.js"),
    },
    Asset {
        name: "capture-worklet.js",
        content_type: JS,
        body: include_str!("../assets/capture-worklet.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../assets/favicon.svg"),
    },
];

/// The page may talk to any hark (the server field can point elsewhere) but loads code only from
/// this one.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss: http: https:; \
    img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; \
    worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'";

fn serve(asset: &Asset) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            // Embedded in the binary: a new hark serves new files, so revalidate every time.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
        ],
        asset.body,
    )
        .into_response()
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

async fn index() -> Response {
    find("index.html").map_or_else(|| StatusCode::NOT_FOUND.into_response(), serve)
}

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    find(&name).map_or_else(|| StatusCode::NOT_FOUND.into_response(), serve)
}

/// The playground's routes: `GET /` and `GET /playground/{file}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/playground/", get(index))
        .route("/playground/{name}", get(asset))
}

/// The names of the embedded files (for tests and `--help` texts).
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

#[cfg(test)]
mod tests;
