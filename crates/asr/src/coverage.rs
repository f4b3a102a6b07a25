//! Whether a window's words cover the speech in it: the check that sends speech a model left out
//! to be decoded again (a pre-recorded window's second pass, Whisper's fallback from decoding
//! without timestamp tokens to decoding with them).

use crate::WordTiming;

/// A stretch of a window this long without words, in which a VAD heard at least
/// [`MIN_MISSED_SPEECH_S`] of speech, was missed: a model may end a window early, skip an
/// utterance after a pause or drop the end of a sentence (Whisper base left out "power to do for
/// them", 1.2 s, in 8 of 10 windows that also held the next recording).
pub const MISSED_GAP_S: f64 = 1.0;
/// See [`MISSED_GAP_S`].
pub const MIN_MISSED_SPEECH_S: f64 = 0.5;

/// Stretches of a window of `len` samples at `rate_hz` (sample ranges from its start) that
/// `words` (times from its start) leave without words for at least [`MISSED_GAP_S`] while the
/// `speech` spans (sample ranges from its start) hold at least [`MIN_MISSED_SPEECH_S`] there.
pub fn missed_speech(
    words: &[WordTiming],
    speech: &[(usize, usize)],
    len: usize,
    rate_hz: f64,
) -> Vec<(usize, usize)> {
    let at = |s: f32| ((f64::from(s.max(0.0)) * rate_hz) as usize).min(len);
    let heard = |from: usize, to: usize| -> usize {
        speech
            .iter()
            .map(|&(s, e)| e.min(to).saturating_sub(s.max(from)))
            .sum()
    };
    let mut gaps = Vec::new();
    let mut covered = 0;
    let edges = words
        .iter()
        .map(|w| (at(w.start_s), at(w.end_s)))
        .chain([(len, len)]);
    for (word_start, word_end) in edges {
        if word_start > covered
            && (word_start - covered) as f64 >= MISSED_GAP_S * rate_hz
            && heard(covered, word_start) as f64 >= MIN_MISSED_SPEECH_S * rate_hz
        {
            gaps.push((covered, word_start));
        }
        covered = covered.max(word_end);
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(start_s: f32, end_s: f32) -> WordTiming {
        WordTiming {
            text: "w".into(),
            start_s,
            end_s,
            confidence: 1.0,
        }
    }

    /// At 100 Hz: words cover 0–2 s and 3.5–3.9 s and 8.5–9 s of a 10 s window with speech from
    /// 1 to 9.5 s. Missed: 2–3.5 s (1.5 s, all speech), 3.9–8.5 s; the end (9–10 s) is 1 s long
    /// but holds 0.5 s of speech, so it counts too; 0.9 s gaps never do.
    #[test]
    fn only_long_wordless_stretches_with_enough_speech_are_missed() {
        let speech = [(100, 950)];
        let words = [word(0.0, 2.0), word(3.5, 3.9), word(8.5, 9.0)];
        assert_eq!(
            missed_speech(&words, &speech, 1000, 100.0),
            vec![(200, 350), (390, 850), (900, 1000)]
        );
        // Less speech in the last stretch: not missed.
        assert_eq!(
            missed_speech(&words, &[(100, 940)], 1000, 100.0),
            vec![(200, 350), (390, 850)]
        );
        // A 0.9 s gap is not missed, however much speech it holds.
        let close = [word(0.0, 2.0), word(2.9, 9.5)];
        assert!(missed_speech(&close, &speech, 1000, 100.0).is_empty());
        // No words: the whole window, if it held speech.
        assert_eq!(missed_speech(&[], &speech, 1000, 100.0), vec![(0, 1000)]);
        assert!(missed_speech(&[], &[], 1000, 100.0).is_empty());
        // Overlapping and out-of-window words and spans do not underflow.
        let odd = [word(5.0, 20.0), word(-1.0, 0.5)];
        assert_eq!(missed_speech(&odd, &speech, 1000, 100.0), vec![(0, 500)]);
    }
}
