//! Spine benchmark (not a test): how many concurrent real-time sessions one server holds.
//!
//! `cargo bench -p hark-server --bench sessions` (or `bench/sessions.sh`). The binary re-runs
//! itself as a separate server process (so its memory can be read from /proc) whose engine
//! returns empty transcripts at once: this measures the server spine (WebSocket, decode, resample,
//! scheduling, JSON), not a model.
//!
//! For each N it opens N sessions that each stream 16 kHz linear16 in 100 ms chunks at real-time
//! pace and send `Finalize` once a second; the latency of a message is the time from sending
//! `Finalize` to receiving its `from_finalize` Results. "Added" latency is p95 at N minus p50 at
//! N = 1 (the reference run, same machine, same process). It also reports CloseStream → close
//! time and the server's resident memory per idle session.
//!
//! Env: `HARK_BENCH_SECONDS` (per step, default 6), `HARK_BENCH_STEPS` (default 1,25,50,100,200,400,800),
//! `HARK_BENCH_IDLE` (idle sessions for the memory figure, default 500).

use futures_util::{SinkExt, StreamExt};
use hark_asr::{
    AsrError, AudioWindow, Engine, ModelDescriptor, ModelRegistry, Scheduler, SchedulerConfig,
    Transcript,
};
use hark_server::{Server, ServerConfig};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

struct InstantEngine(ModelDescriptor);

impl Engine for InstantEngine {
    fn descriptor(&self) -> &ModelDescriptor {
        &self.0
    }
    fn sample_rate_hz(&self) -> u32 {
        16_000
    }
    fn max_window_samples(&self) -> usize {
        30 * 16_000
    }
    fn transcribe_batch(&mut self, windows: &[AudioWindow]) -> Result<Vec<Transcript>, AsrError> {
        Ok(vec![Transcript::default(); windows.len()])
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if std::env::var("HARK_BENCH_ROLE").as_deref() == Ok("server") {
        rt.block_on(run_server());
    } else {
        rt.block_on(drive());
    }
}

async fn run_server() {
    let d = ModelDescriptor {
        name: "bench".into(),
        version: "0".into(),
        arch: "none".into(),
        uuid: "bench".into(),
    };
    let sched = Scheduler::spawn(
        Box::new(InstantEngine(d)),
        SchedulerConfig {
            max_streams: 100_000,
            max_batch: 64,
            queue_capacity: 65_536,
            max_bulk_batch: 2,
        },
    )
    .expect("engine");
    let mut registry = ModelRegistry::new();
    registry.insert(sched);
    let config = ServerConfig {
        idle_timeout_ms: 120_000,
        ..ServerConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("{}", listener.local_addr().expect("addr"));
    Server::new(config, registry)
        .serve(listener, std::future::pending())
        .await
        .expect("serve");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One real-time client; returns Finalize→Results latencies (ms) and the CloseStream→close time (ms).
async fn client(url: String, seconds: u64) -> Option<(Vec<f64>, f64)> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
    let (mut tx, mut rx) = ws.split();
    let chunk = vec![0u8; 3200]; // 100 ms of 16 kHz linear16
    let (lat_tx, mut lat_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let reader = tokio::spawn(async move {
        let mut latencies = Vec::new();
        let mut sent_at = std::collections::VecDeque::new();
        let mut closed_at = None;
        while let Some(Ok(m)) = rx.next().await {
            while let Ok(t) = lat_rx.try_recv() {
                sent_at.push_back(t);
            }
            match m {
                Message::Text(t) if t.as_str().contains("\"from_finalize\":true") => {
                    if let Some(t0) = sent_at.pop_front() {
                        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                Message::Close(_) => {
                    closed_at = Some(Instant::now());
                    break;
                }
                _ => {}
            }
        }
        (latencies, closed_at)
    });
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..seconds * 10 {
        tick.tick().await;
        tx.send(Message::Binary(chunk.clone().into())).await.ok()?;
        if i % 10 == 9 {
            let _ = lat_tx.send(Instant::now());
            tx.send(Message::Text(r#"{"type":"Finalize"}"#.into()))
                .await
                .ok()?;
        }
    }
    let close_sent = Instant::now();
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into()))
        .await
        .ok()?;
    let (latencies, closed_at) = reader.await.ok()?;
    Some((
        latencies,
        closed_at.map_or(f64::NAN, |t| (t - close_sent).as_secs_f64() * 1000.0),
    ))
}

async fn drive() {
    let exe = std::env::current_exe().expect("exe");
    let mut child = std::process::Command::new(exe)
        .env("HARK_BENCH_ROLE", "server")
        .env("HARK_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port");
    let addr = line.trim().to_owned();
    let url = format!("ws://{addr}/v1/listen?encoding=linear16&sample_rate=16000");
    let seconds = env_or("HARK_BENCH_SECONDS", 6u64);
    let steps: Vec<usize> = std::env::var("HARK_BENCH_STEPS")
        .unwrap_or_else(|_| "1,25,50,100,200,400,800".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "hark spine benchmark: {} cores, {seconds} s per step, server pid {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        child.id()
    );
    // Memory first, on the fresh server, before load inflates the allocator's pools.
    let idle_n = env_or("HARK_BENCH_IDLE", 500usize);
    let before = rss_kib(child.id());
    let mut idle = Vec::with_capacity(idle_n);
    for _ in 0..idle_n {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(url.clone()).await {
            idle.push(ws);
        }
    }
    for ws in &mut idle {
        let _ = ws
            .send(Message::Text(r#"{"type":"KeepAlive"}"#.into()))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(child.id());
    println!(
        "memory: {} idle sessions, server RSS {:.1} MiB → {:.1} MiB, {:.1} KiB per idle session",
        idle.len(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / idle.len().max(1) as f64
    );
    drop(idle);
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>11} {:>12} {:>8}",
        "N", "p50 ms", "p95 ms", "max ms", "added p95", "close p95 ms", "ok"
    );
    let mut reference_p50 = None;
    let mut best = 0;
    for n in steps {
        let clients: Vec<_> = (0..n)
            .map(|_| tokio::spawn(client(url.clone(), seconds)))
            .collect();
        let mut lat = Vec::new();
        let mut close = Vec::new();
        let mut ok = 0;
        for c in clients {
            if let Ok(Some((l, c))) = c.await {
                ok += 1;
                lat.extend(l);
                close.push(c);
            }
        }
        lat.sort_by(f64::total_cmp);
        close.sort_by(f64::total_cmp);
        let p50 = percentile(&lat, 0.5);
        let p95 = percentile(&lat, 0.95);
        let reference = *reference_p50.get_or_insert(p50);
        let added = p95 - reference;
        println!(
            "{n:>6} {p50:>9.2} {p95:>9.2} {:>9.2} {added:>11.2} {:>12.2} {ok:>5}/{n}",
            lat.last().copied().unwrap_or(f64::NAN),
            percentile(&close, 0.95)
        );
        if ok == n && added < 50.0 {
            best = n;
        } else {
            break;
        }
    }
    println!("largest N with every session served and p95 added latency < 50 ms: {best}");

    let _ = child.kill();
    let _ = child.wait();
}
