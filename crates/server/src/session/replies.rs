//! The engine's side of a session: carrying out the live policy's decisions (decodes submitted to
//! the scheduler, withdrawals, results that are known at once or await a decode) and taking the
//! engine's replies back to the policy and into the outbox.

use super::outbox::Outgoing;
use super::{EngineReply, Session};
use crate::reply::ReplyTo;
use hark_asr::{AudioWindow, Transcript};
use hark_live::{Decision, DecodeRequest, Priority, ResultSpan};
use hark_proto::{ServerMessage, SpeechStarted};

impl Session {
    /// Carry out the live policy's decisions, in order.
    pub(super) fn apply(&mut self, decisions: Vec<Decision>) {
        let channels = self.stage.as_ref().map_or(0, |s| s.live.channels());
        for d in decisions {
            match d {
                Decision::SpeechStarted { channel, sample } => {
                    let msg = ServerMessage::SpeechStarted(SpeechStarted {
                        channel: [channel, channels],
                        timestamp: (sample as f64 / f64::from(self.ctx.engine_rate_hz)) as f32,
                    });
                    self.outbox.ready(Outgoing::Message(msg));
                }
                Decision::Withdraw(ticket) => {
                    if let Some(c) = self.cancels.get(&ticket) {
                        c.cancel();
                    }
                }
                Decision::Decode { request, result } => self.submit(request, result),
                Decision::Known { result, transcript } => {
                    self.outbox.ready(Outgoing::Transcript {
                        span: result,
                        transcript,
                    });
                }
                Decision::Await { ticket, result, .. } => self.outbox.wait(ticket, result),
            }
        }
    }

    /// Queue a decode for the engine; its reply comes back through `self.replies`.
    fn submit(&mut self, request: DecodeRequest, result: Option<ResultSpan>) {
        let ticket = request.ticket;
        match result {
            Some(span) => self.outbox.wait(ticket, span),
            None => {
                self.silent.insert(ticket);
                if request.ahead {
                    self.ahead.insert(ticket);
                }
            }
        }
        let mut options = self.options.clone();
        options.known_start = request.known_start;
        options.context = request.context;
        options.stream = Some(hark_asr::StreamKey {
            stream: self.stream_base << 16 | u64::from(request.channel),
            segment_start: request.start_sample,
            last: result.is_some_and(|r| r.is_final),
            ahead: request.ahead,
        });
        let window = AudioWindow {
            samples: request.samples,
            options,
            withdrawn: None,
        };
        let reply = ReplyTo::reply(&self.replies_tx, ticket);
        let scheduler = &self.setup.scheduler;
        let submitted = match request.priority {
            Priority::Due => scheduler.submit(window, reply).map(|()| None),
            Priority::Deferrable => scheduler.submit_deferrable(window, reply).map(Some),
        };
        match submitted {
            Ok(Some(cancel)) => {
                self.cancels.insert(ticket, cancel);
            }
            Ok(None) => {}
            // (The reply was dropped unsent, and says so too, later: this answer comes first.)
            Err(e) => self.on_reply((ticket, Err(e.to_string()))),
        }
    }

    /// The engine answered `ticket`: the policy learns it, and the results waiting for it are ready.
    pub(super) fn on_reply(&mut self, (ticket, reply): EngineReply) {
        let withdrawn = self
            .cancels
            .remove(&ticket)
            .is_some_and(|c| c.is_cancelled());
        let silent = self.silent.remove(&ticket);
        let ahead = self.ahead.remove(&ticket);
        let Some(stage) = self.stage.as_mut() else {
            return;
        };
        let awaiting = stage.live.on_transcript(ticket, reply.as_ref().ok());
        let message = |span, t: &Transcript| Outgoing::Transcript {
            span,
            transcript: t.clone(),
        };
        if !silent {
            self.outbox.answer(ticket, |span| match &reply {
                Ok(t) => message(span, t),
                // Withdrawn in favour of a final over the same audio: nothing to send.
                Err(_) if withdrawn => Outgoing::Nothing,
                Err(e) => Outgoing::EngineFailed(e.clone()),
            });
        } else if let (Err(e), false) = (&reply, withdrawn) {
            if ahead {
                tracing::debug!(error = %e, "a window sent ahead was not taken");
            } else {
                self.outbox.ready(Outgoing::EngineFailed(e.clone()));
            }
        }
        for (key, t) in awaiting {
            self.outbox.answer(key, |span| match &t {
                Some(t) => message(span, t),
                None => Outgoing::EngineFailed("the interim it awaited failed".to_owned()),
            });
        }
    }
}
