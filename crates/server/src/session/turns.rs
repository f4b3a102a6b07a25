//! Flux (`/v2/listen`) in a session: the same audio path, live policy and engine as
//! `/v1/listen`, with the results turned into turns ([`hark_live::TurnTracker`]) and sent as
//! `TurnInfo` messages, every server message numbered by `sequence_id` (docs/FLUX.md).

use super::outbox::Outgoing;
use super::{send_text, End, Session, Socket, Stop};
use hark_asr::{Transcript, WordTiming};
use hark_live::{ResultSpan, Step, Thresholds, TurnEvent, TurnEventKind, TurnTracker};
use hark_proto::{
    close, parse_flux_control, FluxControl, FluxMessage, FluxParams, FluxThresholds, FluxWord,
    TurnInfo,
};

/// How often an open turn gets an `Update` (audio time), with the latest words.
pub const UPDATE_MS: u32 = 250;
/// How often the words are decoded anew while someone speaks. Slower than the Updates: on a CPU
/// one decode of tiny.en takes about 250 ms, and the decode that ends a turn must not queue
/// behind an interim.
pub const DECODE_EVERY_MS: u32 = 500;
/// Quiet after speech that starts the decode of a pause (see `LiveConfig::early_pause_ms`).
pub const EARLY_PAUSE_MS: u32 = 64;

/// The `Error` code (and close reason prefix) for a text frame that is no Flux message.
const UNPARSABLE: &str = "UNPARSABLE_CLIENT_MESSAGE";

/// What a Flux session keeps besides the v1 machinery.
pub struct FluxState {
    pub params: FluxParams,
    /// The next message's `sequence_id`.
    sequence: u64,
    /// The language of the latest words (`flux-general-multi`).
    language: Option<String>,
}

pub fn thresholds(t: FluxThresholds) -> Thresholds {
    Thresholds {
        eot: t.eot_threshold,
        eager: t.eager_eot_threshold,
        timeout_ms: t.eot_timeout_ms,
    }
}

impl FluxState {
    pub fn new(params: FluxParams) -> Self {
        Self {
            params,
            sequence: 0,
            language: None,
        }
    }

    pub fn tracker(&self, rate_hz: u32) -> TurnTracker {
        TurnTracker::new(rate_hz, UPDATE_MS, thresholds(self.params.thresholds))
    }
}

/// The close code's `Error` code and description for a Flux client (none for a clean close).
fn fatal(end: &End) -> Option<FluxMessage> {
    let code = match end.code {
        close::NORMAL | close::GOING_AWAY => return None,
        close::DATA_ERROR if end.reason.starts_with(UNPARSABLE) => UNPARSABLE,
        close::DATA_ERROR => "UNPARSABLE_AUDIO",
        close::MESSAGE_TOO_BIG => "MESSAGE_TOO_BIG",
        _ if end.reason == close::NET0001_REASON => "TIMEOUT",
        _ => "INTERNAL_SERVER_ERROR",
    };
    Some(FluxMessage::error(code, end.reason.clone()))
}

impl Session {
    pub(super) fn is_flux(&self) -> bool {
        self.flux.is_some()
    }

    /// Send one Flux message, numbered.
    pub(super) async fn send_flux(
        &mut self,
        socket: &mut impl Socket,
        mut msg: FluxMessage,
    ) -> Result<(), Stop> {
        let Some(flux) = self.flux.as_mut() else {
            return Ok(());
        };
        msg.set_sequence_id(flux.sequence);
        flux.sequence += 1;
        send_text(socket, msg.to_json(), self.send_timeout)
            .await
            .map_err(|_| Stop::Gone)
    }

    /// `Connected`, the first message of a Flux session.
    pub(super) async fn connected(&mut self, socket: &mut impl Socket) -> Result<(), Stop> {
        let msg = FluxMessage::Connected {
            request_id: self.ctx.request_id.clone(),
            sequence_id: 0,
        };
        self.send_flux(socket, msg).await
    }

    /// A result of the live policy, as the turn tracker sees it: the words as written (with the
    /// request's text features) on the stream's clock.
    pub(super) fn render_turn(&mut self, span: ResultSpan, transcript: Transcript) -> Outgoing {
        let window = self.ctx.window(span);
        let Some(flux) = self.flux.as_mut() else {
            return Outgoing::Nothing;
        };
        if transcript.language.is_some() {
            flux.language.clone_from(&transcript.language);
        }
        // One stream, one channel: the session's first channel's redaction counters.
        let counters = match span.is_final {
            true => self.counters.first_mut(),
            false => None,
        };
        let rendered = hark_text::render(&transcript, window, &self.text, counters);
        let words = rendered
            .alternative
            .words
            .into_iter()
            .map(|w| WordTiming {
                text: w.punctuated_word.unwrap_or(w.word),
                start_s: w.start,
                end_s: w.end,
                confidence: w.confidence,
            })
            .collect();
        let Some(turns) = self.stage.as_mut().and_then(|s| s.turns.as_mut()) else {
            return Outgoing::Nothing;
        };
        Outgoing::Turn(turns.on_result(span.start_sample, span.samples, span.is_final, words))
    }

    fn turn_info(&self, e: TurnEvent) -> FluxMessage {
        let flux = self.flux.as_ref();
        let transcript = e
            .words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let multilingual = flux.is_some_and(|f| f.params.multilingual());
        let hints = flux
            .map(|f| f.params.language_hints.clone())
            .unwrap_or_default();
        FluxMessage::TurnInfo(TurnInfo {
            request_id: self.ctx.request_id.clone(),
            sequence_id: 0,
            event: e.kind.as_str().to_owned(),
            turn_index: e.turn_index,
            audio_window_start: round_ms(e.start_s),
            audio_window_end: round_ms(e.end_s),
            transcript,
            words: e
                .words
                .into_iter()
                .map(|w| FluxWord {
                    word: w.text,
                    confidence: w.confidence,
                    start: Some(round_ms(f64::from(w.start_s))),
                    end: Some(round_ms(f64::from(w.end_s))),
                })
                .collect(),
            end_of_turn_confidence: (e.confidence * 1000.0).round() / 1000.0,
            trigger: match e.kind {
                TurnEventKind::EndOfTurn(t) => Some(t.as_str().to_owned()),
                _ => None,
            },
            languages: multilingual
                .then(|| flux.and_then(|f| f.language.clone()).into_iter().collect()),
            languages_hinted: (!hints.is_empty()).then_some(hints),
        })
    }

    /// Send turn events; when the tracker ends a turn, finalize its segment (the `EndOfTurn`
    /// follows with that final).
    pub(super) async fn send_turns(
        &mut self,
        socket: &mut impl Socket,
        step: Step,
    ) -> Result<(), Stop> {
        for e in step.events {
            let msg = self.turn_info(e);
            self.send_flux(socket, msg).await?;
        }
        if step.finalize {
            let busy = self.engine_busy();
            let decisions = self
                .audio(move |a| a.flush(Some(0), true, busy))
                .await
                .ok_or_else(|| End::internal(close::NET0000_REASON))?;
            self.apply(decisions);
        }
        Ok(())
    }

    /// Turn events the audio decided (pushed by [`super::audio::AudioStage`]).
    pub(super) async fn send_audio_turns(&mut self, socket: &mut impl Socket) -> Result<(), Stop> {
        let events = self
            .stage
            .as_mut()
            .map(|s| std::mem::take(&mut s.turn_events))
            .unwrap_or_default();
        self.send_turns(
            socket,
            Step {
                events,
                finalize: false,
            },
        )
        .await
    }

    /// A text frame on `/v2/listen`.
    pub(super) async fn on_flux_control(
        &mut self,
        text: &str,
        socket: &mut impl Socket,
    ) -> Result<(), Stop> {
        let control = match parse_flux_control(text) {
            Ok(c) => c,
            Err(e) => {
                // Deepgram's Flux closes on a message it cannot parse.
                return Err(End {
                    code: close::DATA_ERROR,
                    reason: format!("{UNPARSABLE}: {e}"),
                    complete: true,
                    flush: true,
                }
                .into());
            }
        };
        match control {
            FluxControl::KeepAlive => Ok(()),
            FluxControl::CloseStream => Err(End::close_stream(close::NORMAL).into()),
            FluxControl::ForceEndTurn => {
                let busy = self.engine_busy();
                let decisions = self
                    .audio(move |a| a.force_end_turn(busy))
                    .await
                    .ok_or_else(|| End::internal(close::NET0000_REASON))?;
                self.apply(decisions);
                self.send_audio_turns(socket).await
            }
            FluxControl::Configure(c) => {
                let Some(flux) = self.flux.as_mut() else {
                    return Ok(());
                };
                let hints_ok = c.language_hints.is_none() || flux.params.multilingual();
                let reply = match flux.params.thresholds.updated(c.thresholds) {
                    Ok(t) if hints_ok => {
                        flux.params.thresholds = t;
                        if let Some(k) = c.keyterms {
                            self.options.keyterms = k;
                        }
                        if let Some(h) = c.language_hints {
                            self.options.language_candidates.clone_from(&h);
                            flux.params.language_hints = h;
                        }
                        if let Some(n) = c.numerals {
                            self.text.numerals = n;
                        }
                        if let Some(turns) = self.stage.as_mut().and_then(|s| s.turns.as_mut()) {
                            turns.set_thresholds(thresholds(t));
                        }
                        FluxMessage::ConfigureSuccess {
                            request_id: self.ctx.request_id.clone(),
                            thresholds: t,
                            keyterms: self.options.keyterms.clone(),
                            language_hints: flux
                                .params
                                .multilingual()
                                .then(|| flux.params.language_hints.clone()),
                            sequence_id: 0,
                        }
                    }
                    Ok(_) | Err(_) => FluxMessage::ConfigureFailure {
                        request_id: self.ctx.request_id.clone(),
                        sequence_id: 0,
                    },
                };
                self.send_flux(socket, reply).await
            }
        }
    }

    /// The end of a Flux session, once every result is out: a last `Update` for an open turn
    /// (`CloseStream` ends no turn), then a fatal `Error` when the close is not a clean one.
    pub(super) async fn finish_turns(
        &mut self,
        socket: &mut impl Socket,
        end: &End,
    ) -> Result<(), Stop> {
        let last = self
            .stage
            .as_mut()
            .and_then(|s| s.turns.as_mut())
            .map(TurnTracker::close)
            .unwrap_or_default();
        self.send_turns(
            socket,
            Step {
                events: last.events,
                finalize: false,
            },
        )
        .await?;
        match fatal(end) {
            Some(msg) => self.send_flux(socket, msg).await,
            None => Ok(()),
        }
    }
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}
