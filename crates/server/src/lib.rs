//! # hark-server — Deepgram's live `/v1/listen` API over WebSocket
//!
//! What this crate does:
//! - the axum app (every request's headers capped at 64 KiB in `limits`, CORS for other origins
//!   in `cors`): `GET /v1/listen`
//!   (WebSocket upgrade after auth, parameter and capacity checks),
//!   `POST /v1/listen` (pre-recorded transcription at full speed) and OpenAI's
//!   `POST /v1/audio/transcriptions`,
//!   `GET /v1/models`, `/metrics` (Prometheus), `/healthz`, `/readyz`, and the browser
//!   playground at `/` (`hark-playground`; off with `playground = false`);
//! - one task per socket running the session lifecycle of PROTOCOL.md (control messages, idle
//!   timeout, CloseStream flush, Metadata, close codes), carrying out the decisions of the live
//!   policy (`hark-live`) and building results through the text stage (`hark-text`);
//! - optional TLS on the listener itself (rustls, [`tls`]): HTTPS and WSS on one port;
//! - graceful drain: on shutdown, refuse new streams, let open ones finish, then flush and close;
//! - `hark mock`: the Live Streaming Starter Kit's mock server ([`mock`]).
//!
//! What it does not do: model maths (engines sit behind `hark-asr`), audio decoding (`hark-audio`),
//! the streaming policy (`hark-live`), or the wire format itself (`hark-proto`).

mod auth;
mod config;
mod cors;
mod http_error;
mod limits;
mod listen;
pub mod metrics;
pub mod mock;
mod models;
mod prerecorded;
mod reply;
mod results;
mod session;
pub mod tls;

pub use axum::Router;
pub use config::ServerConfig;

/// Serve any router (e.g. [`mock::router`]) until `shutdown` resolves.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

use axum::routing::get;
use hark_asr::ModelRegistry;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// Shared by every request of one server.
pub(crate) struct AppState {
    pub config: ServerConfig,
    pub keys: auth::KeyStore,
    pub registry: ModelRegistry,
    pub draining: AtomicBool,
    pub active_sessions: AtomicUsize,
    pub sessions_done: Notify,
    /// Flips to `true` when the drain deadline passes: sessions flush and close.
    pub stop_tx: watch::Sender<bool>,
}

/// A configured server, ready to serve on a listener.
pub struct Server {
    state: Arc<AppState>,
}

impl Server {
    pub fn new(config: ServerConfig, mut registry: ModelRegistry) -> Self {
        registry.route_to_default(hark_proto::DEEPGRAM_MODEL_NAMES);
        registry.route_to_default(prerecorded::openai::OPENAI_MODEL_NAMES);
        for s in registry.schedulers() {
            let rate_hz = s.sample_rate_hz();
            if config.vad && !hark_live::LiveConfig::vad_supported(rate_hz) {
                tracing::warn!(model = %s.descriptor().name, rate_hz,
                    "the VAD hears 16 kHz only: streams on this model get no endpointing, speech events or silence skipping");
            }
        }
        let keys = auth::KeyStore::new(&config.api_keys);
        let (stop_tx, _) = watch::channel(false);
        Self {
            state: Arc::new(AppState {
                config,
                keys,
                registry,
                draining: AtomicBool::new(false),
                active_sessions: AtomicUsize::new(0),
                sessions_done: Notify::new(),
                stop_tx,
            }),
        }
    }

    /// Is authentication on (at least one API key configured)?
    pub fn auth_enabled(&self) -> bool {
        self.state.keys.enabled()
    }

    pub fn router(&self) -> Router {
        let api = Router::new()
            .route(
                "/v1/listen",
                get(listen::handler).post(prerecorded::handler),
            )
            .route("/v2/listen", get(listen::flux_handler))
            .route(
                "/v1/audio/transcriptions",
                // The form is read with this server's own upload limit, not axum's 2 MB default.
                axum::routing::post(prerecorded::openai::handler)
                    .layer(axum::extract::DefaultBodyLimit::disable()),
            )
            .route("/v1/models", get(models::list))
            .route("/metrics", get(listen::metrics))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(listen::ready))
            .with_state(Arc::clone(&self.state));
        let all = if self.state.config.playground {
            api.merge(hark_playground::router())
        } else {
            api
        };
        all.layer(axum::middleware::from_fn(cors::cors))
            .layer(axum::middleware::from_fn(limits::limit_headers))
    }

    /// Serve until `shutdown` resolves, then drain: new streams get 503, open streams may finish
    /// for `drain_timeout_ms`, after which they are flushed (results + Metadata) and closed 1001.
    pub async fn serve<L>(
        self,
        listener: L,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()>
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        let _ = metrics::handle();
        let state = Arc::clone(&self.state);
        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let drain_state = Arc::clone(&state);
        tokio::spawn(async move {
            shutdown.await;
            drain_state.draining.store(true, Ordering::SeqCst);
            let _ = drain_tx.send(());
        });
        axum::serve(listener, self.router())
            .with_graceful_shutdown(async move {
                let _ = drain_rx.await;
            })
            .await?;
        let open = || state.active_sessions.load(Ordering::SeqCst);
        if tokio::time::timeout(state.config.drain_timeout(), sessions_finished(&state))
            .await
            .is_err()
        {
            tracing::warn!(
                open = open(),
                "drain timeout: flushing and closing open streams"
            );
            let _ = state.stop_tx.send(true);
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(5), sessions_finished(&state))
                    .await;
        }
        Ok(())
    }
}

/// Resolves when no session is open.
async fn sessions_finished(state: &AppState) {
    loop {
        let notified = state.sessions_done.notified();
        if state.active_sessions.load(Ordering::SeqCst) == 0 {
            return;
        }
        notified.await;
    }
}

/// Lower-case hex of `bytes` (SHA-256 digests, signatures).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
