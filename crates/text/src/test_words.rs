//! Engine words for tests: each whitespace-separated word of a text, one second apiece.

use hark_asr::WordTiming;

pub fn one_per_second(text: &str) -> Vec<WordTiming> {
    text.split(' ')
        .enumerate()
        .map(|(i, t)| WordTiming {
            text: t.into(),
            start_s: i as f32,
            end_s: i as f32 + 1.0,
            confidence: 0.9,
        })
        .collect()
}
