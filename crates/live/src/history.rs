//! What came before a channel's open segment: the audio and the words of its latest finals.
//! Later decodes hear them as context (`DecodeOptions::context`), as Whisper hears speech that
//! runs on across a pause inside one 30 s window. Without it, a segment of one word after a long
//! pause ("ask … not", with default endpointing) is decoded alone, and a small model mishears it.
//!
//! A final's words are known once the engine has answered it, which may be after the next
//! segment's first decode was sent: a decode gets context only from the finals that end exactly
//! where its segment starts and are all answered, so the text always matches the audio.

use crate::segmenter::Segment;
use hark_asr::{WindowContext, WordTiming};
use std::collections::VecDeque;

/// A word of a final: start and end (absolute seconds) and its text.
type TimedWord = (f64, f64, String);

/// One closed segment: where it lies on the clock (samples) and, once known, its words
/// (absolute seconds).
struct Span {
    start: u64,
    end: u64,
    words: Option<Vec<TimedWord>>,
    /// The language the words were decoded in (multilingual models).
    language: Option<String>,
}

pub struct History {
    /// The latest audio of closed segments, ending at `audio_end`, at most `cap` samples.
    audio: VecDeque<f32>,
    audio_end: u64,
    spans: VecDeque<Span>,
    cap: usize,
    rate_hz: f64,
}

impl History {
    /// Keep up to `cap` samples of context at `rate_hz`.
    pub fn new(cap: usize, rate_hz: u32) -> Self {
        Self {
            audio: VecDeque::with_capacity(cap),
            audio_end: 0,
            spans: VecDeque::new(),
            cap,
            rate_hz: f64::from(rate_hz),
        }
    }

    /// A segment was closed (its final is on its way).
    pub fn closed(&mut self, segment: &Segment) {
        let end = segment.start_sample + segment.samples.len() as u64;
        if segment.start_sample != self.audio_end {
            // Not contiguous (cannot happen while segments tile the clock): start afresh.
            self.audio.clear();
            self.spans.clear();
        }
        let tail = &segment.samples[segment.samples.len().saturating_sub(self.cap)..];
        let overflow = (self.audio.len() + tail.len()).saturating_sub(self.cap);
        self.audio.drain(..overflow.min(self.audio.len()));
        self.audio.extend(tail);
        self.audio_end = end;
        self.spans.push_back(Span {
            start: segment.start_sample,
            end,
            words: None,
            language: None,
        });
        let oldest = end.saturating_sub(self.cap as u64);
        while self.spans.front().is_some_and(|s| s.end <= oldest) {
            self.spans.pop_front();
        }
    }

    /// The final of the segment `start..end` was answered with `words` (times from `start`),
    /// decoded in `language` (when the model says).
    pub fn decoded(&mut self, start: u64, end: u64, words: &[WordTiming], language: Option<&str>) {
        let offset = start as f64 / self.rate_hz;
        if let Some(span) = self
            .spans
            .iter_mut()
            .find(|s| (s.start, s.end) == (start, end))
        {
            span.words = Some(
                words
                    .iter()
                    .map(|w| {
                        (
                            offset + f64::from(w.start_s),
                            offset + f64::from(w.end_s),
                            w.text.clone(),
                        )
                    })
                    .collect(),
            );
            span.language = language.map(str::to_owned);
        }
    }

    /// Context for a decode of the segment starting at `start`, at most `room` samples long:
    /// the audio from just before the earliest word that fits, and those words.
    pub fn context_for(&self, start: u64, room: usize) -> WindowContext {
        if start != self.audio_end {
            return WindowContext::default();
        }
        let limit = room.min(self.cap).min(self.audio.len()) as u64;
        let mut from = start - limit;
        // The answered finals that end where the segment starts, latest first.
        // Each word with the language of its final.
        let mut words: Vec<(&TimedWord, Option<&String>)> = Vec::new();
        let mut edge = start;
        for span in self.spans.iter().rev() {
            let (true, Some(w)) = (span.end == edge, span.words.as_ref()) else {
                break;
            };
            words.extend(w.iter().rev().map(|w| (w, span.language.as_ref())));
            edge = span.start;
            if span.start <= from {
                break;
            }
        }
        from = from.max(edge);
        words.reverse();
        let from_s = from as f64 / self.rate_hz;
        let Some(first) = words.iter().position(|w| w.0 .0 >= from_s) else {
            return WindowContext::default();
        };
        // Start in the gap before the first word kept, if the one before it ended in range.
        if let Some(prev) = first.checked_sub(1).map(|k| words[k].0) {
            let gap_s = (prev.1 + words[first].0 .0) / 2.0;
            // (An engine's times may overrun its window: never past the segment's start.)
            from = from.max((gap_s * self.rate_hz) as u64).min(start);
        }
        let skip = (from - (self.audio_end - self.audio.len() as u64)) as usize;
        WindowContext {
            samples: self.audio.range(skip..).copied().collect(),
            text: words[first..]
                .iter()
                .map(|w| w.0 .2.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            languages: words[first..].iter().filter_map(|w| w.1.cloned()).fold(
                Vec::new(),
                |mut seen, l| {
                    if !seen.contains(&l) {
                        seen.push(l);
                    }
                    seen
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: u64, len: usize, value: f32) -> Segment {
        Segment {
            start_sample: start,
            samples: vec![value; len],
        }
    }

    fn word(text: &str, start_s: f32, end_s: f32) -> WordTiming {
        WordTiming {
            text: text.into(),
            start_s,
            end_s,
            confidence: 1.0,
        }
    }

    #[test]
    fn context_comes_from_answered_finals_that_end_where_the_segment_starts() {
        // 10 samples a second; keep 40 samples (4 s).
        let mut h = History::new(40, 10);
        h.closed(&seg(0, 30, 1.0));
        // Not answered yet: no context.
        assert!(h.context_for(30, 100).is_empty());
        h.decoded(
            0,
            30,
            &[word("and", 0.2, 0.5), word("so", 1.0, 1.4)],
            Some("en"),
        );
        h.closed(&seg(30, 20, 2.0));
        // The latest final is not answered: nothing, even though an earlier one is.
        assert!(h.context_for(50, 100).is_empty());
        h.decoded(
            30,
            20 + 30,
            &[word("my", 0.1, 0.4), word("fellow", 0.6, 1.8)],
            Some("fr"),
        );
        let c = h.context_for(50, 100);
        // 4 s back is 1.0 s: "and" (0.2 s) is out, "so" (1.0 s) is in; the audio starts at 1.0 s.
        assert_eq!(c.text, "so my fellow");
        assert_eq!(
            c.languages,
            ["en", "fr"],
            "the languages of its words, in order"
        );
        assert_eq!(c.samples.len(), 40);
        assert_eq!(&c.samples[..20], &[1.0; 20]);
        // Less room: only the last final's words, from the gap before "my" (1.4 s and 3.1 s).
        let c = h.context_for(50, 25);
        assert_eq!(c.text, "my fellow");
        assert_eq!(c.languages, ["fr"]);
        assert_eq!(c.samples.len(), 25);
        // A segment that does not start where the audio ends gets none.
        assert!(h.context_for(49, 100).is_empty());
    }

    #[test]
    fn word_times_past_their_segments_end_do_not_break_it() {
        // An engine's times may overrun its window: "b" at 9 s in a 3 s segment.
        let mut h = History::new(40, 10);
        h.closed(&seg(0, 30, 1.0));
        h.decoded(0, 30, &[word("a", 0.1, 0.2), word("b", 9.0, 9.5)], None);
        let c = h.context_for(30, 20);
        assert_eq!(c.text, "b");
        assert!(c.samples.is_empty(), "{c:?}");
    }

    #[test]
    fn finals_without_words_give_no_context_and_old_ones_are_dropped() {
        let mut h = History::new(40, 10);
        h.closed(&seg(0, 30, 0.0));
        h.decoded(0, 30, &[], None);
        assert!(h.context_for(30, 100).is_empty());
        for i in 0..10 {
            h.closed(&seg(30 + i * 30, 30, 0.0));
        }
        assert!(h.spans.len() <= 3, "{} spans kept", h.spans.len());
        assert_eq!(h.audio.len(), 40);
    }
}
