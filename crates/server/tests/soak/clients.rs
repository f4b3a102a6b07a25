//! The clients of the soak: a well-behaved real-time stream and one client per fault kind, each
//! reporting how its session ended and, when it closed cleanly, whether any final went missing.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const RATE_HZ: usize = 16_000;
const CHUNK: usize = RATE_HZ / 10;
/// Connections a reconnect storm opens at once.
const STORM: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Real-time audio, then `CloseStream`; reads everything.
    Clean,
    /// Real-time audio, then the TCP connection reset (RST) without a close.
    Reset,
    /// Real-time audio, then the client's half of TCP shut (FIN) without a close; it reads on
    /// until the server lets it go.
    HalfClose,
    /// Real-time audio, never reading a message, then gone.
    StalledReader,
    /// Audio in 20 ms frames at half real time, then `CloseStream`.
    SlowWriter,
    /// Only `KeepAlive` for a while, then `CloseStream`.
    KeepAliveOnly,
    /// Many connections at once, each a short clean session.
    ReconnectStorm,
}

impl Kind {
    pub const FAULTS: [Kind; 6] = [
        Kind::Reset,
        Kind::HalfClose,
        Kind::StalledReader,
        Kind::SlowWriter,
        Kind::KeepAliveOnly,
        Kind::ReconnectStorm,
    ];
}

/// How one session ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: Kind,
    /// The close code the server sent; `None` without a close frame.
    pub close: Option<u16>,
    /// The handshake was refused with this HTTP status.
    pub refused: Option<u16>,
    /// The client ended the connection itself (reset, stalled reader).
    pub ended_by_client: bool,
    /// The server ended a half-closed connection (close frame or EOF).
    pub server_ended: bool,
    /// After a 1000: finals missing (gaps in their coverage of the audio sent, finals of a
    /// second or more without words, a `Metadata.duration` other than the audio sent).
    pub lost_finals: usize,
    pub detail: String,
}

impl Outcome {
    fn new(kind: Kind) -> Self {
        Outcome {
            kind,
            close: None,
            refused: None,
            ended_by_client: false,
            server_ended: false,
            lost_finals: 0,
            detail: String::new(),
        }
    }

    /// Did the session end as PROTOCOL.md documents for what this client did?
    pub fn documented(&self) -> bool {
        match self.kind {
            _ if self.refused == Some(429) => true,
            Kind::Reset | Kind::StalledReader => self.ended_by_client,
            Kind::HalfClose => self.server_ended,
            _ => matches!(self.close, Some(1000 | 1011)),
        }
    }
}

/// `seconds` of a 220 Hz tone as linear16 chunks of 100 ms.
fn audio(seconds: f64) -> Vec<Vec<u8>> {
    let n = (seconds * RATE_HZ as f64).round() as usize;
    let pcm: Vec<u8> = (0..n)
        .flat_map(|i| {
            let s = (i as f64 * 220.0 * std::f64::consts::TAU / RATE_HZ as f64).sin() * 3000.0;
            (s as i16).to_le_bytes()
        })
        .collect();
    pcm.chunks(CHUNK * 2).map(<[u8]>::to_vec).collect()
}

async fn connect(url: &str, out: &mut Outcome) -> Option<Ws> {
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Some(ws),
        Err(WsError::Http(resp)) => {
            out.refused = Some(resp.status().as_u16());
            None
        }
        Err(e) => {
            out.detail = format!("connect: {e}");
            None
        }
    }
}

/// Read until the server closes: the messages and the close code.
async fn read_all(
    ws: &mut (impl StreamExt<Item = Result<Message, WsError>> + Unpin),
) -> (Vec<Value>, Option<u16>) {
    let mut messages = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let Ok(v) = serde_json::from_str(&t) {
                    messages.push(v);
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (messages, frame.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => return (messages, None),
        }
    }
}

/// Finals missing from a cleanly closed session that sent `sent_s` seconds.
fn lost_finals(messages: &[Value], sent_s: f64) -> (usize, String) {
    let mut finals: Vec<(f64, f64, usize)> = messages
        .iter()
        .filter(|m| m["type"] == "Results" && m["is_final"] == true)
        .map(|m| {
            let words = m["channel"]["alternatives"][0]["words"]
                .as_array()
                .map_or(0, Vec::len);
            (
                m["start"].as_f64().unwrap_or(-1.0),
                m["duration"].as_f64().unwrap_or(0.0),
                words,
            )
        })
        .collect();
    finals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut lost = 0;
    let mut why = Vec::new();
    let mut cursor = 0.0;
    for &(start, duration, words) in &finals {
        if (start - cursor).abs() > 0.005 {
            lost += 1;
            why.push(format!("gap {cursor:.3}–{start:.3}"));
        }
        if duration >= 1.0 && words == 0 {
            lost += 1;
            why.push(format!("no words in {start:.3}+{duration:.3}"));
        }
        cursor = start + duration;
    }
    if (cursor - sent_s).abs() > 0.005 {
        lost += 1;
        why.push(format!("finals end at {cursor:.3} of {sent_s:.3}"));
    }
    let metadata = messages.iter().find(|m| m["type"] == "Metadata");
    let duration = metadata.and_then(|m| m["duration"].as_f64());
    if duration.is_none_or(|d| (d - sent_s).abs() > 0.002) {
        lost += 1;
        why.push(format!("Metadata.duration {duration:?} for {sent_s:.3} s"));
    }
    (lost, why.join("; "))
}

/// Send `chunks` at `pace` × real time in frames of `frame` bytes.
async fn send_audio(
    sink: &mut (impl SinkExt<Message, Error = WsError> + Unpin),
    chunks: &[Vec<u8>],
    frame: usize,
    pace: f64,
) -> Result<(), WsError> {
    for chunk in chunks {
        for piece in chunk.chunks(frame) {
            sink.send(Message::binary(piece.to_vec())).await?;
            let secs = piece.len() as f64 / 2.0 / RATE_HZ as f64 / pace;
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        }
    }
    Ok(())
}

/// A session that ends with `CloseStream` and reads everything: `chunks` at `pace`.
async fn closing_session(kind: Kind, url: &str, seconds: f64, frame: usize, pace: f64) -> Outcome {
    let mut out = Outcome::new(kind);
    let Some(ws) = connect(url, &mut out).await else {
        return out;
    };
    let (mut sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move { read_all(&mut stream).await });
    let chunks = audio(seconds);
    let sent = send_audio(&mut sink, &chunks, frame, pace).await;
    if sent.is_ok() {
        let _ = sink.send(Message::text(r#"{"type":"CloseStream"}"#)).await;
    }
    let (messages, close) = reader.await.unwrap_or_default();
    out.close = close;
    if close == Some(1000) {
        let (lost, why) = lost_finals(
            &messages,
            chunks.iter().map(Vec::len).sum::<usize>() as f64 / 2.0 / RATE_HZ as f64,
        );
        out.lost_finals = lost;
        out.detail = why;
    }
    out
}

/// One session of `kind` (a storm is run by [`run_batch`]). `seed` varies lengths.
pub async fn run(kind: Kind, url: &str, seed: u64) -> Outcome {
    let seconds = 2.0 + (seed % 5) as f64 * 0.9; // 2.0 … 5.6 s
    match kind {
        Kind::Clean => closing_session(kind, url, seconds, CHUNK * 2, 1.0).await,
        Kind::SlowWriter => closing_session(kind, url, 2.0, 640, 0.5).await,
        Kind::ReconnectStorm => closing_session(kind, url, 0.2, CHUNK * 2, 1.0).await,
        Kind::KeepAliveOnly => {
            let mut out = Outcome::new(kind);
            let Some(mut ws) = connect(url, &mut out).await else {
                return out;
            };
            for _ in 0..6 {
                let _ = ws.send(Message::text(r#"{"type":"KeepAlive"}"#)).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let _ = ws.send(Message::text(r#"{"type":"CloseStream"}"#)).await;
            let (messages, close) = read_all(&mut ws).await;
            out.close = close;
            if close == Some(1000) {
                let (lost, why) = lost_finals(&messages, 0.0);
                out.lost_finals = lost;
                out.detail = why;
            }
            out
        }
        Kind::Reset | Kind::StalledReader | Kind::HalfClose => {
            let mut out = Outcome::new(kind);
            let Some(mut ws) = connect(url, &mut out).await else {
                return out;
            };
            let chunks = audio(seconds);
            for chunk in &chunks {
                if ws.send(Message::binary(chunk.clone())).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                // A stalled reader never reads: the server's answers pile up unread.
                while kind != Kind::StalledReader
                    && matches!(
                        tokio::time::timeout(Duration::ZERO, ws.next()).await,
                        Ok(Some(Ok(_)))
                    )
                {}
            }
            if kind == Kind::StalledReader {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
                unreachable!("plain ws:// only");
            };
            if kind == Kind::HalfClose {
                use tokio::io::AsyncWriteExt;
                let _ = tcp.shutdown().await;
                // The server must end it: a close frame, or EOF.
                // The server lets it go at once (it cannot write after the EOF: no flush).
                let shut = std::time::Instant::now();
                let (_, close) = read_all(&mut ws).await;
                out.close = close;
                out.server_ended = shut.elapsed() < Duration::from_secs(5);
            } else {
                let _ = tcp.set_zero_linger();
                drop(ws);
                out.ended_by_client = true;
            }
            out
        }
    }
}

/// A reconnect storm runs [`STORM`] sessions at once; every other kind runs one.
pub async fn run_batch(kind: Kind, url: &str, seed: u64) -> Vec<Outcome> {
    if kind != Kind::ReconnectStorm {
        let out = run(kind, url, seed).await;
        if out.refused.is_some() {
            // As a client should: back off before trying again.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        return vec![out];
    }
    let storm = (0..STORM).map(|i| run(kind, url, seed + i as u64));
    let out = futures_util::future::join_all(storm).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    out
}

/// What the soak saw, per kind.
pub struct Report {
    outcomes: Vec<Outcome>,
}

impl Report {
    pub fn new(outcomes: &[Outcome]) -> Self {
        Report {
            outcomes: outcomes.to_vec(),
        }
    }

    pub fn sessions(&self, kind: Kind) -> usize {
        self.outcomes.iter().filter(|o| o.kind == kind).count()
    }

    pub fn lost_finals(&self) -> usize {
        self.outcomes.iter().map(|o| o.lost_finals).sum()
    }

    pub fn undocumented(&self) -> Vec<&Outcome> {
        self.outcomes.iter().filter(|o| !o.documented()).collect()
    }

    /// Close codes (None: no close frame) per kind.
    pub fn closes_by_kind(&self) -> BTreeMap<Kind, BTreeMap<Option<u16>, usize>> {
        let mut m: BTreeMap<Kind, BTreeMap<Option<u16>, usize>> = BTreeMap::new();
        for o in &self.outcomes {
            *m.entry(o.kind).or_default().entry(o.close).or_default() += 1;
        }
        m
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "| client | sessions | 1000 | 1011 | no close frame | refused 429 | documented | finals lost |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|")?;
        for (kind, closes) in self.closes_by_kind() {
            let of = |code| closes.get(&code).copied().unwrap_or(0);
            let these = self.outcomes.iter().filter(|o| o.kind == kind);
            let refused = these.clone().filter(|o| o.refused == Some(429)).count();
            let documented = these.clone().filter(|o| o.documented()).count();
            let lost: usize = these.clone().map(|o| o.lost_finals).sum();
            writeln!(
                f,
                "| {kind:?} | {} | {} | {} | {} | {refused} | {documented} | {lost} |",
                self.sessions(kind),
                of(Some(1000)),
                of(Some(1011)),
                of(None) - refused.min(of(None)),
            )?;
        }
        for o in self.outcomes.iter().filter(|o| o.lost_finals > 0) {
            writeln!(f, "lost in a {:?} session: {}", o.kind, o.detail)?;
        }
        Ok(())
    }
}
