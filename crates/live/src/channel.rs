//! The live policy of one channel (see the crate docs for what it decides and why).

use crate::agree::{agreed_cut, keep_within, reaches, Hypothesis};
use crate::decision::{LiveConfig, Ticket};
use crate::history::History;
use crate::segmenter::{Segment, Segmenter};
use hark_asr::{Transcript, WindowContext};
use hark_vad::{EndpointEvent, Endpointer, Vad};

/// The stretch of audio whose energy places an endpoint's cut in a pause.
const PAUSE_FRAME_MS: usize = 20;
/// How much of the previous finals' audio (and their words) a decode hears before its segment.
const CONTEXT_S: usize = 8;

/// How a closed segment's final gets its transcript.
#[derive(Debug)]
pub(crate) enum Answer {
    /// No speech in it (or no audio): an empty result, no model run.
    Empty,
    /// An interim that covered all of its speech: this transcript, no model run.
    Reuse(Transcript),
    /// The interim in flight covers all of its speech: its transcript, once answered.
    Await(Ticket),
    /// Decode it, taking `prefix` (the words its last two hypotheses agreed on) as given and
    /// hearing `context` first.
    Decode {
        prefix: String,
        context: WindowContext,
    },
}

/// What one channel's audio calls for.
#[derive(Debug)]
pub(crate) enum Cut {
    SpeechStarted {
        sample: u64,
    },
    /// Decode this snapshot of the open segment as an interim (`silent`: a probe for
    /// word-boundary commits, not sent). `pause`: the speech has paused, so a final may soon
    /// await this result (it should not be deferred).
    Interim {
        segment: Segment,
        silent: bool,
        prefix: String,
        pause: bool,
        context: WindowContext,
    },
    /// Send this snapshot of the open segment to the engine ahead of its decodes
    /// ([`LiveConfig::ahead_samples`]).
    Ahead {
        segment: Segment,
        context: WindowContext,
    },
    /// The segment is closed.
    Final {
        segment: Segment,
        speech_final: bool,
        answer: Answer,
    },
}

/// The interim in flight: its ticket, start and the samples it covers.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    ticket: Ticket,
    start: u64,
    len: usize,
}

pub(crate) struct Channel {
    pub(crate) seg: Segmenter,
    endpointer: Option<Endpointer>,
    speech_in_segment: bool,
    since_interim: usize,
    /// An interim has been decided and not answered yet (its ticket is known once started).
    interim_busy: bool,
    in_flight: Option<InFlight>,
    /// The latest deferrable interim of the open segment: a final that decodes the segment anew
    /// withdraws it.
    deferrable: Option<Ticket>,
    /// Samples since the engine was last sent this segment's audio (a decode or a window sent
    /// ahead).
    since_ahead: usize,
    /// A window sent ahead has been decided and not answered yet.
    ahead_busy: bool,
    /// That window's ticket: the segment's final withdraws it.
    ahead: Option<Ticket>,
    /// (previous, latest) hypotheses, both of the same segment start.
    hypotheses: (Option<Hypothesis>, Option<Hypothesis>),
    events: Vec<EndpointEvent>,
    /// End of the last recognised word sent (seconds), for `UtteranceEnd`.
    pub(crate) last_word_end_s: Option<f64>,
    /// Words have been sent since the last `UtteranceEnd`.
    pub(crate) utterance_open: bool,
    /// How far results sent (interim or final) have covered this channel's audio, in seconds.
    pub(crate) decoded_until_s: f64,
    rate_hz: u32,
    /// The latest finals' audio and words, heard as context by later decodes.
    pub(crate) history: History,
    max_window_samples: usize,
    /// `LiveConfig::early_pause_ms`, in samples.
    early_pause_samples: Option<u64>,
}

impl Channel {
    pub(crate) fn new(config: &LiveConfig, vad: Option<Vad>) -> Self {
        Self {
            seg: Segmenter::new(config.max_window_samples),
            endpointer: vad.map(|v| Endpointer::new(v, config.endpointing_ms)),
            speech_in_segment: false,
            since_interim: 0,
            interim_busy: false,
            in_flight: None,
            deferrable: None,
            since_ahead: 0,
            ahead_busy: false,
            ahead: None,
            hypotheses: (None, None),
            events: Vec::new(),
            last_word_end_s: None,
            utterance_open: false,
            decoded_until_s: 0.0,
            rate_hz: config.rate_hz,
            history: History::new(CONTEXT_S * config.rate_hz as usize, config.rate_hz),
            max_window_samples: config.max_window_samples,
            early_pause_samples: config
                .early_pause_ms
                .map(|ms| u64::from(ms) * u64::from(config.rate_hz) / 1000),
        }
    }

    /// The interim decided by the last push was submitted as `ticket` (`deferrable`: it may be
    /// withdrawn by a final).
    pub(crate) fn interim_started(
        &mut self,
        ticket: Ticket,
        start: u64,
        len: usize,
        deferrable: bool,
    ) {
        self.in_flight = Some(InFlight { ticket, start, len });
        if deferrable {
            self.deferrable = Some(ticket);
        }
    }

    /// The interim `ticket` covering `len` samples from `start` is answered (`None`: it failed
    /// or was withdrawn).
    pub(crate) fn interim_finished(
        &mut self,
        ticket: Ticket,
        start: u64,
        len: usize,
        transcript: Option<&Transcript>,
    ) {
        if let Some(t) = transcript {
            let latest = self.hypotheses.1.take().filter(|l| l.0 == start);
            self.hypotheses = (latest, Some((start, len, t.clone())));
        }
        if self.in_flight.is_some_and(|f| f.ticket == ticket) {
            self.in_flight = None;
        }
        if self.deferrable == Some(ticket) {
            self.deferrable = None;
        }
        self.interim_busy = false;
    }

    /// The window sent ahead by the last push was submitted as `ticket`.
    pub(crate) fn ahead_started(&mut self, ticket: Ticket) {
        self.ahead = Some(ticket);
    }

    /// The window sent ahead as `ticket` was answered (or withdrawn).
    pub(crate) fn ahead_finished(&mut self, ticket: Ticket) {
        if self.ahead == Some(ticket) {
            self.ahead = None;
            self.ahead_busy = false;
        }
    }

    /// The window sent ahead and not answered yet, which the segment's final makes stale.
    pub(crate) fn take_ahead(&mut self) -> Option<Ticket> {
        self.ahead.take().inspect(|_| self.ahead_busy = false)
    }

    /// Decide no interim until the one "in flight" is answered (tests: an interim in flight).
    #[cfg(test)]
    pub(crate) fn hold_interims(&mut self) {
        self.interim_busy = true;
    }

    /// The latest deferrable interim, which a final that decodes anew makes stale.
    pub(crate) fn take_deferrable(&mut self) -> Option<Ticket> {
        self.deferrable.take()
    }

    /// Context for a decode of `samples` samples of the segment starting at `start`.
    fn context(&self, start: u64, samples: usize) -> WindowContext {
        let room = self.max_window_samples.saturating_sub(samples);
        self.history.context_for(start, room)
    }

    /// The VAD's state and the clock.
    pub(crate) fn speech_state(&self) -> crate::SpeechState {
        crate::SpeechState {
            in_speech: self.endpointer.as_ref().is_some_and(Endpointer::in_speech),
            last_voiced_end: self
                .endpointer
                .as_ref()
                .and_then(Endpointer::last_voiced_end),
            heard: self.seg.clock_samples(),
        }
    }

    /// Up to where (seconds) this channel is known to hold no words after the last one: what
    /// results have covered, or — when the VAD is on, hears silence now and every speech it
    /// heard has been decoded — the whole clock.
    pub(crate) fn known_until_s(&self) -> f64 {
        let clock_s = self.seg.clock_samples() as f64 / f64::from(self.rate_hz);
        match &self.endpointer {
            Some(e) if !e.in_speech() => {
                let speech_end_s = e
                    .last_voiced_end()
                    .map_or(0.0, |s| s as f64 / f64::from(hark_vad::SAMPLE_RATE_HZ));
                if speech_end_s <= self.decoded_until_s {
                    clock_s
                } else {
                    self.decoded_until_s
                }
            }
            _ => self.decoded_until_s,
        }
    }

    /// The in-flight interim of the open segment, if it reaches `speech_end`.
    fn in_flight_covering(&self, speech_end: u64) -> Option<Ticket> {
        let start = self.seg.snapshot_start();
        self.in_flight
            .filter(|f| reaches((f.start, f.len), start, speech_end))
            .map(|f| f.ticket)
    }

    /// The latest hypothesis, if it belongs to the open segment and reaches `speech_end`.
    fn reusable(&self, speech_end: u64) -> Option<Transcript> {
        let start = self.seg.snapshot_start();
        match &self.hypotheses.1 {
            Some((s, len, t)) if reaches((*s, *len), start, speech_end) => Some(t.clone()),
            _ => None,
        }
    }

    /// Whether the latest hypothesis of the open segment, or the one in flight, reaches `speech_end`.
    fn covered(&self, speech_end: u64) -> bool {
        let start = self.seg.snapshot_start();
        let latest = self.hypotheses.1.as_ref().map(|(s, len, _)| (*s, *len));
        latest.is_some_and(|span| reaches(span, start, speech_end))
            || self.in_flight_covering(speech_end).is_some()
    }

    /// What a final ending a pause after `speech_end` can take instead of decoding.
    fn reuse_for(&self, speech_end: u64) -> Option<Answer> {
        match self.reusable(speech_end) {
            Some(t) => Some(Answer::Reuse(t)),
            None => self.in_flight_covering(speech_end).map(Answer::Await),
        }
    }

    /// Where the speech of a pause ended, when the VAD has left speech that the open segment
    /// holds (or, with `early_pause_samples`, no frame has sounded like speech for that long).
    fn paused_at(&self) -> Option<u64> {
        let e = self.endpointer.as_ref()?;
        let quiet = !e.in_speech()
            || self
                .early_pause_samples
                .is_some_and(|n| e.quiet_samples() >= n);
        (self.speech_in_segment && quiet)
            .then(|| e.last_voiced_end())
            .flatten()
    }

    /// The words on which the open segment's last two hypotheses agree, up to a second before
    /// the audio either covered ends, as text (empty: none). Later decodes of the segment force
    /// them, LocalAgreement's premise: agreed words do not change.
    fn agreed_prefix(&self, start: u64) -> String {
        let (Some(a), Some(b)) = (self.hypotheses.0.as_ref(), self.hypotheses.1.as_ref()) else {
            return String::new();
        };
        if a.0 != start || b.0 != start {
            return String::new();
        }
        let rate = self.rate_hz as usize;
        agreed_cut(a, b, f64::from(self.rate_hz), rate, 0).map_or_else(String::new, |(_, w)| {
            w.iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// A final for the words of the open segment that its last two hypotheses agree on, cut at
    /// the boundary after them; the rest of the audio stays as the next segment.
    fn commit_agreed(&mut self) -> Option<Cut> {
        let rate = self.rate_hz as usize;
        let (a, b) = (self.hypotheses.0.as_ref()?, self.hypotheses.1.as_ref()?);
        if a.0 != self.seg.snapshot_start() {
            return None;
        }
        let (cut, words) = agreed_cut(a, b, f64::from(self.rate_hz), rate, rate)?;
        let transcript = Transcript {
            words,
            language: b.2.language.clone(),
        };
        let segment = self.seg.split(cut);
        Some(self.ended(segment, false, Some(Answer::Reuse(transcript))))
    }

    fn has_speech(&self) -> bool {
        self.endpointer.is_none() || self.speech_in_segment
    }

    /// Close the open segment at an endpoint: in the middle of the pause after `speech_end`
    /// (the VAD decides late, and the audio received by then may already hold the onset of the
    /// next word: cut there and Whisper loses that word from both segments). What follows the
    /// cut starts the next segment. A reused hypothesis keeps only the words that start before
    /// the cut, ending at the cut at the latest.
    fn close_in_pause(&mut self, speech_end: u64, reuse: Option<Answer>) -> Cut {
        let start = self.seg.snapshot_start();
        let from = usize::try_from(speech_end.saturating_sub(start)).unwrap_or(usize::MAX);
        let frame = self.rate_hz as usize * PAUSE_FRAME_MS / 1000;
        let cut = self
            .seg
            .pause_middle(from, self.seg.buffered_samples(), frame);
        let cut_s = cut as f32 / self.rate_hz as f32;
        let reuse = reuse.map(|a| match a {
            Answer::Reuse(mut t) => {
                keep_within(&mut t, cut_s);
                Answer::Reuse(t)
            }
            other => other,
        });
        let segment = self.seg.split(cut);
        self.ended(segment, true, reuse)
    }

    /// The final for a segment that has just left the buffer (`reuse`: a transcript it can take
    /// instead of decoding); resets the per-segment state.
    fn ended(&mut self, segment: Segment, speech_final: bool, reuse: Option<Answer>) -> Cut {
        let decode = self.has_speech();
        let answer = match reuse {
            Some(Answer::Reuse(t)) => Answer::Reuse(t),
            Some(Answer::Await(ticket)) if decode => Answer::Await(ticket),
            _ if !decode || segment.samples.is_empty() => Answer::Empty,
            _ => Answer::Decode {
                prefix: self.agreed_prefix(segment.start_sample),
                context: self.context(segment.start_sample, segment.samples.len()),
            },
        };
        self.history.closed(&segment);
        let end = segment.start_sample + segment.samples.len() as u64;
        match &answer {
            Answer::Reuse(t) => {
                let language = t.language.as_deref();
                self.history
                    .decoded(segment.start_sample, end, &t.words, language);
            }
            Answer::Empty => self.history.decoded(segment.start_sample, end, &[], None),
            Answer::Await(_) | Answer::Decode { .. } => {}
        }
        self.hypotheses = (None, None);
        self.since_interim = 0;
        if let Some(e) = &mut self.endpointer {
            e.clear();
            self.speech_in_segment = e.in_speech();
        }
        Cut::Final {
            segment,
            speech_final,
            answer,
        }
    }

    /// Add engine-rate audio; the decisions it causes are appended to `out` in order.
    /// `engine_busy`: finals are waiting for the model (no interim now).
    /// `final_pending`: a final of this channel is unanswered (decoded or awaiting an interim):
    /// its words are not in `history` yet, so nothing is sent ahead (its context would lack them).
    pub(crate) fn push(
        &mut self,
        samples: &[f32],
        config: &LiveConfig,
        engine_busy: bool,
        final_pending: bool,
        out: &mut Vec<Cut>,
    ) {
        if self.seg.buffered_samples() >= config.commit_after() {
            if let Some(cut) = self.commit_agreed() {
                out.push(cut);
            }
        }
        let mut endpoint = None;
        if let Some(e) = &mut self.endpointer {
            self.events.clear();
            e.push(samples, &mut self.events);
            for ev in &self.events {
                match *ev {
                    EndpointEvent::SpeechStarted { sample } => {
                        self.speech_in_segment = true;
                        out.push(Cut::SpeechStarted { sample });
                    }
                    EndpointEvent::Endpoint { speech_end } => endpoint = Some(speech_end),
                }
            }
        }
        for segment in self.seg.push(samples) {
            // A full window: this segment was cut by length, not by a pause.
            let cut = self.ended(segment, false, None);
            out.push(cut);
        }
        if let Some(speech_end) = endpoint.filter(|_| self.seg.buffered_samples() > 0) {
            let reuse = self.reuse_for(speech_end);
            out.push(self.close_in_pause(speech_end, reuse));
            return;
        }
        self.since_interim += samples.len();
        self.since_ahead += samples.len();
        if let Some(cut) = self.interim(config, engine_busy) {
            self.since_ahead = 0;
            out.push(cut);
        } else if let Some(cut) = self.send_ahead(config, engine_busy || final_pending) {
            out.push(cut);
        }
    }

    /// The interim (or silent probe) due now, if any.
    fn interim(&mut self, config: &LiveConfig, engine_busy: bool) -> Option<Cut> {
        // In a pause: decode the speech now unless a hypothesis covers it; otherwise rest. (Not
        // for a stream without endpoints or interims, which only a `Finalize` would repay.)
        let paused = self
            .paused_at()
            .filter(|_| config.endpointing_ms.is_some() || config.interim_samples.is_some());
        if paused.is_some_and(|speech_end| self.covered(speech_end)) {
            return None;
        }
        let (probe_from, probe_every) = config.probe();
        let (every, silent) = match config.interim_samples {
            Some(every) => (every, false),
            None if paused.is_some() => (0, true),
            None if self.seg.buffered_samples() >= probe_from => (probe_every, true),
            None => return None,
        };
        if (self.since_interim < every && paused.is_none())
            || engine_busy
            || !self.has_speech()
            || self.seg.buffered_samples() == 0
            || self.interim_busy
        {
            return None;
        }
        self.interim_busy = true;
        self.since_interim = 0;
        let segment = self.seg.snapshot();
        let context = self.context(segment.start_sample, segment.samples.len());
        Some(Cut::Interim {
            silent,
            prefix: self.agreed_prefix(segment.start_sample),
            pause: paused.is_some(),
            context,
            segment,
        })
    }

    /// The segment's audio sent ahead of its decodes, once [`LiveConfig::ahead_samples`] of it
    /// are new: not while `held` (finals wait for the model, or this channel's last final is
    /// unanswered), nor while the last one sent is not taken.
    fn send_ahead(&mut self, config: &LiveConfig, held: bool) -> Option<Cut> {
        let every = config.ahead_samples?;
        if self.since_ahead < every
            || held
            || self.ahead_busy
            || !self.has_speech()
            || self.seg.buffered_samples() == 0
        {
            return None;
        }
        self.ahead_busy = true;
        self.since_ahead = 0;
        let segment = self.seg.snapshot();
        let context = self.context(segment.start_sample, segment.samples.len());
        Some(Cut::Ahead { segment, context })
    }

    /// Close the open segment now (`Finalize`, end of stream). In a pause, a hypothesis that
    /// covered the speech serves as the final.
    pub(crate) fn finalize(&mut self) -> Cut {
        let reuse = self.paused_at().and_then(|end| self.reuse_for(end));
        let segment = self.seg.flush();
        self.ended(segment, false, reuse)
    }
}
