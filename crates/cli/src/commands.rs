//! Wiring for each subcommand.

use crate::args::{Cli, Command, MockArgs, ModelsCommand, ServeArgs};
use anyhow::{bail, Context};
use hark_asr::{Engine, ModelRegistry, Scheduler, SchedulerConfig};
use hark_asr_whisper::WhisperEngine;
use hark_server::{Server, ServerConfig};
use std::process::ExitCode;

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await.map(|()| ExitCode::SUCCESS),
        Command::Mock(args) => mock(args).await.map(|()| ExitCode::SUCCESS),
        Command::Stream(args) => Ok(crate::stream::run(*args).await),
        Command::Transcribe(args) => {
            Ok(
                tokio::task::spawn_blocking(move || crate::transcribe::run(*args))
                    .await
                    .unwrap_or(ExitCode::FAILURE),
            )
        }
        Command::Models(cmd) => tokio::task::spawn_blocking(move || models(cmd))
            .await?
            .map(|()| ExitCode::SUCCESS),
    }
}

fn models(cmd: ModelsCommand) -> anyhow::Result<()> {
    match cmd {
        ModelsCommand::Pull { name } => {
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let dir = hark_asr_whisper::models::pull(&name, progress)?;
            println!(
                "{} is ready in {}",
                hark_asr_whisper::models::repo_for(&name),
                dir.display()
            );
            println!("run it with: hark serve --model {name}");
        }
        ModelsCommand::List => {
            let found = hark_asr_whisper::models::list_local();
            if found.is_empty() {
                println!(
                    "no models in {} (try `hark models pull whisper-base.en`)",
                    hark_asr_whisper::models::cache_dir().display()
                );
            }
            for m in found {
                println!(
                    "{:<40} {:>9.1} MB  {}",
                    m.repo,
                    m.bytes as f64 / 1e6,
                    m.dir.display()
                );
            }
        }
        ModelsCommand::Quantize { model, out, kind } => {
            let Some(dtype) = hark_asr_whisper::weights::parse_quantization(&kind) else {
                bail!("unknown quantization `{kind}`: use q8_0, q5_0, q5_1, q4_0 or q4_1");
            };
            let requested = model.to_string_lossy().into_owned();
            let src = hark_asr_whisper::models::find_local(&requested).unwrap_or(model);
            let report = hark_asr_whisper::weights::quantize_model(&src, &out, dtype)
                .with_context(|| format!("quantizing {}", src.display()))?;
            println!(
                "wrote {} ({:.1} MB): {} matrices as {kind}, {} tensors f32",
                out.join("model.gguf").display(),
                report.bytes_written as f64 / 1e6,
                report.quantized_tensors,
                report.dense_tensors
            );
            println!("run it with: hark serve --model {}", out.display());
        }
    }
    Ok(())
}

fn server_config(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => ServerConfig::default(),
    };
    config.api_keys.extend(args.api_keys.iter().cloned());
    if let Some(list) = &args.api_keys_env {
        config.api_keys.extend(
            list.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned),
        );
    }
    if let Some(ms) = args.idle_timeout_ms {
        config.idle_timeout_ms = ms;
    }
    if args.no_playground {
        config.playground = false;
    }
    if let Some(ms) = args.drain_timeout_ms {
        config.drain_timeout_ms = ms;
    }
    Ok(config)
}

/// Load the configured model and start its inference thread.
fn load_models(args: &ServeArgs) -> anyhow::Result<ModelRegistry> {
    let Some(dir) = &args.model else {
        let (dir, name) = default_model()?;
        return start_model(args, &dir, &name);
    };
    if dir.as_os_str() == crate::demo::NAME {
        return start_model(args, &crate::demo::materialise()?, crate::demo::NAME);
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
    start_model(args, &dir, &name)
}

/// Without `--model`: a real Whisper model from the local cache (the first of
/// [`hark_asr_whisper::models::DEFAULT_MODELS`] there); with none, `whisper-base.en` fetched now (a
/// progress bar on a terminal; resumable; verified); only when that fails, the bundled demo model,
/// loudly.
fn default_model() -> anyhow::Result<(std::path::PathBuf, String)> {
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

/// Load the model in `dir` under `name` (or `--model-name`) and start its inference thread.
fn start_model(
    args: &ServeArgs,
    dir: &std::path::Path,
    name: &str,
) -> anyhow::Result<ModelRegistry> {
    let name = args.model_name.as_deref().unwrap_or(name);
    let started = std::time::Instant::now();
    let mut engine = WhisperEngine::load_on_best_device(dir, name)
        .with_context(|| format!("loading the model in {}", dir.display()))?;
    engine.set_beam_size(args.beam_size);
    engine.set_temperature_fallback(args.temperature_fallback);
    let c = engine.config();
    let window_s = engine.max_window_samples() as f64 / f64::from(engine.sample_rate_hz());
    tracing::info!(model = %name, device = %engine.device_name(), d_model = c.d_model, layers = c.encoder_layers + c.decoder_layers,
        n_mels = c.num_mel_bins, window_s, load_ms = started.elapsed().as_millis() as u64, "model loaded");
    let config = SchedulerConfig {
        max_streams: args.max_streams.max(1),
        ..SchedulerConfig::default()
    };
    let scheduler =
        Scheduler::spawn(Box::new(engine), config).context("starting the inference thread")?;
    let mut registry = ModelRegistry::new();
    registry.insert(scheduler);
    Ok(registry)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = server_config(&args)?;
    let playground = config.playground;
    let registry = load_models(&args)?;
    let server = Server::new(config, registry);
    if !server.auth_enabled() {
        tracing::warn!("no API key configured (--api-key / HARK_API_KEYS): authentication is OFF");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "hark listening on /v1/listen");
    if playground {
        tracing::info!("playground: http://{local}/ (--no-playground turns it off)");
    }
    server.serve(listener, shutdown_signal()).await?;
    Ok(())
}

async fn mock(args: MockArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(addr = %listener.local_addr()?, dir = %args.dir.display(), "hark mock server listening (any path)");
    axum_serve(listener, hark_server::mock::router(args.dir)).await
}

async fn axum_serve(
    listener: tokio::net::TcpListener,
    router: hark_server::Router,
) -> anyhow::Result<()> {
    hark_server::serve_router(listener, router, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested: draining");
}
