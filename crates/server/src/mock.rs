//! `hark mock`: the Live Streaming Starter Kit's mock server, done properly.
//!
//! Accepts a WebSocket on any path with `?encoding&sample_rate&channels`, answers every binary
//! frame with `{"msg":"Received N bytes of data"}` (and a warning when audio arrives faster than
//! real time), and on `CloseStream` (or an empty binary frame) saves the bytes as `<name>.raw`,
//! plus `<name>.wav` for linear16/mulaw/alaw, then replies with the file name and total bytes —
//! the fields the kit's `client.py` reads.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::Router;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

struct MockState {
    dir: PathBuf,
    counter: AtomicU64,
}

/// The mock's router: every path upgrades.
pub fn router(dir: PathBuf) -> Router {
    let state = Arc::new(MockState {
        dir,
        counter: AtomicU64::new(0),
    });
    Router::new().fallback(upgrade).with_state(state)
}

async fn upgrade(
    State(state): State<Arc<MockState>>,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let q = query.unwrap_or_default();
    let get = |k: &str| form_pairs(&q).find(|(key, _)| key == k).map(|(_, v)| v);
    let encoding = get("encoding").unwrap_or_default();
    let sample_rate: u32 = get("sample_rate").and_then(|v| v.parse().ok()).unwrap_or(0);
    let channels: u16 = get("channels")
        .and_then(|v| v.parse().ok())
        .filter(|c| *c > 0)
        .unwrap_or(1);
    ws.on_upgrade(move |socket| session(socket, state, encoding, sample_rate, channels))
}

fn form_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

fn bytes_per_sample(encoding: &str) -> Option<u16> {
    match encoding {
        "linear16" => Some(2),
        "linear32" => Some(4),
        "mulaw" | "alaw" => Some(1),
        _ => None,
    }
}

async fn say(socket: &mut WebSocket, value: serde_json::Value) -> bool {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

async fn session(
    mut socket: WebSocket,
    state: Arc<MockState>,
    encoding: String,
    sample_rate: u32,
    channels: u16,
) {
    if !say(
        &mut socket,
        json!({"msg": "New websocket connection opened"}),
    )
    .await
    {
        return;
    }
    let expecting = format!("Expecting audio data with encoding {encoding}, {sample_rate} sample rate, and {channels} channel(s)");
    if !say(&mut socket, json!({ "msg": expecting })).await {
        return;
    }
    let bytes_per_second = bytes_per_sample(&encoding)
        .map(|b| u64::from(b) * u64::from(sample_rate) * u64::from(channels));
    let started = Instant::now();
    let mut audio = Vec::new();
    let mut warned = false;
    while let Some(Ok(frame)) = socket.recv().await {
        match frame {
            Message::Binary(b) if !b.is_empty() => {
                audio.extend_from_slice(&b);
                let mut msg = json!({ "msg": format!("Received {} bytes of data", audio.len()) });
                if let Some(bps) = bytes_per_second.filter(|b| *b > 0) {
                    let audio_s = audio.len() as f64 / bps as f64;
                    let elapsed_s = started.elapsed().as_secs_f64();
                    // Allow Deepgram's ~1.25× real time plus one second of burst.
                    if audio_s > elapsed_s * 1.25 + 1.0 && !warned {
                        warned = true;
                        msg["warning"] = json!(format!(
                            "audio is arriving faster than real time ({audio_s:.1} s of audio in {elapsed_s:.1} s); a live source sends at 1×"
                        ));
                    }
                }
                if !say(&mut socket, msg).await {
                    return;
                }
            }
            Message::Binary(_) => break,
            Message::Text(t) => {
                let kind = serde_json::from_str::<serde_json::Value>(t.as_str())
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_owned));
                match kind.as_deref() {
                    Some("CloseStream") => break,
                    Some("KeepAlive") | Some("Finalize") => {}
                    _ => {
                        let _ = say(&mut socket, json!({"msg": format!("Ignoring unexpected text frame: {}", t.as_str())})).await;
                    }
                }
            }
            Message::Close(_) => return,
            _ => {}
        }
    }
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    let stem = format!("hark-mock-{}-{n}", std::process::id());
    match save(&state.dir, &stem, &audio, &encoding, sample_rate, channels) {
        Ok(filename) => {
            let _ = say(&mut socket, json!({"msg": format!("Saved audio data to {filename}"), "filename": filename, "total_bytes": audio.len()})).await;
        }
        Err(e) => {
            let _ = say(&mut socket, json!({"msg": format!("ERROR: could not save audio: {e}"), "total_bytes": audio.len()})).await;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// Write `<stem>.raw` and, when the encoding has a WAV form, `<stem>.wav`. Returns the name to report.
fn save(
    dir: &Path,
    stem: &str,
    audio: &[u8],
    encoding: &str,
    sample_rate: u32,
    channels: u16,
) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{stem}.raw")), audio)?;
    let tag = match encoding {
        "linear16" | "linear32" => 1u16,
        "alaw" => 6,
        "mulaw" => 7,
        _ => return Ok(format!("{stem}.raw")),
    };
    let Some(bps) = bytes_per_sample(encoding) else {
        return Ok(format!("{stem}.raw"));
    };
    if sample_rate == 0 {
        return Ok(format!("{stem}.raw"));
    }
    let data_len = u32::try_from(audio.len()).unwrap_or(u32::MAX);
    let mut wav = Vec::with_capacity(audio.len() + 44);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt \x10\0\0\0");
    wav.extend_from_slice(&tag.to_le_bytes());
    wav.extend_from_slice(&channels.to_le_bytes());
    wav.extend_from_slice(&sample_rate.to_le_bytes());
    wav.extend_from_slice(&(sample_rate * u32::from(bps) * u32::from(channels)).to_le_bytes());
    wav.extend_from_slice(&(bps * channels).to_le_bytes());
    wav.extend_from_slice(&(bps * 8).to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.extend_from_slice(audio);
    std::fs::write(dir.join(format!("{stem}.wav")), wav)?;
    Ok(format!("{stem}.wav"))
}
