//! `hark stream` end to end: the real binary against a real `hark mock` and `hark serve`.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;
use support::{hark, spawn_listening};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../asr-whisper/fixtures/tiny-random"
);
const SHARED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/starter-kit"
);

fn shared(name: &str) -> PathBuf {
    Path::new(SHARED).join(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hark-stream-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs `hark stream ARGS` to completion (killed after 90 s, so a test cannot hang).
fn stream(args: &[&str]) -> Output {
    let child = hark()
        .arg("stream")
        .args(args)
        .env_remove("DEEPGRAM_API_KEY")
        .env_remove("DEEPGRAM_HOST")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn hark stream");
    let pid = child.id().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(90));
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status();
    });
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `hark stream -f json` output: one server message per line.
fn json_lines(b: &[u8]) -> Vec<serde_json::Value> {
    text(b)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON message per line"))
        .collect()
}

/// The one file in `dir` whose name ends with `suffix`.
fn only_file(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{suffix} files in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().expect("one")
}

fn mock(dir: &Path) -> (std::process::Child, String) {
    let dir = dir.to_string_lossy().into_owned();
    spawn_listening(hark().args(["mock", "--listen", "127.0.0.1:0", "--dir", &dir]))
}

fn serve(extra: &[&str]) -> (std::process::Child, String) {
    let mut cmd = hark();
    cmd.args(["serve", "--model", MODEL, "--listen", "127.0.0.1:0"]);
    // Random weights always trip the fallback checks; one pass per window keeps tests quick.
    cmd.args(["--temperature-fallback", "false"]).args(extra);
    spawn_listening(&mut cmd)
}

#[test]
fn raw_pcm_reaches_the_mock_byte_for_byte_with_every_parameter() {
    let dir = temp_dir("mock");
    let (mut server, addr) = mock(&dir);
    let input = shared("preamble.raw");
    let host = format!("ws://{addr}/prefix");
    let out = stream(&[
        "-i",
        input.to_str().expect("utf8"),
        "-e",
        "linear16",
        "-s",
        "8000",
        "-c",
        "1",
        "--host",
        &host,
        "--fast",
        "-m",
        "nova-3",
        "--tag",
        "a",
        "--tag",
        "b",
        "--keyterm",
        "hark server",
        "--extra",
        "team:qa",
        "--param",
        "custom=1&2",
        "--interim-results",
        "--endpointing",
        "false",
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let saved = std::fs::read(only_file(&dir, ".raw")).expect("saved audio");
    assert_eq!(
        saved,
        std::fs::read(&input).expect("input"),
        "the mock saved other bytes"
    );
    assert!(
        text(&out.stderr).contains(".wav"),
        "the mock's saved-file message: {}",
        text(&out.stderr)
    );
    let request: serde_json::Value =
        serde_json::from_slice(&std::fs::read(only_file(&dir, ".request.json")).expect("request"))
            .expect("json");
    assert_eq!(request["path"], "/prefix/v1/listen");
    let params: Vec<(String, String)> = request["params"]
        .as_array()
        .expect("params")
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap_or("").to_owned(),
                p[1].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("model", "nova-3"),
        ("interim_results", "true"),
        ("endpointing", "false"),
        ("keyterm", "hark server"),
        ("tag", "a"),
        ("tag", "b"),
        ("extra", "team:qa"),
        ("custom", "1&2"),
        ("encoding", "linear16"),
        ("sample_rate", "8000"),
        ("channels", "1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(params, want);
}

/// A one-shot HTTP server that sends `audio` as an ICY stream (metadata every `metaint` bytes).
fn icy_server(audio: Vec<u8>, metaint: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let mut request = [0u8; 4096];
        let n = conn.read(&mut request).unwrap_or(0);
        let asked = String::from_utf8_lossy(&request[..n])
            .to_ascii_lowercase()
            .contains("icy-metadata: 1");
        let mut body = Vec::new();
        for (i, block) in audio.chunks(metaint).enumerate() {
            body.extend_from_slice(block);
            if asked && block.len() == metaint {
                let meta = format!("StreamTitle='Track {i}';");
                let blocks = meta.len().div_ceil(16);
                body.push(blocks as u8);
                let mut padded = meta.into_bytes();
                padded.resize(blocks * 16, 0);
                body.extend_from_slice(&padded);
            }
        }
        let head = if asked {
            format!("HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\nicy-metaint: {metaint}\r\n\r\n")
        } else {
            "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n".to_owned()
        };
        let _ = conn.write_all(head.as_bytes());
        for c in body.chunks(1500) {
            if conn.write_all(c).is_err() {
                return;
            }
        }
    });
    format!("http://{addr}/radio")
}

/// `frames` silent MPEG-1 Layer III frames (128 kb/s, 44.1 kHz, mono): a valid MP3 stream of
/// 26 ms per frame, as an internet radio sends it.
fn silent_mp3(frames: usize) -> Vec<u8> {
    let mut frame = vec![0xFF, 0xFB, 0x90, 0xC4];
    frame.resize(417, 0); // 144 × 128000 / 44100 bytes, no padding; zero side info = silence
    frame.repeat(frames)
}

#[test]
fn a_radio_url_arrives_without_its_icy_metadata() {
    let dir = temp_dir("icy");
    let (mut server, addr) = mock(&dir);
    // An MP3 stream over ICY, as-is; and raw PCM over ICY with -e/-s, to check at other offsets.
    let mp3 = silent_mp3(120);
    let pcm = std::fs::read(shared("preamble.raw")).expect("raw")[..64_000].to_vec();
    let host = format!("ws://{addr}");
    let mp3_out = stream(&["-i", &icy_server(mp3.clone(), 8192), "--host", &host]);
    let pcm_out = stream(&[
        "-i",
        &icy_server(pcm.clone(), 1000),
        "-e",
        "linear16",
        "-s",
        "8000",
        "--host",
        &host,
        "--fast",
    ]);
    let _ = server.kill();
    let _ = server.wait();
    for out in [&mp3_out, &pcm_out] {
        assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    }
    let mut saved: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "raw"))
        .map(|p| std::fs::read(p).expect("saved"))
        .collect();
    saved.sort_by_key(Vec::len);
    assert_eq!(saved.len(), 2);
    assert!(
        saved[0] == mp3 && saved[1] == pcm,
        "ICY metadata leaked into the audio"
    );
}

/// Parses SRT back: (index, start s, end s, text) per cue.
fn parse_srt(s: &str) -> Vec<(usize, f64, f64, String)> {
    let time = |t: &str| -> f64 {
        let (hms, ms) = t.trim().split_once(',').expect("comma before ms");
        let p: Vec<f64> = hms.split(':').map(|x| x.parse().expect("number")).collect();
        p[0] * 3600.0 + p[1] * 60.0 + p[2] + ms.parse::<f64>().expect("ms") / 1000.0
    };
    s.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let index = lines.next().expect("index").parse().expect("numeric index");
            let (a, b) = lines
                .next()
                .expect("times")
                .split_once(" --> ")
                .expect("arrow");
            let text: Vec<&str> = lines.collect();
            assert!(!text.is_empty(), "cue {index} has no text");
            (index, time(a), time(b), text.join("\n"))
        })
        .collect()
}

#[test]
fn subtitles_and_json_from_a_real_server_parse_back() {
    let (mut server, addr) = serve(&[]);
    let host = format!("ws://{addr}");
    let dir = temp_dir("subs");
    let wav = shared("preamble.wav");
    let wav = wav.to_str().expect("utf8");
    let srt_path = dir.join("out.srt");
    let vtt_path = dir.join("out.vtt");
    let run =
        |format: &[&str]| stream(&[&["-i", wav, "--host", &host, "--fast"][..], format].concat());
    let srt = run(&["-f", "srt", "-o", srt_path.to_str().expect("utf8")]);
    let vtt = run(&["-f", "vtt", "-o", vtt_path.to_str().expect("utf8")]);
    // At real time, so interims are certain: sent as fast as the server takes it, the whole file
    // can arrive, and its final withdraw the first interim, while that interim still runs (seen
    // on a loaded CI machine). Without endpoints the preamble is one growing segment.
    let json = stream(&[
        "-i",
        wav,
        "--host",
        &host,
        "-f",
        "json",
        "--interim-results",
        "--endpointing",
        "false",
    ]);
    let plain = run(&["--timestamps"]);
    let _ = server.kill();
    let _ = server.wait();
    for o in [&srt, &vtt, &json, &plain] {
        assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    }

    let cues = parse_srt(&std::fs::read_to_string(&srt_path).expect("srt"));
    assert!(!cues.is_empty(), "no cues");
    for (i, (index, start, end, _)) in cues.iter().enumerate() {
        assert_eq!(*index, i + 1, "SRT cues are numbered from 1");
        assert!(start <= end && *end <= 19.2, "cue {index}: {start}..{end}");
    }
    assert!(
        cues.windows(2).all(|w| w[0].1 <= w[1].1),
        "cues in time order"
    );

    let vtt_text = std::fs::read_to_string(&vtt_path).expect("vtt");
    let body = vtt_text
        .strip_prefix("WEBVTT\n\n")
        .expect("WebVTT starts with its header");
    // The same cues, with `.` before the milliseconds and no numbers.
    let as_srt: String = body
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .enumerate()
        .map(|(i, b)| format!("{}\n{}\n\n", i + 1, b.replace('.', ",")))
        .collect();
    let vtt_cues = parse_srt(&as_srt);
    assert_eq!(vtt_cues.len(), cues.len());

    let messages: Vec<serde_json::Value> = json_lines(&json.stdout);
    assert!(
        messages
            .iter()
            .any(|m| m["type"] == "Results" && m["is_final"] == false),
        "interims"
    );
    let last = messages.last().expect("messages");
    assert_eq!(last["type"], "Metadata");
    assert!(
        (last["duration"].as_f64().unwrap_or(0.0) - 19.098).abs() < 0.01,
        "{last}"
    );

    let lines: Vec<String> = text(&plain.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), cues.len(), "one text line per non-empty final");
    for l in &lines {
        let stamp = l.rsplit_once(" [").expect("timestamps").1;
        let (a, b) = stamp
            .trim_end_matches(']')
            .split_once(" - ")
            .expect("a - b");
        assert!(a.parse::<f64>().expect("start") <= b.parse::<f64>().expect("end"));
    }
}

#[test]
fn multichannel_subtitles_go_to_one_file_per_channel() {
    let (mut server, addr) = serve(&[]);
    let dir = temp_dir("multi");
    // Stereo: the preamble on the left, silence on the right.
    let mono = std::fs::read(shared("preamble.raw")).expect("raw")[..96_000].to_vec();
    let stereo: Vec<u8> = mono.chunks(2).flat_map(|s| [s[0], s[1], 0, 0]).collect();
    let input = dir.join("stereo.raw");
    std::fs::write(&input, stereo).expect("write");
    let out_path = dir.join("subs.vtt");
    let out = stream(&[
        "-i",
        input.to_str().expect("utf8"),
        "-e",
        "linear16",
        "-s",
        "8000",
        "-c",
        "2",
        "--multichannel",
        "--host",
        &format!("ws://{addr}"),
        "--fast",
        "-f",
        "vtt",
        "-o",
        out_path.to_str().expect("utf8"),
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let left = std::fs::read_to_string(dir.join("subs.ch0.vtt")).expect("channel 0 file");
    assert!(
        left.starts_with("WEBVTT\n\n") && left.contains(" --> "),
        "{left}"
    );
    assert!(
        !out_path.exists(),
        "no combined file for per-channel output"
    );
}

#[test]
fn a_refused_handshake_prints_dg_error_and_exits_3() {
    let (mut server, addr) = serve(&["--api-key", "right-key"]);
    let wav = shared("preamble.wav");
    let out = stream(&[
        "-i",
        wav.to_str().expect("utf8"),
        "--host",
        &format!("ws://{addr}"),
        "-k",
        "wrong-key",
        "--fast",
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("HTTP 401")
            && err.contains("Invalid credentials")
            && err.contains("request id"),
        "{err}"
    );
}

#[test]
fn an_abnormal_close_is_reported_and_exits_1() {
    let (mut server, addr) = serve(&[]);
    let dir = temp_dir("bad");
    let mut ogg = b"OggS".to_vec();
    ogg.resize(16_000, 7);
    let input = dir.join("not-decodable.ogg");
    std::fs::write(&input, ogg).expect("write");
    let out = stream(&[
        "-i",
        input.to_str().expect("utf8"),
        "--host",
        &format!("ws://{addr}"),
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("1008") && err.contains("DATA-0000"), "{err}");
    assert!(
        err.contains("cannot time this audio locally"),
        "unpaced warning: {err}"
    );
}

#[test]
fn bad_flags_exit_2_before_connecting() {
    let out = stream(&[
        "-i",
        "x.raw",
        "-e",
        "linear16",
        "--host",
        "ws://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--sample-rate"),
        "{}",
        text(&out.stderr)
    );
    let out = stream(&["-i", "/nonexistent.wav", "--host", "ws://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent.wav"));
    let out = stream(&["-i", "x.wav", "-f", "docx"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn decode_sends_16k_linear16_and_says_so() {
    let wav = shared("preamble.wav");
    // Also an M4A with its index last (ffmpeg's default), which only decodes once the file ends.
    let dir = temp_dir("decode-inputs");
    let m4a = dir.join("index-last.m4a");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&wav)
        .args(["-c:a", "aac", "-b:a", "64k"])
        .arg(&m4a)
        .status()
        .expect("ffmpeg must be installed (./scripts/test.sh installs it from apt)");
    assert!(status.success());
    // (input, seconds it holds, tolerance: AAC adds priming)
    for (input, seconds, tol) in [(&wav, 19.098, 0.01), (&m4a, 19.098, 0.1)] {
        let dir = temp_dir("decode");
        let (mut server, addr) = mock(&dir);
        let out = stream(&[
            "-i",
            input.to_str().expect("utf8"),
            "--decode",
            "--fast",
            "--host",
            &format!("ws://{addr}"),
        ]);
        let _ = server.kill();
        let _ = server.wait();
        assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
        let request = std::fs::read_to_string(only_file(&dir, ".request.json")).expect("request");
        assert!(
            request.contains("encoding=linear16&sample_rate=16000&channels=1"),
            "{request}"
        );
        // 16 kHz, 2 bytes a sample: the whole file, resampled, nothing lost or added.
        let saved = std::fs::metadata(only_file(&dir, ".raw"))
            .expect("saved")
            .len() as f64;
        let got = saved / 32_000.0;
        assert!((got - seconds).abs() < tol, "{}: {got} s", input.display());
    }
}

/// `hark stream` of 8 kHz linear16 piped into its stdin (sent as it comes), to the server at
/// `addr`, printing JSON lines, with `extra` flags; every stdio piped.
fn stream_stdin(addr: &str, extra: &[&str]) -> std::process::Child {
    use std::process::Stdio;
    hark()
        .args([
            "stream", "-i", "-", "-e", "linear16", "-s", "8000", "--fast",
        ])
        .args(["--host", &format!("ws://{addr}"), "-f", "json"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hark stream")
}

#[test]
fn stdin_gaps_get_keepalive_and_finalize_and_subprotocol_auth_works() {
    // The server closes idle streams after 1 s: only KeepAlive keeps this one open through a 2.5 s gap.
    let (mut server, addr) = serve(&["--api-key", "k1", "--idle-timeout-ms", "1000"]);
    let raw = std::fs::read(shared("preamble.raw")).expect("raw");
    let mut child = stream_stdin(
        &addr,
        &[
            "-k",
            "k1",
            "--auth",
            "subprotocol",
            "--keepalive",
            "0.4",
            "--finalize-after",
            "0.5",
        ],
    );
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&raw[..32_000]).expect("first second");
    stdin.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    stdin
        .write_all(&raw[32_000..48_000])
        .expect("half a second more");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let messages: Vec<serde_json::Value> = json_lines(&out.stdout);
    let finalized: Vec<f64> = messages
        .iter()
        .filter(|m| m["from_finalize"] == true)
        .map(|m| m["start"].as_f64().unwrap_or(-1.0) + m["duration"].as_f64().unwrap_or(-1.0))
        .collect();
    // The gap's Finalize flushed the first second before the rest arrived.
    assert!(
        finalized.iter().any(|end| (end - 2.0).abs() < 1e-3),
        "{messages:?}"
    );
    let meta = messages.last().expect("messages");
    assert_eq!(meta["type"], "Metadata");
    assert_eq!(meta["duration"], 3.0);
}

#[test]
fn the_microphone_is_opened_or_its_absence_explained() {
    let out = stream(&["-i", "mic", "--host", "ws://127.0.0.1:9"]);
    let err = text(&out.stderr);
    if cfg!(feature = "mic") {
        // No capture device (CI): a clear error before connecting. With one: the mic opened and
        // the (deliberately unreachable) server is what failed.
        let no_device = out.status.code() == Some(2) && err.contains("microphone:");
        let opened = out.status.code() == Some(1) && err.contains("cannot connect");
        assert!(no_device || opened, "exit {:?}: {err}", out.status.code());
    } else {
        assert_eq!(out.status.code(), Some(2));
        assert!(err.contains("--features mic"), "{err}");
    }
}

const MOONSHINE_STREAMING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../asr-moonshine/fixtures/streaming-random"
);

/// A counter's value in a Prometheus text page (its first series).
fn counter(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The streaming-native engine behind the whole live path: `hark serve` with a Moonshine
/// Streaming checkpoint (random weights of the architecture, transformers' layout), the preamble
/// piped in at real time with interims and endpoints, and a `Finalize` in a pause of the input.
/// The engine takes the audio sent ahead of each decode (counted in `/metrics`), and what the
/// client gets is whole: no error, finals in order without overlaps, every word inside its final,
/// every second of audio in the closing `Metadata`. (Words need real weights, which the package
/// registries do not have.)
#[test]
fn moonshine_streaming_serves_a_live_stream_and_takes_its_audio_ahead() {
    let (mut server, addr) = spawn_listening(hark().args([
        "serve",
        "--model",
        MOONSHINE_STREAMING,
        "--listen",
        "127.0.0.1:0",
    ]));
    let raw = std::fs::read(shared("preamble.raw")).expect("raw");
    let mut child = stream_stdin(&addr, &["--interim-results", "--finalize-after", "0.5"]);
    let mut stdin = child.stdin.take().expect("stdin");
    // 100 ms at a time at real time; after 8 s, 1.5 s of nothing (the client sends `Finalize`).
    // Written beside the reading of its output (a full stdout pipe would stop the client).
    let audio = raw.clone();
    let feeder = std::thread::spawn(move || {
        for (k, chunk) in audio.chunks(1600).enumerate() {
            if k == 80 {
                std::thread::sleep(std::time::Duration::from_millis(1500));
            }
            stdin.write_all(chunk).expect("audio");
            stdin.flush().expect("flush");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    let out = child.wait_with_output().expect("wait");
    feeder.join().expect("feeder");
    let page = support::get(&addr, "/metrics");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));

    let messages: Vec<serde_json::Value> = json_lines(&out.stdout);
    assert!(
        messages.iter().all(|m| m["type"] != "Error"),
        "{messages:?}"
    );
    let results = |fin: bool| {
        messages
            .iter()
            .filter(move |m| m["type"] == "Results" && m["is_final"] == fin)
    };
    assert!(results(false).count() > 0, "no interims");
    let finals: Vec<&serde_json::Value> = results(true).collect();
    assert!(finals.len() >= 2, "{finals:?}");
    let mut end_before = 0.0;
    for f in &finals {
        let (start, duration) = (
            f["start"].as_f64().expect("start"),
            f["duration"].as_f64().expect("duration"),
        );
        assert!(start >= end_before - 1e-3, "finals overlap: {finals:?}");
        end_before = start + duration;
        let mut word_start = start;
        for w in f["channel"]["alternatives"][0]["words"]
            .as_array()
            .expect("words")
        {
            let (a, b) = (
                w["start"].as_f64().expect("word start"),
                w["end"].as_f64().expect("word end"),
            );
            assert!(
                a >= word_start - 1e-3 && a <= b && b <= start + duration + 1e-3,
                "word {w} in the final {start}+{duration}"
            );
            word_start = a;
        }
    }
    // The pause's Finalize flushed the first 8 s before the rest arrived.
    assert!(
        finals.iter().any(|f| f["from_finalize"] == true
            && (f["start"].as_f64().unwrap_or(0.0) + f["duration"].as_f64().unwrap_or(0.0) - 8.0)
                .abs()
                < 1e-3),
        "the Finalize in the pause answered by no final ending at 8 s: {finals:?}"
    );
    assert!(
        finals
            .iter()
            .any(|f| f["channel"]["alternatives"][0]["transcript"] != ""),
        "every final empty: {finals:?}"
    );
    let meta = messages.last().expect("messages");
    assert_eq!(meta["type"], "Metadata");
    let seconds = raw.len() as f64 / 16_000.0;
    assert!(
        (meta["duration"].as_f64().unwrap_or(0.0) - seconds).abs() < 1e-3,
        "{meta}, sent {seconds} s"
    );

    let windows = counter(&page, "hark_model_windows_total").expect("windows counted");
    let ahead = counter(&page, "hark_model_windows_ahead_total").expect("ahead counted");
    assert!(
        ahead >= 1.0 && windows > ahead,
        "windows {windows}, of them sent ahead {ahead}"
    );
}
