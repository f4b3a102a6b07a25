//! `paragraphs` for pre-recorded results (FEATURES.md §18): sentences end at `.`, `?` or `!`;
//! a paragraph ends after a sentence once it holds 50 words or when 2 s of silence follow
//! (hark's rule; Deepgram does not publish its own). With diarization (words carry `speaker`),
//! a change of speaker also ends the sentence and the paragraph, each paragraph names its
//! `speaker`, and the transcript's paragraphs start `Speaker N:` as Deepgram's do.

use hark_proto::{Paragraph, Paragraphs, Sentence, Word};

const PARAGRAPH_WORDS: usize = 50;
const PARAGRAPH_PAUSE_S: f32 = 2.0;

pub fn paragraphs(words: &[Word]) -> Paragraphs {
    let text = |w: &Word| w.punctuated_word.clone().unwrap_or_else(|| w.word.clone());
    let mut paragraphs: Vec<Paragraph> = Vec::new();
    let mut current: Option<Paragraph> = None;
    let mut sentence: Vec<&Word> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        sentence.push(w);
        let t = text(w);
        let last = i + 1 == words.len();
        let turn = words.get(i + 1).is_some_and(|n| n.speaker != w.speaker);
        let ends = t
            .trim_end_matches(['"', '\'', ')'])
            .ends_with(['.', '?', '!'])
            || last
            || turn;
        if !ends {
            continue;
        }
        let s = Sentence {
            text: sentence
                .iter()
                .map(|w| text(w))
                .collect::<Vec<_>>()
                .join(" "),
            start: sentence[0].start,
            end: w.end,
        };
        let p = current.get_or_insert_with(|| Paragraph {
            sentences: Vec::new(),
            speaker: w.speaker,
            num_words: 0,
            start: s.start,
            end: s.end,
        });
        p.num_words += sentence.len();
        p.end = s.end;
        p.sentences.push(s);
        sentence.clear();
        let pause = words.get(i + 1).map_or(0.0, |n| n.start - w.end);
        if p.num_words >= PARAGRAPH_WORDS || pause >= PARAGRAPH_PAUSE_S || last || turn {
            paragraphs.extend(current.take());
        }
    }
    let transcript = if paragraphs.is_empty() {
        String::new()
    } else {
        let body: Vec<String> = paragraphs
            .iter()
            .map(|p| {
                let text = p
                    .sentences
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                match p.speaker {
                    Some(n) => format!("Speaker {n}: {text}"),
                    None => text,
                }
            })
            .collect();
        format!("\n{}", body.join("\n\n"))
    };
    Paragraphs {
        transcript,
        paragraphs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(p: &str, start: f32) -> Word {
        Word {
            word: p.trim_end_matches('.').to_lowercase(),
            start,
            end: start + 0.3,
            confidence: 1.0,
            language: None,
            speaker: None,
            speaker_confidence: None,
            punctuated_word: Some(p.into()),
        }
    }

    #[test]
    fn sentences_and_paragraphs_by_punctuation_and_pauses() {
        let words = vec![
            word("Hello", 0.0),
            word("there.", 0.4),
            word("Second", 0.8),
            word("one.", 1.2),
            word("After", 5.0),
            word("silence", 5.4),
        ];
        let p = paragraphs(&words);
        assert_eq!(p.transcript, "\nHello there. Second one.\n\nAfter silence");
        assert_eq!(p.paragraphs.len(), 2);
        assert_eq!(p.paragraphs[0].sentences.len(), 2);
        assert_eq!(p.paragraphs[0].sentences[1].text, "Second one.");
        assert_eq!((p.paragraphs[0].start, p.paragraphs[0].end), (0.0, 1.5));
        let total: usize = p.paragraphs.iter().map(|p| p.num_words).sum();
        assert_eq!(total, words.len());
        assert!(paragraphs(&[]).paragraphs.is_empty());
    }

    #[test]
    fn a_long_paragraph_ends_after_fifty_words() {
        let words: Vec<Word> = (0..120)
            .map(|i| word(if i % 10 == 9 { "end." } else { "word" }, i as f32 * 0.4))
            .collect();
        let p = paragraphs(&words);
        assert_eq!(
            p.paragraphs.iter().map(|p| p.num_words).collect::<Vec<_>>(),
            [50, 50, 20]
        );
    }

    #[test]
    fn a_change_of_speaker_ends_the_sentence_and_the_paragraph() {
        let mut words = vec![
            word("Are", 0.0),
            word("you", 0.4),
            word("there", 0.8),
            word("Yes.", 1.2),
            word("Good.", 1.6),
        ];
        for (w, s) in words.iter_mut().zip([0, 0, 0, 1, 1]) {
            w.speaker = Some(s);
        }
        let p = paragraphs(&words);
        assert_eq!(
            p.transcript,
            "\nSpeaker 0: Are you there\n\nSpeaker 1: Yes. Good."
        );
        let speakers: Vec<_> = p.paragraphs.iter().map(|p| p.speaker).collect();
        assert_eq!(speakers, [Some(0), Some(1)]);
        assert_eq!(p.paragraphs[1].sentences.len(), 2);
    }
}
