//! A fleet behind a real load balancer: three `hark serve` processes behind HAProxy (from apt;
//! `./scripts/test.sh` installs it and sets `HARK_REQUIRE_HAPROXY=1`), real-time streams through
//! it, then a rolling update (SIGTERM to one instance) and a crash (SIGKILL to another) mid-stream.
//!
//! What must hold: every stream on the drained instance ends with all its finals (as many words
//! as the same audio gives undisturbed), its Metadata (the whole audio accounted for) and a clean
//! close; the killed instance's clients see their connection end without a Metadata; no client
//! ever gets a result carrying another stream's request id; and clients that reconnect land on
//! the surviving instance and finish. `bench/fleet.sh` runs it with more streams and prints the
//! same report.

mod support;

use futures_util::{SinkExt, StreamExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{hark, spawn_listening_for, KillOnDrop};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

/// How one stream went.
#[derive(Debug, Default, Clone)]
struct Outcome {
    backend: String,
    request_id: String,
    final_words: usize,
    metadata_duration_s: Option<f64>,
    close_code: Option<u16>,
    /// Results whose `metadata.request_id` is not this stream's.
    foreign_results: usize,
    /// The connection ended without a close frame (reset, EOF).
    abrupt: bool,
    refused: Option<u16>,
}

fn haproxy_or_skip() -> bool {
    let found = Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("HARK_REQUIRE_HAPROXY").is_none(),
            "HARK_REQUIRE_HAPROXY is set but haproxy is not installed"
        );
        eprintln!("SKIP: haproxy is not installed (apt-get install haproxy)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// HAProxy in front of `backends`: least connections (streams are long-lived), health checks on
/// `/readyz` every 200 ms, new connections retried elsewhere when an instance refuses them or is
/// gone, WebSocket tunnels kept for an hour, the serving instance named in a response header.
fn start_haproxy(dir: &std::path::Path, port: u16, backends: &[(String, String)]) -> KillOnDrop {
    let servers: String = backends
        .iter()
        .map(|(name, addr)| format!("  server {name} {addr} check\n"))
        .collect();
    let cfg = format!(
        "global\n  maxconn 2000\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n\
         \x20 timeout tunnel 1h\n  option redispatch 1\n  retries 3\n\
         \x20 retry-on conn-failure empty-response response-timeout 503\n\
         frontend listen\n  bind 127.0.0.1:{port}\n  default_backend hark\n\
         backend hark\n  balance leastconn\n  option httpchk GET /readyz\n\
         \x20 http-check expect status 200\n  default-server inter 200ms fall 1 rise 2\n\
         \x20 http-response set-header X-Hark-Backend %[srv_name]\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).expect("haproxy.cfg");
    let child = KillOnDrop(
        Command::new("haproxy")
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy"),
    );
    // Up, and every backend seen healthy.
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            std::thread::sleep(Duration::from_millis(800));
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("haproxy did not start");
}

/// Stream `pcm` (22.05 kHz s16le) in real time through `url`, then CloseStream, and read
/// everything back.
async fn run_stream(url: String, pcm: std::sync::Arc<Vec<u8>>) -> Outcome {
    let mut out = Outcome::default();
    let request = url.into_client_request().expect("request");
    let (ws, response) = match tokio_tungstenite::connect_async(request).await {
        Ok(ok) => ok,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            out.refused = Some(r.status().as_u16());
            return out;
        }
        Err(e) => panic!("handshake: {e}"),
    };
    let header = |n: &str| {
        response
            .headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    out.backend = header("x-hark-backend");
    out.request_id = header("dg-request-id");
    let (mut tx, mut rx) = ws.split();
    let chunk = 4410; // 100 ms
    let sender = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for (i, c) in pcm.chunks(chunk).enumerate() {
            tokio::time::sleep_until(start + Duration::from_millis(100 * i as u64)).await;
            if tx.send(Message::Binary(c.to_vec().into())).await.is_err() {
                return;
            }
        }
        let _ = tx
            .send(Message::Text(r#"{"type":"CloseStream"}"#.into()))
            .await;
        // Keep the sink alive until the reader is done.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    loop {
        match tokio::time::timeout(Duration::from_secs(40), rx.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
                match v["type"].as_str() {
                    Some("Results") => {
                        if v["metadata"]["request_id"] != out.request_id.as_str() {
                            out.foreign_results += 1;
                        }
                        if v["is_final"] == true {
                            let t = v["channel"]["alternatives"][0]["transcript"]
                                .as_str()
                                .unwrap_or_default();
                            out.final_words += t.split_whitespace().count();
                        }
                    }
                    Some("Metadata") => {
                        if v["request_id"] != out.request_id.as_str() {
                            out.foreign_results += 1;
                        }
                        out.metadata_duration_s = v["duration"].as_f64();
                    }
                    _ => {}
                }
            }
            Ok(Some(Ok(Message::Close(c)))) => {
                out.close_code = Some(c.map_or(1005, |c| u16::from(c.code)));
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => {
                out.abrupt = true;
                break;
            }
            Err(_) => panic!("no message for 40 s on a stream through {}", out.backend),
        }
    }
    sender.abort();
    out
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig}");
}

#[test]
fn a_fleet_behind_haproxy_survives_a_rolling_update_and_a_crash() {
    if !haproxy_or_skip() {
        return;
    }
    let streams: usize = std::env::var("HARK_FLEET_STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let dir = std::env::temp_dir().join(format!("hark-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // About 9 s of speech with pauses, so each stream gets several finals.
    let pcm = support::speak(
        &dir,
        "the quick brown fox jumps over the lazy dog. we met at the station at nine. \
         please bring the blue folder with you. thank you very much.",
    );
    let audio_s = pcm.len() as f64 / 2.0 / 22_050.0;
    let pcm = std::sync::Arc::new(pcm);

    let instances: Vec<(String, KillOnDrop, String)> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            let (child, addr, _) = spawn_listening_for(
                hark().args([
                    "serve",
                    "--model",
                    "hark-demo-en",
                    "--listen",
                    "127.0.0.1:0",
                    "--drain-timeout-ms",
                    "30000",
                    "--max-streams",
                    "64",
                    "--no-playground",
                ]),
                120,
            );
            ((*name).to_owned(), KillOnDrop(child), addr)
        })
        .collect();
    let port = free_port();
    let backends: Vec<(String, String)> = instances
        .iter()
        .map(|(n, _, a)| (n.clone(), a.clone()))
        .collect();
    let _haproxy = start_haproxy(&dir, port, &backends);
    let url = format!(
        "ws://127.0.0.1:{port}/v1/listen?encoding=linear16&sample_rate=22050&interim_results=true"
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // The reference: the same audio on an undisturbed instance (before anything happens).
    let reference = rt.block_on(run_stream(url.clone(), pcm.clone()));
    assert_eq!(reference.close_code, Some(1000), "{reference:?}");
    assert!(reference.final_words >= 10, "{reference:?}");

    let outcomes: Vec<Outcome> = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..streams {
            tasks.push(tokio::spawn(run_stream(url.clone(), pcm.clone())));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Mid-stream: a rolling update drains `a`, and `b` crashes.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        signal(&instances[0].1 .0, "-TERM");
        signal(&instances[1].1 .0, "-KILL");
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("stream task"));
        }
        out
    });
    // Clients of the gone instances reconnect, as the JS SDK does after 1001: they must land on
    // the instance left.
    let lost = outcomes.iter().filter(|o| o.backend != "c").count();
    let reconnects: Vec<Outcome> = rt.block_on(async {
        let tasks: Vec<_> = (0..lost)
            .map(|_| tokio::spawn(run_stream(url.clone(), pcm.clone())))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("reconnect task"));
        }
        out
    });

    let on = |b: &str| {
        outcomes
            .iter()
            .filter(|o| o.backend == b)
            .collect::<Vec<_>>()
    };
    let (drained, killed, kept) = (on("a"), on("b"), on("c"));
    let finals_lost: usize = drained
        .iter()
        .map(|o| reference.final_words.saturating_sub(o.final_words))
        .sum();
    let refusals = outcomes
        .iter()
        .chain(&reconnects)
        .filter(|o| o.refused.is_some())
        .count();
    println!(
        "fleet: {streams} streams of {audio_s:.1} s (a: {}, b: {}, c: {}); drained a: {} closed cleanly, \
         finals lost {finals_lost}; killed b: {} cut off; reconnects {} all on c: {}; refusals {refusals}; \
         reference {} final words",
        drained.len(),
        killed.len(),
        kept.len(),
        drained.iter().filter(|o| o.close_code == Some(1000)).count(),
        killed.iter().filter(|o| o.abrupt || o.metadata_duration_s.is_none()).count(),
        reconnects.len(),
        reconnects.iter().all(|o| o.backend == "c"),
        reference.final_words,
    );
    drop(instances);
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(
        outcomes.len(),
        drained.len() + killed.len() + kept.len(),
        "every stream names its instance: {outcomes:?}"
    );
    assert!(
        !drained.is_empty() && !killed.is_empty() && !kept.is_empty(),
        "least-connections spreads the streams over all three: {outcomes:?}"
    );
    assert_eq!(refusals, 0, "{outcomes:?} {reconnects:?}");
    for o in outcomes.iter().chain(&reconnects) {
        assert_eq!(o.foreign_results, 0, "a result for another stream: {o:?}");
    }
    for o in drained.iter().chain(&kept) {
        // Drained or untouched: the whole stream, as undisturbed (a word's slack: under load an
        // interim may be skipped, and a long phrase committed at another word boundary).
        assert_eq!(o.close_code, Some(1000), "{o:?}");
        let d = o.metadata_duration_s.expect("Metadata");
        assert!(
            (d - audio_s).abs() < 0.01,
            "duration {d} for {audio_s} s sent: {o:?}"
        );
        assert!(
            o.final_words + 1 >= reference.final_words,
            "finals lost: {o:?} vs {reference:?}"
        );
    }
    for o in &killed {
        assert!(
            o.metadata_duration_s.is_none() && o.close_code != Some(1000),
            "{o:?}"
        );
    }
    for o in &reconnects {
        assert_eq!(
            o.backend, "c",
            "a reconnect landed on a gone instance: {o:?}"
        );
        assert_eq!(o.close_code, Some(1000), "{o:?}");
    }
}
