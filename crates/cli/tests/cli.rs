//! The `hark` binary itself: documented flags, honest refusal without an engine, the mock server.

mod support;

use std::io::{Read, Write};
use support::{hark, spawn_listening};

#[test]
fn serve_help_documents_every_option_and_variable() {
    let out = hark().args(["serve", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--listen",
        "HARK_LISTEN",
        "127.0.0.1:8080",
        "--model",
        "--api-key",
        "HARK_API_KEYS",
        "--config",
        "--idle-timeout-ms",
        "--drain-timeout-ms",
        "--capacity",
        "HARK_CAPACITY",
        "--tls-cert",
        "--tls-key",
        "--max-streams",
    ] {
        assert!(
            help.contains(needle),
            "`hark serve --help` lacks {needle}:\n{help}"
        );
    }
    let mock = hark().args(["mock", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&mock.stdout);
    assert!(
        help.contains("127.0.0.1:5000") && help.contains("--dir"),
        "{help}"
    );
}

#[test]
fn serve_without_a_usable_model_explains_and_exits_2() {
    let out = hark()
        .args(["serve", "--model", "/nonexistent/model"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/model/config.json"), "{err}");
}

#[test]
fn serve_without_a_model_serves_a_faster_whisper_model_from_the_cache() {
    // A Hugging Face cache holding a faster-whisper (CTranslate2) repository, as
    // `hark models pull faster-whisper-tiny.en` leaves it; no hub to fetch from.
    let hf = std::env::temp_dir().join(format!("hark-cli-hf-{}", std::process::id()));
    let snap = hf.join("hub/models--Systran--faster-whisper-tiny.en/snapshots/0123abc");
    std::fs::create_dir_all(&snap).expect("dir");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../asr-whisper/fixtures");
    for (from, name) in [
        ("tiny-random-ct2/model.bin", "model.bin"),
        ("tiny-random-ct2/config.json", "config.json"),
        ("tiny-random/tokenizer.json", "tokenizer.json"),
    ] {
        std::fs::copy(fixtures.join(from), snap.join(name)).expect("copy");
    }
    let (mut child, _, log) = support::spawn_listening_with_log(
        hark()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("HARK_MODEL")
            .env("HF_HOME", &hf)
            .env("HF_ENDPOINT", "http://127.0.0.1:9"),
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&hf);
    let log = log.join("\n");
    assert!(
        log.contains("serving the best model in the local cache")
            && log.contains("faster-whisper-tiny.en")
            && !log.contains("DEMO MODEL"),
        "{log}"
    );
}

#[test]
fn mock_listens_and_answers_http() {
    let dir = std::env::temp_dir().join(format!("hark-cli-mock-{}", std::process::id()));
    let dir = dir.to_string_lossy().into_owned();
    let (mut child, addr) =
        spawn_listening(hark().args(["mock", "--listen", "127.0.0.1:0", "--dir", &dir]));
    let mut tcp = std::net::TcpStream::connect(&addr).expect("connect");
    tcp.write_all(b"GET /anything HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).expect("read");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        reply.starts_with("HTTP/1.1 4"),
        "a plain GET is not a WebSocket upgrade: {reply}"
    );
}

#[test]
fn serve_with_a_whisper_model_transcribes_over_websocket() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../asr-whisper/fixtures/tiny-random"
    );
    let (mut child, addr) =
        spawn_listening(hark().args(["serve", "--model", model, "--listen", "127.0.0.1:0"]));
    // 3 s of the starter-kit preamble (8 kHz linear16); a synthetic tone if the shared data is absent.
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/starter-kit/preamble.raw"
    ))
    .map(|r| r[16_000..16_000 + 48_000].to_vec())
    .unwrap_or_else(|_| {
        (0..24_000)
            .flat_map(|i: i32| (((i as f32 * 0.3).sin() * 8000.0) as i16).to_le_bytes())
            .collect()
    });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let messages: Vec<serde_json::Value> = rt.block_on(async {
        let url = format!(
            "ws://{addr}/v1/listen?model=nova-3&encoding=linear16&sample_rate=8000&punctuate=true&endpointing=false"
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("handshake");
        for c in raw.chunks(1600) {
            ws.send(Message::Binary(c.to_vec().into()))
                .await
                .expect("audio");
        }
        ws.send(Message::Text(r#"{"type":"CloseStream"}"#.into()))
            .await
            .expect("close stream");
        let out = support::read_until_close(&mut ws, 30).await;
        out
    });
    let _ = child.kill();
    let _ = child.wait();
    let results: Vec<_> = messages.iter().filter(|m| m["type"] == "Results").collect();
    assert!(!results.is_empty(), "{messages:?}");
    // Without endpoints, the 2 s model window tiles 3 s of audio: finals at 0 and 2 s.
    let spans: Vec<(f64, f64)> = results
        .iter()
        .map(|r| {
            (
                r["start"].as_f64().unwrap_or(-1.0),
                r["duration"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    assert_eq!(spans, vec![(0.0, 2.0), (2.0, 1.0)]);
    for r in &results {
        assert_eq!(r["metadata"]["model_info"]["arch"], "whisper");
        assert_eq!(r["metadata"]["model_info"]["name"], "tiny-random");
        let start = r["start"].as_f64().unwrap_or(0.0);
        let end = start + r["duration"].as_f64().unwrap_or(0.0);
        for w in r["channel"]["alternatives"][0]["words"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let (ws, we) = (
                w["start"].as_f64().unwrap_or(-1.0),
                w["end"].as_f64().unwrap_or(-1.0),
            );
            assert!(
                ws >= start - 1e-3 && we <= end + 1e-3 && we >= ws,
                "word timing {w} outside [{start}, {end}]"
            );
            assert!(w["punctuated_word"].is_string());
        }
    }
    let meta = messages
        .iter()
        .find(|m| m["type"] == "Metadata")
        .expect("metadata");
    assert_eq!(meta["duration"], 3.0);
    assert_eq!(
        messages.last().map(|m| m["close"].clone()),
        Some(serde_json::json!(1000))
    );
}

#[test]
fn models_pull_fails_fast_offline_and_says_how_to_place_a_model() {
    let home = std::env::temp_dir().join(format!("hark-hf-offline-{}", std::process::id()));
    let started = std::time::Instant::now();
    let out = hark()
        .args(["models", "pull", "whisper-tiny.en"])
        .env("HF_HOME", &home)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("openai/whisper-tiny.en") && err.contains("place a model by hand"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "fails fast, not after long retries"
    );
}

#[test]
fn models_list_shows_cached_models_and_serve_accepts_their_names() {
    let home = std::env::temp_dir().join(format!("hark-hf-home-{}", std::process::id()));
    let snap = home.join("hub/models--hark--tiny-random/snapshots/0123");
    std::fs::create_dir_all(&snap).expect("dir");
    let fixture = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../asr-whisper/fixtures/tiny-random"
    ));
    for f in [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "model.safetensors",
    ] {
        std::fs::copy(fixture.join(f), snap.join(f)).expect("copy");
    }
    let out = hark()
        .args(["models", "list"])
        .env("HF_HOME", &home)
        .output()
        .expect("run");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listing.contains("hark/tiny-random") && listing.contains("0123"),
        "{listing}"
    );
    let (mut child, addr) = spawn_listening(
        hark()
            .args([
                "serve",
                "--model",
                "hark/tiny-random",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("HF_HOME", &home),
    );
    let metrics = support::get(&addr, "/metrics");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        metrics.contains("model=\"hark/tiny-random\""),
        "serve loads a cached model by name and serves it under that name:\n{metrics}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

/// `hark models quantize MODEL OUT` (q8_0, the default), which must say it wrote `matrices` q8_0
/// matrices.
fn quantize_q8(model: &str, out: &std::path::Path, matrices: usize) {
    let ok = hark()
        .args(["models", "quantize", model])
        .arg(out)
        .output()
        .expect("run");
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success() && said.contains(&format!("{matrices} matrices as q8_0")),
        "{said}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

/// `hark models quantize` on a Moonshine Streaming checkpoint (the fixture: random weights,
/// transformers' layout): a GGUF copy that `hark serve` loads as Moonshine and that transcribes an
/// upload whole.
#[test]
fn models_quantize_writes_a_servable_moonshine_gguf_model() {
    let out_dir = std::env::temp_dir().join(format!("hark-quantized-ms-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../asr-moonshine/fixtures/streaming-random"
    );
    // The layers' matrices whose input width is a multiple of the block (32): the encoder's
    // query, key, value and feed-forward products (4 layers × 5) and the decoder's second
    // feed-forward products (2); the rest, 48 wide in, and the convolutions, norms, embeddings
    // and the scalar stay f32.
    quantize_q8(fixture, &out_dir, 22);
    assert!(!out_dir.join("model.safetensors").exists());
    let (mut child, addr) = spawn_listening(
        hark()
            .args(["serve", "--model"])
            .arg(&out_dir)
            .args(["--listen", "127.0.0.1:0"]),
    );
    let host = format!("ws://{addr}");
    let wav = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/starter-kit/preamble.wav"
    ));
    let response = support::transcribe_json(&host, wav, &[]);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&out_dir);
    assert_eq!(
        response["metadata"]["model_info"]
            .as_object()
            .and_then(|m| m.values().next())
            .and_then(|m| m["arch"].as_str()),
        Some("moonshine-streaming"),
        "{response}"
    );
    let words = response["results"]["channels"][0]["alternatives"][0]["words"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(words > 0, "{response}");
    assert!(
        (response["metadata"]["duration"].as_f64().unwrap_or(0.0) - 19.098).abs() < 0.01,
        "{response}"
    );
}

#[test]
fn models_quantize_writes_a_servable_gguf_model() {
    let out_dir = std::env::temp_dir().join(format!("hark-quantized-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../asr-whisper/fixtures/tiny-random"
    );
    let bad = hark()
        .args(["models", "quantize", fixture])
        .arg(&out_dir)
        .args(["--type", "q3_k"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown quantization"));
    quantize_q8(fixture, &out_dir, 29);
    let (mut child, addr) =
        spawn_listening(hark().args(["serve", "--model"]).arg(&out_dir).args([
            "--beam-size",
            "3",
            "--listen",
            "127.0.0.1:0",
        ]));
    let reply = support::get(&addr, "/readyz");
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let _ = std::fs::remove_dir_all(&out_dir);
}
