//! Prometheus metrics (`/metrics`). Names follow `hark_<thing>_<unit>[_total]`.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process-wide recorder once; later servers in the same process share it.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

pub const SESSIONS_TOTAL: &str = "hark_sessions_total";
pub const SESSIONS_ACTIVE: &str = "hark_sessions_active";
pub const HANDSHAKES_REFUSED_TOTAL: &str = "hark_handshakes_refused_total";
pub const AUDIO_RECEIVED_SECONDS_TOTAL: &str = "hark_audio_received_seconds_total";
pub const AUDIO_RECEIVED_BYTES_TOTAL: &str = "hark_audio_received_bytes_total";
pub const RESULTS_SENT_TOTAL: &str = "hark_results_sent_total";
/// Live clients disconnected because they stopped reading results.
pub const CLIENTS_NOT_READING_TOTAL: &str = "hark_clients_not_reading_total";
pub const PRERECORDED_TOTAL: &str = "hark_prerecorded_requests_total";
pub const PRERECORDED_REFUSED_TOTAL: &str = "hark_prerecorded_refused_total";
pub const SESSIONS_CLOSED_TOTAL: &str = "hark_sessions_closed_total";
pub const MODEL_STREAMS_IN_USE: &str = "hark_model_streams_in_use";
/// Streams the model admits (`--capacity`: measured at start-up, configured, or `--max-streams`).
pub const MODEL_CAPACITY_STREAMS: &str = "hark_model_capacity_streams";
/// Streams in use over capacity: what an autoscaler targets (e.g. 0.7) to add pods before refusals.
pub const MODEL_UTILIZATION_RATIO: &str = "hark_model_utilization_ratio";
pub const MODEL_BATCHES_TOTAL: &str = "hark_model_batches_total";
pub const MODEL_WINDOWS_TOTAL: &str = "hark_model_windows_total";
/// Of the windows, those sent ahead of a decode: audio an engine that encodes frame by frame takes
/// in as it arrives (Moonshine Streaming), no transcript.
pub const MODEL_WINDOWS_AHEAD_TOTAL: &str = "hark_model_windows_ahead_total";
