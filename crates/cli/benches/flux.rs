//! Flux end-of-turn benchmark (not a test): `bench/flux.sh`, or
//! `cargo bench -p hark --bench flux -- DIR` with real Whisper weights in DIR.
//!
//! Starts `hark serve --model DIR` and, for each N, N clients that each stream espeak-ng speech
//! as a microphone does (20 ms frames, each sent when its audio is over): two sentences with a hesitation inside the first ("… my
//! brother and | tell him …", 0.7 s) and 1.5 s pauses after each, said twice (four turns).
//! Reported per N:
//! - EndOfTurn latency p50/p95: from the moment a turn's speech ended (on the client's clock, as
//!   a live speaker stops) to the EndOfTurn's arrival (`eager_eot_threshold=0.5` on the Flux
//!   streams);
//! - EagerEndOfTurn lead: how much earlier the EagerEndOfTurn came (p50);
//! - turns: EndOfTurns seen / expected (more means a pause ended a turn too soon: the hesitation);
//! - the reference, side by side on the same server and audio: `/v1/listen` with
//!   `endpointing=300&interim_results=true` (what voice agents used before Flux), the latency of
//!   its `speech_final:true` Results from the same moments, and the ratio of the two p50s.
//!
//! Env: `HARK_BENCH_STEPS` (default 1,4). `--encoder-shortcut` after DIR passes on to `hark serve`.

use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const RATE: usize = 22_050;
/// 20 ms frames, sent as a microphone does: each once its audio is over.
const CHUNK: usize = RATE / 50;
const SAID: [(&str, f64, bool); 3] = [
    ("Please call my brother and", 0.7, false),
    ("tell him I will be late.", 1.5, true),
    ("Thank you very much.", 1.5, true),
];

fn main() {
    // As `hark` runs its models.
    hark_kernels::quiet_candle_pool();
    let Some(dir) = std::env::args().skip(1).find(|a| !a.starts_with('-')) else {
        eprintln!("usage: flux MODEL_DIR (bench/flux.sh fetches tiny.en)");
        return;
    };
    let steps: Vec<usize> = std::env::var("HARK_BENCH_STEPS")
        .unwrap_or_else(|_| "1,4".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let (pcm, ends) = audio();
    // `--encoder-shortcut` passes on to the server.
    let shortcut = std::env::args().any(|a| a == "--encoder-shortcut");
    let mut server = Command::new(env!("CARGO_BIN_EXE_hark"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-streams",
            "64",
            "--model",
            &dir,
        ])
        .args(shortcut.then_some("--encoder-shortcut"))
        .env("HARK_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("hark serve");
    let log = server.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            if let Some(a) = line.split("addr=").nth(1) {
                let _ = tx.send(a.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("listening");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!("| N | EndOfTurn p50 ms | p95 ms | Eager lead p50 ms | turns | v1 speech_final p50 ms | p95 ms | Flux/v1 p50 |");
    println!("|---|---|---|---|---|---|---|---|");
    for n in steps {
        let flux = rt.block_on(step(&addr, n, &pcm, &ends, true));
        let v1 = rt.block_on(step(&addr, n, &pcm, &ends, false));
        let (f50, f95) = (pct(&flux.latency_ms, 50.0), pct(&flux.latency_ms, 95.0));
        let (v50, v95) = (pct(&v1.latency_ms, 50.0), pct(&v1.latency_ms, 95.0));
        println!(
            "| {n} | {f50:.0} | {f95:.0} | {:.0} | {}/{} | {v50:.0} | {v95:.0} | {:.2} |",
            pct(&flux.eager_lead_ms, 50.0),
            flux.turns,
            ends.len() * n,
            f50 / v50
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// The speech, said twice, and where each turn's speech ends (sample index).
fn audio() -> (Vec<i16>, Vec<usize>) {
    let dir = std::env::temp_dir().join(format!("hark-bench-flux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut pcm = vec![0i16; RATE];
    let mut ends = Vec::new();
    for _ in 0..2 {
        for (text, pause_s, ends_turn) in SAID {
            let wav = dir.join("say.wav");
            let ok = Command::new("espeak-ng")
                .args(["-v", "en-us", "-s", "130", "-w"])
                .arg(&wav)
                .arg(text)
                .status()
                .expect("espeak-ng");
            assert!(ok.success());
            let data = std::fs::read(&wav).expect("wav");
            // espeak-ng writes a canonical 44-byte header.
            let said: Vec<i16> = data[44..]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            let last = said.iter().rposition(|s| s.abs() > 300).unwrap_or(0);
            if ends_turn {
                ends.push(pcm.len() + last + 1);
            }
            pcm.extend(&said[..=last]);
            pcm.extend(vec![0; (pause_s * RATE as f64) as usize]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    (pcm, ends)
}

#[derive(Default)]
struct Seen {
    latency_ms: Vec<f64>,
    eager_lead_ms: Vec<f64>,
    turns: usize,
}

async fn step(addr: &str, n: usize, pcm: &[i16], ends: &[usize], flux: bool) -> Seen {
    let clients: Vec<_> = (0..n)
        .map(|_| tokio::spawn(client(addr.to_owned(), pcm.to_vec(), ends.to_vec(), flux)))
        .collect();
    let mut all = Seen::default();
    for c in clients {
        let s = c.await.expect("client");
        all.latency_ms.extend(s.latency_ms);
        all.eager_lead_ms.extend(s.eager_lead_ms);
        all.turns += s.turns;
    }
    all
}

async fn client(addr: String, pcm: Vec<i16>, ends: Vec<usize>, flux: bool) -> Seen {
    let url = if flux {
        format!("ws://{addr}/v2/listen?model=flux-general-en&encoding=linear16&sample_rate={RATE}&eager_eot_threshold=0.5")
    } else {
        format!("ws://{addr}/v1/listen?encoding=linear16&sample_rate={RATE}&endpointing=300&interim_results=true")
    };
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let (mut sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new(); // (arrival, kind)
        while let Some(Ok(msg)) = stream.next().await {
            let Message::Text(t) = msg else { continue };
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
            let kind = match (v["type"].as_str(), v["event"].as_str()) {
                (Some("TurnInfo"), Some("EndOfTurn")) => "end",
                (Some("TurnInfo"), Some("EagerEndOfTurn")) => "eager",
                (Some("Results"), _) if v["speech_final"] == true => "end",
                _ => continue,
            };
            got.push((Instant::now(), kind));
        }
        got
    });
    let start = Instant::now();
    let at = |sample: usize| start + Duration::from_secs_f64(sample as f64 / RATE as f64);
    let sent_end: Vec<Instant> = ends.iter().map(|e| at(*e)).collect();
    for (k, chunk) in pcm.chunks(CHUNK).enumerate() {
        tokio::time::sleep_until(at(k * CHUNK + chunk.len()).into()).await;
        let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
        sink.send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }
    let _ = sink
        .send(Message::Text(r#"{"type":"CloseStream"}"#.into()))
        .await;
    let got = reader.await.expect("reader");
    let mut seen = Seen::default();
    let turn_ends: Vec<Instant> = got.iter().filter(|g| g.1 == "end").map(|g| g.0).collect();
    let eagers: Vec<Instant> = got.iter().filter(|g| g.1 == "eager").map(|g| g.0).collect();
    seen.turns = turn_ends.len();
    // Each turn's speech end is answered by the first end that arrives after it.
    for sent in &sent_end {
        if let Some(end) = turn_ends.iter().find(|t| *t >= sent) {
            seen.latency_ms.push((*end - *sent).as_secs_f64() * 1000.0);
            if let Some(e) = eagers.iter().rev().find(|e| *e >= sent && *e <= end) {
                seen.eager_lead_ms.push((*end - *e).as_secs_f64() * 1000.0);
            }
        }
    }
    seen
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((p / 100.0) * (s.len() - 1) as f64).round() as usize]
}
