//! `POST /v1/listen`: pre-recorded requests against the real server and the counting engine
//! (each window answers "Samples{n}, Level{l}."), over plain HTTP.

use crate::support::*;
use hark_server::ServerConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Samples the engine was given, summed over every "samplesN" word of a channel.
fn samples_heard(channel: &Value) -> u64 {
    channel["alternatives"][0]["words"]
        .as_array()
        .expect("words")
        .iter()
        .filter_map(|w| {
            w["word"]
                .as_str()?
                .strip_prefix("samples")
                .and_then(unspell)
        })
        .sum()
}

fn tone(n: usize) -> Vec<i16> {
    (0..n).map(|i| ((i % 80) as i16 - 40) * 200).collect()
}

#[tokio::test]
async fn a_wav_upload_is_transcribed_whole_with_deepgrams_response_shape() {
    let s = start(Options::default()).await;
    // 2.5 s against 1 s windows: every sample reaches the engine once, in windows of at most 1 s.
    let wav = wav16(&tone(40_000), RATE_HZ);
    let r = http_post(
        s.addr,
        "/v1/listen?punctuate=true",
        &[("Content-Type", "audio/wav")],
        &wav,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("dg-request-id").is_some());
    let v = r.json();
    let meta = &v["metadata"];
    assert_eq!(meta["duration"], 2.5);
    assert_eq!(meta["channels"], 1);
    assert_eq!(meta["request_id"].as_str(), r.header("dg-request-id"));
    let sha = Sha256::digest(&wav);
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(meta["sha256"], hex);
    assert_eq!(meta["models"][0], "00000000-0000-4000-8000-000000000001");
    let channels = v["results"]["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 1);
    assert_eq!(samples_heard(&channels[0]), 40_000);
    let words = channels[0]["alternatives"][0]["words"]
        .as_array()
        .expect("words");
    assert!(words.len() >= 6, "three windows at least: {words:?}");
    // Times run on the recording's clock and never backwards.
    let starts: Vec<f64> = words
        .iter()
        .map(|w| w["start"].as_f64().unwrap_or(-1.0))
        .collect();
    assert!(starts.windows(2).all(|p| p[0] <= p[1]), "{starts:?}");
    assert!(*starts.last().unwrap_or(&0.0) > 1.5);
    assert!(words[0]["punctuated_word"]
        .as_str()
        .is_some_and(|p| p.ends_with(',')));
    assert!(v["results"].get("utterances").is_none());
    assert_eq!(s.model_windows() as usize, words.len() / 2);
}

#[tokio::test]
async fn raw_multichannel_audio_gives_one_channel_each_and_utterances_on_request() {
    let s = start(Options::default()).await;
    // 1.5 s of stereo linear16 at 8 kHz: left loud, right quiet.
    let frames: Vec<i16> = (0..12_000)
        .flat_map(|i| [((i % 40) as i16 - 20) * 800, 3])
        .collect();
    let body = pcm16(frames);
    let q = "/v1/listen?encoding=linear16&sample_rate=8000&channels=2&multichannel=true&utterances=true&utt_split=0.01";
    let r = http_post(
        s.addr,
        q,
        &[("Content-Type", "application/octet-stream")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["metadata"]["channels"], 2);
    let channels = v["results"]["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 2);
    // Resampled to the engine's 16 kHz: 1.5 s is 24 000 samples per channel.
    assert_eq!(samples_heard(&channels[0]), 24_000);
    assert_eq!(samples_heard(&channels[1]), 24_000);
    let utterances = v["results"]["utterances"].as_array().expect("utterances");
    let on: Vec<u64> = utterances
        .iter()
        .map(|u| u["channel"].as_u64().unwrap_or(9))
        .collect();
    assert!(on.contains(&0) && on.contains(&1), "{on:?}");
    let n: usize = utterances
        .iter()
        .map(|u| u["words"].as_array().map_or(0, Vec::len))
        .sum();
    let all: usize = channels
        .iter()
        .map(|c| c["alternatives"][0]["words"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(n, all, "every word in one utterance");
    assert!(utterances
        .iter()
        .all(|u| u["id"].as_str().is_some_and(|id| id.len() == 36)));
}

#[tokio::test]
async fn bad_requests_get_deepgram_shaped_errors() {
    let s = start(Options {
        config: ServerConfig {
            vad: false,
            max_upload_bytes: 100_000,
            ..ServerConfig::default()
        },
        ..Options::default()
    })
    .await;
    let post = |q: &'static str, ct: &'static str, body: Vec<u8>| {
        let addr = s.addr;
        async move { http_post(addr, q, &[("Content-Type", ct)], &body).await }
    };
    let r = post("/v1/listen", "audio/wav", Vec::new()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("failed to process audio"), "{}", r.body);
    let r = post(
        "/v1/listen",
        "audio/wav",
        b"hello, this is not audio at all".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["err_msg"]
        .as_str()
        .is_some_and(|m| m.contains("failed to process audio")));
    let r = post(
        "/v1/listen?sample_rate=abc",
        "audio/wav",
        wav16(&tone(100), RATE_HZ),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["err_code"].clone()),
        (400, Value::from("INVALID_QUERY_PARAMETER"))
    );
    let r = post("/v1/listen", "audio/wav", wav16(&tone(60_000), RATE_HZ)).await;
    assert_eq!(r.status, 413, "{}", r.body);
    let r = post("/v1/listen", "application/json", br#"{"uri": 1}"#.to_vec()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Loopback URLs are refused unless the configuration allows them.
    let url = format!(r#"{{"url": "http://{}/x.wav"}}"#, s.addr);
    let r = post("/v1/listen", "application/json", url.into_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("private or local"), "{}", r.body);
    // The server still serves.
    let r = post("/v1/listen", "audio/wav", wav16(&tone(8_000), RATE_HZ)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn authentication_applies_to_uploads_too() {
    let s = start(Options {
        config: ServerConfig {
            vad: false,
            api_keys: vec!["sekrit".into()],
            ..ServerConfig::default()
        },
        ..Options::default()
    })
    .await;
    let wav = wav16(&tone(8_000), RATE_HZ);
    let r = http_post(s.addr, "/v1/listen", &[("Content-Type", "audio/wav")], &wav).await;
    assert_eq!(r.status, 401);
    let auth = [
        ("Content-Type", "audio/wav"),
        ("Authorization", "Token sekrit"),
    ];
    let r = http_post(s.addr, "/v1/listen", &auth, &wav).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Serve `body` at any path once per connection, `hits` times; `/moved` redirects to `/x.wav`.
async fn file_server(body: Vec<u8>, hits: usize) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..hits {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let mut req = vec![0u8; 4096];
            let n = tcp.read(&mut req).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&req[..n]).into_owned();
            if head.starts_with("GET /moved") {
                let _ = tcp
                    .write_all(b"HTTP/1.1 302 Found\r\nLocation: /x.wav\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                continue;
            }
            let h = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = tcp.write_all(h.as_bytes()).await;
            let _ = tcp.write_all(&body).await;
        }
    });
    addr
}

#[tokio::test]
async fn a_url_source_is_fetched_following_redirects() {
    let s = start(Options {
        config: ServerConfig {
            vad: false,
            allow_private_urls: true,
            ..ServerConfig::default()
        },
        ..Options::default()
    })
    .await;
    let wav = wav16(&tone(24_000), RATE_HZ);
    let files = file_server(wav.clone(), 2).await;
    let body = format!(r#"{{"url": "http://{files}/moved"}}"#);
    let r = http_post(
        s.addr,
        "/v1/listen",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["metadata"]["duration"], 1.5);
    assert_eq!(samples_heard(&v["results"]["channels"][0]), 24_000);
    // A URL that does not answer is a 400, not a hang or a crash.
    let body = format!(r#"{{"url": "http://{files}/gone"}}"#);
    let r = http_post(
        s.addr,
        "/v1/listen",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn openais_transcription_endpoint_answers_in_its_formats() {
    let s = start(Options {
        config: ServerConfig {
            vad: false,
            api_keys: vec!["sekrit".into()],
            ..ServerConfig::default()
        },
        ..Options::default()
    })
    .await;
    let wav = wav16(&tone(40_000), RATE_HZ);
    let post = |fields: Vec<(&'static str, &'static str)>, key: &'static str| {
        let (body, ct) = multipart(&fields, &wav);
        let addr = s.addr;
        async move {
            let auth = format!("Bearer {key}");
            let headers = [
                ("Content-Type", ct.as_str()),
                ("Authorization", auth.as_str()),
            ];
            http_post(addr, "/v1/audio/transcriptions", &headers, &body).await
        }
    };
    let r = post(vec![("model", "whisper-1")], "sekrit").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text = r.json()["text"].as_str().expect("text").to_owned();
    assert!(text.starts_with("Samples"), "{text}");
    let r = post(
        vec![
            ("model", "whisper-1"),
            ("response_format", "verbose_json"),
            ("timestamp_granularities[]", "word"),
        ],
        "sekrit",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(
        (
            v["task"].as_str(),
            v["language"].as_str(),
            v["duration"].as_f64()
        ),
        (Some("transcribe"), Some("english"), Some(2.5))
    );
    let words = v["words"].as_array().expect("words");
    let segments = v["segments"].as_array().expect("segments");
    assert!(!segments.is_empty() && words.len() >= 6, "{v}");
    assert!(words
        .iter()
        .all(|w| !w["word"].as_str().unwrap_or(",").ends_with(',')));
    let r = post(
        vec![("model", "whisper-1"), ("response_format", "srt")],
        "sekrit",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with("1\n00:00:00,000 --> "), "{}", r.body);
    let r = post(
        vec![("model", "whisper-1"), ("response_format", "text")],
        "sekrit",
    )
    .await;
    assert_eq!(r.body.trim(), text);
    // OpenAI-shaped errors.
    let r = post(vec![("model", "whisper-1")], "wrong").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = post(vec![("response_format", "json")], "sekrit").await;
    assert_eq!(
        (r.status, r.json()["error"]["param"].clone()),
        (400, Value::from("model"))
    );
    let r = post(
        vec![("model", "whisper-1"), ("response_format", "xml")],
        "sekrit",
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(vec![("model", "no-such-model")], "sekrit").await;
    assert_eq!(r.status, 400);
}

/// Receives HTTP requests: answers the first `fail_first` with 500, then 200; sends each
/// (head, body) it received.
async fn callback_receiver(
    fail_first: usize,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut seen = 0;
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut raw = Vec::new();
            let mut buf = vec![0u8; 65536];
            // Read the head, then Content-Length bytes of body.
            let (head, body) = loop {
                let n = tcp.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break (head.to_owned(), body.to_owned());
                    }
                }
            };
            seen += 1;
            let status = if seen <= fail_first {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = tcp
                .write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            let _ = tx.send((head, body));
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn a_callback_gets_the_transcript_signed_after_a_failed_first_try() {
    let s = start(Options {
        config: ServerConfig {
            vad: false,
            allow_private_urls: true,
            callback_secret: Some("shh".into()),
            ..ServerConfig::default()
        },
        ..Options::default()
    })
    .await;
    let (receiver, mut got) = callback_receiver(1).await;
    let wav = wav16(&tone(24_000), RATE_HZ);
    let q = format!("/v1/listen?callback=http://{receiver}/hook");
    let r = http_post(s.addr, &q, &[("Content-Type", "audio/wav")], &wav).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let request_id = r.json()["request_id"]
        .as_str()
        .expect("request_id")
        .to_owned();
    assert!(
        r.json().get("results").is_none(),
        "answered at once, without the transcript"
    );
    let (_, first) = next_delivery(&mut got).await;
    let (head, body) = next_delivery(&mut got).await;
    assert_eq!(first, body, "the retry sends the same body");
    assert!(head.starts_with("POST /hook "), "{head}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["metadata"]["request_id"], request_id.as_str());
    assert_eq!(samples_heard(&v["results"]["channels"][0]), 24_000);
    // The signature is HMAC-SHA256 of the body with the secret (computed here independently).
    let sig = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("x-hark-signature:")
                .map(|v| v.trim().to_owned())
        })
        .expect("a signature header");
    assert_eq!(sig, format!("sha256={}", hmac_hex(b"shh", body.as_bytes())));
    // A callback to a refused address is a 400 before anything runs.
    let s2 = start(Options::default()).await;
    let r = http_post(s2.addr, &q, &[("Content-Type", "audio/wav")], &wav).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

async fn next_delivery(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) -> (String, String) {
    tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
        .await
        .ok()
        .flatten()
        .expect("a delivery")
}

/// HMAC-SHA256, written out from RFC 2104 (the test's own, not the server's).
fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    let mut k = key.to_vec();
    k.resize(64, 0);
    let ipad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let inner = Sha256::digest(&ipad);
    let opad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    Sha256::digest(&opad)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
