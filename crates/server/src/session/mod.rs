//! One WebSocket session: frames in, audio through the pipeline and the engine, messages out.
//!
//! Lifecycle (PROTOCOL.md §5): every path ends with the queued Results, then `Metadata`, then a
//! close frame — 1000 after `CloseStream` or an empty binary frame, 1011 NET-0001 after the idle
//! timeout, 1008 DATA-0000 for undecodable audio, 1011 NET-0000 if the engine fails, 1001 when the
//! server's drain deadline passes.

mod live;
mod results;

use crate::{metrics as m, AppState};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::future::FutureExt;
use futures_util::stream::{FuturesOrdered, StreamExt};
use hark_asr::{AudioWindow, DecodeOptions, Scheduler, Segment, StreamSlot};
use hark_audio::AudioPipeline;
use hark_proto::{
    close, parse_control, ConfigureSuccess, ControlMessage, Endpointing, ErrorMessage,
    ListenParams, ServerMessage, SpeechStarted, SyncReply, UtteranceEnd,
};
use live::{Cut, LiveChannel, LivePolicy};
use results::{ResultContext, WindowInfo};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::{sleep_until, Instant};

/// Everything the handshake decided.
pub struct SessionSetup {
    pub request_id: String,
    pub params: ListenParams,
    pub scheduler: Scheduler,
    /// Held until the session's last message: dropping them frees the engine's stream slots.
    pub slots: Vec<StreamSlot>,
    pub created: SystemTime,
}

/// A message that will be ready once the engine has answered.
enum Outgoing {
    Message(ServerMessage),
    /// A silent probe was answered: nothing to send.
    Nothing,
    EngineFailed(String),
}

type Pending = Pin<Box<dyn Future<Output = Outgoing> + Send>>;

/// What a submitted window is for.
struct Kind {
    is_final: bool,
    speech_final: bool,
    from_finalize: bool,
    /// Run the model (false: the VAD heard no speech; answer with an empty result).
    decode: bool,
    /// An interim's channel state, told when its result is ready.
    interim: Option<Arc<live::InterimState>>,
    /// A probe for word-boundary commits: its result is not sent.
    silent: bool,
    /// The result is due now (finals, and the decode of a pause that a final may await); others
    /// may wait behind such windows in the engine's queue.
    due: bool,
    /// A final's channel history, told its words when the engine answers.
    history: Option<Arc<std::sync::Mutex<live::History>>>,
}

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
}

struct Session {
    setup: SessionSetup,
    ctx: Arc<ResultContext>,
    pipeline: AudioPipeline,
    /// Reused per frame: the pipeline's new samples per channel.
    chunk: Vec<Vec<f32>>,
    policy: LivePolicy,
    channels: Vec<LiveChannel>,
    cuts: Vec<Cut>,
    hasher: Sha256,
    pending: FuturesOrdered<Pending>,
    options: DecodeOptions,
}

/// Run one session; `pipeline` is the audio front end the handshake built (and so validated).
pub async fn run(
    mut socket: WebSocket,
    setup: SessionSetup,
    pipeline: AudioPipeline,
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

impl Session {
    fn new(setup: SessionSetup, pipeline: AudioPipeline, config: &crate::ServerConfig) -> Self {
        let p = &setup.params;
        let rate = setup.scheduler.sample_rate_hz();
        let policy = LivePolicy {
            max_window_samples: setup.scheduler.max_window_samples(),
            vad: config.vad && rate == hark_vad::SAMPLE_RATE_HZ,
            endpointing_ms: match p.endpointing {
                Endpointing::Disabled => None,
                Endpointing::SilenceMs(ms) => Some(ms),
            },
            interim_samples: p
                .interim_results
                .then(|| (u64::from(config.interim_ms.max(100)) * u64::from(rate) / 1000) as usize),
            rate_hz: rate,
        };
        let ctx = Arc::new(ResultContext {
            request_id: setup.request_id.clone(),
            model: setup.scheduler.descriptor().clone(),
            punctuate: p.punctuation_on(),
            multi_language: p.language == "multi",
            extra: p.extra.iter().cloned().collect(),
            engine_rate_hz: rate,
        });
        let options = DecodeOptions {
            language: (p.language != "multi").then(|| p.language.clone()),
            keyterms: p.keyterm.clone(),
            prefix: String::new(),
            context: hark_asr::WindowContext::default(),
        };
        Self {
            setup,
            ctx,
            pipeline,
            chunk: Vec::new(),
            policy,
            channels: Vec::new(),
            cuts: Vec::new(),
            hasher: Sha256::new(),
            pending: FuturesOrdered::new(),
            options,
        }
    }

    async fn drive(&mut self, socket: &mut WebSocket, state: &AppState) {
        let idle_timeout = state.config.idle_timeout();
        let max_in_flight = state.config.max_in_flight_windows.max(1);
        let mut stop_rx = state.stop_tx.subscribe();
        let idle = sleep_until(Instant::now() + idle_timeout);
        tokio::pin!(idle);
        let end = loop {
            let reading = self.pending.len() < max_in_flight;
            tokio::select! {
                biased;
                Some(out) = self.pending.next(), if !self.pending.is_empty() => {
                    match out {
                        Outgoing::Message(msg) => {
                            self.note_words(&msg);
                            if send(socket, &msg).await.is_err() { return; }
                            if let Some(ue) = self.utterance_end() {
                                if send(socket, &ue).await.is_err() { return; }
                            }
                        }
                        Outgoing::Nothing => {}
                        Outgoing::EngineFailed(detail) => {
                            tracing::error!(request_id = %self.ctx.request_id, %detail, "engine failed");
                            break End { code: close::INTERNAL, reason: close::NET0000_REASON.to_owned(), complete: false, flush: false };
                        }
                    }
                    // The server was the slow side: do not count that time against the client.
                    let fresh = Instant::now() + idle_timeout;
                    if fresh > idle.deadline() { idle.as_mut().reset(fresh); }
                }
                () = &mut idle, if reading => {
                    break End { code: close::INTERNAL, reason: close::NET0001_REASON.to_owned(), complete: false, flush: false };
                }
                _ = stop_rx.changed() => break End::close_stream(close::GOING_AWAY),
                frame = socket.recv(), if reading => {
                    let Some(Ok(frame)) = frame else { return };
                    match frame {
                        Message::Binary(bytes) => {
                            idle.as_mut().reset(Instant::now() + idle_timeout);
                            if bytes.is_empty() {
                                break End::close_stream(close::NORMAL);
                            }
                            if let Err(e) = self.on_audio(&bytes) {
                                let _ = send(socket, &error_message("DataError", e.to_string(), None, Some("DATA-0000"))).await;
                                break End { code: close::DATA_ERROR, reason: close::data0000_reason(&e.to_string()), complete: true, flush: true };
                            }
                            if let Some(ue) = self.utterance_end() {
                                if send(socket, &ue).await.is_err() { return; }
                            }
                        }
                        Message::Text(text) => {
                            idle.as_mut().reset(Instant::now() + idle_timeout);
                            match self.on_control(text.as_str()) {
                                Ok(Some(reply)) => {
                                    if send(socket, &reply).await.is_err() { return; }
                                }
                                Ok(None) => {}
                                Err(end) => break end,
                            }
                        }
                        Message::Close(_) => return,
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
            }
        };
        self.finish(socket, end).await;
    }

    fn output_channels(&mut self) -> u16 {
        let n = self
            .pipeline
            .output_channels()
            .unwrap_or(usize::from(self.setup.params.result_channels()));
        if self.channels.len() < n {
            let policy = self.policy;
            self.channels.resize_with(n, || LiveChannel::new(&policy));
        }
        n as u16
    }

    fn on_audio(&mut self, bytes: &[u8]) -> Result<(), hark_audio::AudioError> {
        self.hasher.update(bytes);
        copy_into(&mut self.chunk, self.pipeline.push(bytes)?);
        self.feed();
        Ok(())
    }

    /// Run the new engine-rate audio in `self.chunk` through each channel's live policy.
    fn feed(&mut self) {
        if self.chunk.iter().all(Vec::is_empty) {
            return;
        }
        let channels = self.output_channels();
        let chunk = std::mem::take(&mut self.chunk);
        let mut cuts = std::mem::take(&mut self.cuts);
        for (ch, samples) in chunk.iter().enumerate() {
            let Some(live) = self.channels.get_mut(ch) else {
                continue;
            };
            cuts.clear();
            // Interims may queue behind the running call (they then run together, one batch),
            // but not behind finals that are waiting.
            let busy = self.setup.scheduler.waiting_due_windows() > 0;
            live.push(samples, &self.policy, busy, &mut cuts);
            for cut in cuts.drain(..) {
                self.on_cut(ch as u16, channels, cut, false);
            }
        }
        self.cuts = cuts;
        self.chunk = chunk;
    }

    fn on_cut(&mut self, channel: u16, channels: u16, cut: Cut, from_finalize: bool) {
        match cut {
            Cut::SpeechStarted { sample } => {
                if self.setup.params.vad_events {
                    let msg = ServerMessage::SpeechStarted(SpeechStarted {
                        channel: [channel, channels],
                        timestamp: (sample as f64 / f64::from(self.ctx.engine_rate_hz)) as f32,
                    });
                    self.pending
                        .push_back(Box::pin(async move { Outgoing::Message(msg) }));
                }
            }
            Cut::Interim {
                segment,
                silent,
                prefix,
                pause,
                context,
            } => {
                let live = self.channels.get(usize::from(channel));
                let kind = Kind {
                    is_final: false,
                    speech_final: false,
                    from_finalize: false,
                    decode: true,
                    interim: live.map(LiveChannel::interim),
                    silent,
                    due: pause,
                    history: None,
                };
                self.submit(channel, channels, segment, kind, (prefix, context));
            }
            Cut::Final {
                segment,
                speech_final,
                decode,
                reuse,
                awaited,
                prefix,
                context,
            } => {
                // The segment's last interim: stale if this final decodes the audio again.
                let stale = self
                    .channels
                    .get_mut(usize::from(channel))
                    .and_then(|l| l.pending_interim.take());
                let kind = Kind {
                    is_final: true,
                    speech_final,
                    from_finalize,
                    decode,
                    interim: None,
                    silent: false,
                    due: true,
                    history: self
                        .channels
                        .get(usize::from(channel))
                        .map(LiveChannel::history),
                };
                match (reuse, awaited) {
                    (Some(t), _) => self.ready_results(channel, channels, &segment, &kind, &t),
                    (None, Some(live::Awaited(result))) if decode => {
                        let info = Self::window_info(channel, channels, &segment, &kind);
                        let ctx = Arc::clone(&self.ctx);
                        let history = kind.history.clone();
                        self.pending.push_back(Box::pin(async move {
                            match result.await {
                                Ok(mut t) => {
                                    let duration_s =
                                        info.samples as f32 / ctx.engine_rate_hz as f32;
                                    live::keep_within(&mut t, duration_s);
                                    if let Some(Ok(mut h)) = history.as_ref().map(|h| h.lock()) {
                                        let end = info.start_sample + info.samples as u64;
                                        h.decoded(info.start_sample, end, &t.words);
                                    }
                                    Outgoing::Message(ServerMessage::Results(ctx.results(info, &t)))
                                }
                                Err(e) => Outgoing::EngineFailed(e),
                            }
                        }));
                    }
                    (None, _) => {
                        if let Some(stale) = stale {
                            stale.cancel();
                        }
                        self.submit(channel, channels, segment, kind, (prefix, context));
                    }
                }
            }
        }
    }

    /// Flush audio held anywhere in the pipeline and transcribe it now.
    /// `from_finalize`: the last window of each channel answers a `Finalize` (sent even if empty).
    fn flush(&mut self, channel: Option<u16>, from_finalize: bool) {
        copy_into(
            &mut self.chunk,
            self.pipeline.flush(channel.map(usize::from)),
        );
        self.feed();
        let channels = self.output_channels();
        for ch in 0..channels {
            if channel.is_some_and(|c| c != ch) {
                continue;
            }
            let Some(live) = self.channels.get_mut(usize::from(ch)) else {
                continue;
            };
            let cut = live.finalize();
            if matches!(&cut, Cut::Final { segment, .. } if segment.samples.is_empty())
                && !from_finalize
            {
                continue;
            }
            self.on_cut(ch, channels, cut, from_finalize);
        }
    }

    fn window_info(channel: u16, channels: u16, segment: &Segment, kind: &Kind) -> WindowInfo {
        WindowInfo {
            channel,
            channels,
            start_sample: segment.start_sample,
            samples: segment.samples.len(),
            from_finalize: kind.from_finalize,
            is_final: kind.is_final,
            speech_final: kind.speech_final,
        }
    }

    /// Queue a Results whose transcript is already known (no model run).
    fn ready_results(
        &mut self,
        channel: u16,
        channels: u16,
        segment: &Segment,
        kind: &Kind,
        t: &hark_asr::Transcript,
    ) {
        let info = Self::window_info(channel, channels, segment, kind);
        let msg = ServerMessage::Results(self.ctx.results(info, t));
        self.pending
            .push_back(Box::pin(async move { Outgoing::Message(msg) }));
    }

    /// Decode `segment` (`prefix`: words it is known to begin with; `context`: what came
    /// before it) and queue its Results.
    fn submit(
        &mut self,
        channel: u16,
        channels: u16,
        segment: Segment,
        kind: Kind,
        (prefix, context): (String, hark_asr::WindowContext),
    ) {
        if segment.samples.is_empty() || !kind.decode {
            let empty = hark_asr::Transcript::default();
            self.ready_results(channel, channels, &segment, &kind, &empty);
            return;
        }
        let info = Self::window_info(channel, channels, &segment, &kind);
        let ctx = Arc::clone(&self.ctx);
        let covered = (segment.start_sample, segment.samples.len());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut options = self.options.clone();
        options.prefix = prefix;
        options.context = context;
        let window = AudioWindow {
            samples: segment.samples,
            options,
            withdrawn: None,
        };
        // A final's words become context for the channel's next decodes as soon as they exist.
        let history = kind.history.clone();
        let reply: hark_asr::Reply = Box::new(move |r| {
            if let (Ok(t), Some(Ok(mut h))) = (&r, history.as_ref().map(|h| h.lock())) {
                h.decoded(covered.0, covered.0 + covered.1 as u64, &t.words);
            }
            let _ = tx.send(r);
        });
        // Finals first: an interim may wait behind them (a later one supersedes it anyway).
        let submitted = if kind.due {
            self.setup.scheduler.submit(window, reply).map(|()| None)
        } else {
            self.setup
                .scheduler
                .submit_deferrable(window, reply)
                .map(Some)
        };
        let interim = kind.interim;
        let silent = kind.silent;
        let fut: Pending = match submitted {
            Ok(cancel) => {
                if let (Some(c), Some(live)) =
                    (&cancel, self.channels.get_mut(usize::from(channel)))
                {
                    live.pending_interim = Some(c.clone());
                }
                // Shared, so that a final may await this interim's transcript too.
                let result: live::InterimResult = async move {
                    match rx.await {
                        Ok(Ok(t)) => Ok(t),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("the engine dropped the window".to_owned()),
                    }
                }
                .boxed()
                .shared();
                if let Some(i) = &interim {
                    i.started(covered.0, covered.1, result.clone());
                }
                Box::pin(async move {
                    let result = result.await;
                    if let Some(i) = &interim {
                        i.finished(covered.0, covered.1, result.as_ref().ok());
                    }
                    match result {
                        Ok(_) if silent => Outgoing::Nothing,
                        Ok(t) => Outgoing::Message(ServerMessage::Results(ctx.results(info, &t))),
                        // Withdrawn in favour of a final over the same audio: nothing to send.
                        Err(_) if cancel.as_ref().is_some_and(hark_asr::Cancel::is_cancelled) => {
                            Outgoing::Nothing
                        }
                        Err(e) => Outgoing::EngineFailed(e),
                    }
                })
            }
            Err(e) => {
                if let Some(i) = &interim {
                    i.finished(covered.0, covered.1, None);
                }
                Box::pin(async move { Outgoing::EngineFailed(e.to_string()) })
            }
        };
        self.pending.push_back(fut);
    }

    /// Remember where the last recognised word of a channel ended (for `UtteranceEnd`).
    fn note_words(&mut self, msg: &ServerMessage) {
        let ServerMessage::Results(r) = msg else {
            return;
        };
        let last = r
            .channel
            .alternatives
            .first()
            .and_then(|a| a.words.last())
            .map(|w| f64::from(w.end));
        let Some(live) = self.channels.get_mut(usize::from(r.channel_index[0])) else {
            return;
        };
        live.decoded_until_s = live
            .decoded_until_s
            .max(f64::from(r.start) + f64::from(r.duration));
        if let Some(end) = last {
            live.last_word_end_s = Some(end);
            live.utterance_open = true;
        }
    }

    /// `UtteranceEnd` for the first channel known to hold no words for `utterance_end_ms` after
    /// its last word, once every result in flight has been sent (so it follows the words it ends).
    fn utterance_end(&mut self) -> Option<ServerMessage> {
        let gap_s = f64::from(self.setup.params.utterance_end_ms?) / 1000.0;
        if !self.pending.is_empty() {
            return None;
        }
        let rate_hz = self.ctx.engine_rate_hz;
        let channels = self.channels.len() as u16;
        for (ch, live) in self.channels.iter_mut().enumerate() {
            let Some(end) = live.last_word_end_s.filter(|_| live.utterance_open) else {
                continue;
            };
            if live.known_until_s(rate_hz) - end >= gap_s {
                live.utterance_open = false;
                return Some(ServerMessage::UtteranceEnd(UtteranceEnd {
                    channel: [ch as u16, channels],
                    last_word_end: end as f32,
                }));
            }
        }
        None
    }

    /// Handle a text frame: `Ok(Some(reply))` to answer now, `Err(end)` to end the session.
    fn on_control(&mut self, text: &str) -> Result<Option<ServerMessage>, End> {
        match parse_control(text) {
            Ok(ControlMessage::KeepAlive) => Ok(None),
            Ok(ControlMessage::CloseStream) => Err(End::close_stream(close::NORMAL)),
            Ok(ControlMessage::Finalize { channel }) => {
                let channels = self.output_channels();
                if let Some(c) = channel.filter(|c| *c >= channels) {
                    return Ok(Some(error_message(
                        "SchemaError",
                        format!("Finalize channel {c} does not exist; this stream has {channels}"),
                        Some(text),
                        None,
                    )));
                }
                self.flush(channel, true);
                Ok(None)
            }
            Ok(ControlMessage::Configure {
                features: _,
                keyterms,
            }) => {
                if let Some(k) = &keyterms {
                    self.options.keyterms = k.clone();
                }
                Ok(Some(ServerMessage::ConfigureSuccess(ConfigureSuccess {
                    request_id: self.ctx.request_id.clone(),
                    keyterms: keyterms.map(|_| self.options.keyterms.clone()),
                })))
            }
            Ok(ControlMessage::Sync { id }) => Ok(Some(ServerMessage::Sync(SyncReply { id }))),
            Err(e) => Ok(Some(error_message(
                "SchemaError",
                e.to_string(),
                Some(text),
                None,
            ))),
        }
    }

    async fn finish(&mut self, socket: &mut WebSocket, mut end: End) {
        if end.flush {
            // A compressed stream's decoder gives up its last frames only once it sees the end,
            // and a container too broken to read may only say so then.
            match self.pipeline.end_input() {
                Ok(tail) => copy_into(&mut self.chunk, tail),
                Err(e) if end.code == close::NORMAL => {
                    let msg = error_message("DataError", e.to_string(), None, Some("DATA-0000"));
                    let _ = send(socket, &msg).await;
                    end.code = close::DATA_ERROR;
                    end.reason = close::data0000_reason(&e.to_string());
                }
                Err(e) => {
                    tracing::info!(request_id = %self.ctx.request_id, error = %e, "the audio's last bytes did not decode")
                }
            }
            self.feed();
            self.flush(None, false);
        }
        let mut engine_failed = false;
        while let Some(out) = self.pending.next().await {
            match out {
                Outgoing::Message(msg) => {
                    if send(socket, &msg).await.is_err() {
                        return;
                    }
                }
                Outgoing::Nothing => {}
                Outgoing::EngineFailed(_) => engine_failed = true,
            }
        }
        let (code, reason) = if engine_failed && end.code == close::NORMAL {
            (close::INTERNAL, close::NET0000_REASON.to_owned())
        } else {
            (end.code, end.reason)
        };
        let duration_s = self.pipeline.duration_s();
        let channels = self
            .pipeline
            .spec()
            .map_or(self.setup.params.channels, |s| s.channels);
        let sha = end
            .complete
            .then(|| hex(&std::mem::take(&mut self.hasher).finalize()));
        let meta = ServerMessage::Metadata(self.ctx.metadata(
            self.setup.created,
            sha,
            duration_s,
            channels,
        ));
        metrics::counter!(m::AUDIO_RECEIVED_SECONDS_TOTAL).increment(duration_s.round() as u64);
        metrics::counter!(m::AUDIO_RECEIVED_BYTES_TOTAL).increment(self.pipeline.bytes_received());
        metrics::counter!(m::SESSIONS_CLOSED_TOTAL, "code" => code.to_string()).increment(1);
        tracing::info!(request_id = %self.ctx.request_id, code, duration_s, skipped_packets = self.pipeline.skipped_packets(), "stream closed");
        if send(socket, &meta).await.is_err() {
            return;
        }
        let frame = CloseFrame {
            code,
            reason: close::truncate_reason(&reason).into(),
        };
        let sent = socket.send(Message::Close(Some(frame))).await;
        // The stream is over: free its engine slots now, not after the client's close reply.
        self.setup.slots.clear();
        if sent.is_err() {
            return;
        }
        // Wait briefly for the client's close reply so the closing handshake completes.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(m)) = socket.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
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

async fn send(socket: &mut WebSocket, msg: &ServerMessage) -> Result<(), axum::Error> {
    if matches!(msg, ServerMessage::Results(_)) {
        metrics::counter!(m::RESULTS_SENT_TOTAL).increment(1);
    }
    socket.send(Message::Text(msg.to_json().into())).await
}

/// Copy per-channel samples into `dst`, reusing its allocations.
fn copy_into(dst: &mut Vec<Vec<f32>>, src: &[Vec<f32>]) {
    dst.resize_with(src.len(), Vec::new);
    for (d, s) in dst.iter_mut().zip(src) {
        d.clear();
        d.extend_from_slice(s);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
