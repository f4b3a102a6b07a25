//! `hark serve`: resolve the settings, load the model, size its capacity, listen (TLS optional).

use crate::args::ServeArgs;
use crate::settings::{Capacity, ServeSettings};
use anyhow::Context;
use hark_asr::capacity::{self, CapacityProbe};
use hark_asr::{Engine, ModelRegistry, Scheduler, SchedulerConfig};
use hark_asr_moonshine::MoonshineEngine;
use hark_asr_whisper::WhisperEngine;
use hark_server::Server;
use std::path::{Path, PathBuf};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = crate::settings::resolve(&args)?;
    let registry = tokio::task::block_in_place(|| load_models(&settings))?;
    let playground = settings.server.playground;
    let server = Server::new(settings.server.clone(), registry);
    if !server.auth_enabled() {
        tracing::warn!("no API key configured (--api-key / HARK_API_KEYS): authentication is OFF");
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let local = listener.local_addr()?;
    let shutdown = crate::commands::shutdown_signal();
    match (&settings.tls_cert_file, &settings.tls_key_file) {
        (Some(cert), Some(key)) => {
            let tls = hark_server::tls::load_config(cert, key)?;
            let listener = hark_server::tls::TlsListener::new(listener, tls)?;
            announce(local, "https", playground);
            server.serve(listener, shutdown).await?;
        }
        _ => {
            announce(local, "http", playground);
            server.serve(listener, shutdown).await?;
        }
    }
    Ok(())
}

fn announce(local: std::net::SocketAddr, scheme: &str, playground: bool) {
    tracing::info!(addr = %local, scheme, "hark listening on /v1/listen");
    if playground {
        tracing::info!("playground: {scheme}://{local}/ (--no-playground turns it off)");
    }
}

/// Load the configured model and start its inference thread.
fn load_models(s: &ServeSettings) -> anyhow::Result<ModelRegistry> {
    let Some(dir) = &s.model else {
        let (dir, name) = default_model()?;
        return start_model(s, &dir, &name);
    };
    if dir.as_os_str() == crate::demo::NAME {
        return start_model(s, &crate::demo::materialise()?, crate::demo::NAME);
    }
    // A directory, or the name of a model already in the Hugging Face cache.
    let requested = dir.to_string_lossy().into_owned();
    let from_cache = !dir.is_dir();
    let dir = hark_asr_whisper::models::find_local(&requested).unwrap_or_else(|| dir.clone());
    let name = if from_cache {
        requested
    } else {
        dir.file_name().map_or_else(
            || "whisper".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    start_model(s, &dir, &name)
}

/// Without `--model`: a real Whisper model from the local cache (the first of
/// [`hark_asr_whisper::models::DEFAULT_MODELS`] there); with none, `whisper-base.en` fetched now (a
/// progress bar on a terminal; resumable; verified); only when that fails, the bundled demo model,
/// loudly.
fn default_model() -> anyhow::Result<(PathBuf, String)> {
    use hark_asr_whisper::models::{find_local, pull, DEFAULT_MODELS};
    if let Some((dir, name)) = DEFAULT_MODELS
        .iter()
        .find_map(|n| find_local(n).map(|d| (d, (*n).to_owned())))
    {
        tracing::info!(model = %name, dir = %dir.display(), "no --model: serving the best model in the local cache");
        return Ok((dir, name));
    }
    let name = DEFAULT_MODELS[0];
    tracing::info!(model = name, "no --model and no model in the local cache: fetching {name} (once; `hark models pull` does the same)");
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match pull(name, progress) {
        Ok(dir) => Ok((dir, name.to_owned())),
        Err(e) => {
            tracing::warn!(
                "could not fetch {name}: {e}\n\
                 SERVING THE DEMO MODEL `{demo}`: it was trained on synthetic speech (espeak-ng) and knows clear, \
                 simple English only; on human speech its transcripts are poor. For real transcripts put a \
                 Whisper model on this machine (`hark models pull whisper-base.en` where the hub is reachable, \
                 or a copied Hugging Face or faster-whisper directory) and run `hark serve --model DIR|NAME`. \
                 `--model {demo}` selects the demo model without trying.",
                demo = crate::demo::NAME
            );
            Ok((crate::demo::materialise()?, crate::demo::NAME.to_owned()))
        }
    }
}

/// Load the model in `dir` under `name` (or `model_name`), size its capacity and start its
/// inference thread.
fn start_model(s: &ServeSettings, dir: &Path, name: &str) -> anyhow::Result<ModelRegistry> {
    let name = s.model_name.as_deref().unwrap_or(name);
    let started = std::time::Instant::now();
    let mut engine: Box<dyn Engine> = if MoonshineEngine::is_moonshine_dir(dir) {
        let device = candle_core::Device::cuda_if_available(0)?;
        let engine = MoonshineEngine::load(dir, name, &device)
            .with_context(|| format!("loading the Moonshine model in {}", dir.display()))?;
        if s.beam_size > 1 {
            tracing::warn!(
                beam_size = s.beam_size,
                "Moonshine models decode greedily: beam_size is not used"
            );
        }
        let c = &engine.model().config;
        tracing::info!(model = %name, arch = %engine.descriptor().arch, encoder_layers = c.encoder.layers,
            decoder_layers = c.decoder.layers, hidden = c.decoder.hidden_size,
            load_ms = started.elapsed().as_millis() as u64, "model loaded");
        Box::new(engine)
    } else {
        let mut engine = WhisperEngine::load_on_best_device(dir, name)
            .with_context(|| format!("loading the model in {}", dir.display()))?;
        engine.set_beam_size(s.beam_size);
        engine.set_temperature_fallback(s.temperature_fallback);
        engine.set_encoder_shortcut(s.encoder_shortcut)?;
        if engine.model().remembers_silence() {
            tracing::warn!(
                "encoder shortcut on: each window is encoded only over its audio (plus 3 s), the rest \
                 of Whisper's 30 s input taken from silence; faster, but it changes words (README, \
                 \"Encoder shortcut\")"
            );
        }
        let c = engine.config();
        let window_s = engine.max_window_samples() as f64 / f64::from(engine.sample_rate_hz());
        tracing::info!(model = %name, device = %engine.device_name(), d_model = c.d_model, layers = c.encoder_layers + c.decoder_layers,
            n_mels = c.num_mel_bins, window_s, load_ms = started.elapsed().as_millis() as u64, "model loaded");
        Box::new(engine)
    };
    let mut config = SchedulerConfig {
        max_streams: s.max_streams.max(1),
        ..SchedulerConfig::default()
    };
    config.max_streams = match s.capacity {
        Capacity::Fixed => config.max_streams,
        Capacity::Streams(n) => n.min(config.max_streams),
        Capacity::Auto => measure_capacity(engine.as_mut(), s, &config)?,
    };
    tracing::info!(model = %name, streams = config.max_streams, capacity = %s.capacity, "admitting streams");
    let scheduler = Scheduler::spawn(engine, config).context("starting the inference thread")?;
    let mut registry = ModelRegistry::new();
    registry.insert(scheduler);
    Ok(registry)
}

/// `capacity = "auto"`: time the engine on this machine before serving.
fn measure_capacity(
    engine: &mut dyn Engine,
    s: &ServeSettings,
    config: &SchedulerConfig,
) -> anyhow::Result<usize> {
    let probe = CapacityProbe {
        max_streams: config.max_streams,
        max_batch: config.max_batch,
        // An interim every `interim_ms` of audio plus a final every ~4 s: the load of a client that
        // asks for interim results (finals alone cost far less).
        windows_per_stream_s: 1000.0 / f64::from(s.server.interim_ms.max(100)) + 0.25,
        ..CapacityProbe::default()
    };
    let started = std::time::Instant::now();
    let report = capacity::measure(engine, &probe).context("measuring capacity")?;
    let batches: Vec<String> = report
        .batch_ms
        .iter()
        .map(|(b, ms)| format!("{b}×{ms:.0}ms"))
        .collect();
    tracing::info!(streams = report.streams, windows_per_stream_s = report.windows_per_stream_s,
        batches = %batches.join(" "), took_ms = started.elapsed().as_millis() as u64,
        "capacity measured (set `capacity = {}` to skip this at start-up)", report.streams);
    let one_ms = report.batch_ms.first().map_or(0.0, |(_, ms)| *ms);
    if report.streams == 1 && one_ms / 1e3 * report.windows_per_stream_s > probe.utilization {
        tracing::warn!(
            window_ms = one_ms,
            "this machine cannot keep even one stream in real time with this model: expect delays"
        );
    }
    Ok(report.streams)
}
