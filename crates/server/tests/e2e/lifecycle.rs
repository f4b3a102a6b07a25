//! Session lifecycle: control messages, timers, flushing and close codes (PROTOCOL.md §3, §5).

use crate::support::*;
use futures_util::{SinkExt, StreamExt};
use hark_server::ServerConfig;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const NET0001: &str = "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001";

fn quick_idle(ms: u64) -> Options {
    Options {
        config: ServerConfig {
            idle_timeout_ms: ms,
            vad: false,
            ..ServerConfig::default()
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn close_stream_flushes_every_final_then_metadata_then_1000() {
    let s = start(Options::default()).await;
    let Some(raw) = shared_data("preamble.raw") else {
        return;
    };
    let mut ws = open(
        &s.url("encoding=linear16&sample_rate=8000&channels=1&extra=team:blue&punctuate=true"),
    )
    .await;
    for chunk in raw.chunks(4000) {
        send_bytes(&mut ws, chunk).await;
    }
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    assert_eq!(t.close, Some((1000, String::new())));
    let last = t.messages.last().expect("messages");
    assert_eq!(last["type"], "Metadata", "Metadata is the last message");
    assert_eq!(t.of_type("Metadata").len(), 1);
    // Audio accounting: duration and hash are exactly what was sent.
    let frames = raw.len() / 2;
    assert_eq!(
        last["duration"].as_f64().map(|d| d as f32),
        Some(frames as f32 / 8000.0)
    );
    let sha: String = Sha256::digest(&raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(last["sha256"], sha.as_str());
    assert_eq!(last["channels"], 1);
    assert_eq!(last["transaction_key"], "deprecated");
    assert_eq!(last["extra"]["team"], "blue");
    assert_eq!(last["models"][0], "00000000-0000-4000-8000-000000000001");
    assert!(last["created"]
        .as_str()
        .is_some_and(|c| c.ends_with('Z') && c.len() == 24));
    // Finals tile the timeline and carry every sample, resampled 8 kHz → 16 kHz.
    let finals = t.of_type("Results");
    let mut clock = 0.0f64;
    let mut samples = 0;
    for r in &finals {
        assert_eq!(r["is_final"], true);
        assert_eq!(r["from_finalize"], false);
        assert_eq!(r["channel_index"], json!([0, 1]));
        assert!(
            (r["start"].as_f64().unwrap_or(-1.0) - clock).abs() < 1e-3,
            "finals tile: {r}"
        );
        clock += r["duration"].as_f64().unwrap_or(0.0);
        samples += samples_in(r);
        assert_eq!(r["metadata"]["extra"]["team"], "blue");
        assert_eq!(r["metadata"]["model_info"]["name"], "test-engine");
        let w = &r["channel"]["alternatives"][0]["words"][0];
        assert_eq!(
            w["punctuated_word"].as_str().map(|p| p.ends_with(',')),
            Some(true),
            "punctuate keeps the written form"
        );
        assert!(
            !w["word"].as_str().unwrap_or(",").contains(','),
            "word is unpunctuated"
        );
    }
    assert_eq!(samples as usize, frames * 2);
    assert!((clock - frames as f64 / 8000.0).abs() < 1e-3);
    let key_order: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&finals[0].to_string())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
    assert_eq!(
        key_order.len(),
        9,
        "every Results field present: {key_order:?}"
    );
}

#[tokio::test]
async fn a_zero_length_binary_frame_ends_the_stream_like_close_stream() {
    let s = start(Options::default()).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    send_bytes(&mut ws, &pcm16(vec![100; 8000])).await;
    send_bytes(&mut ws, &[]).await;
    let t = until_close(&mut ws).await;
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000));
    assert_eq!(samples_in(t.of_type("Results")[0]), 8000);
    assert_eq!(t.of_type("Metadata")[0]["duration"], 0.5);
}

#[tokio::test]
async fn idle_sessions_get_metadata_incomplete_then_1011_net0001() {
    let s = start(quick_idle(300)).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    send_bytes(&mut ws, &pcm16(vec![0; 320])).await;
    let t = until_close(&mut ws).await;
    assert_eq!(t.close, Some((1011, NET0001.to_owned())));
    let meta = t.messages.last().expect("metadata");
    assert_eq!(meta["type"], "Metadata");
    assert_eq!(meta["sha256"], "incomplete");
    assert_eq!(meta["duration"], 0.02);
    assert_eq!(
        t.of_type("Results").len(),
        0,
        "the idle close does not invent a transcript"
    );
}

#[tokio::test]
async fn keepalive_resets_the_idle_timer_and_gets_no_reply() {
    let s = start(quick_idle(400)).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        send_json(&mut ws, json!({"type": "KeepAlive"})).await;
    }
    // 900 ms after opening, still open: Sync is answered, and nothing else arrived before it.
    send_json(&mut ws, json!({"type": "Sync", "id": 42})).await;
    let reply = next_message(&mut ws).await.expect("read").expect("open");
    assert_eq!(reply, json!({"type": "Sync", "id": 42}));
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000));
    let meta = t.of_type("Metadata");
    assert_eq!(
        meta[0]["sha256"], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "hash of no audio"
    );
    assert!(
        meta[0].get("models").is_none(),
        "models are left out when no audio was processed"
    );
}

#[tokio::test]
async fn finalize_is_always_answered_even_with_no_audio() {
    let s = start(Options::default()).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    send_json(&mut ws, json!({"type": "Finalize"})).await;
    let r = next_message(&mut ws).await.expect("read").expect("open");
    assert_eq!(
        (
            r["type"].as_str(),
            r["is_final"].as_bool(),
            r["from_finalize"].as_bool()
        ),
        (Some("Results"), Some(true), Some(true))
    );
    assert_eq!(r["channel"]["alternatives"][0]["transcript"], "");
    assert_eq!(r["channel"]["alternatives"][0]["confidence"], 0.0);
    assert_eq!(
        (r["start"].as_f64(), r["duration"].as_f64()),
        (Some(0.0), Some(0.0))
    );
    // With audio buffered, Finalize transcribes it now and the stream stays open.
    send_bytes(&mut ws, &pcm16(vec![1000; 4000])).await;
    send_json(&mut ws, json!({"type": "Finalize"})).await;
    let r = next_message(&mut ws).await.expect("read").expect("open");
    assert_eq!(
        (samples_in(&r), r["from_finalize"].as_bool()),
        (4000, Some(true))
    );
    assert_eq!(r["duration"], 0.25);
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    assert_eq!(t.of_type("Results").len(), 0, "nothing left to flush");
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000));
}

#[tokio::test]
async fn timestamps_are_on_the_audio_clock_not_the_wall_clock() {
    let s = start(Options::default()).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    send_bytes(&mut ws, &pcm16(vec![500; 8000])).await;
    send_json(&mut ws, json!({"type": "Finalize"})).await;
    let first = next_message(&mut ws).await.expect("read").expect("open");
    tokio::time::sleep(Duration::from_millis(600)).await;
    send_json(&mut ws, json!({"type": "KeepAlive"})).await;
    send_bytes(&mut ws, &pcm16(vec![500; 4000])).await;
    send_json(&mut ws, json!({"type": "Finalize"})).await;
    let second = next_message(&mut ws).await.expect("read").expect("open");
    assert_eq!(
        (first["start"].as_f64(), first["duration"].as_f64()),
        (Some(0.0), Some(0.5))
    );
    assert_eq!(
        (second["start"].as_f64(), second["duration"].as_f64()),
        (Some(0.5), Some(0.25))
    );
    let w = &second["channel"]["alternatives"][0]["words"][1];
    assert_eq!(
        (w["start"].as_f64(), w["end"].as_f64()),
        (Some(0.625), Some(0.75))
    );
}

#[tokio::test]
async fn bad_text_frames_get_an_error_and_the_session_stays_open() {
    let s = start(Options::default()).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    for bad in [
        "{not json",
        r#"{"type":"Bogus"}"#,
        r#"["KeepAlive"]"#,
        r#"{"type":"Finalize","channel":7}"#,
    ] {
        ws.send(Message::Text(bad.into())).await.expect("send");
        let e = next_message(&mut ws).await.expect("read").expect("open");
        assert_eq!(
            (e["type"].as_str(), e["variant"].as_str()),
            (Some("Error"), Some("SchemaError")),
            "{bad}"
        );
        assert_eq!(e["message"], bad);
        assert!(e["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    send_json(
        &mut ws,
        json!({"type": "Configure", "features": {"numerals": true}, "keyterms": ["hark"]}),
    )
    .await;
    let ok = next_message(&mut ws).await.expect("read").expect("open");
    assert_eq!(ok["type"], "ConfigureSuccess");
    assert_eq!(ok["keyterms"], json!(["hark"]));
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    assert_eq!(
        until_close(&mut ws).await.close.as_ref().map(|c| c.0),
        Some(1000)
    );
}

#[tokio::test]
async fn pings_are_answered() {
    let s = start(Options::default()).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("ping");
    let pong = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("pong in time");
    assert!(matches!(pong, Some(Ok(Message::Pong(p))) if &p[..] == b"are you there"));
}

#[tokio::test]
async fn client_messages_on_a_slow_engine_stay_in_order() {
    let s = start(Options {
        delay: Duration::from_millis(40),
        window_samples: 1600,
        ..Options::default()
    })
    .await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    let audio: Vec<u8> = pcm16((0..16_000).map(|i| ((i % 100) * 50) as i16));
    for c in audio.chunks(3200) {
        send_bytes(&mut ws, c).await;
    }
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    let starts: Vec<f64> = t
        .of_type("Results")
        .iter()
        .filter_map(|r| r["start"].as_f64())
        .collect();
    assert_eq!(starts.len(), 10);
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000));
}

#[tokio::test]
async fn draining_refuses_new_streams_and_lets_open_ones_finish() {
    let mut s = start(Options::default()).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    s.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    send_bytes(&mut ws, &pcm16(vec![7; 1600])).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000));
    assert_eq!(samples_in(t.of_type("Results")[0]), 1600);
    let finished = tokio::time::timeout(Duration::from_secs(5), s.done).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "serve() returns once the last stream is done"
    );
}

#[tokio::test]
async fn the_drain_deadline_flushes_and_closes_open_streams_with_1001() {
    let mut s = start(Options {
        config: ServerConfig {
            drain_timeout_ms: 200,
            vad: false,
            ..ServerConfig::default()
        },
        ..Options::default()
    })
    .await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    send_bytes(&mut ws, &pcm16(vec![7; 800])).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.shutdown();
    let t = until_close(&mut ws).await;
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1001));
    assert_eq!(
        samples_in(t.of_type("Results")[0]),
        800,
        "buffered audio is flushed, not lost"
    );
    assert_eq!(
        t.messages.last().map(|m| m["type"].clone()),
        Some(json!("Metadata"))
    );
}

#[tokio::test]
async fn a_frame_over_the_limit_ends_with_metadata_then_1009() {
    let s = start(Options {
        config: ServerConfig {
            max_message_bytes: 64 * 1024,
            vad: false,
            ..ServerConfig::default()
        },
        ..Options::default()
    })
    .await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    let before = pcm16(std::iter::repeat_n(1000i16, 8000));
    send_bytes(&mut ws, &before).await;
    send_bytes(&mut ws, &vec![0u8; 100 * 1024]).await;
    let t = until_close(&mut ws).await;
    let (code, reason) = t.close.clone().expect("a close frame");
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("65536"), "{reason}");
    let meta = t.of_type("Metadata");
    assert_eq!(meta.len(), 1, "{:?}", t.messages);
    // The audio before the oversized frame is accounted for and transcribed.
    assert_eq!(meta[0]["duration"], 0.5);
    assert_eq!(
        t.of_type("Results")
            .iter()
            .map(|r| samples_in(r))
            .sum::<u64>(),
        8000
    );
}

/// A client that shuts its sending half of TCP (FIN, no close frame) is let go at once, not
/// after the idle timeout: the WebSocket library cannot write after the peer's EOF, so there is
/// no flush (docs: clients end a stream with `CloseStream`).
#[tokio::test]
async fn a_half_closed_client_is_let_go_at_once() {
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::MaybeTlsStream;
    let s = start(Options::default()).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    send_bytes(&mut ws, &pcm16(vec![1000; 24_000])).await;
    let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("plain ws://");
    };
    tcp.shutdown().await.expect("shut the sending half");
    let started = std::time::Instant::now();
    let mut ended = false;
    while started.elapsed() < Duration::from_secs(5) {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(_) => {
                ended = true;
                break;
            }
            Err(_) => break,
        }
    }
    assert!(ended, "the server held a half-closed connection for 5 s");
}

/// A client that sends audio but never reads cannot make the server buffer without bound: once
/// its socket is full, the server waits `send_timeout_ms` for it, then lets it go and counts it.
#[tokio::test]
async fn a_client_that_never_reads_is_disconnected() {
    let chatty: &'static str = Box::leak(vec!["wordy"; 3000].join(" ").into_boxed_str());
    let s = start(Options {
        config: ServerConfig {
            vad: false,
            send_timeout_ms: 1000,
            ..ServerConfig::default()
        },
        says: vec![chatty],
        ..Options::default()
    })
    .await;
    let counted = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("hark_clients_not_reading_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = counted(&http_get(s.addr, "/metrics").await);
    // A small receive buffer, as a stalled phone on a bad network would have.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = socket.connect(s.addr).await.expect("connect");
    let (mut ws, _) =
        tokio_tungstenite::client_async(s.url("encoding=linear16&sample_rate=16000"), tcp)
            .await
            .expect("handshake");
    let second = pcm16(vec![3277; 16_000]); // mean level 0.1: the chatty answer
    let started = std::time::Instant::now();
    let mut cut_off = false;
    while started.elapsed() < Duration::from_secs(30) {
        match tokio::time::timeout(
            Duration::from_secs(5),
            ws.send(Message::binary(second.clone())),
        )
        .await
        {
            Ok(Ok(())) => {}
            // The server stopped reading (its socket to us is full) and then hung up.
            Ok(Err(_)) | Err(_) => {
                cut_off = true;
                break;
            }
        }
    }
    assert!(
        cut_off,
        "the server kept taking audio from a client that never reads"
    );
    for _ in 0..50 {
        if counted(&http_get(s.addr, "/metrics").await) > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("hark_clients_not_reading_total did not count the client");
}
