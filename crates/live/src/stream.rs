//! [`LiveStream`]: the channels of one connection, the decodes they asked for, and the results
//! that await them.

use crate::agree::keep_within;
use crate::channel::{Answer, Channel, Cut};
use crate::decision::{Decision, DecodeRequest, LiveConfig, Priority, ResultSpan, Ticket};
use hark_asr::Transcript;
use hark_vad::Vad;
use std::collections::HashMap;

/// A decode in flight, and what its answer updates.
#[derive(Debug, Clone, Copy)]
enum InFlight {
    Interim {
        channel: u16,
        start: u64,
        len: usize,
    },
    Final {
        channel: u16,
        start: u64,
        end: u64,
    },
    Ahead {
        channel: u16,
    },
}

/// A final that takes the transcript of an interim in flight.
#[derive(Debug, Clone, Copy)]
struct Awaiting {
    from: Ticket,
    ticket: Ticket,
    channel: u16,
    start: u64,
    end: u64,
}

type VadFactory = Box<dyn Fn() -> Vad + Send>;

/// The live policy of one connection (see the crate docs).
pub struct LiveStream {
    config: LiveConfig,
    channels: Vec<Channel>,
    next_ticket: Ticket,
    in_flight: HashMap<Ticket, InFlight>,
    awaiting: Vec<Awaiting>,
    cuts: Vec<Cut>,
    vad: Option<VadFactory>,
}

impl LiveStream {
    /// A stream with the bundled VAD (when `config.vad`).
    pub fn new(config: LiveConfig) -> Self {
        let vad: Option<VadFactory> = config.vad.then(|| Box::new(Vad::earshot) as VadFactory);
        Self::build(config, vad)
    }

    /// A stream whose channels each get a VAD from `vad` (tests script one).
    pub fn with_vad(config: LiveConfig, vad: impl Fn() -> Vad + Send + 'static) -> Self {
        Self::build(config, Some(Box::new(vad)))
    }

    fn build(config: LiveConfig, vad: Option<VadFactory>) -> Self {
        Self {
            config,
            channels: Vec::new(),
            next_ticket: 0,
            in_flight: HashMap::new(),
            awaiting: Vec::new(),
            cuts: Vec::new(),
            vad,
        }
    }

    pub fn config(&self) -> &LiveConfig {
        &self.config
    }

    /// Channels so far.
    pub fn channels(&self) -> u16 {
        self.channels.len() as u16
    }

    /// Make sure there are at least `n` channels (a container's header may name them late).
    pub fn ensure_channels(&mut self, n: usize) {
        while self.channels.len() < n {
            let vad = self.vad.as_ref().map(|f| f());
            self.channels.push(Channel::new(&self.config, vad));
        }
    }

    #[cfg(test)]
    pub(crate) fn channel_mut(&mut self, ch: usize) -> &mut Channel {
        &mut self.channels[ch]
    }

    /// What the VAD of `channel` knows now, and the channel's clock (for [`crate::TurnTracker`]).
    pub fn speech_state(&self, channel: u16) -> crate::SpeechState {
        self.channels
            .get(usize::from(channel))
            .map_or_else(crate::SpeechState::default, Channel::speech_state)
    }

    /// Decodes asked for and not answered yet.
    pub fn decodes_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Add engine-rate audio, one slice per channel. `engine_busy`: finals are waiting for the
    /// model (interims hold back).
    pub fn push(&mut self, chunk: &[Vec<f32>], engine_busy: bool) -> Vec<Decision> {
        self.ensure_channels(chunk.len());
        let mut out = Vec::new();
        let mut busy = engine_busy;
        let mut cuts = std::mem::take(&mut self.cuts);
        for (ch, samples) in chunk.iter().enumerate() {
            cuts.clear();
            let final_pending = self.final_pending(ch as u16);
            self.channels[ch].push(samples, &self.config, busy, final_pending, &mut cuts);
            for cut in cuts.drain(..) {
                self.decide(ch as u16, cut, false, &mut out);
            }
            // A final decided here waits for the model now: later channels' interims hold back.
            busy |= out.iter().any(|d| {
                matches!(d, Decision::Decode { request, .. } if request.priority == Priority::Due)
            });
        }
        self.cuts = cuts;
        out
    }

    /// Whether a final of `channel` is unanswered: decoding, or awaiting an interim.
    fn final_pending(&self, channel: u16) -> bool {
        self.in_flight
            .values()
            .any(|f| matches!(f, InFlight::Final { channel: c, .. } if *c == channel))
            || self.awaiting.iter().any(|a| a.channel == channel)
    }

    /// Close the open segment of `channel` (all: `None`) now. `from_finalize`: answering a
    /// `Finalize` (its final is sent even when empty); otherwise the end of the stream.
    pub fn finalize(&mut self, channel: Option<u16>, from_finalize: bool) -> Vec<Decision> {
        let mut out = Vec::new();
        for ch in 0..self.channels() {
            if channel.is_some_and(|c| c != ch) {
                continue;
            }
            let cut = self.channels[usize::from(ch)].finalize();
            if matches!(&cut, Cut::Final { segment, .. } if segment.samples.is_empty())
                && !from_finalize
            {
                continue;
            }
            self.decide(ch, cut, from_finalize, &mut out);
        }
        out
    }

    /// The end of the stream: every channel's open segment is closed (nothing for one without
    /// audio).
    pub fn close(&mut self) -> Vec<Decision> {
        self.finalize(None, false)
    }

    fn ticket(&mut self) -> Ticket {
        self.next_ticket += 1;
        self.next_ticket
    }

    fn decide(&mut self, channel: u16, cut: Cut, from_finalize: bool, out: &mut Vec<Decision>) {
        match cut {
            Cut::SpeechStarted { sample } => {
                if self.config.vad_events {
                    out.push(Decision::SpeechStarted { channel, sample });
                }
            }
            Cut::Interim {
                segment,
                silent,
                prefix,
                pause,
                context,
            } => {
                let ticket = self.ticket();
                let (start, len) = (segment.start_sample, segment.samples.len());
                let priority = if pause {
                    Priority::Due
                } else {
                    Priority::Deferrable
                };
                self.channels[usize::from(channel)].interim_started(
                    ticket,
                    start,
                    len,
                    priority == Priority::Deferrable,
                );
                self.in_flight.insert(
                    ticket,
                    InFlight::Interim {
                        channel,
                        start,
                        len,
                    },
                );
                let result = (!silent).then_some(ResultSpan {
                    channel,
                    start_sample: start,
                    samples: len,
                    is_final: false,
                    speech_final: false,
                    from_finalize: false,
                });
                out.push(Decision::Decode {
                    request: DecodeRequest {
                        ticket,
                        channel,
                        start_sample: start,
                        samples: segment.samples,
                        known_start: prefix,
                        context,
                        priority,
                        ahead: false,
                    },
                    result,
                });
            }
            Cut::Ahead { segment, context } => {
                let ticket = self.ticket();
                self.channels[usize::from(channel)].ahead_started(ticket);
                self.in_flight.insert(ticket, InFlight::Ahead { channel });
                out.push(Decision::Decode {
                    request: DecodeRequest {
                        ticket,
                        channel,
                        start_sample: segment.start_sample,
                        samples: segment.samples,
                        known_start: String::new(),
                        context,
                        priority: Priority::Deferrable,
                        ahead: true,
                    },
                    result: None,
                });
            }
            Cut::Final {
                segment,
                speech_final,
                answer,
            } => {
                let (start, len) = (segment.start_sample, segment.samples.len());
                let end = start + len as u64;
                let result = ResultSpan {
                    channel,
                    start_sample: start,
                    samples: len,
                    is_final: true,
                    speech_final,
                    from_finalize,
                };
                // The segment's last deferrable interim: stale if this final decodes anew. What
                // was sent ahead of the segment's decodes is stale in any case.
                let ch = &mut self.channels[usize::from(channel)];
                let stale = ch.take_deferrable();
                if matches!(answer, Answer::Empty | Answer::Decode { .. }) {
                    out.extend(stale.map(Decision::Withdraw));
                }
                out.extend(ch.take_ahead().map(Decision::Withdraw));
                match answer {
                    Answer::Empty => out.push(Decision::Known {
                        result,
                        transcript: Transcript::default(),
                    }),
                    Answer::Reuse(transcript) => out.push(Decision::Known { result, transcript }),
                    Answer::Await(from) => {
                        let ticket = self.ticket();
                        self.awaiting.push(Awaiting {
                            from,
                            ticket,
                            channel,
                            start,
                            end,
                        });
                        out.push(Decision::Await {
                            ticket,
                            from,
                            result,
                        });
                    }
                    Answer::Decode { prefix, context } => {
                        let ticket = self.ticket();
                        self.in_flight.insert(
                            ticket,
                            InFlight::Final {
                                channel,
                                start,
                                end,
                            },
                        );
                        out.push(Decision::Decode {
                            request: DecodeRequest {
                                ticket,
                                channel,
                                start_sample: start,
                                samples: segment.samples,
                                known_start: prefix,
                                context,
                                priority: Priority::Due,
                                ahead: false,
                            },
                            result: Some(result),
                        });
                    }
                }
            }
        }
    }

    /// The decode `ticket` was answered (`None`: the engine failed or it was withdrawn). Returns
    /// the results that awaited it, each under its own ticket, with its transcript (`None`: it
    /// has none, and the engine failed).
    pub fn on_transcript(
        &mut self,
        ticket: Ticket,
        transcript: Option<&Transcript>,
    ) -> Vec<(Ticket, Option<Transcript>)> {
        match self.in_flight.remove(&ticket) {
            Some(InFlight::Interim {
                channel,
                start,
                len,
            }) => {
                if let Some(c) = self.channels.get_mut(usize::from(channel)) {
                    c.interim_finished(ticket, start, len, transcript);
                }
            }
            Some(InFlight::Final {
                channel,
                start,
                end,
            }) => {
                // A final's words become context for the channel's next decodes.
                if let (Some(t), Some(c)) =
                    (transcript, self.channels.get_mut(usize::from(channel)))
                {
                    c.history
                        .decoded(start, end, &t.words, t.language.as_deref());
                }
            }
            Some(InFlight::Ahead { channel }) => {
                if let Some(c) = self.channels.get_mut(usize::from(channel)) {
                    c.ahead_finished(ticket);
                }
            }
            None => {}
        }
        let rate_hz = self.config.rate_hz as f32;
        let mut answered = Vec::new();
        let mut k = 0;
        while k < self.awaiting.len() {
            if self.awaiting[k].from != ticket {
                k += 1;
                continue;
            }
            let a = self.awaiting.remove(k);
            let t = transcript.cloned().map(|mut t| {
                keep_within(&mut t, (a.end - a.start) as f32 / rate_hz);
                if let Some(c) = self.channels.get_mut(usize::from(a.channel)) {
                    c.history
                        .decoded(a.start, a.end, &t.words, t.language.as_deref());
                }
                t
            });
            answered.push((a.ticket, t));
        }
        answered
    }

    /// A result was sent on `channel`: it covered the audio up to `end_s`, and its last word
    /// (if any) ended at `last_word_end_s` (seconds on the channel's clock).
    pub fn on_sent(&mut self, channel: u16, end_s: f64, last_word_end_s: Option<f64>) {
        let Some(c) = self.channels.get_mut(usize::from(channel)) else {
            return;
        };
        c.decoded_until_s = c.decoded_until_s.max(end_s);
        if let Some(end) = last_word_end_s {
            c.last_word_end_s = Some(end);
            c.utterance_open = true;
        }
    }

    /// `UtteranceEnd` (with `utterance_end_ms`) for the first channel known to hold no words for
    /// that long after its last word: (channel, the last word's end in seconds). Ask only once
    /// every result decided has been sent, so that it follows the words it ends.
    pub fn utterance_end(&mut self) -> Option<(u16, f64)> {
        let gap_s = f64::from(self.config.utterance_end_ms?) / 1000.0;
        for (ch, c) in self.channels.iter_mut().enumerate() {
            let Some(end) = c.last_word_end_s.filter(|_| c.utterance_open) else {
                continue;
            };
            if c.known_until_s() - end >= gap_s {
                c.utterance_open = false;
                return Some((ch as u16, end));
            }
        }
        None
    }
}
