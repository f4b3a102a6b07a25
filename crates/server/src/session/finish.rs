//! The end of a session: the last audio through the policy, every result still due, then
//! `Metadata` and the close frame (PROTOCOL.md §5).

use super::outbox::Outgoing;
use super::{error_message, send, End, Session, Socket};
use crate::hex;
use crate::metrics as m;
use axum::extract::ws::{CloseFrame, Message};
use futures_util::{SinkExt, StreamExt};
use hark_proto::{close, ServerMessage};
use sha2::Digest;
use std::time::Duration;

impl Session {
    pub(super) async fn finish(&mut self, socket: &mut impl Socket, mut end: End) {
        if end.flush {
            let busy = self.engine_busy();
            match self.audio(move |a| a.end(busy)).await {
                Some((tail, decisions)) => {
                    if let Err(e) = tail {
                        if end.code == close::NORMAL {
                            if !self.is_flux() {
                                let msg = error_message(
                                    "DataError",
                                    e.to_string(),
                                    None,
                                    Some("DATA-0000"),
                                );
                                let _ = send(socket, &msg, self.send_timeout).await;
                            }
                            end.code = close::DATA_ERROR;
                            end.reason = close::data0000_reason(&e.to_string());
                        } else {
                            tracing::info!(request_id = %self.ctx.request_id, error = %e, "the audio's last bytes did not decode");
                        }
                    }
                    self.apply(decisions);
                }
                None => end = End::internal(close::NET0000_REASON),
            }
        }
        let mut engine_failed = false;
        loop {
            while let Some(out) = self.outbox.pop_ready() {
                match self.render(out) {
                    Outgoing::Message(msg) => {
                        if send(socket, &msg, self.send_timeout).await.is_err() {
                            return;
                        }
                    }
                    // The stream ends: no turn is cut any more.
                    Outgoing::Turn(mut step) => {
                        step.finalize = false;
                        if self.send_turns(socket, step).await.is_err() {
                            return;
                        }
                    }
                    Outgoing::Nothing | Outgoing::Transcript { .. } => {}
                    Outgoing::EngineFailed(_) => engine_failed = true,
                }
            }
            if self.outbox.is_empty() && self.silent.is_empty() {
                // Finals held for an unfinished entity go out as they are.
                if self.release_holds(socket, None).await.is_err() {
                    return;
                }
                break;
            }
            match self.replies.recv().await {
                Some(reply) => self.on_reply(reply),
                None => break,
            }
        }
        let (code, reason) = if engine_failed && end.code == close::NORMAL {
            (close::INTERNAL, close::NET0000_REASON.to_owned())
        } else {
            (end.code, end.reason)
        };
        let Some(stage) = self.stage.as_ref() else {
            return;
        };
        let pipeline = &stage.pipeline;
        let duration_s = pipeline.duration_s();
        let channels = pipeline
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
        metrics::counter!(m::AUDIO_RECEIVED_BYTES_TOTAL).increment(pipeline.bytes_received());
        metrics::counter!(m::SESSIONS_CLOSED_TOTAL, "code" => code.to_string()).increment(1);
        tracing::info!(request_id = %self.ctx.request_id, code, duration_s, skipped_packets = pipeline.skipped_packets(), "stream closed");
        let said = match self.is_flux() {
            // Flux has no Metadata: the last TurnInfo's `audio_window_end` accounts for the audio.
            true => {
                let end = End {
                    code,
                    reason: reason.clone(),
                    complete: true,
                    flush: false,
                };
                self.finish_turns(socket, &end).await.is_ok()
            }
            false => send(socket, &meta, self.send_timeout).await.is_ok(),
        };
        if !said {
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
            while let Some(Ok(m)) = socket.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}
