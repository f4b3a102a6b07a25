//! Wiring for each subcommand.

use crate::args::{Cli, Command, ConfigCommand, MockArgs, ModelsCommand};
use anyhow::{bail, Context};
use std::process::ExitCode;

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => crate::serve::run(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Mock(args) => mock(args).await.map(|()| ExitCode::SUCCESS),
        Command::Stream(args) => Ok(crate::stream::run(*args).await),
        Command::Transcribe(args) => {
            Ok(
                tokio::task::spawn_blocking(move || crate::transcribe::run(*args))
                    .await
                    .unwrap_or(ExitCode::FAILURE),
            )
        }
        Command::Config(ConfigCommand::Check { file, mut serve }) => {
            serve.config = Some(file);
            crate::settings::check(&serve).map(|()| ExitCode::SUCCESS)
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
pub(crate) async fn shutdown_signal() {
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
