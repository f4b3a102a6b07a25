//! # hark-text — engine words become Deepgram words
//!
//! What this crate does: turns an engine's [`Transcript`] of one window (words as the model
//! wrote them, timed from the window's start) into the `alternatives[0]` of a Deepgram Results:
//! - `word`: lower case, without the punctuation around it (inner apostrophes, `$` and `%`
//!   stay); a token that is only punctuation is dropped;
//! - `punctuated_word`: the model's written form, exactly when punctuation is on;
//! - times on the audio clock (window start added), clamped to the window;
//! - confidences clamped to 0–1; `transcript` and the alternative's `confidence` by the rules of
//!   FEATURES.md §1 ([`Alternative::from_words`]);
//! - with `language=multi`, the window's language on each word and in `languages`;
//! - subtitle timestamps ([`subtitle_time`]) for the SRT/WebVTT renderers.
//!
//! What it does not do (yet): the transcript features of FEATURES.md (smart format, redaction,
//! replace, search, …) — they belong here, after this normalisation.

pub mod format;
pub mod numbers;
pub mod tokens;

use hark_asr::Transcript;
use hark_proto::{Alternative, Word};

/// What the client asked of the text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// `punctuated_word` on every word, and a punctuated `transcript`.
    pub punctuate: bool,
    /// `language=multi`: report the window's language on each word and in `languages`.
    pub multi_language: bool,
}

/// Where the window sits on the audio clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowTime {
    pub start_s: f64,
    pub duration_s: f64,
}

/// The Deepgram alternative for one window's transcript.
pub fn alternative(
    transcript: &Transcript,
    window: WindowTime,
    options: TextOptions,
) -> Alternative {
    let language = options
        .multi_language
        .then(|| transcript.language.clone())
        .flatten();
    let clamp = |s: f32| (f64::from(s).clamp(0.0, window.duration_s) + window.start_s) as f32;
    let words = transcript
        .words
        .iter()
        .filter_map(|t| {
            let word = bare(&t.text);
            (!word.is_empty()).then(|| Word {
                word,
                start: clamp(t.start_s),
                end: clamp(t.end_s.max(t.start_s)),
                confidence: t.confidence.clamp(0.0, 1.0),
                language: language.clone(),
                speaker: None,
                punctuated_word: options.punctuate.then(|| t.text.trim().to_owned()),
            })
        })
        .collect();
    Alternative {
        languages: options
            .multi_language
            .then(|| transcript.language.clone().into_iter().collect()),
        ..Alternative::from_words(words)
    }
}

/// A subtitle timestamp, `HH:MM:SS<sep>mmm` (SRT: `,`; WebVTT: `.`), rounded to the millisecond.
pub fn subtitle_time(seconds: f64, sep: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// A model's word as Deepgram's `word`: lower case, without surrounding punctuation.
pub fn bare(written: &str) -> String {
    written
        .trim()
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '$' && c != '%')
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_asr::WordTiming;

    fn word(text: &str, start_s: f32, end_s: f32, confidence: f32) -> WordTiming {
        WordTiming {
            text: text.into(),
            start_s,
            end_s,
            confidence,
        }
    }

    #[test]
    fn words_are_bare_lower_case_and_timed_on_the_audio_clock() {
        let t = Transcript {
            words: vec![
                word(" Hello,", 0.0, 0.4, 0.9),
                word("—", 0.4, 0.5, 0.9),
                word("don't", 0.5, 0.2, 1.5),
                word("$5", 2.0, 9.0, 0.5),
            ],
            language: Some("en".into()),
        };
        let window = WindowTime {
            start_s: 10.0,
            duration_s: 3.0,
        };
        let a = alternative(&t, window, TextOptions::default());
        let words: Vec<_> = a.words.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(words, ["hello", "don't", "$5"]);
        assert_eq!(a.transcript, "hello don't $5");
        // An end before its start is the start; times past the window are clamped to it.
        assert_eq!((a.words[1].start, a.words[1].end), (10.5, 10.5));
        assert_eq!((a.words[2].start, a.words[2].end), (12.0, 13.0));
        assert_eq!(a.words[1].confidence, 1.0);
        assert!(a
            .words
            .iter()
            .all(|w| w.punctuated_word.is_none() && w.language.is_none()));
        assert!(a.languages.is_none());
    }

    #[test]
    fn subtitle_times_round_to_the_millisecond() {
        assert_eq!(subtitle_time(0.0, ','), "00:00:00,000");
        assert_eq!(subtitle_time(3661.0015, '.'), "01:01:01.002");
        assert_eq!(subtitle_time(59.9996, ','), "00:01:00,000");
        assert_eq!(subtitle_time(-1.0, ','), "00:00:00,000");
    }

    #[test]
    fn punctuation_and_languages_only_when_asked() {
        let t = Transcript {
            words: vec![word("Yes.", 0.0, 0.3, 0.8), word("No!", 0.4, 0.6, 0.6)],
            language: Some("de".into()),
        };
        let window = WindowTime {
            start_s: 0.0,
            duration_s: 1.0,
        };
        let options = TextOptions {
            punctuate: true,
            multi_language: true,
        };
        let a = alternative(&t, window, options);
        assert_eq!(a.transcript, "Yes. No!");
        assert_eq!(a.words[0].punctuated_word.as_deref(), Some("Yes."));
        assert_eq!(a.words[1].language.as_deref(), Some("de"));
        assert_eq!(a.languages, Some(vec!["de".to_owned()]));
        assert!((a.confidence - 0.7).abs() < 1e-6);
    }
}
