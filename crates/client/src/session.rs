//! One streaming session: connect, send (paced, with KeepAlive/Finalize), receive and render,
//! `CloseStream`, then wait for the server's `Metadata` and close.

use crate::endpoint::{listen_url_at, AuthMode};
use crate::output::{Format, RenderOptions, Renderer};
use crate::pacing::{Pacer, RawFormat, Transcoder, DECODE_RATE_HZ};
use crate::source::{Chunk, Input, Source};
use crate::ClientError;
use futures_util::{SinkExt, StreamExt};
use hark_proto::{Encoding, FluxMessage, ServerMessage, TurnInfo};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

/// Everything `hark stream` decides before connecting.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub input: Input,
    /// `--host` (see [`listen_url`]).
    pub host: String,
    pub key: Option<String>,
    pub auth: AuthMode,
    /// Query parameters, in order (repeats allowed). `encoding`, `sample_rate` and `channels` are
    /// added from `raw` or by `--decode`.
    pub params: Vec<(String, String)>,
    /// `-e/-s/-c`: the input is headerless audio in this format.
    pub raw: Option<RawFormat>,
    /// Decode locally and send 16 kHz linear16.
    pub decode: bool,
    /// Keep channels apart (`multichannel=true`): `--decode` keeps them, output is per channel.
    pub multichannel: bool,
    /// Pace at 1× the audio clock (`false` = `--fast`).
    pub realtime: bool,
    /// Send `KeepAlive` after this long without sending anything.
    pub keepalive_every: Duration,
    /// Send `Finalize` once the input has been quiet this long.
    pub finalize_after: Option<Duration>,
    pub render: RenderOptions,
    /// `-o FILE` (per channel `NAME.chN.EXT` for multichannel subtitles).
    pub output: Option<PathBuf>,
    /// Progress bar and status lines on stderr.
    pub progress: bool,
    /// How long to wait for the server's close after `CloseStream`.
    pub close_timeout: Duration,
    /// Speak Flux (`/v2/listen`): turns instead of Results.
    pub flux: bool,
}

/// How the session ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub close_code: Option<u16>,
    pub close_reason: String,
    pub metadata: bool,
    pub request_id: Option<String>,
    /// `Error` messages from the server, and transport errors.
    pub errors: Vec<String>,
    /// The input failed part-way (what was read was still sent and finalized).
    pub input_error: Option<String>,
    pub interrupted: bool,
}

/// Runs one session to its end.
pub async fn run(opts: StreamOptions) -> Result<Outcome, ClientError> {
    let mut source = Source::open(&opts.input).await?;
    let raw = source.format.or(opts.raw);
    #[cfg(feature = "mic")]
    let mic = source.format.is_some();
    let mut query = opts.params.clone();
    let mut transcoder = None;
    let mut first = Vec::new();
    let wire_format = if opts.decode {
        // Read until the input's layout is known: the query must name the channel count.
        let mut t = Transcoder::new(raw, opts.multichannel)?;
        while t.channels().is_none() {
            match source.next().await {
                Some(Ok(Chunk::Audio(b))) => first.extend(t.push(&b)?),
                Some(Ok(Chunk::Title(_))) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        let channels = u16::try_from(t.channels().unwrap_or(1)).unwrap_or(1);
        transcoder = Some(t);
        Some(RawFormat {
            encoding: Encoding::Linear16,
            sample_rate_hz: DECODE_RATE_HZ,
            channels,
        })
    } else {
        raw
    };
    if let Some(f) = wire_format {
        query.retain(|(k, _)| !matches!(k.as_str(), "encoding" | "sample_rate" | "channels"));
        query.push(("encoding".into(), f.encoding.to_string()));
        query.push(("sample_rate".into(), f.sample_rate_hz.to_string()));
        if !opts.flux {
            query.push(("channels".into(), f.channels.to_string()));
        }
    }
    let mut pacer = Pacer::new(wire_format, opts.realtime)?;

    let endpoint = if opts.flux {
        "/v2/listen"
    } else {
        "/v1/listen"
    };
    let url = listen_url_at(&opts.host, endpoint, &query)?;
    let (ws, request_id) = connect(&url, opts.key.as_deref(), opts.auth).await?;
    let bar = progress_bar(&opts, source.total_bytes);
    if opts.progress {
        bar.suspend(|| {
            eprintln!(
                "connected to {} (request id {})",
                url.split('?').next().unwrap_or(&url),
                request_id.as_deref().unwrap_or("none")
            )
        });
    }
    let (mut sink, stream) = ws.split();
    let sinks = Sinks::new(&opts, bar.clone())?;
    let (closed_tx, mut closed_rx) = tokio::sync::watch::channel(false);
    let receiver = tokio::spawn(receive(stream, sinks, closed_tx, opts.flux));

    let mut outcome = Outcome::default();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut last_sent = Instant::now();
    let mut last_audio = Instant::now();
    let mut finalize_due = false;
    let mut warned_pacing = false;
    let mut sent_bytes: u64 = 0;
    let mut pending = (!first.is_empty()).then_some(first);
    'send: loop {
        let audio = if let Some(bytes) = pending.take() {
            Some(bytes)
        } else {
            let keepalive_at = last_sent + opts.keepalive_every;
            let finalize_at = opts.finalize_after.map(|d| last_audio + d);
            tokio::select! {
                _ = closed_rx.changed() => break 'send,
                _ = &mut ctrl_c => { outcome.interrupted = true; break 'send }
                _ = tokio::time::sleep_until(keepalive_at) => {
                    if send_text(&mut sink, r#"{"type":"KeepAlive"}"#).await.is_err() { break 'send }
                    last_sent = Instant::now();
                    None
                }
                _ = tokio::time::sleep_until(finalize_at.unwrap_or(keepalive_at)), if finalize_due && finalize_at.is_some() => {
                    if send_text(&mut sink, r#"{"type":"Finalize"}"#).await.is_err() { break 'send }
                    finalize_due = false;
                    last_sent = Instant::now();
                    None
                }
                chunk = source.next() => match chunk {
                    None => break 'send,
                    Some(Err(e)) => { outcome.input_error = Some(e.to_string()); break 'send }
                    Some(Ok(Chunk::Title(title))) => {
                        if opts.progress { bar.suspend(|| eprintln!("now playing: {title}")) }
                        None
                    }
                    Some(Ok(Chunk::Audio(bytes))) => match transcoder.as_mut() {
                        Some(t) => match t.push(&bytes) {
                            Ok(pcm) => Some(pcm),
                            Err(e) => { outcome.input_error = Some(e.to_string()); break 'send }
                        },
                        None => Some(bytes),
                    },
                },
            }
        };
        let Some(bytes) = audio.filter(|b| !b.is_empty()) else {
            continue;
        };
        // Clock, progress and meter first, so the chunk moves into its frame without a copy.
        let wait = match pacer.after_send(&bytes) {
            Ok(w) => w,
            Err(reason) => {
                if !warned_pacing {
                    warned_pacing = true;
                    bar.suspend(|| eprintln!("warning: cannot time this audio locally ({reason}); sending it as fast as the server accepts"));
                }
                Duration::ZERO
            }
        };
        sent_bytes += bytes.len() as u64;
        update_bar(&bar, sent_bytes, pacer.audio_s());
        #[cfg(feature = "mic")]
        if mic {
            bar.set_message(format!("mic {}", crate::mic::level_meter(&bytes)));
        }
        if sink.send(Message::Binary(bytes.into())).await.is_err() {
            break;
        }
        last_sent = Instant::now();
        last_audio = last_sent;
        finalize_due = true;
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = closed_rx.changed() => break,
                _ = &mut ctrl_c => { outcome.interrupted = true; break }
            }
        }
    }
    let server_closed = *closed_rx.borrow();
    if !server_closed {
        match transcoder.as_mut().map(Transcoder::finish) {
            Some(Ok(tail)) => {
                // Possibly a whole file (an MP4 with its index last): in frame-sized pieces.
                for piece in tail.chunks(64 * 1024) {
                    if sink
                        .send(Message::Binary(piece.to_vec().into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
            Some(Err(e)) => outcome.input_error = Some(e.to_string()),
            _ => {}
        }
        let _ = send_text(&mut sink, r#"{"type":"CloseStream"}"#).await;
    }
    bar.finish_and_clear();
    let received = tokio::select! {
        r = tokio::time::timeout(opts.close_timeout, receiver) => r,
        _ = &mut ctrl_c, if !outcome.interrupted => {
            outcome.errors.push("interrupted while waiting for the server to finish".into());
            return Ok(outcome);
        }
    };
    match received {
        Ok(Ok(Ok(r))) => {
            outcome.close_code = r.close_code;
            outcome.close_reason = r.close_reason;
            outcome.metadata = r.metadata;
            outcome.request_id = r.request_id.or(request_id);
            outcome.errors.extend(r.errors);
        }
        Ok(Ok(Err(e))) => return Err(e),
        Ok(Err(join)) => outcome.errors.push(format!("receiver failed: {join}")),
        Err(_) => outcome.errors.push(format!(
            "the server did not close the stream within {} s of CloseStream",
            opts.close_timeout.as_secs()
        )),
    }
    Ok(outcome)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    url: &str,
    key: Option<&str>,
    auth: AuthMode,
) -> Result<(Ws, Option<String>), ClientError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ClientError::Usage(format!("{url}: {e}")))?;
    let headers = request.headers_mut();
    headers.insert(
        "user-agent",
        HeaderValue::from_static(concat!("hark/", env!("CARGO_PKG_VERSION"))),
    );
    if let Some(key) = key {
        let (name, value) = match auth {
            AuthMode::Header => ("authorization", format!("Token {key}")),
            AuthMode::Subprotocol => ("sec-websocket-protocol", format!("token, {key}")),
        };
        let value = HeaderValue::from_str(&value)
            .map_err(|_| ClientError::Usage("the API key is not a valid header value".into()))?;
        headers.insert(name, value);
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => {
            let id = header(response.headers(), "dg-request-id");
            Ok((ws, id))
        }
        Err(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
            let from_body = body
                .as_ref()
                .and_then(|v| v["err_msg"].as_str().map(str::to_owned));
            Err(ClientError::Refused {
                status: response.status().as_u16(),
                dg_error: header(response.headers(), "dg-error").or(from_body),
                request_id: header(response.headers(), "dg-request-id").or_else(|| {
                    body.as_ref()
                        .and_then(|v| v["request_id"].as_str().map(str::to_owned))
                }),
            })
        }
        Err(e) => Err(ClientError::Connection(format!(
            "cannot connect to {}: {e}",
            url.split('?').next().unwrap_or(url)
        ))),
    }
}

fn header(h: &tungstenite::http::HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn send_text<S>(sink: &mut S, text: &'static str) -> Result<(), tungstenite::Error>
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    sink.send(Message::Text(text.into())).await
}

fn progress_bar(opts: &StreamOptions, total: Option<u64>) -> ProgressBar {
    if !opts.progress || opts.render.interim {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    let template = if total.is_some() {
        "{bar:30} {bytes}/{total_bytes} {msg}"
    } else {
        "{spinner} {bytes} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar
}

fn update_bar(bar: &ProgressBar, sent: u64, audio_s: Option<f64>) {
    bar.set_position(sent);
    let elapsed = bar.elapsed().as_secs_f64();
    if let Some(audio) = audio_s.filter(|_| elapsed > 0.0) {
        bar.set_message(format!(
            "{audio:.1} s of audio, {:.1}x real time",
            audio / elapsed
        ));
    }
}

/// What the receiving half saw.
struct Received {
    close_code: Option<u16>,
    close_reason: String,
    metadata: bool,
    request_id: Option<String>,
    errors: Vec<String>,
}

async fn receive(
    mut stream: futures_util::stream::SplitStream<Ws>,
    mut sinks: Sinks,
    closed: tokio::sync::watch::Sender<bool>,
    flux: bool,
) -> Result<Received, ClientError> {
    // Flux: the turn that has not ended yet (its latest event).
    let mut open_turn: Option<TurnInfo> = None;
    let mut r = Received {
        close_code: None,
        close_reason: String::new(),
        metadata: false,
        request_id: None,
        errors: Vec::new(),
    };
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(Message::Text(text)) if flux => {
                sinks.raw(text.as_str())?;
                match serde_json::from_str::<FluxMessage>(text.as_str()) {
                    Ok(FluxMessage::TurnInfo(t)) => {
                        let ended = t.event == "EndOfTurn";
                        sinks.results(&crate::flux::turn_as_results(&t, ended))?;
                        open_turn = (!ended).then_some(t);
                    }
                    Ok(FluxMessage::Connected { request_id, .. }) => {
                        r.request_id = Some(request_id);
                    }
                    Ok(FluxMessage::Error {
                        code, description, ..
                    }) => {
                        let msg = format!("server error: {code}: {description}");
                        sinks.status(&msg);
                        r.errors.push(msg);
                    }
                    Ok(_) | Err(_) => {}
                }
            }
            Ok(Message::Text(text)) => {
                sinks.raw(text.as_str())?;
                match serde_json::from_str::<ServerMessage>(text.as_str()) {
                    Ok(ServerMessage::Results(res)) => sinks.results(&res)?,
                    Ok(ServerMessage::Metadata(m)) => {
                        r.metadata = true;
                        r.request_id = Some(m.request_id);
                    }
                    Ok(ServerMessage::Error(e)) => {
                        let msg = format!(
                            "server error: {} {}",
                            e.description,
                            e.message.unwrap_or_default()
                        );
                        sinks.status(&msg);
                        r.errors.push(msg);
                    }
                    Ok(_) => {}
                    // Not a Deepgram message: `hark mock` and the Starter Kit's mock say where
                    // they saved the audio, and warn about pacing.
                    Err(_) => {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str()) {
                            for key in ["warning", "filename"] {
                                if v.get(key).is_some() {
                                    if let Some(msg) = v["msg"].as_str().or(v[key].as_str()) {
                                        sinks.status(&format!("server: {msg}"));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Ok(Message::Close(frame)) => {
                let _ = closed.send(true);
                r.close_code = Some(frame.as_ref().map_or(1005, |f| u16::from(f.code)));
                r.close_reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
            }
            Ok(_) => {}
            Err(e) => {
                if r.close_code.is_none() {
                    r.errors.push(format!("connection lost: {e}"));
                }
                break;
            }
        }
    }
    let _ = closed.send(true);
    // `CloseStream` ends no Flux turn: what the open turn said last is its transcript.
    if let Some(t) = open_turn.filter(|t| !t.words.is_empty()) {
        sinks.results(&crate::flux::turn_as_results(&t, true))?;
    }
    sinks.finish()?;
    Ok(r)
}

/// Where rendered output goes: stdout or `-o FILE`, split per channel for multichannel subtitles.
struct Sinks {
    opts: RenderOptions,
    path: Option<PathBuf>,
    bar: ProgressBar,
    shared: Option<Renderer<Box<dyn Write + Send>>>,
    channels: BTreeMap<u16, Renderer<Box<dyn Write + Send>>>,
}

impl Sinks {
    fn new(opts: &StreamOptions, bar: ProgressBar) -> Result<Self, ClientError> {
        let subtitles = matches!(opts.render.format, Format::Srt | Format::Vtt);
        let per_channel = subtitles && opts.multichannel && opts.output.is_some();
        let mut render = opts.render.clone();
        render.channel_prefix = opts.multichannel;
        let shared = if per_channel {
            None
        } else {
            let out: Box<dyn Write + Send> = match &opts.output {
                Some(p) => Box::new(create(p)?),
                None => Box::new(BarStdout(bar.clone())),
            };
            Some(Renderer::new(out, render.clone())?)
        };
        Ok(Self {
            opts: render,
            path: opts.output.clone(),
            bar,
            shared,
            channels: BTreeMap::new(),
        })
    }

    fn raw(&mut self, text: &str) -> Result<(), ClientError> {
        if let Some(r) = self.shared.as_mut() {
            r.raw(text)?;
        }
        Ok(())
    }

    fn results(&mut self, res: &hark_proto::Results) -> Result<(), ClientError> {
        if let Some(r) = self.shared.as_mut() {
            return Ok(r.results(res)?);
        }
        let ch = res.channel_index[0];
        if !self.channels.contains_key(&ch) {
            let path = channel_path(self.path.as_deref().unwrap_or(Path::new("out")), ch);
            let out: Box<dyn Write + Send> = Box::new(create(&path)?);
            self.channels
                .insert(ch, Renderer::new(out, self.opts.clone())?);
        }
        if let Some(r) = self.channels.get_mut(&ch) {
            r.results(res)?;
        }
        Ok(())
    }

    fn status(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    fn finish(self) -> Result<(), ClientError> {
        if let Some(r) = self.shared {
            r.finish()?;
        }
        for (_, r) in self.channels {
            r.finish()?;
        }
        Ok(())
    }
}

fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>, ClientError> {
    std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .map_err(|e| ClientError::Input(format!("cannot create {}: {e}", path.display())))
}

/// `subs.srt` → `subs.ch1.srt`.
fn channel_path(path: &Path, channel: u16) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.ch{channel}.{}", ext.to_string_lossy()),
        None => format!("{stem}.ch{channel}"),
    };
    path.with_file_name(name)
}

/// Stdout that keeps a progress bar on stderr intact.
struct BarStdout(ProgressBar);

impl Write for BarStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stdout().write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_paths() {
        assert_eq!(
            channel_path(Path::new("/tmp/subs.srt"), 1),
            PathBuf::from("/tmp/subs.ch1.srt")
        );
        assert_eq!(channel_path(Path::new("out"), 0), PathBuf::from("out.ch0"));
    }
}
