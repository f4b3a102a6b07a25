//! `hark mock`: the Live Streaming Starter Kit's mock server, done properly.
//!
//! Accepts a WebSocket on any path with `?encoding&sample_rate&channels`, answers every binary
//! frame with `{"msg":"Received N bytes of data"}` (and a warning when audio arrives faster than
//! real time), and streams the bytes to `<name>.raw` as they arrive (memory stays bounded). On
//! `CloseStream` (or an empty binary frame) it also writes `<name>.wav` for linear16, linear32,
//! mulaw and alaw, then replies with the file name and total bytes — the fields the kit's
//! `client.py` reads — and closes with 1000. `<name>.request.json` records the request line
//! (path and query), so a client's parameters can be checked as well as its audio.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::Router;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;

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
    uri: axum::http::Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let q = query.unwrap_or_default();
    let request = json!({
        "path": uri.path(),
        "query": q,
        "params": form_pairs(&q).map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
    });
    let get = |k: &str| form_pairs(&q).find(|(key, _)| key == k).map(|(_, v)| v);
    let encoding = get("encoding").unwrap_or_default();
    let sample_rate: u32 = get("sample_rate").and_then(|v| v.parse().ok()).unwrap_or(0);
    let channels: u16 = get("channels")
        .and_then(|v| v.parse().ok())
        .filter(|c| *c > 0)
        .unwrap_or(1);
    ws.on_upgrade(move |socket| session(socket, state, request, encoding, sample_rate, channels))
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
    request: serde_json::Value,
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
    // Audio goes straight to `<stem>.raw`: memory stays bounded however long the stream.
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    let stem = format!("hark-mock-{}-{n}", std::process::id());
    let raw_path = state.dir.join(format!("{stem}.raw"));
    let mut raw = match tokio::fs::create_dir_all(&state.dir).await {
        Ok(()) => tokio::fs::File::create(&raw_path).await,
        Err(e) => Err(e),
    };
    let request_path = state.dir.join(format!("{stem}.request.json"));
    if let Err(e) = tokio::fs::write(&request_path, request.to_string()).await {
        tracing::warn!(error = %e, path = %request_path.display(), "cannot record the request");
    }
    let mut total: u64 = 0;
    let mut warned = false;
    while let Some(Ok(frame)) = socket.recv().await {
        match frame {
            Message::Binary(b) if !b.is_empty() => {
                total += b.len() as u64;
                if let Ok(file) = raw.as_mut() {
                    if let Err(e) = file.write_all(&b).await {
                        raw = Err(e);
                    }
                }
                let mut msg = json!({ "msg": format!("Received {total} bytes of data") });
                if let Some(bps) = bytes_per_second.filter(|b| *b > 0) {
                    let audio_s = total as f64 / bps as f64;
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
    let saved = match raw {
        Ok(mut file) => match file.flush().await {
            Ok(()) => finish(&state.dir, &stem, total, &encoding, sample_rate, channels).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let reply = match saved {
        Ok(filename) => {
            json!({"msg": format!("Saved audio data to {filename}"), "filename": filename, "total_bytes": total})
        }
        Err(e) => json!({"msg": format!("ERROR: could not save audio: {e}"), "total_bytes": total}),
    };
    let _ = say(&mut socket, reply).await;
    let normal = axum::extract::ws::CloseFrame {
        code: 1000,
        reason: "".into(),
    };
    let _ = socket.send(Message::Close(Some(normal))).await;
}

/// `<stem>.raw` is complete; when the encoding has a WAV form, also write `<stem>.wav` (header
/// plus a copy of the raw file). Returns the name to report.
async fn finish(
    dir: &Path,
    stem: &str,
    total: u64,
    encoding: &str,
    sample_rate: u32,
    channels: u16,
) -> std::io::Result<String> {
    let tag = match encoding {
        "linear16" | "linear32" => 1u16,
        "alaw" => 6,
        "mulaw" => 7,
        _ => return Ok(format!("{stem}.raw")),
    };
    let Some(bps) = bytes_per_sample(encoding).filter(|_| sample_rate > 0) else {
        return Ok(format!("{stem}.raw"));
    };
    let mut wav = tokio::fs::File::create(dir.join(format!("{stem}.wav"))).await?;
    wav.write_all(&wav_header(tag, channels, sample_rate, bps, total))
        .await?;
    let mut raw = tokio::fs::File::open(dir.join(format!("{stem}.raw"))).await?;
    tokio::io::copy(&mut raw, &mut wav).await?;
    wav.flush().await?;
    Ok(format!("{stem}.wav"))
}

/// A 44-byte WAV header. Sizes saturate: client-chosen rates and channel counts cannot overflow.
fn wav_header(
    tag: u16,
    channels: u16,
    sample_rate: u32,
    bytes_per_sample: u16,
    data_bytes: u64,
) -> Vec<u8> {
    let sat = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let data_len = sat(data_bytes);
    let block_align =
        u16::try_from(u64::from(bytes_per_sample) * u64::from(channels)).unwrap_or(u16::MAX);
    let byte_rate = sat(u64::from(sample_rate) * u64::from(block_align));
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt \x10\0\0\0");
    h.extend_from_slice(&tag.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&sample_rate.to_le_bytes());
    h.extend_from_slice(&byte_rate.to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&(bytes_per_sample * 8).to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}
