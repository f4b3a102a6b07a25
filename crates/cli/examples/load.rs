//! Load generator for a running `hark serve` (its own process; `bench/load.sh` drives it): for
//! each N, N clients stream real audio at real-time pace with `interim_results=true` and
//! `endpointing=300`, then `Finalize` and `CloseStream`. Reported per N: streams held and
//! refused (429), finalize latency p50/p95 (endpoint finals, `speech_final:true`: from the moment
//! the audio a final ends with was sent to its arrival; `Finalize`: from the message to its
//! final), interim latency
//! p50/p95 (likewise for interims), the server's CPU per stream (% of one core) and memory per
//! stream (RSS growth over the idle server), and whether the step kept up in real time (no
//! refusal, finalize p95 ≤ 1 s).
//!
//! `cargo run --release -p hark --example load -- URL SERVER_PID AUDIO.raw [STEPS] [SECONDS]`
//! (AUDIO: s16le mono at 16 kHz, looped; `bench/load.sh` makes it from the real-speech clips,
//! one utterance after another with a second of silence between them).

use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const RATE_HZ: usize = 16_000;
const CHUNK_MS: usize = 100;

#[derive(Default)]
struct Step {
    held: usize,
    refused: usize,
    failed: usize,
    finals_ms: Vec<f64>,
    interims_ms: Vec<f64>,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// (CPU seconds used so far, resident MiB) of a process, from /proc.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after the command name.
    let cpu_s = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu_s, rss_kib / 1024.0)
}

enum Outcome {
    Done {
        finals_ms: Vec<f64>,
        interims_ms: Vec<f64>,
    },
    Refused,
    Failed(String),
}

async fn client(
    url: String,
    audio: std::sync::Arc<Vec<u8>>,
    offset: usize,
    seconds: f64,
) -> Outcome {
    let (ws, _) = match tokio_tungstenite::connect_async(url).await {
        Ok(ok) => ok,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 429 => {
            return Outcome::Refused
        }
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let (mut tx, mut rx) = ws.split();
    let start = Instant::now();
    let chunk = RATE_HZ * 2 * CHUNK_MS / 1000;
    let chunks = (seconds * 1000.0 / CHUNK_MS as f64) as usize;
    let finalize_at = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let finalize_sent = finalize_at.clone();
    let sender = tokio::spawn(async move {
        for i in 0..chunks {
            tokio::time::sleep_until((start + Duration::from_millis((i * CHUNK_MS) as u64)).into())
                .await;
            let from = (offset + i * chunk) % audio.len().max(1);
            let piece: Vec<u8> = audio
                .iter()
                .cycle()
                .skip(from)
                .take(chunk)
                .copied()
                .collect();
            if tx.send(Message::Binary(piece.into())).await.is_err() {
                return;
            }
        }
        if let Ok(mut f) = finalize_sent.lock() {
            *f = Some(Instant::now());
        }
        let _ = tx
            .send(Message::Text(r#"{"type":"Finalize"}"#.into()))
            .await;
        let _ = tx
            .send(Message::Text(r#"{"type":"CloseStream"}"#.into()))
            .await;
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
    let (mut finals_ms, mut interims_ms) = (Vec::new(), Vec::new());
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(60), rx.next()).await {
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
        let now = Instant::now();
        let end_s = v["start"].as_f64().unwrap_or(0.0) + v["duration"].as_f64().unwrap_or(0.0);
        // The audio ending at `end_s` went out with the chunk that holds it.
        let sent = start + Duration::from_secs_f64(((end_s * 10.0).ceil() / 10.0 - 0.1).max(0.0));
        let since = |t: Instant| now.saturating_duration_since(t).as_secs_f64() * 1e3;
        if v["from_finalize"] == true {
            let at = finalize_at.lock().ok().and_then(|f| *f);
            if let Some(at) = at {
                finals_ms.push(since(at));
            }
        } else if v["is_final"] == true {
            // Endpoint finals (finals committed inside long speech wait for agreement by
            // design, which is policy, not load).
            if v["speech_final"] == true {
                finals_ms.push(since(sent));
            }
        } else {
            interims_ms.push(since(sent));
        }
    }
    sender.abort();
    Outcome::Done {
        finals_ms,
        interims_ms,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, pid, audio, ..] = args.as_slice() else {
        eprintln!("usage: load URL SERVER_PID AUDIO.raw [STEPS e.g. 1,2,4,8] [SECONDS]");
        std::process::exit(2);
    };
    let pid: u32 = pid.parse().expect("SERVER_PID");
    let steps: Vec<usize> = args
        .get(3)
        .map_or("1,2,4,8", String::as_str)
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let seconds: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let audio = std::sync::Arc::new(std::fs::read(audio).expect("AUDIO"));
    let url = format!(
        "{}/v1/listen?encoding=linear16&sample_rate={RATE_HZ}&interim_results=true&endpointing=300",
        url.trim_end_matches('/')
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_, idle_mib) = usage(pid);
    println!("| N | held | refused | finalize p50 / p95 ms | interim p50 / p95 ms | CPU per stream | MiB per stream | real time |");
    println!("|---|---|---|---|---|---|---|---|");
    let (mut first_refusal, mut real_time_n) = (None, 0);
    for &n in &steps {
        let (cpu0, _) = usage(pid);
        let wall = Instant::now();
        let mid_rss = std::sync::Arc::new(std::sync::Mutex::new(0.0f64));
        let step = rt.block_on(async {
            let sampler = {
                let mid_rss = mid_rss.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs_f64(seconds / 2.0)).await;
                    if let Ok(mut m) = mid_rss.lock() {
                        *m = usage(pid).1;
                    }
                })
            };
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    // Each client starts at another place in the audio, 200 ms after the last.
                    let offset = (i * 7 * RATE_HZ * 2 / 3) & !1;
                    let (url, audio) = (url.clone(), audio.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(200 * i as u64)).await;
                        client(url, audio, offset, seconds).await
                    })
                })
                .collect();
            let mut step = Step::default();
            for t in tasks {
                match t.await {
                    Ok(Outcome::Done {
                        finals_ms,
                        interims_ms,
                    }) => {
                        step.held += 1;
                        step.finals_ms.extend(finals_ms);
                        step.interims_ms.extend(interims_ms);
                    }
                    Ok(Outcome::Refused) => step.refused += 1,
                    Ok(Outcome::Failed(e)) => {
                        eprintln!("client failed: {e}");
                        step.failed += 1;
                    }
                    Err(_) => step.failed += 1,
                }
            }
            let _ = sampler.await;
            step
        });
        let (cpu1, _) = usage(pid);
        let wall_s = wall.elapsed().as_secs_f64();
        let mut step = step;
        let held = step.held.max(1) as f64;
        let cpu_pct = (cpu1 - cpu0) / wall_s / held * 100.0;
        let mid = mid_rss.lock().map(|m| *m).unwrap_or(0.0);
        let mib = (mid - idle_mib).max(0.0) / held;
        let (f50, f95) = (
            percentile(&mut step.finals_ms, 0.5),
            percentile(&mut step.finals_ms, 0.95),
        );
        let (i50, i95) = (
            percentile(&mut step.interims_ms, 0.5),
            percentile(&mut step.interims_ms, 0.95),
        );
        let real_time = step.refused == 0 && step.failed == 0 && f95 <= 1000.0;
        if real_time && n > real_time_n {
            real_time_n = n;
        }
        if step.refused > 0 && first_refusal.is_none() {
            first_refusal = Some(n);
        }
        println!(
            "| {n} | {} | {} | {f50:.0} / {f95:.0} | {i50:.0} / {i95:.0} | {cpu_pct:.0} % | {mib:.1} | {} |",
            step.held,
            step.refused,
            if real_time { "yes" } else { "no" }
        );
    }
    println!(
        "real-time streams held: {real_time_n}; refusals start at N = {}",
        first_refusal.map_or_else(|| "none of the steps".to_owned(), |n| n.to_string())
    );
}
