//! Test harness: a real server on 127.0.0.1:0 with a test engine, and a real WebSocket client.

use anyhow::{anyhow, Context};
use futures_util::{SinkExt, StreamExt};
use hark_asr::{
    AsrError, AudioWindow, Engine, ModelDescriptor, ModelRegistry, Scheduler, SchedulerConfig,
    Transcript, WordTiming,
};
use hark_server::{Server, ServerConfig};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub const RATE_HZ: u32 = 16_000;

/// A test double: reports how many samples each window held and their mean absolute level, so
/// tests can check exactly what audio reached the engine. Never shipped.
pub struct CountingEngine {
    descriptor: ModelDescriptor,
    window_samples: usize,
    delay: Duration,
    steady: bool,
    says: Vec<&'static str>,
    counts: Arc<EngineCounts>,
}

/// What one test server's engine has run. `/metrics` cannot tell: its recorder is process-wide,
/// shared by every test server running concurrently in this binary.
#[derive(Default)]
pub struct EngineCounts {
    pub calls: AtomicU64,
    pub windows: AtomicU64,
    /// Calls stopped early because all their windows were withdrawn.
    pub cut_short: AtomicU64,
}

/// A steady talker's words for a window of `n` samples: `w0`, `w1`, … every 0.5 s, 0.4 s long.
fn steady_words(n: usize) -> Vec<WordTiming> {
    (0..n / (RATE_HZ as usize / 2))
        .map(|k| WordTiming {
            text: format!("w{}", spell(k as u64)),
            start_s: k as f32 * 0.5,
            end_s: k as f32 * 0.5 + 0.4,
            confidence: 0.9,
        })
        .collect()
}

/// `text`'s words spread evenly over a window of `n` samples.
fn said(text: &str, n: usize) -> Transcript {
    let words: Vec<&str> = text.split_whitespace().collect();
    let step = n as f32 / RATE_HZ as f32 / words.len().max(1) as f32;
    Transcript {
        words: words
            .iter()
            .enumerate()
            .map(|(i, w)| WordTiming {
                text: (*w).to_owned(),
                start_s: i as f32 * step,
                end_s: (i as f32 + 0.9) * step,
                confidence: 0.9,
            })
            .collect(),
        language: None,
    }
}

impl Engine for CountingEngine {
    fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }
    fn sample_rate_hz(&self) -> u32 {
        RATE_HZ
    }
    fn max_window_samples(&self) -> usize {
        self.window_samples
    }
    fn transcribe_batch(&mut self, windows: &[AudioWindow]) -> Result<Vec<Transcript>, AsrError> {
        self.counts.calls.fetch_add(1, Ordering::SeqCst);
        self.counts
            .windows
            .fetch_add(windows.len() as u64, Ordering::SeqCst);
        if !self.says.is_empty() {
            return Ok(windows
                .iter()
                .map(|w| {
                    let n = w.samples.len();
                    let level = w.samples.iter().map(|s| s.abs()).sum::<f32>() / n.max(1) as f32;
                    let line = ((level * 10.0).round() as usize).saturating_sub(1);
                    said(self.says[line.min(self.says.len() - 1)], n)
                })
                .collect());
        }
        // Like the Whisper engine, stop early once every window of the call was withdrawn.
        let until = std::time::Instant::now() + self.delay;
        while std::time::Instant::now() < until {
            if windows.iter().all(AudioWindow::is_withdrawn) {
                self.counts.cut_short.fetch_add(1, Ordering::SeqCst);
                return Ok(vec![Transcript::default(); windows.len()]);
            }
            std::thread::sleep(Duration::from_millis(5).min(self.delay));
        }
        Ok(windows
            .iter()
            .map(|w| {
                let n = w.samples.len();
                let level = w.samples.iter().map(|s| s.abs()).sum::<f32>() / n.max(1) as f32;
                let len_s = n as f32 / RATE_HZ as f32;
                if self.steady {
                    return Transcript {
                        words: steady_words(n),
                        ..Transcript::default()
                    };
                }
                Transcript {
                    words: vec![
                        WordTiming {
                            text: format!("Samples{},", spell(n as u64)),
                            start_s: 0.0,
                            end_s: len_s / 2.0,
                            confidence: 0.9,
                        },
                        WordTiming {
                            text: format!("Level{}.", spell((level * 1000.0).round() as u64)),
                            start_s: len_s / 2.0,
                            end_s: len_s,
                            confidence: 0.7,
                        },
                    ],
                    language: None,
                }
            })
            .collect())
    }
}

pub struct Options {
    pub config: ServerConfig,
    pub window_samples: usize,
    pub delay: Duration,
    pub max_streams: usize,
    /// The engine answers as a steady talker (see `steady_words`) instead of counting.
    pub steady: bool,
    /// The engine answers a window of audio at mean level 0.1 with `says[0]`, at 0.2 with
    /// `says[1]` and so on (written words, spread over the window).
    pub says: Vec<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            // Most tests check exactly what audio reaches the model, so the VAD (which skips
            // windows without speech) is off unless a test turns it on (live.rs does).
            config: ServerConfig {
                vad: false,
                ..ServerConfig::default()
            },
            window_samples: RATE_HZ as usize,
            delay: Duration::ZERO,
            max_streams: 16,
            steady: false,
            says: Vec::new(),
        }
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
    counts: Arc<EngineCounts>,
}

impl TestServer {
    pub fn url(&self, query: &str) -> String {
        format!("ws://{}/v1/listen?{query}", self.addr)
    }

    /// Model calls this server's engine has started.
    pub fn model_calls(&self) -> u64 {
        self.counts.calls.load(Ordering::SeqCst)
    }

    /// Windows this server's engine has been given, over all calls.
    pub fn model_windows(&self) -> u64 {
        self.counts.windows.load(Ordering::SeqCst)
    }

    /// Wait (up to 10 s) until the engine has started `n` model calls.
    pub async fn model_calls_started(&self, n: u64) {
        for _ in 0..1_000 {
            if self.model_calls() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the engine started {} calls, not {n}", self.model_calls());
    }

    /// Model calls this server's engine stopped early (all their windows withdrawn).
    pub fn model_calls_cut_short(&self) -> u64 {
        self.counts.cut_short.load(Ordering::SeqCst)
    }

    /// Start draining, as SIGTERM would.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn start(opts: Options) -> TestServer {
    let counts = Arc::new(EngineCounts::default());
    let engine = CountingEngine {
        descriptor: ModelDescriptor {
            name: "test-engine".into(),
            version: "0.0.1".into(),
            arch: "counting".into(),
            uuid: "00000000-0000-4000-8000-000000000001".into(),
        },
        window_samples: opts.window_samples,
        delay: opts.delay,
        steady: opts.steady,
        says: opts.says,
        counts: counts.clone(),
    };
    let sched = Scheduler::spawn(
        Box::new(engine),
        SchedulerConfig {
            max_streams: opts.max_streams,
            max_batch: 8,
            queue_capacity: 64,
            max_bulk_batch: 2,
        },
    )
    .expect("spawn engine");
    let mut registry = ModelRegistry::new();
    registry.insert(sched);
    let server = Server::new(opts.config, registry);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(server.serve(listener, async move {
        let _ = rx.await;
    }));
    TestServer {
        addr,
        shutdown: Some(tx),
        done,
        counts,
    }
}

pub async fn connect(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(Ws, Response<Option<Vec<u8>>>), tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request()?;
    for (k, v) in headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName =
            k.parse().expect("header name");
        req.headers_mut()
            .append(name, HeaderValue::from_str(v).expect("header value"));
    }
    tokio_tungstenite::connect_async(req).await
}

pub async fn open(url: &str) -> Ws {
    connect(url, &[]).await.expect("handshake").0
}

/// An HTTP refusal: status, JSON body, headers.
pub struct Refusal {
    pub status: u16,
    pub body: Value,
    pub dg_error: Option<String>,
    pub dg_request_id: Option<String>,
}

pub async fn refused(url: &str, headers: &[(&str, &str)]) -> Refusal {
    match connect(url, headers).await {
        Ok(_) => panic!("{url} should have been refused"),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let h = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let body = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Refusal {
                status: resp.status().as_u16(),
                body,
                dg_error: h("dg-error"),
                dg_request_id: h("dg-request-id"),
            }
        }
        Err(e) => panic!("{url}: unexpected error {e}"),
    }
}

pub async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send text");
}

pub async fn send_bytes(ws: &mut Ws, b: &[u8]) {
    ws.send(Message::Binary(b.to_vec().into()))
        .await
        .expect("send binary");
}

/// What a session produced until the server closed it.
#[derive(Debug)]
pub struct SessionLog {
    pub messages: Vec<Value>,
    pub close: Option<(u16, String)>,
}

impl SessionLog {
    pub fn of_type(&self, t: &str) -> Vec<&Value> {
        self.messages.iter().filter(|m| m["type"] == t).collect()
    }
}

/// Read the next JSON text message (skipping pings/pongs), or `None` when the server closes.
pub async fn next_message(ws: &mut Ws) -> anyhow::Result<Result<Value, Option<(u16, String)>>> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .context("no message within 15 s")?;
        match frame {
            None => return Ok(Err(None)),
            Some(Err(e)) => return Err(anyhow!("socket error: {e}")),
            Some(Ok(Message::Text(t))) => return Ok(Ok(serde_json::from_str(t.as_str())?)),
            Some(Ok(Message::Close(c))) => {
                return Ok(Err(c.map(|c| (u16::from(c.code), c.reason.to_string()))))
            }
            Some(Ok(Message::Binary(_))) => return Err(anyhow!("server sent a binary frame")),
            Some(Ok(_)) => continue,
        }
    }
}

/// Read every message until the close frame.
pub async fn until_close(ws: &mut Ws) -> SessionLog {
    let mut messages = Vec::new();
    loop {
        match next_message(ws).await.expect("read") {
            Ok(v) => messages.push(v),
            Err(close) => {
                // Finish the closing handshake as a real client does (sends our close reply).
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while ws.next().await.is_some() {}
                })
                .await;
                return SessionLog { messages, close };
            }
        }
    }
}

pub fn shared_data(name: &str) -> Option<Vec<u8>> {
    std::fs::read(format!(
        "{}/../../../shared/data/starter-kit/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .ok()
}

pub fn pcm16(samples: impl IntoIterator<Item = i16>) -> Vec<u8> {
    samples.into_iter().flat_map(i16::to_le_bytes).collect()
}

/// The sample count the counting engine reported for a Results message.
pub fn samples_in(results: &Value) -> u64 {
    let w = results["channel"]["alternatives"][0]["words"][0]["word"]
        .as_str()
        .unwrap_or("samples");
    unspell(w.trim_start_matches("samples")).unwrap_or(0)
}

/// A number in letters (`4000` → `eaaa`), as the counting engine writes it: the text stage
/// spells out digits (no digit reaches `word` without `smart_format`), letters pass.
pub fn spell(n: u64) -> String {
    n.to_string()
        .bytes()
        .map(|d| char::from(d - b'0' + b'a'))
        .collect()
}

/// The number [`spell`] wrote.
pub fn unspell(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| (b'a'..=b'j').contains(&c)) {
        return None;
    }
    s.bytes()
        .map(|c| char::from(c - b'a' + b'0'))
        .collect::<String>()
        .parse()
        .ok()
}

/// A plain HTTP/1.1 GET; returns the whole response as text.
pub async fn http_get(addr: SocketAddr, path_and_query: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await.expect("tcp");
    let req = format!("GET {path_and_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.expect("read");
    out
}

/// An HTTP/1.1 response: status, headers (lower-case names), body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 POST of `body` with `headers`.
pub async fn http_post(
    addr: SocketAddr,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await.expect("tcp");
    let mut req = format!(
        "POST {path_and_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.expect("write");
    tcp.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    // A chunked body (no Content-Length): join its chunks.
    let body = if head.to_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n.min(tail.len())]);
            rest = tail.get(n + 2..).unwrap_or("");
        }
        out
    } else {
        body.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// A 16-bit mono WAV file of `samples` at `rate_hz`.
pub fn wav16(samples: &[i16], rate_hz: u32) -> Vec<u8> {
    let data = pcm16(samples.iter().copied());
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate_hz.to_le_bytes());
    out.extend_from_slice(&(rate_hz * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// A `multipart/form-data` body: text fields, then `file` with `file_bytes`; and its content type.
pub fn multipart(fields: &[(&str, &str)], file_bytes: &[u8]) -> (Vec<u8>, String) {
    let boundary = "hark-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file_bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}
