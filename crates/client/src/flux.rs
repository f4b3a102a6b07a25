//! Flux (`/v2/listen`) turns for the renderers: each `EndOfTurn` prints as a final, the other
//! turn events as interims, so text, SRT and WebVTT output work for turns as they do for Results.

use hark_proto::{Alternative, Channel, ModelInfo, Results, ResultsMetadata, TurnInfo, Word};

/// A turn as a `Results` covering the turn's audio window (`is_final`: it ended).
pub fn turn_as_results(t: &TurnInfo, is_final: bool) -> Results {
    let words = t
        .words
        .iter()
        .map(|w| Word {
            word: w
                .word
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect(),
            start: w.start.unwrap_or(t.audio_window_start) as f32,
            end: w.end.unwrap_or(t.audio_window_end) as f32,
            confidence: w.confidence,
            language: None,
            speaker: None,
            speaker_confidence: None,
            punctuated_word: Some(w.word.clone()),
        })
        .collect();
    let mut alternative = Alternative::from_words(words);
    alternative.transcript.clone_from(&t.transcript);
    Results {
        channel_index: [0, 1],
        duration: (t.audio_window_end - t.audio_window_start).max(0.0) as f32,
        start: t.audio_window_start as f32,
        is_final,
        speech_final: is_final,
        channel: Channel {
            search: None,
            alternatives: vec![alternative],
            detected_language: None,
        },
        metadata: ResultsMetadata {
            request_id: t.request_id.clone(),
            model_info: ModelInfo {
                name: "flux".into(),
                version: String::new(),
                arch: String::new(),
            },
            model_uuid: String::new(),
            extra: Default::default(),
            diarize_info: None,
        },
        from_finalize: t.trigger.as_deref() == Some("manual"),
        entities: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_proto::FluxWord;

    #[test]
    fn a_turn_renders_as_a_final_with_its_words() {
        let t = TurnInfo {
            request_id: "r".into(),
            sequence_id: 4,
            event: "EndOfTurn".into(),
            turn_index: 0,
            audio_window_start: 1.0,
            audio_window_end: 2.5,
            transcript: "Hello, Bob.".into(),
            words: vec![
                FluxWord {
                    word: "Hello,".into(),
                    confidence: 0.8,
                    start: Some(1.1),
                    end: Some(1.4),
                },
                FluxWord {
                    word: "Bob.".into(),
                    confidence: 1.0,
                    start: None,
                    end: None,
                },
            ],
            end_of_turn_confidence: 0.9,
            trigger: Some("model".into()),
            languages: None,
            languages_hinted: None,
        };
        let r = turn_as_results(&t, true);
        assert!(r.is_final && !r.from_finalize);
        assert_eq!((r.start, r.duration), (1.0, 1.5));
        let alt = &r.channel.alternatives[0];
        assert_eq!(alt.transcript, "Hello, Bob.");
        assert_eq!(alt.words[0].word, "hello");
        assert_eq!(
            alt.words[1].end, 2.5,
            "a word without times spans the window"
        );
        assert!((alt.confidence - 0.9).abs() < 1e-6);
    }
}
