//! The session's messages in the order the live policy decided them: each waits for its
//! transcript (a decode, or an interim a final awaits), then goes out once all before it have.

use hark_asr::Transcript;
use hark_live::{ResultSpan, Ticket};
use hark_proto::ServerMessage;
use std::collections::VecDeque;

/// A message that is ready to go (or nothing to send).
pub enum Outgoing {
    Message(ServerMessage),
    /// A Results to be made from this transcript when it is sent.
    Transcript {
        span: ResultSpan,
        transcript: Transcript,
    },
    /// Flux: what a result did to the turn (events to send, perhaps a turn to end).
    Turn(hark_live::Step),
    /// A withdrawn interim: nothing to send.
    Nothing,
    EngineFailed(String),
}

enum Slot {
    /// (Boxed: a Results is far larger than a waiting slot.)
    Ready(Box<Outgoing>),
    /// Waits for the transcript answered under `ticket`.
    Waiting { ticket: Ticket, span: ResultSpan },
}

#[derive(Default)]
pub struct Outbox {
    slots: VecDeque<Slot>,
}

impl Outbox {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn ready(&mut self, out: Outgoing) {
        self.slots.push_back(Slot::Ready(Box::new(out)));
    }

    pub fn wait(&mut self, ticket: Ticket, span: ResultSpan) {
        self.slots.push_back(Slot::Waiting { ticket, span });
    }

    /// The slot waiting for `ticket` gets its message, made from its span.
    pub fn answer(&mut self, ticket: Ticket, make: impl FnOnce(ResultSpan) -> Outgoing) {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| matches!(s, Slot::Waiting { ticket: t, .. } if *t == ticket));
        if let Some(slot) = slot {
            let Slot::Waiting { span, .. } = *slot else {
                return;
            };
            *slot = Slot::Ready(Box::new(make(span)));
        }
    }

    /// The next message, if it and everything before it are ready.
    pub fn pop_ready(&mut self) -> Option<Outgoing> {
        match self.slots.front() {
            Some(Slot::Ready(_)) => match self.slots.pop_front() {
                Some(Slot::Ready(out)) => Some(*out),
                _ => None,
            },
            _ => None,
        }
    }
}
