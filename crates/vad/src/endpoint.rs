//! The endpointer: speech-started and end-of-speech decisions on top of [`Vad`].
//!
//! An endpoint is declared once the VAD has left speech and `endpointing_ms` of silence have
//! passed since the last voiced frame (Deepgram's `endpointing`); one endpoint per stretch of
//! speech. With endpointing off, only speech starts are reported.

use crate::{Vad, VadEvent, SAMPLE_RATE_HZ};

/// A decision, on the 16 kHz sample clock of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Speech began at `sample`.
    SpeechStarted { sample: u64 },
    /// Speech that ended at `speech_end` has been followed by enough silence.
    Endpoint { speech_end: u64 },
}

pub struct Endpointer {
    vad: Vad,
    endpointing_samples: Option<u64>,
    /// Speech has been heard since the last endpoint.
    awaiting_endpoint: bool,
    scratch: Vec<VadEvent>,
}

impl Endpointer {
    /// `endpointing_ms`: silence that ends an utterance; `None` turns endpoints off.
    pub fn new(vad: Vad, endpointing_ms: Option<u32>) -> Self {
        Self {
            vad,
            endpointing_samples: endpointing_ms
                .map(|ms| u64::from(ms) * u64::from(SAMPLE_RATE_HZ) / 1000),
            awaiting_endpoint: false,
            scratch: Vec::new(),
        }
    }

    /// Feed 16 kHz samples; decisions are appended to `events` in time order.
    pub fn push(&mut self, samples: &[f32], events: &mut Vec<EndpointEvent>) {
        self.scratch.clear();
        self.vad.push(samples, &mut self.scratch);
        for e in &self.scratch {
            if let VadEvent::SpeechStart { sample } = *e {
                self.awaiting_endpoint = true;
                events.push(EndpointEvent::SpeechStarted { sample });
            }
        }
        self.check(events);
    }

    fn check(&mut self, events: &mut Vec<EndpointEvent>) {
        let Some(needed) = self.endpointing_samples else {
            return;
        };
        if self.awaiting_endpoint && !self.vad.in_speech() && self.vad.silence_samples() >= needed {
            self.awaiting_endpoint = false;
            let speech_end = self.vad.last_voiced_end().unwrap_or(0);
            events.push(EndpointEvent::Endpoint { speech_end });
        }
    }

    /// Whether there is speech not yet closed by an endpoint (or by [`Self::clear`]).
    pub fn speech_pending(&self) -> bool {
        self.awaiting_endpoint || self.vad.in_speech()
    }

    /// End of the last speech heard (16 kHz samples).
    pub fn last_voiced_end(&self) -> Option<u64> {
        self.vad.last_voiced_end()
    }

    /// Samples since the last voiced frame (see [`Vad::quiet_samples`]).
    pub fn quiet_samples(&self) -> u64 {
        self.vad.quiet_samples()
    }

    /// Whether the VAD is in speech right now.
    pub fn in_speech(&self) -> bool {
        self.vad.in_speech()
    }

    /// The segment was finalized by other means (`Finalize`, a full window): the speech heard so
    /// far needs no endpoint of its own. Speech still going on will get one when it ends.
    pub fn clear(&mut self) {
        self.awaiting_endpoint = self.vad.in_speech();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EnergyGate, VadConfig};

    fn endpointer(ms: Option<u32>) -> Endpointer {
        let cfg = VadConfig {
            smoothing_frames: 1,
            min_speech_ms: 0,
            ..VadConfig::default()
        };
        let gate = EnergyGate {
            frame_samples: 160,
            threshold_rms: 0.5,
        };
        Endpointer::new(Vad::new(Box::new(gate), cfg), ms)
    }

    fn feed(e: &mut Endpointer, parts: &[(f32, usize)]) -> Vec<EndpointEvent> {
        let mut out = Vec::new();
        for &(v, n) in parts {
            for c in vec![v; n].chunks(320) {
                e.push(c, &mut out);
            }
        }
        out
    }

    #[test]
    fn an_endpoint_follows_enough_silence_once() {
        let mut e = endpointer(Some(300)); // 4800 samples
        let ev = feed(&mut e, &[(0.0, 1600), (1.0, 3200), (0.0, 4640)]);
        assert_eq!(ev, vec![EndpointEvent::SpeechStarted { sample: 1600 }]);
        assert!(e.speech_pending());
        let ev = feed(&mut e, &[(0.0, 320), (0.0, 16_000)]);
        assert_eq!(ev, vec![EndpointEvent::Endpoint { speech_end: 4800 }]);
        assert!(!e.speech_pending());
    }

    #[test]
    fn disabled_endpointing_and_clear() {
        let mut e = endpointer(None);
        let ev = feed(&mut e, &[(1.0, 1600), (0.0, 32_000)]);
        assert_eq!(ev, vec![EndpointEvent::SpeechStarted { sample: 0 }]);
        let mut e = endpointer(Some(100));
        feed(&mut e, &[(1.0, 1600)]);
        e.clear();
        assert!(
            e.speech_pending(),
            "still speaking: the endpoint is still owed"
        );
        let ev = feed(&mut e, &[(0.0, 3200)]);
        assert_eq!(ev, vec![EndpointEvent::Endpoint { speech_end: 1600 }]);
        feed(&mut e, &[(1.0, 320), (0.0, 160)]);
        let _ = feed(&mut e, &[(0.0, 3200)]);
        e.clear();
        assert!(!e.speech_pending());
    }
}
