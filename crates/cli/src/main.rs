//! `hark`: thin entry point. Parsing lives in `args.rs`, wiring in `commands.rs`.

mod args;
mod commands;
mod demo;
mod serve;
mod settings;
mod stream;
mod transcribe;

use clap::Parser;

fn main() -> std::process::ExitCode {
    hark_kernels::quiet_candle_pool();
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HARK_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        // Logs go to stderr: stdout is for output (`hark stream` prints transcripts there).
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
