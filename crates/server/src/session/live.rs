//! The live policy of one channel: when its audio is decoded and what each decode is for.
//!
//! - Audio accumulates in a segment that starts where the previous final ended, so finals tile
//!   the timeline and never rewrite each other.
//! - An endpoint (VAD: `endpointing` ms of silence after speech) closes the segment with
//!   `speech_final:true`; a full model window closes it with `speech_final:false`; `Finalize` and
//!   the end of the stream close it with `from_finalize` / at close.
//! - With `interim_results`, a segment holding speech is decoded about every `interim_ms` of new
//!   audio as `is_final:false` (same `start`, growing `duration`), at most one in flight, and none
//!   while the engine has a backlog: under load interims thin out so that finals stay on time.
//! - A segment in which the VAD heard no speech is answered without running the model.
//! - At an endpoint, if the latest interim of the segment already covered all of its speech (what
//!   followed is silence), that interim's transcript becomes the final at once: no second decode,
//!   and the final arrives as soon as the endpoint is decided.

use hark_asr::{Segment, Segmenter, Transcript};
use hark_vad::{EndpointEvent, Endpointer, Vad};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A channel's interim in flight, and the latest interim result (segment start, samples covered,
/// transcript) kept for the endpoint that may follow. Shared with the future awaiting the model.
#[derive(Default)]
pub struct InterimState {
    in_flight: AtomicBool,
    latest: Mutex<Option<(u64, usize, Transcript)>>,
}

impl InterimState {
    /// The interim covering `len` samples from `start` is answered (`None`: the engine failed).
    pub fn finished(&self, start: u64, len: usize, transcript: Option<&Transcript>) {
        if let (Some(t), Ok(mut latest)) = (transcript, self.latest.lock()) {
            *latest = Some((start, len, t.clone()));
        }
        self.in_flight.store(false, Ordering::SeqCst);
    }

    fn forget(&self) {
        if let Ok(mut latest) = self.latest.lock() {
            *latest = None;
        }
    }
}

/// What the session must do for a channel.
#[derive(Debug)]
pub enum Cut {
    /// Send `SpeechStarted` (when the client asked for `vad_events`).
    SpeechStarted { sample: u64 },
    /// Decode this snapshot of the open segment as an interim result.
    Interim(Segment),
    /// The segment is closed: a final result (decoded only when `decode`).
    Final {
        segment: Segment,
        speech_final: bool,
        decode: bool,
        /// Use this transcript instead of decoding (an interim that covered all the speech).
        reuse: Option<Transcript>,
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
        }
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
        let cache = self.interim.latest.lock().ok()?;
        match cache.as_ref() {
            Some((s, len, t)) if *s == start && s + *len as u64 >= speech_end => Some(t.clone()),
            _ => None,
        }
    }

    fn has_speech(&self) -> bool {
        self.endpointer.is_none() || self.speech_in_segment
    }

    /// Close the open segment (decoded only if it held speech) and start the next one.
    fn close(&mut self, speech_final: bool, reuse: Option<Transcript>) -> Cut {
        let segment = self.seg.flush();
        self.ended(segment, speech_final, reuse)
    }

    /// The final for a segment that has just left the buffer; resets the per-segment state.
    fn ended(&mut self, segment: Segment, speech_final: bool, reuse: Option<Transcript>) -> Cut {
        let decode = self.has_speech();
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
        }
    }

    /// Add engine-rate audio; the decisions it causes are appended to `out` in order.
    /// `engine_busy`: windows are waiting for the model (no interim now).
    pub fn push(
        &mut self,
        samples: &[f32],
        policy: &LivePolicy,
        engine_busy: bool,
        out: &mut Vec<Cut>,
    ) {
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
            let reuse = self.reusable(speech_end);
            out.push(self.close(true, reuse));
            return;
        }
        self.since_interim += samples.len();
        if let Some(every) = policy.interim_samples {
            if self.since_interim >= every
                && !engine_busy
                && self.has_speech()
                && self.seg.buffered_samples() > 0
                && !self.interim.in_flight.swap(true, Ordering::SeqCst)
            {
                self.since_interim = 0;
                out.push(Cut::Interim(self.seg.snapshot()));
            }
        }
    }

    /// Close the open segment now (`Finalize`, end of stream).
    pub fn finalize(&mut self) -> Cut {
        self.close(false, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_asr::WordTiming;
    use hark_vad::{EnergyGate, VadConfig};

    fn channel() -> (LiveChannel, LivePolicy) {
        let policy = LivePolicy {
            max_window_samples: 16_000 * 30,
            vad: true,
            endpointing_ms: Some(300),
            interim_samples: Some(4_000),
        };
        let cfg = VadConfig {
            smoothing_frames: 1,
            min_speech_ms: 0,
            ..VadConfig::default()
        };
        // Scripted input: 1.0-valued audio is speech, 0.0 is silence.
        let gate = EnergyGate {
            frame_samples: 160,
            threshold_rms: 0.5,
        };
        let vad = Vad::new(Box::new(gate), cfg);
        (LiveChannel::with_vad(&policy, Some(vad)), policy)
    }

    fn feed(live: &mut LiveChannel, policy: &LivePolicy, value: f32, n: usize) -> Vec<Cut> {
        let mut out = Vec::new();
        for c in vec![value; n].chunks(1_600) {
            live.push(c, policy, false, &mut out);
        }
        out
    }

    fn transcript(word: &str) -> Transcript {
        Transcript {
            words: vec![WordTiming {
                text: word.into(),
                start_s: 0.0,
                end_s: 0.5,
                confidence: 0.9,
            }],
            ..Transcript::default()
        }
    }

    /// Answer every interim in `cuts` as the session would when its result arrives.
    fn answer_interims(live: &LiveChannel, cuts: &[Cut]) {
        for c in cuts {
            if let Cut::Interim(seg) = c {
                let t = transcript(&format!("upto{}", seg.samples.len()));
                live.interim()
                    .finished(seg.start_sample, seg.samples.len(), Some(&t));
            }
        }
    }

    fn endpoint_final(cuts: &[Cut]) -> Option<&Option<Transcript>> {
        cuts.iter().find_map(|c| match c {
            Cut::Final {
                speech_final: true,
                reuse,
                ..
            } => Some(reuse),
            _ => None,
        })
    }

    #[test]
    fn an_endpoint_reuses_an_interim_that_covered_the_speech() {
        let (mut live, policy) = channel();
        // 1 s of speech (interims every 4000 samples), then 0.25 s of silence: one more interim.
        let cuts = feed(&mut live, &policy, 1.0, 16_000);
        answer_interims(&live, &cuts);
        let cuts = feed(&mut live, &policy, 0.0, 4_000);
        answer_interims(&live, &cuts);
        assert!(endpoint_final(&cuts).is_none(), "no endpoint yet");
        let cuts = feed(&mut live, &policy, 0.0, 3_200);
        let reuse = endpoint_final(&cuts).expect("an endpoint");
        // The reused interim is one taken after the speech ended (at 16000 samples).
        let covered: usize = reuse
            .as_ref()
            .and_then(|t| t.words[0].text.strip_prefix("upto")?.parse().ok())
            .expect("an interim reused");
        assert!(covered >= 16_000, "{covered}");
    }

    #[test]
    fn an_interim_that_stopped_before_the_speech_ended_is_not_reused() {
        let (mut live, policy) = channel();
        let cuts = feed(&mut live, &policy, 1.0, 12_000);
        answer_interims(&live, &cuts);
        // More speech that no interim has covered, then silence up to the endpoint.
        live.interim.in_flight.store(true, Ordering::SeqCst); // an interim is in flight
        feed(&mut live, &policy, 1.0, 3_000);
        let cuts = feed(&mut live, &policy, 0.0, 6_400);
        assert_eq!(endpoint_final(&cuts), Some(&None));
    }
}
