//! Turns for voice agents (Deepgram's Flux, `/v2/listen`): a second policy over the results of
//! [`crate::LiveStream`].
//!
//! A [`TurnTracker`] is told what the VAD hears ([`TurnTracker::on_audio`]) and each result of the
//! live stream, in the order they are sent ([`TurnTracker::on_result`]). It keeps the words of
//! the current turn (finals committed inside it, then the open segment's latest interim) and
//! decides the turn events:
//!
//! - `StartOfTurn` with the first words of a turn; `Update` every `update_samples` of audio
//!   while a turn is open;
//! - `EagerEndOfTurn` once the end-of-turn confidence reaches `eager` (when set), `TurnResumed`
//!   when speech comes back or the words change after it;
//! - `EndOfTurn` once the confidence reaches `eot` (trigger `model`), after `timeout_ms` of
//!   silence (`timeout`) or on request (`manual`). Ending a turn closes the live stream's open
//!   segment there (the caller finalizes it, [`Step::finalize`]); the event goes out with that
//!   segment's final, so it carries every word of the turn. The next turn starts at the cut.
//!
//! The end-of-turn confidence combines two documented signals: the silence since the last speech
//! (VAD, or the last word's end) and what the words say. It is `evidence × s(silence)`, where
//! `s(t) = 1 − exp(−max(0, t − 80 ms) / 120 ms)` (0.63 at 200 ms, 0.76 at 250 ms, 0.86 at 320 ms)
//! and the evidence is 1.0 when the turn's last word ends a sentence (`.`, `?`, `!`), 0.8 when it
//! ends without punctuation, 0.45 when it trails off (`,`, `…`, or a conjunction, article,
//! preposition or filler whatever its punctuation: an unfinished thought, which only the timeout
//! or a request ends), 0.6 when no hypothesis covers the speech yet, times 0.85 when the latest
//! hypothesis revised earlier words. A word that starts more than 120 ms after the VAD's end of
//! speech is not the last word (Whisper fills a pause with words nobody said: "a table for
//! it."). With the default `eot` 0.7 a finished sentence ends its turn after about 225 ms of
//! silence (never inside a pause shorter than 200 ms) and an unpunctuated one after about 330 ms.
//!
//! When the words of a pause are late (a busy engine, audio faster than real time), the segment
//! is cut in the pause once it is long enough to end a finished sentence, and that piece's final
//! decides: the turn ends at the cut (its silence counted on while no speech followed), or goes
//! on with those words committed. So a slow engine delays turn ends but never merges turns.

use hark_asr::WordTiming;

/// Milliseconds of silence before the confidence starts to rise, and its time constant.
const SILENCE_ONSET_MS: f64 = 80.0;
const SILENCE_TAU_MS: f64 = 120.0;
/// Evidence of the words (see the module docs).
const SENTENCE_END: f32 = 1.0;
const UNPUNCTUATED: f32 = 0.8;
const TRAILING: f32 = 0.45;
const UNCOVERED: f32 = 0.6;
const REVISED: f32 = 0.85;
/// A word that starts this long after the VAD's end of speech was not heard.
const UNHEARD_AFTER_S: f64 = 0.12;
/// Before a turn starts, silence this long (with this much audio buffered) is cut away, so that
/// a turn's segment starts near its speech.
const IDLE_CUT_SILENCE_MS: u64 = 1000;
const IDLE_CUT_AUDIO_MS: u64 = 2000;

/// Words after which a speaker is rarely done.
const CONTINUERS: [&str; 24] = [
    "and", "but", "or", "so", "because", "the", "a", "an", "to", "of", "um", "uh", "with", "if",
    "that", "for", "in", "on", "at", "my", "your", "is", "then", "like",
];

/// When a turn ends: `eot` and `eager` confidences, and the silence that ends it regardless.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub eot: f32,
    pub eager: Option<f32>,
    pub timeout_ms: u32,
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Model,
    Manual,
    Timeout,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Manual => "manual",
            Self::Timeout => "timeout",
        }
    }
}

/// Which turn event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEventKind {
    Update,
    StartOfTurn,
    EagerEndOfTurn,
    TurnResumed,
    EndOfTurn(Trigger),
}

impl TurnEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Update => "Update",
            Self::StartOfTurn => "StartOfTurn",
            Self::EagerEndOfTurn => "EagerEndOfTurn",
            Self::TurnResumed => "TurnResumed",
            Self::EndOfTurn(_) => "EndOfTurn",
        }
    }
}

/// One turn event: the turn's words so far (times in seconds on the stream's clock).
#[derive(Debug, Clone, PartialEq)]
pub struct TurnEvent {
    pub kind: TurnEventKind,
    pub turn_index: u32,
    pub start_s: f64,
    pub end_s: f64,
    pub words: Vec<WordTiming>,
    pub confidence: f32,
}

/// What the VAD knows now, in engine-rate samples from the start of the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpeechState {
    pub in_speech: bool,
    pub last_voiced_end: Option<u64>,
    /// Audio heard so far: where a cut made now falls.
    pub heard: u64,
}

/// What the caller must do after a call.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Send these, in order.
    pub events: Vec<TurnEvent>,
    /// Finalize the live stream's open segment now (at [`SpeechState::heard`]); its final ends
    /// the turn.
    pub finalize: bool,
}

/// Why the open segment is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Turn(Trigger),
    /// A pause long enough to end a finished sentence, with no words yet for the speech before
    /// it (the engine is behind): the segment is cut in the pause, and its final decides whether
    /// the turn ended there (`speech_end`: where that speech ended).
    Pause {
        speech_end: u64,
    },
    /// Silence before any words: nothing to say unless the final finds words after all.
    Idle,
}

/// The turn state of one stream (see the module docs).
#[derive(Debug)]
pub struct TurnTracker {
    thresholds: Thresholds,
    rate_hz: u32,
    update_samples: u64,
    index: u32,
    /// Where the current turn's audio starts.
    start: u64,
    committed: Vec<WordTiming>,
    tentative: Vec<WordTiming>,
    /// End of the audio the latest result covered.
    covered_until: u64,
    started: bool,
    /// The words an `EagerEndOfTurn` carried, until the turn resumes or ends.
    eager: Option<Vec<String>>,
    revised: bool,
    closing: Option<(Closing, u64)>,
    last_info_at: u64,
    speech: SpeechState,
}

fn texts(words: &[WordTiming]) -> Vec<String> {
    words.iter().map(|w| w.text.clone()).collect()
}

/// A word as compared across hypotheses: lower case, letters, digits and apostrophes.
fn bare(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

/// What the turn's last word says about whether the speaker is done.
pub fn word_evidence(words: &[WordTiming]) -> f32 {
    let Some(last) = words.last() else {
        return 0.0;
    };
    let t = last.text.trim();
    // A conjunction, article or filler ends no thought, whatever punctuation Whisper gave it
    // (it closes every window it hears with a full stop).
    if t.ends_with("...") || t.ends_with('…') || CONTINUERS.contains(&bare(t).as_str()) {
        return TRAILING;
    }
    match t.chars().last() {
        Some('.' | '?' | '!') => SENTENCE_END,
        Some(',' | ';' | ':' | '-' | '—') => TRAILING,
        _ => UNPUNCTUATED,
    }
}

/// How much the silence so far says the turn is over (0..1).
pub fn silence_score(silence_ms: f64) -> f32 {
    let t = (silence_ms - SILENCE_ONSET_MS).max(0.0);
    (1.0 - (-t / SILENCE_TAU_MS).exp()) as f32
}

impl TurnTracker {
    pub fn new(rate_hz: u32, update_ms: u32, thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            rate_hz,
            update_samples: u64::from(update_ms) * u64::from(rate_hz) / 1000,
            index: 0,
            start: 0,
            committed: Vec::new(),
            tentative: Vec::new(),
            covered_until: 0,
            started: false,
            eager: None,
            revised: false,
            closing: None,
            last_info_at: 0,
            speech: SpeechState::default(),
        }
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// New thresholds (`Configure`), from the next decision on, also mid-turn.
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
    }

    pub fn turn_index(&self) -> u32 {
        self.index
    }

    fn words(&self) -> Vec<WordTiming> {
        let mut w = self.committed.clone();
        w.extend(self.tentative.iter().cloned());
        w
    }

    /// The turn's words without those that start after the VAD's speech ended: Whisper often
    /// adds a word in the silence after a pause ("a table for it."), which says nothing about
    /// whether the speaker is done.
    fn heard_words(&self) -> Vec<WordTiming> {
        let mut words = self.words();
        if let Some(end) = self.speech.last_voiced_end.filter(|e| *e > self.start) {
            let limit_s = self.seconds(end) + UNHEARD_AFTER_S;
            words.retain(|w| f64::from(w.start_s) <= limit_s);
        }
        words
    }

    fn seconds(&self, sample: u64) -> f64 {
        sample as f64 / f64::from(self.rate_hz)
    }

    /// Silence now, in samples: since the VAD's last speech or the last word, whichever is later.
    fn silence_samples(&self) -> u64 {
        if self.speech.in_speech {
            return 0;
        }
        // The VAD's end of speech is exact; a word's end (Whisper's timing) only stands in
        // when the VAD heard no speech in this turn.
        let last = match self.speech.last_voiced_end {
            Some(end) if end > self.start => end,
            _ => self.words().last().map_or(self.start, |w| {
                (f64::from(w.end_s) * f64::from(self.rate_hz)) as u64
            }),
        };
        self.speech.heard.saturating_sub(last.max(self.start))
    }

    /// The end-of-turn confidence now (see the module docs).
    pub fn confidence(&self) -> f32 {
        if !self.started || self.speech.in_speech {
            return 0.0;
        }
        let speech_end = self.speech.last_voiced_end.unwrap_or(0);
        self.confidence_after(speech_end, self.silence_samples())
    }

    /// The confidence after `silence` samples of silence after speech that ended at
    /// `speech_end`, with the words known now.
    fn confidence_after(&self, speech_end: u64, silence: u64) -> f32 {
        let mut evidence = if self.covered_until >= speech_end {
            word_evidence(&self.heard_words())
        } else {
            UNCOVERED
        };
        if self.revised {
            evidence *= REVISED;
        }
        let silence_ms = silence as f64 * 1000.0 / f64::from(self.rate_hz);
        evidence * silence_score(silence_ms)
    }

    fn event(&self, kind: TurnEventKind, end: u64) -> TurnEvent {
        TurnEvent {
            kind,
            turn_index: self.index,
            start_s: self.seconds(self.start),
            end_s: self.seconds(end.max(self.start)),
            words: self.words(),
            confidence: self.confidence(),
        }
    }

    fn push(&mut self, step: &mut Step, kind: TurnEventKind) {
        let at = self.speech.heard;
        step.events.push(self.event(kind, at));
        self.last_info_at = at;
    }

    /// The VAD heard more audio.
    pub fn on_audio(&mut self, speech: SpeechState) -> Step {
        self.speech = speech;
        let mut step = Step::default();
        if self.closing.is_some() {
            return step;
        }
        if !self.started {
            // Speech whose words have not come yet (the engine is behind): cut in its pause.
            let heard_speech = speech.last_voiced_end.filter(|e| *e > self.start);
            if let Some(speech_end) = heard_speech {
                if !speech.in_speech && self.covered_until < speech_end && self.pause_cut_due() {
                    self.close_segment(&mut step, Closing::Pause { speech_end });
                    return step;
                }
            }
            let ms = |s: u64| s * 1000 / u64::from(self.rate_hz);
            if !speech.in_speech
                && ms(self.silence_samples()) >= IDLE_CUT_SILENCE_MS
                && ms(speech.heard.saturating_sub(self.start)) >= IDLE_CUT_AUDIO_MS
            {
                self.close_segment(&mut step, Closing::Idle);
            }
            return step;
        }
        if speech.in_speech && self.eager.take().is_some() {
            self.push(&mut step, TurnEventKind::TurnResumed);
        }
        self.decide(&mut step);
        if !step.finalize
            && step.events.is_empty()
            && speech.heard.saturating_sub(self.last_info_at) >= self.update_samples
        {
            self.push(&mut step, TurnEventKind::Update);
        }
        step
    }

    /// Whether the turn ends now, or an eager end is due.
    fn decide(&mut self, step: &mut Step) {
        let timeout = u64::from(self.thresholds.timeout_ms) * u64::from(self.rate_hz) / 1000;
        let conf = self.confidence();
        if self.silence_samples() >= timeout {
            self.close_segment(step, Closing::Turn(Trigger::Timeout));
            return;
        }
        let speech_end = self.speech.last_voiced_end.unwrap_or(0);
        let uncovered = !self.speech.in_speech && self.covered_until < speech_end;
        if uncovered && self.pause_cut_due() {
            self.close_segment(step, Closing::Pause { speech_end });
            return;
        }
        let eager_due = self
            .thresholds
            .eager
            .is_some_and(|e| conf >= e && self.eager.is_none());
        if eager_due {
            self.eager = Some(texts(&self.words()));
            self.push(step, TurnEventKind::EagerEndOfTurn);
        }
        if conf >= self.thresholds.eot {
            self.close_segment(step, Closing::Turn(Trigger::Model));
        }
    }

    /// Whether the silence has lasted as long as a finished sentence needs to end its turn
    /// (never with `eot` 1.0, which only a timeout or a request ends).
    fn pause_cut_due(&self) -> bool {
        let eot = f64::from(self.thresholds.eot);
        if eot >= 1.0 {
            return false;
        }
        let needed_ms = SILENCE_ONSET_MS + SILENCE_TAU_MS * (1.0 / (1.0 - eot)).ln();
        self.silence_samples() as f64 * 1000.0 / f64::from(self.rate_hz) >= needed_ms
    }

    fn close_segment(&mut self, step: &mut Step, why: Closing) {
        self.closing = Some((why, self.speech.heard));
        step.finalize = true;
    }

    /// End the turn now (`ForceEndTurn`): its segment is finalized, and its `EndOfTurn` follows
    /// that final, even when nothing was said. Ignored while a turn is already ending.
    pub fn force_end(&mut self) -> Step {
        let mut step = Step::default();
        match self.closing {
            Some((Closing::Turn(_), _)) => {}
            // An idle or pause cut already closes the segment: that final ends the turn.
            Some((Closing::Idle | Closing::Pause { .. }, at)) => {
                self.closing = Some((Closing::Turn(Trigger::Manual), at));
            }
            None => self.close_segment(&mut step, Closing::Turn(Trigger::Manual)),
        }
        step
    }

    /// A result of the live stream, in the order results are sent: it covered `samples` samples
    /// from `start`, with these words (times on the stream's clock).
    pub fn on_result(
        &mut self,
        start: u64,
        samples: usize,
        is_final: bool,
        words: Vec<WordTiming>,
    ) -> Step {
        let end = start + samples as u64;
        let mut step = Step::default();
        if start < self.start {
            return step; // the previous turn's, decoded after it ended
        }
        let before = texts(&self.words());
        if is_final {
            self.committed.extend(words);
            self.tentative.clear();
        } else {
            self.tentative = words;
        }
        self.covered_until = self.covered_until.max(end);
        let now = texts(&self.words());
        let same =
            |a: &[String], b: &[String]| a.iter().map(|t| bare(t)).eq(b.iter().map(|t| bare(t)));
        self.revised = !(before.len() <= now.len() && same(&before, &now[..before.len()]));
        if let Some((why, cut)) = self.closing {
            if !(is_final && end >= cut) {
                return step;
            }
            match why {
                Closing::Pause { speech_end } => {
                    // The words of the speech before the pause are here: did the turn end there?
                    // The silence counts on while no speech has come since.
                    let quiet_since = !self.speech.in_speech
                        && self.speech.last_voiced_end.is_none_or(|e| e <= speech_end);
                    let until = if quiet_since { self.speech.heard } else { cut };
                    self.closing = None;
                    if !self.started && !now.is_empty() {
                        self.started = true;
                        self.push(&mut step, TurnEventKind::StartOfTurn);
                    }
                    let conf = self.confidence_after(speech_end, until.saturating_sub(speech_end));
                    if self.started && conf >= self.thresholds.eot {
                        self.end_turn(&mut step, Closing::Turn(Trigger::Model), cut);
                        if let Some(e) = step.events.last_mut() {
                            e.confidence = conf;
                        }
                        return step;
                    }
                }
                _ => {
                    self.end_turn(&mut step, why, cut);
                    return step;
                }
            }
        }
        if !self.started && !now.is_empty() {
            self.started = true;
            self.push(&mut step, TurnEventKind::StartOfTurn);
        } else if self.eager.as_ref().is_some_and(|e| !same(e, &now)) {
            self.eager = None;
            self.push(&mut step, TurnEventKind::TurnResumed);
        }
        if self.started {
            self.decide(&mut step);
        }
        step
    }

    fn end_turn(&mut self, step: &mut Step, why: Closing, cut: u64) {
        let trigger = match why {
            Closing::Turn(t) => t,
            Closing::Idle if self.committed.is_empty() => {
                self.next_turn(cut, false);
                return;
            }
            // Words after all: a turn, which the silence that closed it ended.
            Closing::Idle => Trigger::Timeout,
            Closing::Pause { .. } => Trigger::Model,
        };
        let words = self.words();
        if !self.started && !words.is_empty() {
            step.events
                .push(self.event(TurnEventKind::StartOfTurn, cut));
        }
        if self.eager.as_ref().is_some_and(|e| *e != texts(&words)) {
            step.events
                .push(self.event(TurnEventKind::TurnResumed, cut));
        }
        let mut end = self.event(TurnEventKind::EndOfTurn(trigger), cut);
        if trigger == Trigger::Model {
            end.confidence = end.confidence.max(self.thresholds.eot);
        }
        step.events.push(end);
        self.next_turn(cut, true);
    }

    fn next_turn(&mut self, cut: u64, ended: bool) {
        if ended {
            self.index += 1;
        }
        self.start = cut;
        self.committed.clear();
        self.tentative.clear();
        self.covered_until = cut;
        self.started = false;
        self.eager = None;
        self.revised = false;
        self.closing = None;
        self.last_info_at = cut;
    }

    /// The stream ends (`CloseStream`): after the last results, an open turn gets a last
    /// `Update` with everything heard (no `EndOfTurn`, as Deepgram's Flux).
    pub fn close(&mut self) -> Step {
        let mut step = Step::default();
        if self.started {
            self.push(&mut step, TurnEventKind::Update);
        }
        step
    }
}
