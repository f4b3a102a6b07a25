//! One WebSocket session: frames in, audio through the pipeline, the live policy and the engine,
//! messages out.
//!
//! Lifecycle (PROTOCOL.md §5): every path ends with the queued Results, then `Metadata`, then a
//! close frame — 1000 after `CloseStream` or an empty binary frame, 1011 NET-0001 after the idle
//! timeout, 1008 DATA-0000 for undecodable audio, 1011 NET-0000 if the engine fails, 1001 when the
//! server's drain deadline passes.
//!
//! The session owns the socket, the engine's replies and the order of messages; what to decode
//! and what each result is for is decided by [`hark_live::LiveStream`], and the audio work
//! (decoding, resampling, VAD) runs on the blocking pool ([`audio::AudioStage`]). The socket is
//! any stream and sink of WebSocket messages, so the lifecycle runs in-process in tests.

mod audio;
mod finish;
mod hold;
mod outbox;
mod replies;
mod speakers;
#[cfg(test)]
mod tests;
mod turns;

use crate::results::ResultContext;
use crate::{metrics as m, AppState};
use audio::AudioStage;
use axum::extract::ws::Message;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use hark_asr::{Cancel, DecodeOptions, Scheduler, StreamSlot, Transcript};
use hark_live::{LiveConfig, LiveStream, ResultSpan, Ticket};
use hark_proto::{
    close, parse_control, ConfigureSuccess, ControlMessage, Endpointing, ErrorMessage,
    ListenParams, ServerMessage, SyncReply, UtteranceEnd,
};
use hark_text::{Counters, TextOptions};
use outbox::{Outbox, Outgoing};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

/// Frames of inline-decodable audio up to this size are worked on by the session's own task
/// (2 s of 16 kHz linear16).
const INLINE_MAX_BYTES: usize = 64 * 1024;

/// A WebSocket as the session uses it (axum's, or an in-process one in tests).
pub trait Socket:
    Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin + Send
{
}

impl<T> Socket for T where
    T: Stream<Item = Result<Message, axum::Error>>
        + Sink<Message, Error = axum::Error>
        + Unpin
        + Send
{
}

/// Everything the handshake decided.
pub struct SessionSetup {
    pub request_id: String,
    pub params: ListenParams,
    pub scheduler: Scheduler,
    /// Held until the session's last message: dropping them frees the engine's stream slots.
    pub slots: Vec<StreamSlot>,
    pub created: SystemTime,
    /// `/v2/listen`: the Flux parameters (`params` are their `/v1/listen` equivalent).
    pub flux: Option<hark_proto::FluxParams>,
}

/// An engine's answer to one decode.
type EngineReply = (Ticket, crate::reply::Answer);

/// How the session ends.
struct End {
    code: u16,
    reason: String,
    /// Send the audio hash (clean close) or `"incomplete"`.
    complete: bool,
    /// Flush buffered audio through the engine before Metadata.
    flush: bool,
}

impl End {
    fn close_stream(code: u16) -> Self {
        Self {
            code,
            reason: String::new(),
            complete: true,
            flush: true,
        }
    }

    /// A frame over `max_bytes` arrived: everything before it is answered, then close 1009.
    fn too_big(max_bytes: usize) -> Self {
        Self {
            code: close::MESSAGE_TOO_BIG,
            reason: format!("a message was larger than {max_bytes} bytes"),
            complete: true,
            flush: true,
        }
    }

    fn internal(reason: &str) -> Self {
        Self {
            code: close::INTERNAL,
            reason: reason.to_owned(),
            complete: false,
            flush: false,
        }
    }
}

/// Whether a read failed because a frame or message exceeded the size limit (tungstenite's
/// capacity error, seen through axum's opaque error by its text).
fn is_too_big(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Message too long") || text.contains("Space limit exceeded")
}

/// Why the session stops reading.
enum Stop {
    /// End it with this close (after the flush it asks for).
    End(End),
    /// The socket failed or closed: stop without a goodbye.
    Gone,
}

impl From<End> for Stop {
    fn from(end: End) -> Self {
        Self::End(end)
    }
}

struct Session {
    setup: SessionSetup,
    ctx: Arc<ResultContext>,
    /// `None` only while its work runs on the blocking pool (or after that work panicked).
    stage: Option<Box<AudioStage>>,
    hasher: Sha256,
    outbox: Outbox,
    /// Silent probes in flight (their results are not sent, so they hold no slot).
    silent: HashSet<Ticket>,
    /// Of those, windows sent ahead of their segment's decodes: one that fails (a full queue)
    /// costs the final a little more encoding, and the client hears nothing of it.
    ahead: HashSet<Ticket>,
    /// Deferrable decodes in flight, which the policy may withdraw.
    cancels: HashMap<Ticket, Cancel>,
    replies_tx: mpsc::UnboundedSender<EngineReply>,
    replies: mpsc::UnboundedReceiver<EngineReply>,
    options: DecodeOptions,
    /// This session's stream ids: `stream_base << 16 | channel` ([`hark_asr::StreamKey`]).
    stream_base: u64,
    /// The text features as `Configure` left them, and each channel's redaction counters.
    text: TextOptions,
    counters: Vec<Counters>,
    /// Finals held while an entity is unfinished (`hold_finals`: the request allows it).
    holds: hold::Holds,
    hold_finals: bool,
    /// How long one message may wait for the client to take it.
    send_timeout: std::time::Duration,
    /// `/v2/listen`: turns instead of Results.
    flux: Option<Box<turns::FluxState>>,
    /// `diarize`: speakers on the words of Results.
    speakers: Option<speakers::Speakers>,
}

/// Run one session; `pipeline` is the audio front end the handshake built (and so validated).
pub async fn run(
    mut socket: impl Socket,
    setup: SessionSetup,
    pipeline: hark_audio::AudioPipeline,
    state: Arc<AppState>,
) {
    state.active_sessions.fetch_add(1, Ordering::SeqCst);
    metrics::counter!(m::SESSIONS_TOTAL).increment(1);
    metrics::gauge!(m::SESSIONS_ACTIVE).increment(1.0);
    Session::new(setup, pipeline, &state.config)
        .drive(&mut socket, &state)
        .await;
    metrics::gauge!(m::SESSIONS_ACTIVE).decrement(1.0);
    state.active_sessions.fetch_sub(1, Ordering::SeqCst);
    state.sessions_done.notify_waiters();
}

/// How often a segment's new audio is sent to an engine that takes audio ahead of its decodes
/// (`LiveConfig::ahead_samples`): a final then has at most about this much audio left to encode.
const AHEAD_MS: u64 = 250;

/// The live policy's settings for a stream with these parameters.
fn live_config(
    p: &ListenParams,
    scheduler: &Scheduler,
    config: &crate::ServerConfig,
    flux: bool,
) -> LiveConfig {
    let rate = scheduler.sample_rate_hz();
    // Flux: fresh words for the turn's Updates.
    let interim_ms = if flux {
        turns::DECODE_EVERY_MS
    } else {
        config.interim_ms.max(100)
    };
    LiveConfig {
        rate_hz: rate,
        max_window_samples: scheduler.max_window_samples(),
        vad: config.vad && LiveConfig::vad_supported(rate),
        endpointing_ms: match p.endpointing {
            Endpointing::Disabled => None,
            Endpointing::SilenceMs(ms) => Some(ms),
        },
        interim_samples: p
            .interim_results
            .then(|| (u64::from(interim_ms) * u64::from(rate) / 1000) as usize),
        vad_events: p.vad_events,
        utterance_end_ms: p.utterance_end_ms,
        early_pause_ms: flux.then_some(turns::EARLY_PAUSE_MS),
        ahead_samples: scheduler
            .takes_audio_ahead()
            .then(|| (AHEAD_MS * u64::from(rate) / 1000) as usize),
    }
}

impl Session {
    fn new(
        setup: SessionSetup,
        pipeline: hark_audio::AudioPipeline,
        config: &crate::ServerConfig,
    ) -> Self {
        let p = &setup.params;
        let flux = setup
            .flux
            .clone()
            .map(|f| Box::new(turns::FluxState::new(f)));
        let live = LiveStream::new(live_config(p, &setup.scheduler, config, flux.is_some()));
        let ctx = Arc::new(ResultContext::new(
            &setup.request_id,
            p,
            setup.scheduler.descriptor(),
            setup.scheduler.sample_rate_hz(),
        ));
        let mut options = DecodeOptions {
            language: (p.language != "multi").then(|| p.language.clone()),
            keyterms: p.keyterm.clone(),
            keywords: p
                .keywords
                .iter()
                .map(|k| (k.word.clone(), k.intensifier))
                .collect(),
            ..DecodeOptions::default()
        };
        let ctx_text = ctx.text.clone();
        let setup_rate = setup.scheduler.sample_rate_hz();
        if let Some(f) = &flux {
            options.language_candidates = f.params.language_hints.clone();
        }
        let hold_finals = flux.is_none()
            && ctx_text.english
            && !p.no_delay
            && (p.smart_format || p.detect_entities || !p.redact.is_empty());
        let counters = vec![Counters::default(); usize::from(p.result_channels())];
        let mut stage = AudioStage::new(pipeline, live, usize::from(p.result_channels()));
        stage.turns = flux.as_ref().map(|f| f.tracker(setup_rate));
        // The voice features are defined at 16 kHz (every engine's rate today).
        let speakers = (p.diarizing()
            && flux.is_none()
            && setup_rate == hark_diarize::SAMPLE_RATE_HZ)
            .then(|| {
                let (speakers, voices) =
                    speakers::Speakers::new(crate::results::diarize_info(p, false));
                stage.voices = Some(voices);
                speakers
            });
        let (replies_tx, replies) = mpsc::unbounded_channel();
        Self {
            setup,
            ctx,
            stage: Some(Box::new(stage)),
            hasher: Sha256::new(),
            outbox: Outbox::default(),
            silent: HashSet::new(),
            ahead: HashSet::new(),
            cancels: HashMap::new(),
            replies_tx,
            replies,
            options,
            stream_base: hark_asr::next_stream_id(),
            text: ctx_text,
            counters,
            holds: hold::Holds::new(setup_rate),
            hold_finals,
            send_timeout: config.send_timeout(),
            flux,
            speakers,
        }
    }

    /// A transcript's Results is made when it is sent, so redaction tags count in the order
    /// the client reads them and `Configure` applies from the next message on.
    fn render(&mut self, out: Outgoing) -> Outgoing {
        let Outgoing::Transcript { span, transcript } = out else {
            return out;
        };
        if self.is_flux() {
            return self.render_turn(span, transcript);
        }
        if !span.is_final {
            return self.results(span, transcript);
        }
        match self
            .holds
            .offer(span, transcript, self.hold_finals, Instant::now())
        {
            Some((span, transcript)) => self.results(span, transcript),
            None => Outgoing::Nothing,
        }
    }

    /// Send the held finals whose time ran out by `now` (all of them with `None`).
    async fn release_holds(
        &mut self,
        socket: &mut impl Socket,
        now: Option<Instant>,
    ) -> Result<(), Stop> {
        for (span, transcript) in self.holds.release(now) {
            if let Outgoing::Message(msg) = self.results(span, transcript) {
                self.note_sent(&msg);
                send(socket, &msg, self.send_timeout)
                    .await
                    .map_err(|_| Stop::Gone)?;
            }
        }
        Ok(())
    }

    fn results(&mut self, span: ResultSpan, transcript: Transcript) -> Outgoing {
        let channels = self.stage.as_ref().map_or(1, |s| s.live.channels());
        let ch = usize::from(span.channel);
        if self.counters.len() <= ch {
            self.counters.resize(ch + 1, Counters::default());
        }
        let mut results = self.ctx.results(
            span,
            channels,
            &transcript,
            &self.text,
            &mut self.counters[ch],
        );
        if let Some(speakers) = &mut self.speakers {
            speakers.label(&mut results);
        }
        Outgoing::Message(ServerMessage::Results(results))
    }

    /// Finals are waiting for the model: the policy holds interims back.
    fn engine_busy(&self) -> bool {
        self.setup.scheduler.waiting_due_windows() > 0
    }

    /// Run `f` on the audio stage, on the blocking pool; `None` if the stage is lost.
    async fn audio<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut AudioStage) -> R + Send + 'static,
    ) -> Option<R> {
        let (stage, r) = self.stage.take()?.run(f).await?;
        self.stage = Some(stage);
        Some(r)
    }

    async fn drive(&mut self, socket: &mut impl Socket, state: &AppState) {
        let idle_timeout = state.config.idle_timeout();
        let max_in_flight = state.config.max_in_flight_windows.max(1);
        let mut stop_rx = state.stop_tx.subscribe();
        let idle = sleep_until(Instant::now() + idle_timeout);
        tokio::pin!(idle);
        if self.is_flux() && self.connected(socket).await.is_err() {
            return;
        }
        let end = loop {
            let reading = self.outbox.len() + self.silent.len() < max_in_flight;
            let hold_until = self.holds.deadline();
            let far = Instant::now() + idle_timeout;
            tokio::select! {
                biased;
                Some(reply) = self.replies.recv() => {
                    self.on_reply(reply);
                    match self.send_ready(socket).await {
                        Ok(()) => {}
                        Err(Stop::End(end)) => break end,
                        Err(Stop::Gone) => return,
                    }
                    // The server was the slow side: do not count that time against the client.
                    let fresh = Instant::now() + idle_timeout;
                    if fresh > idle.deadline() { idle.as_mut().reset(fresh); }
                }
                () = sleep_until(hold_until.unwrap_or(far)), if hold_until.is_some() => {
                    // (An UtteranceEnd may have waited for the held final.)
                    let step = match self.release_holds(socket, Some(Instant::now())).await {
                        Ok(()) => self.send_ready(socket).await,
                        Err(stop) => Err(stop),
                    };
                    match step {
                        Ok(()) => {}
                        Err(Stop::End(end)) => break end,
                        Err(Stop::Gone) => return,
                    }
                }
                () = &mut idle, if reading => break End::internal(close::NET0001_REASON),
                _ = stop_rx.changed() => break End::close_stream(close::GOING_AWAY),
                frame = socket.next(), if reading => {
                    let frame = match frame {
                        Some(Ok(frame)) => frame,
                        // The audio so far is kept: its results, Metadata, then 1009.
                        Some(Err(e)) if is_too_big(&e) => break End::too_big(state.config.max_message_bytes),
                        _ => return,
                    };
                    idle.as_mut().reset(Instant::now() + idle_timeout);
                    let step = match frame {
                        Message::Binary(bytes) if bytes.is_empty() => Err(End::close_stream(close::NORMAL).into()),
                        Message::Binary(bytes) => self.on_audio(bytes, socket).await,
                        Message::Text(text) => self.on_control(text.as_str(), socket).await,
                        Message::Close(_) => return,
                        Message::Ping(_) | Message::Pong(_) => Ok(()),
                    };
                    match step.and(self.send_ready(socket).await) {
                        Ok(()) => {}
                        Err(Stop::End(end)) => break end,
                        Err(Stop::Gone) => return,
                    }
                }
            }
        };
        self.finish(socket, end).await;
    }

    /// A binary frame. `Err`: the session ends (undecodable audio). A small frame of PCM is
    /// worked on here (a few hundred microseconds at most: handing it to another thread would
    /// cost as much); a codec's frames and large frames go to the blocking pool.
    async fn on_audio(
        &mut self,
        bytes: axum::body::Bytes,
        socket: &mut impl Socket,
    ) -> Result<(), Stop> {
        self.hasher.update(&bytes);
        let busy = self.engine_busy();
        let inline = bytes.len() <= INLINE_MAX_BYTES
            && self
                .stage
                .as_ref()
                .is_some_and(|s| s.pipeline.decodes_inline());
        let pushed = match self.stage.as_mut() {
            Some(stage) if inline => Some(stage.push(&bytes, busy)),
            _ => self.audio(move |a| a.push(&bytes, busy)).await,
        };
        match pushed {
            None => Err(End::internal(close::NET0000_REASON).into()),
            Some(Ok(decisions)) => {
                self.apply(decisions);
                if self.is_flux() {
                    self.send_audio_turns(socket).await?;
                }
                Ok(())
            }
            Some(Err(e)) => {
                if !self.is_flux() {
                    let msg = error_message("DataError", e.to_string(), None, Some("DATA-0000"));
                    let _ = send(socket, &msg, self.send_timeout).await;
                }
                Err(Stop::End(End {
                    code: close::DATA_ERROR,
                    reason: close::data0000_reason(&e.to_string()),
                    complete: true,
                    flush: true,
                }))
            }
        }
    }

    /// Send every message that is ready, in order, then `UtteranceEnd` if one is due.
    /// `Err(Stop::End)`: the engine failed and the session ends.
    async fn send_ready(&mut self, socket: &mut impl Socket) -> Result<(), Stop> {
        while let Some(out) = self.outbox.pop_ready() {
            match self.render(out) {
                Outgoing::Message(msg) => {
                    self.note_sent(&msg);
                    send(socket, &msg, self.send_timeout)
                        .await
                        .map_err(|_| Stop::Gone)?;
                }
                Outgoing::Turn(step) => self.send_turns(socket, step).await?,
                Outgoing::Nothing | Outgoing::Transcript { .. } => {}
                Outgoing::EngineFailed(detail) => {
                    tracing::error!(request_id = %self.ctx.request_id, %detail, "engine failed");
                    return Err(End::internal(close::NET0000_REASON).into());
                }
            }
        }
        if let Some(ue) = self.utterance_end() {
            send(socket, &ue, self.send_timeout)
                .await
                .map_err(|_| Stop::Gone)?;
        }
        Ok(())
    }

    /// Tell the policy what a sent Results covered (for `UtteranceEnd`).
    fn note_sent(&mut self, msg: &ServerMessage) {
        let (ServerMessage::Results(r), Some(stage)) = (msg, self.stage.as_mut()) else {
            return;
        };
        let last = r
            .channel
            .alternatives
            .first()
            .and_then(|a| a.words.last())
            .map(|w| f64::from(w.end));
        let end_s = f64::from(r.start) + f64::from(r.duration);
        stage.live.on_sent(r.channel_index[0], end_s, last);
    }

    /// `UtteranceEnd`, once every result decided has been sent (so it follows the words it ends).
    fn utterance_end(&mut self) -> Option<ServerMessage> {
        // Not while a result is still to go out (waiting for the model, or held for an entity).
        if !self.outbox.is_empty() || self.holds.deadline().is_some() {
            return None;
        }
        let live = &mut self.stage.as_mut()?.live;
        let (channel, end_s) = live.utterance_end()?;
        Some(ServerMessage::UtteranceEnd(UtteranceEnd {
            channel: [channel, live.channels()],
            last_word_end: end_s as f32,
        }))
    }

    /// A text frame: control messages are answered now; `Err(end)` ends the session.
    async fn on_control(&mut self, text: &str, socket: &mut impl Socket) -> Result<(), Stop> {
        if self.is_flux() {
            return self.on_flux_control(text, socket).await;
        }
        let reply = match parse_control(text) {
            Ok(ControlMessage::KeepAlive) => None,
            Ok(ControlMessage::CloseStream) => return Err(End::close_stream(close::NORMAL).into()),
            Ok(ControlMessage::Finalize { channel }) => {
                let channels = self.stage.as_mut().map_or(0, |s| s.channels());
                match channel.filter(|c| *c >= channels) {
                    Some(c) => Some(error_message(
                        "SchemaError",
                        format!("Finalize channel {c} does not exist; this stream has {channels}"),
                        Some(text),
                        None,
                    )),
                    None => {
                        // Other streams' finals asked for now run in the same model call.
                        let _announced = self.setup.scheduler.announce_due();
                        let busy = self.engine_busy();
                        let decisions = self
                            .audio(move |a| a.flush(channel, true, busy))
                            .await
                            .ok_or_else(|| End::internal(close::NET0000_REASON))?;
                        self.apply(decisions);
                        None
                    }
                }
            }
            Ok(ControlMessage::Configure { features, keyterms }) => {
                if let Some(numerals) = features.numerals {
                    self.text.numerals = numerals;
                }
                if let Some(k) = &keyterms {
                    self.options.keyterms = k.clone();
                }
                Some(ServerMessage::ConfigureSuccess(ConfigureSuccess {
                    request_id: self.ctx.request_id.clone(),
                    keyterms: keyterms.map(|_| self.options.keyterms.clone()),
                }))
            }
            Ok(ControlMessage::Sync { id }) => Some(ServerMessage::Sync(SyncReply { id })),
            Err(e) => Some(error_message(
                "SchemaError",
                e.to_string(),
                Some(text),
                None,
            )),
        };
        if let Some(reply) = reply {
            // Answered at once, ahead of results still waiting for the engine.
            send(socket, &reply, self.send_timeout)
                .await
                .map_err(|_| Stop::Gone)?;
        }
        Ok(())
    }
}

fn error_message(
    variant: &str,
    description: String,
    offending: Option<&str>,
    code: Option<&str>,
) -> ServerMessage {
    ServerMessage::Error(ErrorMessage {
        variant: variant.to_owned(),
        description,
        message: offending.map(|t| t.chars().take(1000).collect()),
        code: code.map(str::to_owned),
    })
}

/// Send one message; a client that takes nothing for `timeout` has stopped reading (its
/// socket is full, so no close frame could reach it either): an error, and the session ends.
async fn send(
    socket: &mut impl Socket,
    msg: &ServerMessage,
    timeout: std::time::Duration,
) -> Result<(), axum::Error> {
    if matches!(msg, ServerMessage::Results(_)) {
        metrics::counter!(m::RESULTS_SENT_TOTAL).increment(1);
    }
    send_text(socket, msg.to_json(), timeout).await
}

/// Send one text frame (see [`send`]).
async fn send_text(
    socket: &mut impl Socket,
    text: String,
    timeout: std::time::Duration,
) -> Result<(), axum::Error> {
    match tokio::time::timeout(timeout, socket.send(Message::Text(text.into()))).await {
        Ok(sent) => sent,
        Err(_) => {
            metrics::counter!(m::CLIENTS_NOT_READING_TOTAL).increment(1);
            Err(axum::Error::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading results",
            )))
        }
    }
}
