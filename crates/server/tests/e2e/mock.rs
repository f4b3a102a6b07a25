//! `hark mock`: the Starter Kit's mock server protocol.

use crate::support::*;
use serde_json::json;

async fn start_mock(dir: std::path::PathBuf) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(hark_server::serve_router(
        listener,
        hark_server::mock::router(dir),
        std::future::pending(),
    ));
    addr
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hark-mock-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[tokio::test]
async fn mock_counts_bytes_and_saves_raw_and_wav_byte_exact() {
    let dir = temp_dir("save");
    let addr = start_mock(dir.clone()).await;
    let audio: Vec<u8> = (0..16_000u32).map(|i| (i % 251) as u8).collect();
    let mut ws = open(&format!(
        "ws://{addr}/?encoding=linear16&sample_rate=8000&channels=1"
    ))
    .await;
    let hello = next_message(&mut ws).await.expect("read").expect("open");
    assert_eq!(hello["msg"], "New websocket connection opened");
    let expecting = next_message(&mut ws).await.expect("read").expect("open");
    assert!(expecting["msg"]
        .as_str()
        .is_some_and(|m| m.contains("linear16, 8000 sample rate, and 1 channel")));
    let mut sent = 0;
    for c in audio.chunks(4000) {
        send_bytes(&mut ws, c).await;
        sent += c.len();
        let r = next_message(&mut ws).await.expect("read").expect("open");
        assert_eq!(r["msg"], format!("Received {sent} bytes of data"));
    }
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    let saved = t
        .messages
        .iter()
        .find(|m| m.get("filename").is_some())
        .expect("filename reply");
    assert_eq!(saved["total_bytes"], audio.len());
    let wav_name = saved["filename"].as_str().expect("name");
    assert!(wav_name.ends_with(".wav"));
    let raw = std::fs::read(dir.join(wav_name.replace(".wav", ".raw"))).expect("raw file");
    assert_eq!(raw, audio, "the saved raw file is byte-exact");
    let wav = std::fs::read(dir.join(wav_name)).expect("wav file");
    let header = hark_audio::parse_wav_header(&wav)
        .expect("valid")
        .expect("complete");
    assert_eq!(
        (header.spec.sample_rate_hz, header.spec.channels),
        (8000, 1)
    );
    assert_eq!(&wav[header.data_offset..], &audio[..]);
}

#[tokio::test]
async fn mock_warns_when_audio_arrives_faster_than_real_time() {
    let addr = start_mock(temp_dir("fast")).await;
    let mut ws = open(&format!(
        "ws://{addr}/v1/listen?encoding=mulaw&sample_rate=8000"
    ))
    .await;
    let _ = next_message(&mut ws).await;
    let _ = next_message(&mut ws).await;
    send_bytes(&mut ws, &vec![0xFF; 80_000]).await; // 10 s of audio at once
    let r = next_message(&mut ws).await.expect("read").expect("open");
    assert!(
        r["warning"]
            .as_str()
            .is_some_and(|w| w.contains("faster than real time")),
        "{r}"
    );
}
