//! Live transcription benchmark (not a test): `bench/live.sh`, or
//! `cargo bench -p hark --bench live -- tiny=DIR base=DIR`.
//!
//! For each model directory it starts a server (this binary re-run as a separate process, with
//! the real Whisper engine on CPU) and, for each N, N clients that each stream the starter-kit
//! preamble with 1.2 s pauses inserted (8 kHz linear16, 100 ms chunks, real-time pace) with
//! `endpointing=300&interim_results=true`, with a `Finalize` in the middle of the last piece's
//! speech (so that it has words to decode), then `CloseStream`. Reported per N:
//! - finalize latency p50/p95: for endpoint finals (`speech_final:true`), from the moment the
//!   client sent the audio that the final ends with to the final's arrival; for `Finalize`, from
//!   the message to the `from_finalize` final;
//! - interim cadence: p50 gap between successive interim results of a stream;
//! - CPU per stream: the server's CPU time over the audio streamed, as % of one core;
//! - windows per model call: how well the scheduler batched the streams;
//! - real time: whether every stream kept up (p95 finalize latency ≤ 1 s).
//!
//! A directory with a Moonshine `config.json` is served by the Moonshine engine (random
//! real-size Moonshine Streaming weights: `bench/live_moonshine.sh`).
//! Random weights never emit end-of-text, so the engine here stops each window where a real model
//! would on English speech: 4 tokens per second of audio (+4), 24 at most (for Moonshine, the
//! words forced as the window's known start count towards it, as a real model given them writes
//! only the rest); and it does not retry at higher temperatures. The decoding work per window is
//! therefore about a real model's.
//! With `HARK_BENCH_REAL_WEIGHTS=1` (real Whisper weights, `bench/live_real.sh`) the engine runs
//! as `hark serve` runs it: no token cap, temperature fallback on, `language=en`.
//! A model named `NAME+shortcut` runs with the encoder shortcut (`hark serve --encoder-shortcut`).
//! Env: `HARK_BENCH_STEPS` (default 1,2,4,6), `HARK_BENCH_PAUSE_S` (default 1.2),
//! `HARK_BENCH_INTERIM_MS` (the server's interim cadence, default its own: 1000),
//! `HARK_BENCH_STAGGER_S` (client `i` starts `i` times this late; default 0: all at once, so
//! that every stream's endpoints fall due together, the worst case), `HARK_BENCH_UPLOAD` (a file
//! uploaded to `POST /v1/listen` as each step starts, so the live streams share the engine with a
//! pre-recorded job; its wall time is printed after the step).

use futures_util::{SinkExt, StreamExt};
use hark_asr::{ModelRegistry, Scheduler, SchedulerConfig};
use hark_asr_moonshine::MoonshineEngine;
use hark_asr_whisper::WhisperEngine;
use hark_server::{Server, ServerConfig};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const RATE: usize = 8_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Real Whisper weights: the engine runs as `hark serve` runs it.
fn real_weights() -> bool {
    std::env::var("HARK_BENCH_REAL_WEIGHTS").is_ok_and(|v| v == "1")
}

fn main() {
    // As `hark` runs its models.
    hark_kernels::quiet_candle_pool();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if let Ok(dir) = std::env::var("HARK_BENCH_SERVE") {
        rt.block_on(run_server(dir));
        return;
    }
    let models: Vec<(String, String)> = std::env::args()
        .skip(1)
        .filter_map(|a| a.split_once('=').map(|(n, d)| (n.to_owned(), d.to_owned())))
        .collect();
    if models.is_empty() {
        eprintln!("usage: live tiny=DIR [base=DIR] (bench/live.sh makes the models)");
        return;
    }
    println!("| model | N | endpoint final p50 ms | p95 ms | Finalize p95 ms | interim gap p50 ms | CPU per stream | windows per model call | real time |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, dir) in models {
        rt.block_on(drive(&name, &dir));
    }
}

async fn run_server(dir: String) {
    // HARK_BENCH_LOG=hark_asr_whisper=debug shows each model call's encode/decode/align times.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HARK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let dir = std::path::Path::new(&dir);
    let engine: Box<dyn hark_asr::Engine> = if MoonshineEngine::is_moonshine_dir(dir) {
        let mut engine =
            MoonshineEngine::load(dir, "bench", &candle_core::Device::Cpu).expect("model");
        if !real_weights() {
            engine.set_token_limit(4.0, 24);
        }
        Box::new(engine)
    } else {
        let mut engine =
            WhisperEngine::load(dir, "bench", candle_core::Device::Cpu).expect("model");
        if !real_weights() {
            engine.set_max_tokens(24);
            engine.set_max_tokens_per_second(4.0);
            engine.set_temperature_fallback(false);
        }
        if std::env::var("HARK_BENCH_ENCODER_SHORTCUT").is_ok_and(|v| v == "1") {
            engine.set_encoder_shortcut(true).expect("encoder shortcut");
        }
        Box::new(engine)
    };
    let sched = Scheduler::spawn(
        engine,
        SchedulerConfig {
            max_streams: 64,
            ..SchedulerConfig::default()
        },
    )
    .expect("engine");
    let mut registry = ModelRegistry::new();
    registry.insert(sched);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("{}", listener.local_addr().expect("addr"));
    let defaults = ServerConfig::default();
    let config = ServerConfig {
        idle_timeout_ms: 120_000,
        interim_ms: env_or("HARK_BENCH_INTERIM_MS", defaults.interim_ms),
        ..defaults
    };
    Server::new(config, registry)
        .serve(listener, std::future::pending())
        .await
        .expect("serve");
}

/// The preamble cut at its quietest points near 6 s and 12 s, with noise pauses between pieces;
/// and where to send `Finalize`: mid-speech, with a quarter of the last piece still to come.
fn audio() -> (Vec<i16>, usize) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/starter-kit/preamble.raw"
    );
    let raw = std::fs::read(path).expect("shared/data/starter-kit/preamble.raw");
    let x: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let energy = |k: usize| -> i64 {
        x[k * 128..(k + 1) * 128]
            .iter()
            .map(|s| i64::from(*s).pow(2))
            .sum()
    };
    let cut = |s: usize| {
        let c = s * RATE / 128;
        (c - 50..c + 50).min_by_key(|k| energy(*k)).unwrap_or(c) * 128
    };
    let (a, b) = (cut(6), cut(12));
    let pause = (env_or("HARK_BENCH_PAUSE_S", 1.2f64) * RATE as f64) as usize;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::new();
    let mut finalize_at = 0;
    for piece in [&x[..a], &x[a..b], &x[b..]] {
        finalize_at = out.len() + piece.len() * 3 / 4;
        out.extend_from_slice(piece);
        out.extend((0..pause).map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 58) as i16) - 32
        }));
    }
    (out, finalize_at)
}

#[derive(Default)]
struct StreamStats {
    endpoint_ms: Vec<f64>,
    finalize_ms: Vec<f64>,
    interim_gaps_ms: Vec<f64>,
}

async fn client(
    url: String,
    (audio, finalize_at): (std::sync::Arc<Vec<i16>>, usize),
) -> Option<StreamStats> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
    let (mut tx, mut rx) = ws.split();
    let t0 = Instant::now();
    let (fin_tx, mut fin_rx) = tokio::sync::oneshot::channel::<Instant>();
    let reader = tokio::spawn(async move {
        let mut st = StreamStats::default();
        let mut last_interim: Option<Instant> = None;
        let mut finalize_sent: Option<Instant> = None;
        while let Some(Ok(m)) = rx.next().await {
            let now = Instant::now();
            if finalize_sent.is_none() {
                finalize_sent = fin_rx.try_recv().ok();
            }
            let Message::Text(t) = m else {
                if matches!(m, Message::Close(_)) {
                    break;
                }
                continue;
            };
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
            if v["type"] != "Results" {
                continue;
            }
            if v["is_final"] == false {
                if let Some(prev) = last_interim.replace(now) {
                    st.interim_gaps_ms.push((now - prev).as_secs_f64() * 1000.0);
                }
            } else if v["from_finalize"] == true {
                if let Some(sent) = finalize_sent {
                    st.finalize_ms.push((now - sent).as_secs_f64() * 1000.0);
                }
            } else if v["speech_final"] == true {
                let end_s =
                    v["start"].as_f64().unwrap_or(0.0) + v["duration"].as_f64().unwrap_or(0.0);
                let sent = t0 + Duration::from_secs_f64(end_s);
                st.endpoint_ms
                    .push(now.saturating_duration_since(sent).as_secs_f64() * 1000.0);
                last_interim = None;
            }
        }
        st
    });
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut fin_tx = Some(fin_tx);
    for (k, c) in audio.chunks(RATE / 10).enumerate() {
        tick.tick().await;
        let bytes: Vec<u8> = c.iter().flat_map(|s| s.to_le_bytes()).collect();
        tx.send(Message::Binary(bytes.into())).await.ok()?;
        if (k + 1) * RATE / 10 >= finalize_at {
            if let Some(fin) = fin_tx.take() {
                let _ = fin.send(Instant::now());
                tx.send(Message::Text(r#"{"type":"Finalize"}"#.into()))
                    .await
                    .ok()?;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into()))
        .await
        .ok()?;
    reader.await.ok()
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

/// (model calls, windows) from the server's /metrics.
fn model_counters(addr: &str) -> (f64, f64) {
    use std::io::{Read, Write};
    let mut text = String::new();
    if let Ok(mut tcp) = std::net::TcpStream::connect(addr) {
        let _ = tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let _ = tcp.read_to_string(&mut text);
    }
    let value = |name: &str| {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    (
        value("hark_model_batches_total"),
        value("hark_model_windows_total"),
    )
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn drive(name: &str, dir: &str) {
    let exe = std::env::current_exe().expect("exe");
    let mut child = std::process::Command::new(exe)
        .env("HARK_BENCH_SERVE", dir)
        .env(
            "HARK_BENCH_ENCODER_SHORTCUT",
            if name.ends_with("+shortcut") {
                "1"
            } else {
                "0"
            },
        )
        .env(
            "HARK_LOG",
            std::env::var("HARK_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address");
    let addr = line.trim().to_owned();
    let url = format!(
        "ws://{addr}/v1/listen?encoding=linear16&sample_rate=8000&endpointing=300&interim_results=true{}",
        if real_weights() { "&language=en" } else { "" }
    );
    let (audio, finalize_at) = audio();
    let audio = std::sync::Arc::new(audio);
    let audio_s = audio.len() as f64 / RATE as f64;
    let steps: Vec<usize> = std::env::var("HARK_BENCH_STEPS")
        .unwrap_or_else(|_| "1,2,4,6".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for n in steps {
        let cpu0 = cpu_seconds(child.id());
        let (b0, w0) = model_counters(&addr);
        let stagger_s: f64 = env_or("HARK_BENCH_STAGGER_S", 0.0);
        let upload = std::env::var("HARK_BENCH_UPLOAD")
            .ok()
            .filter(|p| !p.is_empty())
            .map(|input| {
                let opts = hark_client::UploadOptions {
                    input,
                    host: format!("ws://{addr}"),
                    key: None,
                    params: Vec::new(),
                };
                tokio::task::spawn_blocking(move || {
                    let t = Instant::now();
                    let r = hark_client::upload(&opts, |_| {}, |_| {});
                    let audio_s = r
                        .as_ref()
                        .map_or(0.0, |u| f64::from(u.response.metadata.duration));
                    (
                        t.elapsed().as_secs_f64(),
                        audio_s,
                        r.err().map(|e| e.to_string()),
                    )
                })
            });
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let audio = (std::sync::Arc::clone(&audio), finalize_at);
                let (url, delay) = (url.clone(), Duration::from_secs_f64(stagger_s * i as f64));
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    client(url, audio).await
                })
            })
            .collect();
        let mut all = StreamStats::default();
        for t in tasks {
            if let Ok(Some(s)) = t.await {
                all.endpoint_ms.extend(s.endpoint_ms);
                all.finalize_ms.extend(s.finalize_ms);
                all.interim_gaps_ms.extend(s.interim_gaps_ms);
            }
        }
        let cpu = (cpu_seconds(child.id()) - cpu0) / (n as f64 * audio_s) * 100.0;
        let (b1, w1) = model_counters(&addr);
        let batch = (w1 - w0) / (b1 - b0).max(1.0);
        let p95 = percentile(&mut all.endpoint_ms, 0.95);
        let fin95 = percentile(&mut all.finalize_ms, 0.95);
        println!(
            "| {name} | {n} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1}% | {batch:.1} | {} |",
            percentile(&mut all.endpoint_ms, 0.5),
            p95,
            fin95,
            percentile(&mut all.interim_gaps_ms, 0.5),
            cpu,
            if p95 <= 1000.0 && fin95 <= 1000.0 {
                "yes"
            } else {
                "no"
            }
        );
        if let Some(Ok((wall_s, audio_s, err))) = match upload {
            Some(u) => Some(u.await),
            None => None,
        } {
            println!(
                "  (with an upload beside them: {audio_s:.0} s of audio in {wall_s:.1} s{})",
                err.map(|e| format!("; failed: {e}")).unwrap_or_default()
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
