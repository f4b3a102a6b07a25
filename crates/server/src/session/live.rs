//! The live policy of one channel: when its audio is decoded and what each decode is for.
//!
//! - Audio accumulates in a segment that starts where the previous final ended, so finals tile
//!   the timeline and never rewrite each other.
//! - An endpoint (VAD: `endpointing` ms of silence after speech) closes the segment with
//!   `speech_final:true`; a full model window closes it with `speech_final:false`; `Finalize` and
//!   the end of the stream close it with `from_finalize` / at close.
//! - With `interim_results`, a segment holding speech is decoded about every `interim_ms` of new
//!   audio as `is_final:false` (same `start`, growing `duration`), at most one in flight, and none
//!   while finals are waiting for the engine: under load interims thin out so that finals stay
//!   on time. Interims may wait behind the model call that is running, so the interims of many
//!   streams run together as one batch. In the engine's queue, finals (and the decode of a pause)
//!   run before interims; an interim that has not run when a final decodes its segment anew is
//!   withdrawn and not sent.
//! - A segment in which the VAD heard no speech is answered without running the model.
//! - When speech pauses (the VAD leaves speech), the speech so far is decoded at once, as an
//!   interim (a silent one without `interim_results`), unless a hypothesis already covers it: the
//!   pause may become an endpoint, and this way its final is ready, or on its way, when it does.
//!   During a pause, no interim is decoded that would only repeat the one that covered the speech.
//!   (A stream with neither endpointing nor interims skips this: only a `Finalize` would use it.)
//! - At an endpoint or `Finalize` after the speech has stopped, if the latest interim of the
//!   segment already covered all of its speech (what followed is silence), that interim's
//!   transcript becomes the final at once: no second decode. If such an interim is still in
//!   flight, the final awaits it instead of queueing a decode behind it.
//! - Long speech without a pause is finalized at a word boundary before the window fills
//!   (`speech_final:false`), LocalAgreement-style: once the segment holds two thirds of a window,
//!   the words on which the segment's last two hypotheses agree, up to a second before the audio
//!   they covered ends, become a final, cut between the last of them and the next word. The rest
//!   of the audio starts the next segment. Hypotheses are the interims, or, without
//!   `interim_results`, silent probes decoded once a second from two seconds before that point.
//!   Only when no two hypotheses agree in time is a segment cut at the full window.
//! - Every later decode of the segment (interim, probe or final) passes those agreed words to the
//!   engine as the window's known beginning: Whisper feeds them in one step and decodes only the
//!   rest, and a final cannot contradict what the interims agreed on.
//! - An endpoint cuts its segment in the middle of the pause after the speech, not where the VAD
//!   decided (by then the next word may have begun); the rest starts the next segment.
//! - Every decode also gets what came before its segment ([`History`]): up to 8 s of the previous
//!   finals' audio and words, which the engine hears first and leaves out of the transcript.

mod history;

pub use history::History;

use futures_util::future::{BoxFuture, Shared};
use hark_asr::{Segment, Segmenter, Transcript, WindowContext, WordTiming};
use hark_vad::{EndpointEvent, Endpointer, Vad};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The stretch of audio whose energy places an endpoint's cut in a pause.
const PAUSE_FRAME_MS: usize = 20;
/// How much of the previous finals' audio (and their words) a decode hears before its segment.
const CONTEXT_S: usize = 8;

/// One decoded hypothesis of the open segment: its start, the samples it covered, its words.
type Hypothesis = (u64, usize, Transcript);

/// Whether a hypothesis covering `span` (start, samples) belongs to the segment starting at
/// `start` and reaches `speech_end`.
fn reaches((s, len): (u64, usize), start: u64, speech_end: u64) -> bool {
    s == start && s + len as u64 >= speech_end
}

/// The result of an interim in flight, which a final may await too (`Err`: why the engine failed).
pub type InterimResult = Shared<BoxFuture<'static, Result<Transcript, String>>>;

/// An in-flight interim whose transcript will serve as a final.
#[derive(Clone)]
pub struct Awaited(pub InterimResult);

impl std::fmt::Debug for Awaited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Awaited(interim in flight)")
    }
}

/// A channel's interim in flight, and its last two results (the latest is kept for the endpoint
/// that may follow; the two together for word-boundary commits). Shared with the future awaiting
/// the model.
#[derive(Default)]
pub struct InterimState {
    in_flight: AtomicBool,
    /// (previous, latest), both of the same segment start.
    hypotheses: Mutex<(Option<Hypothesis>, Option<Hypothesis>)>,
    /// The interim in flight: its start, the samples it covers, and its result.
    pending: Mutex<Option<(u64, usize, InterimResult)>>,
}

impl InterimState {
    /// The interim covering `len` samples from `start` has been submitted; `result` resolves
    /// with its transcript.
    pub fn started(&self, start: u64, len: usize, result: InterimResult) {
        if let Ok(mut p) = self.pending.lock() {
            *p = Some((start, len, result));
        }
    }

    /// The interim covering `len` samples from `start` is answered (`None`: the engine failed).
    pub fn finished(&self, start: u64, len: usize, transcript: Option<&Transcript>) {
        if let (Some(t), Ok(mut h)) = (transcript, self.hypotheses.lock()) {
            let latest = h.1.take().filter(|l| l.0 == start);
            *h = (latest, Some((start, len, t.clone())));
        }
        if let Ok(mut p) = self.pending.lock() {
            if p.as_ref().is_some_and(|(s, l, _)| (*s, *l) == (start, len)) {
                *p = None;
            }
        }
        self.in_flight.store(false, Ordering::SeqCst);
    }

    /// The in-flight interim of the segment starting at `start`, if it reaches `speech_end`.
    fn pending_covering(&self, start: u64, speech_end: u64) -> Option<InterimResult> {
        match self.pending.lock().ok()?.as_ref() {
            Some((s, len, r)) if reaches((*s, *len), start, speech_end) => Some(r.clone()),
            _ => None,
        }
    }

    fn forget(&self) {
        if let Ok(mut h) = self.hypotheses.lock() {
            *h = (None, None);
        }
    }

    fn latest(&self) -> Option<Hypothesis> {
        self.hypotheses.lock().ok()?.1.clone()
    }
}

/// A word as LocalAgreement compares it: letters and digits, lower case.
fn norm(w: &WordTiming) -> String {
    w.text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where to cut a segment whose two latest hypotheses are `a` and `b` (same start): samples from
/// the segment start, and the words before the cut. `guard` samples at the end of what each
/// hypothesis covered are never committed; the head must hold at least `min_head` samples.
fn agreed_cut(
    a: &Hypothesis,
    b: &Hypothesis,
    rate_hz: f64,
    guard: usize,
    min_head: usize,
) -> Option<(usize, Vec<WordTiming>)> {
    let limit_s = (a.1.min(b.1).saturating_sub(guard)) as f64 / rate_hz;
    let words = &b.2.words;
    let agreed =
        a.2.words
            .iter()
            .zip(words)
            .take_while(|(x, y)| norm(x) == norm(y) && !norm(y).is_empty())
            .count();
    let last = (0..agreed)
        .rev()
        .find(|&k| f64::from(words[k].end_s) <= limit_s)?;
    let end_s = f64::from(words[last].end_s);
    let cut_s = words.get(last + 1).map_or(end_s, |next| {
        (end_s + f64::from(next.start_s).max(end_s)) / 2.0
    });
    let cut = (cut_s * rate_hz).round() as usize;
    (cut >= min_head).then(|| (cut, words[..=last].to_vec()))
}

/// Keep the words of a hypothesis that start within the first `duration_s` of its audio, ending
/// there at the latest: a hypothesis that heard past where its segment was cut (an endpoint cuts
/// in the middle of the pause) must not take words from the next segment.
pub fn keep_within(t: &mut Transcript, duration_s: f32) {
    t.words.retain(|w| w.start_s < duration_s);
    for w in &mut t.words {
        w.end_s = w.end_s.min(duration_s);
    }
}

/// What the session must do for a channel.
#[derive(Debug)]
pub enum Cut {
    /// Send `SpeechStarted` (when the client asked for `vad_events`).
    SpeechStarted { sample: u64 },
    /// Decode this snapshot of the open segment as an interim result (`silent`: a probe for
    /// word-boundary commits, not sent to the client). `prefix`: see [`Cut::Final`]. `pause`: the
    /// speech has paused, so a final may soon await this result (it should not be deferred).
    Interim {
        segment: Segment,
        silent: bool,
        prefix: String,
        pause: bool,
        /// What came before the segment (see [`History`]).
        context: WindowContext,
    },
    /// The segment is closed: a final result (decoded only when `decode`).
    Final {
        segment: Segment,
        speech_final: bool,
        decode: bool,
        /// Use this transcript instead of decoding (an interim that covered all the speech).
        reuse: Option<Transcript>,
        /// Await this interim's transcript instead of decoding (it covers all the speech).
        awaited: Option<Awaited>,
        /// The words the segment's last two hypotheses agreed on, which the engine may take as
        /// given and decode only what follows (empty: none).
        prefix: String,
        /// What came before the segment (see [`History`]).
        context: WindowContext,
    },
}

/// Session-wide settings of the policy.
#[derive(Debug, Clone, Copy)]
pub struct LivePolicy {
    pub max_window_samples: usize,
    /// Run the VAD (the server enables it and the engine rate is the VAD's 16 kHz). Off: every
    /// segment is decoded, and there are no endpoints or speech events.
    pub vad: bool,
    pub endpointing_ms: Option<u32>,
    /// Interim cadence in samples; `None`: no interims.
    pub interim_samples: Option<usize>,
    /// The engine's sample rate.
    pub rate_hz: u32,
}

impl LivePolicy {
    /// From this many buffered samples on, words the hypotheses agree on are committed.
    fn commit_after(&self) -> usize {
        self.max_window_samples / 3 * 2
    }

    /// Silent probes (without interims) start two seconds before commits may, one a second: two
    /// hypotheses are ready when the first commit is due, and short segments cost nothing extra.
    fn probe(&self) -> (usize, usize) {
        let second = self.rate_hz as usize;
        (self.commit_after().saturating_sub(2 * second), second)
    }
}

pub struct LiveChannel {
    seg: Segmenter,
    endpointer: Option<Endpointer>,
    speech_in_segment: bool,
    since_interim: usize,
    interim: Arc<InterimState>,
    events: Vec<EndpointEvent>,
    /// End of the last recognised word (seconds), for `UtteranceEnd`.
    pub last_word_end_s: Option<f64>,
    /// Words have arrived since the last `UtteranceEnd`.
    pub utterance_open: bool,
    /// How far results (interim or final) have covered this channel's audio, in seconds.
    pub decoded_until_s: f64,
    /// The engine's sample rate.
    rate_hz: u32,
    /// Withdraws the latest interim submitted for the open segment, if it has not run yet: a
    /// final that decodes the segment anew makes it stale.
    pub pending_interim: Option<hark_asr::Cancel>,
    /// The latest finals' audio and words, heard as context by later decodes.
    history: Arc<Mutex<History>>,
    max_window_samples: usize,
}

impl LiveChannel {
    pub fn new(policy: &LivePolicy) -> Self {
        let vad = policy.vad.then(Vad::earshot);
        Self::with_vad(policy, vad)
    }

    fn with_vad(policy: &LivePolicy, vad: Option<Vad>) -> Self {
        let endpointer = vad.map(|v| Endpointer::new(v, policy.endpointing_ms));
        Self {
            seg: Segmenter::new(policy.max_window_samples),
            endpointer,
            speech_in_segment: false,
            since_interim: 0,
            interim: Arc::new(InterimState::default()),
            events: Vec::new(),
            last_word_end_s: None,
            utterance_open: false,
            decoded_until_s: 0.0,
            rate_hz: policy.rate_hz,
            pending_interim: None,
            history: Arc::new(Mutex::new(History::new(
                CONTEXT_S * policy.rate_hz as usize,
                policy.rate_hz,
            ))),
            max_window_samples: policy.max_window_samples,
        }
    }

    /// The channel's history, told the words of each final when the engine answers it.
    pub fn history(&self) -> Arc<Mutex<History>> {
        Arc::clone(&self.history)
    }

    /// Context for a decode of `samples` samples of the segment starting at `start`.
    fn context(&self, start: u64, samples: usize) -> WindowContext {
        let room = self.max_window_samples.saturating_sub(samples);
        self.history
            .lock()
            .map(|h| h.context_for(start, room))
            .unwrap_or_default()
    }

    /// Up to where (seconds) this channel is known to hold no words after the last one: what
    /// results have covered, or — when the VAD is on, hears silence now and every speech it
    /// heard has been decoded — the whole clock.
    pub fn known_until_s(&self, rate_hz: u32) -> f64 {
        let clock_s = self.clock_samples() as f64 / f64::from(rate_hz);
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

    /// Samples on this channel's clock so far.
    pub fn clock_samples(&self) -> u64 {
        self.seg.clock_samples()
    }

    /// The handle an interim's result is reported to.
    pub fn interim(&self) -> Arc<InterimState> {
        Arc::clone(&self.interim)
    }

    /// The cached interim, if it belongs to the open segment and reaches `speech_end`.
    fn reusable(&self, speech_end: u64) -> Option<Transcript> {
        let start = self.seg.snapshot_start();
        match self.interim.latest() {
            Some((s, len, t)) if reaches((s, len), start, speech_end) => Some(t),
            _ => None,
        }
    }

    /// Whether the latest hypothesis of the open segment, or the one in flight, reaches `speech_end`.
    fn covered(&self, speech_end: u64) -> bool {
        let start = self.seg.snapshot_start();
        let latest = self
            .interim
            .hypotheses
            .lock()
            .ok()
            .and_then(|h| h.1.as_ref().map(|(s, len, _)| (*s, *len)));
        latest.is_some_and(|span| reaches(span, start, speech_end))
            || self.interim.pending_covering(start, speech_end).is_some()
    }

    /// What a final ending a pause after `speech_end` can take instead of decoding.
    fn reuse_for(&self, speech_end: u64) -> (Option<Transcript>, Option<Awaited>) {
        match self.reusable(speech_end) {
            Some(t) => (Some(t), None),
            None => (
                None,
                self.interim
                    .pending_covering(self.seg.snapshot_start(), speech_end)
                    .map(Awaited),
            ),
        }
    }

    /// Where the speech of a pause ended, when the VAD has left speech that the open segment holds.
    fn paused_at(&self) -> Option<u64> {
        let e = self.endpointer.as_ref()?;
        (self.speech_in_segment && !e.in_speech())
            .then(|| e.last_voiced_end())
            .flatten()
    }

    /// The words on which the open segment's last two hypotheses agree, up to a second before
    /// the audio either covered ends, as text (empty: none). Later decodes of the segment force
    /// them, LocalAgreement's premise: agreed words do not change.
    fn agreed_prefix(&self, start: u64) -> String {
        let Ok(h) = self.interim.hypotheses.lock() else {
            return String::new();
        };
        let (Some(a), Some(b)) = (h.0.as_ref(), h.1.as_ref()) else {
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
    fn commit_agreed(&mut self, policy: &LivePolicy) -> Option<Cut> {
        let rate = policy.rate_hz as usize;
        // Under the lock and without copies: this runs on every push of a long segment.
        let (cut, transcript) = {
            let h = self.interim.hypotheses.lock().ok()?;
            let (a, b) = (h.0.as_ref()?, h.1.as_ref()?);
            if a.0 != self.seg.snapshot_start() {
                return None;
            }
            let (cut, words) = agreed_cut(a, b, f64::from(policy.rate_hz), rate, rate)?;
            let transcript = Transcript {
                words,
                no_speech_prob: b.2.no_speech_prob,
                language: b.2.language.clone(),
            };
            (cut, transcript)
        };
        let segment = self.seg.split(cut);
        Some(self.ended(segment, false, (Some(transcript), None)))
    }

    fn has_speech(&self) -> bool {
        self.endpointer.is_none() || self.speech_in_segment
    }

    /// Close the open segment at an endpoint: in the middle of the pause after `speech_end`
    /// (the VAD decides late, and the audio received by then may already hold the onset of the
    /// next word: cut there and Whisper loses that word from both segments). What follows the
    /// cut starts the next segment. A reused hypothesis keeps only the words that start before
    /// the cut, ending at the cut at the latest.
    fn close_in_pause(
        &mut self,
        speech_end: u64,
        (reuse, awaited): (Option<Transcript>, Option<Awaited>),
    ) -> Cut {
        let start = self.seg.snapshot_start();
        let from = usize::try_from(speech_end.saturating_sub(start)).unwrap_or(usize::MAX);
        let frame = self.rate_hz as usize * PAUSE_FRAME_MS / 1000;
        let cut = self
            .seg
            .pause_middle(from, self.seg.buffered_samples(), frame);
        let cut_s = cut as f32 / self.rate_hz as f32;
        let reuse = reuse.map(|mut t| {
            keep_within(&mut t, cut_s);
            t
        });
        let segment = self.seg.split(cut);
        self.ended(segment, true, (reuse, awaited))
    }

    /// Close the open segment (decoded only if it held speech) and start the next one.
    fn close(&mut self, speech_final: bool, reuse: (Option<Transcript>, Option<Awaited>)) -> Cut {
        let segment = self.seg.flush();
        self.ended(segment, speech_final, reuse)
    }

    /// The final for a segment that has just left the buffer; resets the per-segment state.
    fn ended(
        &mut self,
        segment: Segment,
        speech_final: bool,
        (reuse, awaited): (Option<Transcript>, Option<Awaited>),
    ) -> Cut {
        let decode = self.has_speech();
        let (prefix, context) = if decode && reuse.is_none() && awaited.is_none() {
            (
                self.agreed_prefix(segment.start_sample),
                self.context(segment.start_sample, segment.samples.len()),
            )
        } else {
            (String::new(), WindowContext::default())
        };
        if let Ok(mut h) = self.history.lock() {
            h.closed(&segment);
            let end = segment.start_sample + segment.samples.len() as u64;
            match (&reuse, decode) {
                (Some(t), _) => h.decoded(segment.start_sample, end, &t.words),
                (None, false) => h.decoded(segment.start_sample, end, &[]),
                _ => {}
            }
        }
        self.interim.forget();
        self.since_interim = 0;
        if let Some(e) = &mut self.endpointer {
            e.clear();
            self.speech_in_segment = e.in_speech();
        }
        Cut::Final {
            segment,
            speech_final,
            decode,
            reuse,
            awaited,
            prefix,
            context,
        }
    }

    /// Add engine-rate audio; the decisions it causes are appended to `out` in order.
    /// `engine_busy`: finals are waiting for the model (no interim now).
    pub fn push(
        &mut self,
        samples: &[f32],
        policy: &LivePolicy,
        engine_busy: bool,
        out: &mut Vec<Cut>,
    ) {
        if self.seg.buffered_samples() >= policy.commit_after() {
            if let Some(cut) = self.commit_agreed(policy) {
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
            let cut = self.ended(segment, false, (None, None));
            out.push(cut);
        }
        if let Some(speech_end) = endpoint.filter(|_| self.seg.buffered_samples() > 0) {
            let reuse = self.reuse_for(speech_end);
            out.push(self.close_in_pause(speech_end, reuse));
            return;
        }
        self.since_interim += samples.len();
        // In a pause: decode the speech now unless a hypothesis covers it; otherwise rest. (Not
        // for a stream without endpoints or interims, which only a `Finalize` would repay.)
        let paused = self
            .paused_at()
            .filter(|_| policy.endpointing_ms.is_some() || policy.interim_samples.is_some());
        if paused.is_some_and(|speech_end| self.covered(speech_end)) {
            return;
        }
        let (probe_from, probe_every) = policy.probe();
        let (every, silent) = match policy.interim_samples {
            Some(every) => (every, false),
            None if paused.is_some() => (0, true),
            None if self.seg.buffered_samples() >= probe_from => (probe_every, true),
            None => return,
        };
        if (self.since_interim >= every || paused.is_some())
            && !engine_busy
            && self.has_speech()
            && self.seg.buffered_samples() > 0
            && !self.interim.in_flight.swap(true, Ordering::SeqCst)
        {
            self.since_interim = 0;
            let segment = self.seg.snapshot();
            let context = self.context(segment.start_sample, segment.samples.len());
            out.push(Cut::Interim {
                silent,
                prefix: self.agreed_prefix(segment.start_sample),
                pause: paused.is_some(),
                context,
                segment,
            });
        }
    }

    /// Close the open segment now (`Finalize`, end of stream). In a pause, a hypothesis that
    /// covered the speech serves as the final.
    pub fn finalize(&mut self) -> Cut {
        let reuse = self
            .paused_at()
            .map_or((None, None), |end| self.reuse_for(end));
        self.close(false, reuse)
    }
}

#[cfg(test)]
mod tests;
