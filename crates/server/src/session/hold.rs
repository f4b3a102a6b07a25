//! Streaming finalization (FEATURES.md §3.2): with `smart_format`, `redact` or
//! `detect_entities` (and not `no_delay`), a final whose words end inside an entity (a number
//! still being spoken: "my card is four four four four …") is held and joined to the channel's
//! next final, so the entity is formatted, redacted or found whole instead of leaking across two
//! messages. A hold ends when speech moves on (the joined final no longer ends in one), at a
//! `Finalize`, after [`HOLD_SILENCE`] without another final, at the end of the stream, or once
//! the held audio reaches [`MAX_HELD_S`].

use hark_asr::{Transcript, WordTiming};
use hark_live::ResultSpan;
use std::time::Duration;
use tokio::time::Instant;

/// How long a held final waits for the next one (Deepgram: 3 s of silence), counted from the
/// last final joined to it.
pub const HOLD_SILENCE: Duration = Duration::from_secs(3);
/// A held final is sent once it covers this much audio, entity or not.
pub const MAX_HELD_S: f64 = 30.0;

struct Held {
    span: ResultSpan,
    transcript: Transcript,
    since: Instant,
}

/// The finals held back, per channel.
pub struct Holds {
    held: Vec<Option<Held>>,
    rate_hz: u32,
}

impl Holds {
    pub fn new(rate_hz: u32) -> Self {
        Self {
            held: Vec::new(),
            rate_hz,
        }
    }

    /// A final arrives. Returns what to send now: it, joined to anything its channel held; or
    /// `None` when it is held (`may_hold` and its words end inside an entity).
    pub fn offer(
        &mut self,
        span: ResultSpan,
        transcript: Transcript,
        may_hold: bool,
        now: Instant,
    ) -> Option<(ResultSpan, Transcript)> {
        let ch = usize::from(span.channel);
        if self.held.len() <= ch {
            self.held.resize_with(ch + 1, || None);
        }
        // (The silence clock starts again with each final: speech went on.)
        let (span, transcript) = match self.held[ch].take() {
            Some(h) => join(h.span, h.transcript, span, transcript, self.rate_hz),
            None => (span, transcript),
        };
        let held_s = span.samples as f64 / f64::from(self.rate_hz.max(1));
        let hold = may_hold
            && !span.from_finalize
            && held_s < MAX_HELD_S
            && hark_text::ends_inside_entity(&transcript);
        if hold {
            self.held[ch] = Some(Held {
                span,
                transcript,
                since: now,
            });
            return None;
        }
        Some((span, transcript))
    }

    /// When the oldest hold runs out.
    pub fn deadline(&self) -> Option<Instant> {
        self.held
            .iter()
            .flatten()
            .map(|h| h.since + HOLD_SILENCE)
            .min()
    }

    /// The holds that ran out by `now` (or all of them), to send as they are.
    pub fn release(&mut self, now: Option<Instant>) -> Vec<(ResultSpan, Transcript)> {
        self.held
            .iter_mut()
            .filter(|h| {
                h.as_ref()
                    .is_some_and(|h| now.is_none_or(|now| h.since + HOLD_SILENCE <= now))
            })
            .filter_map(Option::take)
            .map(|h| (h.span, h.transcript))
            .collect()
    }
}

/// Two consecutive finals of a channel as one: the words of the second moved onto the first's
/// clock, the flags of the second.
fn join(
    a: ResultSpan,
    mut at: Transcript,
    b: ResultSpan,
    bt: Transcript,
    rate_hz: u32,
) -> (ResultSpan, Transcript) {
    let end = (b.start_sample + b.samples as u64).max(a.start_sample + a.samples as u64);
    let shift_s = b.start_sample.saturating_sub(a.start_sample) as f64 / f64::from(rate_hz.max(1));
    at.words.extend(bt.words.into_iter().map(|w| WordTiming {
        start_s: (f64::from(w.start_s) + shift_s) as f32,
        end_s: (f64::from(w.end_s) + shift_s) as f32,
        ..w
    }));
    let span = ResultSpan {
        samples: (end - a.start_sample) as usize,
        ..b
    };
    let span = ResultSpan {
        start_sample: a.start_sample,
        ..span
    };
    (span, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn final_(start: u64, samples: usize, words: &[&str]) -> (ResultSpan, Transcript) {
        let span = ResultSpan {
            channel: 0,
            start_sample: start,
            samples,
            is_final: true,
            speech_final: true,
            from_finalize: false,
        };
        let words = words
            .iter()
            .enumerate()
            .map(|(i, w)| WordTiming {
                text: (*w).into(),
                start_s: i as f32 * 0.1,
                end_s: i as f32 * 0.1 + 0.1,
                confidence: 0.9,
            })
            .collect();
        (
            span,
            Transcript {
                words,
                language: None,
            },
        )
    }

    #[test]
    fn a_final_ending_in_a_number_waits_for_the_next_one() {
        let mut h = Holds::new(100);
        let now = Instant::now();
        let (s, t) = final_(0, 100, &["card", "four", "four"]);
        assert!(h.offer(s, t, true, now).is_none());
        assert_eq!(h.deadline(), Some(now + HOLD_SILENCE));
        let (s, t) = final_(150, 50, &["nine", "thanks."]);
        let (span, t) = h.offer(s, t, true, now).expect("speech moved on");
        assert_eq!((span.start_sample, span.samples), (0, 200));
        let texts: Vec<&str> = t.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["card", "four", "four", "nine", "thanks."]);
        assert!((t.words[3].start_s - 1.5).abs() < 1e-6);
        assert!(h.deadline().is_none());
    }

    #[test]
    fn holds_end_at_finalize_silence_or_when_not_asked() {
        let mut h = Holds::new(100);
        let now = Instant::now();
        let (s, t) = final_(0, 100, &["one", "two"]);
        assert!(h.offer(s, t.clone(), false, now).is_some());
        let (mut fin, ft) = (s, t.clone());
        fin.from_finalize = true;
        assert!(h.offer(fin, ft, true, now).is_some());
        let (s, t) = final_(0, 100, &["one", "two"]);
        assert!(h.offer(s, t, true, now).is_none());
        assert!(h.release(Some(now + Duration::from_secs(1))).is_empty());
        assert_eq!(h.release(Some(now + HOLD_SILENCE)).len(), 1);
        assert!(h.release(None).is_empty());
    }
}
